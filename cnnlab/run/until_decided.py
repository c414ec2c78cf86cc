"""`cnnlab train EXP.yaml --until-decided [--max-seeds N]`: train the spec's seeds, then add seeds in
rounds, only to the configurations that the claims still undecided name, until every claim is
decided or every such configuration has N seeds. A loop around the planner: each round is a plan
(the same planner, scheduler, stop policy and reporter as any `cnnlab train`), and between rounds the
claims are decided by the code `cnnlab report` decides them with (cnnlab.compare.decide).

The looks are planned before the first run (cnnlab.compare.multiplicity.planned_looks: the spec's
seeds, at most two looks between, and N), and each look tests at its share of α, so that looking
again cannot make a false verdict likelier than α. The seeds a round adds are the integers after
the largest seed used so far, the same for every configuration it extends. sweep.yaml records the
planned looks and each look made (once its round trained), so that the report decides look by look
as the loop did; the same command run again skips what completed and continues where it stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rich.console import Console

from cnnlab.compare.claims import ALPHA
from cnnlab.compare.decide import check_experiment
from cnnlab.compare.load import load_runs
from cnnlab.compare.multiplicity import SEQUENTIAL, look_levels, planned_looks
from cnnlab.errors import UsageError
from cnnlab.run.existing import write_sweep_record
from cnnlab.run.ledger import Tally
from cnnlab.run.plan import Plan, plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.report import print_tally, print_warnings
from cnnlab.run.request import TrainRequest
from cnnlab.run.rounds import prepare, train_plan
from cnnlab.run.scheduler import Scheduler
from cnnlab.rundir.records import Looks, SweepRecord
from cnnlab.spec import Experiment, expand_runs
from cnnlab.spec.claims import Claim
from cnnlab.util.text import plural


@dataclass(frozen=True)
class NextRound:
    plan: Plan | None  # None: every claim decided, or the last look made
    claims: str  # where the claims stand: `4 decided, 1 undecided`


class UntilDecided:
    def __init__(self, console: Console, request: TrainRequest, scheduler: Scheduler) -> None:
        self.console, self.request, self.scheduler = console, request, scheduler
        self.record: SweepRecord | None = None  # sweep.yaml as it stands (rank 0: the process that plans)
        self.experiment: Experiment | None = None
        self.trained: list[int] = []  # the seeds of the round that last trained

    def run(self) -> Tally:
        """Every round, then the tally of them all, printed with where the claims stand."""
        policy = StopPolicy(self.request.fail_fast)
        first = self.scheduler.agree(lambda: prepare(self.console, self.first_round()))
        tallies, standing = [train_plan(self.console, self.scheduler, first, policy)], None
        while not policy.stopping() and not tallies[-1].counts.get("interrupted"):
            standing = self.scheduler.agree(self.next_round)
            if standing.plan is None:
                break
            tallies.append(train_plan(self.console, self.scheduler, standing.plan, policy,
                                      round_label=f"round {len(tallies) + 1}"))
        total = Tally(first.name, sum(t.total for t in tallies),
                      dict(sum((Counter(t.counts) for t in tallies), Counter())), sum((t.dirs for t in tallies), ()))
        print_tally(self.console, first, total, rounds=len(tallies), claims=standing.claims if standing else None)
        return total

    def first_round(self) -> Plan:
        """The spec's seeds, with the looks planned in sweep.yaml (none made yet)."""
        first = plan(self.request)
        if first.experiment is None or not first.experiment.spec.claims:
            raise UsageError(f"--until-decided: {self.request.source} states no claims to decide; add a `claims:` "
                             f"list (cnnlab report --help says how), or train it without --until-decided")
        self.experiment, spec = first.experiment, first.experiment.spec
        self.trained = list(spec.seeds or [spec.seed])
        looks = planned_looks(len(self.trained), self.request.max_seeds)
        self.record = first.record.model_copy(update={"looks": Looks(
            procedure=SEQUENTIAL, planned=looks, levels=look_levels(looks, ALPHA), seeds=[])})
        return replace(first, record=self.record)

    def next_round(self) -> NextRound:
        """The look just trained, recorded; the claims decided on it; the runs of the next round."""
        looks = self.record.looks
        looks = looks.model_copy(update={"seeds": [*looks.seeds, self.trained]})
        self.record = self.record.model_copy(update={"looks": looks})
        write_sweep_record(self.record, self.request.runs_dir)
        folder = self.request.runs_dir / self.record.name
        results = check_experiment(self.record, load_runs([folder], warn=lambda text: print_warnings([text])))
        undecided = [r for r in results if r.settles_with_seeds]
        standing = f"{len(results) - len(undecided)} decided, {len(undecided)} undecided"
        made = len(looks.seeds)
        if not undecided:
            return NextRound(None, standing)
        if made == len(looks.planned):
            return NextRound(None, f"{standing} at {looks.planned[-1]} seeds per group (--max-seeds)")
        start = max(seed for seeds in looks.seeds for seed in seeds) + 1
        self.trained = list(range(start, start + looks.planned[made] - looks.planned[made - 1]))
        configurations = named_configurations([r.claim for r in undecided], self.experiment)
        request = replace(self.request, seeds=tuple(self.trained), only=tuple(configurations))
        planned = replace(plan(request), record=None)  # sweep.yaml is this loop's to write
        seeds = ("seed " if len(self.trained) == 1 else "seeds ") + ", ".join(map(str, self.trained))
        claims = "; ".join(r.claim.text for r in undecided)
        self.console.print(f"round {made + 1}: {plural(len(planned.runs), 'more run')} ({seeds}) for "
                           f"{plural(len(undecided), 'undecided claim')}: {claims}", markup=False)
        return NextRound(prepare(self.console, planned), standing)



def named_configurations(claims: Sequence[Claim], experiment: Experiment) -> list[dict]:
    """The sweep's combinations (as swept values) that one of the claims' groups names."""
    sweep = experiment.spec.sweep
    combinations = {repr(run.swept): run.swept for run in expand_runs(experiment, seeds=[0])}.values()
    return [swept for swept in combinations if any(
        c.left.matches(swept, sweep) or (c.right is not None and c.right.matches(swept, sweep)) for c in claims)]
