"""Pictures of learning from data: learning curves, the paths of full-batch, mini-batch
and stochastic gradient descent over a linear regression's loss, and decision boundaries
(still, and as a GIF over the epochs).

They take what :func:`descend.fit` returns (a ``FitResult``) and the data it learned
from; the regression's loss surface and its least-squares minimum are computed here in
numpy, independently of the training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import check_int, check_real
from . import _common as C
from . import _field
from ._animate import frame_rows, gif_frame, save_gif
from ._curves import CURVE_COLORS

# Class colours: the ends of the binary probability map (blue: class 0, red: class 1),
# then a qualitative cycle for more classes.
BINARY_CMAP = "RdBu_r"
CLASS_COLORS = ("#2166ac", "#b2182b", *CURVE_COLORS[2:])
BEST_COLOR = "#2ca02c"
STOP_COLOR = "#555555"


# --------------------------------------------------------------------------- inputs
def _check_fit(fit: Any, name: str = "fit") -> Any:
    if not all(hasattr(fit, a) for a in ("history", "model", "params", "best_epoch")):
        raise TypeError(
            f"{name} must be what descend.fit returns (a FitResult), got {type(fit).__name__}"
        )
    return fit


def _xy(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n x d) and ``y`` (n,) of a Dataset or an ``(X, y)`` pair."""
    if hasattr(data, "X") and hasattr(data, "y"):
        X, y = data.X, data.y
    elif isinstance(data, tuple) and len(data) == 2:
        X, y = data
    else:
        raise TypeError(f"data must be a Dataset or (X, y), got {type(data).__name__}")
    X = np.asarray(X, np.float64)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(y) == 0:
        raise ValueError(
            f"data must be X (rows x features) and y (one value per row), got shapes "
            f"{X.shape} and {y.shape}"
        )
    return X, y


def _data_name(data: Any) -> str:
    name = getattr(data, "name", None)
    return str(name) if name else "data"


def _feature_names(data: Any, d: int) -> tuple[str, ...]:
    names = tuple(getattr(data, "feature_names", ()) or ())
    return names if len(names) == d else tuple(f"x{i + 1}" for i in range(d))


def _leaves(tree: Any) -> list[np.ndarray]:
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _steps_per_epoch(fit: Any) -> int:
    """How many optimizer steps each epoch of ``fit`` took (its recorded width: a last,
    smaller batch counts as a step; 1 for full-batch training)."""
    h = fit.history
    if h.params is None:
        raise ValueError(
            "this fit has no recorded parameters: train it with ds.fit(..., record_params=True)"
        )
    rows = len(_leaves(h.params)[0])
    epochs = len(h.epoch)
    if epochs == 0 or (rows - 1) % epochs:
        raise ValueError(
            f"history.params has {rows} rows for {epochs} epochs: not the start plus whole epochs"
        )
    return (rows - 1) // epochs


def _finite(y: Any) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return np.where(np.isfinite(y), y, np.nan)


