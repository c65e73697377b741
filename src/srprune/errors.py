"""The exception types the command line turns into one line on stderr.

* :class:`UserError`: a mistake a user can fix (bad path, wrong checkpoint, bad config, a size
  out of bounds, not enough memory for the run as asked).
* :class:`Terminated`: SIGTERM or SIGHUP, raised in the main thread so that every ``with`` block
  and ``finally`` clause cleans up on the way out, as for Ctrl-C.

Anything else is a bug and keeps its traceback, except filesystem and memory faults, which the
CLI reports in one line naming the path (see :func:`describe_fault`).
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """An error caused by user input, reported as a single line without a traceback."""


class Terminated(BaseException):  # noqa: N818 - a signal, not an error
    """The process received SIGTERM or SIGHUP; raised to unwind and clean up."""

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum = signum
        self.name = name


_OOM_TEXT = ("can't allocate memory", "out of memory", "cannot allocate memory",
             "failed to allocate")


def describe_fault(exc: BaseException) -> str | None:
    """One line for a filesystem or memory fault; None when ``exc`` is neither (a bug)."""
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and any(
            t in str(exc).lower() for t in _OOM_TEXT)):
        return ("out of memory; lower the sizes of this run (--chunk, --tile, --frames, "
                "--lr-size, data.batch_size) or --max-memory, or use a machine with more memory")
    if not isinstance(exc, OSError):
        return None
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        what = "permission denied"
    elif exc.errno == errno.EROFS:
        what = "read-only file system"
    elif exc.errno == errno.ENOTDIR:
        what = "a part of the path is a file, not a folder"
    elif exc.errno == errno.EISDIR:
        what = "is a folder, not a file"
    elif exc.errno == errno.EEXIST:
        what = "already exists"
    elif exc.errno == errno.ENOENT:
        what = "no such file or folder"
    else:
        what = " ".join((exc.strerror or str(exc) or type(exc).__name__).split())
    return f"{where}: {what}" if where else what
