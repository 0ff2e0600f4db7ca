"""Gradients, partial derivatives, gradient checks, Hessians and stationary points."""

import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds


def f_xyz(v):
    x, y, z = v[0], v[1], v[2]
    return x**2 * y + jnp.sin(z) * x + 3 * y * z


def test_grad_matches_hand_derivatives():
    v = np.array([1.5, -2.0, 0.3])
    x, y, z = v
    expected = [2 * x * y + np.sin(z), x**2 + 3 * z, np.cos(z) * x + 3 * y]
    np.testing.assert_allclose(ds.grad(f_xyz)(v), expected, rtol=1e-14)


def test_grad_of_pytree():
    def loss(p):
        return jnp.sum(p["w"] ** 2) * p["b"]

    g = ds.grad(loss)({"w": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)})
    np.testing.assert_allclose(g["w"], [6.0, 12.0])
    np.testing.assert_allclose(g["b"], 5.0)


def test_partials_named_by_variable():
    # the seed's quadratic at the origin: dL/dx = -2, dL/dy = 8, dL/dz = -3
    p = ds.partials("seed-quadratic", [0.0, 0.0, 0.0])
    assert p == {"x": -2.0, "y": 8.0, "z": -3.0}
    p = ds.partials(lambda w: jnp.sum(jnp.arange(1.0, 5.0) * w), np.zeros(4))
    assert p == {"w1": 1.0, "w2": 2.0, "w3": 3.0, "w4": 4.0}
    assert ds.partials(f_xyz, [1.0, 1.0, 0.0], names=["a", "b", "c"])["b"] == 1.0
    # a formula's own names
    assert ds.partials("u**2 * v", [3.0, 2.0]) == {"u": 12.0, "v": 9.0}
    with pytest.raises(ValueError, match="names must have one entry per variable"):
        ds.partials(f_xyz, [1.0, 1.0, 0.0], names=["a"])


def test_check_grad_names_the_wrong_component():
    v = np.array([1.5, -2.0, 0.3])
    good = lambda v: ds.grad(f_xyz)(v)  # noqa: E731
    res = ds.check_grad(f_xyz, good, v)
    assert res.ok and res.error < 1e-8 and np.all(res.rel_error < 1e-8)

    def wrong(v):  # dz term has a sign error
        x, y, z = v
        return jnp.array([2 * x * y + jnp.sin(z), x**2 + 3 * z, -jnp.cos(z) * x + 3 * y])

    bad = ds.check_grad(f_xyz, wrong, v)
    assert not bad.ok and bad.worst == "z"
    assert bad.rel_error[2] > 0.1 and bad.rel_error[0] < 1e-8 and bad.rel_error[1] < 1e-8
    assert "<-- wrong" in repr(bad)
    # agrees with scipy's single number
    scipy_optimize = pytest.importorskip("scipy.optimize")
    ref = scipy_optimize.check_grad(lambda v: float(f_xyz(v)), lambda v: np.asarray(wrong(v)), v)
    np.testing.assert_allclose(np.linalg.norm(bad.analytic - bad.numeric), ref, rtol=1e-5)


def test_hessian_closed_form():
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    h = ds.hessian(lambda x: 0.5 * x @ jnp.asarray(A) @ x)(np.array([0.3, -0.2]))
    np.testing.assert_allclose(h, A, atol=1e-14)
    # Rosenbrock at (1, 1): [[802, -400], [-400, 200]] (from the closed form)
    h = ds.hessian("rosenbrock")(np.array([1.0, 1.0]))
    np.testing.assert_allclose(h, [[802.0, -400.0], [-400.0, 200.0]], atol=1e-12)


@pytest.mark.parametrize(
    "fun, x, kind",
    [
        (lambda v: v[0] ** 2 + v[1] ** 2, [0.0, 0.0], "minimum"),
        (lambda v: -(v[0] ** 2) - 2 * v[1] ** 2, [0.0, 0.0], "maximum"),
        ("saddle", [0.0, 0.0], "saddle"),
        (lambda v: v[0] ** 4 + v[1] ** 2, [0.0, 0.0], "degenerate"),  # zero curvature in x
        ("himmelblau", [3.0, 2.0], "minimum"),
        ("himmelblau", [-0.270845, -0.923039], "maximum"),
    ],
)
def test_classify(fun, x, kind):
    point = ds.classify(fun, x, gtol=1e-4)
    assert point.kind == kind and point.stationary


def test_classify_eigenvalues_are_the_hessians():
    point = ds.classify("seed-quadratic", [1.0, -2.0, 0.5])
    np.testing.assert_allclose(point.eigenvalues, [2.0, 4.0, 6.0], atol=1e-12)
    assert point.kind == "minimum" and point.grad_norm == 0.0


def test_result_knows_the_kind_of_its_end_point():
    res = ds.minimize("seed-quadratic", np.zeros(3), ds.gd(0.1))
    assert res.kind == "minimum"
    np.testing.assert_allclose(res.stationary.eigenvalues, [2.0, 4.0, 6.0], atol=1e-12)
    assert "kind: minimum" in repr(res)
    # Started exactly on the saddle's stable axis, GD converges to the saddle point.
    res = ds.minimize("saddle", np.array([1.0, 0.0]), ds.gd(0.1), gtol=1e-10)
    assert res.status == "gtol" and res.kind == "saddle"
    # Above 1,000 parameters it is not computed.
    big = ds.minimize(lambda x: jnp.sum(x**2), jnp.ones(1001), ds.gd(0.25), history=False)
    assert big.kind is None and "not computed" in repr(big)
