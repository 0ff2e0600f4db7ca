r"""Update rules: short, documented names over optax.

Every factory takes ``learning_rate`` first (a positive float or an optax schedule
``step -> rate``) and the paper's names for the other hyperparameters, and returns an
``optax.GradientTransformation``. Any optax transformation can be passed to
:func:`descend.minimize` directly, including ``optax.lbfgs()`` and optax's line
searches, which receive ``value``, ``grad`` and ``value_fn``.

Results are cached on the hyperparameters, so ``gd(0.1)`` twice is the same object.
Each also remembers the numbers it was made with (``descend_numbers``):
:func:`descend.minimize` passes them into the compiled loop as data, so ``gd(0.02)``
after ``gd(0.01)`` (or a new ``b1`` for adam) reuses the compiled loop.

``learning_rate="auto"`` (the default of ``gd``, ``momentum`` and ``nesterov``) picks
the learning rate when a run starts, from the problem (:func:`auto_learning_rate`):

* ``gd``: :math:`1/L`, where :math:`L` is the largest curvature (Hessian eigenvalue) at
  the start. Gradient descent on a quadratic diverges above :math:`2/L`; :math:`1/L`
  is the classic safe step (Nesterov's *Introductory Lectures*, section 1.2.3).
* ``momentum`` and ``nesterov``: :math:`(1 - \beta)/L`. The velocity sums past
  gradients, so a steady step is :math:`\eta/(1-\beta)` times the gradient: this is
  gd's :math:`1/L` again. (On a quadratic :math:`1/L` itself is stable, but on
  curved landscapes the tenfold longer steps of :math:`\beta = 0.9` overshoot.)
* ``adagrad``, ``rmsprop``, ``adam``, ``adamw``: their usual fixed default (0.1 for
  adagrad, 0.01 for the others). They divide by a running size of the gradient, so a
  step moves each coordinate by about the learning rate whatever the curvature: it
  sets a length, not a stability limit.

Where f curves down in every direction at the start, :math:`L` is the size of the
largest (negative) curvature. A function with its own gradient (``grad=`` or
``"numeric"``) gets its curvature from central differences of that gradient. Where f
has no curvature, or none can be computed, gd and the momentum methods fall back to
0.1 (times :math:`1 - \beta`).
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple, Union

import numpy as np

from ._checks import as_number, check_real, is_tracer

__all__ = [
    "gd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "OPTIMIZERS",
    "get_optimizer",
    "AUTO",
    "AutoRate",
    "LearningRateChoice",
    "auto_learning_rate",
    "auto_learning_rates",
]

Schedule = Callable[[Any], Any]
LearningRate = Union[float, Schedule, str]
AUTO = "auto"
# Used when curvature gives no scale (f flat or linear at the start, or not twice
# differentiable by JAX).
FALLBACK_LEARNING_RATE = 0.1


class LearningRateChoice(NamedTuple):
    """A learning rate chosen by ``learning_rate="auto"``, and the rule that chose it."""

    value: float
    rule: str  # e.g. "1/L at the start (L = 87.3, the largest curvature there)"

    def __str__(self) -> str:
        return f"{self.value:.4g} = {self.rule}"


class AutoRate(NamedTuple):
    """An optimizer whose learning rate is chosen from the problem when a run starts.

    ``ds.gd()`` (or ``ds.gd("auto")``) returns one; :func:`descend.minimize` calls
    :meth:`choose` with its function and start, then builds the update rule by calling
    it with the rate. ``factory`` is ``gd``, ``momentum``...
    and ``hyper`` its other hyperparameters.
    """

    factory: Callable[..., Any]
    hyper: tuple[tuple[str, Any], ...] = ()

    def choose(self, fun: Any, x0: Any, args: tuple = ()) -> LearningRateChoice:
        return auto_learning_rate(self.factory.__name__, fun, x0, args, **dict(self.hyper))

    def __call__(self, learning_rate: Any) -> Any:
        """The optax transformation with this learning rate (a number or a tracer)."""
        return self.factory(learning_rate, **dict(self.hyper))


def auto_learning_rate(
    name: str, fun: Any, x0: Any, args: tuple = (), **hyper: Any
) -> LearningRateChoice:
    """The learning rate ``learning_rate="auto"`` picks for optimizer ``name`` at ``x0``.

    The rules are in this module's docstring: 1/L for gd, (1 - beta)/L for momentum
    and nesterov, the usual fixed default for the adaptive methods.
    """
    factory = get_optimizer(name)
    if name not in _CURVATURE_BASED:
        value = float(inspect.signature(factory).parameters["learning_rate"].default)
        return LearningRateChoice(
            value, f"{name}'s default (adaptive steps: about lr a coordinate)"
        )
    top, biggest = _curvatures(fun, x0, args)
    return curvature_rule(name, top, biggest, **hyper)


def curvature_rule(name: str, top: float, biggest: float, **hyper: Any) -> LearningRateChoice:
    """The "auto" rate of gd, momentum or nesterov from the curvatures at the start: the
    largest Hessian eigenvalue ``top`` and the largest in size ``biggest`` (nan: unknown)."""
    beta = 0.0 if name == "gd" else float(hyper.get("beta", 0.9))
    numerator = "1" if name == "gd" else f"(1 - {beta:g})"
    if np.isfinite(top) and top > 0:
        L, where = float(top), "the largest curvature there"
    elif np.isfinite(biggest) and biggest != 0:
        L, where = abs(float(biggest)), "f curves down there; the size of its largest curvature"
    else:
        why = "no curvature at the start" if np.isfinite(top) else "curvature unavailable"
        rule = f"{FALLBACK_LEARNING_RATE:g}" + ("" if name == "gd" else f" * {numerator}")
        return LearningRateChoice(FALLBACK_LEARNING_RATE * (1 - beta), f"{rule}: {why}")
    return LearningRateChoice((1 - beta) / L, f"{numerator}/L at the start (L = {L:.4g}, {where})")


def auto_learning_rates(auto: AutoRate, fun: Any, x0s: Any, args: tuple = ()) -> np.ndarray:
    """The rate ``auto`` chooses at each start of ``x0s`` (leading axis), computed at once."""
    import jax

    name = auto.factory.__name__
    n = jax.tree.leaves(x0s)[0].shape[0]
    if name not in _CURVATURE_BASED:
        return np.full(n, auto_learning_rate(name, fun, None).value)
    if getattr(fun, "grad", None) is not None:  # its own gradient: one start at a time
        starts = [jax.tree.map(lambda l, i=i: l[i], x0s) for i in range(n)]
        tops, bigs = zip(*(_curvatures(fun, x0, args) for x0 in starts))
    else:
        try:
            from .curvature import curvatures_batched

            tops, bigs = curvatures_batched(fun, x0s, tuple(args))
        except Exception:  # noqa: BLE001 - e.g. a numpy function JAX cannot trace
            tops = bigs = np.full(n, np.nan)
    hyper = dict(auto.hyper)
    return np.array([curvature_rule(name, t, b, **hyper).value for t, b in zip(tops, bigs)])


def _curvatures(fun: Any, x0: Any, args: tuple) -> tuple[float, float]:
    """(largest, largest in size) Hessian eigenvalue at x0; nan where JAX cannot tell."""
    from .curvature import curvatures

    try:
        return curvatures(fun, x0, tuple(args))
    except Exception:  # noqa: BLE001 - e.g. a numpy function JAX cannot trace
        return float("nan"), float("nan")


_CURVATURE_BASED = ("gd", "momentum", "nesterov")


def _is_auto(learning_rate: Any) -> bool:
    return isinstance(learning_rate, str) and learning_rate == AUTO


def _auto(factory: Callable[..., Any], **hyper: Any) -> AutoRate:
    # Checks the other hyperparameters now, with a stand-in rate, not when the run starts.
    factory(1.0, **hyper)
    return AutoRate(factory, tuple(sorted(hyper.items())))


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> Any:
    """``learning_rate`` if it is a schedule, else as a positive finite number.

    A tracer (the rate as data inside the compiled loop) passes unchecked: it was
    checked when the optimizer was made.
    """
    if callable(learning_rate) or is_tracer(learning_rate):
        return learning_rate
    # A number out of range is told the range; anything else, everything accepted.
    number = as_number(learning_rate, "fiu") is not None
    what = (
        "a positive finite number" if number else "a positive number, an optax schedule or 'auto'"
    )
    return check_real(learning_rate, name, low=0, low_open=True, what=what)


# Tracers pass these unchecked (see check_learning_rate).
def _check_unit(value: Any, name: str) -> None:
    check_real(value, name, low=0, high=1, high_open=True, what="in [0, 1)")


def _check_positive(value: Any, name: str) -> None:
    check_real(value, name, low=0, low_open=True)


def _check_nonnegative(value: Any, name: str) -> None:
    check_real(value, name, low=0)


class Numbers(NamedTuple):
    """``hyper -> factory(**hyper)``: an update rule built from numbers that the compiled
    loop receives as data (``hyper``, a dict of arrays), so new numbers do not recompile
    it. Hashable, and equal for the same factory: it keys the compiled loop."""

    factory: Callable[..., Any]

    def __call__(self, hyper: dict[str, Any]) -> Any:
        return self.factory(**hyper)


def numbers_of(optimizer: Any) -> dict[str, float] | None:
    """The hyperparameters a built-in optimizer was made with (all numbers), or None
    (a schedule among them, or a transformation descend did not make)."""
    return getattr(optimizer, "descend_numbers", None)


@functools.cache
def _described_type() -> type:
    import optax

    class Described(optax.GradientTransformationExtraArgs):
        """An optax transformation that also remembers the numbers it was made with
        (``descend_numbers``) and its factory (``descend_factory``)."""

    return Described


def _describe(transform: Any, factory: Callable[..., Any], params: dict[str, Any]) -> Any:
    if isinstance(transform, AutoRate) or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in params.values()
    ):
        return transform  # "auto", a schedule or a tracer: nothing to keep as data
    described = _described_type()(transform.init, transform.update)
    described.descend_factory = factory
    described.descend_numbers = {k: float(v) for k, v in params.items()}
    return described


def _cached(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Cache a factory on hashable hyperparameters (schedules and tracers bypass it), and
    let what it makes remember its numbers (see :class:`Numbers`)."""
    signature = inspect.signature(factory)

    def make(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return _describe(factory(*args, **kwargs), wrapper, dict(bound.arguments))

    # typed: True == 1 == 1.0 as keys, and True must still be refused after gd(1.0)
    cached = functools.lru_cache(maxsize=256, typed=True)(make)

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # unhashable, e.g. a jax array
            return make(*args, **kwargs)

    return wrapper


@_cached
def gd(learning_rate: LearningRate = AUTO) -> Any:
    r"""Plain gradient descent: :math:`w_{t+1} = w_t - \eta \nabla f(w_t)`.

    Args:
      learning_rate: the step size :math:`\eta` (> 0), an optax schedule, or ``"auto"``:
        :math:`1/L` from the curvature at the start (see the module docstring).

    Example:
      >>> import descend as ds
      >>> res = ds.minimize(lambda w: (w ** 2).sum(), [1.0, 2.0], ds.gd(0.25))
    """
    import optax

    if _is_auto(learning_rate):
        return _auto(gd)
    return optax.sgd(check_learning_rate(learning_rate))


@_cached
def momentum(learning_rate: LearningRate = AUTO, beta: float = 0.9) -> Any:
    r"""Heavy-ball momentum (Polyak, 1964).

    .. math:: v_{t+1} = \beta v_t + \nabla f(w_t), \qquad w_{t+1} = w_t - \eta v_{t+1}

    Args:
      learning_rate: :math:`\eta` (> 0), a schedule, or ``"auto"``: :math:`(1 - \beta)/L`
        from the curvature at the start (see the module docstring).
      beta: the momentum coefficient :math:`\beta \in [0, 1)`.
    """
    import optax

    _check_unit(beta, "beta")
    if _is_auto(learning_rate):
        return _auto(momentum, beta=beta)
    return optax.sgd(check_learning_rate(learning_rate), momentum=beta)


@_cached
def nesterov(learning_rate: LearningRate = AUTO, beta: float = 0.9) -> Any:
    r"""Nesterov accelerated gradient, in the form optax and PyTorch use.

    .. math:: v_{t+1} = \beta v_t + \nabla f(w_t), \qquad
              w_{t+1} = w_t - \eta (\nabla f(w_t) + \beta v_{t+1})

    Args:
      learning_rate: :math:`\eta` (> 0), a schedule, or ``"auto"``: :math:`(1 - \beta)/L`
        from the curvature at the start (see the module docstring).
      beta: the momentum coefficient :math:`\beta \in [0, 1)`.
    """
    import optax

    _check_unit(beta, "beta")
    if _is_auto(learning_rate):
        return _auto(nesterov, beta=beta)
    return optax.sgd(check_learning_rate(learning_rate), momentum=beta, nesterov=True)


@_cached
def adagrad(
    learning_rate: LearningRate = 0.1,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> Any:
    r"""AdaGrad (Duchi et al., 2011).

    .. math:: G_{t+1} = G_t + g_t^2, \qquad w_{t+1} = w_t - \eta\, g_t / \sqrt{G_{t+1} + \epsilon}

    with :math:`G_0` = ``initial_accumulator_value``.
    """
    import optax

    _check_positive(eps, "eps")
    _check_nonnegative(initial_accumulator_value, "initial_accumulator_value")
    if _is_auto(learning_rate):
        return _auto(adagrad, initial_accumulator_value=initial_accumulator_value, eps=eps)
    return optax.adagrad(
        check_learning_rate(learning_rate),
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )


@_cached
def rmsprop(learning_rate: LearningRate = 0.01, decay: float = 0.9, eps: float = 1e-8) -> Any:
    r"""RMSprop (Hinton, 2012).

    .. math:: s_{t+1} = \rho s_t + (1-\rho) g_t^2, \qquad
              w_{t+1} = w_t - \eta\, g_t / (\sqrt{s_{t+1}} + \epsilon)

    Args:
      learning_rate: :math:`\eta` (> 0), a schedule, or ``"auto"`` (0.01).
      decay: :math:`\rho \in [0, 1)`.
      eps: :math:`\epsilon > 0`.
    """
    import optax

    _check_unit(decay, "decay")
    _check_positive(eps, "eps")
    if _is_auto(learning_rate):
        return _auto(rmsprop, decay=decay, eps=eps)
    return optax.rmsprop(
        check_learning_rate(learning_rate), decay=decay, eps=eps, eps_in_sqrt=False
    )


@_cached
def adam(
    learning_rate: LearningRate = 0.01, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> Any:
    r"""Adam (Kingma and Ba, 2015).

    .. math::
        m_{t+1} = b_1 m_t + (1-b_1) g_t, \quad v_{t+1} = b_2 v_t + (1-b_2) g_t^2, \\
        \hat m = m_{t+1}/(1-b_1^{t+1}), \quad \hat v = v_{t+1}/(1-b_2^{t+1}), \quad
        w_{t+1} = w_t - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)
    """
    import optax

    _check_unit(b1, "b1")
    _check_unit(b2, "b2")
    _check_positive(eps, "eps")
    if _is_auto(learning_rate):
        return _auto(adam, b1=b1, b2=b2, eps=eps)
    return optax.adam(check_learning_rate(learning_rate), b1=b1, b2=b2, eps=eps)


@_cached
def adamw(
    learning_rate: LearningRate = 0.01,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
) -> Any:
    r"""AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay.

    .. math:: w_{t+1} = w_t - \eta\,(\hat m / (\sqrt{\hat v} + \epsilon) + \lambda w_t)

    with :math:`\lambda` = ``weight_decay``; the minimizer shifts towards 0 accordingly.
    """
    import optax

    _check_unit(b1, "b1")
    _check_unit(b2, "b2")
    _check_positive(eps, "eps")
    _check_nonnegative(weight_decay, "weight_decay")
    if _is_auto(learning_rate):
        return _auto(adamw, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    return optax.adamw(
        check_learning_rate(learning_rate), b1=b1, b2=b2, eps=eps, weight_decay=weight_decay
    )


OPTIMIZERS: dict[str, Callable[..., Any]] = {
    "gd": gd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}


def get_optimizer(name: str) -> Callable[..., Any]:
    """The factory called ``name`` (``"gd"``, ``"adam"``, ...)."""
    try:
        return OPTIMIZERS[name]
    except (KeyError, TypeError):
        import difflib

        close = difflib.get_close_matches(str(name), OPTIMIZERS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"optimizer: unknown name {name!r}; expected one of {', '.join(OPTIMIZERS)}{hint}"
        ) from None
