"""One hierarchy for the errors a user can cause. Messages are one sentence naming the file and the fix."""


class UgokuError(Exception):
    """Base of every error ugoku raises on purpose; the CLI prints it and exits with `exit_code`."""

    exit_code = 2


class InputError(UgokuError):
    """An input file is missing, unreadable, too large, or holds no usable face."""


class OutputError(UgokuError):
    """The output cannot be written where the user asked."""


class OptionError(UgokuError):
    """An option value is out of range or inconsistent with the others."""
