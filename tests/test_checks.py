"""One rule for every number of the public API: a wrong type (a string, a bool, a list,
None) raises TypeError, a wrong value (out of range, nan) raises ValueError, and both
messages name the argument. One resolver turns a name or formula into a function, and
one central-difference routine serves grad="numeric" and check_grad."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # before matplotlib is imported anywhere

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import pytest

import descend as ds
import descend.plot as dp
from descend import _objective, calculus
from descend._checks import check_int, check_real


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def sphere(x):
    return jnp.sum(x**2)


DOMAIN = [(-1.0, 1.0), (-1.0, 1.0)]

# Wrong types for a real number and for an integer.
NOT_REAL = ["0.1", True, None, [0.1], np.array([0.1, 0.2])]
NOT_INT = ["3", True, None, 2.5, float("nan"), [3], np.array([3, 4])]
OR_NONE = [v for v in NOT_REAL if v is not None]  # where None means "the default"
INT_OR_NONE = [v for v in NOT_INT if v is not None]
LEVELS = ["3", True, None, 2.5, float("nan")]  # a sequence is levels' other form

# (name, call taking the value, wrong values[, wrong types]); the value goes to the
# argument ``name``.
REALS = [
    ("learning_rate", lambda v: ds.gd(v), [0, -1, float("nan"), float("inf")]),
    ("learning_rate", lambda v: ds.adam(v), [0, -1e-3, float("nan")]),
    ("beta", lambda v: ds.momentum(0.1, beta=v), [-0.1, 1.0, 1.5, float("nan")]),
    ("beta", lambda v: ds.nesterov("auto", beta=v), [-1, 1, float("nan")]),
    (
        "initial_accumulator_value",
        lambda v: ds.adagrad(0.1, initial_accumulator_value=v),
        [-1, float("nan")],
    ),
    ("eps", lambda v: ds.adagrad(0.1, eps=v), [0, -1, float("nan")]),
    ("decay", lambda v: ds.rmsprop(0.1, decay=v), [-1, 1, float("nan")]),
    ("eps", lambda v: ds.rmsprop(0.1, eps=v), [0, -1, float("nan")]),
    ("b1", lambda v: ds.adam(0.1, b1=v), [-1, 1, float("nan")]),
    ("b2", lambda v: ds.adam(0.1, b2=v), [-0.5, 1.0, float("nan")]),
    ("eps", lambda v: ds.adam(0.1, eps=v), [0, -1, float("nan")]),
    ("weight_decay", lambda v: ds.adamw(0.1, weight_decay=v), [-1, float("nan"), float("inf")]),
    ("b1", lambda v: ds.adamw("auto", b1=v), [1.0, float("nan")]),
    ("condition", lambda v: ds.functions.elliptic(v), [0.5, -1, float("nan"), float("inf")]),
    (
        "rtol",
        lambda v: ds.check_grad(sphere, ds.grad(sphere), [1.0, 2.0], rtol=v),
        [-1, float("nan")],
    ),
    ("tol", lambda v: ds.classify(sphere, [0.0, 0.0], tol=v), [-1, float("nan")], OR_NONE),
    ("gtol", lambda v: ds.classify(sphere, [0.0, 0.0], gtol=v), [-1, float("nan")]),
    ("tol", lambda v: ds.multistart(sphere, 2, DOMAIN, tol=v), [-1, float("nan")], OR_NONE),
    ("tol", lambda v: ds.basins(sphere, DOMAIN, resolution=3, tol=v), [-1, float("nan")], OR_NONE),
    ("tol", lambda v: ds.convexity(sphere, DOMAIN, samples=3, tol=v), [-1, float("nan")]),
    (
        "fps",
        lambda v: dp.animate(sphere, None, os.path.join(os.getcwd(), "x.gif"), fps=v),
        [0, -1, float("nan")],
    ),
    ("gtol", lambda v: ds.minimize(sphere, [1.0], gtol=v), [-1, float("nan")]),
    (
        "diverge_factor",
        lambda v: ds.minimize(sphere, [1.0], diverge_factor=v),
        [0, -1, float("nan")],
    ),
]

INTS = [
    ("n_starts", lambda v: ds.multistart(sphere, v, DOMAIN), [0, -1]),
    ("seed", lambda v: ds.multistart(sphere, 2, DOMAIN, seed=v), [-1]),
    ("resolution", lambda v: ds.basins(sphere, DOMAIN, resolution=v), [1, 0, -1]),
    ("iters", lambda v: ds.suggest_learning_rate(sphere, [1.0, 1.0], iters=v), [0, -1]),
    ("seed", lambda v: ds.suggest_learning_rate(sphere, [1.0, 1.0], seed=v), [-1]),
    ("samples", lambda v: ds.convexity(sphere, DOMAIN, samples=v), [0, -1]),
    ("seed", lambda v: ds.convexity(sphere, DOMAIN, samples=3, seed=v), [-1]),
    ("n", lambda v: ds.functions.get("rosenbrock").domain(v), [0, -1], INT_OR_NONE),
    ("n", lambda v: ds.functions.get("sphere").start(v), [0, -1], INT_OR_NONE),
    ("n", lambda v: ds.functions.get("sphere").minima(v), [0, -1], INT_OR_NONE),
    ("resolution", lambda v: dp.contour(sphere, domain=DOMAIN, resolution=v), [1, 0, -1]),
    (
        "levels",
        lambda v: dp.contour(sphere, domain=DOMAIN, resolution=5, levels=v),
        [1, 0, -1],
        LEVELS,
    ),
    ("resolution", lambda v: dp.surface(sphere, domain=DOMAIN, resolution=v), [1, -1]),
    ("resolution", lambda v: dp.slice_path("sphere", None, resolution=v), [1, -1]),
    ("levels", lambda v: dp.slice_path("sphere", None, levels=v), [1, -1], LEVELS),
    (
        "max_frames",
        lambda v: dp.animate(sphere, None, os.path.join(os.getcwd(), "x.gif"), max_frames=v),
        [0, -1],
    ),
    ("max_steps", lambda v: ds.minimize(sphere, [1.0], max_steps=v), [0, -1]),
    ("record_every", lambda v: ds.minimize(sphere, [1.0], record_every=v), [0, -1]),
]


def _ids(cases):
    return [f"{name}-{i}" for i, (name, *_) in enumerate(cases)]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # animate's target folder must exist


REALS = [case if len(case) == 4 else (*case, NOT_REAL) for case in REALS]
INTS = [case if len(case) == 4 else (*case, NOT_INT) for case in INTS]


@pytest.mark.parametrize("name, call, bad_values, bad_types", REALS + INTS, ids=_ids(REALS + INTS))
def test_numeric_arguments(name, call, bad_values, bad_types, in_tmp):
    for value in bad_types:
        with pytest.raises(TypeError, match=rf"^{name} must be .*, got {type(value).__name__}"):
            call(value)
    for value in bad_values:
        with pytest.raises(ValueError, match=rf"^{name} must be "):
            call(value)
    for value in bad_values:
        with pytest.raises(ValueError, match=rf"^{name} must be "):
            call(value)


def test_levels_as_values():
    fig = dp.contour(sphere, domain=DOMAIN, resolution=5, levels=[0.1, 0.5, 1.0])
    assert fig is not None
    for bad in ([1.0], [0.5, 0.1], [0.1, float("nan")], [[0.1, 0.2]]):
        with pytest.raises(ValueError, match=r"^levels must be an integer >= 2 or a sequence"):
            dp.contour(sphere, domain=DOMAIN, resolution=5, levels=bad)
    with pytest.raises(TypeError, match=r"^levels must be .*, got list"):
        dp.contour(sphere, domain=DOMAIN, resolution=5, levels=["a", "b"])


def test_numbers_of_every_kind_are_accepted():
    # numpy and 0-d jax numbers count as numbers; a schedule and "auto" as learning rates
    for lr in (0.1, 1, np.float32(0.1), np.float64(0.1), jnp.float32(0.1), jnp.arange(3.0)[1]):
        assert ds.gd(lr) is not None
    assert ds.adam(optax.linear_schedule(0.1, 0.01, 100)) is not None
    assert ds.momentum("auto", beta=np.float32(0.5)) is not None
    assert ds.functions.get("rosenbrock").domain(np.int64(3)) == ((-2.0, 2.0),) * 3
    assert check_int(jnp.int32(4), "k") == 4
    assert check_real(jnp.float32(0.5), "r", low=0) == 0.5
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
        ds.gd(jnp.float32(-0.1))
    with pytest.raises(TypeError, match="k must be an integer >= 1, got Array"):
        check_int(jnp.float32(4.0), "k")


def test_traced_numbers_pass_unchecked():
    # the compiled loop builds optimizers from its numbers as data (tracers)
    def build(lr, b1):
        return ds.adam(lr, b1=b1).init(jnp.zeros(2))

    jax.jit(build)(0.1, 0.9)


def test_check_real_wording():
    with pytest.raises(ValueError, match=r"^x must be a number in \[0, 1\], got 2"):
        check_real(2, "x", low=0, high=1)
    with pytest.raises(ValueError, match=r"^x must be a number > 1, got 1"):
        check_real(1, "x", low=1, low_open=True)
    assert check_real(float("inf"), "x", low=0, finite=False) == float("inf")


# --------------------------------------------------------------------------- resolver
@pytest.mark.parametrize(
    "call",
    [
        lambda f: ds.minimize(f, [1.0]),
        lambda f: ds.minimize_batch(f, np.ones((2, 1))),
        lambda f: ds.grad(f),
        lambda f: ds.hessian(f),
        lambda f: ds.partials(f, [1.0]),
        lambda f: ds.check_grad(f, lambda x: x, [1.0]),
        lambda f: ds.classify(f, [1.0]),
        lambda f: ds.multistart(f, 2, DOMAIN),
        lambda f: ds.basins(f, DOMAIN, resolution=3),
        lambda f: ds.suggest_learning_rate(f, [1.0]),
        lambda f: ds.convexity(f, DOMAIN, samples=3),
        lambda f: dp.contour(f, domain=DOMAIN),
        lambda f: dp.surface(f, domain=DOMAIN),
        lambda f: dp.learning_rates(f, [1.0, 1.0]),
    ],
)
def test_one_resolver_one_message(call):
    for bad in (3, None, np.zeros(2)):
        with pytest.raises(
            TypeError,
            match=rf"^fun must be callable, a function name or a formula, got {type(bad).__name__}",
        ):
            call(bad)


def test_resolver_names_and_formulas():
    assert _objective.as_function(sphere) is sphere
    assert _objective.as_function("rosenbrock") is ds.functions.get("rosenbrock")
    assert float(_objective.as_function("x**2 + 3*y**2")(jnp.array([1.0, 2.0]))) == 13.0
    with pytest.raises(TypeError, match="^objective must be callable"):
        _objective.as_function(1.5, "objective")
    with pytest.raises(ValueError, match="unknown function 'rosenbrok'"):
        ds.grad("rosenbrok")
    # descend.functions.resolve: the same rule, under its own argument's name
    assert ds.functions.resolve("Six_Hump camel") is ds.functions.get("six-hump-camel")
    assert ds.functions.resolve(sphere) is sphere
    with pytest.raises(TypeError, match="spec must be callable, a function name or a formula"):
        ds.functions.resolve(1.5)


# --------------------------------------------------------------------------- differences
def test_one_central_difference_routine():
    assert calculus.central_differences is _objective.central_differences
    x = np.array([0.5, -2.0, 3.0])
    f0, g = _objective.central_differences(lambda v: float(np.sum(v**3)), x)
    assert f0 == pytest.approx(np.sum(x**3))
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-7)


def test_numeric_gradient_and_check_grad_agree():
    def f(x):
        x = np.asarray(x)
        return float(np.sum(np.sin(x) * x**2))

    x0 = np.array([0.3, -1.2, 2.0])
    _, g = _objective.central_differences(f, x0)
    # grad="numeric" (one step of gd with lr 1 moves x by exactly -g)
    r = ds.minimize(f, x0, ds.gd(1.0), grad="numeric", max_steps=1)
    np.testing.assert_allclose(x0 - r.x, g, rtol=1e-12)
    c = ds.check_grad(f, lambda x: jnp.asarray(g), x0)
    np.testing.assert_array_equal(c.numeric, g)


def test_a_bool_is_refused_after_the_equal_number_was_cached():
    # True == 1 == 1.0 as cache keys: the factories' cache must tell them apart
    assert ds.gd(1.0) is ds.gd(1.0)
    with pytest.raises(TypeError, match="learning_rate must be .*, got bool True"):
        ds.gd(True)
    ds.momentum(0.5, beta=0.0)
    with pytest.raises(TypeError, match="beta must be in .*, got bool False"):
        ds.momentum(0.5, beta=False)
