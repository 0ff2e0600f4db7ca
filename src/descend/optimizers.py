r"""Update rules: short, documented names over optax.

Every factory takes ``learning_rate`` first (a positive float or an optax schedule
``step -> rate``) and the paper's names for the other hyperparameters, and returns an
``optax.GradientTransformation``. Any optax transformation can be passed to
:func:`descend.minimize` directly, including ``optax.lbfgs()`` and optax's line
searches, which receive ``value``, ``grad`` and ``value_fn``.

Results are cached on the hyperparameters, so ``gd(0.1)`` twice is the same object
and a second ``minimize`` reuses the compiled loop.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, Union

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
]

Schedule = Callable[[Any], Any]
LearningRate = Union[float, Schedule]


def _is_tracer(v: Any) -> bool:
    return type(v).__module__.startswith("jax") and "Tracer" in type(v).__name__


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> Any:
    """Return ``learning_rate`` if it is a positive finite number, a schedule or a tracer."""
    if callable(learning_rate) or _is_tracer(learning_rate):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (numbers.Real,)):
        try:
            import numpy as np

            arr = np.asarray(learning_rate)
            if arr.shape == () and arr.dtype.kind in "fiu":
                learning_rate = float(arr)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(
                f"{name} must be a positive number or an optax schedule, "
                f"got {type(learning_rate).__name__} {learning_rate!r}"
            ) from None
    if not math.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {learning_rate!r}")
    return learning_rate


def _check_unit(value: float, name: str, *, closed: bool = False) -> None:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = real and (0 <= value <= 1 if closed else 0 <= value < 1)
    if not ok:
        raise ValueError(f"{name} must be in [0, 1{']' if closed else ')'}, got {value!r}")


def _check_positive(value: float, name: str) -> None:
    if not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _cached(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Cache a factory on hashable hyperparameters (schedules and tracers bypass it)."""
    cached = functools.lru_cache(maxsize=256)(factory)

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # unhashable, e.g. a jax array
            return factory(*args, **kwargs)

    return wrapper


@_cached
def gd(learning_rate: LearningRate = 0.1) -> Any:
    r"""Plain gradient descent: :math:`w_{t+1} = w_t - \eta \nabla f(w_t)`.

    Args:
      learning_rate: the step size :math:`\eta` (> 0), or an optax schedule.

    Example:
      >>> import descend as ds
      >>> res = ds.minimize(lambda w: (w ** 2).sum(), [1.0, 2.0], ds.gd(0.25))
    """
    import optax

    return optax.sgd(check_learning_rate(learning_rate))


@_cached
def momentum(learning_rate: LearningRate = 0.01, beta: float = 0.9) -> Any:
    r"""Heavy-ball momentum (Polyak, 1964).

    .. math:: v_{t+1} = \beta v_t + \nabla f(w_t), \qquad w_{t+1} = w_t - \eta v_{t+1}

    Args:
      learning_rate: :math:`\eta` (> 0) or a schedule.
      beta: the momentum coefficient :math:`\beta \in [0, 1)`.
    """
    import optax

    _check_unit(beta, "beta")
    return optax.sgd(check_learning_rate(learning_rate), momentum=beta)


@_cached
def nesterov(learning_rate: LearningRate = 0.01, beta: float = 0.9) -> Any:
    r"""Nesterov accelerated gradient, in the form optax and PyTorch use.

    .. math:: v_{t+1} = \beta v_t + \nabla f(w_t), \qquad
              w_{t+1} = w_t - \eta (\nabla f(w_t) + \beta v_{t+1})

    Args:
      learning_rate: :math:`\eta` (> 0) or a schedule.
      beta: the momentum coefficient :math:`\beta \in [0, 1)`.
    """
    import optax

    _check_unit(beta, "beta")
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
    if (
        not isinstance(initial_accumulator_value, numbers.Real)
        or not initial_accumulator_value >= 0
    ):
        raise ValueError(
            "initial_accumulator_value must be >= 0, got " f"{initial_accumulator_value!r}"
        )
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
      learning_rate: :math:`\eta` (> 0) or a schedule.
      decay: :math:`\rho \in [0, 1)`.
      eps: :math:`\epsilon > 0`.
    """
    import optax

    _check_unit(decay, "decay")
    _check_positive(eps, "eps")
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
    if not isinstance(weight_decay, numbers.Real) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
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
            f"optimizer: unknown name {name!r}; expected one of " f"{', '.join(OPTIMIZERS)}{hint}"
        ) from None
