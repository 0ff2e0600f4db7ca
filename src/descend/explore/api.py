"""The explorer's JSON API as pure functions: a request's dict in, a response's dict out.

``app.py`` only moves these dicts over HTTP (in a thread pool, never on the event
loop), so a benchmark or a test can call :func:`functions_info`, :func:`landscape`,
:func:`run` and :func:`basins` in-process. Bad input raises :class:`ApiError` with
the HTTP status and a one-line message; the numbers come from descend's public API
(``ds.functions``, ``ds.parse``, ``ds.minimize``, ``ds.basins``, the optimizers).

## The explorer's JSON API

`descend explore` serves the page and this API on loopback only. Every response is
JSON; numbers that are not finite (nan, inf) travel as `null`, and a run's `status`
and `message` say why.

| request | answer |
| --- | --- |
| `GET /` | the page (`static/index.html`) |
| `GET /static/<file>` | the page's files (`app.js`, `style.css`) |
| `GET /api/functions` | the built-in functions of two variables, and the optimizers' defaults |
| `POST /api/landscape` | f on a grid, contour levels, gradient arrows, known minima |
| `POST /api/run` | the paths and loss curves of 1 to 6 optimizers from one start |
| `POST /api/basins` | which minimum gradient descent reaches from each start of a grid |

**`GET /api/functions`** answers
`{"functions": [{"name", "title", "formula", "latex", "domain": [[x0, x1], [y0, y1]],
"start": [x, y], "minima": [[x, y, f], ...], "description"}], "optimizers": {"gd":
{"learning_rate": 0.01}, "momentum": {"learning_rate": 0.001, "beta": 0.9}, ...}}`:
each optimizer's hyperparameters by descend's names with their defaults (`gd`,
`momentum`, `nesterov`, `adagrad`, `rmsprop`, `adam`, `adamw`). descend's own default
learning rate for gd and the momentum methods is "auto" (1/L at the start, (1 - beta)/L);
the slider defaults are 0.01 and 0.001.

Every POST names its function with `"function": "himmelblau"` (a built-in of two
variables) or `"formula": "x**2 + 3*y**2"` (parsed by `ds.parse`: a function of x and
y, or of one of them).

**`POST /api/landscape`** `{"function"|"formula", "domain"?: [[x0, x1], [y0, y1]],
"grid"?: n}` (default: the function's own domain, [-5, 5]^2 for formulas; n = 120,
at most 200) answers `{"domain", "x": [n], "y": [n], "f": [[n] per y row], "levels":
[about 20 f values], "log": bool, "fmin", "fmax", "minima": [[x, y, f], ...],
"variables": ["x", "y"], "grad": {"x": [20], "y": [20], "gx": [[20] per y row], "gy":
[[20] per y row]}}`. When f spans more than three decades above its minimum on the
grid, `log` is true and the levels are `fmin` plus log-spaced steps (draw
log(f - fmin)); `minima` are the known minima inside the domain ([] for formulas);
the arrows sit at the centres of a 20 x 20 grid of cells.

**`POST /api/run`** `{"function"|"formula", "start": [x, y], "optimizers": [{"name":
"gd", "learning_rate": 0.01}, {"name": "adam", "learning_rate": 0.05, "b1": 0.9},
...], "steps"?: 1000}` (1 to 6 optimizers; hyperparameters by descend's names, the
rest default; `"learning_rate": "auto"` lets descend choose; at most 10,000 steps)
answers `{"runs": [{"optimizer", "hyper": {every hyperparameter used}, "path": [[x, y],
...] (nit + 1 rows, the start first), "loss": [f per row], "status": "gtol",
"success", "message", "nit"}], "edge": {"one_over_L", "two_over_L", "rule"},
"server_ms"}`. A run stops at the first of descend's rules (gradient norm <= 1e-6,
`steps`, divergence, a non-finite value). `edge` is gradient descent's learning-rate
edge at the start from the exact Hessian there: above 2/L it diverges near the start
(null, with `rule` saying why, where f curves down in every direction).

**`POST /api/basins`** `{"function"|"formula", "domain"?, "grid"?: 40, "optimizer"?:
{"name": "gd", "learning_rate": 0.01}, "steps"?: 500}` (grid at most 80, steps at
most 5,000) answers `{"x": [n], "y": [n], "labels": [[n ints] per y row], "minima":
[[x, y, f], ...], "not_converged": int}` from `ds.basins`: `labels[i][j]` is the index
in `minima` of the point reached from `(x[j], y[i])`, or -1 where the run did not
converge (the runs stop as in `/api/run`).

**Errors** answer `{"error": "a short message"}`, plus `"column"` (1-based, or null) for
a formula: 400 a bad field, 403 a foreign Host or Origin, 404 an unknown path, 405 a
wrong method, 413 a body over 64 KiB, 415 a POST that is not `application/json`, 422 a
formula descend refuses, 429 busy compiling another function (retry in a moment).
No traceback or file path is ever sent.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .cache import GATE, RESET_HOOKS, Busy, Entry, builtin_entry, entry_for_formula

__all__ = [
    "ApiError",
    "basins",
    "functions_info",
    "landscape",
    "run",
    "warm_up",
    "MAX_STEPS",
    "MAX_OPTIMIZERS",
    "MAX_GRID",
    "MAX_BASINS_GRID",
    "MAX_BASINS_STEPS",
]

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


def _busy() -> ApiError:
    return ApiError(429, "busy compiling another function; try again in a moment")


# --------------------------------------------------------------------------- plain data
def _finite_list(values: Any) -> list:
    """Nested lists of floats, None where a value is nan or infinite."""
    a = np.asarray(values, np.float64)
    ok = np.isfinite(a)
    if ok.all():
        return a.tolist()
    out = a.astype(object)
    out[~ok] = None
    return out.tolist()


def _float_or_none(value: Any) -> float | None:
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
def _require_object(body: Any) -> dict:
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


def _integer(body: dict, field: str, default: int, low: int, high: int) -> int:
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


def _point(value: Any, field: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ApiError(400, f"{field} must be a list of two numbers [x, y]")
    p = np.array([_number(v, f"{field}[{i}]") for i, v in enumerate(value)], np.float64)
    if np.any(np.abs(p) > MAX_COORDINATE):
        raise ApiError(400, f"{field} must lie within +-{MAX_COORDINATE:g}")
    return p


def _domain(body: dict, entry: Entry) -> np.ndarray:
    value = body.get("domain")
    if value is None:
        if entry.builtin is not None:
            return np.asarray(entry.builtin.domain(2), np.float64)
        return np.asarray(FORMULA_DOMAIN, np.float64)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ApiError(400, "domain must be [[x0, x1], [y0, y1]]")
    d = np.array([_point(pair, f"domain[{i}]") for i, pair in enumerate(value)])
    for i, name in enumerate(VARIABLES):
        if not d[i, 0] < d[i, 1]:
            raise ApiError(400, f"domain: the {name} range must have {name}0 < {name}1")
    return d


# --------------------------------------------------------------------------- functions
def _two_variable(tf: Any) -> bool:
    return tf.dim == 2 or (tf.dim is None and tf.min_dim <= 2)


@functools.cache
def _builtin_names() -> tuple[str, ...]:
    from descend import functions

    return tuple(n for n in functions.names() if _two_variable(functions.get(n)))


def _builtin(name: Any) -> Entry:
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


def _parse(text: str) -> Any:
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
            if key in _builtin_names():
                message = (
                    f"'{text.strip()}' is a built-in function: choose it from the list, or "
                    "write a formula in x and y"
                )
            else:
                message += "; a formula here is a function of x and y"
        raise ApiError(422, message, column) from None


def _entry(body: dict) -> Entry:
    """The function a request names, by "function" or by "formula" (exactly one)."""
    has_name, has_formula = body.get("function") is not None, body.get("formula") is not None
    if has_name == has_formula:
        raise ApiError(400, 'name the function with "function" (a built-in) or "formula"')
    if has_name:
        return _builtin(body["function"])
    text = body["formula"]
    if not isinstance(text, str):
        raise ApiError(400, f"formula must be a string, got {_kind(text)}")
    return entry_for_formula(text, _parse)


def _known_minima(entry: Entry, domain: np.ndarray | None = None) -> list[list[float]]:
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
def _factories() -> dict[str, Callable[..., Any]]:
    from descend.optimizers import OPTIMIZERS

    return OPTIMIZERS


@functools.cache
def optimizer_defaults() -> dict[str, dict[str, float]]:
    """Every optimizer's hyperparameters (descend's names) with the sliders' defaults."""
    out = {}
    for name, factory in _factories().items():
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


