"""Typed configs: a dataclass built from a mapping (a YAML file, key=value overrides) with every key checked.

One helper for every config in the project. `build(cls, values, where)` refuses unknown keys (naming the known
ones), builds nested dataclasses, checks each value against its annotated type (int, float, bool, str,
tuples, dicts, Literal choices), and against the range a field declares with `bounded`:

    @dataclass(frozen=True)
    class Example:
        steps: int = bounded(3, 1, 100)         # 1 <= steps <= 100
        speed: float = bounded(1.2, 0.0, 4.0)   # m/s
        mode: Literal["auto", "fp32"] = "auto"

Integers are accepted for floats (YAML reads `2e-4` as a float and `1` as an int), never the reverse; a bool
is not a number; NaN and infinities are refused for every float.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
from typing import Any, Literal

SHOWN = 40  # characters of a value shown in a message


class _Shown(reprlib.Repr):
    """reprlib's bounded repr (a few items of a container, a few levels), and a count of digits for an integer
    too long for repr (Python refuses to print one of more than 4300 digits)."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxlong, self.maxother = 3, SHOWN, SHOWN, SHOWN

    def repr_int(self, x, level):
        if x.bit_length() > 4 * SHOWN:
            return f"<an integer of about {round(x.bit_length() * math.log10(2))} digits>"
        return super().repr_int(x, level)


def shown(value) -> str:
    """repr(value) for a message, in at most SHOWN characters however large the value (a string of megabytes, a
    YAML alias expanded to millions of items): enough to find it, never the whole of it."""
    return cut(_Shown().repr(value))


def cut(text: str, most=SHOWN) -> str:
    """`text` if it has at most `most` characters, else its start and `...` (a name from a file, in a message)."""
    return text if len(text) <= most else text[: most - 3] + "..."


def names(items, most=4) -> str:
    """The first `most` of `items` for a message, each cut, and how many more there are."""
    items = list(items)
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(cut(str(item)) for item in items[:most]) + more


def bounded(default, low=None, high=None, **kwargs):
    """A dataclass field whose value must lie in [low, high] (either bound may be None)."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={"range": (low, high)}, **kwargs
        )
    return dataclasses.field(default=default, metadata={"range": (low, high)}, **kwargs)


def build(cls, values, where="config"):
    """An instance of dataclass `cls` from the mapping `values`; ValueError names the bad key and its range."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping of settings, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, values)) - set(known))
    if unknown:
        raise ValueError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {names(unknown)} (known: {', '.join(known)})"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        key = f"{where}: {name}" if where else name
        kwargs[name] = _check(value, hints[name], key, known[name].metadata.get("range"))
    try:
        return cls(**kwargs)
    except ValueError as error:  # a __post_init__ check: its message does not know the source
        message = str(error)
        raise ValueError(message if not where or message.startswith(where) else f"{where}: {message}") from None


def to_dict(config) -> dict:
    """Plain data (dicts, lists, numbers, strings) of a config, as YAML or JSON would hold it."""
    return _plain(dataclasses.asdict(config))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check(value, kind, key, limits=None):
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else build(kind, value, key)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        return _check(value, kind, key, limits)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{key} must be one of {', '.join(map(str, args))}, got {shown(value)}")
        return value
    if kind is Any:
        return value
    if kind in (tuple, list) or origin in (tuple, list):
        return _sequence(value, kind, origin, args, key, limits)
    if kind is dict or origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping, got {shown(value)}")
        if len(args) == 2:
            return {
                _check(k, args[0], f"{key}: key", None): _check(v, args[1], f"{key}: {cut(str(k))}", limits)
                for k, v in value.items()
            }
        return dict(value)
    return _scalar(value, kind, key, limits)


def _sequence(value, kind, origin, args, key, limits):
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key} must be a list, got {shown(value)}")
    container = origin or kind
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ValueError(f"{key} must have {len(args)} entries, got {len(value)}")
        return tuple(_check(v, a, f"{key}[{i}]", limits) for i, (v, a) in enumerate(zip(value, args)))
    item = args[0] if args else Any
    checked = [_check(v, item, f"{key}[{i}]", limits) for i, v in enumerate(value)]
    return tuple(checked) if container is tuple else checked


def _scalar(value, kind, key, limits):
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {shown(value)}")
        return value
    if kind in (int, float):
        number_ok = isinstance(value, int) or (kind is float and isinstance(value, float))
        if isinstance(value, bool) or not number_ok:
            raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {shown(value)}")
        try:
            number = kind(value)
        except OverflowError:  # float() of an int beyond float's range, such as a 401-digit one
            number = math.inf
        if kind is float and not math.isfinite(number):
            raise ValueError(f"{key} must be a finite number, got {shown(value)}")
        value = number
        low, high = limits or (None, None)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{key} must be in [{_bound(low, '-inf')}, {_bound(high, 'inf')}], got {shown(value)}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {shown(value)}")
        return value
    if isinstance(kind, type) and not isinstance(value, kind):
        raise ValueError(f"{key} must be a {kind.__name__}, got {shown(value)}")
    return value


def _bound(value, default):
    return default if value is None else f"{value:g}"