# --------------------------------------------------------------------------- learning curves
def learning_curves(fit: Any, *, ax: Any = None) -> Any:
    """Training and validation loss per epoch, the validation accuracy (classifiers) or
    R^2 (regression) beside them, and where training stopped.

    The loss axis is logarithmic when the losses span more than a decade. A dashed line
    marks the best epoch (with early stopping, the one whose parameters are returned:
    the last to improve the validation loss by more than ``min_delta``; without it, the
    epoch of the lowest validation loss, the parameters returned being the last epoch's)
    and, after early stopping, a dotted line the epoch it stopped at, with the
    epochs without improvement shaded between them.

    Args:
      fit: what :func:`descend.fit` returns.
      ax: one Axes (the metric then goes on a second y-axis on its right) or two Axes
        (loss, metric); default a new figure with a second panel for the metric when
        the fit was validated.

    Returns:
      The matplotlib Figure.
    """
    from matplotlib.ticker import MaxNLocator

    fit = _check_fit(fit)
    h = fit.history
    if len(h) == 0:
        raise ValueError("this fit ran no epochs: there is no curve to draw")
    epochs = np.asarray(h.epoch)
    metric, metric_name = None, ""
    if h.val_accuracy is not None:
        metric, metric_name = _finite(h.val_accuracy), "validation accuracy"
    elif h.val_r2 is not None:
        metric, metric_name = _finite(h.val_r2), "validation R²"
    fig, ax_loss, ax_metric, twin = _curve_axes(ax, metric is not None)

    train = _finite(h.train_loss)
    val = _finite(h.val_loss) if h.val_loss is not None else None
    dots = {"marker": "o", "ms": 3} if len(epochs) <= 40 else {}
    ax_loss.plot(epochs, train, color=CURVE_COLORS[0], lw=1.8, label="training loss", **dots)
    if val is not None:
        ax_loss.plot(epochs, val, color=CURVE_COLORS[1], lw=1.8, label="validation loss", **dots)
    shown = np.concatenate([train, val]) if val is not None else train
    if _log_worthy(shown):
        ax_loss.set_yscale("log")

    best = int(fit.best_epoch or 0)
    status = C.status_text(fit)
    stop = int(epochs[-1])
    if status == "early_stopped" and 0 < best < stop:
        ax_loss.axvspan(best, stop, color=STOP_COLOR, alpha=0.08, lw=0)
    label = f"best epoch: {best}"
    if best == 0 and val is not None and np.isfinite(val).any():
        # no early stopping: the epoch with the lowest validation loss (not restored)
        best = int(epochs[int(np.nanargmin(val))])
        label = f"lowest validation loss: {best}"
    if best > 0:
        if val is not None and best <= len(val) and np.isfinite(val[best - 1]):
            ax_loss.plot(best, val[best - 1], "o", ms=8, mfc="none", mec=BEST_COLOR, mew=2)
        ax_loss.axvline(best, color=BEST_COLOR, ls="--", lw=1.5, label=label)
    if status == "early_stopped":
        ax_loss.axvline(stop, color=STOP_COLOR, ls=":", lw=1.8, label=f"early stop: {stop}")

    ax_loss.set_ylabel("loss")
    ax_loss.set_xlabel("epoch")
    title = f"Loss: {status} after {fit.epochs} epoch{'s' if fit.epochs != 1 else ''}"
    if fit.best_epoch:
        title += f", best epoch {best}"
    ax_loss.set_title(title)
    ax_loss.grid(True, which="major", alpha=0.3)
    ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))

    if ax_metric is not None:
        _metric_limits(ax_metric, metric, metric_name)
        ax_metric.set_ylabel(metric_name)
        style = {"color": CURVE_COLORS[2], "lw": 1.8, "label": metric_name, **dots}
        if twin:
            # Drawn by the loss axes in the twin's coordinates: it is then on top of the
            # twin, and the loss axes' legend ("best") keeps clear of it as of the losses.
            ax_loss.set_zorder(ax_metric.get_zorder() + 1)
            ax_loss.patch.set_visible(False)
            ax_loss.plot(epochs, metric, ls="-.", transform=ax_metric.transData, **style)
        else:
            ax_metric.plot(epochs, metric, **style)
            if best > 0:
                ax_metric.axvline(best, color=BEST_COLOR, ls="--", lw=1.5)
            if status == "early_stopped":
                ax_metric.axvline(stop, color=STOP_COLOR, ls=":", lw=1.8)
            ax_metric.set_xlabel("epoch")
            ax_metric.grid(True, alpha=0.3)
            ax_metric.xaxis.set_major_locator(MaxNLocator(integer=True))
            title = metric_name[0].upper() + metric_name[1:]
            restored = int(fit.best_epoch or 0)  # the epoch whose parameters were returned
            if 0 < restored <= len(metric) and np.isfinite(metric[restored - 1]):
                title += f": {metric[restored - 1]:.4g} at the best epoch"
            elif np.isfinite(metric[-1]):
                title += f": {metric[-1]:.4g} at the end"
            ax_metric.set_title(title)
    ax_loss.legend(fontsize=8, framealpha=0.9, loc="best")
    return fig


