"""minimize: closed forms, hand-computed steps, known minima, stopping and divergence."""

import dataclasses
import os

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import descend as ds


def seed_quadratic(w):
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def beale(x):
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


# A symmetric positive definite A with eigenvalues 1, 3, 10 (L = 10) and b.
_Q = np.linalg.qr(np.array([[1.0, 2, 0], [0, 1, 1], [1, 0, 3]]))[0]
A = _Q @ np.diag([1.0, 3.0, 10.0]) @ _Q.T
B = np.array([1.0, -2.0, 0.5])
X_STAR = np.linalg.solve(A, B)


def quad(x):
    return 0.5 * x @ (jnp.asarray(A) @ x) - jnp.asarray(B) @ x


def test_seed_example_from_the_issue():
    res = ds.minimize(seed_quadratic, jnp.zeros(3), optimizer=ds.gd(learning_rate=0.1), gtol=1e-8)
    assert res.status == ds.Status.GTOL and res.status == "gtol" and res.success
    np.testing.assert_allclose(res.x, [1.0, -2.0, 0.5], atol=1e-8)
    assert res.grad_norm <= 1e-8
    assert res.history.x.shape == (res.nit + 1, 3)
    for name in ("fun", "grad_norm", "step_size"):
        assert getattr(res.history, name).shape == (res.nit + 1,)
    assert f"after {res.nit} steps" in res.message and "<= gtol 1e-08" in res.message
    text = repr(res)
    for field in ("x", "fun", "nit", "status", "message"):
        assert f"{field}:" in text


def test_gd_follows_closed_form_on_quadratic():
    lr, x0 = 0.05, np.array([3.0, -1.0, 2.0])
    res = ds.minimize(quad, x0, ds.gd(lr), gtol=0.0, max_steps=50)
    assert res.status == "max_steps" and res.nit == 50
    M = np.eye(3) - lr * A
    for k in range(51):
        expected = X_STAR + np.linalg.matrix_power(M, k) @ (x0 - X_STAR)
        np.testing.assert_allclose(res.history.x[k], expected, rtol=0, atol=1e-12)
    # The recorded f, gradient norm and step size are those of the iterates.
    xs = res.history.x
    np.testing.assert_allclose(res.history.fun, [0.5 * x @ A @ x - B @ x for x in xs], atol=1e-12)
    np.testing.assert_allclose(
        res.history.grad_norm, np.linalg.norm(xs @ A - B, axis=1), atol=1e-12
    )
    np.testing.assert_allclose(
        res.history.step_size[1:], np.linalg.norm(np.diff(xs, axis=0), axis=1), atol=1e-12
    )
    assert res.history.step_size[0] == 0.0


def _first_three(optimizer, x0, c):
    """Three steps on f(x) = sum(c * x**2) / 2, whose gradient is c * x."""
    f = lambda x: 0.5 * jnp.sum(jnp.asarray(c) * x**2)  # noqa: E731
    res = ds.minimize(f, x0, optimizer, gtol=0.0, max_steps=3)
    return res.history.x


X0 = np.array([1.0, -2.0])
C = np.array([1.0, 4.0])


def test_momentum_first_steps_by_hand():
    lr, beta = 0.1, 0.9
    x, v, xs = X0.copy(), np.zeros(2), [X0.copy()]
    for _ in range(3):
        g = C * x
        v = beta * v + g
        x = x - lr * v
        xs.append(x.copy())
    np.testing.assert_allclose(_first_three(ds.momentum(lr, beta=beta), X0, C), xs, atol=1e-14)
    # step 1 written out: v1 = g0 = (1, -8); x1 = x0 - 0.1 v1
    np.testing.assert_allclose(xs[1], [0.9, -1.2])


def test_nesterov_first_steps_by_hand():
    lr, beta = 0.1, 0.9
    x, v, xs = X0.copy(), np.zeros(2), [X0.copy()]
    for _ in range(3):
        g = C * x
        v = beta * v + g
        x = x - lr * (g + beta * v)
        xs.append(x.copy())
    np.testing.assert_allclose(_first_three(ds.nesterov(lr, beta=beta), X0, C), xs, atol=1e-14)


