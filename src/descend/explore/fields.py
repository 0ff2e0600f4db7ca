"""The explorer's requests, field by field: numbers, points, domains, the function (a
built-in or a formula through ``ds.parse``) and the optimizers, each checked and capped,
with :class:`ApiError` (an HTTP status and a one-line message) for what is refused."""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .cache import Entry, builtin_entry, entry_for_formula

MAX_STEPS = 10_000
DEFAULT_STEPS = 1_000
MAX_OPTIMIZERS = 6
MAX_GRID = 200
DEFAULT_GRID = 120
ARROWS = 20
MAX_BASINS_GRID = 80
DEFAULT_BASINS_GRID = 40
MAX_BASINS_STEPS = 5_000
DEFAULT_BASINS_STEPS = 500
BASINS_OPTIMIZER = {"name": "gd", "learning_rate": 0.01}
LEVELS = 20
GTOL = 1e-6  # descend's default: the runs stop when the gradient norm is this small
FORMULA_DOMAIN = ((-5.0, 5.0), (-5.0, 5.0))
MAX_COORDINATE = 1e9  # starts and domains beyond this are refused (float64 loses the path)
VARIABLES = ("x", "y")
# Slider defaults where descend's own is "auto" (chosen from the curvature at the start).
SLIDER_LEARNING_RATE = {"gd": 0.01, "momentum": 0.001, "nesterov": 0.001}
# Descend's run options for the explorer: the history it draws, nothing more.
HISTORY = ("x", "fun")


class ApiError(Exception):
    """A request the API refuses: HTTP ``status``, a one-line ``message``, and for a
    formula the 1-based ``column`` of the problem (or None)."""

    def __init__(self, status: int, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.column = column

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.status == 422:
            out["column"] = self.column
        return out


def busy() -> ApiError:
    return ApiError(429, "busy compiling another function; try again in a moment")


# --------------------------------------------------------------------------- plain data
def finite_list(values: Any) -> list:
    """Nested lists of floats, None where a value is nan or infinite."""
    a = np.asarray(values, np.float64)
    ok = np.isfinite(a)
    if ok.all():
        return a.tolist()
    out = a.astype(object)
    out[~ok] = None
    return out.tolist()


def float_or_none(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.+-]+){2,}")


