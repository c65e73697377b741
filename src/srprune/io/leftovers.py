"""A failed or refused run leaves nothing new in its run folder but state it can resume from.

:func:`cleaned_on_failure` wraps a run: when the body raises (a UserError, a full disk, a
signal), every entry it created directly in the folder is removed unless ``keep(entry)`` says it
is resumable state (a finished stage's output, a training checkpoint), and the folder itself
when this run created it and nothing is kept; then the error goes on.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _entries(folder: Path) -> set[str]:
    try:
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    except OSError:
        return set()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def cleaned_on_failure(folder: Path, keep: Callable[[Path], bool] = lambda _p: False,
                       enabled: bool = True) -> Iterator[None]:
    """Run the body; if it raises, remove what it created in ``folder`` (see the module
    docstring) and re-raise. ``enabled=False`` (a torchrun rank other than 0) does nothing."""
    existed = folder.is_dir()
    before = _entries(folder)
    try:
        yield
    except BaseException:
        if enabled:
            try:
                for name in sorted(_entries(folder) - before):
                    if not keep(folder / name):
                        _remove(folder / name)
                if not existed and folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            except OSError:  # cleaning up must never hide the error itself
                pass
        raise


def holds_any(folder: Path, names: tuple[str, ...]) -> bool:
    """Whether ``folder`` (a file: is itself) holds a file named one of ``names`` anywhere."""
    if folder.is_file():
        return folder.name in names
    return any(p.name in names and p.is_file() for p in folder.rglob("*"))
