"""Contour pictures: a function's level sets with gradient-descent paths on them.

:func:`contour` draws a function of two variables; :func:`slice_path` draws a 2-D slice
of a function of more variables with a path projected onto it; :func:`learning_rates`
is the seed notes' picture: one start, three learning rates (too small, good, too large).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import check_int
from .._objective import as_function
from . import _common as C


# --------------------------------------------------------------------------- drawing
def _levels(
    F: np.ndarray, levels: int | Sequence[float], log_levels: bool | None
) -> tuple[np.ndarray, Any, Any, bool]:
    """What to contour: (values, levels, norm, is_log). Log levels contour f - min f,
    which is positive; they show the bottom of a valley that linear levels flatten."""
    from matplotlib.colors import LogNorm

    finite = F[np.isfinite(F)]
    if finite.size == 0:
        raise ValueError("f is not finite anywhere on the plotted domain")
    levels = check_levels(levels)
    if isinstance(levels, np.ndarray):
        use_log = bool(log_levels) and bool(np.all(levels > 0))
        return F, levels, (LogNorm(levels.min(), levels.max()) if use_log else None), False
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:  # a flat function: a few levels around its one value
        return F, np.linspace(lo - 1, hi + 1, int(levels)), None, False
    use_log = C.spans_decades(finite) if log_levels is None else bool(log_levels)
    if not use_log:
        from matplotlib.ticker import MaxNLocator

        # round level values read better on the colour bar than linspace's
        levs = MaxNLocator(int(levels), min_n_ticks=min(int(levels), 5)).tick_values(lo, hi)
        return F, levs, None, False
    Z = F - lo
    pos = Z[np.isfinite(Z) & (Z > 0)]
    # The lowest level sits near the smallest values on the grid; at most 10 decades are
    # drawn, and values past the top (an exp wall) share the top colour.
    floor = float(np.quantile(pos, 0.0005))
    top = min(hi - lo, floor * 1e10)
    Z = np.where(np.isfinite(Z), np.clip(Z, floor, top), np.nan)
    levs = np.geomspace(floor, top, int(levels))
    return Z, levs, LogNorm(floor, top), True


def check_levels(levels: Any) -> int | np.ndarray:
    """``levels`` as a count (an integer >= 2) or as values (at least 2 finite numbers,
    increasing, as matplotlib needs them)."""
    what = "an integer >= 2 or a sequence of increasing values"
    one = levels is None or isinstance(levels, (str, bytes, numbers.Number))
    if one or getattr(levels, "shape", None) == ():
        return check_int(levels, "levels", minimum=2, what=what)
    try:
        levs = np.asarray(levels, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"levels must be {what}, got {type(levels).__name__} {levels!r}") from None
    if (
        levs.ndim != 1
        or levs.size < 2
        or not np.all(np.isfinite(levs))
        or np.any(np.diff(levs) <= 0)
    ):
        raise ValueError(f"levels must be {what}, got {levels!r}")
    return levs


def draw_field(
    ax: Any,
    X: np.ndarray,
    Y: np.ndarray,
    F: np.ndarray,
    *,
    levels: int | Sequence[float] = 30,
    log_levels: bool | None = None,
    colorbar: bool | Any = True,
    name: str = "f",
) -> tuple[Any, str]:
    """Filled contours with thin level lines; returns the filled ContourSet and the
    colour scale's label.

    ``colorbar`` True adds one beside ``ax``; a list of axes adds one shared by them.
    """
    Z, levs, norm, is_log = _levels(F, levels, log_levels)
    Zm = np.ma.masked_invalid(Z)
    filled = ax.contourf(X, Y, Zm, levels=levs, cmap=C.CMAP, norm=norm)
    ax.contour(X, Y, Zm, levels=levs, colors="white", linewidths=0.35, alpha=0.45, norm=norm)
    lo = float(np.nanmin(F))
    label = f"{name} − min f  (min = {lo:.3g}; log scale)" if is_log else name
    if colorbar is not False:
        add_colorbar(filled, ax if colorbar is True else colorbar, label, is_log)
    return filled, label


def add_colorbar(filled: Any, ax: Any, label: str, is_log: bool) -> Any:
    """A colour bar for ``filled`` beside ``ax`` (an Axes or a list of them)."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator

    fig = (ax[0] if isinstance(ax, (list, tuple)) else ax).figure
    cbar = fig.colorbar(filled, ax=ax, label=label, shrink=0.9)
    if is_log:  # decade ticks: the level boundaries themselves are unreadable numbers
        cbar.locator = LogLocator(base=10)
        cbar.formatter = LogFormatterSciNotation(base=10)
        cbar.update_ticks()
    return cbar