def _optimizer(spec: Any, where: str) -> OptimizerSpec:
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ApiError(400, f'{where} must be an object such as {{"name": "gd"}}')
    name = spec.get("name")
    factories = _factories()
    if not isinstance(name, str) or name not in factories:
        raise ApiError(
            400, f"{where}: name must be one of {', '.join(factories)}, got {name!r}"[:300]
        )
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
        optimizer = factories[name](**hyper)
    except (ValueError, TypeError) as e:
        raise ApiError(400, f"{where} ({name}): {short_message(e)}") from None
    return OptimizerSpec(name, hyper, optimizer)


def _optimizers(value: Any) -> list[OptimizerSpec]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "optimizers must be a list of 1 to 6 optimizers")
    if len(value) > MAX_OPTIMIZERS:
        raise ApiError(400, f"at most {MAX_OPTIMIZERS} optimizers a request, got {len(value)}")
    return [_optimizer(spec, f"optimizers[{i}]") for i, spec in enumerate(value)]


# --------------------------------------------------------------------------- /api/functions
@functools.cache
def _functions_info() -> dict[str, Any]:
    from descend import functions

    listed = []
    for name in _builtin_names():
        tf = functions.get(name)
        listed.append(
            {
                "name": tf.name,
                "title": tf.title,
                "formula": tf.formula,
                "latex": tf.latex,
                "domain": [list(pair) for pair in tf.domain(2)],
                "start": list(tf.start(2)),
                "minima": [[*map(float, m.x), float(m.f)] for m in tf.minima(2)],
                "description": tf.notes,
            }
        )
    return {"functions": listed, "optimizers": optimizer_defaults()}


