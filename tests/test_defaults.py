"""Defaults that work: learning_rate="auto", registry start points, unbounded and local
minima said plainly, and every built-in function through the command line as typed."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds
from descend.cli import main
from descend.functions import get, names

SUCCESS = ("gtol", "xtol", "ftol")


def seed_quadratic(w):  # Hessian diag(2, 4, 6): L = 6
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


# --------------------------------------------------------------------------- auto rates
def test_gd_auto_is_one_over_the_largest_curvature():
    res = ds.minimize(seed_quadratic, np.zeros(3))  # default optimizer: ds.gd() = auto
    assert res.learning_rate.value == pytest.approx(1 / 6, rel=1e-9)
    assert "1/L at the start (L = 6" in str(res.learning_rate)
    assert res.status == "gtol"
    # The first step is x0 - g0 / 6 with g0 = (-2, 8, -3): the update rule by hand.
    # (L comes from power iteration: 6 to about 1e-9.)
    np.testing.assert_allclose(res.history.x[1], [2 / 6, -8 / 6, 3 / 6], rtol=1e-8)
    assert "learning_rate: 0.1667 = 1/L" in repr(res)


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_momentum_auto_is_one_minus_beta_over_l(name):
    opt = ds.get_optimizer(name)(beta=0.8)
    res = ds.minimize(seed_quadratic, np.zeros(3), opt, max_steps=3)
    assert res.learning_rate.value == pytest.approx(0.2 / 6, rel=1e-9)
    # The same three steps as the factory given that rate by hand.
    by_hand = ds.get_optimizer(name)(res.learning_rate.value, beta=0.8)
    ref = ds.minimize(seed_quadratic, np.zeros(3), by_hand, max_steps=3)
    np.testing.assert_array_equal(res.history.x, ref.history.x)
    assert ref.learning_rate is None


@pytest.mark.parametrize(
    "name, value", [("adam", 0.01), ("adamw", 0.01), ("rmsprop", 0.01), ("adagrad", 0.1)]
)
def test_adaptive_auto_is_their_usual_default(name, value):
    res = ds.minimize(seed_quadratic, np.zeros(3), ds.get_optimizer(name)("auto"), max_steps=2)
    assert res.learning_rate.value == value
    ref = ds.minimize(seed_quadratic, np.zeros(3), ds.get_optimizer(name)(value), max_steps=2)
    np.testing.assert_array_equal(res.history.x, ref.history.x)


def test_auto_where_f_curves_down_or_not_at_all():
    # Hessian diag(-2, -4): no positive curvature; its largest size is 4.
    r = ds.minimize(lambda x: -(x[0] ** 2) - 2 * x[1] ** 2, np.array([1.0, 1.0]), max_steps=1)
    assert r.learning_rate.value == pytest.approx(0.25) and "curves down" in r.learning_rate.rule
    r = ds.minimize(lambda x: x[0] + 2 * x[1], np.zeros(2), max_steps=2)  # no curvature at all
    assert r.learning_rate.value == 0.1 and "no curvature" in r.learning_rate.rule
    np.testing.assert_allclose(r.x, [-0.2, -0.4])


def test_batch_takes_the_rate_chosen_at_each_start():
    b = ds.minimize_batch(seed_quadratic, np.array([[0.0, 0, 0], [3, 1, -2]]), max_steps=1)
    # One gd step of 1/6 from each start: x - g / 6, g = (2 (x1 - 1), 4 (x2 + 2), 6 (x3 - 0.5)).
    np.testing.assert_allclose(b.x, [[1 / 3, -4 / 3, 0.5], [7 / 3, -1.0, 0.5]], rtol=1e-8)
    np.testing.assert_allclose(b.learning_rate, [1 / 6, 1 / 6], rtol=1e-8)
    # Rosenbrock's curvature differs from start to start: each run equals a single run.
    starts = np.array([[0.0, 0.0], [-1.2, 1.0], [2.0, 2.0]])
    b = ds.minimize_batch("rosenbrock", starts, max_steps=100_000)
    for i, x0 in enumerate(starts):
        r = ds.minimize("rosenbrock", x0, max_steps=100_000, history=False)
        assert b.status[i] == r.status and b.nit[i] == r.nit
        np.testing.assert_allclose(b.learning_rate[i], r.learning_rate.value, rtol=1e-6)
    assert b.nit[1] == 48326 and b.status[1] == "gtol"  # (-1.2, 1): L = 1506 there
    # A momentum batch gets (1 - beta)/L at each start, as single runs do.
    b = ds.minimize_batch("rosenbrock", starts, ds.momentum(beta=0.8), max_steps=1)
    gd_rates = [ds.minimize("rosenbrock", x0, max_steps=1).learning_rate.value for x0 in starts]
    np.testing.assert_allclose(b.learning_rate, 0.2 * np.asarray(gd_rates), rtol=1e-6)


def test_a_new_start_reuses_the_compiled_loop():
    from descend._engine.compiled import compiled

    ds.minimize("rosenbrock", [-1.2, 1.0], max_steps=50)  # an "auto" rate of its own
    # init, chunk, init-then-chunk; small runs compile with quick options
    programs = compiled(False, False) + compiled(False, False, True)
    before = [f._cache_size() for f in programs]
    events = []
    listener = lambda event, *a, **kw: events.append(event)  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        r = ds.minimize("rosenbrock", [-1.0, 1.5], max_steps=50)  # another rate
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    # The rate is an input of the compiled loop, not a constant baked into it, and the
    # curvature's Hessian-vector product takes the start as an input too.
    assert r.learning_rate.value != pytest.approx(1 / 1506, rel=1e-2)
    assert [f._cache_size() for f in programs] == before
    assert "/jax/core/compile/backend_compile_duration" not in events


def test_converged_far_below_the_start_is_a_success_not_unbounded():
    # min f = -4e8 at x = 2e4: from 0 (f0 = 0) f falls by more than 1e8 max(|f0|, 1) in
    # its one step (lr 1/L = 1/2 lands on the minimum), yet the gradient is 0 there.
    res = ds.minimize(lambda x: jnp.sum((x - 2e4) ** 2) - 4e8, np.zeros(1))
    assert res.status == "gtol" and res.nit == 1 and res.fun == -4e8


def test_auto_rejects_other_strings_and_bad_hyperparameters():
    with pytest.raises(
        TypeError, match="learning_rate must be a positive number, an optax schedule or 'auto'"
    ):
        ds.gd("fast")
    with pytest.raises(ValueError, match="beta"):
        ds.momentum("auto", beta=1.5)


# --------------------------------------------------------------------------- statuses
def test_unbounded_below_stops_with_the_direction():
    # x^2 - y^2 from (1, 0.5) with lr 0.5: x goes to 0 in one step and y doubles every
    # step, so f_k = -0.25 4^k; f0 - f > 1e8 max(|f0|, 1) (f0 = 0.75) first at k = 15.
    res = ds.minimize("saddle", [1.0, 0.5], ds.gd(0.5))
    assert res.status == "unbounded" and not res.success and res.nit == 15
    assert res.fun == -0.25 * 4.0**15
    # x - x0 = (-1, 0.5 (2^15 - 1)): the direction (0, 1) to three digits.
    assert "f looks unbounded below along the direction (0, 1): it fell to -2.68e+08" in res.message
    # A batch stops each run at the same step.
    b = ds.minimize_batch("saddle", np.array([[1.0, 0.5], [1.0, 0.0]]), ds.gd(0.5))
    assert list(b.status) == ["unbounded", "gtol"] and list(b.nit) == [15, 1]


def test_a_local_minimum_says_so_and_the_global_one_does_not():
    res = ds.minimize("rastrigin", [-3.072, -3.072])
    assert res.success and res.fun > 1  # the ripple nearest the start
    assert res.message.endswith("; a local minimum: the global minimum is f = 0 at (0, 0)")
    res = ds.minimize("himmelblau", [-3.0, -3.0])
    assert res.success and "local" not in res.message


# --------------------------------------------------------------------------- start points
def test_registry_start_points():
    assert get("rosenbrock").start() == (-1.2, 1.0)  # Moré, Garbow, Hillstrom (1981)
    assert get("rosenbrock").start(4) == (-1.2, 1.0, -1.2, 1.0)
    assert get("beale").start() == (1.0, 1.0)
    assert get("seed-quadratic").start() == (0.0, 0.0, 0.0)
    assert get("himmelblau").start() == (-3.0, -3.0)  # a fifth into [-5, 5]
    for name in names():
        tf = get(name)
        x0 = tf.start()
        assert all(lo <= v <= hi for v, (lo, hi) in zip(x0, tf.domain())), name


# --------------------------------------------------------------------------- the CLI
def _cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out


def _field(out, name):
    m = re.search(rf"^{name}\s+(.*)$", out, flags=re.M)
    assert m, out
    return m.group(1)


@pytest.mark.parametrize("name", names())
def test_run_with_defaults_succeeds_on_every_builtin(capsys, name):
    rc, out = _cli(capsys, "run", name)
    assert rc == 0
    tf = get(name)
    start = ", ".join(f"{v:g}" for v in tf.start())
    assert _field(out, "start") == f"({start})"
    assert re.search(r"learning rate [0-9.e+-]+ = 1/L at the start \(L = ", out), out
    status = _field(out, "status").split()[0]
    message = _field(out, "message")
    if name == "saddle":
        assert status == "unbounded"
        assert "f looks unbounded below along the direction (" in message
        return
    assert status in SUCCESS, message
    f = float(_field(out, "f"))
    best = tf.global_minima()[0].f
    if f > best + 1e-6 * max(1, abs(best)):  # Rastrigin, Ackley, Levi: the nearest ripple
        assert "a local minimum: the global minimum is f = " in message
    else:
        assert "local" not in message


@pytest.mark.parametrize("name", names())
def test_compare_with_defaults_never_diverges(capsys, name):
    rc, out = _cli(capsys, "compare", name)
    assert rc == 0
    rows = re.findall(r"^\s*\d\s+(gd|momentum|adam)\s+(\S+)\s+(\w+)\s", out, flags=re.M)
    assert sorted(r[0] for r in rows) == ["adam", "gd", "momentum"], out
    for optimizer, lr, status in rows:
        assert status not in ("diverged", "nonfinite"), (optimizer, lr, status)
        if name == "saddle" and optimizer != "adam":  # adam's steps of 0.01 fall slowly
            assert status == "unbounded"
    assert "gd, learning rate" in out and "= (1 - 0.9)/L at the start" in out


def test_auto_for_a_black_box_function_uses_its_own_gradient():
    # 10 |x|^2 in numpy: JAX cannot differentiate it; central differences of the numeric
    # gradient give the Hessian 20 I, so gd takes 1/20 and lands on 0 in one step.
    f = lambda x: 10.0 * np.sum(np.asarray(x) ** 2)  # noqa: E731
    res = ds.minimize(f, np.array([1.0, 2.0]), grad="numeric")
    assert res.learning_rate.value == pytest.approx(0.05, rel=1e-5)
    assert res.status == "gtol" and np.abs(res.x).max() < 1e-4
