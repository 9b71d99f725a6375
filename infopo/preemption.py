"""Preemption: on SIGTERM, SIGUSR1 or SIGINT (Ctrl-C) a run finishes its optimizer step, writes a complete checkpoint
and stops; a second Ctrl-C aborts at once (``KeyboardInterrupt``, no checkpoint of that step).

SLURM and spot instances send SIGTERM (SLURM also SIGUSR1, with ``--signal=USR1@<seconds>``) and kill the job a grace
period later. While ``train()`` runs, infopo's trainers catch both signals: the handler only records the first one;
at the end of every optimizer step all ranks agree (one all-reduce of a flag: a rank that got the signal stops them
all, at the same step), the step's checkpoint is written the normal way (:class:`~infopo.checkpoints.
InfopoCheckpointMixin`: every method's state, then the completion marker) and training ends. Further signals while
stopping (Ctrl-C aside) are noted and ignored, so a second SIGTERM during the save cannot leave a half-written newest
checkpoint behind the marker (after a stop the handlers stay, so the process exits on its own terms); a SIGKILL during
the save leaves that folder unmarked, and resume takes the previous complete one.

The command line then exits with :data:`EXIT_STOPPED` (75, ``EX_TEMPFAIL`` of ``sysexits.h``: stopped, can be
resumed) and prints one line naming the signal, the step and the checkpoint; ``--resume_from_checkpoint true``
continues from it. From Python, ``trainer.stopped_by`` holds the signal's name (None for a run that finished).
"""

from __future__ import annotations

import os
import signal
import threading

from transformers import TrainerCallback

from infopo.distributed import max_over_processes
from infopo.errors import EXIT_STOPPED

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
__all__ = ["EXIT_STOPPED", "STOP_SIGNALS", "PreemptionCallback", "StopSignals", "signal_name"]


class StopSignals:
    """A context in which SIGTERM and SIGUSR1 are recorded instead of ending the process (main thread only; elsewhere
    signals cannot be caught and the previous behaviour stays)."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        # os.write, not print: a handler that prints while the main thread prints raises "reentrant call".
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            extra = " (Ctrl-C again aborts at once, without a checkpoint)" if signum == signal.SIGINT else ""
            os.write(2, f"infopo: {name} received: stopping after this optimizer step{extra}\n".encode())
            return
        if signum == signal.SIGINT:  # a second Ctrl-C: the user wants out now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        os.write(2, f"infopo: {name} received again: ignored, the run is already stopping\n".encode())

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        if self.received is not None:  # stopping: later signals stay noted, not fatal, until the process exits
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


class PreemptionCallback(TrainerCallback):
    """At each optimizer step's end, every rank learns whether any rank got a stop signal; if one did, the step is
    saved and training ends. ``stopped_by`` is the signal's number once that happened."""

    def __init__(self, signals: StopSignals):
        self.signals = signals
        self.stopped_by: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        agreed = max_over_processes(self.signals.received or 0)  # the same on every rank: all stop at this step
        if agreed and self.stopped_by is None:
            self.stopped_by = agreed
            control.should_save = True
            control.should_training_stop = True
        return control


def signal_name(signum: int | None) -> str | None:
    return None if not signum else signal.Signals(signum).name