def draw_paths(
    ax: Any, runs: Sequence[C.Run], domain: np.ndarray, dims: Sequence[int] = (0, 1)
) -> None:
    """Each run's path: a line with a dot per step, a circle at the start and a star
    (converged) or a cross (not converged) at the end."""
    for run in runs:
        p = C.visible_path(run.path, domain, dims)
        if len(p) == 0:
            continue
        every = max(1, len(p) // 80)  # at most ~80 dots: long runs stay readable
        ax.plot(
            p[:, 0],
            p[:, 1],
            "-",
            color=run.color,
            lw=1.6,
            marker="o",
            ms=3.2,
            markevery=every,
            label=run.label,
            zorder=4,
            solid_capstyle="round",
        )
        ax.plot(
            p[0, 0],
            p[0, 1],
            "o",
            ms=10,
            mfc=run.color,
            mec="black",
            mew=1.2,
            zorder=6,
            label="_start",
        )
        end = run.path[:, list(dims)]
        end = end[np.all(np.isfinite(end), axis=1)][-1]
        inside = np.all((end >= domain[:, 0]) & (end <= domain[:, 1]))
        if inside:
            marker, size = ("*", 17) if run.success else ("X", 11)
            ax.plot(
                end[0],
                end[1],
                marker,
                ms=size,
                mfc=run.color,
                mec="black",
                mew=1.0,
                zorder=7,
                label="_end",
            )


def draw_minima(ax: Any, points: Sequence[np.ndarray], domain: np.ndarray) -> None:
    """Known minima as white diamonds (under the paths' end markers)."""
    pts = [p for p in points if np.all((p >= domain[:, 0]) & (p <= domain[:, 1]))]
    if not pts:
        return
    arr = np.asarray(pts)
    ax.plot(
        arr[:, 0],
        arr[:, 1],
        "D",
        ms=7,
        mfc="white",
        mec="black",
        mew=1.0,
        ls="none",
        zorder=5,
        label="_minima",
    )


def draw_arrows(
    ax: Any,
    f: Any,
    domain: np.ndarray,
    *,
    n: int = 2,
    dims: Sequence[int] = (0, 1),
    center: np.ndarray | None = None,
    count: int = 15,
) -> None:
    """Unit arrows along -grad f on a coarse grid: the direction a step goes, everywhere
    (lengths would span decades; the contour colours already show steepness)."""
    xs = np.linspace(domain[0, 0], domain[0, 1], count + 2)[1:-1]
    ys = np.linspace(domain[1, 0], domain[1, 1], count + 2)[1:-1]
    X, Y = np.meshgrid(xs, ys)
    base = np.zeros(n) if center is None else np.asarray(center, np.float64)
    pts = np.tile(base, (X.size, 1))
    pts[:, dims[0]] = X.ravel()
    pts[:, dims[1]] = Y.ravel()
    grads = []
    for k, d in enumerate(dims):
        # central differences work for any callable, JAX or not; h is tiny next to the grid
        h = 1e-6 * float(domain[k, 1] - domain[k, 0])
        plus, minus = pts.copy(), pts.copy()
        plus[:, d] += h
        minus[:, d] -= h
        grads.append((C.evaluate(f, plus) - C.evaluate(f, minus)) / (2 * h))
    U, V = -grads[0], -grads[1]
    norm = np.hypot(U, V)
    ok = np.isfinite(norm) & (norm > 0)
    U = np.where(ok, U / np.where(ok, norm, 1), 0).reshape(X.shape)
    V = np.where(ok, V / np.where(ok, norm, 1), 0).reshape(X.shape)
    spacing = min(xs[1] - xs[0], ys[1] - ys[0])
    ax.quiver(
        X,
        Y,
        U,
        V,
        color="white",
        alpha=0.8,
        angles="xy",
        scale_units="xy",
        scale=1 / (0.6 * spacing),
        width=0.004,
        zorder=3,
    )


def legend(ax: Any, runs: Sequence[C.Run], minima: bool) -> None:
    """Runs by label, then what the markers mean (at most 10 runs get an entry)."""
    from matplotlib.lines import Line2D

    handles = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
    if len(handles) > 10:
        handles = handles[:10]
    if runs:
        handles.append(
            Line2D([], [], marker="o", ls="none", mfc="white", mec="black", ms=8, label="start")
        )
        if any(r.success for r in runs):
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="*",
                    ls="none",
                    mfc="white",
                    mec="black",
                    ms=12,
                    label="end (converged)",
                )
            )
        if any(not r.success for r in runs):
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="X",
                    ls="none",
                    mfc="white",
                    mec="black",
                    ms=9,
                    label="end (stopped)",
                )
            )
    if minima:
        handles.append(
            Line2D(
                [], [], marker="D", ls="none", mfc="white", mec="black", ms=7, label="known minimum"
            )
        )
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)