def functions_info() -> dict[str, Any]:
    """``GET /api/functions``: the built-ins of two variables and the optimizers' defaults."""
    import copy

    return copy.deepcopy(_functions_info())


# --------------------------------------------------------------------------- /api/landscape
def _levels(f: np.ndarray) -> tuple[list[float], bool, float | None, float | None]:
    """About 20 contour levels of ``f`` on the grid; log-spaced above the minimum when f
    spans more than three decades there (as descend.plot.contour chooses)."""
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        return [], False, None, None
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return [lo], False, lo, hi
    z = finite - lo
    pos = z[z > 0]
    use_log = pos.size > 1 and math.log10(pos.max() / np.quantile(pos, 0.01)) > 3
    if not use_log:
        levels = np.linspace(lo, hi, LEVELS + 2)[1:-1]
    else:
        floor = float(np.quantile(pos, 0.0005))
        top = min(hi - lo, floor * 1e10)
        levels = lo + np.geomspace(floor, top, LEVELS)
    return [float(v) for v in levels], bool(use_log), lo, hi


def _cells(lo: float, hi: float, n: int) -> np.ndarray:
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def landscape(body: Any) -> dict[str, Any]:
    """``POST /api/landscape``: f on a grid, contour levels, gradient arrows, minima."""
    body = _require_object(body)
    entry = _entry(body)
    d = _domain(body, entry)
    n = _integer(body, "grid", DEFAULT_GRID, 2, MAX_GRID)
    xs, ys = np.linspace(d[0, 0], d[0, 1], n), np.linspace(d[1, 0], d[1, 1], n)
    ax, ay = _cells(d[0, 0], d[0, 1], ARROWS), _cells(d[1, 0], d[1, 1], ARROWS)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    agx, agy = np.meshgrid(ax, ay)
    arrows = np.stack([agx.ravel(), agy.ravel()], axis=1)
    keys = [("values", n), ("gradients", ARROWS)]
    try:
        with GATE.hold(entry.cold(keys)):
            f = np.asarray(entry.values(points), np.float64).reshape(n, n)
            g = np.asarray(entry.gradients(arrows), np.float64).reshape(ARROWS, ARROWS, 2)
            entry.mark(keys)
    except Busy:
        raise _busy() from None
    levels, log, fmin, fmax = _levels(f)
    return {
        "domain": d.tolist(),
        "x": xs.tolist(),
        "y": ys.tolist(),
        "f": _finite_list(f),
        "levels": levels,
        "log": log,
        "fmin": fmin,
        "fmax": fmax,
        "minima": _known_minima(entry, d),
        "variables": list(VARIABLES),
        "grad": {
            "x": ax.tolist(),
            "y": ay.tolist(),
            "gx": _finite_list(g[..., 0]),
            "gy": _finite_list(g[..., 1]),
        },
    }


