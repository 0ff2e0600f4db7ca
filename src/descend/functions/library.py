r"""Standard optimization test functions with known minima, for teaching and testing.

Each entry is a :class:`TestFunction`: the function itself (written with ``jax.numpy``,
so it can be differentiated and compiled), its formula as text and LaTeX, a plotting
domain, and every known minimum, global and local, with location and value.

Every hard-coded minimum satisfies ``f(x) == f`` to 1e-9 and ``|grad f(x)| <= 1e-6`` in
float64. Where the literature prints only a few digits, the location was refined here by
Newton's method on the exact (autodiff) gradient and Hessian in float64, started from the
literature's point, and the result hard-coded; comments say which.

Sources, cited per function:

* [JY13] M. Jamil, X.-S. Yang, "A literature survey of benchmark functions for global
  optimization problems", Int. J. Math. Modelling & Num. Optimisation 4(2), 2013.
* [SB] S. Surjanovic, D. Bingham, Virtual Library of Simulation Experiments: Test
  Functions and Datasets, https://www.sfu.ca/~ssurjano/optimization.html
* [H72] D. M. Himmelblau, "Applied Nonlinear Programming", McGraw-Hill, 1972.
* [SQ06] Y.-W. Shang, Y.-H. Qiu, "A note on the extended Rosenbrock function",
  Evolutionary Computation 14(1), 2006.
* [CEC05] P. N. Suganthan et al., "Problem definitions and evaluation criteria for the
  CEC 2005 special session on real-parameter optimization", 2005.
* [MGH81] J. J. Moré, B. S. Garbow, K. E. Hillstrom, "Testing unconstrained
  optimization software", ACM Trans. Math. Software 7(1), 1981: standard start points.

Each function also has a default start point (:meth:`TestFunction.start`): [MGH81]'s
where it has one, else a fifth of the way into the plotting domain; three-hump camel
starts at (-1.5, -1.5), where plain gradient descent with a learning rate from the
curvature at the start reaches the global minimum instead of circling it, and the
saddle at (-1.5, -0.5), off its diagonals, where f is 0.

``import jax.numpy`` happens inside each function so that importing this module (and
listing names) does not load JAX.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import check_int, check_real

__all__ = [
    "Minimum",
    "TestFunction",
    "REGISTRY",
    "elliptic",
    "get",
    "names",
]

# Default starts lie this far into the plotting domain (see TestFunction.start).
START_FRACTION = 0.2

Pair = tuple[float, float]
# A plotting domain: one (lo, hi) pair for every coordinate, a tuple of pairs (one per
# coordinate, fixed-dimension functions), or a function of the dimension n.
Bounds = Pair | tuple[Pair, ...] | Callable[[int], tuple[Pair, ...]]


@dataclasses.dataclass(frozen=True)
class Minimum:
    """A known minimum of a test function.

    Attributes:
        x: Location, one float per coordinate.
        f: Function value there.
        kind: ``"global"`` or ``"local"``.
    """

    x: tuple[float, ...]
    f: float
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ("global", "local"):
            raise ValueError(f"kind must be 'global' or 'local', got {self.kind!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class TestFunction:
    """A named test function with its formula, plotting domain and known minima.

    Call it like the function: ``tf(x)`` with ``x`` a 1-D array of length ``n``
    (``x[0], x[1], ...``); the dimension is checked first. Equality and hashing are by
    identity, so a ``TestFunction`` can key jax's compilation caches.

    Attributes:
        name: Registry key, lowercase with hyphens, e.g. ``"six-hump-camel"``.
        title: Human-readable name, e.g. ``"Six-hump camel"``.
        fun: ``fun(x) -> scalar`` written with ``jax.numpy``; differentiable.
        formula: Plain-text formula.
        latex: LaTeX formula.
        dim: Fixed number of variables, or None for any ``n >= min_dim``.
        default_dim: The dimension used when none is given.
        bounds: Plotting domain (see :data:`Bounds`); use :meth:`domain`.
        minima_fn: All known minima for dimension ``n``.
        notes: One line on what the function teaches.
        min_dim: Smallest allowed dimension when ``dim`` is None.
        start_fn: The standard start point for dimension ``n``; None for the default,
            a fifth of the way into the plotting domain; use :meth:`start`.
    """

    name: str
    title: str
    fun: Callable[[Any], Any]
    formula: str
    latex: str
    dim: int | None
    default_dim: int
    bounds: Bounds
    minima_fn: Callable[[int], tuple[Minimum, ...]]
    notes: str = ""
    min_dim: int = 1
    start_fn: Callable[[int], tuple[float, ...]] | None = None

    __test__ = False  # the name starts with "Test"; keep pytest from collecting it

    def __call__(self, x: Any) -> Any:
        """``fun(x)`` after checking that ``x`` has this function's dimension."""
        x = _flat(x)
        self.check_dim(x.shape[0])
        return self.fun(x)

    def __repr__(self) -> str:
        dims = f"{self.dim}" if self.dim is not None else f"n >= {self.min_dim}"
        return f"<TestFunction {self.name}: {self.formula}; {dims} variables>"

    def check_dim(self, n: int) -> None:
        """Raise ValueError unless this function accepts ``n`` variables."""
        if self.dim is not None:
            if n != self.dim:
                raise ValueError(f"{self.name} takes {self.dim} variables, got {n}")
        elif n < self.min_dim:
            raise ValueError(f"{self.name} takes at least {self.min_dim} variables, got {n}")

    def _n(self, n: int | None) -> int:
        if n is None:
            return self.dim if self.dim is not None else self.default_dim
        n = check_int(n, "n")
        self.check_dim(n)
        return n

    def domain(self, n: int | None = None) -> tuple[Pair, ...]:
        """The plotting domain: one ``(lo, hi)`` pair per coordinate."""
        n = self._n(n)
        b = self.bounds(n) if callable(self.bounds) else self.bounds
        if len(b) == 2 and all(isinstance(v, (int, float)) for v in b):
            b = (b,) * n  # one pair for every coordinate
        return tuple((float(lo), float(hi)) for lo, hi in b)

    def start(self, n: int | None = None) -> tuple[float, ...]:
        """Where runs start by default (the command line, the explorer): the function's
        standard start point where the literature has one, else a fifth of the way into
        the plotting domain in each coordinate (off the symmetric centre, where many
        test functions have their minimum or a stationary point)."""
        n = self._n(n)
        if self.start_fn is not None:
            return tuple(float(v) for v in self.start_fn(n))
        return tuple(lo + START_FRACTION * (hi - lo) for lo, hi in self.domain(n))

    def minima(self, n: int | None = None) -> tuple[Minimum, ...]:
        """All known minima for dimension ``n``: global ones first, then local by value."""
        found = self.minima_fn(self._n(n))
        return tuple(sorted(found, key=lambda m: (m.kind != "global", m.f)))

    def global_minima(self, n: int | None = None) -> tuple[Minimum, ...]:
        """The known global minima for dimension ``n`` (empty if unbounded below)."""
        return tuple(m for m in self.minima(n) if m.kind == "global")

    def lower_minimum(self, f: float, n: int | None = None) -> Minimum | None:
        """A known global minimum below ``f`` (beyond rounding), or None if none is lower."""
        best = self.global_minima(n)
        if not best or not math.isfinite(f):
            return None
        m = best[0]
        return m if f > m.f + 1e-6 * max(1.0, abs(m.f)) else None

    def local_minima(self, n: int | None = None) -> tuple[Minimum, ...]:
        """The known local, non-global minima for dimension ``n``."""
        return tuple(m for m in self.minima(n) if m.kind == "local")


