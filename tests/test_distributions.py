"""distributions.csv on tiny shapes runs: when it records, and that its numbers are those of the probe
batch (percentiles as torch.quantile computes them, histograms of autograd's gradients); and diagnostics.csv's
statistics of the same pass, as float64 computes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.rundir.csv_files import parse_diagnostics, parse_distributions
from cnnlab.rundir.records import HISTOGRAM_BINS, PERCENTILES, DistributionRow
from cnnlab.spec import resolve
from cnnlab.train import checkpoint, distributions
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


def assert_percentiles_of_the_probe(trainer: Trainer, rows: list[DistributionRow], step: int) -> None:
    """The record of `step`: the percentiles of what each nonlinearity of `trainer`'s model receives and
    gives on the probe batch (batch norm on the probe's statistics, as the probe runs it), by torch.quantile."""
    model, seen = trainer.model, {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, args, out, name=name: seen.__setitem__(name, (args[0].detach(), out.detach())))
        for name in ("conv1_act", "fc1_act")]
    hooks.append(model.head.register_forward_hook(lambda m, args, out: seen.__setitem__("head", (out, out))))
    with torch.no_grad():
        model(trainer.diagnostics.x)
    for hook in hooks:
        hook.remove()
    q = torch.tensor(PERCENTILES) / 100
    sampled = []
    for i, (name, layer) in enumerate((("conv1_act", "conv1"), ("fc1_act", "fc1"), ("head", "head"))):
        pre, out = seen[name]
        sampled.append(pre.numel() > distributions.SAMPLE)
        for quantity, values in (("pre_activation", pre), ("activation", out)):
            want = torch.quantile(described(values, i), q).tolist()
            assert of(rows, step, layer, quantity, "p") == pytest.approx(want, rel=1e-5, abs=1e-6), (layer, quantity)
    assert sampled == [True, False, False]  # conv1 by its sample of positions, the others by every value


def test_an_epochs_end_is_recorded_whichever_pass_measures_it(tmp_path):
    """Default spacing, 2 steps an epoch: every step is recorded. Its epoch's end is measured by the
    epoch's record (epochs 2 and 3, the last, with every: 2) or by a pass of its own (epoch 1), and the
    numbers are those of a run that records every epoch."""
    spec = {**SPEC, "train": {**SPEC["train"], "epochs": 3, "diagnostics": {"probe": 16, "every": 2}}}
    every = {**spec, "train": {**spec["train"], "diagnostics": {"probe": 16, "every": 1}}}
    (tmp_path / "two").mkdir(), (tmp_path / "one").mkdir()
    rows, reference = (read(next(train(tmp_path / name, s).glob("*/*"))) for name, s in (("two", spec), ("one", every)))
    assert {r.step for r in rows if r.statistic.startswith("p")} == set(range(7))
    assert {r.epoch for r in rows if r.statistic.startswith("bin")} == {0, 2, 3}
    got, want = ([r for r in found if r.statistic.startswith("p")] for found in (rows, reference))
    assert [(r.step, r.layer, r.quantity, r.statistic) for r in got] == \
        [(r.step, r.layer, r.quantity, r.statistic) for r in want]
    assert [r.value for r in got] == pytest.approx([r.value for r in want], rel=1e-5, abs=1e-6)


def test_the_percentiles_are_torch_quantile_on_the_probe(run, at_init):
    assert_percentiles_of_the_probe(at_init, read(run), step=0)


def test_at_an_epochs_end_the_epochs_pass_gives_the_same_percentiles(run):
    """Step 4 ends the run: its percentiles come from the last epoch record's pass with gradients, and
    are those of a forward pass of the last checkpoint's model."""
    trainer = Trainer(resolve(SPEC), None, Quiet())
    trainer.setup()
    path = run / "checkpoints" / "last.pt"
    checkpoint.load_weights(trainer.model, checkpoint.load(path), path)
    assert_percentiles_of_the_probe(trainer, read(run), step=4)


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


