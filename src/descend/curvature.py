"""Curvature without a dense Hessian: power iteration on Hessian-vector products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["largest_algebraic_eigenvalue", "curvatures"]


def _hvp(objective: Any, x: Any, args: tuple) -> tuple[Callable[[Any], Any], Any]:
    """A jitted ``v -> H v`` at ``x`` (forward-over-reverse autodiff) and the flat x."""
    import jax
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(x)
    if hasattr(objective, "value") and hasattr(objective, "grad"):  # a loop.Objective
        f = lambda v: objective.value(unravel(v), args)  # noqa: E731
    else:
        f = lambda v: objective(unravel(v), *args)  # noqa: E731
    g = jax.grad(f)
    return jax.jit(lambda v: jax.jvp(g, (flat,), (v,))[1]), flat


def _power(
    hvp: Callable[[Any], Any], flat: Any, shift: float, iters: int, rtol: float, seed: int
) -> float:
    """Dominant eigenvalue of ``H - shift I`` by power iteration (Rayleigh quotients)."""
    import jax
    import jax.numpy as jnp

    v = jax.random.normal(jax.random.PRNGKey(seed), flat.shape, flat.dtype)
    v = v / jnp.linalg.norm(v)
    lam = np.inf
    for _ in range(iters):
        w = hvp(v) - shift * v
        new = float(jnp.vdot(v, w))
        norm = float(jnp.linalg.norm(w))
        if norm == 0 or not np.isfinite(norm):
            return new
        # Stop once the Rayleigh quotient settles and w is (nearly) parallel to v.
        if abs(new - lam) <= rtol * abs(new) and abs(abs(new) - norm) <= 1e-3 * norm:
            return new
        v, lam = w / norm, new
    return lam


def largest_algebraic_eigenvalue(
    objective: Any,
    x: Any,
    args: tuple = (),
    *,
    iters: int = 1000,
    rtol: float = 1e-9,
    seed: int = 0,
) -> float:
    """The largest (most positive) Hessian eigenvalue at ``x``.

    Power iteration finds the eigenvalue of largest magnitude; if that one is negative,
    a second run on ``H - lambda I`` (all eigenvalues shifted to >= 0) finds the top.
    """
    return curvatures(objective, x, args, iters=iters, rtol=rtol, seed=seed)[0]


def curvatures(
    objective: Any,
    x: Any,
    args: tuple = (),
    *,
    iters: int = 1000,
    rtol: float = 1e-9,
    seed: int = 0,
) -> tuple[float, float]:
    """The largest Hessian eigenvalue at ``x`` and the largest in magnitude (its sign kept)."""
    hvp, flat = _hvp(objective, x, args)
    lam = _power(hvp, flat, 0.0, iters, rtol, seed)
    if lam >= 0 or not np.isfinite(lam):
        return lam, lam
    return _power(hvp, flat, lam, iters, rtol, seed + 1) + lam, lam