def _curve_axes(ax: Any, with_metric: bool) -> tuple[Any, Any, Any, bool]:
    """(figure, loss axes, metric axes or None, whether the metric axes is a twin)."""
    if ax is None:
        if with_metric:
            fig, grid = C.new_figure(1, 2, figsize=(11.0, 4.2))
            return fig, grid[0, 0], grid[0, 1], False
        fig, grid = C.new_figure(figsize=(6.4, 4.2))
        return fig, grid[0, 0], None, False
    if hasattr(ax, "plot"):
        return ax.figure, ax, (ax.twinx() if with_metric else None), True
    axs = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axs) != 2:
        raise ValueError(f"ax must be one Axes or two (loss, metric), got {len(axs)}")
    return axs[0].figure, axs[0], (axs[1] if with_metric else None), False


def _log_worthy(values: np.ndarray) -> bool:
    """Positive values whose largest is more than ten times the smallest."""
    v = values[np.isfinite(values)]
    return bool(v.size >= 2 and v.min() > 0 and v.max() > 10 * v.min())


def _metric_limits(ax: Any, metric: np.ndarray, name: str) -> None:
    v = metric[np.isfinite(metric)]
    if not v.size:
        return
    if "accuracy" in name:
        ax.set_ylim(max(0.0, float(v.min()) - 0.05), 1.01)
    else:  # R^2: at most 1; a terrible start (R^2 of -100) would flatten the rest
        lo = max(float(v.min()), -1.0)
        ax.set_ylim(lo - 0.05 * (1 - lo), 1.02)