def _frame(ax: Any, domain: np.ndarray, names: Sequence[str]) -> None:
    ax.set_xlim(domain[0])
    ax.set_ylim(domain[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1], rotation=0, labelpad=8)
    w, h = domain[:, 1] - domain[:, 0]
    # Equal scales keep -grad f perpendicular to the level sets, as it really is.
    if 0.25 <= h / w <= 4:
        ax.set_aspect("equal", adjustable="box")


def _axes_or_new(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, axs = C.new_figure(figsize=figsize)
    return fig, axs[0, 0]


def panel(
    ax: Any,
    f: Any,
    runs: Sequence[C.Run],
    *,
    n: int,
    dims: Sequence[int],
    center: np.ndarray | None,
    domain: np.ndarray,
    levels: int | Sequence[float] = 30,
    log_levels: bool | None = None,
    arrows: bool = False,
    minima: bool = True,
    resolution: int = 200,
    colorbar: bool | Any = True,
    show_legend: bool = True,
) -> tuple[Any, str]:
    """One contour panel with everything on it; returns the filled ContourSet and the
    colour scale's label."""
    names = C.variable_names(n, f)
    X, Y, F = C.grid(f, domain, resolution, n=n, dims=dims, center=center)
    axis_names = (names[dims[0]], names[dims[1]])
    fname = f"f({', '.join(names)})" if n <= 3 else "f"
    filled, label = draw_field(
        ax, X, Y, F, levels=levels, log_levels=log_levels, colorbar=colorbar, name=fname
    )
    if arrows:
        draw_arrows(ax, f, domain, n=n, dims=dims, center=center)
    marked = False
    if minima:
        pts = _minima_on_slice(f, n, dims, center, domain)
        draw_minima(ax, pts, domain)
        marked = bool(pts)
    draw_paths(ax, runs, domain, dims)
    _frame(ax, domain, axis_names)
    if show_legend:
        legend(ax, runs, marked)
    return filled, label


def _minima_on_slice(
    f: Any, n: int, dims: Sequence[int], center: np.ndarray | None, domain: np.ndarray
) -> list[np.ndarray]:
    """Known minima that lie on the drawn plane (all of them when n == 2)."""
    out = []
    rest = [i for i in range(n) if i not in dims]
    tol = 1e-3 * float(np.max(domain[:, 1] - domain[:, 0]))
    for x, _ in C.known_minima(f, n):
        if rest and (center is None or np.max(np.abs(x[rest] - center[rest])) > tol):
            continue
        out.append(x[list(dims)])
    return out


# --------------------------------------------------------------------------- public
def contour(
    fun: Any,
    runs: Any = None,
    *,
    domain: Any = None,
    ax: Any = None,
    levels: int | Sequence[float] = 30,
    log_levels: bool | None = None,
    arrows: bool = False,
    minima: bool = True,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    resolution: int = 200,
) -> Any:
    """Contour plot of a function of two variables with gradient-descent paths on it.

    Args:
      fun: a callable ``f(x)`` of a length-2 array, a built-in name (``"himmelblau"``)
        or a formula (``"x**2 + 3*y**2"``).
      runs: a Result, a BatchResult (all its runs) or a list of them, recorded with
        ``history=True``; each path is a line with a dot per step, a circle at the start
        and a star (converged) or cross (stopped) at the end.
      domain: ``((xmin, xmax), (ymin, ymax))``; default: a test function's own domain
        (grown to hold the paths), else the paths' extent with a margin, else [-5, 5]^2.
      ax: a matplotlib Axes to draw into; default: a new figure.
      levels: the number of contour levels, or the levels themselves.
      log_levels: log-spaced levels of f - min f; None chooses them when f spans more
        than three decades on the domain (valleys such as Rosenbrock's).
      arrows: draw the direction of -grad f on a coarse grid.
      minima: mark a test function's known minima (white diamonds).
      labels: one legend label per run; default ``"lr=..: status, N steps"``.
      title: the axes title; default the function's name.
      resolution: grid points per axis.

    Returns:
      The matplotlib Figure.

    Example:
      >>> res = ds.minimize("himmelblau", [0.0, 0.0], ds.gd(0.01))
      >>> fig = ds.plot.contour("himmelblau", res, arrows=True)
    """
    levels = check_levels(levels)
    resolution = check_int(resolution, "resolution", minimum=2)
    rs = C.as_runs(runs, labels)
    f, d = C.plane(fun, rs, domain, "contour", "descend.plot.slice_path for a 2-D slice")
    fig, ax = _axes_or_new(ax, (6.6, 5.4))
    panel(
        ax,
        f,
        rs,
        n=2,
        dims=(0, 1),
        center=None,
        domain=d,
        levels=levels,
        log_levels=log_levels,
        arrows=arrows,
        minima=minima,
        resolution=resolution,
    )
    ax.set_title(title if title is not None else C.fun_title(f))
    return fig


def slice_path(
    fun: Any,
    run: Any,
    *,
    dims: Sequence[int] = (0, 1),
    center: Any = None,
    domain: Any = None,
    ax: Any = None,
    levels: int | Sequence[float] = 30,
    log_levels: bool | None = None,
    resolution: int = 150,
) -> Any:
    """Contour of a function of n > 2 variables on a 2-D slice, with the path projected.

    The slice holds every coordinate except ``dims`` at ``center`` (default: the run's
    final point), so it is the landscape a run sees near its end; the path's other
    coordinates vary, so early points are a projection, not on the slice.

    Args:
      fun: a callable, built-in name or formula.
      run: a Result (or a list of them / a BatchResult) with ``history=True``.
      dims: the two coordinates to draw, e.g. ``(0, 2)``.
      center: the point the slice passes through (length n); default the final x of the
        first run.
      domain: ``((lo, hi), (lo, hi))`` over ``dims``; default as in :func:`contour`.
      ax: a matplotlib Axes; default a new figure.
      levels, log_levels, resolution: as in :func:`contour`.

    Returns:
      The matplotlib Figure.
    """
    f = as_function(fun)
    levels = check_levels(levels)
    resolution = check_int(resolution, "resolution", minimum=2)
    rs = C.as_runs(run)
    if not rs:
        raise ValueError("slice_path needs a run with a recorded path")
    n = C.fun_dim(f, rs)
    dims = _check_dims(dims, n)
    if center is None:
        c = _final_point(rs[0])
    else:
        c = np.asarray(center, np.float64).ravel()
        if c.shape != (n,):
            raise ValueError(f"center must have {n} entries (one per variable), got {c.size}")
    d = C.check_domain(domain) if domain is not None else C.default_domain(f, n, dims, rs)
    fig, ax = _axes_or_new(ax, (6.6, 5.4))
    panel(
        ax,
        f,
        rs,
        n=n,
        dims=dims,
        center=c,
        domain=d,
        levels=levels,
        log_levels=log_levels,
        resolution=resolution,
    )
    ax.set_title(f"{C.fun_title(f)}\n{_slice_text(f, n, dims, c)}", fontsize=11)
    return fig


def _check_dims(dims: Sequence[int], n: int) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in dims)
    except (TypeError, ValueError):
        raise ValueError(f"dims must be two coordinate indices, got {dims!r}") from None
    if a == b or not (0 <= a < n and 0 <= b < n):
        raise ValueError(f"dims must be two different indices in 0..{n - 1}, got {dims!r}")
    return a, b


