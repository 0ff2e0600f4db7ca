"""Local versus global: many starts, distinct minima, basins, curvature and convexity.

Gradient descent finds *a* local minimum, which one depending on where it starts; on a
convex function every start reaches the one global minimum. These functions make that
visible: they run many starts as one batch (:func:`descend.minimize_batch`) and group
where the runs end.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._checks import check_int, check_real
from ._objective import as_function
from .calculus import kind_from_eigenvalues

__all__ = [
    "multistart",
    "Multistart",
    "FoundMinimum",
    "basins",
    "Basins",
    "suggest_learning_rate",
    "LearningRateSuggestion",
    "convexity",
    "Convexity",
]


def check_domain(domain: Any, fun: Any = None, n: int | None = None) -> np.ndarray:
    """``domain`` as an ``(n, 2)`` array of (lower, upper); a built-in function's own by default."""
    if domain is None:
        if hasattr(fun, "domain"):
            return np.asarray(fun.domain(n), np.float64)
        raise ValueError("domain is required: a sequence of (lower, upper) pairs, one per variable")
    try:
        d = np.asarray(domain, np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"domain must be a sequence of (lower, upper) pairs, got {domain!r}"
        ) from None
    if d.ndim == 1 and d.size == 2:
        d = d[None, :]
    if d.ndim != 2 or d.shape[1] != 2 or d.shape[0] < 1:
        raise ValueError(f"domain must be a sequence of (lower, upper) pairs, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("domain bounds must be finite")
    bad = np.nonzero(d[:, 0] >= d[:, 1])[0]
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"domain: lower must be < upper for every variable; variable {i} has "
            f"lower {d[i, 0]:g} >= upper {d[i, 1]:g}"
        )
    if hasattr(fun, "check_dim"):
        fun.check_dim(d.shape[0])
    return d


@dataclasses.dataclass(frozen=True)
class FoundMinimum:
    """A distinct end point: where, its value, and how many starts reached it."""

    x: np.ndarray
    fun: float
    count: int
    kind: str  # from the Hessian: minimum, saddle, maximum or degenerate


@dataclasses.dataclass(frozen=True, repr=False)
class Multistart:
    """The outcome of :func:`multistart`.

    ``minima`` are sorted by f (lowest first); ``labels[i]`` is the index in ``minima``
    that start ``i`` reached, or -1 if that run did not converge.
    """

    starts: np.ndarray
    minima: tuple[FoundMinimum, ...]
    labels: np.ndarray
    batch: Any

    @property
    def global_candidate(self) -> FoundMinimum | None:
        """The lowest minimum found: the best guess at the global minimum (not a proof)."""
        return self.minima[0] if self.minima else None

    def __repr__(self) -> str:
        lines = [
            f"Multistart({len(self.starts)} starts, {len(self.minima)} distinct end points, "
            f"{int(np.sum(self.labels < 0))} not converged)"
        ]
        for i, m in enumerate(self.minima):
            tag = "  <- global candidate" if i == 0 else ""
            xs = np.array2string(m.x, precision=6, separator=", ")
            lines.append(f"  {i}: x = {xs}  f = {m.fun:.10g}  {m.kind}  reached by {m.count}{tag}")
        return "\n".join(lines)


def _group(points: np.ndarray, values: np.ndarray, ok: np.ndarray, tol: float) -> tuple:
    """Greedy clustering: lowest f first, each point joins the first centre within tol."""
    labels = np.full(len(points), -1)
    centres: list[int] = []
    at = np.empty_like(points)  # the centres' points, the first len(centres) rows
    for i in np.argsort(np.where(ok, values, np.inf), kind="stable"):
        if not ok[i]:
            continue
        near = np.flatnonzero(np.linalg.norm(at[: len(centres)] - points[i], axis=1) <= tol)
        if near.size:
            labels[i] = near[0]
        else:
            labels[i] = len(centres)
            at[len(centres)] = points[i]
            centres.append(int(i))
    return labels, centres


def _eigenvalues(fun: Any, xs: np.ndarray) -> np.ndarray:
    """The Hessian's eigenvalues at each row of ``xs``: one compiled call for them all
    (rows padded to a power of two, so a new count rarely compiles), else one at a time
    (a function JAX cannot differentiate or hash)."""
    from .calculus import hessian

    try:
        from .curvature import hessians_at

        n = len(xs)
        padded = np.concatenate([xs, np.repeat(xs[:1], (1 << max(n - 1, 0).bit_length()) - n, 0)])
        hs = np.asarray(hessians_at(fun, padded), np.float64)[:n]
    except Exception:  # noqa: BLE001 - e.g. a numpy function: the slow, general path
        hess = hessian(fun)
        hs = np.stack([np.asarray(hess(x), np.float64) for x in xs])
    hs = np.where(np.isfinite(hs), hs, np.nan)
    out = np.full(hs.shape[:2], np.nan)
    good = np.all(np.isfinite(hs), axis=(1, 2))
    if good.any():
        h = hs[good]
        out[good] = np.linalg.eigvalsh((h + np.swapaxes(h, 1, 2)) / 2)
    return out