def short_message(exc: BaseException) -> str:
    """The first line of an exception's message, without anything that looks like a
    file path, at most 300 characters."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    text = _PATHLIKE.sub("<path>", text)
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------- fields
def require_object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"{what} must be a number, got {_kind(value)}")
    try:
        v = float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        v = math.inf
    if not math.isfinite(v):
        raise ApiError(400, f"{what} must be finite")
    return v


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def integer(body: dict, field: str, default: int, low: int, high: int) -> int:
    value = body.get(field, default)
    if value is None:
        value = default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{field} must be an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise ApiError(400, f"{field} must be between {low} and {high}, got {value}")
    return value


def point(value: Any, field: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ApiError(400, f"{field} must be a list of two numbers [x, y]")
    p = np.array([_number(v, f"{field}[{i}]") for i, v in enumerate(value)], np.float64)
    if np.any(np.abs(p) > MAX_COORDINATE):
        raise ApiError(400, f"{field} must lie within +-{MAX_COORDINATE:g}")
    return p


def domain(body: dict, entry: Entry) -> np.ndarray:
    value = body.get("domain")
    if value is None:
        if entry.builtin is not None:
            return np.asarray(entry.builtin.domain(2), np.float64)
        return np.asarray(FORMULA_DOMAIN, np.float64)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ApiError(400, "domain must be [[x0, x1], [y0, y1]]")
    d = np.array([point(pair, f"domain[{i}]") for i, pair in enumerate(value)])
    for i, name in enumerate(VARIABLES):
        if not d[i, 0] < d[i, 1]:
            raise ApiError(400, f"domain: the {name} range must have {name}0 < {name}1")
    return d


# --------------------------------------------------------------------------- functions
def _two_variable(tf: Any) -> bool:
    return tf.dim == 2 or (tf.dim is None and tf.min_dim <= 2)


@functools.cache
def builtin_names() -> tuple[str, ...]:
    from descend import functions

    return tuple(n for n in functions.names() if _two_variable(functions.get(n)))


def builtin(name: Any) -> Entry:
    from descend import functions

    if not isinstance(name, str):
        raise ApiError(400, f"function must be a name, got {_kind(name)}")
    try:
        tf = functions.get(name)
    except ValueError as e:
        raise ApiError(400, short_message(e)) from None
    if not _two_variable(tf):
        n = tf.dim if tf.dim is not None else f"at least {tf.min_dim}"
        raise ApiError(400, f"{tf.name} takes {n} variables; the explorer draws functions of two")
    return builtin_entry(tf)


_COLUMN = re.compile(r"\bcolumn (\d+)")


def parse_formula(text: str) -> Any:
    """``ds.parse(text)`` as a function of (x, y), or ApiError(422) saying what is wrong."""
    from descend import functions

    try:
        return functions.parse(text, variables=VARIABLES)
    except ValueError as e:
        message = short_message(e)
        m = _COLUMN.search(message)
        column = int(m.group(1)) if m else None
        if message.startswith("unknown variable"):
            key = text.strip().lower().replace("_", "-").replace(" ", "-")
            if key in builtin_names():
                message = (
                    f"'{text.strip()}' is a built-in function: choose it from the list, or "
                    "write a formula in x and y"
                )
            else:
                message += "; a formula here is a function of x and y"
        raise ApiError(422, message, column) from None


def entry(body: dict) -> Entry:
    """The function a request names, by "function" or by "formula" (exactly one)."""
    has_name, has_formula = body.get("function") is not None, body.get("formula") is not None
    if has_name == has_formula:
        raise ApiError(400, 'name the function with "function" (a built-in) or "formula"')
    if has_name:
        return builtin(body["function"])
    text = body["formula"]
    if not isinstance(text, str):
        raise ApiError(400, f"formula must be a string, got {_kind(text)}")
    return entry_for_formula(text, parse_formula)


def known_minima(entry: Entry, domain: np.ndarray | None = None) -> list[list[float]]:
    if entry.builtin is None:
        return []
    out = []
    for m in entry.builtin.minima(2):
        x, y = (float(v) for v in m.x)
        if domain is None or (
            domain[0, 0] <= x <= domain[0, 1] and domain[1, 0] <= y <= domain[1, 1]
        ):
            out.append([x, y, float(m.f)])
    return out


# --------------------------------------------------------------------------- optimizers
def factories() -> dict[str, Callable[..., Any]]:
    from descend.optimizers import OPTIMIZERS

    return OPTIMIZERS


@functools.cache
def optimizer_defaults() -> dict[str, dict[str, float]]:
    """Every optimizer's hyperparameters (descend's names) with the sliders' defaults."""
    out = {}
    for name, factory in factories().items():
        params = {}
        for p in inspect.signature(factory).parameters.values():
            default = p.default
            if p.name == "learning_rate" and isinstance(default, str):
                default = SLIDER_LEARNING_RATE[name]
            params[p.name] = float(default)
        out[name] = params
    return out


class OptimizerSpec:
    """One optimizer of a request: its name, its hyperparameters, the transformation."""

    def __init__(self, name: str, hyper: dict[str, Any], optimizer: Any) -> None:
        self.name = name
        self.hyper = hyper  # every hyperparameter, defaults filled in
        self.optimizer = optimizer
        self.auto = hyper.get("learning_rate") == "auto"


def optimizer(spec: Any, where: str) -> OptimizerSpec:
    """One optimizer of a request (a name, or an object of a name and its numbers)."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ApiError(400, f'{where} must be an object such as {{"name": "gd"}}')
    name = spec.get("name")
    made = factories()
    if not isinstance(name, str) or name not in made:
        raise ApiError(400, f"{where}: name must be one of {', '.join(made)}, got {name!r}"[:300])
    defaults = optimizer_defaults()[name]
    hyper: dict[str, Any] = dict(defaults)
    for key, value in spec.items():
        if key == "name":
            continue
        if key not in defaults:
            raise ApiError(
                400,
                f"{where} ({name}): unknown hyperparameter {key!r}"[:200]
                + f"; {name} takes {', '.join(defaults)}",
            )
        if key == "learning_rate" and value == "auto":
            hyper[key] = "auto"
            continue
        hyper[key] = _number(value, f"{where} ({name}): {key}")
    try:
        transform = made[name](**hyper)
    except (ValueError, TypeError) as e:
        raise ApiError(400, f"{where} ({name}): {short_message(e)}") from None
    return OptimizerSpec(name, hyper, transform)


def optimizers(value: Any) -> list[OptimizerSpec]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "optimizers must be a list of 1 to 6 optimizers")
    if len(value) > MAX_OPTIMIZERS:
        raise ApiError(400, f"at most {MAX_OPTIMIZERS} optimizers a request, got {len(value)}")
    return [optimizer(spec, f"optimizers[{i}]") for i, spec in enumerate(value)]
