"""Imports point one way (docs/architecture.md): a lower layer never imports a higher one, and
no architecture's layer or branch names appear in the pruning core, training or inference."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "srprune"

# package -> packages it must not import
FORBIDDEN = {
    "pruning": ("srprune.runs", "srprune.commands", "srprune.cli", "srprune.train.run",
                "srprune.infer", "srprune.eval"),
    "models": ("srprune.runs", "srprune.commands", "srprune.cli", "srprune.train",
               "srprune.infer"),
    "train": ("srprune.runs", "srprune.commands", "srprune.cli"),
    "infer": ("srprune.runs", "srprune.commands", "srprune.cli"),
    "eval": ("srprune.runs", "srprune.commands", "srprune.cli"),
    "io": ("srprune.runs", "srprune.commands", "srprune.cli"),
    "data": ("srprune.runs", "srprune.commands", "srprune.cli"),
    "runs": ("srprune.commands", "srprune.cli"),
    "export": ("srprune.runs", "srprune.commands", "srprune.cli"),
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up(package: str) -> None:
    bad = [f"{p.relative_to(SRC)} imports {name}"
           for p in sorted((SRC / package).rglob("*.py")) for name in _imports(p)
           if name.startswith(FORBIDDEN[package])]
    assert not bad, bad


NAMES = re.compile(r"spynet|trunk|upconv|conv_first|conv_last|conv_up|conv_hr|fusion|"
                   r"\besa\b|\"backward\"|\"forward\"|bidirectional", re.IGNORECASE)


@pytest.mark.parametrize("package", ["pruning", "train", "infer", "runs", "export"])
def test_no_architecture_names_outside_models(package: str) -> None:
    """Code (comments and docstrings aside) reads models through their contract only."""
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
                      and n.body and isinstance(n.body[0], ast.Expr)
                      and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docstrings and NAMES.search(node.value):
                bad.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value[:40]!r}")
            if isinstance(node, ast.Name | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.attr
                if NAMES.search(name) and name != "flow_lr_mult":
                    bad.append(f"{path.relative_to(SRC)}:{node.lineno}: {name}")
    assert not bad, bad