def test_adagrad_first_steps_by_hand():
    lr, g0, eps = 0.5, 0.1, 1e-7
    x, G, xs = X0.copy(), np.full(2, g0), [X0.copy()]
    for _ in range(3):
        g = C * x
        G = G + g**2
        x = x - lr * g / np.sqrt(G + eps)
        xs.append(x.copy())
    got = _first_three(ds.adagrad(lr, initial_accumulator_value=g0, eps=eps), X0, C)
    np.testing.assert_allclose(got, xs, atol=1e-14)


def test_rmsprop_first_steps_by_hand():
    lr, rho, eps = 0.01, 0.9, 1e-8
    x, s, xs = X0.copy(), np.zeros(2), [X0.copy()]
    for _ in range(3):
        g = C * x
        s = rho * s + (1 - rho) * g**2
        x = x - lr * g / (np.sqrt(s) + eps)
        xs.append(x.copy())
    np.testing.assert_allclose(
        _first_three(ds.rmsprop(lr, decay=rho, eps=eps), X0, C), xs, atol=1e-14
    )
    # step 1: s1 = 0.1 g^2, so the step is lr * sign(g) / sqrt(0.1) per coordinate
    np.testing.assert_allclose(xs[1], X0 - lr * np.sign(X0) / np.sqrt(0.1), atol=1e-9)


def test_adam_first_steps_by_hand():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    x, m, v, xs = X0.copy(), np.zeros(2), np.zeros(2), [X0.copy()]
    for t in range(1, 4):
        g = C * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        mh, vh = m / (1 - b1**t), v / (1 - b2**t)
        x = x - lr * mh / (np.sqrt(vh) + eps)
        xs.append(x.copy())
    np.testing.assert_allclose(
        _first_three(ds.adam(lr, b1=b1, b2=b2, eps=eps), X0, C), xs, atol=1e-14
    )
    # Adam's first step has length lr per coordinate, whatever the gradient's size.
    np.testing.assert_allclose(np.abs(xs[1] - X0), [lr, lr], atol=1e-8)


def test_adamw_first_step_by_hand():
    lr, wd = 0.1, 0.5
    g = C * X0
    m, v = 0.1 * g, 0.001 * g**2
    x1 = X0 - lr * ((m / 0.1) / (np.sqrt(v / 0.001) + 1e-8) + wd * X0)
    got = _first_three(ds.adamw(lr, weight_decay=wd), X0, C)
    np.testing.assert_allclose(got[1], x1, atol=1e-14)


def test_learning_rate_edge_two_over_L():
    # f = 0.5 x^T A x - b^T x has L = 10: GD converges iff lr < 2/L = 0.2.
    x0 = np.array([1.0, 1.0, 1.0])
    bad = ds.minimize(quad, x0, ds.gd(0.2 * 1.05), max_steps=5000)
    assert bad.status == "diverged" and not bad.success
    assert "smaller learning rate" in bad.message and f"step {bad.nit}" in bad.message
    assert np.all(np.isfinite(bad.x))
    assert bad.history.x.shape[0] == bad.nit + 1
    good = ds.minimize(quad, x0, ds.gd(0.2 * 0.95), gtol=1e-9, max_steps=5000)
    assert good.status == "gtol"
    np.testing.assert_allclose(good.x, X_STAR, atol=1e-8)


def test_diverged_message_suggests_learning_rate_from_curvature():
    res = ds.minimize(quad, np.ones(3), ds.gd(0.3), max_steps=5000)
    assert res.status == "diverged"
    # L = 10 exactly, so the message names 2/L = 0.2.
    assert "2/L = 0.2" in res.message


def test_nonfinite_returns_last_finite_iterate():
    # f(x) = x - log(x) has its minimum at 1; from x = 2 a step of 10 lands at -3.
    f = lambda x: jnp.sum(x - jnp.log(x))  # noqa: E731
    res = ds.minimize(f, jnp.array([2.0]), ds.gd(10.0))
    assert res.status == "nonfinite" and not res.success
    assert res.nit == 1
    np.testing.assert_allclose(res.x, [2.0])
    np.testing.assert_allclose(res.fun, 2 - np.log(2))
    np.testing.assert_allclose(res.jac, [0.5])
    assert np.isnan(res.history.fun[-1])
    assert "step 1" in res.message and "last finite iterate" in res.message


