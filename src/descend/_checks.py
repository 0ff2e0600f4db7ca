"""Argument checks for numbers: one rule everywhere.

A value of the wrong type (a string, a bool, an array where a number goes) raises
``TypeError``; a number of the right type but outside its range raises ``ValueError``.
Both messages name the argument and say what was expected.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_int", "check_real", "check_tol"]


def _is_tracer(value: Any) -> bool:
    """A JAX tracer: a number being traced (e.g. a hyperparameter inside jit); not checked."""
    return type(value).__module__.startswith("jax") and hasattr(value, "aval")


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    low_open: bool = False,
    finite: bool = True,
    what: str | None = None,
) -> float:
    """``value`` as a float: a real number (not a bool), finite if ``finite``, and
    ``> low`` (``low_open``) or ``>= low``. ``what`` words the expectation."""
    if what is None:
        what = (
            "a number"
            if low is None
            else "a positive number"
            if (low == 0 and low_open)
            else "a non-negative number"
            if low == 0
            else f"a number {'>' if low_open else '>='} {low}"
        )
    if _is_tracer(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    v = float(value)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_tol(value: Any, name: str) -> float:
    """A tolerance: a number >= 0 (0 turns its rule off; inf is allowed)."""
    return check_real(value, name, low=0, finite=False, what="a non-negative number (0 turns it off)")


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
