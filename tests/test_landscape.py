"""Local versus global: multistart, basins, learning rate from curvature, convexity."""

import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds

HIMMELBLAU_MINIMA = np.array(
    [[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]]
)


def test_multistart_finds_himmelblaus_four_minima():
    ms = ds.multistart("himmelblau", 200, [(-5, 5), (-5, 5)], ds.adam(0.05), seed=0)
    assert len(ms.minima) == 4
    found = np.array([m.x for m in ms.minima])
    for xm in HIMMELBLAU_MINIMA:
        assert np.min(np.linalg.norm(found - xm, axis=1)) < 1e-5
    assert all(abs(m.fun) < 1e-12 and m.kind == "minimum" for m in ms.minima)
    assert sum(m.count for m in ms.minima) + int(np.sum(ms.labels < 0)) == 200
    assert all(m.count > 10 for m in ms.minima)


def test_multistart_finds_six_hump_camels_two_global_minima():
    ms = ds.multistart("six-hump-camel", 200, [(-2, 2), (-1, 1)], ds.adam(0.02), seed=1)
    lowest = [m for m in ms.minima if abs(m.fun - (-1.0316284534898774)) < 1e-9]
    assert len(lowest) == 2
    xs = sorted(tuple(np.round(m.x, 6)) for m in lowest)
    np.testing.assert_allclose(xs, [(-0.089842, 0.712656), (0.089842, -0.712656)], atol=1e-6)
    assert ms.global_candidate.fun == pytest.approx(-1.0316284534898774, abs=1e-9)
    assert len(ms.minima) > 2  # the local minima are found too


def test_every_start_on_a_convex_quadratic_reaches_the_one_minimum():
    ms = ds.multistart("seed-quadratic", 50, [(-3, 3)] * 3, ds.gd(0.1))
    assert len(ms.minima) == 1 and ms.minima[0].count == 50
    np.testing.assert_allclose(ms.global_candidate.x, [1.0, -2.0, 0.5], atol=1e-7)
    assert "global candidate" in repr(ms)


def test_basins_map_of_himmelblau():
    b = ds.basins("himmelblau", [(-5, 5), (-5, 5)], resolution=21, optimizer=ds.adam(0.05))
    assert b.labels.shape == (21, 21) and len(b.minima) == 4
    # The start at a minimum's own grid point lands in that minimum: (3, 2) is on the grid.
    i, j = np.argmin(np.abs(b.ys - 2.0)), np.argmin(np.abs(b.xs - 3.0))
    np.testing.assert_allclose(b.minima[b.labels[i, j]].x, [3.0, 2.0], atol=1e-6)
    # Each quadrant's corner belongs to the minimum in that quadrant.
    corners = {
        (0, 0): (-3.779310, -3.283186),
        (0, -1): (3.584428, -1.848126),
        (-1, 0): (-2.805118, 3.131312),
        (-1, -1): (3.0, 2.0),
    }
    for (r, c), xm in corners.items():
        np.testing.assert_allclose(b.minima[b.labels[r, c]].x, xm, atol=1e-5)


def _quadratic(eigs):
    q = np.linalg.qr(np.random.default_rng(3).normal(size=(len(eigs), len(eigs))))[0]
    A = q @ np.diag(eigs) @ q.T
    return lambda x: 0.5 * x @ jnp.asarray(A) @ x, A


@pytest.mark.parametrize("eigs", [[1.0, 3.0, 10.0], [0.5, 2.0, 40.0, 41.0], [-5.0, 1.0, 2.0]])
def test_suggest_learning_rate_within_one_percent(eigs):
    f, _ = _quadratic(eigs)
    s = ds.suggest_learning_rate(f, np.ones(len(eigs)))
    L = max(eigs)
    assert s.curvature == pytest.approx(L, rel=0.01)
    assert s.learning_rate == pytest.approx(1 / L, rel=0.01)
    assert s.max_stable == pytest.approx(2 / L, rel=0.01)


def test_two_over_L_is_the_edge_of_divergence():
    f, _ = _quadratic([1.0, 3.0, 10.0])
    s = ds.suggest_learning_rate(f, np.ones(3))
    above = ds.minimize(f, np.ones(3), ds.gd(1.05 * s.max_stable), max_steps=20_000)
    below = ds.minimize(f, np.ones(3), ds.gd(0.95 * s.max_stable), gtol=1e-9, max_steps=20_000)
    assert above.status == "diverged"
    assert below.status == "gtol"


def test_suggest_refuses_concave_point():
    with pytest.raises(ValueError, match="not positive"):
        ds.suggest_learning_rate(lambda x: -jnp.sum(x**2), np.ones(2))


def test_convexity_probe():
    c = ds.convexity("seed-quadratic", [(-3, 3)] * 3, samples=200)
    assert c.convex_on_samples and c.min_eigenvalue == pytest.approx(2.0)
    c = ds.convexity("himmelblau", [(-5, 5), (-5, 5)], samples=500)
    assert not c.convex_on_samples and c.min_eigenvalue < 0
    # The Hessian really is indefinite where the probe says.
    eig = np.linalg.eigvalsh(ds.hessian("himmelblau")(c.where))
    assert eig[0] == pytest.approx(c.min_eigenvalue, rel=1e-9)
    assert c.samples == 500


def test_landscape_bad_input():
    with pytest.raises(ValueError, match="variable 1 has lower 5 >= upper 5"):
        ds.multistart("himmelblau", 10, [(-5, 5), (5, 5)])
    with pytest.raises(ValueError, match="n_starts must be an integer >= 1, got 0"):
        ds.multistart("himmelblau", 0, [(-5, 5), (-5, 5)])
    with pytest.raises(ValueError, match="resolution must be an integer >= 2, got 1"):
        ds.basins("himmelblau", [(-5, 5), (-5, 5)], resolution=1)
    with pytest.raises(ValueError, match="beale takes 2 variables, got 3"):
        ds.minimize("beale", np.zeros(3))
    with pytest.raises(ValueError, match="beale takes 2 variables, got 3"):
        ds.multistart("beale", 5, [(-1, 1)] * 3)
    with pytest.raises(ValueError, match="unknown function 'rosenbrok'.*rosenbrock"):
        ds.minimize("rosenbrok", np.zeros(2))
    with pytest.raises(ValueError, match="basins needs a 2-D domain"):
        ds.basins(lambda x: jnp.sum(x**2), [(-1, 1)] * 3, resolution=3)
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        ds.convexity("sphere", [(-1, 1)] * 2, samples=0)
