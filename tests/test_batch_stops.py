"""Batches whose runs stop at many different steps: each run equals a single run.

With gtol the only tolerance and no history, the fast batch freezes a run where a rule
fires and rebuilds its state from the count of steps it took; these compare every run
field by field, exactly, with a single ``ds.minimize`` run with the same settings.
"""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import descend as ds

# Every test runs on both batch loops (see conftest.batch_engine).
pytestmark = pytest.mark.usefixtures("batch_engine")


def seed_quadratic(w):
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


def assert_same_as_single(batch, index, single):
    """The same stop (status, step, evaluations) exactly; the same numbers up to the last
    bits of rounding (a batch's compiled code is fused differently from one run's)."""
    r = batch[index]
    assert (r.status, r.nit, r.nfev) == (single.status, single.nit, single.nfev), index
    close = dict(rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(r.x, single.x, **close)
    np.testing.assert_allclose(r.fun, single.fun, **close)
    np.testing.assert_allclose(r.grad_norm, single.grad_norm, **close)
    np.testing.assert_allclose(np.asarray(r.jac), np.asarray(single.jac), **close)
    assert r.message.split(";")[0] == single.message.split(";")[0]


@pytest.mark.parametrize("chunk_size", [None, 100])
def test_runs_stopping_at_many_steps_inside_one_block(chunk_size):
    # 24 learning rates: gtol 1e-6 fires anywhere from about step 20 to past 300
    # (max_steps), so many runs stop inside each 256-step block, some on its edges.
    starts = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -2.0]])
    lrs = np.logspace(-2.2, -0.5, 24)
    kw = dict(max_steps=300, gtol=1e-6)
    batch = ds.minimize_batch(
        seed_quadratic, starts, ds.gd, learning_rates=lrs, chunk_size=chunk_size, **kw
    )
    nits = set(batch.nit.ravel().tolist())
    assert len(nits) > 15 and min(nits) < 64 and 300 in nits
    for i, x0 in enumerate(starts):
        for j, lr in enumerate(lrs):
            single = ds.minimize(seed_quadratic, x0, ds.gd(lr), history=False, **kw)
            assert_same_as_single(batch, (i, j), single)


@pytest.mark.parametrize("stop", [255, 256, 257, 511, 512])
def test_stops_on_the_edges_of_blocks(stop):
    # f = x^2 / 2 with gd(lr): |g| = |x0| (1 - lr)^k; pick x0 so gtol fires at `stop`.
    lr, gtol = 0.01, 1e-6
    x0 = gtol / (1 - lr) ** (stop - 0.5)
    f = lambda x: 0.5 * jnp.sum(x**2)  # noqa: E731
    starts = np.array([[x0], [2 * x0], [x0 / 2], [1e6]])
    kw = dict(gtol=gtol, max_steps=600)
    batch = ds.minimize_batch(f, starts, ds.gd(lr), **kw)
    assert batch.nit[0] == stop
    for i, x0_i in enumerate(starts):
        assert_same_as_single(batch, i, ds.minimize(f, x0_i, ds.gd(lr), history=False, **kw))


