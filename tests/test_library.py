"""The library of test functions: every listed minimum is one, with the literature's value."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import descend  # noqa: F401  (turns on float64)
from descend.functions.library import REGISTRY, Minimum, TestFunction, elliptic, get, names

ND_DIMS = (2, 5)  # n-D functions are checked at these dimensions

# The global minima as the literature gives them, typed in independently of the library:
# name -> (value as a function of n, locations as a function of n). Locations carry the
# literature's digits, so they are compared to 1e-6; values are compared to 1e-9.
LITERATURE = {
    "seed-quadratic": (lambda n: 0.0, lambda n: [(1.0, -2.0, 0.5)]),
    "sphere": (lambda n: 0.0, lambda n: [(0.0,) * n]),
    "elliptic": (lambda n: 0.0, lambda n: [(0.0,) * n]),
    "rosenbrock": (lambda n: 0.0, lambda n: [(1.0,) * n]),
    "beale": (lambda n: 0.0, lambda n: [(3.0, 0.5)]),
    "booth": (lambda n: 0.0, lambda n: [(1.0, 3.0)]),
    "matyas": (lambda n: 0.0, lambda n: [(0.0, 0.0)]),
    "himmelblau": (
        lambda n: 0.0,
        lambda n: [
            (3.0, 2.0),
            (-2.805118, 3.131312),
            (-3.779310, -3.283186),
            (3.584428, -1.848126),
        ],
    ),
    "three-hump-camel": (lambda n: 0.0, lambda n: [(0.0, 0.0)]),
    "six-hump-camel": (
        lambda n: -1.0316284534898774,
        lambda n: [(0.0898420131, -0.7126564030), (-0.0898420131, 0.7126564030)],
    ),
    "goldstein-price": (lambda n: 3.0, lambda n: [(0.0, -1.0)]),
    "rastrigin": (lambda n: 0.0, lambda n: [(0.0,) * n]),
    "ackley": (lambda n: 0.0, lambda n: [(0.0,) * n]),
    "levi13": (lambda n: 0.0, lambda n: [(1.0, 1.0)]),
    "styblinski-tang": (
        lambda n: -39.16616570377142 * n,
        lambda n: [(-2.903534027771178,) * n],
    ),
    "saddle": (None, lambda n: []),  # unbounded below
}


@functools.cache
def grad(tf):
    """jit-compiled gradient, one per function (eager Hessians are slow op by op)."""
    return jax.jit(jax.grad(tf))


@functools.cache
def hessian(tf):
    return jax.jit(jax.hessian(tf))


def dims(tf: TestFunction) -> tuple[int, ...]:
    return (tf.dim,) if tf.dim is not None else ND_DIMS


def every_minimum():
    for name, tf in REGISTRY.items():
        for n in dims(tf):
            for i, m in enumerate(tf.minima(n)):
                yield pytest.param(tf, m, id=f"{name}-n{n}-{m.kind}{i}")


MINIMA = list(every_minimum())
ALL = [pytest.param(tf, id=name) for name, tf in REGISTRY.items()]
WITH_MINIMUM = [p for p in ALL if p.values[0].minima()]


# --- every listed minimum is a minimum --------------------------------------------------


@pytest.mark.parametrize("tf, m", MINIMA)
def test_value_at_each_minimum_is_the_listed_value(tf, m):
    assert float(tf(jnp.asarray(m.x))) == pytest.approx(m.f, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("tf, m", MINIMA)
def test_gradient_vanishes_at_each_minimum(tf, m):
    g = grad(tf)(jnp.asarray(m.x))
    assert np.all(np.isfinite(g))
    assert np.linalg.norm(g) <= 1e-6


@pytest.mark.parametrize("tf, m", MINIMA)
def test_hessian_is_positive_semidefinite_at_each_minimum(tf, m):
    if tf.name == "ackley":
        pytest.skip("Ackley's minimum is a kink: its Hessian there is not defined")
    h = np.asarray(hessian(tf)(jnp.asarray(m.x)))
    np.testing.assert_allclose(h, h.T, atol=1e-9)
    assert np.linalg.eigvalsh(h).min() >= -1e-6


@pytest.mark.parametrize("n", [4, 5, 6, 7])
def test_rosenbrocks_local_minimum_for_n_from_4_to_7(n):
    tf = get("rosenbrock")
    (m,) = tf.local_minima(n)
    x = jnp.asarray(m.x)
    assert m.x[0] < -0.7 and all(v > 0 for v in m.x[1:])  # the one near (-1, 1, ..., 1)
    assert 3.7 < m.f < 4.0
    assert float(tf(x)) == pytest.approx(m.f, rel=1e-9)
    assert np.linalg.norm(grad(tf)(x)) <= 1e-6
    assert np.linalg.eigvalsh(hessian(tf)(x)).min() > 0


@pytest.mark.parametrize("n", [2, 3, 8])
def test_rosenbrock_lists_no_local_minimum_outside_4_to_7(n):
    assert get("rosenbrock").local_minima(n) == ()


# --- global minima match the literature -------------------------------------------------


def test_literature_table_covers_the_registry():
    assert set(LITERATURE) <= set(REGISTRY)


@pytest.mark.parametrize("name", sorted(LITERATURE))
def test_global_minima_are_the_literatures(name):
    tf = get(name)
    value, locations = LITERATURE[name]
    for n in dims(tf):
        found = tf.global_minima(n)
        expected = locations(n)
        assert len(found) == len(expected)
        for m in found:
            assert m.kind == "global"
            assert m.f == pytest.approx(value(n), rel=1e-9, abs=1e-9)
            distances = [np.max(np.abs(np.subtract(m.x, e))) for e in expected]
            assert min(distances) < 1e-6, (m, expected)


def test_styblinski_tang_scales_with_n():
    tf = get("styblinski-tang")
    for n in (1, 2, 3, 10):
        (m,) = tf.global_minima(n)
        assert m.f == pytest.approx(-39.16616570377142 * n, rel=1e-12)
        assert float(tf(jnp.asarray(m.x))) == pytest.approx(m.f, rel=1e-12)


def test_himmelblau_has_four_global_minima_all_zero():
    tf = get("himmelblau")
    found = tf.global_minima()
    assert len(found) == 4 and tf.local_minima() == ()
    assert len({m.x for m in found}) == 4
    for m in found:
        assert m.f == 0.0
        assert abs(float(tf(jnp.asarray(m.x)))) < 1e-12


@pytest.mark.parametrize("tf", WITH_MINIMUM)
def test_global_minimum_is_below_a_dense_sample_of_the_domain(tf):
    n = tf.dim or 2
    d = np.asarray(tf.domain(n))
    points = np.random.default_rng(0).uniform(d[:, 0], d[:, 1], size=(100_000, n))
    values = np.asarray(jax.jit(jax.vmap(tf))(jnp.asarray(points)))
    best = tf.global_minima(n)[0].f
    assert np.all(np.isfinite(values))
    assert values.min() >= best - 1e-9
    # The listed minima are the lowest listed points too, and lie in the plotting domain.
    for m in tf.minima(n):
        assert m.f >= best - 1e-12
        assert np.all((d[:, 0] <= m.x) & (m.x <= d[:, 1])), m


# --- minima bookkeeping -----------------------------------------------------------------


@pytest.mark.parametrize("tf", ALL)
def test_minima_are_well_formed_and_global_first(tf):
    for n in dims(tf):
        ms = tf.minima(n)
        assert all(isinstance(m, Minimum) and len(m.x) == n for m in ms)
        kinds = [m.kind for m in ms]
        assert kinds == sorted(kinds, key=lambda k: k != "global")
        assert ms == tf.global_minima(n) + tf.local_minima(n)
        if ms:
            assert len({m.f for m in tf.global_minima(n)}) == 1  # ties only
            assert all(m.f > ms[0].f for m in tf.local_minima(n))


def test_minimum_kind_is_checked():
    with pytest.raises(ValueError, match="kind"):
        Minimum((0.0,), 0.0, "best")


def test_local_minima_of_the_camels_and_goldstein_price():
    assert len(get("three-hump-camel").local_minima()) == 2
    assert len(get("six-hump-camel").local_minima()) == 4
    gp = sorted(m.f for m in get("goldstein-price").local_minima())
    assert gp == pytest.approx([30.0, 84.0, 840.0], rel=1e-12)


# --- registry and lookup ----------------------------------------------------------------


def test_at_least_fifteen_functions_registered():
    assert len(REGISTRY) >= 15
    assert names() == list(REGISTRY)
    for key, tf in REGISTRY.items():
        assert tf.name == key
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", key)


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("Rosenbrock", "rosenbrock"),
        ("ROSENBROCK", "rosenbrock"),
        ("six_hump_camel", "six-hump-camel"),
        ("Six Hump Camel", "six-hump-camel"),
        ("  Goldstein_Price ", "goldstein-price"),
        ("Styblinski-Tang", "styblinski-tang"),
        ("SEED_QUADRATIC", "seed-quadratic"),
    ],
)
def test_get_ignores_case_underscores_and_spaces(spelling, name):
    assert get(spelling) is REGISTRY[name]


def test_unknown_name_suggests_a_close_match():
    with pytest.raises(ValueError, match="unknown function 'rosenbrok'; did you mean rosenbrock"):
        get("rosenbrok")
    with pytest.raises(ValueError, match="did you mean himmelblau"):
        get("Himelblau")


def test_unknown_name_without_a_close_match_lists_the_names():
    with pytest.raises(ValueError, match=r"unknown function 'xyz'; available: .*sphere"):
        get("xyz")


def test_get_wants_a_string():
    with pytest.raises(TypeError):
        get(3)


def test_wrong_dimension_names_the_function():
    with pytest.raises(ValueError, match="beale takes 2 variables, got 3"):
        get("beale")(jnp.zeros(3))
    with pytest.raises(ValueError, match="seed-quadratic takes 3 variables, got 2"):
        get("seed-quadratic").check_dim(2)
    with pytest.raises(ValueError, match="rosenbrock takes at least 2 variables, got 1"):
        get("rosenbrock")(jnp.ones(1))
    with pytest.raises(ValueError, match="elliptic"):
        get("elliptic").domain(1)
    with pytest.raises(ValueError, match="himmelblau"):
        get("himmelblau").minima(3)


# --- per-function facts -----------------------------------------------------------------


@pytest.mark.parametrize("condition", [1.0, 100.0, 1e6])
@pytest.mark.parametrize("n", [2, 5])
def test_elliptic_hessian_has_the_requested_condition_number(condition, n):
    tf = elliptic(condition=condition)
    x = jnp.asarray(np.random.default_rng(1).normal(size=n))
    eig = np.linalg.eigvalsh(hessian(tf)(x))
    assert eig.min() > 0
    assert eig.max() / eig.min() == pytest.approx(condition, rel=1e-12)
    assert get("elliptic").minima(n)[0].f == 0.0


def test_registered_elliptic_has_condition_1000():
    eig = np.linalg.eigvalsh(hessian(get("elliptic"))(jnp.zeros(3)))
    assert eig.max() / eig.min() == pytest.approx(1e3, rel=1e-12)


@pytest.mark.parametrize("bad", [0.5, 0.0, -3.0, float("inf"), float("nan")])
def test_elliptic_refuses_a_condition_below_one(bad):
    with pytest.raises(ValueError, match="condition"):
        elliptic(condition=bad)


def test_ackley_gradient_is_finite_at_and_near_the_origin():
    tf = get("ackley")
    for n in (1, 2, 5):
        np.testing.assert_array_equal(grad(tf)(jnp.zeros(n)), np.zeros(n))
        g = grad(tf)(jnp.full(n, 1e-12))
        assert np.all(np.isfinite(g))
    assert "kink" in tf.notes


def test_saddle_has_no_minimum_and_a_saddle_at_the_origin():
    tf = get("saddle")
    assert tf.minima() == () and tf.global_minima() == ()
    np.testing.assert_array_equal(grad(tf)(jnp.zeros(2)), [0.0, 0.0])
    eig = np.linalg.eigvalsh(hessian(tf)(jnp.zeros(2)))
    np.testing.assert_allclose(eig, [-2.0, 2.0])
    assert float(tf(jnp.array([0.0, 1e3]))) == -1e6  # unbounded below
    assert "saddle" in tf.notes


def test_himmelblau_notes_mention_the_local_maximum():
    tf = get("himmelblau")
    assert "maximum" in tf.notes
    x = jnp.array([-0.2708445906673476, -0.9230385564799816])
    assert np.linalg.norm(grad(tf)(x)) < 1e-9
    assert np.linalg.eigvalsh(hessian(tf)(x)).max() < 0


# --- text, domains, calling -------------------------------------------------------------


@pytest.mark.parametrize("tf", ALL)
def test_text_fields_are_filled_in(tf):
    for field in (tf.name, tf.title, tf.formula, tf.latex, tf.notes):
        assert isinstance(field, str) and field.strip()


@pytest.mark.parametrize("tf", ALL)
def test_domain_has_one_increasing_pair_per_variable(tf):
    assert len(tf.domain()) == (tf.dim or tf.default_dim)
    for n in dims(tf):
        d = tf.domain(n)
        assert len(d) == n
        assert all(isinstance(lo, float) and isinstance(hi, float) and lo < hi for lo, hi in d)


@pytest.mark.parametrize("tf", ALL)
def test_call_takes_lists_and_works_under_jit(tf):
    n = tf.dim or 2
    x = [0.3] * n
    value = float(tf(x))
    assert np.isfinite(value)
    assert float(jax.jit(tf)(jnp.asarray(x))) == pytest.approx(value, rel=1e-12)
    assert float(tf.fun(jnp.asarray(x))) == value


def test_pytest_does_not_collect_test_function():
    assert TestFunction.__test__ is False
    assert "rosenbrock" in repr(get("rosenbrock"))