def test_nan_at_start_is_nonfinite_not_success():
    res = ds.minimize(lambda x: jnp.sum(jnp.sqrt(x - 5.0)), jnp.array([1.0]), ds.gd(0.1))
    assert res.status == "nonfinite" and not res.success and res.nit == 0


OPTIMIZER_SETTINGS = {
    "gd": ds.gd(1e-3),
    "momentum": ds.momentum(1e-3, beta=0.9),
    "nesterov": ds.nesterov(1e-3, beta=0.9),
    "adagrad": ds.adagrad(0.5),
    "rmsprop": ds.rmsprop(optax.exponential_decay(1e-3, 2000, 0.5)),
    "adam": ds.adam(1e-2),
    "adamw": ds.adamw(1e-2, weight_decay=0.0),
    "lbfgs": optax.lbfgs(),
}


@pytest.mark.parametrize("name", list(OPTIMIZER_SETTINGS))
@pytest.mark.parametrize(
    "fun, x0, xmin",
    [(rosenbrock, [-1.2, 1.0], [1.0, 1.0]), (beale, [1.0, 1.0], [3.0, 0.5])],
    ids=["rosenbrock", "beale"],
)
def test_every_optimizer_reaches_known_minimum(name, fun, x0, xmin):
    res = ds.minimize(
        fun, jnp.array(x0), OPTIMIZER_SETTINGS[name], gtol=1e-8, max_steps=100_000, history=False
    )
    assert res.status == "gtol", res.message
    np.testing.assert_allclose(res.x, xmin, atol=1e-6)
    assert res.fun < 1e-12  # both minima have f = 0


def test_lbfgs_agrees_with_scipy():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    ref = scipy_optimize.minimize(
        lambda x: float(rosenbrock(x)), [-1.2, 1.0], method="L-BFGS-B", tol=1e-12
    )
    res = ds.minimize(rosenbrock, jnp.array([-1.2, 1.0]), optax.lbfgs(), gtol=1e-10)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    assert res.nit < 100 and res.nfev >= res.nit + 1


def test_optax_line_search_transformation_works():
    import jax

    opt = optax.chain(
        optax.sgd(1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=30)
    )
    # Step for step the same iterates as optax's own loop with this transformation.
    steps = 25
    res = ds.minimize(quad, np.ones(3), opt, gtol=0.0, max_steps=steps)
    x, state = jnp.ones(3), opt.init(jnp.ones(3))
    value_and_grad = jax.jit(jax.value_and_grad(quad))
    for k in range(steps):
        np.testing.assert_allclose(res.history.x[k], x, rtol=1e-12, atol=1e-12)
        value, g = value_and_grad(x)
        updates, state = opt.update(g, state, x, value=value, grad=g, value_fn=quad)
        x = optax.apply_updates(x, updates)
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-12)
    # And it converges: a gradient norm of 1e-6 puts x within 1e-6 / lambda_min of x*.
    res = ds.minimize(quad, np.ones(3), opt, gtol=1e-6, max_steps=10_000)
    assert res.status == "gtol" and res.grad_norm <= 1e-6
    assert np.linalg.norm(res.x - X_STAR) <= 1e-6 / 1.0


def test_optimizer_by_name_and_any_optax_transformation():
    r1 = ds.minimize(quad, np.ones(3), "adam", max_steps=20_000)
    r2 = ds.minimize(quad, np.ones(3), ds.adam(), max_steps=20_000)
    np.testing.assert_array_equal(r1.x, r2.x)
    r3 = ds.minimize(quad, np.ones(3), optax.chain(optax.scale(-0.1)), gtol=1e-9, max_steps=5000)
    np.testing.assert_allclose(r3.x, X_STAR, atol=1e-8)


