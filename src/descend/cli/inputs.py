"""Reading command-line input: numbers, learning rates, domains, functions, output paths.

Everything here raises :class:`InputError` with one line naming the option and the
problem, so every bad input ends the same way: ``descend: error: ...`` and exit 2.
Only the standard library is imported at module level (``descend --help`` stays fast).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

import click

# Formulas start at 1.0 in every variable: 0 is a stationary point of many hand-written
# formulas (x**2 + y**2, x*y, ...), where gradient descent would stop before moving.
FORMULA_START = 1.0
# A bare name is looked up, anything else parsed (the rule of descend.functions.resolve).
_LOOKS_LIKE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]*$")


class InputError(click.ClickException):
    """Bad input: one line on stderr and exit status 2 (like click's usage errors)."""

    exit_code = 2


def _number(item: str, option: str, text: str) -> float:
    try:
        value = float(item)
    except ValueError:
        raise InputError(f"{option}: {item!r} is not a number (in {text!r})") from None
    if not math.isfinite(value):
        raise InputError(f"{option}: numbers must be finite, got {item!r}")
    return value


def parse_numbers(text: str, option: str) -> list[float]:
    """``"1,2.5,-3"`` (brackets allowed) -> ``[1.0, 2.5, -3.0]``; refuses empty items."""
    body = text.strip()
    if body[:1] in "([" and body[-1:] in ")]":
        body = body[1:-1]
    items = [s.strip() for s in body.split(",")]
    for i, item in enumerate(items):
        if not item:
            raise InputError(
                f"{option}: item {i + 1} of {text!r} is empty; expected numbers separated "
                "by commas, e.g. 1,2"
            )
    return [_number(item, option, text) for item in items]


def positive(value: float, option: str) -> float:
    if not value > 0 or not math.isfinite(value):
        raise InputError(f"{option} must be a positive number, got {value:g}")
    return value


def parse_lr_list(text: str, count: int, option: str = "--lr") -> list[float]:
    """One learning rate for all ``count`` runs, or exactly one per run."""
    values = [positive(v, option) for v in parse_numbers(text, option)]
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise InputError(
            f"{option}: give one learning rate or one per optimizer ({count}), "
            f"got {len(values)} in {text!r}"
        )
    return values


def parse_lr_range(text: str, option: str = "--lr") -> tuple[float, float, int]:
    """``"1e-4:1:50"`` -> (1e-4, 1.0, 50): log-spaced from:to:count, 0 < from < to."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise InputError(f"{option}: expected FROM:TO:COUNT such as 1e-4:1:50, got {text!r}")
    lo = positive(_number(parts[0].strip(), option, text), option + ": FROM")
    hi = positive(_number(parts[1].strip(), option, text), option + ": TO")
    try:
        count = int(parts[2])
    except ValueError:
        raise InputError(f"{option}: COUNT must be a whole number, got {parts[2]!r}") from None
    if not lo < hi:
        raise InputError(f"{option}: FROM must be smaller than TO, got {text!r}")
    if count < 2:
        raise InputError(f"{option}: COUNT must be at least 2, got {count}")
    return lo, hi, count


def parse_domain(text: str, option: str = "--domain") -> list[tuple[float, float]]:
    """``"-5:5,-3:3"`` -> [(-5, 5), (-3, 3)]: one LO:HI pair per variable (or one for all)."""
    pairs = []
    for item in text.split(","):
        bounds = item.split(":")
        if len(bounds) != 2 or not all(b.strip() for b in bounds):
            raise InputError(
                f"{option}: expected LO:HI per variable, separated by commas "
                f"(e.g. -5:5,-5:5), got {text!r}"
            )
        lo, hi = (_number(b.strip(), option, text) for b in bounds)
        if not lo < hi:
            raise InputError(f"{option}: LO must be smaller than HI, got {item.strip()!r}")
        pairs.append((lo, hi))
    return pairs


def expand_domain(
    pairs: list[tuple[float, float]], dim: int, option: str = "--domain"
) -> list[tuple[float, float]]:
    if len(pairs) == 1:
        return pairs * dim
    if len(pairs) != dim:
        raise InputError(
            f"{option}: give one LO:HI pair or one per variable ({dim}), got {len(pairs)}"
        )
    return pairs


def check_output(path: str | None, option: str, suffix: str | None = None) -> str | None:
    """Refuse an output path that cannot be written, before any work is done."""
    if path is None:
        return None
    p = Path(path)
    if suffix is not None and p.suffix.lower() != suffix:
        raise InputError(f"{option}: the file name must end in {suffix}, got {path!r}")
    if p.is_dir():
        raise InputError(f"{option}: {path!r} is a folder; give a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{option}: cannot write {path!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{option}: cannot write {path!r}: permission denied")
    return path


def check_folder(path: str, option: str, create: bool = True) -> Path:
    """An output folder, writable: created if missing (its parent must exist), or with
    ``create=False`` only checked that it could be."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{option}: {path!r} exists and is not a folder")
    if not p.exists():
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(
                f"{option}: cannot create {path!r}: folder {str(parent)!r} does not exist"
            )
        if not os.access(parent, os.W_OK):
            raise InputError(f"{option}: cannot create {path!r}: permission denied")
        if create:
            p.mkdir()
    elif not os.access(p, os.W_OK):
        raise InputError(f"{option}: cannot write into {path!r}: permission denied")
    return p


