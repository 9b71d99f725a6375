"""infopo's two error types: bad input found before training starts, and a run stopped by a failure it cannot recover
from; the command line prints either as one line."""


class InfopoConfigError(ValueError):
    """A recipe, flag, file, data set or model that cannot work; the message names the culprit.

    The command line prints it as ``error: <message>`` and exits with status 2, before any training step.
    """


class InfopoRunError(RuntimeError):
    """A training run stopped by something outside infopo's control (a user's reward function that raised); the
    message names it, the step, and the checkpoint to resume from. The command line prints the cause's traceback to
    the log and this message as its last line, with exit status 1."""