# --------------------------------------------------------------------------- regression paths
def regression_paths(
    data: Any,
    fits: Any,
    *,
    labels: Sequence[str] | None = None,
    ax: Any = None,
    resolution: int = 200,
    levels: int = 30,
) -> Any:
    """The classic picture: gradient descent's paths over the loss of a straight-line fit.

    For a linear regression of one feature, ``y ≈ w x + b``, the mean squared error over
    ``data`` is a bowl over the plane of the intercept ``b`` and the slope ``w``. It is
    drawn as contours (computed here in numpy; without any L2 penalty), the least-squares
    solution (``numpy.linalg.lstsq``) as a white diamond at its bottom, and each fit's
    path (``history.params``: the start, then every step) on top. Full-batch gradient
    descent follows the steepest descent smoothly; mini-batch and stochastic gradient
    descent step along noisy estimates of the gradient, and the smaller the batch the
    noisier the path.

    Args:
      data: the Dataset (or ``(X, y)``) the fits learned from, one feature.
      fits: FitResults of ``ds.fit(ds.models.linear(), data, ..., record_params=True)``:
        one, a list, or a dict ``{label: fit}``.
      labels: one legend label per fit (for a list); default from the fit: full batch,
        SGD (batch 1) or mini-batch with its steps per epoch.
      ax: a matplotlib Axes; default a new figure.
      resolution: grid points per side for the contours.
      levels: the number of contour levels.

    Returns:
      The matplotlib Figure.
    """
    from matplotlib import patheffects
    from matplotlib.colors import PowerNorm
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    X, y = _xy(data)
    if X.shape[1] != 1:
        raise ValueError(
            f"regression_paths draws a regression on one feature (b, w); this data has "
            f"{X.shape[1]} features"
        )
    y = y.astype(np.float64)
    x = X[:, 0]
    runs = _path_runs(fits, labels, len(x))
    A = np.column_stack([np.ones_like(x), x])
    b_ls, w_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    best = np.array([b_ls, w_ls])

    domain = _paths_domain([r[2] for r in runs], best)
    resolution = check_int(resolution, "resolution", minimum=2)
    B, W = np.meshgrid(
        np.linspace(domain[0, 0], domain[0, 1], resolution),
        np.linspace(domain[1, 0], domain[1, 1], resolution),
    )
    mse_min = float(np.mean((A @ best - y) ** 2))
    F = np.maximum(_mse_grid(x, y, B, W), mse_min)  # (rounding could dip below it)
    fig, ax = _field._axes_or_new(ax, (7.4, 6.6))
    # The MSE is quadratic in (b, w): levels evenly spaced in sqrt(MSE - min) are evenly
    # spaced rings around the minimum, as far out as the paths go.
    levels = check_int(levels, "levels", minimum=2)
    top = float(F.max())
    levs = mse_min + np.linspace(0.0, np.sqrt(max(top - mse_min, 1e-300)), levels) ** 2
    norm = PowerNorm(0.5, vmin=mse_min, vmax=levs[-1])
    filled = ax.contourf(B, W, F, levels=levs, cmap=C.CMAP, norm=norm)
    ax.contour(B, W, F, levels=levs, colors="white", linewidths=0.35, alpha=0.45)
    cbar = fig.colorbar(filled, ax=ax, shrink=0.9)
    cbar.set_label(f"mean squared error  (least squares: {mse_min:.4g})")
    # round ticks, and the least-squares value at the bottom (on the square-root scale,
    # a round tick within a tenth of the bar of it would collide)
    ticks = MaxNLocator(6).tick_values(mse_min, top)
    room = np.sqrt(np.maximum(ticks - mse_min, 0)) > 0.1 * np.sqrt(max(top - mse_min, 0))
    cbar.set_ticks([mse_min, *ticks[room & (ticks <= top)]])
    cbar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))

    count = len(runs)
    for i, (label, color, path, _fit) in enumerate(runs):
        p = C.visible_path(path, domain, (0, 1))
        if not len(p):
            continue
        z = 5 - i / max(count, 1)  # the first fit on top
        dots = {"marker": "o", "ms": 2.6} if len(p) <= 150 else {}
        ax.plot(
            p[:, 0],
            p[:, 1],
            "-",
            color=color,
            lw=2.0 if len(p) <= 150 else 1.2,
            label=label,
            zorder=z,
            solid_joinstyle="round",
            path_effects=C.on_white(2.0 if len(p) <= 150 else 1.2),
            **dots,
        )
        end = path[np.all(np.isfinite(path), axis=1)][-1]
        if np.all((end >= domain[:, 0]) & (end <= domain[:, 1])):
            ax.plot(*end, "*", ms=15, mfc=color, mec="black", mew=1.0, zorder=7, label="_end")
    starts = np.unique(np.asarray([r[2][0] for r in runs]), axis=0)
    ax.plot(
        starts[:, 0], starts[:, 1], "o", ms=11, mfc="white", mec="black", mew=1.4, zorder=7,
        label="_start",
    )  # fmt: skip
    # open, so a path's end star shows through; white with a dark rim on any colour
    rim = [patheffects.Stroke(linewidth=3.6, foreground="black"), patheffects.Normal()]
    lstsq_style = {
        "marker": "D", "ms": 13, "mfc": "none", "mec": "white", "mew": 2.0, "ls": "none",
        "path_effects": rim,
    }  # fmt: skip
    ax.plot([b_ls], [w_ls], zorder=8, label="_lstsq", **lstsq_style)
    _field._frame(ax, domain, ("intercept b", "slope w"))
    ax.set_ylabel("slope w", rotation=90, labelpad=4)  # upright it would crowd the ticks
    handles = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
    handles += [
        Line2D([], [], marker="o", ls="none", mfc="white", mec="black", ms=9, label="start"),
        Line2D([], [], marker="*", ls="none", mfc="white", mec="black", ms=13, label="end"),
        Line2D(
            [], [], label=f"least squares: b = {b_ls:.4g}, w = {w_ls:.4g}",
            **{**lstsq_style, "ms": 9, "mew": 1.6},
        ),
    ]  # fmt: skip
    # inside, where it covers the fewest path points (matplotlib's "best" counts them)
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)
    ax.set_title(
        f"Gradient descent on the mean squared error of {_data_name(data)} ({len(x)} rows)"
    )
    return fig


