"""Objectives with their short sums written out, for batches of small runs.

A batch steps thousands of small runs at once, each function vmapped over a leading
run axis. On XLA:CPU a ``reduce_sum`` over a short axis under vmap (``jnp.sum(w**2)``
for a 3-vector, ``w @ w``) becomes a separate reduction kernel per step, and a slow
one: a batch of 10,000 three-parameter runs spent 13x longer in those kernels than in
the rest of the step. :func:`small_sums` rewrites a function's jaxpr so that every
sum over at most ``limit`` elements is a chain of additions of slices, which XLA
fuses with the elementwise work around it. Derivatives are unchanged: the tangent of
a rewritten sum is the original ``reduce_sum``, whose transpose is a broadcast.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.extend.core import Literal

__all__ = ["small_sums", "SMALL_SUM_LIMIT"]

# Sums over more elements stay reductions: a chain of additions grows the program
# (and compile time) with the count, and long sums vectorize well as they are.
SMALL_SUM_LIMIT = 16


class small_sums(NamedTuple):
    """``fun`` with every sum over at most ``limit`` elements written as additions.

    Hashable (it is part of the static configuration of compiled loops). Sums inside
    ``jit``-ed inner functions are rewritten too; those inside control flow
    (``cond``, ``while_loop``, ``scan``) or custom derivative rules are left alone.
    """

    fun: Callable[..., Any]
    slices: bool = False
    limit: int = SMALL_SUM_LIMIT

    def __call__(self, *args: Any) -> Any:
        closed, out_shape = jax.make_jaxpr(self.fun, return_shape=True)(*args)
        flat = _eval(closed.jaxpr, closed.consts, jax.tree.leaves(args), self.limit, self.slices)
        return jax.tree.unflatten(jax.tree.structure(out_shape), flat)


def _eval(jaxpr: Any, consts: list, args: list, limit: int, slices: bool) -> list:
    """Evaluate a jaxpr like ``jax.core.eval_jaxpr``, with short sums unrolled."""
    env: dict = {}

    def read(v: Any) -> Any:
        return v.val if isinstance(v, Literal) else env[v]

    for v, val in zip(jaxpr.constvars, consts):
        env[v] = val
    for v, val in zip(jaxpr.invars, args):
        env[v] = val
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "reduce_sum" and _count(invals[0].shape, eqn.params["axes"]) <= limit:
            out = [_sum(invals[0], tuple(eqn.params["axes"]))]
        elif slices and name == "slice" and _small_slice(invals[0], eqn.outvars[0].aval, limit):
            out = [_slice(invals[0], _slice_index(invals[0].shape, **eqn.params))]
        elif name == "dot_general" and _small_dot(invals, eqn.params, limit):
            out = [_dot(*invals, **eqn.params)]
        elif name in ("pjit", "jit", "closed_call") and "jaxpr" in eqn.params:
            inner = eqn.params["jaxpr"]
            out = _eval(inner.jaxpr, inner.consts, invals, limit, slices)
        else:
            ans = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
            out = ans if eqn.primitive.multiple_results else [ans]
        for v, val in zip(eqn.outvars, out):
            env[v] = val
    return [read(v) for v in jaxpr.outvars]


def _count(shape: tuple, axes: Any) -> int:
    return math.prod(shape[a] for a in axes)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _sum(x: Any, axes: tuple) -> Any:
    """``x.sum(axes)`` as additions of slices, first index first."""
    if not axes or x.size == 0:
        return jnp.sum(x, axis=axes)
    moved = jnp.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape(moved.shape[: moved.ndim - len(axes)] + (-1,))
    if flat.shape[-1] == 0:
        return jnp.zeros(flat.shape[:-1], x.dtype)
    total = flat[..., 0]
    for i in range(1, flat.shape[-1]):
        total = total + flat[..., i]
    return total


@_sum.defjvp
def _sum_jvp(axes: tuple, primals: tuple, tangents: tuple) -> tuple:
    (x,), (t,) = primals, tangents
    # The tangent as a reduction: its transpose (the gradient) is a broadcast, not the
    # pads a sum of slices transposes to.
    return _sum(x, axes), jnp.sum(t, axis=axes)


def _small_slice(x: Any, out: Any, limit: int) -> bool:
    return hasattr(x, "shape") and x.size <= limit and math.prod(out.shape) >= 1


def _slice_index(
    shape: tuple, start_indices: tuple, limit_indices: tuple, strides: Any = None
) -> tuple:
    """The flat indices a static slice takes from an array of ``shape``, and its shape."""
    import numpy as np

    steps = strides or (1,) * len(shape)
    taken = np.arange(math.prod(shape)).reshape(shape)[
        tuple(slice(a, b, c) for a, b, c in zip(start_indices, limit_indices, steps))
    ]
    return tuple(int(i) for i in taken.ravel()), taken.shape


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _slice(x: Any, index: tuple) -> Any:
    """A static slice of a small array (``w[0]``, ``w[1:]``), as entries of its ravel."""
    flat_index, shape = index
    flat = x.reshape(-1)
    return jnp.stack([flat[i] for i in flat_index]).reshape(shape)


@_slice.defjvp
def _slice_jvp(index: tuple, primals: tuple, tangents: tuple) -> tuple:
    import numpy as np

    (x,), (t,) = primals, tangents
    flat_index, shape = index
    # Each taken entry as the sum of t times a one-hot mask: the gradient is then a
    # sum of broadcasts times constant masks, which fuses with the update, instead of
    # the pads that XLA:CPU computes in separate kernels.
    every = jax.lax.iota(np.int32, x.size).reshape(x.shape)
    parts = [jnp.sum(jnp.where(every == i, t, 0)) for i in flat_index]
    return _slice(x, index), jnp.stack(parts).reshape(shape)


def _small_dot(invals: list, params: dict, limit: int) -> bool:
    (lc, _), _ = params["dimension_numbers"]
    lhs, rhs = invals
    if not (hasattr(lhs, "shape") and hasattr(rhs, "shape")):
        return False
    # Same-type float products only: the rewrite accumulates in the input type, so a
    # wider preferred_element_type (or a 16-bit input) stays a dot.
    wanted = params.get("preferred_element_type")
    if lhs.dtype != rhs.dtype or lhs.dtype not in (jnp.float32, jnp.float64):
        return False
    if wanted is not None and wanted != lhs.dtype:
        return False
    # The product is formed before the sum: keep it small.
    product = lhs.size * rhs.size // max(_count(lhs.shape, lc), 1)
    return _count(lhs.shape, lc) <= limit and product <= 64 * limit


def _dot(
    lhs: Any, rhs: Any, *, dimension_numbers: Any, preferred_element_type: Any = None, **_: Any
) -> Any:
    """``lax.dot_general`` as a broadcast product and a short sum (same output layout)."""
    (lc, rc), (lb, rb) = dimension_numbers
    lf = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    # (batch, lhs free, contracting) and (batch, rhs free, contracting)
    a = jnp.transpose(lhs, tuple(lb) + tuple(lf) + tuple(lc))
    b = jnp.transpose(rhs, tuple(rb) + tuple(rf) + tuple(rc))
    nb, nl, nr, nc = len(lb), len(lf), len(rf), len(lc)
    a = a.reshape(a.shape[: nb + nl] + (1,) * nr + a.shape[nb + nl :])
    b = b.reshape(b.shape[:nb] + (1,) * nl + b.shape[nb:])
    out = _sum(a * b, tuple(range(nb + nl + nr, nb + nl + nr + nc)))
    if preferred_element_type is not None:
        out = out.astype(preferred_element_type)
    return out
