"""Claims: the grammar (and its errors, with key paths), Welch's test against SciPy, the verdicts, and
`cnnlab report` on run directories written through the run-record models."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.compare.claims_report import read_claims_json
from cnnlab.compare.decide import check
from cnnlab.compare.load import load_runs
from cnnlab.compare.stats import welch
from cnnlab.rundir.records import SweepRecord
from cnnlab.spec import SpecError, resolve
from cnnlab.spec.claims import ClaimError, parse_claim
from cnnlab.util.files import write_text_atomic
from cnnlab.util.yamlio import dump_yaml

SWEEP = {
    "model.activation": ["relu", "sigmoid"],
    "model.init": ["zeros", {"name": "normal", "std": 0.01}, "kaiming_normal"],
    "model.conv": [[{"out_channels": 4}], [{"out_channels": 8}]],
    "train.optimizer.lr": [0.01, 0.1],
}


# --------------------------------------------------------------------------- the grammar


def test_each_form_of_the_grammar():
    claim = parse_claim("relu > sigmoid on test_acc", SWEEP)
    assert (claim.op, claim.metric, claim.epoch) == (">", "test_acc", None)
    assert [(t.key, t.index) for t in claim.left.terms] == [("model.activation", 0)]
    claim = parse_claim("model.init=kaiming_normal & relu < normal & relu on val_loss at epoch 3", SWEEP)
    assert [(t.key, t.index) for t in claim.left.terms] == [("model.init", 2), ("model.activation", 0)]
    assert [(t.key, t.index) for t in claim.right.terms] == [("model.init", 1), ("model.activation", 0)]
    assert (claim.op, claim.metric, claim.epoch) == ("<", "val_loss", 3)
    claim = parse_claim("zeros ~ chance on best_val_acc", SWEEP)
    assert claim.chance and claim.right is None
    claim = parse_claim("model.conv#2 > model.conv#1 on test_acc", SWEEP)
    assert [t.index for t in claim.left.terms + claim.right.terms] == [1, 0]
    assert parse_claim("0.1 > 0.01 on test_acc", SWEEP).left.terms[0].key == "train.optimizer.lr"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("relu is better than sigmoid", "is not a claim"),
        ("relu > sigmod on test_acc", 'no swept value \'sigmod\' (did you mean "sigmoid"?)'),
        ("relu > sigmoid on val_acc", "'val_acc' is a per-epoch figure"),
        ("relu > sigmoid on test_accuracy", "unknown metric 'test_accuracy'"),
        ("relu > sigmoid on train_loss at epoch 0", "epochs count from 1"),
        ("model.conv#3 > relu on test_acc", "model.conv#3: the sweep of model.conv has values #1 to #2"),
        ("model.norm=batch > relu on test_acc", "'model.norm' is not swept"),
        ("relu ~ sigmoid on test_acc", "'~' compares with chance only"),
        ("relu ~ chance on test_loss", "needs an accuracy"),
        ("relu ~= sigmoid on test_loss", "'~=' (equally accurate) needs an accuracy"),
        ("relu > relu on test_acc", "compares a group with itself"),
        ("relu & sigmoid > zeros on test_acc", "names one swept key twice"),
    ],
)
def test_grammar_errors_say_what_to_write(text, message):
    with pytest.raises(ClaimError, match=None) as caught:
        parse_claim(text, SWEEP)
    assert message in str(caught.value)


def test_a_claim_is_checked_with_the_spec_and_its_error_names_the_key_path():
    raw = {"sweep": {"model.activation": ["relu", "sigmoid"]}, "claims": ["relu > sigmoid on test_acc",
                                                                             "tanh > relu on test_acc"]}
    with pytest.raises(SpecError, match=r"^claims\[1\]: no swept value 'tanh'"):
        resolve(raw)
    spec = resolve({**raw, "claims": raw["claims"][:1], "description": "ReLU learns faster."})
    assert "claims" not in spec.resolved() and "description" not in spec.resolved()  # not part of a run


# --------------------------------------------------------------------------- Welch's test


def test_welch_matches_scipy():
    rng = random.Random(7)
    for _ in range(300):
        a = [rng.gauss(rng.uniform(-1, 1), rng.uniform(0.01, 2)) for _ in range(rng.randint(2, 8))]
        b = [rng.gauss(0, rng.uniform(0.01, 2)) for _ in range(rng.randint(2, 8))]
        ours, theirs = welch(a, b), stats.ttest_ind(a, b, equal_var=False, alternative="greater")
        assert ours.t == pytest.approx(theirs.statistic, rel=1e-9)
        assert ours.p_greater == pytest.approx(theirs.pvalue, abs=1e-12)
        shifted = stats.ttest_ind([x - 0.3 for x in a], b, equal_var=False, alternative="less")
        assert welch(a, b, shift=0.3).p_less == pytest.approx(shifted.pvalue, abs=1e-12)
    assert welch([0.5, 0.5], [0.4, 0.4]).p_greater == 0.0  # no spread, a clear difference


# --------------------------------------------------------------------------- verdicts


def experiment(tmp_path: Path, make_run, accs: dict[str, list[float]], claims: list[str]) -> tuple:
    group = tmp_path / "runs" / "acts"
    for activation, values in accs.items():
        for seed, acc in enumerate(values):
            make_run(group, seed=seed, swept={"model.activation": activation}, test_acc=acc)
    record = SweepRecord(name="acts", sweep={"model.activation": list(accs)}, seeds=list(range(3)),
                         description="ReLU learns, sigmoid does not.", claims=claims,
                         command="cnnlab train acts.yaml --jobs 2")
    write_text_atomic(group / "sweep.yaml", dump_yaml(record.model_dump(mode="json")))
    return group, record


@pytest.mark.parametrize(
    ("accs", "claim", "verdict"),
    [
        ({"relu": [0.9, 0.92, 0.91], "sigmoid": [0.13, 0.12, 0.125]}, "relu > sigmoid on test_acc", "holds"),
        ({"relu": [0.9, 0.92, 0.91], "sigmoid": [0.13, 0.12, 0.125]}, "sigmoid > relu on test_acc", "fails"),
        ({"relu": [0.9, 0.5, 0.7], "sigmoid": [0.6, 0.8, 0.7]}, "relu > sigmoid on test_acc", "inconclusive"),
        ({"relu": [0.9], "sigmoid": [0.12]}, "relu > sigmoid on test_acc", "inconclusive"),  # one seed
        ({"relu": [0.9, 0.92], "sigmoid": [0.13, 0.12]}, "sigmoid ~ chance on test_acc", "holds"),
        ({"relu": [0.9, 0.92], "sigmoid": [0.13, 0.12]}, "relu ~ chance on test_acc", "fails"),
        ({"relu": [0.9, 0.92], "sigmoid": [0.10, 0.2]}, "sigmoid ~ chance on test_acc", "inconclusive"),
        ({"relu": [0.9, 0.92, 0.91], "sigmoid": [0.13, 0.12, 0.125]}, "relu > sigmoid on val_acc at epoch 2",
         "holds"),
        ({"relu": [0.90, 0.905, 0.91], "sigmoid": [0.905, 0.90, 0.911]}, "relu ~= sigmoid on test_acc", "holds"),
        ({"relu": [0.90, 0.905, 0.91], "sigmoid": [0.80, 0.81, 0.79]}, "relu ~= sigmoid on test_acc", "fails"),
        ({"relu": [0.90, 0.70, 0.95], "sigmoid": [0.905, 0.90, 0.911]}, "relu ~= sigmoid on test_acc",
         "inconclusive"),
        ({"relu": [0.9, 0.9], "sigmoid": [0.5, 0.5]}, "relu > sigmoid on test_acc", "holds"),  # no spread
        ({"relu": [0.5, 0.5], "sigmoid": [0.5, 0.5]}, "relu > sigmoid on test_acc", "inconclusive"),  # seeds that
        ({"relu": [0.5, 0.5], "sigmoid": [0.5, 0.5]}, "relu < sigmoid on test_acc", "inconclusive"),  # agree by chance
    ],
)
def test_verdicts(tmp_path, make_run, accs, claim, verdict):
    group, record = experiment(tmp_path, make_run, accs, [claim])
    runs = load_runs([group], warn=pytest.fail)
    result = check(parse_claim(claim, record.sweep), runs, record.sweep)
    assert result.verdict == verdict, result.reason
    if verdict == "inconclusive" and len(accs["relu"]) == 1:
        assert "too few seeds" in result.reason


@pytest.mark.parametrize(("params", "claim", "verdict"), [
    ({"relu": 200, "sigmoid": 100}, "relu > sigmoid on params", "holds"),
    ({"relu": 100, "sigmoid": 100}, "relu > sigmoid on params", "fails"),  # equal is not more
    ({"relu": 100, "sigmoid": 100}, "relu < sigmoid on params", "fails"),
])
def test_a_figure_of_the_architecture_settles_its_claim_without_a_test(tmp_path, make_run, params, claim, verdict):
    group = tmp_path / "runs" / "acts"
    for activation, count in params.items():
        for seed in (0, 1):
            make_run(group, seed=seed, swept={"model.activation": activation}, params=count)
    sweep = {"model.activation": list(params)}
    result = check(parse_claim(claim, sweep), load_runs([group], warn=pytest.fail), sweep)
    assert result.verdict == verdict and result.reason.startswith("the same in every seed: ")
    assert result.evidence.test == "fixed" and result.p_value is None


def test_groups_that_learned_on_every_seed_are_not_a_settled_tie(tmp_path, make_run):
    group, record = experiment(tmp_path, make_run, {"relu": [0.9, 0.92, 0.91], "sigmoid": [0.8, 0.85, 0.9]},
                               ["relu > sigmoid on learns"])
    result = check(parse_claim("relu > sigmoid on learns", record.sweep), load_runs([group], pytest.fail),
                   record.sweep)
    assert (result.verdict, result.evidence.test, result.p_value) == ("inconclusive", "fisher", 1.0)


def test_the_numbers_of_a_claim(tmp_path, make_run):
    accs = {"relu": [0.9, 0.92, 0.91], "sigmoid": [0.13, 0.12, 0.125]}
    group, record = experiment(tmp_path, make_run, accs, [])
    make_run(group, seed=0, swept={"model.activation": "relu"}, test_acc=0.1, status="failed")  # not counted
    result = check(parse_claim("relu > sigmoid on test_acc", record.sweep), load_runs([group], pytest.fail),
                   record.sweep)
    assert result.left.by_seed == {0: 0.9, 1: 0.92, 2: 0.91} and result.left.mean == pytest.approx(0.91)
    assert result.right.std == pytest.approx(0.005) and result.seeds_holding == (3, 3)
    assert result.p_value == pytest.approx(
        stats.ttest_ind(accs["relu"], accs["sigmoid"], equal_var=False, alternative="greater").pvalue)


# --------------------------------------------------------------------------- cnnlab report


def test_report_writes_claims_tables_and_plots_the_same_every_time(tmp_path, make_run, heavy_imports):
    accs = {"relu": [0.9, 0.92, 0.91], "sigmoid": [0.13, 0.12, 0.125]}
    group, _ = experiment(tmp_path, make_run, accs, ["relu > sigmoid on test_acc", "sigmoid ~ chance on test_acc"])
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(group), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "README.md").read_text()
    assert "## acts" in page and "ReLU learns, sigmoid does not." in page
    assert "Reproduce: `cnnlab train acts.yaml --jobs 2`" in page
    assert "| `relu > sigmoid on test_acc` | ✅ holds | relu: 91.00 ± 1.00 % (n=3) |" in page
    assert "| `sigmoid ~ chance on test_acc` | ✅ holds |" in page
    assert "| relu | 3 |" in page and "![learning curves of acts](acts-curves.png)" in page
    assert "Produced by cnnlab 0.1.0" in page and "test machine" in page and str(tmp_path) not in page
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == {"README.md", "acts-curves.png", "claims.json"} and len(first["acts-curves.png"]) < 200_000
    CliRunner().invoke(app, ["report", str(group), "--out", str(out)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # byte for byte
    assert "torch" not in heavy_imports(["report", group, "--out", out])


def test_report_says_how_to_rerun_on_real_data_when_the_runs_replaced_the_dataset(tmp_path, make_run):
    accs = {"relu": [0.9, 0.92], "sigmoid": [0.13, 0.12]}
    group, record = experiment(tmp_path, make_run, accs, [])
    out = tmp_path / "report"
    assert CliRunner().invoke(app, ["report", str(group), "--out", str(out), "--no-plots"]).exit_code == 0
    assert "reruns it on that dataset" not in (out / "README.md").read_text()  # run as the file says
    shapes = record.model_copy(update={"command": "cnnlab train acts.yaml --set data.dataset=shapes --jobs 2"})
    write_text_atomic(group / "sweep.yaml", dump_yaml(shapes.model_dump(mode="json")))
    assert CliRunner().invoke(app, ["report", str(group), "--out", str(out), "--no-plots"]).exit_code == 0
    page = (out / "README.md").read_text()
    assert "Every experiment ran with `--set data.dataset=shapes` in place of the dataset" in page
    assert "without that `--set` reruns it on that dataset where downloads are possible" in page


def test_report_provenance_names_the_files_a_file_dataset_read(tmp_path, make_run):
    digits = {"name": "csv", "train": "data/digits/train.csv.gz", "test": "data/digits/test.csv.gz", "label": "last"}
    group = tmp_path / "runs" / "acts"
    make_run(group, swept={"data.dataset": digits})
    out = tmp_path / "report"
    assert CliRunner().invoke(app, ["report", str(group), "--out", str(out), "--no-plots"]).exit_code == 0
    assert "; dataset: csv (train: data/digits/train.csv.gz, test: data/digits/test.csv.gz)." in \
        (out / "README.md").read_text()


def test_report_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- curves, learns, the family


def test_curve_metrics_and_learns_in_the_grammar():
    claim = parse_claim("relu < sigmoid on epochs_to(val_acc >= 0.9)", SWEEP)
    assert claim.metric == "epochs_to(val_acc>=0.9)" and claim.curve.threshold == 0.9 and claim.curve.op == ">="
    assert parse_claim("relu > sigmoid on auc(val_acc)", SWEEP).accuracy
    assert parse_claim("relu ~= sigmoid on auc(val_acc)", SWEEP).op == "~="
    assert parse_claim("relu > sigmoid on learns", SWEEP).learns
    for text, message in [("relu ~= sigmoid on learns", "'learns' compares how often seeds learn"),
                          ("relu > sigmoid on learns at epoch 2", "'learns' compares how often seeds learn"),
                          ("relu > sigmoid on auc(val_acc) at epoch 2", "a figure of the whole curve"),
                          ("relu > sigmoid on epochs_to(val_acc)", "epochs_to needs a threshold"),
                          ("relu ~= sigmoid on epochs_to(val_acc >= 0.5)", "needs an accuracy"),
                          ("relu > sigmoid on auc(test_acc)", "write a curve metric as")]:
        with pytest.raises(ClaimError) as caught:
            parse_claim(text, SWEEP)
        assert message in str(caught.value), text


def curves(tmp_path: Path, make_run, values: dict[str, list[list[float]]], claims: list[str]):
    """One run per seed and activation with the given validation curves (and their last value as test acc)."""
    group = tmp_path / "runs" / "acts"
    for activation, per_seed in values.items():
        for seed, curve in enumerate(per_seed):
            make_run(group, seed=seed, swept={"model.activation": activation}, test_acc=curve[-1], val_acc=curve)
    record = SweepRecord(name="acts", sweep={"model.activation": list(values)}, claims=claims)
    write_text_atomic(group / "sweep.yaml", dump_yaml(record.model_dump(mode="json")))
    return load_runs([group], warn=pytest.fail), record


def test_epochs_to_counts_a_run_that_never_gets_there_as_its_epochs_plus_one(tmp_path, make_run):
    runs, record = curves(tmp_path, make_run, {
        "relu": [[0.5, 0.92, 0.95], [0.6, 0.91, 0.95], [0.95, 0.96, 0.96]],
        "sigmoid": [[0.1, 0.2, 0.3], [0.1, 0.5, 0.91], [0.1, 0.12, 0.13]]}, [])
    result = check(parse_claim("relu < sigmoid on epochs_to(val_acc >= 0.9)", record.sweep), runs, record.sweep)
    assert result.left.by_seed == {0: 2.0, 1: 2.0, 2: 1.0} and result.right.by_seed == {0: 3.0, 1: 3.0, 2: 3.0}
    result = check(parse_claim("relu > sigmoid on auc(val_acc)", record.sweep), runs, record.sweep)
    assert result.left.by_seed[0] == pytest.approx((0.5 + 0.92 + 0.95) / 3) and result.verdict == "holds"


def test_learns_is_fishers_test_and_a_split_group_is_flagged_bimodal(tmp_path, make_run):
    accs = {"relu": [0.9, 0.92, 0.91, 0.88, 0.9, 0.93], "sigmoid": [0.125, 0.13, 0.12, 0.9, 0.125, 0.12]}
    group, record = experiment(tmp_path, make_run, accs, ["relu > sigmoid on learns"])
    result = check(parse_claim("relu > sigmoid on learns", record.sweep), load_runs([group], pytest.fail),
                   record.sweep)
    assert result.evidence.test == "fisher"
    assert result.p_value == pytest.approx(stats.fisher_exact([[6, 0], [1, 5]], alternative="greater").pvalue)
    assert result.verdict == "holds" and result.right.bimodal and not result.left.bimodal
    out = tmp_path / "report"
    assert CliRunner().invoke(app, ["report", str(group), "--out", str(out), "--no-plots"]).exit_code == 0
    page = (out / "README.md").read_text()
    assert "sigmoid: 1 of 6 seeds learn" in page and "Fisher's exact (one-sided)" in page


def test_the_claims_of_an_experiment_are_one_holm_family(tmp_path, make_run):
    accs = {"relu": [0.90, 0.86, 0.93], "tanh": [0.84, 0.80, 0.86], "sigmoid": [0.83, 0.79, 0.82]}
    claims = ["relu > tanh on test_acc", "relu > sigmoid on test_acc", "tanh > sigmoid on test_acc"]
    group, record = experiment(tmp_path, make_run, accs, claims)
    out = tmp_path / "report"
    assert CliRunner().invoke(app, ["report", str(group), "--out", str(out), "--no-plots"]).exit_code == 0
    verdicts = read_claims_json(out / "claims.json")
    raw = [stats.ttest_ind(accs[a], accs[b], equal_var=False, alternative="greater").pvalue
           for a, b in (("relu", "tanh"), ("relu", "sigmoid"), ("tanh", "sigmoid"))]
    order = sorted(range(3), key=lambda i: raw[i])
    expected, running = [0.0] * 3, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw[i]))
        expected[i] = running
    assert [v.p for v in verdicts] == pytest.approx(raw, rel=1e-9)
    assert [v.p_holm for v in verdicts] == pytest.approx(expected, rel=1e-9)
    assert [v.verdict for v in verdicts] == ["holds" if p < 0.05 else "inconclusive" for p in expected]
    interval = stats.ttest_ind(accs["relu"], accs["tanh"], equal_var=False).confidence_interval(0.95)
    assert (verdicts[0].ci_low, verdicts[0].ci_high) == pytest.approx((interval.low, interval.high), rel=1e-8)
    assert verdicts[0].seeds == {"relu": 3, "tanh": 3} and verdicts[0].procedure == "fixed"
    undecided = [v for v in verdicts if v.verdict == "inconclusive"]
    assert undecided and all(v.seeds_needed is None or v.seeds_needed > 3 for v in undecided)
    assert CliRunner().invoke(app, ["report", str(group), "--out", str(out), "--no-plots"]).exit_code == 0
    assert read_claims_json(out / "claims.json") == verdicts  # the same numbers from the same runs
