"""One check shared by every reader of files: is this path a file this process may read?"""

from __future__ import annotations

import os
from pathlib import Path

from srprune.errors import UserError
from srprune.io.special import refuse_special


def require_readable(path: Path, what: str) -> None:
    """UserError unless ``path`` is a file this process may read: missing, a folder, or not
    readable (permission denied) are told apart."""
    try:
        exists = path.exists()
    except PermissionError:
        raise UserError(f"{what} {path} is not readable (permission denied on its folder)") \
            from None
    if not exists:
        raise UserError(f"{what} not found: {path}")
    refuse_special(path, what)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{what} {path} is not readable (permission denied)")
