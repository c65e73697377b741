"""One converter for every config section: YAML values -> frozen, typed dataclasses.

Every YAML section (``data``, ``optim``, ``train``, ``prune``, ``fmp``, an experiment file) and
every ``--set KEY=VALUE`` goes through :func:`build_section`. It checks each value against the
field's type annotation (``int``, ``float``, ``bool``, ``str``, ``Literal``, ``X | None``, tuples,
nested dataclasses), rejects unknown keys by their dotted path, and turns a range check raised in
``__post_init__`` with :func:`check` into one line naming the dotted key.

Conversions, deliberately few:
- an ``int`` field takes an integer, or a string such as ``3e5`` that YAML 1.1 leaves unparsed
  when it denotes a whole number; ``5.0`` is refused (write ``5``);
- a ``float`` field takes an integer or a number, or a string such as ``1e-4`` (YAML 1.1 reads
  exponent notation without a dot as a string);
- a ``bool`` field takes only ``true`` / ``false``;
- a variable-length tuple takes a single value as a one-element list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from srprune.errors import UserError
from srprune.io.special import refuse_special

T = TypeVar("T")

SEED_MAX = 2**32 - 1
"""Largest seed accepted anywhere (NumPy's limit)."""


class FieldError(Exception):
    """A bad value of one field, raised in ``__post_init__``; the loader adds the dotted path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def check(ok: bool, key: str, message: str) -> None:
    """Raise :class:`FieldError` for ``key`` unless ``ok``."""
    if not ok:
        raise FieldError(key, message)


def check_range(value: float | int | None, key: str, lo: float | None = None,
                hi: float | None = None, *, lo_open: bool = False) -> None:
    """``value`` (when not None) lies in [lo, hi] (or (lo, hi] with ``lo_open``)."""
    if value is None:
        return
    if lo is not None:
        ok = value > lo if lo_open else value >= lo
        check(ok, key, f"must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None:
        check(value <= hi, key, f"must be <= {hi}, got {value}")


def type_name(tp: Any) -> str:
    """How a type is named in messages."""
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"int": "an integer", "float": "a number", "bool": "true/false",
                "str": "a string"}.get(tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _as_int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number.is_integer():
            return int(number)
    raise UserError(f"{key}: expected an integer, got {value!r}")


def _as_float(value: Any, key: str) -> float:
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):  # YAML 1.1 reads 2e-4 as a string
        with contextlib.suppress(ValueError):
            number = float(value)
    if math.isfinite(number):
        return number
    raise UserError(f"{key}: expected a (finite) number, got {value!r}")


def convert(value: Any, tp: Any, key: str) -> Any:
    """Check/convert one value against a field type; ``key`` is its dotted path."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return convert(value, option, key)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if len(errors) == 1 else
                        f"{key}: {value!r} is not " + " or ".join(
                            type_name(o) for o in options))
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, bool) or value not in choices:
            raise UserError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if variadic and isinstance(value, int | float | str) and not isinstance(value, bool):
            value = [value]  # a single entry may be written without brackets
        if not isinstance(value, list | tuple):
            raise UserError(f"{key}: expected a list, got {value!r}")
        if variadic:
            return tuple(convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise UserError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(
            zip(value, args, strict=True)))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise UserError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise UserError(f"{key}: expected a mapping of keys, got {value!r}")
        return build_section(tp, value, key)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        return _as_int(value, key)
    if tp is float:
        return _as_float(value, key)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"{key}: expected a string, got {value!r}")
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in the caller


def build_section(cls: type[T], data: Mapping[str, Any] | None, prefix: str) -> T:
    """Validate ``data`` into the frozen dataclass ``cls``; errors name ``prefix.key``.

    ``data`` of None means an empty section (every field at its default).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        where = prefix or "config"
        raise UserError(f"{where}: expected a mapping of keys, got {type(data).__name__} "
                        f"{_short(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    dotted = (lambda k: f"{prefix}.{k}") if prefix else (lambda k: str(k))
    unknown = [k for k in data if k not in fields]
    if unknown:
        names = ", ".join(dotted(str(k)) for k in unknown)
        raise UserError(f"unknown config key{'s' if len(unknown) > 1 else ''} {names}; "
                        f"valid keys{' of ' + prefix if prefix else ''}: {', '.join(fields)}")
    missing = [name for name, f in fields.items() if name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UserError(f"missing config key {', '.join(dotted(m) for m in missing)}")
    values = {k: convert(v, hints[k], dotted(k)) for k, v in data.items()}
    try:
        return cls(**values)
    except FieldError as e:
        raise UserError(f"{dotted(e.key)}: {e.message}") from None


def read_yaml_file(path: str | Path, what: str = "config") -> Any:
    """The parsed content of a YAML file (None for an empty file); one-line errors for a
    missing or unreadable file and for YAML syntax errors."""
    import yaml

    path = Path(path)
    refuse_special(path, f"{what} file", "a YAML file")
    if path.is_dir():
        raise UserError(f"{what} file {path} is a folder; give the YAML file itself")
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "parse error"
        raise UserError(f"{path}: not valid YAML ({first})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read it ({e})") from None


def to_plain(value: Any) -> Any:
    """A JSON/YAML-ready copy: dataclasses to dicts, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
