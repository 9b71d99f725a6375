"""The one error type for bad input found before training starts."""


class InfopoConfigError(ValueError):
    """A recipe, flag, file, data set or model that cannot work; the message names the culprit.

    The command line prints it as ``error: <message>`` and exits with status 2, before any training step.
    """
