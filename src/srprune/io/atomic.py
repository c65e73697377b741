"""Atomic outputs: write under a temporary name beside the target, then rename.

* A crash, a user error or a signal half-way through never leaves a truncated output: the
  temporary is removed on every exit path (exceptions, and SIGINT / SIGTERM / SIGHUP, which the
  CLI turns into exceptions).
* Temporaries are named ``.{stem}.{pid}-{random}.part{suffix}`` (folders:
  ``.{name}.{pid}-{random}.part``). A run killed outright (SIGKILL, power loss) cannot remove its
  own; the next run writing into the same folder removes those whose process is gone (each
  folder is scanned once per process).
* Outputs get the permissions an ordinary ``open`` would give them (0666 / 0777 minus the umask),
  not the 0600 / 0700 of :mod:`tempfile`.
* A write that fails because the disk is full (whatever the library's wording) is raised as
  ``OSError(ENOSPC)`` naming the target, which the CLI prints as one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from srprune.errors import UserError

# Below this many free bytes a failed write is reported as a full disk.
FULL_DISK_BYTES = 1 << 20
_FULL_DISK_TEXT = ("no space left", "os error 28", "errno 28", "disk full", "file write failed",
                   "unexpected pos")

_LIVE: set[Path] = set()  # temporaries of this process not yet renamed or removed
_SCANNED: set[Path] = set()  # folders already cleaned of stale temporaries by this process
# ``.{stem}.{pid}-{8 random characters from mkstemp / mkdtemp}.part{suffix}``
_STALE = re.compile(r"\..+\.(\d+)-[a-z0-9_]{8}\.part(?:\.[^.]+)?")


def current_umask() -> int:
    """The process umask (read from /proc when possible, so nothing is changed even briefly)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _honour_umask(path: Path, is_dir: bool) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if is_dir else 0o666) & ~current_umask())


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove srprune temporaries in ``folder`` left by processes that are gone (once per
    folder and process; later calls for the same folder do nothing)."""
    removed: list[Path] = []
    key = folder.resolve()
    if key in _SCANNED:
        return removed
    _SCANNED.add(key)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _STALE.fullmatch(entry.name)
        if not m or _pid_alive(int(m[1])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def disk_full(folder: Path, exc: BaseException) -> bool:
    """Whether ``exc`` (raised while writing into ``folder``) is most likely a full disk."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    return (free is not None and free < FULL_DISK_BYTES) or any(t in text for t in
                                                                _FULL_DISK_TEXT[:4])


def as_path_error(exc: BaseException, target: Path) -> BaseException:
    """``exc`` turned into an ``OSError`` naming ``target`` when it is a filesystem fault."""
    if isinstance(exc, (UserError, KeyboardInterrupt, SystemExit)) or not isinstance(
            exc, Exception):
        return exc
    if disk_full(target.parent, exc):
        return OSError(errno.ENOSPC, "no space left on device", str(target))
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
        return OSError(exc.errno, exc.strerror or str(exc), str(target))
    return exc


def _temporary_name(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/.{stem}.{pid}-{8 random hex digits}{suffix}`` (not created)."""
    return folder / f".{stem}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def _prepare_parent(target: Path) -> None:
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(parent))
    parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary file keeps the target's suffix so that libraries that pick a format from the
    extension (PyAV, PIL, matplotlib) still work. On any exception (and on a signal the CLI
    turns into one) the temporary file is removed.
    """
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    _prepare_parent(target)
    remove_stale(target.parent)
    tmp_path = _temporary_name(target.parent, target.stem, f".part{target.suffix}")
    _LIVE.add(tmp_path)  # registered before it exists: a signal at any point still removes it
    try:
        os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        yield tmp_path
        _honour_umask(tmp_path, is_dir=False)
        os.replace(tmp_path, target)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        mapped = as_path_error(exc, target)
        if mapped is not exc:
            raise mapped from exc
        raise
    finally:
        _LIVE.discard(tmp_path)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; rename it onto ``target`` on success.

    ``target`` must not exist. On any exception the temporary folder and its content go.
    """
    target = Path(target)
    if target.exists():
        raise FileExistsError(errno.EEXIST, "exists; remove it or choose another name",
                              str(target))
    _prepare_parent(target)
    remove_stale(target.parent)
    tmp_path = _temporary_name(target.parent, target.name, ".part")
    _LIVE.add(tmp_path)
    try:
        os.mkdir(tmp_path, 0o700)
        yield tmp_path
        _honour_umask(tmp_path, is_dir=True)
        os.rename(tmp_path, target)
    except BaseException as exc:
        shutil.rmtree(tmp_path, ignore_errors=True)
        mapped = as_path_error(exc, target)
        if mapped is not exc:
            raise mapped from exc
        raise
    finally:
        _LIVE.discard(tmp_path)


def remove_live_temporaries() -> None:
    """Remove every temporary this process still holds (last resort on a fatal signal)."""
    for path in list(_LIVE):
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        _LIVE.discard(path)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
