"""`cnnlab report`: every experiment's description, claims with their verdicts, comparison table,
learning curves and diagnostics figures (the views of `cnnlab inspect --plot`), as one markdown page with
PNGs beside it (relative links: it renders on GitHub as is), and every claim's verdict and numbers in
claims.json (cnnlab.compare.claims_report).

The page holds no clock time and no absolute path, so the same runs give the same bytes: a
published results folder can be regenerated and diffed.
"""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnnlab.compare.build import build_comparison
from cnnlab.compare.claims_report import (
    CLAIMS_FILE,
    ClaimVerdict,
    claim_verdicts,
    claims_json,
    claims_table,
    procedure_line,
    verdict_legend,
)
from cnnlab.compare.decide import check_experiment, procedure
from cnnlab.compare.diagnose import diagnose
from cnnlab.compare.load import Run, load_runs
from cnnlab.compare.metrics import CompareError, parse_columns
from cnnlab.compare.render import render_markdown
from cnnlab.compare.views import build_views
from cnnlab.rundir.records import SweepRecord
from cnnlab.spec.claims import ClaimError
from cnnlab.util.files import write_text_atomic
from cnnlab.util.text import duration, plural

PAGE = "README.md"


@dataclass(frozen=True)
class Experiment:
    name: str
    record: SweepRecord | None  # None: runs without an experiment record (no sweep, no claims)
    runs: list[Run]


def experiments(runs: Sequence[Run]) -> list[Experiment]:
    """The runs grouped by experiment (their runs/<name>/ folder), in name order."""
    groups: dict[str, Experiment] = {}
    for run in runs:
        name = run.sweep.name if run.sweep else str(run.config.get("name", run.path.parent.name))
        if name not in groups:
            groups[name] = Experiment(name, run.sweep.record if run.sweep else None, [])
        groups[name].runs.append(run)
    return [groups[name] for name in sorted(groups)]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def _wall_time(runs: Sequence[Run]) -> str:
    """The runs' wall time (from creating the run directory to the final status), summed."""
    total = sum(run.meta.duration_s or 0 for run in runs if run.meta)
    return f"{duration(total)} over {plural(len(runs), 'run')} (the sum of each run's wall time)"


def report_columns(runs: Sequence[Run]) -> list[str]:
    """compare's default columns, and the receptive field beside the MACs where the runs differ in it."""
    columns = parse_columns(None)[0]
    if len({run.metrics["receptive_field"] for run in runs}) > 1:
        columns.insert(columns.index("macs") + 1, "receptive_field")
    return columns


FIGURE_CAPTIONS = {
    "depth": "Why (`cnnlab inspect`: per-layer statistics on each run's probe batch, geometric mean over seeds):",
    "percentiles": "How each layer's inputs and outputs move through training (`cnnlab inspect --view percentiles`, "
                   "as Ioffe & Szegedy 2015, Fig. 1):",
    "histograms": "Each layer's activations and back-propagated gradients (`cnnlab inspect --view histograms`, "
                  "as Glorot & Bengio 2010, Fig. 6 and 7):",
}


def diagnostics_figures(experiment: Experiment, out: Path, warn: Callable[[str], None]) -> list[str]:
    """The figures of `cnnlab inspect --plot` the experiment's runs recorded, into `out`, as markdown:
    the depth plot (at init and at the last epoch they all recorded), and where the runs recorded
    distributions, the percentiles and the histograms at init and at that epoch; none without diagnostics."""
    from cnnlab.compare.figures import FIGURES, FigureRequest

    try:
        diagnosed, keys = diagnose(experiment.runs, warn)
        views = build_views(diagnosed, keys, None)
    except CompareError:  # no diagnostics (train.diagnostics.every: 0): the section goes without the figures
        return []
    last = max(view.epoch for view in views)
    wanted = [("depth", None, "diagnostics", "gradient and activation std against depth"),
              ("percentiles", None, "percentiles", ""), ("histograms", 0, "histograms-init", ""),
              ("histograms", last, "histograms-last", "")]
    lines: list[str] = []
    captioned: set[str] = set()
    for view, epoch, suffix, what in wanted[:3 if last == 0 else 4]:
        name = f"{_slug(experiment.name)}-{suffix}.png"
        title = f"{experiment.name}: {what}" if what else experiment.name
        try:
            FIGURES[view](FigureRequest(experiment.runs, views, title, _quiet, epoch), out / name)
        except CompareError:  # runs of a cnnlab that recorded no distributions
            continue
        if view not in captioned:
            lines += [FIGURE_CAPTIONS[view], ""]
            captioned.add(view)
        lines += [f"![{suffix} of {experiment.name}]({name})", ""]
    return lines


def _quiet(message: str) -> None:
    """Warnings of the figures after the first: diagnose has said them for these runs."""


