"""distributions.csv on tiny shapes runs: when it records, and that its numbers are those of the probe
batch (percentiles as torch.quantile computes them, histograms of autograd's gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.rundir.csv_files import parse_distributions
from cnnlab.rundir.records import HISTOGRAM_BINS, PERCENTILES, DistributionRow
from cnnlab.spec import resolve
from cnnlab.train import distributions
from cnnlab.train.loop import Trainer
from tests.test_diagnostics import tiny, train

SPEC = tiny([{"out_channels": 4, "kernel_size": 3, "padding": 1}], fc=[16], norm="batch", activation="tanh",
            global_pool=False,
            train={"epochs": 2, "diagnostics": {"probe": 16, "steps": 2}})  # 2 steps an epoch: records at 0, 2, 4


class Quiet:
    def refresh_steps(self, batches: int) -> int:
        return 0

    def epoch_started(self, *args) -> None: ...
    def batch_done(self, *args) -> None: ...
    def epoch_done(self, *args) -> None: ...
    def message(self, *args) -> None: ...


def read(run) -> list[DistributionRow]:
    return parse_distributions((run / "distributions.csv").read_text(), run / "distributions.csv")


def of(rows: list[DistributionRow], step: int, layer: str, quantity: str, prefix: str) -> list[float]:
    return [r.value for r in rows if (r.step, r.layer, r.quantity) == (step, layer, quantity)
            and r.statistic.startswith(prefix)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return next(train(tmp_path_factory.mktemp("dist"), SPEC).glob("*/*"))


@pytest.fixture(scope="module")
def at_init():
    """The run's model at init and its probe batch (a trainer set up as the run's, writing nothing)."""
    trainer = Trainer(resolve(SPEC), None, Quiet())
    trainer.setup()
    return trainer


def test_percentiles_every_n_steps_and_histograms_at_init_and_each_epoch(run):
    rows = read(run)
    percentile_steps = {r.step for r in rows if r.statistic.startswith("p")}
    histogram_steps = {(r.step, r.epoch) for r in rows if r.statistic.startswith("bin")}
    assert percentile_steps == {0, 2, 4}
    assert histogram_steps == {(0, 0), (2, 1), (4, 2)}
    assert {r.layer for r in rows} == {"conv1", "fc1", "head"}
    assert {(r.quantity, r.statistic[0]) for r in rows} == {
        ("pre_activation", "p"), ("activation", "p"), ("activation", "b"), ("gradient", "b"),
        ("activation", "l"), ("activation", "h"), ("gradient", "l"), ("gradient", "h")}
    for step in (0, 2, 4):
        for layer in ("conv1", "fc1", "head"):
            for quantity in ("activation", "gradient"):
                masses = of(rows, step, layer, quantity, "bin")
                assert len(masses) == HISTOGRAM_BINS and abs(sum(masses) - 1) < 1e-4
            assert of(rows, step, layer, "activation", "p") == sorted(of(rows, step, layer, "activation", "p"))


def test_the_percentiles_are_torch_quantile_on_the_probe(run, at_init):
    """At init: the percentiles of what each nonlinearity receives and gives on the probe batch (batch
    norm on the probe's statistics, as the probe runs it)."""
    model, seen = at_init.model, {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, args, out, name=name: seen.__setitem__(name, (args[0].detach(), out.detach())))
        for name in ("conv1_act", "fc1_act")]
    hooks.append(model.head.register_forward_hook(lambda m, args, out: seen.__setitem__("head", (out, out))))
    with torch.no_grad():
        model(at_init.diagnostics.x)
    for hook in hooks:
        hook.remove()
    rows = read(run)
    q = torch.tensor(PERCENTILES) / 100
    sampled = []
    for i, (name, layer) in enumerate((("conv1_act", "conv1"), ("fc1_act", "fc1"), ("head", "head"))):
        pre, out = seen[name]
        sampled.append(pre.numel() > distributions.SAMPLE)
        for quantity, values in (("pre_activation", pre), ("activation", out)):
            want = torch.quantile(described(values, i), q).tolist()
            assert of(rows, 0, layer, quantity, "p") == pytest.approx(want, rel=1e-5, abs=1e-6), (layer, quantity)
    assert sampled == [True, False, False]  # conv1 by its sample of positions, the others by every value


def described(values: torch.Tensor, layer: int) -> torch.Tensor:
    """What a record describes of a layer's values: all of them, or those at its sampled positions."""
    flat = values.flatten().float()
    positions = distributions.sample_positions(flat.numel(), layer)
    return flat if positions is None else flat[positions]


