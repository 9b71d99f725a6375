"""infopo's error types: bad input found before training starts, a run stopped by a failure it cannot recover from,
and a run stopped by a signal; the command line prints each as one line."""


class InfopoConfigError(ValueError):
    """A recipe, flag, file, data set or model that cannot work; the message names the culprit.

    The command line prints it as ``error: <message>`` and exits with status 2, before any training step.
    """


class InfopoRunError(RuntimeError):
    """A training run stopped by something outside infopo's control (a user's reward function that raised); the
    message names it, the step, and the checkpoint to resume from. The command line prints the cause's traceback to
    the log and this message as its last line, with exit status 1."""


EXIT_STOPPED = 75
"""The command line's exit status for a run stopped by a signal with a complete checkpoint (``EX_TEMPFAIL``)."""


class InfopoStopped(Exception):
    """A run stopped by SIGTERM or SIGUSR1 after a complete checkpoint (:mod:`infopo.preemption`); the command line
    prints the message as its last line and exits with status 75 (``EX_TEMPFAIL``: resume it)."""
