"""Shared pieces of the pictures: runs, paths, grids, domains, levels, figures, files.

Everything here is plain numpy or matplotlib; JAX is used only to evaluate ``f`` on a
grid (one compiled ``vmap``), with a Python loop as the fallback for numpy functions.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import check_int
from .._objective import as_function

# Run colours, in every picture: saturated and light, so they read on every part of
# viridis; on white axes the lines get a dark edge (:func:`on_white`).
PATH_COLORS = (
    "#ff2d2d",  # red
    "#ff9f1c",  # orange
    "#ff4fd8",  # magenta
    "#ffffff",  # white
    "#22e0ff",  # cyan
    "#b8ff3c",  # lime
    "#ffd23f",  # yellow
    "#a0a0ff",  # lavender
)
CMAP = "viridis"
# A run whose status is one of these left the picture; only its first steps set a domain.
FAILED = ("diverged", "nonfinite", "unbounded")
DEFAULT_DOMAIN = ((-5.0, 5.0), (-5.0, 5.0))


# --------------------------------------------------------------------------- functions
def fun_title(f: Any) -> str:
    """A short human name for ``f``: a test function's title, a formula, or its __name__."""
    title = getattr(f, "title", None)
    if isinstance(title, str):
        return title
    text = getattr(f, "text", None)
    if isinstance(text, str):
        return f"f = {text}"
    name = getattr(f, "__name__", None)
    return name if name and name != "<lambda>" else "f"


def fun_dim(f: Any, runs: Sequence[Run] = ()) -> int:
    """How many variables ``f`` takes: from a run's path, else the function's own."""
    if runs:
        return int(runs[0].path.shape[1])
    dim = getattr(f, "dim", None)
    if isinstance(dim, int):
        return dim
    default = getattr(f, "default_dim", None)
    return int(default) if isinstance(default, int) else 2


def variable_names(n: int, f: Any = None) -> tuple[str, ...]:
    """x, y, z (or a formula's own names, or w1..wn) for ``n`` variables."""
    from ..calculus import variable_names as names

    return names(n, f)


def known_minima(f: Any, n: int) -> list[tuple[np.ndarray, float]]:
    """``(x, f)`` of each known minimum of a test function in ``n`` variables (else [])."""
    minima = getattr(f, "minima", None)
    if not callable(minima):
        return []
    try:
        return [(np.asarray(m.x, np.float64), float(m.f)) for m in minima(n)]
    except (TypeError, ValueError):  # wrong dimension for this function: nothing to mark
        return []


@functools.lru_cache(maxsize=64)
def _compiled(f: Callable[..., Any]) -> Callable[..., Any]:
    import jax

    return jax.jit(jax.vmap(f))


def evaluate(f: Callable[..., Any], points: np.ndarray) -> np.ndarray:
    """``f`` at each row of ``points`` (shape (m, n)) as float64, nan where undefined."""
    import jax.numpy as jnp

    points = np.asarray(points, np.float64)
    try:
        try:
            fn = _compiled(f)
        except TypeError:  # an unhashable callable: compile without the cache
            import jax

            fn = jax.jit(jax.vmap(f))
        out = np.asarray(fn(jnp.asarray(points)), np.float64)
    except Exception:  # noqa: BLE001 - not traceable by JAX (numpy code): call it per point
        out = np.array([float(np.asarray(f(p))) for p in points], np.float64)
    return np.where(np.isfinite(out), out, np.nan).reshape(len(points))


# --------------------------------------------------------------------------- runs
@dataclasses.dataclass(frozen=True)
class Run:
    """One run to draw: its Result, legend label, colour (both from :func:`run_styles`)
    and path (steps x parameters; no columns when only f was asked for)."""

    result: Any
    label: str
    color: str
    path: np.ndarray
    status: str

    @property
    def success(self) -> bool:
        return bool(self.result.success)

    @property
    def steps(self) -> np.ndarray:
        return np.asarray(self.result.history.steps)

    @property
    def fun(self) -> np.ndarray:
        h = self.result.history
        if h.fun is None:
            raise ValueError("this run has no recorded f: run it with history=True")
        return np.asarray(h.fun, np.float64)

    @property
    def grad_norm(self) -> np.ndarray | None:
        g = self.result.history.grad_norm
        return None if g is None else np.asarray(g, np.float64)


