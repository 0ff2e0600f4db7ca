"""A GIF of gradient descent: paths moving on the contour, the loss curve growing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import check_int, check_real
from .._objective import as_function
from . import _common as C
from . import _field


def frame_rows(n_rows: int, max_frames: int) -> np.ndarray:
    """Which history rows become frames: evenly spread, first and last included, at most
    ``max_frames`` and never the same row twice."""
    count = min(int(max_frames), int(n_rows))
    return np.unique(np.round(np.linspace(0, n_rows - 1, count)).astype(int))


def gif_frame(fig: Any) -> Any:
    """The figure's canvas as it is drawn now, a palette image for a GIF."""
    from PIL import Image

    rgba = np.asarray(fig.canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy()).quantize(colors=255)


def save_gif(frames: list, target: Any, fps: float) -> Any:
    """``frames`` as a looping GIF at ``fps`` frames per second; returns ``target``."""
    duration = max(20, int(round(1000 / float(fps))))
    frames[0].save(
        target, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0
    )
    return target


def animate(
    fun: Any,
    runs: Any,
    path: Any,
    *,
    domain: Any = None,
    fps: float = 10,
    max_frames: int = 60,
    labels: Sequence[str] | None = None,
) -> str:
    """Write a GIF of the run(s): the path moving on the contour plot (left) and the
    loss curve growing (right).

    Steps are subsampled evenly to at most ``max_frames`` frames (first and last
    included). Functions of more than two variables are drawn on the slice through the
    best run's end point over the first two coordinates.

    Args:
      fun: a callable, built-in name or formula.
      runs: a Result, a BatchResult or a list of them, with ``history=True``.
      path: the GIF file to write; its folder must exist and be writable.
      domain: ``((xmin, xmax), (ymin, ymax))``; default as in :func:`contour`.
      fps: frames per second.
      max_frames: the most frames to write.
      labels: one legend label per run.

    Returns:
      The path written, as a string.

    Raises:
      ValueError: naming the path, when its folder is missing or not writable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = C.check_target(path)
    fps = check_real(fps, "fps", low=0, low_open=True)
    max_frames = check_int(max_frames, "max_frames")
    f = as_function(fun)
    rs = C.as_runs(runs, labels)
    if not rs:
        raise ValueError("animate needs at least one run with a recorded path")
    n = C.fun_dim(f, rs)
    dims = (0, 1)
    center = None
    if n > 2:
        finals = [r.fun[np.isfinite(r.fun)][-1] if np.isfinite(r.fun).any() else np.inf for r in rs]
        best = rs[int(np.argmin(finals))]
        center = best.path[np.all(np.isfinite(best.path), axis=1)][-1]
    d = C.check_domain(domain) if domain is not None else C.default_domain(f, n, dims, rs)

    # A figure outside pyplot: no window opens and nothing is left in pyplot's registry.
    fig = Figure(figsize=(10.5, 4.4), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax_loss = fig.subplots(1, 2, width_ratios=(1.15, 1))
    _field.panel(
        ax, f, [], n=n, dims=dims, center=center, domain=d, resolution=120, show_legend=False
    )
    slice_note = f"\n{_field._slice_text(f, n, dims, center)}" if n > 2 else ""
    ax.set_title(C.fun_title(f) + slice_note, fontsize=11)
    scale, ylabel = C.loss_scale(np.concatenate([r.fun for r in rs]))
    moving = []
    for r in rs:
        p = C.visible_path(r.path, d, dims)
        y = scale(r.fun)
        y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
        (line,) = ax.plot([], [], "-o", color=r.color, lw=1.6, ms=3, zorder=4, label=r.label)
        (head,) = ax.plot([], [], "o", ms=9, mfc=r.color, mec="black", zorder=6)
        (curve,) = ax_loss.plot(
            [], [], color=r.color, lw=1.8, label=r.label, path_effects=C.on_white(1.8)
        )
        moving.append((r, p, y, line, head, curve))
    _loss_frame(ax_loss, rs, [m[2] for m in moving], ylabel)
    if len(rs) <= 8:
        ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
    counter = ax_loss.text(
        0.98,
        0.95,
        "",
        transform=ax_loss.transAxes,
        ha="right",
        va="top",
        fontsize=11,
        family="monospace",
    )

    n_rows = max(len(r.path) for r in rs)
    longest = max(rs, key=lambda r: len(r.path))
    frames = []
    for row in frame_rows(n_rows, max_frames):
        for r, p, y, line, head, curve in moving:
            k = min(row, len(r.path) - 1) + 1  # rows shown of this run (it may have stopped)
            shown = p[: min(k, len(p))]
            line.set_data(shown[:, 0], shown[:, 1])
            head.set_data(shown[-1:, 0], shown[-1:, 1])
            curve.set_data(r.steps[:k], y[:k])
        counter.set_text(f"step {int(longest.steps[row])}")
        fig.canvas.draw()
        frames.append(gif_frame(fig))
    return save_gif(frames, target, fps)


def _loss_frame(ax: Any, rs: Sequence[C.Run], ys: Sequence[np.ndarray], ylabel: str) -> None:
    """Fixed limits for the loss panel, so the curve grows into a still frame."""
    steps = np.concatenate([r.steps for r in rs])
    vals = np.concatenate([y[np.isfinite(y)] for y in ys])
    ax.set_xlim(0, max(1, int(steps.max())))
    ax.set_yscale("log")
    if vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        if hi <= lo:
            lo, hi = lo / 10, hi * 10
        ax.set_ylim(lo / 3, hi * 3)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title("Loss")
    ax.grid(True, alpha=0.3)