def _final_point(run: C.Run) -> np.ndarray:
    p = run.path[np.all(np.isfinite(run.path), axis=1)]
    return p[-1] if len(p) else np.zeros(run.path.shape[1])


def _slice_text(f: Any, n: int, dims: Sequence[int], center: np.ndarray) -> str:
    """``slice at z = 0.5`` (or ``slice through (..)`` for many fixed coordinates)."""
    names = C.variable_names(n, f)
    rest = [i for i in range(n) if i not in dims]
    if not rest:
        return ""
    if len(rest) <= 3:
        return "slice at " + ", ".join(f"{names[i]} = {center[i]:.3g}" for i in rest)
    return f"slice through {C.fmt_point(center)}"


def _moving_dims(runs: Sequence[C.Run], n: int, span: np.ndarray) -> tuple[int, int]:
    """The two coordinates the runs move along most (each run's range capped at the
    domain's width, so a diverging run cannot pick both): the slice where things happen."""
    score = np.zeros(n)
    for run in runs:
        p = run.path[np.all(np.isfinite(run.path), axis=1)]
        if len(p):
            score += np.minimum(p.max(axis=0) - p.min(axis=0), span)
    a, b = np.argsort(-score, kind="stable")[:2]
    return (int(min(a, b)), int(max(a, b)))


