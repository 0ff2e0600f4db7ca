"""A 3-D surface of f(x, y) with a run's path lying on it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_int
from . import _common as C


def surface(
    fun: Any,
    run: Any = None,
    *,
    domain: Any = None,
    ax: Any = None,
    resolution: int = 80,
) -> Any:
    """The graph z = f(x, y) as a 3-D surface, with the path at height f along it.

    Args:
      fun: a callable of a length-2 array, a built-in name or a formula.
      run: a Result (or a list of them / a BatchResult) with ``history=True``; optional.
      domain: ``((xmin, xmax), (ymin, ymax))``; default as in :func:`contour`.
      ax: a 3-D Axes (``fig.add_subplot(projection="3d")``); default a new figure.
      resolution: grid points per axis.

    Returns:
      The matplotlib Figure.
    """
    resolution = check_int(resolution, "resolution", minimum=2)
    rs = C.as_runs(run)
    f, d = C.plane(fun, rs, domain, "surface", "descend.plot.slice_path or trajectories")
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(7.4, 6.0), layout="constrained")
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError('surface needs a 3-D Axes: fig.add_subplot(projection="3d")')
    fig = ax.figure
    X, Y, Z = C.grid(f, d, resolution)
    zlo, zhi = float(np.nanmin(Z)), float(np.nanmax(Z))
    ax.plot_surface(
        X,
        Y,
        Z,
        cmap=C.CMAP,
        alpha=0.72,
        linewidth=0,
        antialiased=True,
        rcount=resolution,
        ccount=resolution,
        zorder=1,
    )
    # Paths drawn after the surface stay visible: no depth sorting against it.
    ax.computed_zorder = False
    for r in rs:
        p = C.visible_path(r.path, d, (0, 1))
        p = p[np.all((p >= d[:, 0]) & (p <= d[:, 1]), axis=1)]
        if not len(p):
            continue
        z = C.evaluate(f, p)
        ax.plot(
            p[:, 0],
            p[:, 1],
            z,
            "-o",
            color=r.color,
            lw=2.0,
            ms=3,
            zorder=5,
            markevery=max(1, len(p) // 60),
            label=r.label,
        )
        ax.plot([p[0, 0]], [p[0, 1]], [z[0]], "o", ms=9, mfc=r.color, mec="black", zorder=6)
        ax.plot(
            [p[-1, 0]],
            [p[-1, 1]],
            [z[-1]],
            "*" if r.success else "X",
            ms=14,
            mfc=r.color,
            mec="black",
            zorder=6,
        )
    ax.set_xlim(d[0])
    ax.set_ylim(d[1])
    ax.set_zlim(zlo, zhi if zhi > zlo else zlo + 1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("f(x, y)")
    ax.set_title(C.fun_title(f))
    ax.view_init(elev=35, azim=-60)
    if 0 < len(rs) <= 8:
        ax.legend(fontsize=8, loc="upper left")
    return fig
