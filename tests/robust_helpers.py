"""Shared checks of the robustness matrix: one stderr line, the exit code, nothing left over."""

from __future__ import annotations

from pathlib import Path

from srprune.cli import main

LEFTOVER_MARKS = (".part", ".build-")


def run_cli(capsys, args: list[str]) -> tuple[int, str, list[str]]:
    """Run ``srprune ARGS`` in-process: (exit code, stdout, stderr lines)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse exits
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def assert_one_line(code: int, err: list[str], command: str, expect: str | None = None,
                    status: int = 2) -> str:
    """Exit ``status``, exactly one stderr line ``srprune COMMAND: ...``, no traceback."""
    assert code == status, (code, err)
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith(f"srprune {command}: "), line
    assert "Traceback" not in line
    if expect is not None:
        assert expect.lower() in line.lower(), line
    return line


def leftovers(folder: Path) -> list[Path]:
    """Temporary files or folders (``.part``, ``.build-``) anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if any(m in p.name for m in LEFTOVER_MARKS)]