def _mse_grid(x: np.ndarray, y: np.ndarray, B: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``mean((w x + b - y)^2)`` at each ``(B, W)`` grid point, from the data's moments
    (so the grid costs nothing per row)."""
    n = len(x)
    sx, sy = x.sum() / n, y.sum() / n
    sxx, sxy, syy = (x * x).sum() / n, (x * y).sum() / n, (y * y).sum() / n
    F = W * W * sxx + 2 * W * B * sx + B * B - 2 * W * sxy - 2 * B * sy + syy
    return np.maximum(F, 0.0)


def _path_runs(
    fits: Any, labels: Sequence[str] | None, n_rows: int
) -> list[tuple[str, str, np.ndarray, Any]]:
    """(label, colour, path as (steps + 1, 2) rows of (b, w), fit) for each fit."""
    if isinstance(fits, Mapping):
        if labels is not None:
            raise ValueError("labels come from the dict's keys; give one or the other")
        labels = [str(k) for k in fits]
        items = list(fits.values())
    else:
        items = list(fits) if isinstance(fits, (list, tuple)) else [fits]
    if not items:
        raise ValueError("no fits to draw")
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(items):
            raise ValueError(f"labels has {len(labels)} entries for {len(items)} fits")
    out = []
    for i, fit in enumerate(items):
        _check_fit(fit, "each fit")
        if getattr(fit.model, "kind", None) != "linear":
            raise ValueError(f"regression_paths draws linear regressions; fit {i} is {fit.model!r}")
        h = fit.history
        if h.params is None:
            raise ValueError(
                "this fit has no recorded path: train it with ds.fit(..., record_params=True)"
            )
        w = np.asarray(h.params["w"], np.float64)
        b = np.asarray(h.params["b"], np.float64)
        if w.ndim != 2 or w.shape[1] != 1 or b.ndim != 1:
            raise ValueError(
                f"fit {i} is not a regression on one feature (w has shape {w.shape[1:]})"
            )
        path = np.column_stack([b, w[:, 0]])
        label = labels[i] if labels is not None else _batch_label(fit, n_rows)
        out.append((str(label), C.PATH_COLORS[i % len(C.PATH_COLORS)], path, fit))
    return out


def _batch_label(fit: Any, n_rows: int) -> str:
    width = _steps_per_epoch(fit)
    if width == 1:
        kind = "full batch"
    elif width == n_rows:
        kind = "SGD (batch 1)"
    else:
        kind = f"mini-batch ({width} steps/epoch)"
    return f"{kind}: {fit.steps} steps"


def _paths_domain(paths: Sequence[np.ndarray], best: np.ndarray) -> np.ndarray:
    """A window holding every path's finite points and the least-squares point, padded,
    with its narrower side widened to at least 3/4 of the other (a strip hides the bowl)."""
    pts = [best[None]]
    for p in paths:
        p = p[np.all(np.isfinite(p), axis=1)]
        if not len(p):
            continue
        # a run that blew up: its first steps only (the rest is off towards infinity)
        far = np.any(np.abs(p - best) > 1e3 * (1 + np.abs(p[:1] - best).max()), axis=1)
        pts.append(p[: int(np.argmax(far))] if far.any() else p)
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    span = np.maximum(span, 0.75 * span.max())
    mid = (lo + hi) / 2
    half = 0.5 * span * 1.18
    return np.stack([mid - half, mid + half], axis=1)


# --------------------------------------------------------------------------- decision boundary
def decision_boundary(
    fit: Any,
    data: Any,
    *,
    ax: Any = None,
    resolution: int = 200,
    params: Any = None,
) -> Any:
    """The classes a classifier of two features predicts, over the plane, with the data.

    Two classes: the probability of the second class in colour (blue 0 to red 1) and
    the decision boundary, where it is 0.5, as a black line. More classes: each
    predicted class's region in its colour and black lines where the predicted class
    changes. The points are coloured by their true class, so the misclassified ones
    stand out on the other colour.

    Args:
      fit: what :func:`descend.fit` returns, for a classifier on two features.
      data: a Dataset or ``(X, y)`` with those two features (scaled as the fit's
        training data was); y holds class indices 0..k-1.
      ax: a matplotlib Axes; default a new figure.
      resolution: grid points per side.
      params: parameters to draw instead of ``fit.params``, e.g. those at the end of
        epoch k of a fit with ``record_params=True``: row ``k * steps per epoch`` of
        each leaf of ``history.params``.

    Returns:
      The matplotlib Figure.
    """
    fit = _check_fit(fit)
    X, y = _classification_xy(fit, data)
    params = fit.params if params is None else params
    resolution = check_int(resolution, "resolution", minimum=2)
    domain = _data_domain(X)
    fig, ax = _field._axes_or_new(ax, (7.2, 5.8))
    grid = _prob_grid(fit.model, params, domain, resolution)
    classes = _class_names(fit, data, grid[2].shape[-1])
    _draw_regions(ax, *grid, colorbar=True, names=classes)
    _draw_points(ax, X, y, classes)
    _field._frame(ax, domain, _feature_names(data, 2))
    acc = _accuracy(fit.model, params, X, y)
    ax.set_title(
        f"{_data_name(data)}: {fit.model!r}\naccuracy {acc:.1%} on these {len(y)} points",
        fontsize=11,
    )
    return fig


def _classification_xy(fit: Any, data: Any) -> tuple[np.ndarray, np.ndarray]:
    if not getattr(fit.model, "is_classifier", False):
        raise ValueError(
            f"decision boundaries are for classifiers; this fit's model is {fit.model!r}"
        )
    X, y = _xy(data)
    if X.shape[1] != 2:
        raise ValueError(
            f"decision boundaries are drawn over two features; this data has {X.shape[1]}"
        )
    return X, y.astype(np.int64)


def _data_domain(X: np.ndarray) -> np.ndarray:
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    pad = 0.08 * span.max()
    return np.stack([lo - pad, hi + pad], axis=1)


def _proba(model: Any, params: Any, X: np.ndarray) -> np.ndarray:
    """Class probabilities (rows x classes) of ``X`` under ``params``."""
    import jax.numpy as jnp

    dtype = _leaves(params)[0].dtype
    out = model.apply(params, jnp.asarray(X, dtype))
    return np.asarray(model.proba_from(out), np.float64)


def _prob_grid(
    model: Any, params: Any, domain: np.ndarray, resolution: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    G1, G2 = np.meshgrid(
        np.linspace(domain[0, 0], domain[0, 1], resolution),
        np.linspace(domain[1, 0], domain[1, 1], resolution),
    )
    P = _proba(model, params, np.column_stack([G1.ravel(), G2.ravel()]))
    return G1, G2, P.reshape(*G1.shape, P.shape[-1])


def _accuracy(model: Any, params: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(_proba(model, params, X), axis=1) == y))


def _class_names(fit: Any, data: Any, k: int) -> list[str]:
    classes = getattr(fit, "classes", None) or getattr(data, "classes", None)
    if classes is not None and len(classes) == k:
        return [str(c) for c in classes]
    return [str(i) for i in range(k)]


def _draw_regions(
    ax: Any,
    G1: np.ndarray,
    G2: np.ndarray,
    P: np.ndarray,
    *,
    colorbar: bool,
    names: Sequence[str],
) -> list[Any]:
    """The probability (two classes) or predicted-class (more) colours and the boundary;
    returns the artists drawn (for an animation to remove)."""
    from matplotlib.colors import ListedColormap, to_rgb

    k = P.shape[-1]
    artists = []
    if k == 2:
        p1 = P[..., 1]
        filled = ax.contourf(G1, G2, p1, levels=np.linspace(0, 1, 21), cmap=_binary_cmap())
        artists.append(filled)
        if p1.min() < 0.5 < p1.max():
            line = ax.contour(G1, G2, p1, levels=[0.5], colors="black", linewidths=2.2)
            artists.append(line)
        if colorbar:
            cbar = ax.figure.colorbar(filled, ax=ax, shrink=0.9, ticks=np.linspace(0, 1, 6))
            cbar.set_label(f"P(class {names[1]});  black line: 0.5, the boundary")
        return artists
    codes = np.argmax(P, axis=-1)
    light = [tuple(0.55 + 0.45 * np.asarray(to_rgb(CLASS_COLORS[c % 10]))) for c in range(k)]
    filled = ax.contourf(G1, G2, codes, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(light))
    artists.append(filled)
    for c in range(k):
        ind = (codes == c).astype(float)
        if 0 < ind.mean() < 1:
            artists.append(ax.contour(G1, G2, ind, levels=[0.5], colors="black", linewidths=1.6))
    return artists


def _binary_cmap() -> Any:
    """The middle of RdBu_r (light blue, white, light red): the regions stay pale, so the
    points in the saturated class colours stand out on both."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    return ListedColormap(matplotlib.colormaps[BINARY_CMAP](np.linspace(0.3, 0.7, 256)))


def _draw_points(ax: Any, X: np.ndarray, y: np.ndarray, names: Sequence[str]) -> list[Any]:
    """The points in their true class's colour, and a legend of the classes; returns
    both (the legend: when there are at most ten classes)."""
    from matplotlib.lines import Line2D

    colors = [CLASS_COLORS[int(c) % 10] for c in y]
    dots = ax.scatter(
        X[:, 0], X[:, 1], c=colors, s=22, edgecolors="black", linewidths=0.6, zorder=5
    )
    handles = [
        Line2D(
            [], [], marker="o", ls="none", mfc=CLASS_COLORS[c % 10], mec="black", ms=7,
            label=f"class {names[c]}",
        )
        for c in sorted(set(int(v) for v in y))
    ]  # fmt: skip
    if len(handles) > 10:
        return [dots]
    return [dots, ax.legend(handles=handles, fontsize=8, framealpha=0.9, loc="upper right")]


# --------------------------------------------------------------------------- GIF
def animate_boundary(
    fit: Any,
    data: Any,
    path: Any,
    *,
    fps: float = 4,
    max_frames: int = 40,
    resolution: int = 100,
) -> str:
    """Write a GIF of the decision boundary moving as the classifier trains: one frame
    per epoch end (the start first; at most ``max_frames``, spread evenly, the last
    epoch included), beside the loss curves with the frame's epoch marked.

    Args:
      fit: a classifier on two features trained with ``ds.fit(...,
        record_params=True)``: its ``history.params`` holds the parameters after every
        step, and the frames take those at the end of each epoch.
      data: the points to draw (a Dataset or ``(X, y)``), scaled as the training data.
      path: the GIF file to write; its folder must exist and be writable.
      fps: frames per second.
      max_frames: the most frames to write.
      resolution: grid points per side.

    Returns:
      The path written, as a string.
    """
    import jax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = C.check_target(path)
    fps = check_real(fps, "fps", low=0, low_open=True)
    max_frames = check_int(max_frames, "max_frames")
    resolution = check_int(resolution, "resolution", minimum=2)
    fit = _check_fit(fit)
    X, y = _classification_xy(fit, data)
    width = _steps_per_epoch(fit)
    h = fit.history
    epochs = len(h.epoch)

    def params_at(e: int) -> Any:
        return jax.tree.map(lambda leaf: np.asarray(leaf)[e * width], h.params)

    def finite(e: int) -> bool:
        return all(bool(np.all(np.isfinite(leaf))) for leaf in _leaves(params_at(e)))

    usable = [e for e in range(epochs + 1) if finite(e)]
    if not usable:
        raise ValueError("no epoch of this fit has finite parameters to draw")
    chosen = [usable[i] for i in frame_rows(len(usable), max_frames)]

    # The grid and the points in one compiled call per frame.
    domain = _data_domain(X)
    G1, G2 = np.meshgrid(
        np.linspace(domain[0, 0], domain[0, 1], resolution),
        np.linspace(domain[1, 0], domain[1, 1], resolution),
    )
    points = np.concatenate([np.column_stack([G1.ravel(), G2.ravel()]), X])
    model = fit.model
    proba = jax.jit(lambda p, Z: model.proba_from(model.apply(p, Z)))
    dtype = _leaves(fit.params)[0].dtype

    def frame_data(e: int) -> tuple[np.ndarray, float]:
        P = np.asarray(proba(params_at(e), points.astype(dtype)), np.float64)
        grid, at_points = P[: G1.size], P[G1.size :]
        acc = float(np.mean(np.argmax(at_points, axis=1) == y))
        return grid.reshape(*G1.shape, P.shape[-1]), acc

    fig = Figure(figsize=(10.5, 4.6), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax_loss = fig.subplots(1, 2, width_ratios=(1.2, 1))
    P0, acc0 = frame_data(chosen[0])
    names = _class_names(fit, data, P0.shape[-1])
    regions = _draw_regions(ax, G1, G2, P0, colorbar=True, names=names)
    on_top = _draw_points(ax, X, y, names)
    _field._frame(ax, domain, _feature_names(data, 2))

    ep = np.asarray(h.epoch)
    growing = _growing_loss(ax_loss, fit)
    now = ax_loss.axvline(0, color="black", lw=1.2, ls="--")
    title = ax.set_title(_frame_title(data, chosen[-1], epochs, acc0))

    # Blitting: the still parts are drawn once; each frame redraws only what moves, in
    # order (the regions under the points, the legend on top).
    for a in [*regions, *on_top, title, now, *(g for g, _ in growing)]:
        a.set_animated(True)
    fig.canvas.draw()
    fig.set_layout_engine("none")  # keep the first frame's layout
    background = fig.canvas.copy_from_bbox(fig.bbox)

    frames = []
    for i, e in enumerate(chosen):
        if i:
            for a in regions:
                a.remove()
            P, acc = frame_data(e)
            regions = _draw_regions(ax, G1, G2, P, colorbar=False, names=names)
            for a in regions:
                a.set_animated(True)
        else:
            acc = acc0
        title.set_text(_frame_title(data, e, epochs, acc))
        for g, values in growing:
            g.set_data(ep[:e], values[:e])
        now.set_xdata([e, e])
        fig.canvas.restore_region(background)
        for a in [*regions, *on_top, title]:
            ax.draw_artist(a)
        for a in [now, *(g for g, _ in growing)]:
            ax_loss.draw_artist(a)
        frames.append(gif_frame(fig))
    return save_gif(frames, target, fps)


def _growing_loss(ax: Any, fit: Any) -> list[tuple[Any, np.ndarray]]:
    """The animation's loss panel: each loss in full, faint, and an empty line over it to
    grow frame by frame; returns (line, values) for each."""
    h = fit.history
    ep = np.asarray(h.epoch)
    curves = [("training loss", _finite(h.train_loss), CURVE_COLORS[0])]
    if h.val_loss is not None:
        curves.append(("validation loss", _finite(h.val_loss), CURVE_COLORS[1]))
    growing = []
    for label, values, color in curves:
        ax.plot(ep, values, color=color, lw=1.4, alpha=0.3)
        (line,) = ax.plot([], [], color=color, lw=2, label=label)
        growing.append((line, values))
    if _log_worthy(np.concatenate([v for _, v, _ in curves])):
        ax.set_yscale("log")
    ax.set_xlim(0, max(1, len(ep)))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"Loss ({C.status_text(fit)} after {fit.epochs} epochs)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return growing


def _frame_title(data: Any, epoch: int, epochs: int, acc: float) -> str:
    return f"{_data_name(data)}: epoch {epoch}/{epochs}, accuracy {acc:.1%}"
