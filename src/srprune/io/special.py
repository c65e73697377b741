"""Paths that exist but are neither regular files nor folders: devices, FIFOs, sockets.

Reading one as a model, config or video would block (a FIFO with no writer), never end
(``/dev/zero``) or fail in a confusing way, so every reader refuses them first, in one line
that says what the path is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from srprune.errors import UserError

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """``"a character device"``, ``"a FIFO (named pipe)"``, ... or None for a regular file, a
    folder or a path that does not exist (symlinks are followed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return next((name for test, name in _KINDS if test(mode)), None)


def refuse_special(path: str | os.PathLike[str], what: str, wanted: str = "a file") -> None:
    """UserError when ``path`` is a device, FIFO or socket: ``what PATH is a FIFO (named pipe),
    not WANTED``."""
    kind = special_kind(path)
    if kind is not None:
        raise UserError(f"{what} {Path(path)} is {kind}, not {wanted}")