def _steep_flat_dims(f: Any, center: np.ndarray) -> tuple[int, int] | None:
    """The coordinates of the largest and smallest curvature (Hessian diagonal) at
    ``center``: the steepest one sets the largest stable learning rate (2/L), the
    flattest one how slowly a small rate crawls, so that slice shows all three fates.
    None when the Hessian is unavailable or the same in every coordinate."""
    if center.size > 200:  # a dense Hessian; beyond this use the paths instead
        return None
    try:
        from ..calculus import hessian

        diag = np.diag(np.asarray(hessian(f)(center), np.float64))
    except Exception:  # noqa: BLE001 - no autodiff (numpy code): fall back to the paths
        return None
    if not np.all(np.isfinite(diag)) or np.ptp(diag) <= 1e-12 * max(1.0, np.max(np.abs(diag))):
        return None
    a, b = int(np.argmax(diag)), int(np.argmin(diag))
    return (min(a, b), max(a, b))


def _outcome(run: C.Run) -> str:
    """What happened, in the words of the seed notes."""
    status, nit = run.status, int(run.result.nit)
    if run.success:
        return f"converged in {nit} steps"
    if status == "max_steps":
        return f"still far after {nit} steps"
    if status in C.FAILED:
        return f"diverged at step {nit}"
    return f"{status} after {nit} steps"


