"""`cnnlab train EXP.yaml --dry-run`: the plan, printed. The resolved spec of the first run, the runs
(their swept values and seeds, and what happens to each: trained, resumed or skipped), and the
model's layers; nothing is trained, nothing written. Torch-free."""

from __future__ import annotations

from rich.console import Console

from cnnlab.data.resolve import dataset_info
from cnnlab.run.board import shown_path
from cnnlab.run.plan import Plan, PlannedRun
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan
from cnnlab.shape.report import layer_table
from cnnlab.util.table import Column, TextTable, print_table
from cnnlab.util.text import key_labels
from cnnlab.util.yamlio import dump_yaml


def print_dry_run(console: Console, plan: Plan) -> None:
    runs = plan.runs
    if not runs:
        return
    first = runs[0].run
    console.print(f"# resolved spec of {'the first of ' + str(len(runs)) + ' runs' if len(runs) > 1 else 'the run'}",
                  style="bold", highlight=False)
    console.print(dump_yaml(first.resolved()), highlight=False, markup=False, end="")
    if len(runs) > 1:
        print_table(runs_table(plan), console)
        console.print()
    info = dataset_info(first.spec.data)
    print_table(layer_table(analyze(build_plan(first.spec.model, info), info.shape),
                            title=f"model for {info.channels}×{info.height}×{info.width} inputs, "
                                  f"{info.num_classes} classes"), console)


def runs_table(plan: Plan) -> TextTable:
    """The runs: number, swept values (as their labels read), seed; and, where some run is not
    simply trained anew, what happens to each."""
    runs = plan.runs
    sweep = plan.experiment.spec.sweep if plan.experiment is not None else {}
    columns = [Column("#", [str(i) for i in range(len(runs))], align="right")]
    for key, header in key_labels(sweep).items():
        columns.append(Column(header, [planned.run.labels[key].partition("=")[2] for planned in runs]))
    columns.append(Column("seed", [str(planned.run.seed) for planned in runs], align="right"))
    narrowing: list = []
    if any(planned.resume or planned.completed for planned in runs):
        columns.append(Column("plan", [_action(planned, True) for planned in runs],
                              compact=[_action(planned, False) for planned in runs],
                              compact_note="the run directories are left out: widen the terminal, or pipe the output"))
        narrowing = [("compact", "plan")]
    return TextTable(columns, title=f"{len(runs)} runs", narrowing=narrowing)


def _action(planned: PlannedRun, where: bool) -> str:
    """What the run does: trained anew, resumed or skipped (and, `where`, from or in which directory)."""
    if planned.completed is not None:
        return f"skip: completed in {shown_path(planned.completed)}" if where else "skip: completed"
    if planned.resume is not None:
        return f"resume {shown_path(planned.resume)}" if where else "resume"
    return "train"
