"""Checkpoints that never lose state: a completion marker written last, and resume from the last complete one.

transformers writes ``checkpoint-N`` in place, so a process killed while it writes leaves a folder that
``get_last_checkpoint`` would pick and that resumes wrong (without ``trainer_state.json`` the Trainer silently starts
from step 0). infopo's trainers write ``infopo_complete.json`` into a checkpoint after every file of every rank is
there (extra state such as GAIN-RL's first), and only then rotates old checkpoints away and uploads (``hub_strategy``),
so the last complete checkpoint survives a crash and a pushed one is complete; ``train(resume_from_checkpoint=True)``
takes the newest checkpoint that has the marker. A path given explicitly must be complete too.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from transformers.trainer_utils import rotate_checkpoints

from infopo.errors import InfopoConfigError
from infopo.preemption import PreemptionCallback, StopSignals, signal_name

MARKER = "infopo_complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
logger = logging.getLogger(__name__)


def is_complete(folder: str | os.PathLike) -> bool:
    return (Path(folder) / MARKER).is_file()


def last_complete_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest ``checkpoint-N`` under ``output_dir`` with the completion marker; incomplete newer ones are logged."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), path) for path in root.iterdir() if path.is_dir() and (m := _CHECKPOINT.match(path.name))),
        reverse=True,
    )
    for _, path in found:
        if is_complete(path):
            return path
        logger.warning("skipping %s: it has no %s (a save that did not finish)", path, MARKER)
    return None


class InfopoCheckpointMixin:
    """Marks finished checkpoints and resumes from complete ones; subclasses add state through two hooks. A SIGTERM or
    SIGUSR1 during ``train()`` stops the run after the current optimizer step with a complete checkpoint, and sets
    ``stopped_by`` to the signal's name (:mod:`infopo.preemption`)."""

    stopped_by: str | None = None

    def _save_extra_state(self, folder: Path) -> None:
        """Write method state into checkpoint ``folder`` (main process; called before the folder is marked)."""

    def _load_extra_state(self, folder: Path) -> None:
        """Read the method state back from checkpoint ``folder`` before training resumes."""

    def _save_checkpoint(self, model, trial):
        args = self.args
        limit, push = args.save_total_limit, args.push_to_hub
        args.save_total_limit, args.push_to_hub = None, False  # rotation and upload wait until the folder is complete
        try:
            super()._save_checkpoint(model, trial)
        finally:
            args.save_total_limit, args.push_to_hub = limit, push
        run_dir = self._get_output_dir(trial=trial)
        folder = Path(run_dir) / f"checkpoint-{self.state.global_step}"
        if args.should_save:
            self._save_extra_state(folder)
        self.accelerator.wait_for_everyone()  # every rank's shards are written
        if args.should_save:
            (folder / MARKER).write_text(json.dumps({"global_step": self.state.global_step}))
        if push:
            self._push_from_checkpoint(str(folder))
        if args.should_save:
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if resume_from_checkpoint not in (None, False):
            if resume_from_checkpoint is True:
                folder = last_complete_checkpoint(self.args.output_dir)
                if folder is None:
                    raise InfopoConfigError(f"no complete checkpoint to resume from in {self.args.output_dir}")
            else:
                folder = Path(resume_from_checkpoint)
                if not is_complete(folder):
                    raise InfopoConfigError(
                        f"{folder} is not a complete infopo checkpoint (no {MARKER}); its save may not have finished"
                    )
            self._load_extra_state(folder)
            resume_from_checkpoint = str(folder)
        with StopSignals() as signals:  # SIGTERM/SIGUSR1: finish the step, save it complete, stop (infopo.preemption)
            callback = PreemptionCallback(signals)
            self.add_callback(callback)
            try:
                output = super().train(resume_from_checkpoint, *args, **kwargs)
            finally:
                self.remove_callback(callback)
        self.stopped_by = signal_name(callback.stopped_by)
        return output
