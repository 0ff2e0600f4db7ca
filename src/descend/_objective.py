"""The objective: f and its gradient as one hashable callable, made from what the user gave.

One place turns a callable, a built-in function's name or a formula into a function
(:func:`as_function`, for the engine and every public function), and one routine
computes central differences (:func:`central_differences`, for ``grad="numeric"`` and
``check_grad``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._inputs import tree_size

__all__ = [
    "Objective",
    "as_function",
    "central_differences",
    "check_objective",
    "make_objective",
    "numeric_value_and_grad",
    "signature",
]


def as_function(fun: Any, name: str = "fun") -> Callable[..., Any]:
    """A callable from a callable (itself), a built-in function's name or a formula."""
    if callable(fun):
        return fun
    if isinstance(fun, str):
        from .functions import resolve

        return resolve(fun)
    text = repr(fun)
    if len(text) > 60:
        text = text[:57] + "..."
    raise TypeError(
        f"{name} must be callable, a function name or a formula, got {type(fun).__name__} {text}"
    )


def central_differences(
    f: Callable[[np.ndarray], float], x: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(f(x), gradient)`` of a function of a flat float64 vector, by central differences
    (2n + 1 calls of ``f``)."""
    f0 = float(f(x))
    # h ~ eps^(1/3) * scale balances truncation (h^2) and rounding (eps/h) errors.
    h = np.finfo(np.float64).eps ** (1 / 3) * np.maximum(np.abs(x), 1.0)
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h[i]
        g[i] = (f(x + e) - f(x - e)) / (2 * h[i])
    return f0, g


class Objective(NamedTuple):
    """f and its gradient as one hashable callable ``(x, args) -> (f, grad)``."""

    fun: Callable[..., Any]
    grad: Any = None  # None: autodiff; "numeric": central differences; else a callable

    def __call__(self, x: Any, args: tuple) -> tuple[Any, Any]:
        import jax

        if self.grad is None:
            return jax.value_and_grad(self.fun)(x, *args)
        if isinstance(self.grad, str):
            return numeric_value_and_grad(self.fun, x, args)
        return self.fun(x, *args), self.grad(x, *args)

    def value(self, x: Any, args: tuple) -> Any:
        if isinstance(self.grad, str):
            return numeric_value_and_grad(self.fun, x, args)[0]
        return self.fun(x, *args)


def numeric_value_and_grad(fun: Callable[..., Any], x: Any, args: tuple) -> tuple[Any, Any]:
    """f and its central-difference gradient for a black-box numpy ``fun``.

    The slow path: 2n + 1 calls of ``fun`` in a Python loop, run through
    ``jax.pure_callback`` so the compiled loop can still drive it.
    """
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree.flatten(x)
    shapes = [(l.shape, l.dtype) for l in leaves]
    dtype = jnp.result_type(*[l.dtype for l in leaves])

    def host(*flat_leaves: np.ndarray) -> tuple[np.ndarray, ...]:
        vec = np.concatenate([np.asarray(l, np.float64).ravel() for l in flat_leaves])

        def f_of(v: np.ndarray) -> float:
            parts, i = [], 0
            for shape, _ in shapes:
                n = int(np.prod(shape))
                parts.append(v[i : i + n].reshape(shape))
                i += n
            return float(fun(jax.tree.unflatten(treedef, parts), *args))

        f0, g = central_differences(f_of, vec)
        out, i = [np.asarray(f0, dtype)], 0
        for shape, dt in shapes:
            n = int(np.prod(shape))
            out.append(g[i : i + n].reshape(shape).astype(dt))
            i += n
        return tuple(out)

    result_shapes = (jax.ShapeDtypeStruct((), dtype),) + tuple(
        jax.ShapeDtypeStruct(s, d) for s, d in shapes
    )
    f, *g = jax.pure_callback(host, result_shapes, *leaves, vmap_method="sequential")
    return f, jax.tree.unflatten(treedef, g)


def make_objective(fun: Any, grad: Any) -> Objective:
    """The objective from a callable, a built-in function's name or a formula."""
    fun = as_function(fun)
    if grad is not None and not callable(grad) and grad != "numeric":
        error = ValueError if isinstance(grad, str) else TypeError
        raise error(f"grad must be None, a callable or 'numeric', got {grad!r}")
    return Objective(fun, grad)


def signature(*trees: Any) -> tuple | None:
    """A hashable description of pytrees' structure, shapes and dtypes (None if unhashable)."""
    import jax

    try:
        out = []
        for tree in trees:
            leaves, treedef = jax.tree.flatten(tree)
            out.append(
                (treedef, tuple((np.shape(l), getattr(l, "dtype", type(l))) for l in leaves))
            )
        key = tuple(out)
        hash(key)
        return key
    except TypeError:
        return None


_CHECKED: set = set()


def check_objective(objective: Objective, x0: Any, args: tuple) -> None:
    """Evaluate shapes (not values) of f and its gradient at x0 and refuse misuse.

    A combination already checked is not traced again (it costs about a millisecond).
    """
    if hasattr(objective.fun, "check_dim"):  # built-in functions and formulas
        objective.fun.check_dim(tree_size(x0))
    key = signature(x0, args)
    key = None if key is None else (objective, key)
    if key is not None and key in _CHECKED:
        return
    _check_objective(objective, x0, args)
    if key is not None:
        _CHECKED.add(key)


def _check_objective(objective: Objective, x0: Any, args: tuple) -> None:
    import jax

    fun = objective.fun
    try:
        if objective.grad == "numeric":
            out = fun(jax.tree.map(np.asarray, x0), *args)
            out_shape = np.shape(out)
            out_dtype = np.asarray(out).dtype
        else:
            spec = jax.eval_shape(lambda x: fun(x, *args), x0)
            out_shape, out_dtype = getattr(spec, "shape", None), getattr(spec, "dtype", None)
    except jax.errors.TracerArrayConversionError as e:
        raise TypeError(
            "fun could not be traced by JAX (it converts its input to numpy); write it "
            "with jax.numpy, or pass grad='numeric' for a black-box numpy function"
        ) from e
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise ValueError(f"fun raised {type(e).__name__} when called at x0: {e}") from e
    if out_shape is None or tuple(out_shape) not in ((), (1,)):
        raise ValueError(f"fun must return a scalar, got an output of shape {out_shape} at x0")
    if out_dtype is None or np.dtype(out_dtype).kind != "f":
        raise TypeError(
            f"fun must return a floating-point scalar, got dtype {out_dtype}; "
            "use float inputs and float operations"
        )
    if tuple(out_shape) == (1,):
        raise ValueError("fun must return a scalar of shape (), got shape (1,); index it with [0]")
    if callable(objective.grad):
        try:
            gspec = jax.eval_shape(lambda x: objective.grad(x, *args), x0)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"grad raised {type(e).__name__} when called at x0: {e}") from e
        want = jax.tree.map(lambda l: tuple(l.shape), x0)
        got = jax.tree.map(lambda l: tuple(getattr(l, "shape", ())), gspec)
        if jax.tree.structure(want) != jax.tree.structure(got) or want != got:
            raise ValueError(f"grad must return the shape of x0: expected {want}, got {got}")
