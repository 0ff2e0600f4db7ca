"""Argument checks for numbers: one rule everywhere.

A value of the wrong type (a string, a bool, a list or an array where one number goes)
raises ``TypeError``; a number of the right type but outside its range raises
``ValueError``. A 0-d numeric array (``jnp.float32(0.1)``) counts as its number.
Both messages name the argument and say what was expected.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["as_number", "check_bool", "check_int", "check_real", "check_tol", "is_tracer"]


def is_tracer(value: Any) -> bool:
    """A JAX tracer: a number being traced (e.g. a hyperparameter inside jit); not checked.

    Found by its class (no jax import); a concrete jax array is not one, so it is
    checked like any other value.
    """
    return any(
        c.__name__ == "Tracer" and c.__module__.startswith("jax") for c in type(value).__mro__
    )


def as_number(value: Any, kinds: str) -> Any:
    """``value`` if it is a number of dtype kind in ``kinds`` ("fiu" or "iu"), a 0-d
    array's number (an element of a jax array), else None. A bool is not a number here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral if kinds == "iu" else numbers.Real):
        return value
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if getattr(value, "shape", None) == () and kind is not None and kind in kinds:
        return value.item()
    return None


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
    finite: bool = True,
    what: str | None = None,
) -> float:
    """``value`` as a float: a real number (not a bool), finite if ``finite``,
    ``> low`` (``low_open``) or ``>= low``, and ``< high`` (``high_open``) or ``<= high``.
    ``what`` words the expectation."""
    if what is None:
        what = _wording(low, low_open, high, high_open)
    if is_tracer(value):
        return value
    v = as_number(value, "fiu")
    if v is None:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    v = float(v)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def _wording(low: float | None, low_open: bool, high: float | None, high_open: bool) -> str:
    if high is not None:
        if low is None:
            return f"a number {'<' if high_open else '<='} {high:g}"
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is None:
        return "a number"
    if low == 0:
        return "a positive number" if low_open else "a non-negative number"
    return f"a number {'>' if low_open else '>='} {low:g}"


def check_tol(value: Any, name: str) -> float:
    """A tolerance: a number >= 0 (0 turns its rule off; inf is allowed)."""
    return check_real(
        value, name, low=0, finite=False, what="a non-negative number (0 turns it off)"
    )


def check_int(value: Any, name: str, minimum: int = 1, *, what: str | None = None) -> int:
    """An integer (not a bool) >= ``minimum``. ``what`` words the expectation."""
    if what is None:
        what = f"an integer >= {minimum}"
    v = as_number(value, "iu")
    if v is None:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    if v < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(v)


def check_bool(value: Any, name: str) -> bool:
    """True or False (numpy's too); anything else is a TypeError naming ``name``."""
    kind = type(value)
    if isinstance(value, bool) or (
        kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    ):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
