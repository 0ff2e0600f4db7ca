r"""Calculus for a function of several variables: gradients, partials, Hessians.

The seed notes teach that the gradient is the vector of partial derivatives,
:math:`\nabla f = (\partial f/\partial x, \partial f/\partial y, \dots)`, that it points
uphill, and that a flat point (:math:`\nabla f = 0`) may be a minimum, a maximum or a
saddle. Each idea is a function here; all accept a plain function, a pytree function,
a name from :mod:`descend.functions` or a formula.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._checks import check_real
from ._objective import as_function, central_differences

__all__ = [
    "grad",
    "hessian",
    "partials",
    "check_grad",
    "GradCheck",
    "classify",
    "StationaryPoint",
    "variable_names",
]


def _as_x(x: Any) -> Any:
    from ._inputs import prepare_x0

    return prepare_x0(x, "x")


def grad(fun: Any) -> Callable[..., Any]:
    r"""The gradient :math:`\nabla f` as a function: ``ds.grad(f)(x)`` has the shape of ``x``.

    Works for any pytree ``x`` (arrays, tuples, dicts) by automatic differentiation;
    extra positional arguments are passed through to ``fun``.
    """
    import jax

    f = as_function(fun)
    g = jax.grad(f)

    def gradient(x: Any, *args: Any) -> Any:
        return g(_as_x(x), *args)

    return gradient


def hessian(fun: Any) -> Callable[..., Any]:
    r"""The Hessian :math:`\partial^2 f / \partial x_i \partial x_j` as a function.

    ``ds.hessian(f)(x)`` is an ``(n, n)`` array over the ``n`` entries of ``x``
    (a pytree is flattened in ``jax.flatten_util.ravel_pytree`` order).
    """
    import jax
    from jax.flatten_util import ravel_pytree

    f = as_function(fun)

    def hess(x: Any, *args: Any) -> Any:
        flat, unravel = ravel_pytree(_as_x(x))
        return jax.hessian(lambda v: f(unravel(v), *args))(flat)

    return hess


def variable_names(n: int, fun: Any = None) -> tuple[str, ...]:
    """Names for ``n`` variables: the formula's own, else x, y, z (n <= 3), else w1..wn."""
    own = getattr(fun, "variables", None)
    if own is not None and len(own) == n:
        return tuple(own)
    if n <= 3:
        return ("x", "y", "z")[:n]
    return tuple(f"w{i + 1}" for i in range(n))


def partials(fun: Any, x: Any, names: Sequence[str] | None = None) -> dict[str, float]:
    r"""Each partial derivative :math:`\partial f/\partial x_i` at ``x``, keyed by name.

    Example:
      >>> ds.partials(lambda v: v[0] ** 2 * v[1], [3.0, 2.0])
      {'x': 12.0, 'y': 9.0}
    """
    from jax.flatten_util import ravel_pytree

    f = as_function(fun)
    g, _ = ravel_pytree(grad(f)(x))
    g = np.asarray(g)
    keys = tuple(names) if names is not None else variable_names(g.size, f)
    if len(keys) != g.size:
        raise ValueError(f"names must have one entry per variable ({g.size}), got {len(keys)}")
    return {k: float(v) for k, v in zip(keys, g)}


@dataclasses.dataclass(frozen=True)
class GradCheck:
    """An analytic gradient compared with central finite differences.

    ``rel_error[i] = |analytic_i - numeric_i| / max(|numeric_i|, |analytic_i|, scale)``
    and ``error = ||analytic - numeric|| / max(||numeric||, scale)``; ``worst`` names
    the component with the largest relative error.
    """

    analytic: np.ndarray
    numeric: np.ndarray
    abs_error: np.ndarray
    rel_error: np.ndarray
    error: float
    names: tuple[str, ...]
    worst: str
    ok: bool
    rtol: float

    def __repr__(self) -> str:
        lines = [f"GradCheck(ok={self.ok}, error={self.error:.2e}, worst={self.worst!r})"]
        for name, a, n, r in zip(self.names, self.analytic, self.numeric, self.rel_error):
            flag = "  <-- wrong" if r > self.rtol else ""
            lines.append(f"  {name:>6}: analytic {a: .8e}  numeric {n: .8e}  rel {r:.1e}{flag}")
        return "\n".join(lines)