def test_histogram_of_equal_values():
    low, high, *masses = distributions.histogram(torch.zeros(10)).tolist()
    assert (low, high) == (-distributions.DEGENERATE_HALF_WIDTH, distributions.DEGENERATE_HALF_WIDTH)
    assert masses[HISTOGRAM_BINS // 2] == 1 and sum(masses) == 1


def test_a_records_layers_are_measured_together_as_each_alone():
    """A record measures the rows of equal length at once: each row's percentiles and histogram are
    those it has alone (numpy's histogram over the row's range, torch.quantile)."""
    rows = torch.randn(5, 1_000, generator=torch.Generator().manual_seed(1)) * torch.arange(1.0, 6.0)[:, None]
    rows[3] = 2.0  # all equal
    rows[4, 7] = float("nan")
    together = distributions.percentiles(rows)
    for row, got in zip(rows, together, strict=True):
        assert torch.allclose(got, torch.quantile(row, torch.tensor(PERCENTILES) / 100), atol=1e-6, equal_nan=True)
    histograms = distributions.histogram(rows[:4])
    for row, got in zip(rows[:4], histograms, strict=True):
        assert torch.equal(got, distributions.histogram(row))
    counts, _ = np.histogram(rows[0].numpy(), HISTOGRAM_BINS, (rows[0].min().item(), rows[0].max().item()))
    assert np.abs(histograms[0, 2:].numpy() * 1_000 - counts).sum() <= 2  # a value on a bin's edge either side


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_a_sample_is_the_same_values_whatever_the_memory_layout(memory_format):
    values = torch.randn(8, 16, 28, 28, generator=torch.Generator().manual_seed(2))
    positions = distributions.sample_positions(values.numel(), layer=0)
    laid_out = values.contiguous(memory_format=memory_format)
    offsets = distributions.storage_offsets(positions, laid_out.shape, laid_out.stride())
    read = laid_out.as_strided((values.numel(),), (1,))[offsets]
    assert torch.equal(read.sort().values, values.reshape(-1)[positions].sort().values)
    assert torch.equal(offsets, offsets.sort().values)  # in memory order


def due(schedule: distributions.Schedule) -> list[int]:
    return [step for step in range(1, schedule.steps_per_epoch * schedule.epochs + 1) if schedule.due(step)]


def test_by_default_about_20_percentile_records_a_run_the_last_of_each_epoch_at_its_end():
    quickstart = due(distributions.Schedule(None, steps_per_epoch=113, epochs=5))
    assert len(quickstart) == 20 and {113, 226, 339, 452, 565} <= set(quickstart)
    assert {b - a for a, b in zip([0, *quickstart[:-1]], quickstart, strict=True)} == {28, 29}  # evenly spaced
    assert due(distributions.Schedule(None, steps_per_epoch=7, epochs=1)) == list(range(1, 8))
    assert due(distributions.Schedule(None, steps_per_epoch=10, epochs=30)) == list(range(10, 301, 10))
    assert due(distributions.Schedule(5, steps_per_epoch=113, epochs=5)) == list(range(5, 566, 5))


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


def test_the_diagnostics_at_init_are_the_probes_statistics_in_float64(tmp_path):
    """diagnostics.csv at epoch 0, from the same probe pass: each activation's mean and (unbiased) std,
    the share of its units never above 0, and the norms of each weight and of autograd's gradient of the
    probe loss with respect to it, as float64 computes them from the model at init."""
    spec = tiny([{"out_channels": 6, "kernel_size": 3, "padding": 1}], fc=[16], norm="batch", activation="relu",
                global_pool=False, train={"epochs": 1, "diagnostics": {"probe": 16}})
    path = next(train(tmp_path, spec).glob("*/*")) / "diagnostics.csv"
    rows = parse_diagnostics(path.read_text(), path)
    got = {(r.layer, r.statistic): r.value for r in rows if r.epoch == 0}
    trainer = Trainer(resolve(spec), None, Quiet())
    trainer.setup()
    model, probe = trainer.model, trainer.diagnostics
    seen = {}
    hooks = [getattr(model, name).register_forward_hook(lambda m, args, out, layer=layer: seen.__setitem__(layer, out))
             for name, layer in (("conv1_act", "conv1"), ("fc1_act", "fc1"), ("head", "head"))]
    loss = probe.head.loss(model(probe.x), probe.y)
    for hook in hooks:
        hook.remove()
    grads = torch.autograd.grad(loss, [getattr(model, layer).weight for layer in seen])
    for (layer, out), grad in zip(seen.items(), grads, strict=True):
        values = out.detach().double()
        assert got[layer, "act_mean"] == pytest.approx(values.mean().item(), rel=1e-5), layer
        assert got[layer, "act_std"] == pytest.approx(values.std().item(), rel=1e-5), layer
        assert got[layer, "weight_norm"] == pytest.approx(getattr(model, layer).weight.double().norm().item(), rel=1e-5)
        assert got[layer, "grad_norm"] == pytest.approx(grad.double().norm().item(), rel=1e-4), layer
        if layer != "head":
            units = values.movedim(1, -1).reshape(-1, values.shape[1])
            assert got[layer, "dead_fraction"] == pytest.approx((units.max(dim=0).values <= 0).double().mean().item())