def _end_points(
    fun: Any, starts: np.ndarray, optimizer: Any, tol: float | None, scale: float, **options: Any
) -> tuple:
    from ._batch import minimize_batch

    options.setdefault("gtol", 1e-8)
    options.setdefault("max_steps", 20_000)
    batch = minimize_batch(fun, starts, optimizer, **options)
    x = np.asarray(batch.x, np.float64)
    ok = np.asarray(batch.success) & np.all(np.isfinite(x), axis=1)
    tol = tol if tol is not None else 1e-3 * scale
    labels, centres = _group(x, np.asarray(batch.fun), ok, tol)
    eigs = _eigenvalues(fun, x[centres]) if centres else np.zeros((0, x.shape[1]))
    minima = []
    for c, j in enumerate(centres):
        eig = eigs[c]
        minima.append(
            FoundMinimum(
                x=x[j],
                fun=float(batch.fun[j]),
                count=int(np.sum(labels == c)),
                kind=kind_from_eigenvalues(eig),
            )
        )
    return batch, tuple(minima), labels


def _check_tol(tol: Any) -> float | None:
    """The distance under which end points are one minimum: None (the default) or >= 0."""
    return None if tol is None else check_real(tol, "tol", low=0)


def _default_optimizer(optimizer: Any) -> Any:
    if optimizer is not None:
        return optimizer
    from .optimizers import adam

    return adam(0.01)


def multistart(
    fun: Any,
    n_starts: int,
    domain: Any = None,
    optimizer: Any = None,
    *,
    seed: int = 0,
    tol: float | None = None,
    **minimize_options: Any,
) -> Multistart:
    """Run gradient descent from ``n_starts`` random starts and group where they end.

    The starts are uniform in ``domain`` (default: a built-in function's plotting
    domain) and run as one batch. End points of converged runs closer than ``tol``
    (default 1e-3 times the domain's diagonal) are one minimum; the lowest is the
    global candidate. Each minimum's kind comes from its Hessian, so a run that
    stalled on a saddle is reported as one.

    Args:
      fun: callable, built-in name or formula.
      n_starts: how many starts (>= 1).
      domain: ``[(lo, hi), ...]`` per variable.
      optimizer: an optax transformation; default ``ds.adam(0.01)``.
      seed: seed of the starts.
      tol: the distance under which two end points are the same minimum.
      **minimize_options: passed to :func:`descend.minimize_batch` (default
        ``gtol=1e-8, max_steps=20000``).
    """
    f = as_function(fun)
    n_starts = check_int(n_starts, "n_starts")
    seed = check_int(seed, "seed", minimum=0)
    tol = _check_tol(tol)
    d = check_domain(domain, f)
    rng = np.random.default_rng(seed)
    starts = rng.uniform(d[:, 0], d[:, 1], size=(n_starts, d.shape[0]))
    scale = float(np.linalg.norm(d[:, 1] - d[:, 0]))
    batch, minima, labels = _end_points(
        f, starts, _default_optimizer(optimizer), tol, scale, **minimize_options
    )
    return Multistart(starts=starts, minima=minima, labels=labels, batch=batch)


@dataclasses.dataclass(frozen=True, repr=False)
class Basins:
    """Which minimum each start of a grid reaches: data for a basins-of-attraction picture.

    ``labels[i, j]`` is the index in ``minima`` reached from ``(xs[j], ys[i])`` (image
    convention: rows are y), or -1 where the run did not converge.
    """

    xs: np.ndarray
    ys: np.ndarray
    labels: np.ndarray
    minima: tuple[FoundMinimum, ...]
    batch: Any

    def __repr__(self) -> str:
        counts = [int(np.sum(self.labels == i)) for i in range(len(self.minima))]
        return (
            f"Basins({self.labels.shape[1]}x{self.labels.shape[0]} grid, "
            f"{len(self.minima)} minima, starts per minimum {counts}, "
            f"{int(np.sum(self.labels < 0))} not converged)"
        )