def status_text(result: Any) -> str:
    """The status of a Result as plain text (``"gtol"``, ``"diverged"``...)."""
    s = result.status
    return str(getattr(s, "value", s))


def flat_path(result: Any) -> np.ndarray:
    """The recorded iterates of a run as a (steps, parameters) array (pytrees flattened)."""
    h = getattr(result, "history", None)
    if h is None or h.x is None:
        raise ValueError(
            "this run has no recorded path (history.x): run it with history=True "
            "(minimize_batch needs history=True explicitly)"
        )
    rows = len(h)
    if isinstance(h.x, np.ndarray) or hasattr(h.x, "__array__"):
        return np.asarray(h.x, np.float64).reshape(rows, -1)
    import jax

    leaves = [np.asarray(leaf, np.float64).reshape(rows, -1) for leaf in jax.tree.leaves(h.x)]
    return np.concatenate(leaves, axis=1)


def _collect(runs: Any) -> list[tuple[Any, str | None]]:
    """Flatten Result / BatchResult / lists of them into (Result, label prefix) pairs."""
    from ..result import BatchResult, Result

    if runs is None:
        return []
    if isinstance(runs, Result):
        return [(runs, None)]
    if isinstance(runs, BatchResult):
        if runs.history is None:
            raise ValueError(
                "this BatchResult has no history: run minimize_batch(..., history=True)"
            )
        lrs = runs.learning_rates
        out = []
        for idx in np.ndindex(*runs.shape):
            parts = []
            if runs.shape[0] > 1:
                parts.append(f"start {idx[0]}")
            if lrs is not None:
                parts.append(f"lr={float(lrs[idx[-1]]):.3g}")
            out.append((runs[idx], " ".join(parts) or None))
        return out
    if isinstance(runs, (list, tuple)):
        return [pair for item in runs for pair in _collect(item)]
    raise TypeError(
        f"runs must be a Result, a BatchResult or a list of them, got {type(runs).__name__}"
    )