# --------------------------------------------------------------------------- functions
@dataclasses.dataclass(frozen=True)
class Problem:
    """A resolved FUNCTION argument: the callable, how to name it, and its variables."""

    fun: Any  # a TestFunction or an Expression
    label: str  # "himmelblau" or the formula
    formula: str
    dim: int
    names: tuple[str, ...]
    builtin: bool


def _variable_names(fun: Any, n: int) -> tuple[str, ...]:
    from descend.calculus import variable_names

    # The seed quadratic is written in w1, w2, w3: name the columns as its formula does.
    if "w1" in getattr(fun, "formula", ""):
        return tuple(f"w{i + 1}" for i in range(n))
    return variable_names(n, fun)


def load_problem(spec: str, n: int | None = None, source: str = "") -> Problem:
    """A built-in name or a formula; ``n`` picks an n-D function's size, and ``source``
    says where it came from in messages (e.g. "--start has 3 numbers")."""
    from descend import functions

    try:
        fun = functions.resolve(spec)
    except (ValueError, TypeError) as e:
        msg = str(e) if _LOOKS_LIKE_NAME.match(spec.strip()) else f"bad formula {spec!r}: {e}"
        raise InputError(msg) from None
    if isinstance(fun, functions.TestFunction):
        dim = n if n is not None else (fun.dim or fun.default_dim)
        try:
            fun.check_dim(dim)
        except ValueError as e:
            raise InputError(f"{e} ({source})" if source else str(e)) from None
        return Problem(fun, fun.name, fun.formula, dim, _variable_names(fun, dim), True)
    dim = len(fun.variables)
    if dim == 0:
        raise InputError(f"formula {spec!r} has no variables to minimize over")
    if n is not None and n != dim:
        raise InputError(
            f"formula {spec!r} has {dim} variables ({', '.join(fun.variables)}), "
            f"but {source or f'{n} were asked for'}"
        )
    return Problem(fun, spec, spec, dim, tuple(fun.variables), False)


def default_start(problem: Problem) -> list[float]:
    """Where a run starts when --start is not given: FORMULA_START in every variable of
    a formula, a built-in function's registry start point (TestFunction.start)."""
    if not problem.builtin:
        return [FORMULA_START] * problem.dim
    return list(problem.fun.start(problem.dim))  # the registry's start point


def problem_and_start(spec: str, start: str | None) -> tuple[Problem, list[float]]:
    x0 = parse_numbers(start, "--start") if start is not None else None
    n = len(x0) if x0 is not None else None
    problem = load_problem(spec, n, f"--start has {n} number{'s' if n != 1 else ''}")
    return problem, x0 if x0 is not None else default_start(problem)


# --------------------------------------------------------------------------- optimizers
def optimizer_factory(name: str, option: str = "--optimizer") -> Any:
    from descend.optimizers import get_optimizer

    try:
        return get_optimizer(name.strip().lower())
    except ValueError as e:
        msg = str(e).removeprefix("optimizer: ")
        raise InputError(f"{option}: {msg}") from None


def learning_rate(factory: Any, fun: Any, x0: list[float], lr: float | None) -> tuple[float, str]:
    """``--lr`` as given, or the optimizer's choice for ``learning_rate="auto"`` at x0.

    Returns the rate and how it was chosen ("" when given), for the printed settings.
    """
    if lr is not None:
        return positive(lr, "--lr"), ""
    import numpy as np

    from descend.optimizers import auto_learning_rate

    choice = auto_learning_rate(factory.__name__, fun, np.asarray(x0, np.float64))
    return choice.value, choice.rule


def parse_optimizer_list(text: str) -> list[str]:
    names = [s.strip().lower() for s in text.split(",")]
    if not all(names):
        raise InputError(f"--optimizers: empty name in {text!r}; e.g. gd,momentum,adam")
    for name in names:
        optimizer_factory(name, "--optimizers")
    return names