def basins(
    fun: Any,
    domain: Any = None,
    resolution: int = 50,
    optimizer: Any = None,
    *,
    tol: float | None = None,
    **minimize_options: Any,
) -> Basins:
    """Map every start of a ``resolution x resolution`` grid over a 2-D ``domain`` to
    the minimum gradient descent reaches from it (one batch of runs)."""
    f = as_function(fun)
    resolution = check_int(resolution, "resolution", minimum=2)
    tol = _check_tol(tol)
    d = check_domain(domain, f, 2)
    if d.shape[0] != 2:
        raise ValueError(f"basins needs a 2-D domain, got {d.shape[0]} variables")
    xs = np.linspace(d[0, 0], d[0, 1], resolution)
    ys = np.linspace(d[1, 0], d[1, 1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    starts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    scale = float(np.linalg.norm(d[:, 1] - d[:, 0]))
    batch, minima, labels = _end_points(
        f, starts, _default_optimizer(optimizer), tol, scale, **minimize_options
    )
    return Basins(
        xs=xs, ys=ys, labels=labels.reshape(resolution, resolution), minima=minima, batch=batch
    )


@dataclasses.dataclass(frozen=True)
class LearningRateSuggestion:
    r"""A learning rate from the curvature: for gradient descent on a function whose
    largest Hessian eigenvalue is :math:`L`, steps converge near the point when
    :math:`\eta < 2/L` and diverge above it; :math:`1/L` is the classic safe choice."""

    learning_rate: float
    max_stable: float
    curvature: float

    def __repr__(self) -> str:
        return (
            f"LearningRateSuggestion(learning_rate={self.learning_rate:.4g} (1/L), "
            f"max_stable={self.max_stable:.4g} (2/L), curvature L={self.curvature:.4g})"
        )


def suggest_learning_rate(
    fun: Any, x0: Any, *, args: tuple = (), iters: int = 1000, seed: int = 0
) -> LearningRateSuggestion:
    """Estimate the largest Hessian eigenvalue ``L`` at ``x0`` by power iteration on
    Hessian-vector products (no dense Hessian) and suggest ``1/L``, with ``2/L`` as the
    edge of divergence for gradient descent.

    The estimate is local: on a non-quadratic function the curvature changes along the
    path, so treat it as a starting point.
    """
    from ._inputs import prepare_x0
    from .curvature import largest_algebraic_eigenvalue

    f = as_function(fun)
    iters = check_int(iters, "iters")
    seed = check_int(seed, "seed", minimum=0)
    x0 = prepare_x0(x0)
    lam = largest_algebraic_eigenvalue(f, x0, tuple(args), iters=iters, seed=seed)
    if not np.isfinite(lam) or lam <= 0:
        raise ValueError(
            f"the largest curvature at x0 is {lam:.3g} (not positive): f is flat or concave "
            "there, so curvature gives no learning rate; pick one by trial"
        )
    return LearningRateSuggestion(learning_rate=1.0 / lam, max_stable=2.0 / lam, curvature=lam)


@dataclasses.dataclass(frozen=True)
class Convexity:
    """Evidence about convexity from sampled Hessians (evidence, not proof).

    ``convex_on_samples`` is True when every sampled Hessian was positive semidefinite
    (smallest eigenvalue >= -tol); ``min_eigenvalue`` is the smallest seen, at ``where``.
    A function can pass this test and still be non-convex between the samples.
    """

    convex_on_samples: bool
    min_eigenvalue: float
    where: np.ndarray
    samples: int
    tol: float


def convexity(
    fun: Any, domain: Any = None, samples: int = 1000, *, seed: int = 0, tol: float = 1e-9
) -> Convexity:
    """Sample ``samples`` points uniformly in ``domain`` and check each Hessian is PSD.

    This is evidence, not proof: a function is convex on a box only if its Hessian is
    positive semidefinite at *every* point, and sampling sees finitely many. A negative
    eigenvalue, though, proves non-convexity (up to rounding) and says where.
    """
    import jax
    import jax.numpy as jnp

    f = as_function(fun)
    samples = check_int(samples, "samples")
    seed = check_int(seed, "seed", minimum=0)
    tol = check_real(tol, "tol", low=0)
    d = check_domain(domain, f)
    pts = np.random.default_rng(seed).uniform(d[:, 0], d[:, 1], size=(samples, d.shape[0]))
    smallest = jax.jit(jax.vmap(lambda x: jnp.linalg.eigvalsh(jax.hessian(f)(x))[0]))
    lam = np.asarray(smallest(jnp.asarray(pts)))
    lam = np.where(np.isfinite(lam), lam, np.inf)
    i = int(np.argmin(lam))
    scale = max(1.0, float(np.max(np.abs(lam[np.isfinite(lam)]), initial=0.0)))
    return Convexity(
        convex_on_samples=bool(lam[i] >= -tol * scale),
        min_eigenvalue=float(lam[i]),
        where=pts[i],
        samples=samples,
        tol=tol,
    )
