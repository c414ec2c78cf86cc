"""Output that fits: every table at 60, 80 and 120 columns of a terminal, and through a pipe (full width,
or COLUMNS when set); never a cut number, dropped columns named, footnotes broken between words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.util.table import Column, TextTable, fit, table_lines
from cnnlab.util.terminal import UNLIMITED, make_console, room, wrap

ROOT = Path(__file__).parent.parent
QUICKSTART = ROOT / "experiments" / "quickstart.yaml"
ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WIDTHS = (60, 80, 120)


def invoke(*args: object, width: int | None, terminal: bool) -> str:
    """`cnnlab ARGS` with stdout a terminal of `width` columns (TTY_COMPATIBLE=1), or a pipe (COLUMNS
    only when `width` is given); stdout without colour codes."""
    env = {"TTY_COMPATIBLE": "1" if terminal else "0", "TTY_INTERACTIVE": "0", "NO_COLOR": "1",
           "COLUMNS": str(width) if width else None}
    result = CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return ESC.sub("", result.stdout)


def fits(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, f"wider than {width}: {too_long}"
    assert "…" not in text


def joined(text: str) -> str:
    """The text with its line breaks undone (a note wrapped between words reads as one sentence)."""
    return " ".join(text.split())


# ---------------------------------------------------------------- the shared table


def table(rows: int = 3) -> TextTable:
    return TextTable(
        [Column("name", [f"row{i}" for i in range(rows)]),
         Column("long description", [f"a rather long description {i}" for i in range(rows)],
                compact=[f"d{i}" for i in range(rows)], compact_header="desc", compact_note="desc: short"),
         Column("number", [f"{123456789 * (i + 1):,}" for i in range(rows)], align="right"),
         Column("extra", ["x" * 12] * rows, align="right")],
        title="a table", notes=["a footnote that is long enough to need wrapping at a narrow width, word by word"],
        narrowing=[("drop", "extra"), ("compact", "long description")], left_out_hint=" (see --all)")


def test_fit_takes_the_narrowing_steps_in_order_until_the_table_fits():
    assert fit(table(), None).dropped == [] and all(not compact for _, compact in fit(table(), None).shown)
    layout = fit(table(), 52)
    assert layout.dropped == ["extra"] and not any(compact for _, compact in layout.shown)
    layout = fit(table(), 30)
    assert layout.dropped == ["extra"] and [c.name for c, compact in layout.shown if compact] == ["long description"]


def test_a_table_too_wide_for_every_step_is_shown_whole_not_cut():
    lines = [str(line) for line in table_lines(table(), 10)]
    assert any("370,370,367" in line for line in lines)  # wider than 10: never a cut number
    assert "left out to fit 10 columns: extra (see --all)" in joined("\n".join(lines))


def test_notes_wrap_between_words():
    lines = [str(line) for line in table_lines(table(), 30)]
    notes = lines[lines.index(next(line for line in lines if line.startswith("a footnote"))):]
    assert all(len(line) <= 30 for line in notes)
    words = table().notes[0].split(" ")
    assert [w for line in notes for w in line.split()][:len(words)] == words
    assert wrap("one two three", None) == ["one two three"]
    assert wrap("unbreakable-word-longer-than-the-width and more", 10)[0] == "unbreakable-word-longer-than-the-width"


def test_a_pipe_has_no_width_limit_unless_columns_says_one(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert room(make_console()) is None and make_console().width == UNLIMITED
    monkeypatch.setenv("COLUMNS", "70")
    assert room(make_console()) == 70
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "90")
    console = make_console()
    assert console.is_terminal and room(console) == 90
    assert room(Console(width=UNLIMITED)) is None


# ---------------------------------------------------------------- cnnlab shape and train --dry-run

LAYER_NUMBERS = ("16×28×28", "32×14×14", "32×7×7", "1568", "100,416", "4,608", "105,784", "245.5 KiB")


@pytest.mark.parametrize("width", WIDTHS)
def test_shape_fits_a_terminal_and_keeps_every_number(width):
    out = invoke("shape", QUICKSTART, width=width, terminal=True)
    fits(out, width)
    for number in LAYER_NUMBERS:
        assert number in out
    if width < 120:
        assert "left out to fit" in joined(out)
    dropped = re.search(r"left out to fit \d+ columns: ([^(]*)", joined(out))
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    for name in (dropped.group(1).split(", ") if dropped else []):
        assert name.strip() not in header.split()  # a dropped column is gone whole


def test_shape_in_60_columns_folds_layer_types_into_the_layer_syntax():
    out = invoke("shape", QUICKSTART, width=60, terminal=True)
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert "conv:16,k3,psame" in rows["conv1"] and "pool:max,k2" in rows["pool1"] and "bn" in rows["conv1_norm"]
    assert "layer syntax of cnnlab shape --input" in joined(out)


def test_shape_through_a_pipe_is_whole_and_unwrapped():
    out = invoke("shape", QUICKSTART, width=None, terminal=False)
    lines = out.splitlines()
    assert any("centre" in line and "sees" in line for line in lines)  # no column left out
    assert "left out" not in out
    assert any(line.startswith("RF: receptive field") and line.endswith("inside one unit's field.") for line in lines)
    assert "2.0%" in out and "1.5" in out  # pool1's field share and pool2's centre, whole
    fits(invoke("shape", QUICKSTART, width=80, terminal=False), 80)  # COLUMNS through a pipe


@pytest.mark.parametrize("width", WIDTHS)
def test_explain_folds_formulas_under_their_rows(width):
    out = invoke("shape", "--input", "3x32x32", "conv:16,k3,psame", "bn", "act:relu", "conv:32,k3,d2",
                 "pool:max,k3,s2,ceil", "gap", "fc:10", "--explain", width=width, terminal=True)
    fits(out, width)
    lines = out.splitlines()
    conv2 = next(i for i, line in enumerate(lines) if line.startswith("conv2"))
    assert "⌊(32 + 2·0 − 2·(3−1) − 1)/1⌋ + 1 = 28" in lines[conv2 + 1]


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_dry_run_fits_and_never_wraps_a_layer_type(width):
    out = invoke("train", QUICKSTART, "--dry-run", "--set", "sweep={model.activation: [relu, tanh]}",
                 width=width, terminal=width is not None)
    if width:
        fits(out, width)
    rows = [line for line in out.splitlines() if line.startswith(("conv1 ", "pool1 ", "fc1 "))]
    assert len(rows) == 3 and all(("→" in row or ":" in row or "pool" in row) for row in rows)
    assert "2 runs" in out and "tanh" in out


def test_a_dry_run_says_which_runs_completed_already_and_still_fits(tiny_spec, tmp_path):
    spec, runs = tiny_spec(seeds=[0, 1]), tmp_path / "runs"
    invoke("train", spec, "--runs-dir", runs, "--set", "seeds=[0]", width=None, terminal=False)
    wide = invoke("train", spec, "--runs-dir", runs, "--dry-run", width=None, terminal=False)
    [done] = [meta.parent for meta in runs.glob("tiny/*/meta.json")]
    assert re.search(rf"^0 +0 +skip: completed in {re.escape(str(done))}$", wide, re.MULTILINE)
    assert re.search(r"^1 +1 +train$", wide, re.MULTILINE)
    narrow = invoke("train", spec, "--runs-dir", runs, "--dry-run", width=60, terminal=True)
    fits(narrow, 60)
    assert re.search(r"^0 +0 +skip: completed$", narrow, re.MULTILINE) and "run directories are left out" in narrow


# ---------------------------------------------------------------- cnnlab compare, ls and eval


@pytest.fixture
def experiment(tmp_path, make_run, monkeypatch):
    """runs/wide (relative, as a user types it): 3 activations × 2 seeds."""
    monkeypatch.chdir(tmp_path)
    group = Path("runs") / "wide"
    for activation in ("relu", "tanh", "leaky_relu"):
        for seed in (0, 1):
            make_run(group, seed=seed, swept={"model.activation": activation, "model.conv[0].kernel_size": 5},
                     test_acc=0.9 - 0.1 * seed)
    return group


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_fits_a_terminal(experiment, width):
    out = invoke("compare", experiment, width=width, terminal=True)
    fits(out, width)
    assert "test acc % ▼" in out and "85.00 ± 7.07" in out
    if width < 120:
        assert "left out to fit" in joined(out) and "(see --metrics)" in joined(out)


def test_compare_through_a_pipe_keeps_every_column(experiment):
    out = invoke("compare", experiment, width=None, terminal=False)
    header = out.splitlines()[2]
    for column in ("final val acc %", "epochs", "train time", "status", "val acc curve"):
        assert column in header  # all that have numbers (these hand-made runs record no MACs or img/s)
    assert "left out" not in out
    assert len(out.splitlines()) == 2 + 2 + 3 + 1  # title, blank, header, rule, a line per row, the note
    fits(invoke("compare", experiment, width=80, terminal=False), 80)  # COLUMNS through a pipe


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_ls_fits_a_terminal_and_is_whole_through_a_pipe(experiment, width):
    out = invoke("ls", experiment, width=width, terminal=width is not None)
    if width:
        fits(out, width)
    else:
        assert "age" in out and all(len(line.split()) == 7 for line in out.splitlines()[4:10])
    assert "leaky_relu" in out and out.count("90.00") == 3
    assert out.count("completed") == 6 or "left out to fit 60 columns: age, status" in joined(out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny trained run (for eval)."""
    import yaml
    from conftest import TINY

    folder = tmp_path_factory.mktemp("eval")
    spec = folder / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    assert CliRunner().invoke(app, ["train", str(spec), "--runs-dir", str(folder / "runs")]).exit_code == 0
    return next((folder / "runs" / "tiny").iterdir())


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_eval_fits_a_terminal_and_is_whole_through_a_pipe(trained, width):
    out = invoke("eval", trained, "--device", "cpu", width=width, terminal=width is not None)
    if width:
        fits(out, width)
    matrix = [line for line in out.splitlines() if re.fullmatch(r"\d+ .*%", line)]
    assert [line.split()[0] for line in matrix] == [str(i) for i in range(8)]
    assert "horizontal_line" in out  # in the rows, or in the note that names the classes


def test_piped_output_has_no_padding_at_line_ends(trained):
    """Through a pipe the output is data: no line of any command's table ends in blanks."""
    for args in (["inspect", trained], ["compare", trained.parent], ["ls", trained.parent], ["shape", QUICKSTART],
                 ["shape", "--input", "1x28x28", "conv:6,k5", "pool:max,k2", "flatten", "fc:10"]):
        out = invoke(*args, width=None, terminal=False)
        padded = [line for line in out.splitlines() if line != line.rstrip()]
        assert not padded, f"{args[0]}: {padded}"
        assert len(out.splitlines()) > 3
