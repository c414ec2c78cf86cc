"""A run on a process other than rank 0 under torchrun: it trains with the others and writes
nothing, and ends with the outcome rank 0 recorded. On a failure here it says why (the traceback to
stderr, the reason to rank 0, which marks the run failed) and exits: the others stop too."""

from __future__ import annotations

import os
import sys
import traceback

from cnnlab.errors import Interrupted
from cnnlab.run.ending import failure_reason
from cnnlab.run.outcome import Outcome
from cnnlab.run.peers import StartTraining
from cnnlab.run.plan import PlannedRun
from cnnlab.run.signals import STOP
from cnnlab.run.torchrun.protocol import TorchrunProtocol


def follow_run(planned: PlannedRun, protocol: TorchrunProtocol) -> Outcome:
    start = protocol.hear()
    if not isinstance(start, StartTraining):  # rank 0 does not train it (skipped, or it could not be opened)
        return start
    from cnnlab.train.loop import Trainer
    from cnnlab.train.progress import QuietReporter

    try:
        trainer = Trainer(planned.run.spec, None, QuietReporter(), STOP.requested, protocol.world(), start.precision)
        trainer.setup()
        if start.resumed and (state := protocol.hear()) is not None:
            trainer.restore(state)
        trainer.run()
    except Interrupted as stop:  # agreed by all processes: rank 0 records it
        STOP.adopt(stop.signum)
    except Exception as err:
        traceback.print_exc()
        protocol.failed(failure_reason(err), traceback.format_exc())
        sys.stderr.flush()
        os._exit(1)  # the others stop too: nothing to wait for
    return protocol.hear()
