"""The seed's worked example: a quadratic loss in three variables, minimized by GD.

Run with ``python -m descend`` (or ``make demo``).
"""

from __future__ import annotations

import sys
from typing import TextIO


def seed_quadratic(w):  # type: ignore[no-untyped-def]
    """L(w) = (w1 - 1)^2 + 2 (w2 + 2)^2 + 3 (w3 - 0.5)^2, minimum 0 at (1, -2, 0.5)."""
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


def run(out: TextIO = sys.stdout, learning_rate: float = 0.1) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import descend as ds

    p = lambda *a: print(*a, file=out)  # noqa: E731
    w0 = jnp.zeros(3)
    p("descend demo: gradient descent on the seed's quadratic")
    p("  L(w) = (w1 - 1)^2 + 2 (w2 + 2)^2 + 3 (w3 - 0.5)^2     minimum 0 at w = (1, -2, 0.5)")
    g = jax.grad(seed_quadratic)(w0)
    p(f"  start w0 = {np.asarray(w0).tolist()},  L(w0) = {float(seed_quadratic(w0)):g}")
    p(
        "  partial derivatives at w0: "
        + ", ".join(f"dL/dw{i + 1} = {float(v):g}" for i, v in enumerate(g))
        + "  (the gradient points uphill)"
    )
    p(f"  update rule: w <- w - {learning_rate} * grad L(w)\n")
    res = ds.minimize(
        seed_quadratic, w0, ds.gd(learning_rate=learning_rate), gtol=1e-8, max_steps=1000
    )
    h = res.history
    head = ("step", "w1", "w2", "w3", "L(w)", "|grad|", "step size")
    p("  {:>4}  {:>10} {:>10} {:>10}  {:>12}  {:>10}  {:>10}".format(*head))
    n = len(h)
    shown = list(range(min(6, n))) + [i for i in range(max(6, n - 3), n)]
    for j, i in enumerate(shown):
        if j and shown[j - 1] != i - 1:
            p(f"  {'...':>4}")
        x = h.x[i]
        p(
            f"  {h.steps[i]:>4}  {x[0]:>10.6f} {x[1]:>10.6f} {x[2]:>10.6f}  "
            f"{h.fun[i]:>12.4e}  {h.grad_norm[i]:>10.3e}  {h.step_size[i]:>10.3e}"
        )
    p("")
    p(repr(res))
    p("")
    p("  the learning rate matters (same start, 200 steps at most):")
    lrs = [0.01, 0.1, 0.4]
    batch = ds.minimize_batch(
        seed_quadratic, w0[None], ds.gd, learning_rates=lrs, gtol=1e-8, max_steps=200
    )
    for j, lr in enumerate(lrs):
        r = batch[0, j]
        p(f"    lr = {lr:<5} -> {r.status.value:<9} after {r.nit:>3} steps, L = {r.fun:.3e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