def test_schedule_as_learning_rate():
    sched = optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5)
    res = ds.minimize(lambda x: jnp.sum(x**2), np.array([1.0]), ds.gd(sched), gtol=0.0, max_steps=2)
    # x1 = x0 (1 - 2 * 0.1); x2 = x1 (1 - 2 * 0.1 * 0.5 ** 0.1)
    x1 = 1 - 0.2
    x2 = x1 * (1 - 0.2 * 0.5**0.1)
    np.testing.assert_allclose(res.history.x[:, 0], [1.0, x1, x2], atol=1e-14)


def test_xtol_and_ftol_rules_with_their_numbers():
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=0.0, xtol=1e-6)
    assert r.status == "xtol" and r.history.step_size[-1] <= 1e-6 < r.history.step_size[-2]
    assert "step size" in r.message and "xtol 1e-06" in r.message
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=0.0, ftol=1e-10)
    fh = r.history.fun
    assert r.status == "ftol" and abs(fh[-1] - fh[-2]) <= 1e-10 < abs(fh[-2] - fh[-3])
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=0.0, max_steps=7)
    assert r.status == "max_steps" and r.nit == 7 and not r.success
    assert "max_steps 7" in r.message


def test_start_at_minimum_stops_at_step_zero():
    r = ds.minimize(seed_quadratic, np.array([1.0, -2.0, 0.5]), ds.gd(0.1))
    assert r.status == "gtol" and r.nit == 0 and r.nfev == 1 and len(r.history) == 1


def test_pytree_parameters_and_args():
    def loss(params, target):
        return jnp.sum((params["w"] - target) ** 2) + (params["b"] - 3.0) ** 2

    res = ds.minimize(
        loss,
        {"w": jnp.zeros(2), "b": jnp.array(0.0)},
        ds.gd(0.25),
        args=(jnp.array([1.0, 2.0]),),
        gtol=1e-10,
    )
    np.testing.assert_allclose(res.x["w"], [1.0, 2.0], atol=1e-10)
    np.testing.assert_allclose(res.x["b"], 3.0, atol=1e-10)
    assert res.history.x["w"].shape == (res.nit + 1, 2)
    assert res.history.x["b"].shape == (res.nit + 1,)
    tup = ds.minimize(lambda p: (p[0] - 1) ** 2 + (p[1] + 1) ** 2, (0.0, 0.0), ds.gd(0.25))
    np.testing.assert_allclose([tup.x[0], tup.x[1]], [1.0, -1.0], atol=1e-6)


def test_user_gradient_and_numeric_gradient():
    g = lambda x: jnp.asarray(A) @ x - jnp.asarray(B)  # noqa: E731
    r1 = ds.minimize(quad, np.ones(3), ds.gd(0.1), grad=g, gtol=1e-10)
    np.testing.assert_allclose(r1.x, X_STAR, atol=1e-9)

    def numpy_quad(x):  # a black box: plain numpy, not traceable
        x = np.asarray(x)
        return float(0.5 * x @ A @ x - B @ x)

    r2 = ds.minimize(numpy_quad, np.ones(3), ds.gd(0.1), grad="numeric", gtol=1e-7)
    assert r2.status == "gtol"
    np.testing.assert_allclose(r2.x, X_STAR, atol=1e-6)


def test_float32_stays_float32_and_float64_is_default():
    r32 = ds.minimize(seed_quadratic, jnp.zeros(3, jnp.float32), ds.gd(0.1), gtol=1e-4)
    assert r32.x.dtype == np.float32 and r32.history.x.dtype == np.float32
    assert r32.history.fun.dtype == np.float32 and r32.status == "gtol"
    r64 = ds.minimize(seed_quadratic, [0, 0, 0], ds.gd(0.1), gtol=1e-12)
    assert r64.x.dtype == np.float64 and r64.status == "gtol"