def test_the_gradient_histograms_are_of_autograds_gradients(run, at_init):
    """At init: ∂L/∂activation from loss.backward() with retained grads, binned by numpy over the
    recorded range, gives the recorded masses."""
    model, outputs = at_init.model, {}
    names = {"conv1_act": "conv1", "fc1_act": "fc1", "head": "head"}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, args, out, name=name: (out.retain_grad(), outputs.__setitem__(name, out))[1]) for name in names]
    model.zero_grad()
    at_init.head.loss(model(at_init.diagnostics.x), at_init.diagnostics.y).backward()
    for hook in hooks:
        hook.remove()
    rows = read(run)
    for i, (name, layer) in enumerate(names.items()):
        grad = described(outputs[name].grad, i).numpy()
        [low], [high] = of(rows, 0, layer, "gradient", "low"), of(rows, 0, layer, "gradient", "high")
        assert low == pytest.approx(grad.min(), rel=1e-5) and high == pytest.approx(grad.max(), rel=1e-5)
        counts, _ = np.histogram(grad, HISTOGRAM_BINS, (grad.min(), grad.max()))  # the file's are to 6 digits
        recorded = np.array(of(rows, 0, layer, "gradient", "bin")) * grad.size
        assert np.abs(recorded - counts).sum() <= 2, layer  # a value on a bin's edge may fall either side


@pytest.mark.parametrize("values", [torch.randn(8_192, generator=torch.Generator().manual_seed(0)),
                                    torch.arange(7.0), torch.tensor([3.0]), torch.tensor([1.0, float("nan"), 2.0]),
                                    torch.tensor([float("-inf"), 0.0, 1.0, float("inf")])])
def test_percentiles_interpolate_as_torch_quantile(values):
    want = torch.quantile(values, torch.tensor(PERCENTILES) / 100)
    assert torch.allclose(distributions.percentiles(values), want, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("numel", [1_600_000, 100_000, 9_000])  # 9,000: fewer distinct draws than SAMPLE
def test_a_large_layer_is_described_by_the_same_sample_of_its_values_every_time(numel):
    positions = distributions.sample_positions(numel, layer=3)
    assert positions.numel() == distributions.SAMPLE == positions.unique().numel()
    assert torch.equal(positions, positions.sort().values) and positions[0] >= 0 and positions[-1] < numel
    assert torch.equal(positions, distributions.sample_positions(numel, layer=3))
    # uniform: each tenth of the layer holds a tenth of the sample (binomial sd 0.33 points, bound at 5 sd)
    shares = torch.bincount(positions * 10 // numel, minlength=10) / distributions.SAMPLE
    assert (shares - 0.1).abs().max() < 0.017
    assert distributions.sample_positions(distributions.SAMPLE, layer=0) is None


def test_histogram_of_equal_values_and_the_default_spacing():
    low, high, *masses = distributions.histogram(torch.zeros(10)).tolist()
    assert (low, high) == (-distributions.DEGENERATE_HALF_WIDTH, distributions.DEGENERATE_HALF_WIDTH)
    assert masses[HISTOGRAM_BINS // 2] == 1 and sum(masses) == 1
    assert distributions.steps_between(None, 563) == 29 and distributions.steps_between(None, 7) == 1
    assert distributions.steps_between(5, 563) == 5


# ------------------------------------------------------------------------------------ inspect, report


def test_inspect_draws_the_percentiles_and_the_histograms(run, cli, tmp_path):
    from matplotlib.image import imread

    for view, extra in (("percentiles", ["--layers", "conv1,head"]), ("histograms", ["--epoch", "2"]),
                        ("histograms", []), ("depth", [])):
        plot = tmp_path / f"{view}.png"
        result = cli("inspect", run, "--plot", plot, "--view", view, *extra)
        assert result.exit_code == 0, result.output
        assert f"wrote {plot}" in result.stderr and imread(plot).shape[1] >= 1200


def test_inspect_view_mistakes_are_one_line(run, cli, tmp_path):
    plot = tmp_path / "x.png"
    cases = [
        (["--view", "histograms"], "--view chooses what --plot draws: give --plot FILE"),
        (["--plot", plot, "--view", "percentiles", "--layers", "conv9"],
         "--layers conv9: no such layer in diag/"),
        (["--plot", plot, "--view", "depth", "--layers", "conv1"], "--layers: the depth view draws every layer"),
        (["--plot", plot, "--view", "nope"], "'nope' is not one of 'depth', 'percentiles', 'histograms'"),
    ]
    for args, expected in cases:
        result = cli("inspect", run, *args)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not plot.exists()


def test_report_adds_the_percentiles_and_the_histograms(run, cli, tmp_path):
    out = tmp_path / "report"
    assert cli("report", run, "--out", out).exit_code == 0
    page = (out / "README.md").read_text()
    names = ["diag-diagnostics.png", "diag-percentiles.png", "diag-histograms-init.png", "diag-histograms-last.png"]
    assert [page.index(name) for name in names] == sorted(page.index(name) for name in names)
    for name in names:
        assert 0 < (out / name).stat().st_size < 200_000, name


def test_a_configuration_keeps_its_look_whatever_the_order(make_run, tmp_path):
    from cnnlab.compare.load import load_runs
    from cnnlab.compare.rows import configurations
    from cnnlab.compare.styles import Looks

    for activation in ("sigmoid", "relu", "tanh"):
        make_run(tmp_path / "acts", swept={"model.activation": activation})
    runs = load_runs([tmp_path / "acts"], warn=print)
    looks, backwards = Looks(runs), Looks(list(reversed(runs)))
    groups = configurations(runs)
    styles = [looks.of(members) for members in groups]
    assert styles == [backwards.of(members) for members in groups]
    assert len({s.colour for s in styles}) == 3 and len({s.width for s in styles}) == 3  # narrower lines on top
