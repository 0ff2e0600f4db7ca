"""New numbers reuse the compiled loop: counted compilations, not timings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import compilations

import descend as ds


def scaled_bowl(x, c):
    return jnp.sum(c * (x - 1.0) ** 2)


# Each case: two optimizers that differ only in their numbers.
CASES = {
    "gd learning rate": (ds.gd(0.01), ds.gd(0.02)),
    "momentum beta": (ds.momentum(0.01, beta=0.9), ds.momentum(0.02, beta=0.5)),
    "nesterov beta": (ds.nesterov(0.01, beta=0.9), ds.nesterov(0.01, beta=0.7)),
    "adagrad": (ds.adagrad(0.1), ds.adagrad(0.2, initial_accumulator_value=0.5, eps=1e-6)),
    "rmsprop decay": (ds.rmsprop(0.01), ds.rmsprop(0.02, decay=0.8, eps=1e-7)),
    "adam b1 b2 eps": (ds.adam(0.01), ds.adam(0.02, b1=0.8, b2=0.99, eps=1e-6)),
    "adamw weight decay": (ds.adamw(0.01), ds.adamw(0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_new_hyperparameters_do_not_recompile(name):
    first, second = CASES[name]
    x0, c = np.array([3.0, -1.0]), np.array([1.0, 4.0])

    def f(x, c):  # a function no other test has compiled
        return scaled_bowl(x, c)

    n1, _ = compilations(lambda: ds.minimize(f, x0, first, args=(c,), max_steps=50))
    n2, res = compilations(lambda: ds.minimize(f, x0, second, args=(c,), max_steps=50))
    assert n1 >= 1 and n2 == 0
    # ... and the second run is that optimizer's, step for step as optax's own loop.
    x, state = jnp.asarray(x0), second.init(jnp.asarray(x0))
    for _ in range(50):
        g = jax.grad(scaled_bowl)(x, c)
        updates, state = second.update(g, state, x)
        x = optax.apply_updates(x, updates)
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-12)


def test_new_starts_args_and_tolerances_do_not_recompile():
    opt = ds.gd(0.05)
    c = np.array([1.0, 4.0])
    compilations(lambda: ds.minimize(scaled_bowl, np.zeros(2), opt, args=(c,), gtol=1e-6))
    n, res = compilations(
        lambda: ds.minimize(
            scaled_bowl, np.array([5.0, 2.0]), opt, args=(c * 2,), gtol=1e-9, xtol=0.0
        )
    )
    assert n == 0 and res.status == "gtol"
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-9)


def test_a_batch_with_new_numbers_does_not_recompile():
    starts = np.array([[0.0, 0.0], [3.0, -1.0]])
    c = np.array([1.0, 4.0])
    compilations(lambda: ds.minimize_batch(scaled_bowl, starts, ds.adam(0.01), args=(c,)))
    n, b = compilations(
        lambda: ds.minimize_batch(scaled_bowl, starts, ds.adam(0.05, b1=0.8), args=(c,))
    )
    assert n == 0
    single = ds.minimize(scaled_bowl, starts[1], ds.adam(0.05, b1=0.8), args=(c,))
    assert b.nit[1] == single.nit and b.status[1] == single.status


def test_a_schedule_or_a_plain_optax_transformation_still_runs():
    sched = optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5)
    res = ds.minimize(lambda x: jnp.sum(x**2), np.array([1.0]), ds.gd(sched), gtol=0.0, max_steps=2)
    # (optax evaluates this schedule in float32: its step count is an int32)
    np.testing.assert_allclose(res.x, [(1 - 0.2) * (1 - 0.2 * 0.5**0.1)], rtol=1e-7)
    res = ds.minimize(lambda x: jnp.sum(x**2), np.array([1.0]), optax.sgd(0.1), max_steps=3)
    np.testing.assert_allclose(res.x, [0.8**3], rtol=1e-14)


@pytest.mark.parametrize("kind", ["float32", "float16", "mixed"])
def test_numbers_take_each_leafs_dtype(kind):
    # The numbers travel weakly typed: each leaf computes in its own dtype, as optax
    # does with the numbers written in (adam's b2 = 0.9999 would round to 1 in float16).
    x0 = {
        "float32": np.array([3.0, -1.0], np.float32),
        "float16": np.array([3.0, -1.0], np.float16),
        "mixed": {"a": np.array([3.0]), "b": np.array([-1.0], np.float32)},
    }[kind]
    opt = ds.adam(0.1, b1=0.8, b2=0.9999)

    def f(x):
        return sum(jnp.sum((leaf.astype(jnp.float32) - 1.0) ** 2) for leaf in jax.tree.leaves(x))

    res = ds.minimize(f, x0, opt, max_steps=20, gtol=0.0)
    x = jax.tree.map(jnp.asarray, x0)
    state = opt.init(x)
    for _ in range(20):
        updates, state = opt.update(jax.grad(f)(x), state, x)
        x = optax.apply_updates(x, updates)
    for got, want in zip(jax.tree.leaves(res.x), jax.tree.leaves(x)):
        assert got.dtype == want.dtype and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=4 * np.finfo(got.dtype).eps)