def test_record_every_keeps_every_kth_and_the_last():
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=1e-8, record_every=10)
    assert r.nit == 86
    np.testing.assert_array_equal(r.history.steps, [0, 10, 20, 30, 40, 50, 60, 70, 80, 86])
    full = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=1e-8)
    np.testing.assert_array_equal(r.history.x, full.history.x[r.history.steps])
    np.testing.assert_array_equal(r.history.fun, full.history.fun[r.history.steps])
    r = ds.minimize(
        seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=0.0, max_steps=30, record_every=10
    )
    np.testing.assert_array_equal(r.history.steps, [0, 10, 20, 30])


def test_history_off_and_partial():
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), history=False)
    assert r.history is None and r.status == "gtol"
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), history=("fun",))
    assert r.history.x is None and r.history.fun.shape == (r.nit + 1,)
    np.testing.assert_allclose(r.history.fun[0], 9.75)


@pytest.mark.parametrize("b_dtype", [np.float64, np.float32])
def test_history_of_a_pytree_follows_the_closed_form(b_dtype):
    # f = |a|^2 + |b|^2 + c^2: gd with lr 0.1 scales every entry by 0.8 a step. Leaves
    # of one dtype share one history table; a float32 leaf keeps buffers of its own.
    x0 = {"a": np.array([1.0, -2.0]), "b": np.ones((2, 2), b_dtype), "c": np.float64(3.0)}

    def f(p):
        return jnp.sum(p["a"] ** 2) + jnp.sum(p["b"].astype(jnp.float64) ** 2) + p["c"] ** 2

    res = ds.minimize(f, x0, ds.gd(0.1), max_steps=6, gtol=0.0)
    scale = 0.8 ** np.arange(7)
    for name, leaf in x0.items():
        got = res.history.x[name]
        assert got.dtype == np.asarray(leaf).dtype and got.shape == (7,) + np.shape(leaf)
        want = scale.reshape((7,) + (1,) * np.ndim(leaf)) * np.asarray(leaf, np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-6 if b_dtype == np.float32 else 1e-14)
    grad_norm = 2 * np.sqrt(1 + 4 + 4 + 9) * scale  # |grad f| = 2 |x|
    np.testing.assert_allclose(res.history.grad_norm, grad_norm, rtol=1e-6)
    np.testing.assert_allclose(res.history.fun, (1 + 4 + 4 + 9) * scale**2, rtol=1e-6)


def test_history_budget_is_checked_before_running():
    with pytest.raises(ValueError, match=r"history would need .* GiB.*record_every"):
        ds.minimize(lambda x: jnp.sum(x**2), jnp.ones(100_000), max_steps=10_000)
    r = ds.minimize(
        lambda x: jnp.sum(x**2), jnp.ones(100_000), ds.gd(0.25), max_steps=10_000, history=("fun",)
    )
    assert r.status == "gtol"
    with pytest.raises(ValueError, match="max_history_bytes"):
        ds.minimize(seed_quadratic, np.zeros(3), max_history_bytes=100)


def test_result_is_immutable_and_dict_like():
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.fun = 0.0
    assert r["nit"] == r.nit and r.nfev == r.nit + 1 and r.wall_time >= 0


def test_throw_raises_on_failure_only():
    with pytest.raises(RuntimeError, match="diverged"):
        ds.minimize(quad, np.ones(3), ds.gd(0.5), throw=True)
    assert ds.minimize(quad, np.ones(3), ds.gd(0.1), throw=True).success


def _count_traces(run):
    """How many functions JAX traces (to compile them, or to find them cached) in run()."""
    import jax

    events = []
    listener = lambda event, *a, **kw: events.append(event)  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return events.count("/jax/core/compile/jaxpr_trace_duration")


def test_jit_cache_reuses_compiled_loop():
    def f(w):  # a function no other test has compiled
        return seed_quadratic(w)

    first = _count_traces(lambda: ds.minimize(f, np.zeros(3), ds.gd(0.123)))
    again = _count_traces(lambda: ds.minimize(f, np.ones(3), ds.gd(0.123)))
    assert first >= 1 and again == 0  # a new start reuses the compiled loop as it is


def test_compilation_cache_is_private_to_the_test_session():
    import jax

    ds.minimize(seed_quadratic, np.zeros(3))  # a first run turns the cache on
    path = jax.config.jax_compilation_cache_dir
    assert path == os.environ["DESCEND_CACHE_DIR"] and os.path.isdir(path)
    assert not path.startswith(os.path.expanduser("~"))


