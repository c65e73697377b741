"""The one exception type for mistakes a user can fix (bad path, wrong checkpoint, bad config).

The CLI prints a ``UserError`` as one line on stderr and exits non-zero; anything else is a bug and
keeps its traceback.
"""


class UserError(Exception):
    """An error caused by user input, reported as a single line without a traceback."""
