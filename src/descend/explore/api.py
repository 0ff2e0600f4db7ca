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
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import fields as F
from .cache import GATE, RESET_HOOKS, Busy, Entry
from .fields import (
    ARROWS,
    BASINS_OPTIMIZER,
    DEFAULT_BASINS_GRID,
    DEFAULT_BASINS_STEPS,
    DEFAULT_GRID,
    DEFAULT_STEPS,
    GTOL,
    HISTORY,
    LEVELS,
    MAX_BASINS_GRID,
    MAX_BASINS_STEPS,
    MAX_GRID,
    MAX_OPTIMIZERS,
    MAX_STEPS,
    VARIABLES,
    ApiError,
    OptimizerSpec,
    optimizer_defaults,
    short_message,
)

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


# --------------------------------------------------------------------------- /api/functions
@functools.cache
def _functions_info() -> dict[str, Any]:
    from descend import functions

    listed = []
    for name in F.builtin_names():
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
    body = F.require_object(body)
    entry = F.entry(body)
    d = F.domain(body, entry)
    n = F.integer(body, "grid", DEFAULT_GRID, 2, MAX_GRID)
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
        raise F.busy() from None
    levels, log, fmin, fmax = _levels(f)
    return {
        "domain": d.tolist(),
        "x": xs.tolist(),
        "y": ys.tolist(),
        "f": F.finite_list(f),
        "levels": levels,
        "log": log,
        "fmin": fmin,
        "fmax": fmax,
        "minima": F.known_minima(entry, d),
        "variables": list(VARIABLES),
        "grad": {
            "x": ax.tolist(),
            "y": ay.tolist(),
            "gx": F.finite_list(g[..., 0]),
            "gy": F.finite_list(g[..., 1]),
        },
    }


# --------------------------------------------------------------------------- /api/run
def _edge(entry: Entry, x0: np.ndarray) -> dict[str, Any]:
    """Gradient descent's learning-rate edge at ``x0``: 2/L, L the largest eigenvalue of
    the (exact) Hessian there; 1/L is the classic safe step. The number
    :func:`descend.suggest_learning_rate` gives (a test checks), from the Hessian program
    this formula's cache entry already holds, so a new start compiles nothing."""
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
        path=F.finite_list(np.asarray(history.x).reshape(-1, 2)),
        loss=F.finite_list(history.fun),
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
    body = F.require_object(body)
    entry = F.entry(body)
    if body.get("start") is None:
        raise ApiError(400, "start must be a list of two numbers [x, y]")
    x0 = F.point(body["start"], "start")
    steps = F.integer(body, "steps", DEFAULT_STEPS, 1, MAX_STEPS)
    specs = F.optimizers(body.get("optimizers"))
    keys = _run_keys(specs, steps)
    cold = entry.cold(keys)
    try:
        with GATE.hold(cold):
            results, edge = _run_all(entry, x0, specs, steps, parallel=cold)
            entry.mark(keys)
    except Busy:
        raise F.busy() from None
    runs = [_run_json(entry, s, r) for s, r in zip(specs, results)]
    return {"runs": runs, "edge": edge, "server_ms": (time.perf_counter() - t0) * 1e3}


# --------------------------------------------------------------------------- /api/basins
def basins(body: Any) -> dict[str, Any]:
    """``POST /api/basins``: which minimum each start of a grid reaches (``ds.basins``)."""
    from descend import basins as ds_basins

    body = F.require_object(body)
    entry = F.entry(body)
    d = F.domain(body, entry)
    n = F.integer(body, "grid", DEFAULT_BASINS_GRID, 2, MAX_BASINS_GRID)
    steps = F.integer(body, "steps", DEFAULT_BASINS_STEPS, 1, MAX_BASINS_STEPS)
    spec = F.optimizer(body.get("optimizer") or dict(BASINS_OPTIMIZER), "optimizer")
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
        raise F.busy() from None
    labels = np.asarray(b.labels, np.int64)
    return {
        "x": np.asarray(b.xs, np.float64).tolist(),
        "y": np.asarray(b.ys, np.float64).tolist(),
        "labels": labels.tolist(),
        "minima": [[*(F.float_or_none(v) for v in m.x), F.float_or_none(m.fun)] for m in b.minima],
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
    names = list(names) if names is not None else _priority(F.builtin_names())
    optimizers = list(optimizers) if optimizers is not None else list(F.factories())
    done = 0
    for name in names:
        tf_start = list(F.builtin(name).builtin.start(2))
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