def test_nonfinite_in_large_runs_replays_to_the_last_finite_iterate(monkeypatch):
    # Above KEEP_PREV_MAX_SIZE parameters the previous iterate is not carried; a nan
    # is answered by replaying the run. Lower the threshold to exercise that path.
    from descend._engine import plan

    f = lambda x: jnp.sum(x - jnp.log(x))  # noqa: E731
    x0 = jnp.array([1.2, 0.8])  # with lr 5: finite at steps 0 and 1, nan at step 2
    small = ds.minimize(f, x0, ds.gd(5.0), max_steps=100)
    monkeypatch.setattr(plan, "KEEP_PREV_MAX_SIZE", 1)
    big = ds.minimize(f, x0, ds.gd(5.0), max_steps=100)
    assert small.status == big.status == "nonfinite"
    assert big.nit == small.nit >= 2
    np.testing.assert_allclose(big.x, small.x, rtol=1e-14)
    np.testing.assert_allclose(big.fun, small.fun, rtol=1e-14)
    np.testing.assert_allclose(big.jac, small.jac, rtol=1e-14)
    assert np.all(np.isfinite(big.x))


def test_messages_show_tolerances_unrounded():
    r = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), gtol=1.4e-6)
    assert "<= gtol 1.4e-06" in r.message and r.grad_norm <= 1.4e-6


def test_nan_gradient_is_caught_where_it_happens_whatever_the_options():
    # f is finite everywhere, but where w < 0 the untaken sqrt branch makes the gradient nan.
    f = lambda w: jnp.sum(jnp.where(w > 0, jnp.sqrt(w), 0.0)) + jnp.sum((w - 0.3) ** 2)
    a = ds.minimize(f, jnp.array([0.5, 2.0]), ds.gd(0.6))
    b = ds.minimize(f, jnp.array([0.5, 2.0]), ds.gd(0.6), gtol=0.0, history=False)
    assert a.status == b.status == "nonfinite" and a.nit == b.nit
    np.testing.assert_array_equal(a.x, b.x)
    assert np.all(np.isfinite(b.jac))
    g = lambda w: jnp.sqrt(jnp.abs(w[0])) + w[1] ** 2  # gradient infinite at w0 = 0
    r = ds.minimize(g, jnp.array([0.0, 1.0]), ds.gd(0.04))
    assert r.status == "nonfinite" and r.nit == 0
    assert "the gradient is inf" in r.message and "choose another x0" in r.message


def test_more_input_shapes_and_clear_errors():
    r = ds.minimize(lambda p: jnp.sum(p[0] ** 2) + (p[1] - 1) ** 2, [np.ones(3), 2.0], ds.gd(0.25))
    assert isinstance(r.x, list) and r.status == "gtol"
    np.testing.assert_allclose(r.x[1], 1.0, atol=1e-6)
    with pytest.raises(TypeError, match="args must hold arrays or numbers"):
        ds.minimize(lambda w, mode: jnp.sum(w**2), jnp.ones(3), args=("sum",))
    with pytest.raises(TypeError, match="history must be True, False or field names"):
        ds.minimize(seed_quadratic, np.zeros(3), history=1)
    with pytest.raises(ValueError, match="max_history_bytes must be a positive number"):
        ds.minimize(seed_quadratic, np.zeros(3), max_history_bytes=-1)
    with pytest.raises(TypeError, match=r"b1 must be in \[0, 1\), got str"):
        ds.adam(0.1, b1="0.9")
    with pytest.raises(TypeError, match="weight_decay must be a non-negative number"):
        ds.adamw(0.1, weight_decay=None)
    b = ds.minimize_batch(seed_quadratic, np.zeros((2, 3)), ds.gd, learning_rates=[0.01, 0.1, 0.4])
    assert b[-1].status == b[1, 2].status == "diverged"
    with pytest.raises(IndexError, match="index one run with 2 integers"):
        b[0, :]


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "xla_cpu_small_while_loop_byte_threshold=65536"),
        ({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, "device_count=2 --xla_backend"),
        ({"XLA_FLAGS": "--xla_backend_extra_options=a=1"}, "--xla_backend_extra_options=a=1"),
        ({"DESCEND_XLA_FLAGS": "0"}, ""),
    ],
)
def test_import_sets_the_small_loop_threshold_unless_told_not_to(env, expected):
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "DESCEND_XLA_FLAGS")}
    code = "import os, descend; print(os.environ.get('XLA_FLAGS', ''))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    flags = out.stdout.strip()
    assert expected in flags
    if env.get("XLA_FLAGS", "").startswith("--xla_backend") or env.get("DESCEND_XLA_FLAGS"):
        assert "small_while_loop" not in flags


