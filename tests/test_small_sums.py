"""small_sums: objectives with short sums and slices written out, for batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds
from descend.small_sums import small_sums

C = jnp.array([1.0, 2.0, 3.0])
M = jnp.array([1.0, -2.0, 0.5])
A = jnp.array([[2.0, 0.5, 0.0], [0.5, 3.0, 0.1], [0.0, 0.1, 1.0]])


def seed_quadratic(w):
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


def rosenbrock_nd(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


FUNCTIONS = {
    "weighted sum": lambda w: jnp.sum(C * (w - M) ** 2),
    "mean, dot, norm, quadratic form": lambda w: (
        jnp.mean(w) + w @ w + jnp.linalg.norm(w) + 0.5 * w @ A @ w
    ),
    "sums over axes of a matrix": lambda w: jnp.sum(jnp.outer(w, w).sum(0) * w)
    + jnp.sum(jnp.outer(w, w), axis=(0, 1)),
    "long sum (left alone)": lambda w: jnp.sum(jnp.tile(w, 10) ** 2),
    "indexing": seed_quadratic,
    "rosenbrock": rosenbrock_nd,
    "control flow": lambda w: jax.lax.cond(w[0] > 0, lambda v: jnp.sum(v**2), jnp.sum, w),
    "custom derivatives": lambda w: jnp.sum(jax.nn.relu(w)) + jax.nn.logsumexp(w),
    "matrix times vector": lambda w: jnp.sum((A @ w) ** 2),
}
X = jnp.array([0.3, -0.7, 1.1])


@pytest.mark.parametrize("slices", [False, True])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_same_value_gradient_and_hessian(name, slices):
    f = FUNCTIONS[name]
    g = small_sums(f, slices=slices)
    v1, g1 = jax.value_and_grad(f)(X)
    v2, g2 = jax.value_and_grad(g)(X)
    np.testing.assert_allclose(v2, v1, rtol=1e-14)
    np.testing.assert_allclose(g2, g1, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(jax.hessian(g)(X), jax.hessian(f)(X), rtol=1e-13, atol=1e-14)
    starts = jnp.stack([X, -2 * X, X + 1])
    b1 = jax.vmap(jax.value_and_grad(f))(starts)
    b2 = jax.vmap(jax.value_and_grad(g))(starts)
    for a, b in zip(b2, b1):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_pytrees_and_args():
    def f(p, scale):
        return scale * jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] * p["a"][:2])

    p = {"a": jnp.array([0.3, -0.7, 1.1]), "b": jnp.array([2.0, -1.0])}
    v1, g1 = jax.value_and_grad(f)(p, 3.0)
    v2, g2 = jax.value_and_grad(small_sums(f, slices=True))(p, 3.0)
    np.testing.assert_allclose(v2, v1, rtol=1e-14)
    for k in p:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-14)


def primitives(fun, *args):
    """Names of the primitives in fun's jaxpr, inner jitted functions included."""
    names = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            names.append(eqn.primitive.name)
            if "jaxpr" in eqn.params and hasattr(eqn.params["jaxpr"], "jaxpr"):
                walk(eqn.params["jaxpr"].jaxpr)

    walk(jax.make_jaxpr(fun)(*args).jaxpr)
    return names


def test_short_sums_become_additions_long_ones_stay():
    starts = jnp.stack([X, X])
    short = primitives(jax.vmap(small_sums(FUNCTIONS["mean, dot, norm, quadratic form"])), starts)
    assert "reduce_sum" not in short and "dot_general" not in short
    long = primitives(jax.vmap(small_sums(FUNCTIONS["long sum (left alone)"])), starts)
    assert "reduce_sum" in long


def test_gradient_of_indexing_has_no_pads_with_slices():
    starts = jnp.stack([X, X])
    plain = primitives(jax.vmap(jax.grad(small_sums(seed_quadratic))), starts)
    rewritten = primitives(jax.vmap(jax.grad(small_sums(seed_quadratic, slices=True))), starts)
    assert "pad" in plain and "pad" not in rewritten


def test_hashable_and_equal_for_the_compile_cache():
    assert small_sums(seed_quadratic) == small_sums(seed_quadratic)
    assert hash(small_sums(seed_quadratic, slices=True)) == hash(
        small_sums(seed_quadratic, slices=True)
    )


@pytest.mark.parametrize("history", [False, True])
def test_batch_of_vectorized_objective_equals_single_runs(history):
    def f(w):
        return jnp.sum(C * (w - M) ** 2) + 0.1 * jnp.sum(w**4)

    starts = jnp.array([[0.0, 0.0, 0.0], [3.0, -1.0, 2.0], [-2.0, 4.0, 1.0]])
    opts = dict(max_steps=3000, gtol=1e-9, xtol=1e-14, history=history)
    batch = ds.minimize_batch(f, starts, ds.gd, learning_rates=[0.05, 0.1, 0.3], **opts)
    for i in range(3):
        for j, lr in enumerate([0.05, 0.1, 0.3]):
            single = ds.minimize(f, starts[i], ds.gd(lr), **opts)
            assert (batch.status[i, j], batch.nit[i, j]) == (single.status, single.nit)
            np.testing.assert_allclose(batch.x[i, j], single.x, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(batch.fun[i, j], single.fun, rtol=1e-12, atol=1e-300)
    assert {"gtol", "diverged"} <= set(batch.status.ravel())  # the rules are exercised


def test_empty_sums_and_wide_dots_left_to_jax():
    def empty_rows(w):
        return jnp.sum(jnp.sum(jnp.zeros((0, 3)) * w, axis=1)) + jnp.sum(w)

    np.testing.assert_allclose(small_sums(empty_rows)(X), empty_rows(X))
    a = jnp.array([1.001, 1.002, 1.003, 1.004], jnp.bfloat16)
    b = jnp.array([1.001, 1.003, 1.005, 1.007], jnp.bfloat16)

    def wide(u, v):  # accumulates in float32, as the original dot does
        return jax.lax.dot(u, v, preferred_element_type=jnp.float32)

    assert small_sums(wide)(a, b) == wide(a, b)
    assert "dot_general" in primitives(small_sums(wide), a, b)