# --------------------------------------------------------------------------- /api/run
def _edge(entry: Entry, x0: np.ndarray) -> dict[str, Any]:
    """Gradient descent's learning-rate edge at ``x0``: 2/L, L the largest eigenvalue of
    the (exact) Hessian there; 1/L is the classic safe step."""
    h = np.asarray(entry.hessian(x0), np.float64)
    if not np.all(np.isfinite(h)):
        return {
            "one_over_L": None,
            "two_over_L": None,
            "rule": "the curvature at the start is not finite: no learning-rate edge there",
        }
    top = float(np.linalg.eigvalsh((h + h.T) / 2)[-1])
    if top <= 0:
        return {
            "one_over_L": None,
            "two_over_L": None,
            "rule": f"f curves down or is flat in every direction at the start (largest "
            f"curvature {top:.4g}): no learning-rate edge there",
        }
    return {
        "one_over_L": 1.0 / top,
        "two_over_L": 2.0 / top,
        "rule": f"gradient descent diverges near the start above 2/L = {2 / top:.4g}; "
        f"1/L = {1 / top:.4g} is the classic safe step (L = {top:.4g}, the largest "
        "curvature at the start)",
    }


def _minimize(entry: Entry, x0: np.ndarray, spec: OptimizerSpec, steps: int) -> Any:
    from descend import minimize

    try:
        return minimize(
            entry.run_fun, x0, spec.optimizer, max_steps=steps, gtol=GTOL, history=HISTORY
        )
    except (ValueError, TypeError) as e:
        raise ApiError(400, f"{spec.name}: {short_message(e)}") from None


def _run_all(
    entry: Entry, x0: np.ndarray, specs: Sequence[OptimizerSpec], steps: int, parallel: bool
) -> tuple[list[Any], dict[str, Any]]:
    """One descend run per optimizer, and the edge at the start. When they must compile,
    the programs build side by side (XLA compiles outside the GIL: on 2 cores a new
    formula's five optimizers compile in about half the time)."""
    if not parallel:
        out = [_minimize(entry, x0, s, steps) for s in specs]
        _ENGINE_READY.set()
        return out, _edge(entry, x0)
    first = []
    if not _ENGINE_READY.is_set():
        # descend builds its jit-compiled loop objects on the first run in the process;
        # built by two threads at once, one thread's programs would land in a copy.
        first = [_minimize(entry, x0, specs[0], steps)]
        _ENGINE_READY.set()
    rest = specs[len(first) :]
    with ThreadPoolExecutor(max_workers=COMPILE_THREADS) as pool:
        edge = pool.submit(_edge, entry, x0)
        runs = [pool.submit(_minimize, entry, x0, s, steps) for s in rest]
        return first + [r.result() for r in runs], edge.result()


# Threads compiling one request's programs side by side (on 2 cores, 2 to 6 threads all
# take about 0.45 s for five optimizers, against 0.55 s one after another).
COMPILE_THREADS = min(6, (os.cpu_count() or 2) + 1)
_ENGINE_READY = threading.Event()
RESET_HOOKS.append(_ENGINE_READY.clear)  # programs cleared: the first run goes alone again


def _local_note(entry: Entry, res: Any) -> str:
    """For a built-in run that converged above the known global minimum, what descend's
    message says of a TestFunction: whether the end is a local minimum (by the Hessian's
    eigenvalues there), and where the global minimum is."""
    from descend.calculus import kind_from_eigenvalues

    tf = entry.builtin
    if tf is None or not res.success:
        return ""
    m = tf.lower_minimum(float(res.fun), 2)
    if m is None:
        return ""
    best = f"f = {m.f:.6g} at ({', '.join(f'{v:.6g}' for v in m.x)})"
    h = np.asarray(entry.hessian(np.asarray(res.x, np.float64)), np.float64)
    eig = np.linalg.eigvalsh((h + h.T) / 2) if np.all(np.isfinite(h)) else np.full(2, np.nan)
    if kind_from_eigenvalues(eig) == "minimum":
        return f"; a local minimum: the global minimum is {best}"
    return f"; above the global minimum ({best}), not a minimum the gradient and Hessian confirm"


def _run_json(entry: Entry, spec: OptimizerSpec, res: Any) -> dict[str, Any]:
    hyper = dict(spec.hyper)
    out: dict[str, Any] = {"optimizer": spec.name, "hyper": hyper}
    if spec.auto and res.learning_rate is not None:
        hyper["learning_rate"] = float(res.learning_rate.value)
        out["learning_rate_rule"] = res.learning_rate.rule
    history = res.history
    out.update(
        path=_finite_list(np.asarray(history.x).reshape(-1, 2)),
        loss=_finite_list(history.fun),
        status=str(res.status.value),
        success=bool(res.success),
        message=short_message(res.message) + _local_note(entry, res),
        nit=int(res.nit),
    )
    return out


def _run_keys(specs: Iterable[OptimizerSpec], steps: int) -> list[tuple]:
    return [("run", s.name, steps, s.auto) for s in specs] + [("hessian",)]