# Runs above KEEP_PREV_MAX_SIZE parameters use a loop that evaluates the gradient at
# the start of each step instead of carrying it (_engine.large); lowering the
# threshold runs these small problems through it, to compare with the usual loop.
LEAN_CASES = [
    ("gtol", seed_quadratic, np.zeros(3), ds.gd(0.1), dict(gtol=1e-8)),
    ("xtol", seed_quadratic, np.zeros(3), ds.gd(0.05), dict(gtol=0.0, xtol=1e-7)),
    ("ftol", seed_quadratic, np.zeros(3), ds.adam(0.05), dict(gtol=0.0, ftol=1e-12)),
    ("diverged", seed_quadratic, np.ones(3), ds.gd(0.4), dict(gtol=1e-8)),
    ("max_steps", "rosenbrock", np.zeros(2), ds.adam(1e-3), dict(max_steps=300)),
    ("nonfinite", lambda x: jnp.sum(x - jnp.log(x)), np.array([1.2, 0.8]), ds.gd(5.0), {}),
    ("nonfinite-at-1", lambda x: jnp.sum(x - jnp.log(x)), np.array([2.0, 0.8]), ds.gd(5.0), {}),
]


@pytest.mark.parametrize("case", LEAN_CASES, ids=[c[0] for c in LEAN_CASES])
@pytest.mark.parametrize("chunk_size, record_every", [(None, 1), (7, 3)])
def test_large_run_loop_matches_the_usual_loop(monkeypatch, case, chunk_size, record_every):
    from descend._engine import plan

    _, fun, x0, opt, kw = case
    kw = dict(kw, chunk_size=chunk_size, record_every=record_every)
    usual = ds.minimize(fun, x0, opt, **kw)
    monkeypatch.setattr(plan, "KEEP_PREV_MAX_SIZE", 1)
    lean = ds.minimize(fun, x0, opt, **kw)
    assert (lean.status, lean.nit) == (usual.status, usual.nit)
    assert lean.message.split(";")[0] == usual.message.split(";")[0]
    np.testing.assert_allclose(lean.x, usual.x, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lean.fun, usual.fun, rtol=1e-13, atol=1e-18)
    np.testing.assert_allclose(lean.jac, usual.jac, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(lean.grad_norm, usual.grad_norm, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(lean.history.steps, usual.history.steps)
    np.testing.assert_allclose(lean.history.x, usual.history.x, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lean.history.fun, usual.history.fun, rtol=1e-13, atol=1e-18)
    np.testing.assert_allclose(
        lean.history.grad_norm, usual.history.grad_norm, rtol=1e-12, atol=1e-13
    )
    # step_size is not kept for runs this large unless xtol or the history needs it
    np.testing.assert_allclose(
        lean.history.step_size, usual.history.step_size, rtol=1e-12, atol=1e-13
    )


def test_history_step_numbers_cannot_be_written():
    a = ds.minimize(seed_quadratic, np.zeros(3), ds.gd(0.1), max_steps=5, gtol=0.0)
    b = ds.minimize(seed_quadratic, np.ones(3), ds.gd(0.1), max_steps=5, gtol=0.0)
    with pytest.raises(ValueError):
        a.history.steps.setflags(write=True)
    np.testing.assert_array_equal(b.history.steps, np.arange(6))
