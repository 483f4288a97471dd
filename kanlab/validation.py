"""Argument checks shared by the whole package: integers, real numbers and indices.

Every check raises with a message that names the parameter, says what is allowed and repeats the
value it got, e.g. ``steps must be a non-negative int, got -1``. ``bool`` is never accepted as a
number (``True`` is an ``int`` to Python but never what a caller meant); numpy scalars are
(``np.int64(3)`` is an integer, ``np.float32(0.5)`` a real number).

This module imports nothing from kanlab, so any module may use it.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
from typing import Optional, Type

__all__ = ["is_int", "is_real", "check_int", "check_optional_int", "check_positive_int", "check_real",
           "check_optional_real", "check_index", "user_stacklevel"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel that points at the first frame outside kanlab, seen from the
    function calling this one: a warning names the user's line however many kanlab frames (facade
    wrappers, the training loop) lie between."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def is_int(value: object) -> bool:
    """Whether ``value`` is an integral number that is not a bool (Python or numpy integers)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number that is not a bool (ints, floats, numpy scalars, ...)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int_range(low: Optional[int], high: Optional[int]) -> str:
    if low is None and high is None:
        return "an int"
    if high is None:
        return "a non-negative int" if low == 0 else "a positive int" if low == 1 else f"an int >= {low}"
    if low is None:
        return f"an int <= {high}"
    return f"an int in [{low}, {high}]"


def _message(name: str, allowed: str, value: object, optional: bool, note: Optional[str]) -> str:
    allowed += " or None" if optional else ""
    allowed += f" ({note})" if note else ""
    return f"{name} must be {allowed}, got {value!r}"


def _int_ok(value: object, low: Optional[int], high: Optional[int]) -> bool:
    return is_int(value) and (low is None or value >= low) and (high is None or value <= high)  # type: ignore[operator]


def check_int(name: str, value: object, *, low: Optional[int] = None, high: Optional[int] = None,
              note: Optional[str] = None, error: Type[Exception] = ValueError) -> int:
    """``int(value)`` if ``value`` is an integer (not a bool) with ``low <= value <= high``
    (either bound may be None: unbounded); otherwise raise ``error``.

    The message names ``name``, the allowed range and the value, ``note`` goes in parentheses
    after the range: ``check_int("test_num", -1, low=0, note="0: no test split")`` raises
    ``ValueError("test_num must be a non-negative int (0: no test split), got -1")``.
    """
    if not _int_ok(value, low, high):
        raise error(_message(name, _int_range(low, high), value, False, note))
    return int(value)  # type: ignore[call-overload]


def check_optional_int(name: str, value: object, *, low: Optional[int] = None, high: Optional[int] = None,
                       note: Optional[str] = None, error: Type[Exception] = ValueError) -> Optional[int]:
    """:func:`check_int` that lets ``None`` through (and says "or None" in its message)."""
    if value is None:
        return None
    if not _int_ok(value, low, high):
        raise error(_message(name, _int_range(low, high), value, True, note))
    return int(value)  # type: ignore[call-overload]


def check_positive_int(name: str, value: object) -> int:
    """``int(value)`` if ``value`` is an integer >= 1 (not a bool); otherwise ``ValueError``
    ``"<name> must be a positive integer, got <value!r>"``."""
    if not _int_ok(value, 1, None):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _real_range(low: Optional[float], low_inclusive: bool, high: Optional[float], high_inclusive: bool,
                finite: bool) -> str:
    if low is None and high is None:
        return "a finite number" if finite else "a number"
    if high is None:
        if low == 0:
            return "a non-negative number" if low_inclusive else "a positive number"
        return f"a number {'>=' if low_inclusive else '>'} {low}"
    if low is None:
        return f"a number {'<=' if high_inclusive else '<'} {high}"
    return f"a number in {'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"


def _real_value(value: object, low: Optional[float], low_inclusive: bool, high: Optional[float],
                high_inclusive: bool, finite: bool) -> Optional[float]:
    """``float(value)`` if it passes, else None."""
    if not is_real(value):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a float
        x = math.inf if value > 0 else -math.inf  # type: ignore[operator]
    if math.isnan(x) or (finite and math.isinf(x)):
        return None
    if low is not None and not (x >= low if low_inclusive else x > low):
        return None
    if high is not None and not (x <= high if high_inclusive else x < high):
        return None
    return x


def check_real(name: str, value: object, *, low: Optional[float] = None, low_inclusive: bool = True,
               high: Optional[float] = None, high_inclusive: bool = True, finite: bool = True,
               note: Optional[str] = None, error: Type[Exception] = ValueError) -> float:
    """``float(value)`` if ``value`` is a real number (not a bool) within the bounds; otherwise
    raise ``error``. (An int too large for a float counts as +-inf.)

    ``low``/``high`` are inclusive unless ``low_inclusive``/``high_inclusive`` is False; None
    means unbounded. NaN is always refused, +-inf too unless ``finite=False``. The message names
    ``name``, the range and the value, e.g. ``lr must be a positive number, got -1.0`` for
    ``low=0, low_inclusive=False`` or ``p must be a number in (0, 1), got 1.5``.
    """
    x = _real_value(value, low, low_inclusive, high, high_inclusive, finite)
    if x is None:
        raise error(_message(name, _real_range(low, low_inclusive, high, high_inclusive, finite), value, False, note))
    return x


def check_optional_real(name: str, value: object, *, low: Optional[float] = None, low_inclusive: bool = True,
                        high: Optional[float] = None, high_inclusive: bool = True, finite: bool = True,
                        note: Optional[str] = None, error: Type[Exception] = ValueError) -> Optional[float]:
    """:func:`check_real` that lets ``None`` through (and says "or None" in its message)."""
    if value is None:
        return None
    x = _real_value(value, low, low_inclusive, high, high_inclusive, finite)
    if x is None:
        raise error(_message(name, _real_range(low, low_inclusive, high, high_inclusive, finite), value, True, note))
    return x


def check_index(name: str, value: object, n: int, *, where: str = "", sep: str = "=",
                error: Type[Exception] = IndexError) -> int:
    """``int(value)`` if ``value`` is an integer (not a bool) with ``0 <= value < n``; otherwise
    raise ``error`` (``IndexError``), also for a value that is not an integer.

    The message is ``f"{name}{sep}{value!r} out of range{where} (0..{n - 1})"``, e.g.
    ``check_index("node i", 7, 3, where=" for node layer 1")`` ->
    ``node i=7 out of range for node layer 1 (0..2)``; ``sep=" "`` gives ``layer 5 out of range``.
    """
    if not _int_ok(value, 0, n - 1):
        raise error(f"{name}{sep}{value!r} out of range{where} (0..{n - 1})")
    return int(value)  # type: ignore[call-overload]