def experiment_section(experiment: Experiment, out: Path, plot: Callable | None, warn: Callable[[str], None],
                       verdicts: list[ClaimVerdict]) -> str:
    """One experiment as markdown; its plots (when `plot` is given) are written into `out`, its claims'
    verdicts added to `verdicts`."""
    record, lines = experiment.record, [f"## {experiment.name}", ""]
    if record and record.description:
        lines += [record.description.strip(), ""]
    if record and record.command:
        lines += [f"Reproduce: `{record.command}`", ""]
    if record and record.claims:
        try:
            results = check_experiment(record, experiment.runs)
        except ClaimError as err:
            lines += [f"The claims cannot be checked: {err}", ""]
        else:
            tested = sum(r.evidence.tested for r in results)
            lines += ["**Claims**", "", procedure_line(record.looks, tested), "", claims_table(results), ""]
            verdicts += claim_verdicts(experiment.name, results, procedure(record))
    comparison = build_comparison(experiment.runs, columns=(report_columns(experiment.runs), False))
    table = io.StringIO()
    render_markdown(comparison, table)
    lines += [table.getvalue().rstrip(), ""]
    if plot is not None:
        name = f"{_slug(experiment.name)}-curves.png"
        plot(comparison, out / name)
        lines += [f"![learning curves of {experiment.name}]({name})", ""]
        lines += diagnostics_figures(experiment, out, warn)
    lines += [f"Wall time: {_wall_time(experiment.runs)}.", ""]
    return "\n".join(lines)


DATASET_FILES = ("train", "test", "path")  # the options of the file datasets (csv, npz) that name their files


def _dataset(config: dict) -> str:
    """A run's dataset as the provenance line names it: its name, and the files it read, if any."""
    name = str(config.get("data.dataset", ""))
    files = [f"{option}: {value}" for option in DATASET_FILES
             if isinstance(value := config.get(f"data.dataset.{option}"), str)]
    return f"{name} ({', '.join(files)})" if name and files else name


def _provenance(runs: Sequence[Run]) -> str:
    metas = [run.meta for run in runs if run.meta]
    datasets = sorted({_dataset(run.config) for run in runs} - {""})
    cnnlab = sorted({v for meta in metas if (v := meta.versions.get("cnnlab"))})
    torch = sorted({v for meta in metas if (v := meta.versions.get("torch"))})
    machines = sorted({m for meta in metas if (m := meta.machine)})
    return (f"Produced by cnnlab {', '.join(cnnlab) or '(version not recorded)'} with torch "
            f"{', '.join(torch) or '(not recorded)'} on {'; '.join(machines) or 'an unrecorded machine'}; "
            f"dataset: {', '.join(datasets) or 'unknown'}.")


def dataset_override(experiments: Sequence[Experiment]) -> str | None:
    """The dataset every experiment was run with through `--set data.dataset=NAME` (read from the
    commands their sweep records keep), or None when they were not all run that way."""
    found = set()
    for experiment in experiments:
        words = shlex.split(experiment.record.command) if experiment.record and experiment.record.command else []
        sets = [b for a, b in zip(words, words[1:], strict=False) if a == "--set"]
        sets += [w.removeprefix("--set=") for w in words if w.startswith("--set=")]
        found.add(next((s.split("=", 1)[1] for s in sets if s.startswith("data.dataset=")), None))
    return found.pop() if len(found) == 1 else None


def _rerun_note(dataset: str) -> str:
    return (f"Every experiment ran with `--set data.dataset={dataset}` in place of the dataset its file in "
            f"experiments/ names; the same command without that `--set` reruns it on that dataset where "
            f"downloads are possible.")


def write_report(paths: Sequence[Path], out: Path, warn: Callable[[str], None], title: str = "cnnlab results",
                 plots: bool = True) -> Path:
    """The report of the runs under `paths`: out/README.md, a PNG per experiment and out/claims.json."""
    runs = load_runs(paths, warn=warn)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CompareError(f"--out {out}: cannot create it ({err.strerror})") from None
    plot = None
    if plots:
        from cnnlab.compare.plot import plot_curves  # matplotlib only when drawing

        plot = plot_curves
    found = experiments(runs)
    verdicts: list[ClaimVerdict] = []
    sections = [experiment_section(e, out, plot, warn, verdicts) for e in found]
    head = [f"# {title}", "", _provenance(runs), ""]
    if (dataset := dataset_override(found)) is not None:
        head += [_rerun_note(dataset), ""]
    head += [verdict_legend(), ""]
    page = "\n".join(head) + "\n" + "\n".join(sections)
    write_text_atomic(out / PAGE, page)
    write_text_atomic(out / CLAIMS_FILE, claims_json(verdicts))
    return out / PAGE
