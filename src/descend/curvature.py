"""Curvature without a dense Hessian: power iteration on Hessian-vector products."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["largest_eigenvalue"]


def largest_eigenvalue(
    objective: Any, x: Any, args: tuple = (), *, iters: int = 100, rtol: float = 1e-6, seed: int = 0
) -> float:
    """The Hessian eigenvalue of largest magnitude at ``x``, by power iteration.

    Each iteration costs one Hessian-vector product (forward-over-reverse autodiff),
    so this works for any number of parameters. ``objective`` is ``(x, args) -> (f, g)``
    or a plain ``fun(x, *args)``.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(x)
    if hasattr(objective, "value"):
        f = lambda v: objective.value(unravel(v), args)  # noqa: E731
    else:
        f = lambda v: objective(unravel(v), *args)  # noqa: E731
    grad = jax.grad(f)

    @jax.jit
    def hvp(v: Any) -> Any:
        return jax.jvp(grad, (flat,), (v,))[1]

    v = jax.random.normal(jax.random.PRNGKey(seed), flat.shape, flat.dtype)
    v = v / jnp.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        w = hvp(v)
        new = float(jnp.vdot(v, w))
        norm = float(jnp.linalg.norm(w))
        if norm == 0 or not np.isfinite(norm):
            return new
        v = w / norm
        if abs(new - lam) <= rtol * max(abs(new), 1e-300):
            return new
        lam = new
    return lam
