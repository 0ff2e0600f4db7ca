"""Curvature at a point: the exact Hessian's eigenvalues for small problems, power
iteration on Hessian-vector products for the others."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["largest_algebraic_eigenvalue", "curvatures", "curvatures_batched", "hessians_at"]


def _hvp(objective: Any, x: Any, args: tuple) -> tuple[Callable[[Any], Any], Any]:
    """A jitted ``v -> H v`` at ``x`` (forward-over-reverse autodiff) and the flat x.

    x and args are inputs of the compiled product, so a new point compiles nothing.
    """
    import jax
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(x)
    if getattr(objective, "grad", None) is not None:  # a descend Objective, gradient given
        return _hvp_from_grad(objective, flat, unravel, args), flat
    try:
        hash(objective)
    except TypeError:  # compiled for this point only
        g = _flat_grad(objective, unravel, args)
        return jax.jit(lambda v: jax.jvp(g, (flat,), (v,))[1]), flat
    from ._env import QUICK_COMPILE_MAX_SIZE

    quick = flat.size <= QUICK_COMPILE_MAX_SIZE
    return functools.partial(_hvp_compiled(quick), objective, x, args), flat


@functools.cache
def _hvp_compiled(quick: bool = False) -> Callable[..., Any]:
    """``(objective, x, args, v) -> H(x) v``, compiled once per objective and shapes
    (``quick``: with the quick compiler options of small runs, see _env.py)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from ._env import compiler_options

    def hvp(objective: Any, x: Any, args: tuple, v: Any) -> Any:
        flat, unravel = ravel_pytree(x)
        return jax.jvp(_flat_grad(objective, unravel, args), (flat,), (v,))[1]

    return jax.jit(hvp, static_argnums=0, compiler_options=compiler_options(quick))


# Up to this many parameters the Hessian is formed and its eigenvalues computed exactly:
# one compiled call, where power iteration dispatches a product per iteration (tens of
# milliseconds for a diverged 2-D run's hint).
DENSE_MAX_SIZE = 32


def _dense_curvatures(objective: Any, x: Any, args: tuple) -> tuple[float, float] | None:
    """(largest, largest in size) eigenvalue of the exact Hessian, or None where the
    problem is too large or the objective is not one JAX differentiates (or hashes)."""
    from jax.flatten_util import ravel_pytree

    flat, _ = ravel_pytree(x)
    if flat.size > DENSE_MAX_SIZE or getattr(objective, "grad", None) is not None:
        return None
    try:
        hash(objective)
    except TypeError:
        return None
    h = np.asarray(_hessian_compiled()(objective, x, args), np.float64)
    if not np.all(np.isfinite(h)):
        return float("nan"), float("nan")
    eig = np.linalg.eigvalsh((h + h.T) / 2)
    return float(eig[-1]), float(eig[np.argmax(np.abs(eig))])


@functools.cache
def _hessian_compiled() -> Callable[..., Any]:
    """``(objective, x, args) -> H(x)`` (flat), compiled once per objective and shapes."""
    import jax
    from jax.flatten_util import ravel_pytree

    from ._env import compiler_options

    def hessian(objective: Any, x: Any, args: tuple) -> Any:
        flat, unravel = ravel_pytree(x)
        return jax.jacfwd(_flat_grad(objective, unravel, args))(flat)

    return jax.jit(hessian, static_argnums=0, compiler_options=compiler_options(True))


def hessians_at(objective: Any, xs: Any) -> Any:
    """The Hessian of ``objective`` (a hashable JAX-differentiable function of a vector)
    at each row of ``xs``, in one compiled call."""
    import jax.numpy as jnp

    return _hessians_compiled()(objective, jnp.asarray(xs))


@functools.cache
def _hessians_compiled() -> Callable[..., Any]:
    import jax

    from ._env import compiler_options

    def hessians(objective: Any, xs: Any) -> Any:
        return jax.vmap(jax.hessian(lambda x: objective(x)))(xs)

    return jax.jit(hessians, static_argnums=0, compiler_options=compiler_options(True))


def _flat_grad(objective: Any, unravel: Callable[[Any], Any], args: tuple) -> Any:
    """The autodiff gradient of f as a function of the flat vector of parameters."""
    import jax

    if hasattr(objective, "value") and hasattr(objective, "grad"):  # a descend Objective
        return jax.grad(lambda v: objective.value(unravel(v), args))
    return jax.grad(lambda v: objective(unravel(v), *args))


def _hvp_from_grad(
    objective: Any, flat: Any, unravel: Callable[[Any], Any], args: tuple
) -> Callable[[Any], Any]:
    """``v -> H v`` by central differences of the objective's own gradient (a user's
    ``grad=`` or ``"numeric"``, which JAX may not differentiate): the slow path."""
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    x = np.asarray(flat, np.float64)
    h = float(np.finfo(np.float64).eps ** (1 / 3)) * max(1.0, float(np.max(np.abs(x), initial=0)))

    def grad_at(y: Any) -> Any:
        return np.asarray(ravel_pytree(objective(unravel(jnp.asarray(y, flat.dtype)), args)[1])[0])

    def hvp(v: Any) -> Any:
        v = np.asarray(v, np.float64)
        return jnp.asarray((grad_at(x + h * v) - grad_at(x - h * v)) / (2 * h), flat.dtype)

    return hvp


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
    dense = _dense_curvatures(objective, x, tuple(args))
    if dense is not None:
        return dense
    hvp, flat = _hvp(objective, x, args)
    lam = _power(hvp, flat, 0.0, iters, rtol, seed)
    if lam >= 0 or not np.isfinite(lam):
        return lam, lam
    return _power(hvp, flat, lam, iters, rtol, seed + 1) + lam, lam


def curvatures_batched(objective: Any, xs: Any, args: tuple = (), *, iters: int = 300) -> Any:
    """:func:`curvatures` at every start of ``xs`` (leading axis: the starts) at once.

    A fixed number of power iterations in one compiled, vmapped loop (the Python loop
    of :func:`curvatures` would dispatch once an iteration and a start). Returns two
    arrays, the largest eigenvalue and the largest in size, one entry per start.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    _, unravel = ravel_pytree(jax.tree.map(lambda l: l[0], xs))
    g = _flat_grad(objective, unravel, args)

    def power(flat: Any, shift: Any, v: Any) -> Any:
        def body(_: int, carry: tuple[Any, Any]) -> tuple[Any, Any]:
            v, _lam = carry
            w = jax.jvp(g, (flat,), (v,))[1] - shift * v
            norm = jnp.linalg.norm(w)
            return jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1), v), jnp.vdot(v, w)

        return jax.lax.fori_loop(0, iters, body, (v, jnp.zeros((), flat.dtype)))[1]

    def both(x: Any) -> tuple[Any, Any]:
        flat = ravel_pytree(x)[0]
        v = jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype)
        v = v / jnp.linalg.norm(v)
        lam = power(flat, jnp.zeros((), flat.dtype), v)
        top = jnp.where(lam >= 0, lam, power(flat, lam, v) + lam)
        return top, lam

    top, big = jax.jit(jax.vmap(both))(xs)
    return np.asarray(top), np.asarray(big)
