"""Input checks shared by every entry point (scene loading, render and rasterize calls, rooms and
impulse responses, metrics, the optimizer, the CLI), so that each rule is written once.

Each check names the input it concerns and says what is wrong and what would be valid; all raise
:class:`InputError`, a ``ValueError``. They run before any kernel is launched.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


class InputError(ValueError):
    """An argument is out of its valid range, of the wrong type, or not finite."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` in [lo, hi] (either bound may be None)."""
    if not _is_int(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(f"{name} must be {_interval(lo, hi)}, got {value}")
    return value


def number(name: str, value, lo: float | None = None, hi: float | None = None, *,
           open_lo: bool = False, open_hi: bool = False) -> float:
    """``value`` as a finite ``float`` in [lo, hi] (``open_lo``/``open_hi`` exclude the bound)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{name} must be finite, got {x}")
    if ((lo is not None and (x < lo or (open_lo and x == lo))) or
            (hi is not None and (x > hi or (open_hi and x == hi)))):
        raise InputError(f"{name} must be {_interval(lo, hi, open_lo, open_hi)}, got {x:g}")
    return x


def positive(name: str, value) -> float:
    """A finite number > 0."""
    return number(name, value, 0.0, open_lo=True)


def finite_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array with no NaN/Inf; the error gives the first bad index."""
    a = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        raise InputError(f"{name} must be finite; entry {tuple(int(i) for i in np.argwhere(bad)[0])} "
                         f"is {a[bad].ravel()[0]}")
    return a


def index_array(name: str, value, count: int) -> np.ndarray:
    """``value`` as an int64 array of indices, each in [0, count)."""
    a = np.asarray(value)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        f = np.asarray(a, dtype=np.float64)
        if not np.all(np.isfinite(f)) or not np.all(f == np.round(f)):
            raise InputError(f"{name} must hold integer indices")
        a = f
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= count):
        i = int(np.argmax((a < 0) | (a >= count)))
        raise InputError(f"{name} must index [0, {count}); entry {i} (flat) is {int(a.ravel()[i])}")
    return a


def choice(name: str, value, options) -> object:
    """``value`` if it is one of ``options``."""
    if value not in options:
        raise InputError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def _num(x) -> str:
    return str(x) if _is_int(x) else f"{x:g}"


def _interval(lo, hi, open_lo=False, open_hi=False) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if open_lo else '['}{_num(lo)}, {_num(hi)}{')' if open_hi else ']'}"
    if lo is not None:
        return f"{'>' if open_lo else '>='} {_num(lo)}"
    return f"{'<' if open_hi else '<='} {_num(hi)}"


def cli_int(lo: int | None = None, hi: int | None = None):
    """An argparse ``type=`` that applies :func:`integer` (bounds in the usage error)."""
    return _cli(lambda name, text: integer(name, _parse(int, text, name), lo, hi), "integer")


def cli_float(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False):
    """An argparse ``type=`` that applies :func:`number` (finite, bounds in the usage error)."""
    return _cli(lambda name, text: number(name, _parse(float, text, name), lo, hi, open_lo=open_lo), "number")


def _parse(kind, text, name):
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None


def _cli(convert, label):
    import argparse

    def parse(text):
        try:
            return convert("the value", text)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = label   # argparse names the type in its messages
    return parse
