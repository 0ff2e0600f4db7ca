"""The plan of a run: which update rule with which numbers, and which compiled loop.

The numbers of a built-in optimizer travel into the compiled loop as data, so new
numbers compile nothing; the loop (:class:`~descend._engine.state.Engine`) is picked
here once, from the problem's size, the optimizer and whether runs are batched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._inputs import Options, tree_size
from .._objective import Objective, signature
from .state import Config, Engine, Tolerances

__all__ = [
    "KEEP_PREV_MAX_SIZE",
    "MAPPED_MAX_RUN_STEPS",
    "config",
    "default_optimizer",
    "needs_extra_args",
    "plan_optimizer",
    "resolve_optimizer",
    "tolerances",
]

KEEP_PREV_MAX_SIZE = 2**20
# A batch with at most this many steps in all (runs x max_steps) runs its runs one
# after another (Engine.MAPPED): worst case ~0.1 s of stepping for 2-D problems, less
# than compiling the blocks costs.
MAPPED_MAX_RUN_STEPS = 2_000_000


class Fixed(NamedTuple):
    """``hyper -> optimizer`` for a transformation whose numbers are compiled in
    (one the user built with optax); hashable, so it keys its own compiled loop."""

    optimizer: Any

    def __call__(self, hyper: Any) -> Any:
        return self.optimizer


def default_optimizer() -> Any:
    from ..optimizers import gd

    return gd()  # learning rate "auto": 1/L at the start


def resolve_optimizer(optimizer: Any) -> Any:
    """An optax transformation (or an AutoRate) from a transformation, a name or a factory."""
    from ..optimizers import AutoRate, get_optimizer

    if isinstance(optimizer, str):
        return get_optimizer(optimizer)()
    if isinstance(optimizer, AutoRate) or (
        hasattr(optimizer, "init") and hasattr(optimizer, "update")
    ):
        return optimizer
    if callable(optimizer):
        return resolve_optimizer(optimizer())
    raise TypeError(
        "optimizer must be an optax GradientTransformation (e.g. ds.gd(0.1)), "
        f"an optimizer name or a factory, got {type(optimizer).__name__}"
    )


def plan_optimizer(
    optimizer: Any, objective: Objective, x0: Any, args: tuple
) -> tuple[Any, Callable[[Any], Any], Any, Any]:
    """``(transformation, make_optimizer, hyper, choice)`` for a run from x0.

    The numbers of a built-in optimizer (learning rate, beta, b1, b2, eps, ...) enter
    the compiled loop as the input ``hyper`` and ``make_optimizer(hyper)`` builds the
    update rule inside it, so new numbers reuse the compiled loop; any other optax
    transformation is a constant of its own loop (``hyper`` None). An optimizer made
    with ``learning_rate="auto"`` first gets its rate from f at x0 (``choice``).
    """
    from ..optimizers import AutoRate, Numbers, numbers_of

    choice = None
    if isinstance(optimizer, AutoRate):
        choice = optimizer.choose(objective, x0, args)
        optimizer = optimizer(choice.value)
    values = numbers_of(optimizer)
    if values is None:
        return optimizer, Fixed(optimizer), None, choice
    # Python floats: weakly typed in the program, so each leaf computes in its own
    # dtype, as with the numbers compiled in (float32 leaves stay float32 exactly).
    return optimizer, Numbers(optimizer.descend_factory), dict(values), choice


_EXTRA_ARGS: dict = {}  # (optimizer, signature of x0) -> needs extra args


def needs_extra_args(optimizer: Any, x0: Any) -> bool:
    """Whether ``optimizer.update`` needs ``value``, ``grad`` and ``value_fn``.

    optax wraps most chains as ``GradientTransformationExtraArgs`` even when no part
    uses the extra arguments; passing them anyway (and counting line-search
    evaluations) makes the compiled loop larger and, on XLA:CPU, ten times slower.
    So they are passed only when an update without them fails (line searches, L-BFGS).
    """
    import jax
    import optax

    from ..optimizers import Numbers, numbers_of

    if not isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return False
    key = signature(x0)
    # A built-in optimizer's answer depends on its factory, not on its numbers.
    kind = Numbers(optimizer.descend_factory) if numbers_of(optimizer) else optimizer
    try:
        key = None if key is None else (kind, key)
        if key in _EXTRA_ARGS:
            return _EXTRA_ARGS[key]
    except TypeError:  # an unhashable optimizer: check every time
        key = None
    try:
        jax.eval_shape(lambda x: optimizer.update(x, optimizer.init(x), x), x0)
        needed = False
    except Exception:  # noqa: BLE001 - e.g. a line search asking for value_fn
        needed = True
    if key is not None:
        _EXTRA_ARGS[key] = needed
    return needed


def tolerances(opts: Options, x0: Any) -> Tolerances:
    import jax

    # numpy scalars: jit takes them as arguments without a device round trip each.
    dtype = np.dtype(jax.tree.leaves(x0)[0].dtype)
    big = float(np.finfo(dtype).max)
    # The loops compare squared norms with squared tolerances, and XLA:CPU reads a
    # number below the smallest normal one as 0: a smaller gtol or xtol cannot be
    # told apart from it, so it is refused rather than quietly changed.
    floor = float(np.sqrt(np.finfo(dtype).tiny))
    for name in ("gtol", "xtol"):
        if 0 < getattr(opts, name) < floor:
            raise ValueError(
                f"{name} must be 0 (off) or at least {floor:.3g} in {dtype.name} (a smaller "
                f"norm squared underflows to 0 in the compiled loop), got {getattr(opts, name)!r}"
            )
    return Tolerances(
        gtol=dtype.type(min(opts.gtol, big)),
        xtol=dtype.type(min(opts.xtol, big)),
        ftol=dtype.type(min(opts.ftol, big)),
        max_steps=np.int32(opts.max_steps),
        diverge_factor=dtype.type(min(opts.diverge_factor, big)),
    )


def config(
    objective: Objective,
    make_optimizer: Callable[[Any], Any],
    extra_args: bool,
    opts: Options,
    x0: Any,
    *,
    batched: bool,
    n_runs: int = 1,
) -> Config:
    """The static configuration of a run from ``x0`` (one start): the loop is picked here.

    * One run is latency-bound: :data:`Engine.STEPWISE`, whose checks feed only the
      loop condition, which the CPU predicts (the blocks' per-step poison sits on the
      chain from x to the next x: 2x slower per step on a 3-parameter problem).
    * One run too large to carry its previous iterate: :data:`Engine.LARGE`.
    * A small batch (at most ``MAPPED_MAX_RUN_STEPS`` steps in all, counting every step
      a run may take): :data:`Engine.MAPPED`, the one-run loop run after run. It
      compiles about as fast as one run (a batch's blocks take ~1.5 s more) and for
      such batches runs about as fast as the blocks. On one CPU device only: spread
      over devices, or on an accelerator (a launch per step), runs need the vmap.
    * A larger batch: :data:`Engine.BLOCKS`, unless the optimizer needs extra arguments
      (line searches), whose evaluations count per step: then the step-by-step loop.
    """
    large = not batched and tree_size(x0) > KEEP_PREV_MAX_SIZE
    if batched and n_runs * opts.max_steps <= MAPPED_MAX_RUN_STEPS and _one_cpu():
        engine = Engine.MAPPED
    elif batched:
        engine = Engine.STEPWISE if extra_args else Engine.BLOCKS
    else:
        engine = Engine.LARGE if large and not extra_args else Engine.STEPWISE
    return Config(
        objective=objective,
        make_optimizer=make_optimizer,
        extra_args=extra_args,
        record=opts.record,
        record_every=opts.record_every,
        rows=opts.rows,
        # The gradient norm also catches a nan gradient at once (each run of a batch
        # must stop where its nan happens); only runs too large to carry the previous
        # iterate skip it when no rule or history needs it (a nan gradient then shows
        # as a nan f one step later).
        need_grad_norm=opts.gtol > 0 or "grad_norm" in opts.record or not large,
        need_step_size=opts.xtol > 0 or "step_size" in opts.record,
        keep_prev=not large,  # a large run is replayed after a nan instead
        engine=engine,
        rules=opts.rules,
    )


def _one_cpu() -> bool:
    """Whether JAX computes on one CPU device (no accelerator, no device mesh, no
    other process)."""
    import jax

    return jax.default_backend() == "cpu" and jax.device_count() == 1
