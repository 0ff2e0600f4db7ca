"""``minimize``: one run from a start, through the one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._assemble import (
    learning_rate_hint,
    local_note,
    result_snapshot,
    to_numpy,
    tree_norm,
    with_direction,
)
from ._driver import SigintFlag, interruptible
from ._engine.plan import (
    config,
    default_optimizer,
    needs_extra_args,
    plan_optimizer,
    resolve_optimizer,
    tolerances,
)
from ._inputs import DEFAULT_MAX_HISTORY_BYTES, prepare_x0
from ._objective import Objective, check_objective
from ._pipeline import check_inputs, check_memory, run
from .result import Result
from .stopping import Status

__all__ = ["minimize"]


@interruptible
def minimize(
    fun: Callable[..., Any],
    x0: Any,
    optimizer: Any = None,
    *,
    args: tuple = (),
    grad: None | str | Callable[..., Any] = None,
    gtol: float = 1e-6,
    xtol: float = 0.0,
    ftol: float = 0.0,
    max_steps: int = 10_000,
    record_every: int = 1,
    history: bool | str | Sequence[str] = True,
    max_history_bytes: float = DEFAULT_MAX_HISTORY_BYTES,
    diverge_factor: float = 1e8,
    throw: bool = False,
    callback: Callable[[Result], Any] | None = None,
    progress: bool = False,
    chunk_size: int | None = None,
) -> Result:
    r"""Minimize ``fun`` by gradient descent (or any optax update rule) from ``x0``.

    Each step is :math:`x_{k+1} = x_k + \text{update}(\nabla f(x_k))`; for plain
    gradient descent, :math:`x_{k+1} = x_k - \eta \nabla f(x_k)`. The loop is compiled
    with JAX and stops at the first rule that fires:

    * ``gtol``: :math:`\|\nabla f(x_k)\| \le` gtol (the ground is flat);
    * ``xtol``: :math:`\|x_k - x_{k-1}\| \le` xtol (x stopped moving);
    * ``ftol``: :math:`|f(x_k) - f(x_{k-1})| \le` ftol (f stopped changing);
    * ``max_steps``: the step limit;
    * ``diverged``: :math:`f(x_k) - f(x_0) >` diverge_factor :math:`\cdot \max(|f(x_0)|, 1)`;
    * ``unbounded``: :math:`f(x_0) - f(x_k) >` diverge_factor :math:`\cdot \max(|f(x_0)|, 1)`
      (f keeps falling: it may have no minimum; after the convergence rules);
    * ``nonfinite``: f or the gradient is inf or nan (``x`` is then the last finite
      iterate).

    A tolerance of 0 turns its rule off.

    Args:
      fun: ``fun(x, *args) -> scalar``, written with ``jax.numpy``; ``x`` is a pytree
        shaped like ``x0``.
      x0: the start point: an array, a nested tuple/list/dict of arrays, or a number.
        Integers become floats; float32 input runs in float32, anything else in float64.
      optimizer: an optax ``GradientTransformation`` (``ds.gd(0.1)``, ``ds.adam(1e-2)``,
        ``optax.lbfgs()``...) or a name (``"adam"``, with its default learning rate).
        Defaults to ``ds.gd()``, whose learning rate ``"auto"`` is 1/L, L the largest
        curvature of f at x0 (``Result.learning_rate`` says what was chosen).
      args: extra arguments passed to ``fun`` (and ``grad``), as in scipy.
      grad: None for automatic differentiation, a function ``grad(x, *args)`` returning
        a pytree like ``x``, or ``"numeric"`` for central finite differences of a
        black-box numpy ``fun`` (slow: 2n + 1 calls per step, in Python).
      gtol, xtol, ftol: tolerances of the convergence rules (>= 0; 0 turns a rule off).
        gtol and xtol are compared as squares, so nonzero values below 1.5e-154
        (float64; 1.1e-19 in float32) are refused.
      max_steps: the most steps to take (>= 1).
      record_every: keep every k-th step in the history, plus the last.
      history: True (x, fun, grad_norm, step_size), False (final state only, for very
        large problems), or the names of the fields to keep, e.g. ``("fun",)``.
      max_history_bytes: the run is refused before it starts if the history would need
        more memory than this (default 1 GiB).
      diverge_factor: how far f may grow past its start before the run is ``diverged``,
        or fall below it before it is ``unbounded``.
      throw: raise ``RuntimeError`` when the run does not succeed.
      callback: ``callback(intermediate_result)``, called between compiled chunks with a
        :class:`Result` of the current state (no history); raising ``StopIteration``
        ends the run with status ``stopped``.
      progress: show a progress bar (steps, f, gradient norm).
      chunk_size: steps per compiled chunk (default: adaptive, about 0.1 s per chunk when
        a callback or progress bar is used). ``chunk_size=1`` calls the callback after
        every step, like scipy.

    Returns:
      A :class:`Result` (``x, fun, jac, grad_norm, nit, nfev, status, success, message,
      history, wall_time``).

    Example:
      >>> import jax.numpy as jnp, descend as ds
      >>> loss = lambda w: (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2
      >>> res = ds.minimize(loss, jnp.zeros(3), ds.gd(learning_rate=0.1), gtol=1e-8)
      >>> res.status, res.x.round(6).tolist()
      (<Status.GTOL: 'gtol'>, [1.0, -2.0, 0.5])
    """
    objective, args, opts = check_inputs(
        fun,
        grad,
        args,
        gtol=gtol,
        xtol=xtol,
        ftol=ftol,
        max_steps=max_steps,
        record_every=record_every,
        history=history,
        max_history_bytes=max_history_bytes,
        diverge_factor=diverge_factor,
        callback=callback,
        progress=progress,
        chunk_size=chunk_size,
    )
    x0 = prepare_x0(x0)
    tols = tolerances(opts, x0)  # refuses a tolerance below x0's precision at once
    optimizer = resolve_optimizer(optimizer if optimizer is not None else default_optimizer())
    check_objective(objective, x0, args)
    optimizer, make_optimizer, hyper, rate = plan_optimizer(optimizer, objective, x0, args)
    check_memory(x0, opts, n_runs=1)
    extra = needs_extra_args(optimizer, x0)
    cfg = config(objective, make_optimizer, extra, opts, x0, batched=False)
    out = run(
        cfg,
        x0,
        hyper,
        args,
        tols,
        opts,
        batched=False,
        hyper_batched=False,
        snapshot=result_snapshot,
        suggestion=lambda: learning_rate_hint(objective, x0, args, optimizer),
    )
    fields = out.fields
    if not cfg.keep_prev and fields["status"].item() is Status.NONFINITE and fields["nit"] >= 1:
        with SigintFlag.unheard():  # the last finite iterate, even after a Ctrl-C
            fields.update(_replay(objective, x0, optimizer, args, int(fields["nit"]) - 1))
    result = Result(
        x=to_numpy(fields["x"]),
        fun=float(fields["fun"]),
        jac=to_numpy(fields["jac"]),
        grad_norm=float(fields["grad_norm"]),
        nit=int(fields["nit"]),
        nfev=int(fields["nfev"]),
        status=fields["status"].item(),
        success=bool(fields["success"]),
        message=with_direction(str(fields["message"]().item()), fields, x0)
        + local_note(objective, fields, x0),
        history=fields["history"],
        objective=objective,
        args=args,
        wall_time=out.wall_time,
        compile_time=out.compile_time,
        learning_rate=rate,
    )
    if throw and not result.success:
        raise RuntimeError(f"minimize did not converge: {result.message}")
    return result


def _replay(objective: Objective, x0: Any, optimizer: Any, args: tuple, steps: int) -> dict:
    """x, f and the gradient at step ``steps`` of the same run, recomputed from x0.

    Used after a nan in runs too large to carry the previous iterate: the same update
    rule from the same start, with every stopping rule off, reaches the same iterate.
    """
    import jax

    if steps == 0:
        f, g = jax.jit(lambda x, a: objective(x, a))(x0, args)  # NamedTuples can't be jitted
        x = x0
    else:
        again = minimize(
            objective.fun,
            x0,
            optimizer,
            args=args,
            grad=objective.grad,
            gtol=0.0,
            max_steps=steps,
            history=False,
            diverge_factor=float(np.finfo(np.float64).max),
        )
        x, f, g = again.x, again.fun, again.jac
    g = jax.tree.map(np.asarray, g)
    return dict(
        x=jax.tree.map(np.asarray, x),
        fun=np.asarray(f),
        jac=g,
        grad_norm=tree_norm(g, 0),
    )