def run(body: Any) -> dict[str, Any]:
    """``POST /api/run``: each optimizer's path and loss curve from one start."""
    t0 = time.perf_counter()
    body = _require_object(body)
    entry = _entry(body)
    if body.get("start") is None:
        raise ApiError(400, "start must be a list of two numbers [x, y]")
    x0 = _point(body["start"], "start")
    steps = _integer(body, "steps", DEFAULT_STEPS, 1, MAX_STEPS)
    specs = _optimizers(body.get("optimizers"))
    keys = _run_keys(specs, steps)
    cold = entry.cold(keys)
    try:
        with GATE.hold(cold):
            results, edge = _run_all(entry, x0, specs, steps, parallel=cold)
            entry.mark(keys)
    except Busy:
        raise _busy() from None
    runs = [_run_json(entry, s, r) for s, r in zip(specs, results)]
    return {"runs": runs, "edge": edge, "server_ms": (time.perf_counter() - t0) * 1e3}


# --------------------------------------------------------------------------- /api/basins
def basins(body: Any) -> dict[str, Any]:
    """``POST /api/basins``: which minimum each start of a grid reaches (``ds.basins``)."""
    from descend import basins as ds_basins

    body = _require_object(body)
    entry = _entry(body)
    d = _domain(body, entry)
    n = _integer(body, "grid", DEFAULT_BASINS_GRID, 2, MAX_BASINS_GRID)
    steps = _integer(body, "steps", DEFAULT_BASINS_STEPS, 1, MAX_BASINS_STEPS)
    spec = _optimizer(body.get("optimizer") or dict(BASINS_OPTIMIZER), "optimizer")
    keys = [("basins", spec.name, n, steps, spec.auto)]
    try:
        with GATE.hold(entry.cold(keys)):
            try:
                b = ds_basins(
                    entry.fun, d, n, spec.optimizer, max_steps=steps, gtol=GTOL, history=False
                )
            except (ValueError, TypeError) as e:
                raise ApiError(400, short_message(e)) from None
            entry.mark(keys)
    except Busy:
        raise _busy() from None
    labels = np.asarray(b.labels, np.int64)
    return {
        "x": np.asarray(b.xs, np.float64).tolist(),
        "y": np.asarray(b.ys, np.float64).tolist(),
        "labels": labels.tolist(),
        "minima": [[*(_float_or_none(v) for v in m.x), _float_or_none(m.fun)] for m in b.minima],
        "not_converged": int(np.sum(labels < 0)),
    }


# --------------------------------------------------------------------------- warm-up
def warm_up(
    stop: threading.Event | None = None,
    names: Sequence[str] | None = None,
    optimizers: Sequence[str] | None = None,
) -> int:
    """Compile what the page asks for first, for the built-ins (default: all of two
    variables; ``optimizers`` default: all seven): the landscape's helpers, the edge,
    and a default run of each optimizer from the function's start. One program at a
    time, each through the gate as a background job (requests go first); returns how
    many units were compiled. Stops between units once ``stop`` is set."""
    stop = stop or threading.Event()
    names = list(names) if names is not None else _priority(_builtin_names())
    optimizers = list(optimizers) if optimizers is not None else list(_factories())
    done = 0
    for name in names:
        tf_start = list(_builtin(name).builtin.start(2))
        jobs: list[tuple[Callable[[dict], Any], dict]] = [(landscape, {"function": name})]
        jobs += [
            (run, {"function": name, "start": tf_start, "optimizers": [{"name": o}]})
            for o in optimizers
        ]
        # a diverging run: descend then compiles the curvature behind its hint (0.2 s)
        jobs.append((run, {"function": name, "start": tf_start, "optimizers": [DIVERGING]}))
        for job, body in jobs:
            if stop.is_set():
                return done
            if _warm_one(job, body, stop):
                done += 1
    return done


DIVERGING = {"name": "gd", "learning_rate": 1e3}


def _priority(names: Sequence[str]) -> list[str]:
    """The functions a first visit is most likely to open, first."""
    first = [n for n in ("himmelblau", "rosenbrock", "booth", "six-hump-camel") if n in names]
    return first + [n for n in names if n not in first]


def _warm_one(job: Callable[[dict], Any], body: dict, stop: threading.Event) -> bool:
    """Run one warm-up request holding the gate in the background (the request's own
    hold of the gate, in the same thread, passes through)."""
    while not stop.is_set():
        try:
            with GATE.hold(True, timeout=0.25, background=True):
                job(body)
            return True
        except Busy:
            continue
    return False