def learning_rates(
    fun: Any,
    x0: Any,
    learning_rates: Sequence[float] | None = None,
    *,
    optimizer: Any = None,
    max_steps: int = 100,
    domain: Any = None,
    axes: Any = None,
    dims: Sequence[int] | None = None,
) -> Any:
    """The seed notes' picture: one function, one start, learning rates side by side.

    By default three: 0.05/L (too small: slow), 1/L (good) and 2.3/L (too large:
    gradient descent diverges on a quadratic once the rate passes 2/L), where L is the
    curvature at ``x0`` from :func:`descend.suggest_learning_rate`. All runs are one
    :func:`descend.minimize_batch` with ``gtol=1e-6``. Each panel's title gives the
    learning rate and what happened: ``converged in N steps``, ``still far after N
    steps`` or ``diverged at step k``.

    For more than two variables the panels show the 2-D slice through the lowest end
    point over ``dims`` (default: the two coordinates the runs move along most).

    Args:
      fun: a callable, built-in name or formula.
      x0: the start, a 1-D array of length n >= 2.
      learning_rates: the rates to compare (any number of panels); default as above.
      optimizer: a factory taking the learning rate first (``ds.momentum``...);
        default ``ds.gd``.
      max_steps: the step limit of every run.
      domain: ``((lo, hi), (lo, hi))`` over the drawn coordinates.
      axes: one matplotlib Axes per learning rate; default a new figure.
      dims: for n > 2, the two coordinates to draw.

    Returns:
      The matplotlib Figure.
    """
    from .._batch import minimize_batch
    from ..landscape import suggest_learning_rate
    from ..optimizers import gd

    f = as_function(fun)
    start = np.asarray(x0, np.float64)
    if start.ndim != 1 or start.size < 2:
        raise ValueError(f"x0 must be a 1-D point with at least 2 entries, got shape {start.shape}")
    n = start.size
    curvature = None
    if learning_rates is None:
        curvature = suggest_learning_rate(f, start).curvature
        lrs = np.array([0.05, 1.0, 2.3]) / curvature
    else:
        lrs = np.asarray(learning_rates, np.float64).ravel()
    batch = minimize_batch(
        f,
        start[None],
        optimizer if optimizer is not None else gd,
        learning_rates=lrs,
        history=True,
        gtol=1e-6,
        max_steps=max_steps,
    )
    rs = C.as_runs(batch)
    fin = np.where(np.isfinite(batch.fun[0]), batch.fun[0], np.inf)
    center = _final_point(rs[int(np.argmin(fin))])
    why = ""
    if dims is None:
        dims = (0, 1) if n == 2 else _steep_flat_dims(f, center)
        if dims is not None and n > 2:
            why = " over the flattest and steepest coordinates"
        if dims is None:
            own = np.asarray(f.domain(n), np.float64) if hasattr(f, "domain") else None
            span = own[:, 1] - own[:, 0] if own is not None else np.full(n, 10.0)
            dims = _moving_dims(rs, n, span)
    dims = _check_dims(dims, n)
    d = C.check_domain(domain) if domain is not None else C.default_domain(f, n, dims, rs)

    if axes is None:
        fig, grid = C.new_figure(1, len(lrs), figsize=(4.6 * len(lrs) + 1.2, 5.8))
        axs = list(grid[0])
        own_fig = True
    else:
        axs = list(np.ravel(axes))
        if len(axs) != len(lrs):
            raise ValueError(
                f"axes must hold {len(lrs)} Axes (one per learning rate), got {len(axs)}"
            )
        fig, own_fig = axs[0].figure, False
    filled, label = None, "f"
    for ax, run, lr in zip(axs, rs, lrs):
        filled, label = panel(
            ax,
            f,
            [run],
            n=n,
            dims=dims,
            center=center if n > 2 else None,
            domain=d,
            colorbar=False,
            show_legend=False,
            resolution=150,
        )
        rate = f"learning rate {lr:.3g}"
        if curvature is not None:
            rate += f"  ({lr * curvature:.3g}/L)"
        ax.set_title(f"{rate}\n{_outcome(run)}", fontsize=11)
    add_colorbar(filled, axs, label, label.endswith("log scale)"))
    if own_fig:
        head = f"{C.fun_title(f)}: gradient descent from x0 = {C.fmt_point(start)}"
        if curvature is not None:
            head += f", curvature L = {curvature:.3g}"
        if n > 2:
            head += f"\n({_slice_text(f, n, dims, center)}, through the lowest end point{why})"
        fig.suptitle(head, fontsize=12)
    return fig