def check_grad(
    fun: Any,
    grad_fun: Callable[..., Any],
    x: Any,
    *,
    names: Sequence[str] | None = None,
    rtol: float = 1e-5,
) -> GradCheck:
    """Compare ``grad_fun(x)`` with central finite differences of ``fun`` at ``x``.

    Like ``scipy.optimize.check_grad``, but reporting the relative error of every
    component, so a wrong partial derivative is named, not just detected.
    """
    import jax
    from jax.flatten_util import ravel_pytree

    f = as_function(fun)
    if not callable(grad_fun):
        raise TypeError(f"grad must be callable, got {type(grad_fun).__name__}")
    rtol = check_real(rtol, "rtol", low=0)
    x = _as_x(x)
    flat, unravel = ravel_pytree(x)
    flat64 = np.asarray(flat, np.float64)
    analytic_tree = grad_fun(x)
    analytic, _ = ravel_pytree(jax.tree.map(np.asarray, analytic_tree))
    analytic = np.asarray(analytic, np.float64)
    if analytic.shape != flat64.shape:
        raise ValueError(
            f"grad must return one entry per variable ({flat64.size}), got {analytic.size}"
        )
    _, numeric = central_differences(lambda v: float(f(unravel(v.astype(flat.dtype)))), flat64)
    abs_err = np.abs(analytic - numeric)
    scale = max(float(np.max(np.abs(numeric), initial=0.0)), 1.0) * 1e-8 + 1e-12
    rel = abs_err / np.maximum(np.maximum(np.abs(numeric), np.abs(analytic)), scale)
    total = float(np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), scale))
    keys = tuple(names) if names is not None else variable_names(flat64.size, f)
    return GradCheck(
        analytic=analytic,
        numeric=numeric,
        abs_error=abs_err,
        rel_error=rel,
        error=total,
        names=keys,
        worst=keys[int(np.argmax(rel))],
        ok=bool(np.all(rel <= rtol)),
        rtol=rtol,
    )


@dataclasses.dataclass(frozen=True)
class StationaryPoint:
    """The kind of a point from the Hessian's eigenvalues.

    ``kind`` is ``minimum`` (all eigenvalues > 0), ``maximum`` (all < 0), ``saddle``
    (both signs) or ``degenerate`` (some eigenvalue is 0 within ``tol``, so second
    derivatives cannot decide). ``stationary`` says whether the gradient vanishes there
    (``grad_norm <= gtol``); the kind describes the curvature either way.
    """

    kind: str
    eigenvalues: np.ndarray
    grad_norm: float
    stationary: bool
    tol: float


def classify(fun: Any, x: Any, *, tol: float | None = None, gtol: float = 1e-6) -> StationaryPoint:
    """Classify the point ``x`` of ``fun`` as a minimum, maximum, saddle or degenerate.

    Args:
      fun: the function (callable, name or formula).
      x: the point.
      tol: eigenvalues with ``|lambda| <= tol`` count as zero; default
        ``sqrt(eps) * max(1, max |lambda|)``.
      gtol: the gradient norm under which the point counts as stationary.
    """
    import jax.numpy as jnp

    f = as_function(fun)
    if tol is not None:
        tol = check_real(tol, "tol", low=0)
    gtol = check_real(gtol, "gtol", low=0, finite=False)
    x = _as_x(x)
    h = np.asarray(hessian(f)(x), np.float64)
    eig = np.linalg.eigvalsh(0.5 * (h + h.T))
    gn = float(jnp.sqrt(sum(jnp.sum(g**2) for g in _leaves(grad(f)(x)))))
    return StationaryPoint(
        kind=kind_from_eigenvalues(eig, tol),
        eigenvalues=eig,
        grad_norm=gn,
        stationary=gn <= gtol,
        tol=_eig_tol(eig, tol),
    )


def _leaves(tree: Any) -> list:
    import jax

    return jax.tree.leaves(tree)


def _eig_tol(eig: np.ndarray, tol: float | None) -> float:
    if tol is not None:
        return float(tol)
    big = float(np.max(np.abs(eig), initial=0.0))
    return float(np.sqrt(np.finfo(np.float64).eps) * max(1.0, big))


def kind_from_eigenvalues(eig: np.ndarray, tol: float | None = None) -> str:
    """``minimum``, ``maximum``, ``saddle`` or ``degenerate`` from Hessian eigenvalues."""
    eig = np.asarray(eig)
    if not np.all(np.isfinite(eig)):
        return "degenerate"
    t = _eig_tol(eig, tol)
    pos, neg = eig > t, eig < -t
    if pos.all():
        return "minimum"
    if neg.all():
        return "maximum"
    if pos.any() and neg.any():
        return "saddle"
    return "degenerate"