def _flat(x: Any) -> Any:
    """``x`` as a 1-D array: arrays are raveled, lists and other pytrees concatenated."""
    import jax
    import jax.numpy as jnp

    leaves = jax.tree.leaves(x)
    if len(leaves) == 1:
        return jnp.ravel(jnp.asarray(leaves[0]))
    return jnp.concatenate([jnp.ravel(jnp.asarray(leaf)) for leaf in leaves])


def _at(point: Sequence[float], f: float, kind: str = "global") -> Minimum:
    return Minimum(tuple(float(v) for v in point), float(f), kind)


def _fixed(*minima: Minimum) -> Callable[[int], tuple[Minimum, ...]]:
    """Minima of a fixed-dimension function (they do not depend on n)."""
    return lambda n: minima


def _origin(n: int) -> tuple[Minimum, ...]:
    return (_at((0.0,) * n, 0.0),)


# --- the functions --------------------------------------------------------------------


def _seed_quadratic(x: Any) -> Any:
    return (x[0] - 1.0) ** 2 + 2.0 * (x[1] + 2.0) ** 2 + 3.0 * (x[2] - 0.5) ** 2


def _sphere(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.sum(x**2)


def elliptic(condition: float = 1e3) -> TestFunction:
    r"""An ill-conditioned quadratic :math:`\sum_i \kappa^{i/(n-1)} x_i^2` (i = 0..n-1).

    Its Hessian is diagonal with eigenvalues :math:`2\kappa^{i/(n-1)}`, so its condition
    number is exactly ``condition``: gradient descent's step is limited by the steepest
    direction and crawls along the flattest one.

    Args:
        condition: The Hessian's condition number :math:`\kappa \ge 1`.

    Returns:
        A TestFunction named ``"elliptic"`` for any ``n >= 2``; minimum 0 at the origin.
    """
    kappa = check_real(condition, "condition", low=1, what="a finite number >= 1")

    def fun(x: Any) -> Any:
        import jax.numpy as jnp

        n = x.shape[0]
        # The weights depend only on the (static) shape, so they are constants under jit.
        weights = kappa ** (np.arange(n) / (n - 1))
        return jnp.sum(jnp.asarray(weights, x.dtype) * x**2)

    return TestFunction(
        name="elliptic",
        title=f"Ill-conditioned elliptic (condition {kappa:g})",
        fun=fun,
        formula=f"sum_i k^(i/(n-1)) x_i^2, i = 0..n-1, k = {kappa:g}",
        latex=rf"\sum_{{i=0}}^{{n-1}} \kappa^{{i/(n-1)}} x_i^2,\ \kappa = {kappa:g}",
        dim=None,
        default_dim=2,
        bounds=(-5.0, 5.0),
        # [CEC05] (high conditioned elliptic, there with kappa = 1e6): minimum 0 at 0.
        minima_fn=_origin,
        notes=f"a convex bowl stretched {kappa:g} times more along one axis: gradient "
        "descent zig-zags and crawls; the condition number sets its speed",
        min_dim=2,
    )


def _rosenbrock(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


# [SQ06] proves that for 4 <= n <= 7 there is exactly one local minimum besides (1,...,1),
# near (-1, 1, ..., 1). Its location is given there to few digits; these values came from
# scipy.optimize.minimize (BFGS, gtol 1e-12) started at (-1, 1, ..., 1), polished by 30
# Newton steps with the exact Hessian in float64 (|grad| < 1e-12). For n >= 8 a similar
# point exists numerically but the count of minima is not proven, so none is listed.
_ROSENBROCK_LOCAL: dict[int, tuple[tuple[float, ...], float]] = {
    4: (
        (-0.7756592265653527, 0.6130933654850436, 0.3820628463383933, 0.14597201855219474),
        3.701428610430018,
    ),
    5: (
        (
            -0.9620510206947501,
            0.93573939597671,
            0.8807136041943205,
            0.7778776758544064,
            0.6050936785926528,
        ),
        3.930839434133028,
    ),
    6: (
        (
            -0.9865749795709937,
            0.9833982288361818,
            0.9721066700530919,
            0.947437436826436,
            0.8986511848517296,
            0.8075739520354175,
        ),
        3.973940500930295,
    ),
    7: (
        (
            -0.9917225725614055,
            0.9935553935033713,
            0.9921733215946921,
            0.986898762690314,
            0.975164756608873,
            0.9514319827049926,
            0.9052228177139535,
        ),
        3.9836005364248543,
    ),
}


def _rosenbrock_minima(n: int) -> tuple[Minimum, ...]:
    # [JY13], [SB]: global minimum 0 at (1, ..., 1) for every n >= 2.
    found = [_at((1.0,) * n, 0.0)]
    if n in _ROSENBROCK_LOCAL:
        x, f = _ROSENBROCK_LOCAL[n]
        found.append(_at(x, f, "local"))
    return tuple(found)


def _beale(x: Any) -> Any:
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


def _booth(x: Any) -> Any:
    return (x[0] + 2.0 * x[1] - 7.0) ** 2 + (2.0 * x[0] + x[1] - 5.0) ** 2


def _matyas(x: Any) -> Any:
    return 0.26 * (x[0] ** 2 + x[1] ** 2) - 0.48 * x[0] * x[1]


def _himmelblau(x: Any) -> Any:
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def _three_hump_camel(x: Any) -> Any:
    a, b = x[0], x[1]
    return 2.0 * a**2 - 1.05 * a**4 + a**6 / 6.0 + a * b + b**2


def _six_hump_camel(x: Any) -> Any:
    a, b = x[0], x[1]
    return (4.0 - 2.1 * a**2 + a**4 / 3.0) * a**2 + a * b + (-4.0 + 4.0 * b**2) * b**2


def _goldstein_price(x: Any) -> Any:
    a, b = x[0], x[1]
    p = 1.0 + (a + b + 1.0) ** 2 * (
        19.0 - 14.0 * a + 3.0 * a**2 - 14.0 * b + 6.0 * a * b + 3.0 * b**2
    )
    q = 30.0 + (2.0 * a - 3.0 * b) ** 2 * (
        18.0 - 32.0 * a + 12.0 * a**2 + 48.0 * b - 36.0 * a * b + 27.0 * b**2
    )
    return p * q


def _rastrigin(x: Any) -> Any:
    import jax.numpy as jnp

    return 10.0 * x.shape[0] + jnp.sum(x**2 - 10.0 * jnp.cos(2.0 * jnp.pi * x))


def _ackley(x: Any) -> Any:
    import jax.numpy as jnp

    a, b, c = 20.0, 0.2, 2.0 * jnp.pi
    sq = jnp.mean(x**2)
    # sqrt has an infinite derivative at 0, and 0 * inf = nan in the chain rule. The inner
    # where keeps sqrt's argument away from 0 and the outer one picks the right value, so
    # the gradient at the origin is 0 (a valid subgradient of the kink) instead of nan.
    pos = sq > 0.0
    r = jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)
    return -a * jnp.exp(-b * r) - jnp.exp(jnp.mean(jnp.cos(c * x))) + a + jnp.e


def _levi13(x: Any) -> Any:
    import jax.numpy as jnp

    a, b = x[0], x[1]
    return (
        jnp.sin(3.0 * jnp.pi * a) ** 2
        + (a - 1.0) ** 2 * (1.0 + jnp.sin(3.0 * jnp.pi * b) ** 2)
        + (b - 1.0) ** 2 * (1.0 + jnp.sin(2.0 * jnp.pi * b) ** 2)
    )


def _styblinski_tang(x: Any) -> Any:
    import jax.numpy as jnp

    return 0.5 * jnp.sum(x**4 - 16.0 * x**2 + 5.0 * x)


# The 1-D minimizer is the root of 2x^3 - 16x + 2.5 = 0 near -2.9, found by Newton's method
# in 40-digit decimal arithmetic: -2.9035340277711770951..., per-coordinate value
# -39.1661657037714154639... [SB] prints x_i = -2.903534 and f = -39.16599 n, which is
# off in the fifth digit (it is not the value at that point); the value here is exact.
_ST_X = -2.903534027771177
_ST_F = -39.166165703771415


def _styblinski_tang_minima(n: int) -> tuple[Minimum, ...]:
    return (_at((_ST_X,) * n, _ST_F * n),)


def _saddle(x: Any) -> Any:
    return x[0] ** 2 - x[1] ** 2


def _no_minima(n: int) -> tuple[Minimum, ...]:
    return ()


_FUNCTIONS: tuple[TestFunction, ...] = (
    TestFunction(
        name="seed-quadratic",
        title="Seed quadratic",
        fun=_seed_quadratic,
        formula="(w1 - 1)^2 + 2 (w2 + 2)^2 + 3 (w3 - 0.5)^2",
        latex=r"(w_1 - 1)^2 + 2\,(w_2 + 2)^2 + 3\,(w_3 - 0.5)^2",
        dim=3,
        default_dim=3,
        bounds=(-3.0, 3.0),
        # The course's seed notes: minimum 0 where each square vanishes.
        minima_fn=_fixed(_at((1.0, -2.0, 0.5), 0.0)),
        start_fn=lambda n: (0.0,) * n,  # the seed notes start at the origin
        notes="the first example: a convex, axis-aligned bowl; one minimum, read off the "
        "formula, that every start reaches",
    ),
    TestFunction(
        name="sphere",
        title="Sphere",
        fun=_sphere,
        formula="sum_i x_i^2",
        latex=r"\sum_{i=1}^{n} x_i^2",
        dim=None,
        default_dim=2,
        bounds=(-5.12, 5.12),  # [SB]
        minima_fn=_origin,  # [JY13], [SB]: minimum 0 at the origin
        notes="the easiest case: perfectly conditioned, the gradient points straight at "
        "the minimum",
    ),
    elliptic(1e3),
    TestFunction(
        name="rosenbrock",
        title="Rosenbrock",
        fun=_rosenbrock,
        formula="sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
        latex=r"\sum_{i=1}^{n-1} 100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
        dim=None,
        default_dim=2,
        bounds=(-2.0, 2.0),
        minima_fn=_rosenbrock_minima,
        # [MGH81]'s start for the extended Rosenbrock function, (-1.2, 1) repeated.
        start_fn=lambda n: tuple(-1.2 if i % 2 == 0 else 1.0 for i in range(n)),
        notes="a narrow curved valley: finding it is easy, following it to (1, ..., 1) is "
        "slow; for 4 <= n <= 7 also one local minimum near (-1, 1, ..., 1)",
        min_dim=2,
    ),
    TestFunction(
        name="beale",
        title="Beale",
        fun=_beale,
        formula="(1.5 - x + x y)^2 + (2.25 - x + x y^2)^2 + (2.625 - x + x y^3)^2",
        latex=r"(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        dim=2,
        default_dim=2,
        bounds=(-4.5, 4.5),  # [SB]
        minima_fn=_fixed(_at((3.0, 0.5), 0.0)),  # [JY13], [SB]
        start_fn=lambda n: (1.0, 1.0),  # [MGH81]
        notes="flat plateaus and steep walls: gradients vary over orders of magnitude",
    ),
    TestFunction(
        name="booth",
        title="Booth",
        fun=_booth,
        formula="(x + 2 y - 7)^2 + (2 x + y - 5)^2",
        latex=r"(x + 2y - 7)^2 + (2x + y - 5)^2",
        dim=2,
        default_dim=2,
        bounds=(-10.0, 10.0),  # [SB]
        minima_fn=_fixed(_at((1.0, 3.0), 0.0)),  # [JY13], [SB]
        notes="a convex quadratic with tilted, unequal axes: mild zig-zag",
    ),
    TestFunction(
        name="matyas",
        title="Matyas",
        fun=_matyas,
        formula="0.26 (x^2 + y^2) - 0.48 x y",
        latex=r"0.26\,(x^2 + y^2) - 0.48\,xy",
        dim=2,
        default_dim=2,
        bounds=(-10.0, 10.0),  # [SB]
        minima_fn=_fixed(_at((0.0, 0.0), 0.0)),  # [JY13], [SB]
        notes="a flat, diagonal valley (Hessian eigenvalues 0.04 and 1): slow progress along y = x",
    ),
    TestFunction(
        name="himmelblau",
        title="Himmelblau",
        fun=_himmelblau,
        formula="(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        latex=r"(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        dim=2,
        default_dim=2,
        bounds=(-5.0, 5.0),  # [SB]
        # [H72], [JY13]: four global minima with f = 0; (3, 2) is exact, the others
        # (printed to 6 digits there) were refined by Newton's method in float64.
        minima_fn=_fixed(
            _at((3.0, 2.0), 0.0),
            _at((-2.805118086952745, 3.131312518250573), 0.0),
            _at((-3.779310253377747, -3.2831859912861696), 0.0),
            _at((3.5844283403304917, -1.8481265269644036), 0.0),
        ),
        notes="four equal global minima: where you start decides which one you reach; "
        "the stationary point (-0.2708445906673476, -0.9230385564799816), "
        "f = 181.61652152258, is a local maximum, not a minimum",
    ),
    TestFunction(
        name="three-hump-camel",
        title="Three-hump camel",
        fun=_three_hump_camel,
        formula="2 x^2 - 1.05 x^4 + x^6 / 6 + x y + y^2",
        latex=r"2x^2 - 1.05\,x^4 + \frac{x^6}{6} + xy + y^2",
        dim=2,
        default_dim=2,
        # [SB] searches [-5, 5]^2; there the x^6 wall hides the humps, so plot [-2, 2]^2.
        bounds=(-2.0, 2.0),
        # [JY13], [SB]: global minimum 0 at the origin. The two local minima (symmetric
        # through the origin) were found by a grid of BFGS starts and refined by Newton.
        minima_fn=_fixed(
            _at((0.0, 0.0), 0.0),
            _at((1.7475523458302888, -0.8737761729151444), 0.29863844223686076, "local"),
            _at((-1.7475523458302888, 0.8737761729151444), 0.29863844223686076, "local"),
        ),
        notes="one global and two local minima: a start on a side hump stays there",
        # The curvature at the domain's default start, (-1.2, -1.2), is half that at the
        # minimum, so 1/L from there overshoots it for ever; start where it is larger.
        start_fn=lambda n: (-1.5, -1.5),
    ),
    TestFunction(
        name="six-hump-camel",
        title="Six-hump camel",
        fun=_six_hump_camel,
        formula="(4 - 2.1 x^2 + x^4 / 3) x^2 + x y + (-4 + 4 y^2) y^2",
        latex=r"\left(4 - 2.1\,x^2 + \frac{x^4}{3}\right) x^2 + xy + (-4 + 4y^2)\,y^2",
        dim=2,
        default_dim=2,
        # [SB]'s plot; its search domain is [-3, 3] x [-2, 2]. All six minima lie inside.
        bounds=((-2.0, 2.0), (-1.0, 1.0)),
        # [JY13], [SB]: two global minima f = -1.0316 at (+-0.0898, -+0.7126); the function
        # has six minima in all (hence the name). All six were found by a 25 x 25 grid of
        # BFGS starts over [-3, 3] x [-2, 2] and refined by Newton's method in float64.
        minima_fn=_fixed(
            _at((0.08984201310031806, -0.7126564030207396), -1.0316284534898774),
            _at((-0.08984201310031806, 0.7126564030207396), -1.0316284534898774),
            _at((1.703606714969981, -0.7960835686726252), -0.21546382438371836, "local"),
            _at((-1.703606714969981, 0.7960835686726252), -0.21546382438371836, "local"),
            _at((1.6071047529201976, 0.5686514548841314), 2.1042503103112598, "local"),
            _at((-1.6071047529201976, -0.5686514548841314), 2.1042503103112598, "local"),
        ),
        notes="two global minima, four local ones and saddles between: multistart territory",
    ),
    TestFunction(
        name="goldstein-price",
        title="Goldstein-Price",
        fun=_goldstein_price,
        formula="[1 + (x + y + 1)^2 (19 - 14 x + 3 x^2 - 14 y + 6 x y + 3 y^2)] "
        "[30 + (2 x - 3 y)^2 (18 - 32 x + 12 x^2 + 48 y - 36 x y + 27 y^2)]",
        latex=r"\left[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)\right]"
        r"\left[30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)\right]",
        dim=2,
        default_dim=2,
        bounds=(-2.0, 2.0),  # [SB]
        # [JY13], [SB]: global minimum 3 at (0, -1). The three local minima usually quoted
        # with it sit at exactly these decimal points (|grad| < 1e-11 there); a 25 x 25 grid
        # of BFGS starts refined by Newton finds no others in [-2, 2]^2.
        minima_fn=_fixed(
            _at((0.0, -1.0), 3.0),
            _at((-0.6, -0.4), 30.0, "local"),
            _at((1.8, 0.2), 84.0, "local"),
            _at((1.2, 0.8), 840.0, "local"),
        ),
        notes="values span five orders of magnitude with local minima at 30, 84 and 840: "
        "a fixed learning rate that suits one region fails in another",
    ),
    TestFunction(
        name="rastrigin",
        title="Rastrigin",
        fun=_rastrigin,
        formula="10 n + sum_i (x_i^2 - 10 cos(2 pi x_i))",
        latex=r"10n + \sum_{i=1}^{n} \left(x_i^2 - 10\cos(2\pi x_i)\right)",
        dim=None,
        default_dim=2,
        bounds=(-5.12, 5.12),  # [SB]
        minima_fn=_origin,  # [JY13], [SB]: global minimum 0 at the origin
        notes="a bowl covered in ripples: a local minimum near every integer point (too "
        "many to list), so plain gradient descent stops at the nearest one",
    ),
    TestFunction(
        name="ackley",
        title="Ackley",
        fun=_ackley,
        formula="-20 exp(-0.2 sqrt(mean(x_i^2))) - exp(mean(cos(2 pi x_i))) + 20 + e",
        latex=r"-20\exp\left(-0.2\sqrt{\tfrac{1}{n}\sum_i x_i^2}\right)"
        r" - \exp\left(\tfrac{1}{n}\sum_i \cos(2\pi x_i)\right) + 20 + e",
        dim=None,
        default_dim=2,
        # [SB] searches [-32.768, 32.768]^n; [-5, 5] shows the ripples around the funnel.
        bounds=(-5.0, 5.0),
        minima_fn=_origin,  # [JY13], [SB]: global minimum 0 at the origin
        notes="a nearly flat, rippled plateau around a sharp funnel; the minimum is a "
        "kink (the Hessian there is undefined; the gradient returned there is 0)",
    ),
    TestFunction(
        name="levi13",
        title="Levi N.13",
        fun=_levi13,
        formula="sin^2(3 pi x) + (x - 1)^2 (1 + sin^2(3 pi y)) + (y - 1)^2 (1 + sin^2(2 pi y))",
        latex=r"\sin^2(3\pi x) + (x - 1)^2\left(1 + \sin^2(3\pi y)\right)"
        r" + (y - 1)^2\left(1 + \sin^2(2\pi y)\right)",
        dim=2,
        default_dim=2,
        bounds=(-10.0, 10.0),  # [SB]
        minima_fn=_fixed(_at((1.0, 1.0), 0.0)),  # [SB]: global minimum 0 at (1, 1)
        notes="a quadratic bowl modulated by sines: many local minima in parallel rows",
    ),
    TestFunction(
        name="styblinski-tang",
        title="Styblinski-Tang",
        fun=_styblinski_tang,
        formula="0.5 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)",
        latex=r"\frac{1}{2}\sum_{i=1}^{n} \left(x_i^4 - 16x_i^2 + 5x_i\right)",
        dim=None,
        default_dim=2,
        bounds=(-5.0, 5.0),  # [SB]
        minima_fn=_styblinski_tang_minima,
        notes="separable: each coordinate has a deeper well at -2.9035 and a shallower one "
        "at 2.7468, so 2^n - 1 local minima (not listed) besides the global one",
    ),
    TestFunction(
        name="saddle",
        title="Saddle",
        fun=_saddle,
        formula="x^2 - y^2",
        latex=r"x^2 - y^2",
        dim=2,
        default_dim=2,
        bounds=(-2.0, 2.0),
        minima_fn=_no_minima,  # unbounded below along the y axis: no minimum at all
        # Off the diagonals, where f = 0 exactly: the start's f is then plainly positive.
        start_fn=lambda n: (-1.5, -0.5),
        notes="no minimum: the one stationary point, the origin (f = 0, Hessian "
        "eigenvalues 2 and -2), is a saddle; unbounded below along y",
    ),
)

REGISTRY: dict[str, TestFunction] = {tf.name: tf for tf in _FUNCTIONS}
assert len(REGISTRY) == len(_FUNCTIONS), "duplicate test function names"


def names() -> list[str]:
    """The registered names, from the simplest function to the hardest."""
    return list(REGISTRY)


def _key(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def get(name: str) -> TestFunction:
    """The registered test function called ``name``.

    Args:
        name: Registry name; case-insensitive, with underscores or spaces accepted for
            hyphens (``"Six_Hump camel"`` finds ``"six-hump-camel"``).

    Returns:
        The :class:`TestFunction`.

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If no function has that name; the message suggests close matches.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    key = _key(name)
    if key in REGISTRY:
        return REGISTRY[key]
    close = difflib.get_close_matches(key, names(), n=3, cutoff=0.6)
    if close:
        raise ValueError(f"unknown function {name!r}; did you mean {' or '.join(close)}?")
    raise ValueError(f"unknown function {name!r}; available: {', '.join(names())}")
