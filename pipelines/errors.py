"""Exceptions that carry their CLI exit code, so every layer can fail the same way.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``; only
``--debug`` shows a traceback. Raise the most specific class that fits.
"""


class StylectlError(Exception):
    """Something went wrong that is not the user's input (exit code 1)."""

    exit_code = 1


class UserInputError(StylectlError):
    """Bad input: a config key, a file, an image, an override (exit code 2).

    The message must name what was wrong (file, YAML path, image) in one line.
    """

    exit_code = 2


class GateFailed(StylectlError):
    """A quality gate in the ``evaluate`` section failed (exit code 3)."""

    exit_code = 3
