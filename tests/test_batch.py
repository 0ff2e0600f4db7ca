"""minimize_batch: equal to single runs, independent statuses, shapes, devices."""

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds

# Every test runs on both batch loops (see conftest.batch_engine).
pytestmark = pytest.mark.usefixtures("batch_engine")


def seed_quadratic(w):
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


STARTS = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -2.0], [-1.0, 4.0, 1.5]])


def test_batch_over_starts_equals_single_runs():
    batch = ds.minimize_batch(seed_quadratic, STARTS, ds.adam(0.05), gtol=1e-8, history=True)
    assert batch.shape == (3,)
    for i, x0 in enumerate(STARTS):
        single = ds.minimize(seed_quadratic, x0, ds.adam(0.05), gtol=1e-8)
        r = batch[i]
        assert r.status == single.status and r.nit == single.nit
        np.testing.assert_allclose(r.x, single.x, rtol=0, atol=1e-14)
        np.testing.assert_allclose(r.fun, single.fun, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(r.history.x, single.history.x, atol=1e-14)
        np.testing.assert_array_equal(r.history.steps, single.history.steps)


def test_grid_of_starts_and_learning_rates_has_independent_statuses():
    lrs = [0.01, 0.1, 0.4]  # 2/L = 1/3 for this quadratic: 0.4 diverges
    batch = ds.minimize_batch(
        seed_quadratic, STARTS, ds.gd, learning_rates=lrs, gtol=1e-8, max_steps=2000
    )
    assert batch.shape == (3, 3) and batch.fun.shape == (3, 3) and batch.x.shape == (3, 3, 3)
    assert all(s == "diverged" for s in batch.status[:, 2])
    assert all(s == "gtol" for s in batch.status[:, :2].ravel())
    for i in range(3):
        for j, lr in enumerate(lrs):
            single = ds.minimize(
                seed_quadratic, STARTS[i], ds.gd(lr), gtol=1e-8, max_steps=2000, history=False
            )
            assert batch.nit[i, j] == single.nit and batch.status[i, j] == single.status
            np.testing.assert_allclose(batch.x[i, j], single.x, rtol=1e-12, atol=1e-14)
    best = batch.best
    assert best.status == "gtol" and best.fun == np.min(batch.fun)
    rows = batch.table()
    assert len(rows) == 9 and rows[2]["learning_rate"] == 0.4 and rows[2]["status"] == "diverged"
    assert "BatchResult(shape=(3, 3)" in repr(batch)


def test_one_nan_run_does_not_spoil_the_others():
    f = lambda x: jnp.sum(x - jnp.log(x))  # noqa: E731
    batch = ds.minimize_batch(
        f, np.array([[2.0], [1.5], [0.5]]), ds.gd(2.0), gtol=1e-9, max_steps=500
    )
    # From 2: x1 = 2 - 2 * 0.5 = 1 (the minimum); from 0.5: x1 = 0.5 + 2 = 2.5, then 2.5 - 1.2 ...
    assert batch.status[0] == "gtol"
    assert all(np.isfinite(batch.fun))
    g = lambda x: jnp.sum(x - jnp.log(x))  # noqa: E731
    b2 = ds.minimize_batch(g, np.array([[2.0], [1.1]]), ds.gd(10.0), max_steps=50)
    assert b2.status[0] == "nonfinite"
    np.testing.assert_allclose(b2.x[0], [2.0])  # last finite iterate
    single = ds.minimize(g, np.array([1.1]), ds.gd(10.0), max_steps=50)
    assert b2.status[1] == single.status and b2.nit[1] == single.nit


def test_batch_history_pads_with_last_row():
    batch = ds.minimize_batch(seed_quadratic, STARTS[:2], ds.gd(0.1), gtol=1e-8, history=("fun",))
    n0, n1 = batch.nit
    assert batch.history.fun.shape == (2, max(n0, n1) + 1)
    short = int(np.argmin(batch.nit))
    np.testing.assert_array_equal(
        batch.history.fun[short, batch.nit[short] :], batch.history.fun[short, batch.nit[short]]
    )
    assert len(batch[short].history) == batch.nit[short] + 1


def test_batch_history_tails_on_a_grid_and_a_pytree():
    # Runs on a starts x learning rates grid stop at different steps: every field's
    # rows past a run's end repeat its last row, for each leaf of a pytree x.
    f = lambda p: jnp.sum((p["a"] - 1.0) ** 2) + 2.0 * jnp.sum(p["b"] ** 2)  # noqa: E731
    x0s = {"a": np.array([[0.0, 3.0], [2.0, -1.0]]), "b": np.array([[[1.0]], [[0.5]]])}
    lrs = [0.05, 0.1, 0.2]
    batch = ds.minimize_batch(f, x0s, ds.gd, learning_rates=lrs, gtol=1e-8, history=True)
    assert len(set(batch.nit.ravel().tolist())) > 1
    rows = int(batch.nit.max()) + 1
    assert batch.history.x["a"].shape == (2, 3, rows, 2)
    assert batch.history.x["b"].shape == (2, 3, rows, 1, 1)
    for i in range(2):
        for j, lr in enumerate(lrs):
            n = batch.nit[i, j]
            single = ds.minimize(f, {k: v[i] for k, v in x0s.items()}, ds.gd(lr), gtol=1e-8)
            for leaf, one in (("a", single.history.x["a"]), ("b", single.history.x["b"])):
                got = batch.history.x[leaf][i, j]
                np.testing.assert_allclose(got[: n + 1], one, rtol=1e-12, atol=1e-14)
                np.testing.assert_array_equal(got[n:], np.broadcast_to(got[n], got[n:].shape))
            np.testing.assert_array_equal(batch.history.steps[i, j, : n + 1], single.history.steps)
            assert np.all(batch.history.steps[i, j, n:] == n)
            gn = batch.history.grad_norm[i, j]
            np.testing.assert_array_equal(gn[n:], gn[n])
            # near the minimum the gradient cancels: x's last bits move it by ~1e-7
            np.testing.assert_allclose(gn[n], single.grad_norm, rtol=1e-6)


def test_batch_history_of_runs_that_all_reach_max_steps():
    # Every run ends at step 10 (record_every 3: steps 0, 3, 6, 9, 10), as single runs do.
    x0s = np.random.default_rng(1).normal(size=(4, 3))
    kw = dict(max_steps=10, gtol=0.0, record_every=3)
    batch = ds.minimize_batch(seed_quadratic, x0s, ds.gd(0.1), history=True, **kw)
    for i in range(4):
        single = ds.minimize(seed_quadratic, x0s[i], ds.gd(0.1), **kw)
        np.testing.assert_array_equal(batch.history.steps[i], [0, 3, 6, 9, 10])
        np.testing.assert_allclose(batch.history.x[i], single.history.x, rtol=1e-12)
        np.testing.assert_allclose(batch.history.fun[i], single.history.fun, rtol=1e-12)


def test_batch_bad_input():
    with pytest.raises(ValueError, match="learning_rates must all be positive"):
        ds.minimize_batch(seed_quadratic, STARTS, ds.gd, learning_rates=[0.1, -1.0])
    with pytest.raises(ValueError, match="learning_rates must be a non-empty 1-D"):
        ds.minimize_batch(seed_quadratic, STARTS, ds.gd, learning_rates=[[0.1]])
    with pytest.raises(TypeError, match="optimizer must be a factory"):
        ds.minimize_batch(seed_quadratic, STARTS, ds.gd(0.1), learning_rates=[0.1])
    with pytest.raises(ValueError, match="x0s must have a leading batch axis"):
        ds.minimize_batch(seed_quadratic, 1.0)
    with pytest.raises(ValueError, match="optimizer: unknown name 'adma'.*adam"):
        ds.minimize_batch(seed_quadratic, STARTS, "adma", learning_rates=[0.1])


def test_runs_are_spread_over_two_devices():
    code = textwrap.dedent("""
        import jax, numpy as np, descend as ds
        assert jax.local_device_count() == 2, jax.devices()
        f = lambda w: (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2
        starts = np.random.default_rng(0).normal(size=(5, 3))
        b = ds.minimize_batch(f, starts, ds.gd, learning_rates=[0.05, 0.1, 0.4], gtol=1e-8)
        for i in range(5):
            for j, lr in enumerate([0.05, 0.1, 0.4]):
                r = ds.minimize(f, starts[i], ds.gd(lr), gtol=1e-8, history=False)
                assert b.nit[i, j] == r.nit and b.status[i, j] == r.status
                assert np.allclose(b.x[i, j], r.x, rtol=1e-12, atol=1e-14)
        one = ds.minimize_batch(f, starts, ds.gd(0.1), gtol=1e-8)  # 5 runs: one padding run
        for i in range(5):
            r = ds.minimize(f, starts[i], ds.gd(0.1), gtol=1e-8, history=False)
            assert one.nit[i] == r.nit and np.allclose(one.x[i], r.x, rtol=1e-12, atol=1e-14)
        placed = jax.device_put(starts, jax.devices()[1])  # on one device of the two
        for lrs in (None, [0.1, 0.4]):
            opt = ds.gd if lrs else ds.gd(0.1)
            p = ds.minimize_batch(f, placed, opt, learning_rates=lrs, gtol=1e-8)
            q = ds.minimize_batch(f, starts, opt, learning_rates=lrs, gtol=1e-8)
            assert np.array_equal(p.x, q.x) and np.array_equal(p.nit, q.nit)
        print("ok", b.shape, one.shape)
        """)
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok (5, 3) (5,)" in out.stdout


# The fast batched loop (no history) steps all runs in blocks and replays a block step
# by step only when a rule fired inside it; these check it stops every run exactly
# where a single run stops, whatever the rule and wherever the block boundaries fall.
@pytest.mark.parametrize(
    "rules",
    [
        dict(gtol=1e-6),
        dict(gtol=0.0, xtol=1e-7),
        dict(gtol=0.0, ftol=1e-10),
        dict(gtol=1e-5, xtol=1e-9, ftol=1e-12, diverge_factor=10.0),
        dict(gtol=0.0, diverge_factor=1e3),
    ],
)
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_fast_batch_stops_each_run_where_a_single_run_stops(rules, chunk_size):
    lrs = [0.003, 0.05, 0.2, 0.33, 0.34, 0.5]  # 2/L = 1/3: the last two diverge
    batch = ds.minimize_batch(
        seed_quadratic,
        STARTS,
        ds.gd,
        learning_rates=lrs,
        max_steps=300,
        chunk_size=chunk_size,
        **rules,
    )
    for i in range(len(STARTS)):
        for j, lr in enumerate(lrs):
            single = ds.minimize(
                seed_quadratic, STARTS[i], ds.gd(lr), max_steps=300, history=False, **rules
            )
            assert (batch.status[i, j], batch.nit[i, j]) == (single.status, single.nit), (i, lr)
            np.testing.assert_allclose(batch.x[i, j], single.x, rtol=1e-12, atol=1e-14)
            # The same sentence (batches give a shorter learning-rate hint after ";").
            assert batch.message[i, j].split(";")[0] == single.message.split(";")[0]


# Blocks step in pairs (then one more step when the count is odd): a stop on either
# step of a pair, or on the odd one, must be seen.
@pytest.mark.parametrize("at", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("chunk_size", [6, 7, None])
def test_fast_batch_catches_a_divergence_that_comes_back(at, chunk_size):
    # f jumps above f0 + 5 * max(|f0|, 1) at x = at only; gd(1) walks 0, 1, ..., 8 and
    # would leave the bump behind by the end of any block.
    bump = lambda x: 100.0 * jnp.exp(-((x[0] - at) ** 2) * 50.0) - x[0]  # noqa: E731
    starts = np.array([[0.0], [0.5]])
    kw = dict(gtol=0.0, diverge_factor=5.0, max_steps=8)
    batch = ds.minimize_batch(bump, starts, ds.gd(1.0), chunk_size=chunk_size, **kw)
    assert batch.status[0] == "diverged" and batch.nit[0] == at
    np.testing.assert_allclose(batch.x[0], [float(at)])
    single = ds.minimize(bump, starts[1], ds.gd(1.0), **kw)
    assert (batch.status[1], batch.nit[1]) == (single.status, single.nit)


def test_fast_batch_sees_a_nan_gradient_the_optimizer_filters_out():
    import optax

    # The gradient is nan for 1.2 < x < 2 only (f stays finite); zero_nans drops it
    # and momentum carries x past that region, so only a check at that step sees it.
    f = lambda x: 0.5 * jnp.sum((x - 5.0) ** 2)  # noqa: E731
    g = lambda x: jnp.where((x > 1.2) & (x < 2.0), jnp.nan, x - 5.0)  # noqa: E731
    opt = optax.chain(optax.zero_nans(), optax.sgd(0.3, momentum=0.5))
    starts = np.array([[0.0], [0.1], [3.0]])
    batch = ds.minimize_batch(f, starts, opt, grad=g, gtol=0.0, max_steps=10)
    for i, x0 in enumerate(starts):
        single = ds.minimize(f, x0, opt, grad=g, gtol=0.0, max_steps=10)
        assert (batch.status[i], batch.nit[i]) == (single.status, single.nit)
    assert batch.status[0] == "nonfinite" and batch.nit[0] == 1 and np.isfinite(batch.fun[0])
    assert batch.status[2] == "max_steps"


def test_fast_batch_stops_at_an_infinite_f_even_with_an_infinite_divergence_bound():
    # diverge_factor * max(|f0|, 1) overflows to inf, so only the nonfinite rule can
    # see f = inf (x = 3 here); the batch must stop where the single run stops.
    f = lambda x: jnp.where(jnp.abs(x[0] - 3.0) < 0.5, jnp.inf, 1e300 * (x[0] - 10.0) ** 2 / 1e300)
    starts = np.array([[0.0], [0.2]])
    kw = dict(gtol=0.0, diverge_factor=1e308, max_steps=20)
    g = lambda x: jnp.array([-1.0])  # noqa: E731 - walk right by 1 per step with gd(1)
    batch = ds.minimize_batch(f, starts, ds.gd(1.0), grad=g, **kw)
    for i, x0 in enumerate(starts):
        single = ds.minimize(f, x0, ds.gd(1.0), grad=g, **kw)
        assert single.status == "nonfinite"
        assert (batch.status[i], batch.nit[i]) == (single.status, single.nit)


@pytest.mark.parametrize("chunk_size, record_every", [(None, 10), (7, 3), (2, 4)])
def test_fast_batch_history_of_a_run_that_stopped_is_left_alone(chunk_size, record_every):
    # Run 0 stops at step 253, run 1 goes on to 315: the blocks after 253 must not
    # write into run 0's last row (with record_every > 1 it is the next row written).
    f = lambda x: 0.5 * jnp.sum(x**2)  # noqa: E731
    x0s = np.array([[0.43], [10.0]])
    kw = dict(gtol=1e-6, record_every=record_every)
    batch = ds.minimize_batch(f, x0s, ds.gd(0.05), history=True, chunk_size=chunk_size, **kw)
    for i, x0 in enumerate(x0s):
        single = ds.minimize(f, x0, ds.gd(0.05), **kw)
        r = batch[i]
        assert r.nit == single.nit
        np.testing.assert_array_equal(r.history.steps, single.history.steps)
        np.testing.assert_allclose(r.history.fun, single.history.fun, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(r.history.x, single.history.x, rtol=1e-12, atol=1e-300)


def test_fast_batch_stops_when_the_gradient_norm_overflows():
    # Finite entries of 1e200: their squared norm is inf (nonfinite), though the
    # clipped update keeps x finite.
    import optax

    f = lambda x: 0.5 * jnp.sum((x - 5.0) ** 2)  # noqa: E731
    g = lambda x: jnp.where((x > 1.2) & (x < 2.0), 1e200, x - 5.0)  # noqa: E731
    opt = optax.chain(optax.clip(1.0), optax.sgd(0.3, momentum=0.5))
    batch = ds.minimize_batch(f, np.zeros((1, 2)), opt, grad=g, gtol=0.0, max_steps=10)
    single = ds.minimize(f, np.zeros(2), opt, grad=g, gtol=0.0, max_steps=10)
    assert single.status == "nonfinite" and single.nit == 3
    assert (batch.status[0], batch.nit[0]) == (single.status, single.nit)
    np.testing.assert_allclose(batch.x[0], single.x)


@pytest.mark.parametrize("chunk_size", [4, 6, 8])
def test_fast_batch_records_an_overflowing_step_norm_as_inf(chunk_size):
    # float32 steps of 5e19: x stays finite (0, B, 0, B, ...; f = 0 at both), but the
    # squared step norm 2.5e39 is inf; no rule fires, so only the history shows it.
    c, lr = np.float32(5e18), 10.0
    b = lr * c
    f = lambda x: c * (jnp.abs(x[0] - b / 2) - b / 2)  # noqa: E731
    starts = np.zeros((2, 1), np.float32)
    kw = dict(max_steps=8, history=("step_size",))
    batch = ds.minimize_batch(f, starts, ds.gd(lr), chunk_size=chunk_size, **kw)
    single = ds.minimize(f, starts[0], ds.gd(lr), **kw)
    np.testing.assert_array_equal(single.history.step_size, [0.0] + [np.inf] * 8)
    for i in range(2):
        assert (batch.status[i], batch.nit[i]) == (single.status, single.nit)
        np.testing.assert_array_equal(batch.history.step_size[i], single.history.step_size)


def test_batch_result_pickles_before_and_after_its_messages_are_read():
    import pickle

    batch = ds.minimize_batch("sphere", np.ones((2, 3)), ds.gd(0.1))
    again = pickle.loads(pickle.dumps(batch))
    assert list(again.message) == list(batch.message)
    assert pickle.loads(pickle.dumps(batch)).message[0].startswith("gradient norm")


@pytest.mark.parametrize("dtype, gtol", [(np.float32, 2e-19), (np.float64, 1e-150)])
def test_smallest_tolerances_fire_in_batches_as_in_single_runs(dtype, gtol):
    # lr 0.5 lands on the minimum of sum((w-1)^2) in one step (gradient exactly 0);
    # the others approach it. gtol^2 is near the smallest normal number, where the
    # batch's per-entry test must still fire exactly when the single run's does.
    def f(w):
        return jnp.sum((w - 1.0) ** 2)

    starts = np.array([[0.0, 3.0], [2.0, -1.0]], dtype)
    lrs = [0.5, 0.25, 0.1]
    opts = dict(max_steps=400, gtol=gtol, xtol=gtol, history=False)
    batch = ds.minimize_batch(f, starts, ds.gd, learning_rates=lrs, **opts)
    for i in range(2):
        for j, lr in enumerate(lrs):
            single = ds.minimize(f, starts[i], ds.gd(lr), **opts)
            assert (batch.status[i, j], batch.nit[i, j]) == (single.status, single.nit)
            np.testing.assert_array_equal(batch.x[i, j], single.x)
    assert batch.status[0, 0] == "gtol" and batch.nit[0, 0] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tolerance_equal_to_a_power_of_two_fires_in_a_lone_batch_run(dtype):
    # gd with lr 2 from 1.25 on (w-1)^2 steps to 0.25: |f1 - f0| = 0.5 = ftol exactly,
    # and the gradient norm at 0.25 is 1.5 (gtol 2 fires at once from the start: 0.5).
    def f(w):
        return jnp.sum((w - 1.0) ** 2)

    x0 = np.array([1.25], dtype)
    for opts in (dict(ftol=0.5), dict(gtol=0.5)):
        single = ds.minimize(f, x0, ds.gd(2.0), max_steps=5, history=False, **opts)
        batch = ds.minimize_batch(
            f, x0[None], ds.gd, learning_rates=[2.0], max_steps=5, history=False, **opts
        )
        assert (batch.status[0, 0], batch.nit[0, 0]) == (single.status, single.nit)
        np.testing.assert_array_equal(batch.x[0, 0], single.x)
        assert single.status in ("ftol", "gtol") and single.nit <= 1


def test_float32_gradient_of_float64_start_overflows_as_in_a_single_run():
    def f(w):
        return jnp.sum(w**2)

    def g(w):  # float32 whose squared norm overflows at the second iterate only
        g0 = jnp.where(w[0] < 2.5, -1e19, jnp.where(w[0] < 3.5, 3e19, 0.0))
        return jnp.stack([g0, 0.0]).astype(jnp.float32)

    x0 = np.array([1.0, 1.0])
    opts = dict(max_steps=4, history=False, grad=g)
    batch = ds.minimize_batch(f, x0[None], ds.gd, learning_rates=[1e-19], **opts)
    single = ds.minimize(f, x0, ds.gd(1e-19), **opts)
    assert (batch.status[0, 0], batch.nit[0, 0]) == (single.status, single.nit) == ("nonfinite", 2)


def test_batch_with_a_line_search_equals_single_runs():
    # L-BFGS needs value and value_fn: the batch takes the step-by-step loop, whose runs
    # stop at their own steps and keep their own history.
    import optax

    starts = np.array([[-1.2, 1.0], [0.5, 0.5], [2.0, -1.0]])
    rosen = ds.functions.get("rosenbrock")
    kw = dict(gtol=1e-8, max_steps=200, history=True)
    batch = ds.minimize_batch(rosen, starts, optax.lbfgs(), **kw)
    assert len(set(batch.nit.tolist())) > 1
    for i, x0 in enumerate(starts):
        single = ds.minimize(rosen, x0, optax.lbfgs(), **kw)
        assert (batch.status[i], batch.nit[i], batch.nfev[i]) == (
            single.status,
            single.nit,
            single.nfev,
        )
        np.testing.assert_allclose(batch.x[i], [1.0, 1.0], atol=1e-7)
        np.testing.assert_allclose(batch[i].history.x, single.history.x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(batch[i].history.fun, single.history.fun, rtol=1e-10, atol=1e-20)