def run_styles(
    pairs: Sequence[tuple[Any, str | None]], labels: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Each run's ``(colour, legend label)``, from its place in the list and its label.

    The one place a run gets them, so the same list of runs looks the same in every
    panel of every picture. ``pairs`` are (Result, label prefix) as :func:`as_runs`
    collects them; the default label is ``"{status}, {nit} steps"``, after the prefix
    (the start and learning rate of a batch's run).
    """
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(pairs):
            raise ValueError(f"labels has {len(labels)} entries for {len(pairs)} runs")
    out = []
    for i, (res, prefix) in enumerate(pairs):
        default = f"{status_text(res)}, {res.nit} steps"
        label = labels[i] if labels is not None else (f"{prefix}: {default}" if prefix else default)
        out.append((PATH_COLORS[i % len(PATH_COLORS)], str(label)))
    return out


def as_runs(runs: Any, labels: Sequence[str] | None = None, *, paths: bool = True) -> list[Run]:
    """Normalize ``runs`` to :class:`Run` s, styled by :func:`run_styles`.

    ``paths=False`` is for pictures of f alone: a run recorded without x is accepted.
    """
    pairs = _collect(runs)
    styles = run_styles(pairs, labels)
    return [
        Run(res, label, color, _path(res, paths), status_text(res))
        for (res, _), (color, label) in zip(pairs, styles)
    ]


def _path(result: Any, required: bool) -> np.ndarray:
    h = getattr(result, "history", None)
    if not required and (h is None or h.x is None):
        return np.empty((0 if h is None else len(h), 0))
    return flat_path(result)


def on_white(lw: float) -> list[Any]:
    """Path effects for a run's line of width ``lw`` on white axes: a thin dark edge, so
    the light run colours (white among them) read there in the same colour as on the
    contour."""
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=lw + 1.2, foreground="#303030"), patheffects.Normal()]


def visible_path(path: np.ndarray, domain: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """The finite rows of ``path[:, dims]``, cut after the first point far outside the
    domain: a diverging run leaves the frame there, and huge coordinates only slow the
    renderer down."""
    p = path[:, list(dims)]
    p = p[np.all(np.isfinite(p), axis=1)]
    span = domain[:, 1] - domain[:, 0]
    far = np.any((p < domain[:, 0] - 3 * span) | (p > domain[:, 1] + 3 * span), axis=1)
    if far.any():
        p = p[: int(np.argmax(far)) + 1]
    return p


# --------------------------------------------------------------------------- domains
def check_domain(domain: Any) -> np.ndarray:
    """A user's 2-D ``domain`` as a (2, 2) array of (lower, upper) pairs."""
    try:
        d = np.asarray(domain, np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"domain must be two (lower, upper) pairs of numbers, got {domain!r}"
        ) from None
    if d.shape != (2, 2) or not np.all(np.isfinite(d)) or np.any(d[:, 0] >= d[:, 1]):
        raise ValueError(
            f"domain must be two finite (lower, upper) pairs with lower < upper, got {domain!r}"
        )
    return d


def _path_extent(runs: Sequence[Run], dims: Sequence[int]) -> np.ndarray | None:
    pts = []
    for run in runs:
        p = run.path[:, list(dims)]
        p = p[np.all(np.isfinite(p), axis=1)]
        if run.status in FAILED:
            p = p[: _plausible_steps(run)]  # the rest runs off towards infinity
        pts.append(p)
    pts = [p for p in pts if len(p)]
    if not pts:
        return None
    allp = np.concatenate(pts)
    return np.stack([allp.min(axis=0), allp.max(axis=0)], axis=1)


def _plausible_steps(run: Run) -> int:
    """How many first points of a failed run to fit in the window: the start and those
    after it while f has not grown past its start value (at most 4)."""
    f = run.result.history.fun
    if f is None:
        return 1
    f = np.asarray(f, np.float64)
    grew = ~(np.isfinite(f) & (f <= f[0]))
    return int(np.clip(np.argmax(grew) if grew.any() else len(f), 1, 4))


def default_domain(
    f: Any, n: int, dims: Sequence[int], runs: Sequence[Run], margin: float = 0.12
) -> np.ndarray:
    """The plotting window over coordinates ``dims``: a test function's own domain grown to
    hold the paths, else the paths' extent with a margin, else [-5, 5]^2."""
    own = None
    if hasattr(f, "domain"):
        try:
            own = np.asarray(f.domain(n), np.float64)[list(dims)]
        except (TypeError, ValueError, IndexError):
            own = None
    raw = _path_extent(runs, dims)
    ext = None
    if raw is not None:
        span = raw[:, 1] - raw[:, 0]
        pad = np.where(span > 0, margin * span, np.maximum(np.abs(raw[:, 0]) * margin, 1.0))
        # keep the window from being a thin strip when one coordinate barely moves
        pad = np.maximum(pad, 0.15 * float(np.max(span)))
        ext = np.stack([raw[:, 0] - pad, raw[:, 1] + pad], axis=1)
    if own is not None and ext is not None:
        # the function's own window, widened only on a side a path crosses
        lo = np.where(raw[:, 0] < own[:, 0], ext[:, 0], own[:, 0])
        hi = np.where(raw[:, 1] > own[:, 1], ext[:, 1], own[:, 1])
        return np.stack([lo, hi], axis=1)
    if own is not None:
        return own
    if ext is not None:
        return ext
    return np.asarray(DEFAULT_DOMAIN)


def plane(
    fun: Any, runs: Sequence[Run], domain: Any, name: str, other: str
) -> tuple[Callable[..., Any], np.ndarray]:
    """The function and window of a picture over the plane of a 2-variable function.

    ``fun`` is resolved, refused (naming ``name`` and the picture to use instead,
    ``other``) unless it takes 2 variables, and the window is ``domain`` checked or
    the default one for ``runs``.
    """
    f = as_function(fun)
    n = fun_dim(f, runs)
    if n != 2:
        raise ValueError(f"{name} draws functions of 2 variables; this one has {n}: use {other}")
    d = check_domain(domain) if domain is not None else default_domain(f, 2, (0, 1), runs)
    return f, d


def grid(
    f: Callable[..., Any],
    domain: np.ndarray,
    resolution: int,
    *,
    n: int = 2,
    dims: Sequence[int] = (0, 1),
    center: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X, Y, F`` on a ``resolution``-square grid over ``domain``; for n > 2 variables the
    other coordinates are held at ``center`` (a 2-D slice)."""
    resolution = check_int(resolution, "resolution", minimum=2)
    xs = np.linspace(domain[0, 0], domain[0, 1], resolution)
    ys = np.linspace(domain[1, 0], domain[1, 1], resolution)
    X, Y = np.meshgrid(xs, ys)
    base = np.zeros(n) if center is None else np.asarray(center, np.float64)
    pts = np.tile(base, (X.size, 1))
    pts[:, dims[0]] = X.ravel()
    pts[:, dims[1]] = Y.ravel()
    return X, Y, evaluate(f, pts).reshape(X.shape)


# --------------------------------------------------------------------------- values
def spans_decades(values: np.ndarray, decades: float = 3.0) -> bool:
    """True when ``values - min`` spans more than ``decades`` powers of ten (robustly: the
    1st percentile of the positive values is the bottom, so one lucky grid point at the
    minimum does not count)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return False
    z = v - v.min()
    pos = z[z > 0]
    if pos.size == 0:
        return False
    return bool(math.log10(pos.max() / np.quantile(pos, 0.01)) > decades)


def loss_scale(values: np.ndarray, name: str = "f") -> tuple[Callable[[Any], np.ndarray], str]:
    """How to put f on a log axis, decided from all ``values`` together: f itself when
    it stays positive, else f - min f (floored at rounding level, since the best point's
    own value becomes 0). Returns the transform and the axis label."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0 or finite.min() > 0:
        return (lambda y: np.asarray(y, np.float64)), name
    lo = float(finite.min())
    floor = np.finfo(np.float64).eps * max(abs(lo), float(np.max(np.abs(finite))), 1.0)
    return (lambda y: np.maximum(np.asarray(y, np.float64) - lo, floor)), (
        f"{name} − min {name}  (min = {lo:.6g})"
    )


def loss_values(values: np.ndarray, name: str = "f") -> tuple[np.ndarray, str]:
    """``values`` transformed by :func:`loss_scale`, and the axis label."""
    transform, label = loss_scale(values, name)
    return transform(values), label


def fmt_point(x: Sequence[float], digits: int = 3) -> str:
    """``(1, -2, 0.5)``: a point for titles and legends."""
    return "(" + ", ".join(f"{float(v):.{digits}g}" for v in x) + ")"


# --------------------------------------------------------------------------- figures
def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float],
    layout: str = "constrained",
    **kw: Any,
) -> tuple[Any, Any]:
    """A pyplot figure (so ``plt.show()`` shows it) and its axes grid; ``layout``
    "compressed" suits rows of equal-aspect panels."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, layout=layout, squeeze=False, **kw)


def check_target(path: Any) -> str:
    """``path`` as a string after checking its folder exists and is writable."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a string or path-like, got {path!r}") from None
    p = str(p)
    folder = os.path.dirname(os.path.abspath(p))
    if os.path.isdir(p):
        raise ValueError(f"cannot write {p!r}: it is a folder; give a file name")
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {p!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {p!r}: the folder {folder!r} is not writable")
    return p


def save(fig: Any, path: Any) -> str:
    """Write ``fig`` as a PNG at 120 dpi and return the path.

    Args:
      fig: a matplotlib Figure (what every ``descend.plot`` function returns).
      path: the file to write; its folder must exist and be writable.

    Returns:
      The path written, as a string.

    Raises:
      ValueError: naming the path, when its folder is missing or not writable.
    """
    p = check_target(path)
    fig.savefig(p, dpi=120, format="png")
    return p