def test_gtol_stops_next_to_runs_that_diverge_or_hit_nan():
    # Large rates diverge, a log turns nan for some runs; the rest stop on gtol at many
    # steps. Each must end exactly as alone, whatever ended its neighbours.
    def f(w):
        return seed_quadratic(w) + 0.0 * jnp.log(w[0] + 2.5)

    starts = np.array([[0.0, 0.0, 0.0], [-2.0, 1.0, -2.0], [3.0, -4.0, 1.5]])
    lrs = [0.004, 0.02, 0.05, 0.1, 0.2, 0.3, 0.33, 0.34, 0.5]
    kw = dict(max_steps=400, gtol=1e-7, diverge_factor=1e4)
    batch = ds.minimize_batch(f, starts, ds.gd, learning_rates=lrs, **kw)
    statuses = set(str(s) for s in batch.status.ravel())
    assert {"gtol", "diverged"} <= statuses
    for i, x0 in enumerate(starts):
        for j, lr in enumerate(lrs):
            single = ds.minimize(f, x0, ds.gd(lr), history=False, **kw)
            assert_same_as_single(batch, (i, j), single)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_pytree_runs_stop_as_alone(dtype):
    # A pytree x and an optimizer with state: a frozen run's state is rebuilt from x.
    def f(p):
        return jnp.sum((p["a"] - 1.0) ** 2) + 3.0 * (p["b"] + 0.5) ** 2

    rng = np.random.default_rng(1)
    x0s = {"a": rng.normal(size=(6, 2)).astype(dtype), "b": rng.normal(size=(6,)).astype(dtype)}
    kw = dict(max_steps=700, gtol=1e-3 if dtype == np.float32 else 1e-7)
    batch = ds.minimize_batch(f, x0s, optax.adam(0.05), **kw)
    assert len(set(batch.nit.tolist())) > 2
    for i in range(6):
        x0 = {k: v[i] for k, v in x0s.items()}
        single = ds.minimize(f, x0, optax.adam(0.05), history=False, **kw)
        r = batch[i]
        assert (r.status, r.nit) == (single.status, single.nit), i
        for k in ("a", "b"):
            np.testing.assert_array_equal(r.x[k], single.x[k])
            np.testing.assert_array_equal(r.jac[k], single.jac[k])
        np.testing.assert_array_equal(r.fun, single.fun)
        np.testing.assert_array_equal(r.grad_norm, single.grad_norm)


def test_a_huge_gradient_entry_is_replayed_not_frozen():
    # One entry of the gradient is 1e200 for 1.2 < x < 2 (its square overflows: the
    # run is nonfinite there); the clipped update keeps x finite.
    f = lambda x: 0.5 * jnp.sum((x - 5.0) ** 2)  # noqa: E731
    g = lambda x: jnp.where((x > 1.2) & (x < 2.0), 1e200, x - 5.0)  # noqa: E731
    opt = optax.chain(optax.clip(1.0), optax.sgd(0.3, momentum=0.5))
    starts = np.array([[0.0, 0.0], [4.0, 4.5], [10.0, 0.5]])
    kw = dict(gtol=1e-6, max_steps=200)
    batch = ds.minimize_batch(f, starts, opt, grad=g, **kw)
    for i, x0 in enumerate(starts):
        single = ds.minimize(f, x0, opt, grad=g, history=False, **kw)
        if single.status != "nonfinite":
            assert_same_as_single(batch, i, single)
            continue
        # A nonfinite run's gradient norm at its last finite iterate is computed on the
        # host, for a batch and a single run alike, by routes that may differ by 1 ulp.
        r = batch[i]
        assert (r.status, r.nit) == (single.status, single.nit), i
        np.testing.assert_array_equal(r.x, single.x)
        np.testing.assert_allclose(r.grad_norm, single.grad_norm, rtol=1e-15)
    assert {str(s) for s in batch.status} == {"nonfinite", "gtol"}


def test_a_gradient_that_overflows_on_the_last_step_of_a_block():
    # x grows by 1 a step; the gradient's entry is 1e200 (its square overflows: the run
    # is nonfinite) from x = 254.5 on, so the runs end at steps 255 and 511, the last
    # steps of the first blocks, and at 155 inside one.
    f = lambda x: -jnp.sum(x)  # noqa: E731
    g = lambda x: jnp.where(x >= 254.5, 1e200, -1.0)  # noqa: E731
    opt = optax.chain(optax.clip(1.0), optax.sgd(1.0))
    starts = np.array([[0.0], [-256.0], [100.0]])
    batch = ds.minimize_batch(f, starts, opt, grad=g, max_steps=1000)
    for i, x0 in enumerate(starts):
        single = ds.minimize(f, x0, opt, grad=g, max_steps=1000, history=False)
        assert (
            (batch[i].status, batch[i].nit)
            == (single.status, single.nit)
            == ("nonfinite", 255 + 256 * (i == 1) - 100 * (i == 2))
        )
        np.testing.assert_array_equal(batch[i].x, single.x)
