"""``descend demo``: the seed's worked example end to end, with pictures.

The seed notes minimize a quadratic loss in three variables by gradient descent. The
demo follows them: the loss, its partial derivatives and gradient at the start, the
update rule with the first step done by hand, the first and last steps of the run, why
it stopped, what the learning rate does, and four pictures. Then the same descent
learns from data: a straight line fitted to 100 points by full-batch, mini-batch and
stochastic gradient descent from one start, drawn as paths over the loss in the plane
of (intercept, slope). It is kept small (one run, one small batch, three tiny fits, five
figures) so it finishes in a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LEARNING_RATE = 0.1
GTOL = 1e-8
# The learning rates contrasted in the text: too small, good, near the edge, too large.
CONTRAST = (0.01, 0.1, 0.3, 0.4)
CONTRAST_STEPS = 100
NAMES = ("w1", "w2", "w3")
# Learning from data: y = w x + b on the "line" set, from one start, 100 steps each.
DATA_START = (-3.0, -2.0)  # (b, w)
DATA_LR = 0.05
DATA_STEPS = 100
DATA_BATCHES = (("full batch", None), ("mini-batch of 10", 10), ("SGD (batch 1)", 1))
PATHS_PNG = "demo_sgd_paths.png"

WHY = {
    "gtol": "the gradient norm fell below gtol: the ground is flat here, and on this "
    "convex bowl a flat point is the minimum",
    "xtol": "the steps became shorter than xtol: x stopped moving",
    "ftol": "L changed by less than ftol in one step: the loss stopped improving",
    "max_steps": "the step limit came first: the run had not converged yet",
    "diverged": "L grew instead of shrinking: the learning rate is too large",
    "nonfinite": "L or its gradient became inf or nan: the steps blew up",
    "unbounded": "L fell without end: it has no minimum that way",
    "interrupted": "you pressed Ctrl-C",
    "stopped": "a callback stopped the run",
}


def run_demo(con: Any, folder: Path) -> int:
    import numpy as np

    import descend as ds

    seed_quadratic = ds.functions.get("seed-quadratic")

    from .report import lr_text, num, sci, steps_table, vector

    p = lambda *a: con.print(*a, soft_wrap=True)  # noqa: E731
    w0 = np.zeros(3)
    p("descend demo: gradient descent on the seed's quadratic loss, step by step\n")

    p("1. The loss, a function of three variables:")
    p("     L(w) = (w1 - 1)^2 + 2 (w2 + 2)^2 + 3 (w3 - 0.5)^2")
    p("   Each square is 0 at w = (1, -2, 0.5), so that is the minimum, L = 0.\n")

    p("2. The gradient is the vector of partial derivatives:")
    p("     dL/dw1 = 2 (w1 - 1),  dL/dw2 = 4 (w2 + 2),  dL/dw3 = 6 (w3 - 0.5)")
    partials = ds.partials(seed_quadratic, w0, names=NAMES)
    g = np.array(list(partials.values()))
    p(f"   At the start w0 = (0, 0, 0), where L(w0) = {float(seed_quadratic(w0)):g}:")
    p("     " + ",  ".join(f"dL/d{k} = {v:g}" for k, v in partials.items()))
    p(f"     grad L(w0) = ({', '.join(f'{v:g}' for v in g)}),  |grad| = {np.linalg.norm(g):.4g}")
    p("   The gradient points uphill (steepest increase); descent steps the other way.\n")

    first = w0 - LEARNING_RATE * g
    p(f"3. The update rule: w <- w - eta * grad L(w), with learning rate eta = {LEARNING_RATE}")
    p(
        f"   First step by hand: w1 = (0, 0, 0) - {LEARNING_RATE} * "
        f"({', '.join(f'{v:g}' for v in g)}) = ({', '.join(f'{v:g}' for v in first)})\n"
    )

    res = ds.minimize(seed_quadratic, w0, ds.gd(LEARNING_RATE), gtol=GTOL, max_steps=1000)
    p(f"4. Gradient descent, repeated until |grad| <= {GTOL:g} (first and last steps):")
    con.print(steps_table(res.history, NAMES))

    p(f"5. It stopped after {res.nit} steps: {res.message}")
    p(f"   Why: {WHY.get(res.status.value, res.status.value)}.")
    p(f"   x = {vector(res.x)},  L(x) = {sci(res.fun, 4)}\n")

    p(f"6. The learning rate matters (same start, at most {CONTRAST_STEPS} steps):")
    batch = ds.minimize_batch(
        seed_quadratic,
        w0[None],
        ds.gd,
        learning_rates=CONTRAST,
        gtol=GTOL,
        max_steps=CONTRAST_STEPS,
    )
    for j, lr in enumerate(CONTRAST):
        r = batch[0, j]
        p(
            f"     lr {lr_text(lr):<5} -> {r.status.value:<9} after {r.nit:>3} steps, "
            f"L = {sci(r.fun, 3)}"
        )
    eig = np.linalg.eigvalsh(np.asarray(ds.hessian(seed_quadratic)(w0)))
    L = float(eig[-1])
    p(
        f"   The Hessian's eigenvalues are {', '.join(num(e, 0) for e in eig)}; gradient "
        f"descent converges for lr < 2/{L:g} = {2 / L:.4g} and is fastest near 1/{L:g}.\n"
    )

    p(f"7. Pictures, in {folder}/:")
    for name, what in _pictures(folder, res, w0):
        p(f"     {name:<20} {what}")
    p("")
    _learning_from_data(p, folder)
    return 0


def _learning_from_data(p: Any, folder: Path) -> None:
    """Section 8: full-batch, mini-batch and stochastic gradient descent fit a line, from
    the same start and for the same number of steps, and the picture of their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import descend as ds
    from descend import plot

    data = ds.data.load("line")
    n = len(data.y)
    b0, w0 = DATA_START
    p("8. Learning from data: the same descent fits a line y = w x + b to the 100 points")
    p(
        f"   of 'line' (y = {ds.data.LINE_SLOPE:g} x + {ds.data.LINE_INTERCEPT:g} + noise), "
        "minimizing the mean squared error over (b, w):"
    )
    p("     L(b, w) = (1/n) sum_i (w x_i + b - y_i)^2")
    p(f"   From (b, w) = ({b0:g}, {w0:g}), learning rate {DATA_LR}, {DATA_STEPS} steps each;")
    p("   a step's gradient comes from all rows (full batch), 10 (mini-batch) or one (SGD):")
    x, y = data.X[:, 0], data.y
    fits = {}
    for label, batch in DATA_BATCHES:
        per_epoch = 1 if batch is None else -(-n // batch)
        fit = ds.fit(
            ds.models.linear(),
            data,
            ds.gd(DATA_LR),
            params={"w": np.array([w0]), "b": np.array(b0)},
            batch_size=batch,
            epochs=DATA_STEPS // per_epoch,
            gtol=0,
            dtype="float64",
            record_params=True,
        )
        fits[label] = fit
        b, w = float(fit.params["b"]), float(fit.params["w"][0])
        how = f"{_count(fit.epochs, 'epoch')} x {_count(per_epoch, 'step')}"
        p(f"     {label:<17} {how:<22} -> {_line_text(b, w, x, y)}")
    b_ls, w_ls = np.linalg.lstsq(np.column_stack([np.ones(n), x]), y, rcond=None)[0]
    p(f"     {'least squares':<17} {'(numpy.linalg.lstsq)':<22} -> {_line_text(b_ls, w_ls, x, y)}")
    p("   Full batch follows the exact gradient: a smooth path. A mini-batch or a single row")
    p("   only estimates it, so SGD's path zigzags and keeps jittering at the end; all three")
    p("   end at (SGD: around) the least-squares line.")
    fig = plot.regression_paths(data, fits)
    plot.save(fig, str(folder / PATHS_PNG))
    plt.close(fig)
    p(f"     {PATHS_PNG:<20} the three paths over the contours of L(b, w)")


def _pictures(folder: Path, res: Any, w0: Any) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from descend import plot

    label = f"gd lr={LEARNING_RATE}"
    figures = [
        (
            "learning_rates.png",
            "paths on the contours for too small, good and too large learning rates",
            lambda: plot.learning_rates("seed-quadratic", w0),
        ),
        (
            "trajectories.png",
            "w1, w2, w3 against the step: each settles at its minimum",
            lambda: plot.trajectories(res, names=list(NAMES)),
        ),
        (
            "slice.png",
            "the path over contours of L in the (w1, w2) plane",
            lambda: plot.slice_path("seed-quadratic", res, dims=(0, 1)),
        ),
        ("loss.png", "the loss curve (log scale)", lambda: plot.loss_curves([res], labels=[label])),
    ]
    written = []
    for name, what, draw in figures:
        fig = draw()
        plot.save(fig, str(folder / name))
        plt.close(fig)
        written.append((name, what))
    return written


def _line_text(b: float, w: float, x: Any, y: Any) -> str:
    """``b = 1.945, w = 3.055, L = 0.9106``: a line and its mean squared error."""
    import numpy as np

    return f"b = {b:.3f}, w = {w:.3f}, L = {float(np.mean((w * x + b - y) ** 2)):.4f}"


def _count(k: int, word: str) -> str:
    return f"{k} {word}{'s' if k != 1 else ''}"
