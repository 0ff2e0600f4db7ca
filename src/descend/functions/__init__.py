"""Test functions with known minima, and safe user formulas.

``ds.functions.get("rosenbrock")`` returns a :class:`TestFunction`; the name itself (or
a formula such as ``"x**2 + 3*y**2"``) is accepted wherever descend takes a function.
"""

from __future__ import annotations

import re
from typing import Any

from .expr import Expression, parse
from .library import REGISTRY, Minimum, TestFunction, elliptic, get, names

__all__ = [
    "Expression",
    "Minimum",
    "REGISTRY",
    "TestFunction",
    "elliptic",
    "get",
    "names",
    "parse",
    "resolve",
]

# A bare name (letters, digits, spaces, - and _) is looked up; anything else is a formula.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]*$")


def resolve(spec: Any) -> Any:
    """A function from a built-in name, a formula, or a callable (returned as is)."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"spec must be callable, a function name or a formula, got {type(spec).__name__}"
        )
    if _NAME.match(spec.strip()):
        return get(spec.strip())
    return parse(spec)


def __getattr__(name: str) -> TestFunction:
    key = name.replace("_", "-")
    if key in REGISTRY:
        return REGISTRY[key]
    raise AttributeError(f"module 'descend.functions' has no attribute {name!r}")
