"""Basins of attraction: which minimum gradient descent reaches from each start."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _common as C

# Distinct, medium-light colours so the black minimum markers and numbers read on them.
BASIN_COLORS = (
    "#8dd3c7",
    "#fdb462",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#b3de69",
    "#fccde5",
    "#ffffb3",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
    "#1f78b4",
)
NOT_CONVERGED = "#9a9a9a"


def basins(result: Any, *, ax: Any = None) -> Any:
    """An image of a :class:`descend.landscape.Basins`: each grid start coloured by the
    minimum it reached, grey where the run did not converge; minima marked and numbered,
    the legend naming each one's coordinates and f.

    Args:
      result: what :func:`descend.basins` returns.
      ax: a matplotlib Axes; default a new figure.

    Returns:
      The matplotlib Figure.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    labels = np.asarray(getattr(result, "labels", None))
    xs, ys = np.asarray(getattr(result, "xs", [])), np.asarray(getattr(result, "ys", []))
    if labels.ndim != 2 or labels.shape != (ys.size, xs.size):
        raise ValueError("basins needs a descend Basins result (from descend.basins(...))")
    minima = list(result.minima)
    k = len(minima)
    colors = [NOT_CONVERGED] + [BASIN_COLORS[i % len(BASIN_COLORS)] for i in range(k)]
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(-1.5, k, 1.0), cmap.N)
    if ax is None:
        fig, grid = C.new_figure(figsize=(8.6, 5.6))
        ax = grid[0, 0]
    else:
        fig = ax.figure
    # pixel edges half a step outside the first and last starts: each start is a pixel
    dx = (xs[-1] - xs[0]) / max(xs.size - 1, 1)
    dy = (ys[-1] - ys[0]) / max(ys.size - 1, 1)
    extent = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
    ax.imshow(
        labels,
        origin="lower",
        extent=extent,
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        aspect="auto",
    )
    handles = []
    for i, m in enumerate(minima):
        x = np.asarray(m.x, np.float64)
        kind = "" if m.kind == "minimum" else f" ({m.kind})"
        handles.append(
            Patch(
                facecolor=colors[i + 1],
                edgecolor="black",
                lw=0.6,
                label=f"{i}: {C.fmt_point(x, 4)}, f = {m.fun:.4g}{kind}",
            )
        )
        if extent[0] <= x[0] <= extent[1] and extent[2] <= x[1] <= extent[3]:
            ax.plot(x[0], x[1], "o", ms=15, mfc="white", mec="black", mew=1.2, zorder=4)
            ax.text(
                x[0],
                x[1],
                str(i),
                ha="center",
                va="center",
                fontsize=9,
                fontweight="bold",
                zorder=5,
            )
    missed = int(np.sum(labels < 0))
    if missed:
        handles.append(
            Patch(
                facecolor=NOT_CONVERGED,
                edgecolor="black",
                lw=0.6,
                label=f"not converged ({missed} starts)",
            )
        )
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    w, h = extent[1] - extent[0], extent[3] - extent[2]
    if 0.25 <= h / w <= 4:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x")
    ax.set_ylabel("y", rotation=0, labelpad=8)
    ax.set_title(f"Basins of attraction: {k} end points from {labels.size} starts")
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=8,
        title="reached minimum",
        title_fontsize=9,
        frameon=False,
    )
    return fig
