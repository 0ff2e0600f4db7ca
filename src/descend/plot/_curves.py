"""Curves over the steps and over learning rates: loss, gradient norm, parameters."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _common as C

# Parameters and sweep starts (not runs: those wear C.PATH_COLORS) use matplotlib's
# default cycle, which reads on white axes.
CURVE_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _axes(axes: Any, count: int, figsize: tuple[float, float], vertical: bool = False) -> tuple:
    """``count`` axes: the caller's (checked) or a new figure's."""
    if axes is None:
        rows, cols = (count, 1) if vertical else (1, count)
        fig, grid = C.new_figure(rows, cols, figsize=figsize, sharex=vertical)
        return fig, list(np.ravel(grid))
    axs = list(np.ravel(axes)) if not hasattr(axes, "plot") else [axes]
    if len(axs) != count:
        raise ValueError(f"axes must hold {count} Axes here, got {len(axs)}")
    return axs[0].figure, axs


def _legend(ax: Any, count: int) -> None:
    if 0 < count <= 12:  # beyond that a legend hides the picture
        ax.legend(fontsize=8, framealpha=0.85)


def loss_curves(
    runs: Any,
    *,
    labels: Sequence[str] | None = None,
    axes: Any = None,
    grad_norm: bool = True,
) -> Any:
    """f and the gradient norm against the step, on log scales, for one or many runs.

    f is drawn as it is when it stays positive, else as f - min f over all runs (a log
    scale needs positive values). Straight lines on these axes are linear convergence;
    their slope is the rate.

    Args:
      runs: a Result, a BatchResult (all its runs) or a list of them, with history.
      labels: one legend label per run; default ``"{status}, {nit} steps"`` (prefixed by
        the learning rate for a learning-rate grid).
      axes: two Axes (f, gradient norm), or one when ``grad_norm=False``; default a new
        figure.
      grad_norm: draw the gradient norm panel.

    Returns:
      The matplotlib Figure.
    """
    rs = _runs_with_f(runs, labels)
    fig, axs = _axes(axes, 2 if grad_norm else 1, (11.0, 4.2) if grad_norm else (6.2, 4.2))
    scale, ylabel = C.loss_scale(np.concatenate([r.fun for r in rs]))
    style = {"lw": 1.6, "path_effects": C.on_white(1.6)}
    for r in rs:
        axs[0].plot(r.steps, _finite(scale(r.fun)), color=r.color, label=r.label, **style)
    axs[0].set_yscale("log")
    axs[0].set_ylabel(ylabel)
    axs[0].set_title("Loss")
    if grad_norm:
        for r in rs:
            g = r.grad_norm
            if g is not None:
                axs[1].plot(r.steps, _finite(g), color=r.color, label=r.label, **style)
        axs[1].set_yscale("log")
        axs[1].set_ylabel("‖∇f‖")
        axs[1].set_title("Gradient norm")
    for ax in axs:
        ax.set_xlabel("step")
        ax.grid(True, which="major", alpha=0.3)
    _legend(axs[0], len(rs))
    return fig


def _runs_with_f(runs: Any, labels: Sequence[str] | None) -> list[C.Run]:
    """Like :func:`C.as_runs`, but a run only needs f recorded, not x."""
    rs = C.as_runs(runs, labels, paths=False)
    if not rs:
        raise ValueError("no runs to draw")
    for r in rs:
        if r.result.history is None or r.result.history.fun is None:
            raise ValueError("this run has no recorded f: run it with history=True")
    return rs


def _finite(y: np.ndarray) -> np.ndarray:
    """inf and nan become gaps (a log axis cannot place them)."""
    y = np.asarray(y, np.float64)
    return np.where(np.isfinite(y) & (y > 0), y, np.nan)


def trajectories(run: Any, *, names: Sequence[str] | None = None, axes: Any = None) -> Any:
    """Each parameter's value against the step, and f on a second panel.

    The picture for more than two parameters, where no contour plot can show the path.
    Dashed lines mark a test function's known minimum nearest the end point.

    Args:
      run: a Result recorded with ``history=True``.
      names: one name per parameter; default x, y, z (three or fewer), a formula's own
        names, or w1..wn.
      axes: two Axes (parameters, f); default a new figure.

    Returns:
      The matplotlib Figure.
    """
    rs = C.as_runs(run)
    if len(rs) != 1:
        raise ValueError(f"trajectories draws one run, got {len(rs)}")
    r = rs[0]
    n = r.path.shape[1]
    fun = getattr(r.result.objective, "fun", None)
    names = tuple(names) if names is not None else C.variable_names(n, fun)
    if len(names) != n:
        raise ValueError(f"names must have one entry per parameter ({n}), got {len(names)}")
    fig, axs = _axes(axes, 2, (8.0, 6.4), vertical=True)
    steps = r.steps
    target = _nearest_minimum(fun, n, r.path)
    for i in range(n):
        color = CURVE_COLORS[i % 10]
        axs[0].plot(steps, r.path[:, i], color=color, lw=1.8, label=names[i])
        if target is not None and n <= 10:
            axs[0].axhline(target[i], color=color, ls="--", lw=0.9, alpha=0.7)
    axs[0].set_ylabel("value")
    title = f"Parameters ({C.status_text(r.result)}, {r.result.nit} steps)"
    if target is not None and n <= 10:
        title += "; dashed: the known minimum"
    axs[0].set_title(title)
    if n <= 10:
        axs[0].legend(fontsize=9, ncols=min(n, 5), framealpha=0.85)
    f = r.fun
    y, ylabel = C.loss_values(f)
    axs[1].plot(steps, _finite(y), color="black", lw=1.6)
    axs[1].set_yscale("log")
    axs[1].set_ylabel(ylabel)
    axs[1].set_xlabel("step")
    axs[1].set_title("Loss")
    for ax in axs:
        ax.grid(True, alpha=0.3)
    return fig


def _nearest_minimum(fun: Any, n: int, path: np.ndarray) -> np.ndarray | None:
    minima = C.known_minima(fun, n)
    p = path[np.all(np.isfinite(path), axis=1)]
    if not minima or not len(p):
        return None
    return min((x for x, _ in minima), key=lambda x: float(np.linalg.norm(x - p[-1])))


def sweep(batch: Any, *, ax: Any = None) -> Any:
    """Final loss against learning rate (log-log) for a learning-rate grid.

    Draws each start (or, above eight starts, the median with the 25-75% band), and red
    crosses at the top of the axis where runs diverged or hit inf/nan. The usual shape:
    too small rates end high (slow), the loss drops, then blows up past 2/L.

    Args:
      batch: a BatchResult from ``minimize_batch(..., learning_rates=...)``.
      ax: a matplotlib Axes; default a new figure.

    Returns:
      The matplotlib Figure.
    """
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    lrs = getattr(batch, "learning_rates", None)
    fun = np.asarray(getattr(batch, "fun", None), dtype=np.float64)
    if lrs is None or fun.ndim != 2:
        raise ValueError(
            "sweep needs a BatchResult from a learning-rate grid: "
            "minimize_batch(fun, starts, optimizer, learning_rates=[...])"
        )
    lrs = np.asarray(lrs, np.float64)
    status = np.vectorize(lambda s: str(getattr(s, "value", s)), otypes=[object])(batch.status)
    bad = np.isin(status, C.FAILED) | ~np.isfinite(fun)
    values, ylabel = C.loss_values(np.where(bad, np.nan, fun), "final f")
    values = np.where(bad, np.nan, values)
    values = np.where(values > 0, values, np.nan)
    if ax is None:
        fig, grid = C.new_figure(figsize=(6.6, 4.6))
        ax = grid[0, 0]
    else:
        fig = ax.figure
    order = np.argsort(lrs)
    x = lrs[order]
    starts = fun.shape[0]
    handles = []
    if starts <= 8:
        for i in range(starts):
            (h,) = ax.plot(
                x,
                values[i, order],
                "o-",
                color=CURVE_COLORS[i % 10],
                lw=1.4,
                ms=4,
                alpha=0.9 if starts == 1 else 0.6,
                label=f"start {i}",
            )
            handles.append(h)
    if starts > 1:
        with warnings.catch_warnings():  # a learning rate where every run diverged: a gap
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(values[:, order], axis=0)
            lo = np.nanpercentile(values[:, order], 25, axis=0)
            hi = np.nanpercentile(values[:, order], 75, axis=0)
        if starts > 8:
            ax.fill_between(x, lo, hi, color="#1f77b4", alpha=0.25, lw=0)
        (h,) = ax.plot(
            x,
            med,
            "o-",
            color="black",
            lw=2.2,
            ms=4,
            label=f"median of {starts} starts" + (" (band: 25-75%)" if starts > 8 else ""),
        )
        handles.append(h)
    ax.set_xscale("log")
    ax.set_yscale("log")
    failed = bad[:, order].sum(axis=0)
    shown = values[np.isfinite(values)]
    if failed.any() and shown.size:
        # headroom: the top strip of the axis holds the crosses, clear of the curves
        lo, hi = np.log10(shown.min()), np.log10(shown.max())
        ax.set_ylim(10 ** (lo - 0.3), 10 ** (hi + 0.25 * max(hi - lo, 1.0) + 0.3))
    if failed.any():
        top = blended_transform_factory(ax.transData, ax.transAxes)
        cols = np.nonzero(failed)[0]
        ax.plot(
            x[cols],
            np.full(cols.size, 0.95),
            "x",
            color="red",
            ms=11,
            mew=2.5,
            transform=top,
            clip_on=False,
            zorder=5,
        )
        if starts > 1:  # how many of the starts failed at that rate
            for c in cols:
                ax.text(
                    x[c],
                    0.90,
                    f"{failed[c]}/{starts}",
                    transform=top,
                    ha="center",
                    va="top",
                    fontsize=7,
                    color="red",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
                )
        handles.append(
            Line2D(
                [],
                [],
                marker="x",
                ls="none",
                color="red",
                ms=9,
                mew=2.5,
                label="diverged / inf or nan",
            )
        )
    ax.set_xlabel("learning rate")
    ax.set_ylabel(ylabel)
    ax.set_title("Final loss against learning rate")
    ax.grid(True, which="major", alpha=0.3)
    if handles:
        ax.legend(handles=handles, fontsize=8, framealpha=0.85, loc="lower left")
    return fig
