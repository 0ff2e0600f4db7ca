"""One step of the update rule, then f and the gradient at the new iterate."""

from __future__ import annotations

import functools
from typing import Any

from .. import stopping
from .._objective import Objective
from .state import (
    Config,
    State,
    Tolerances,
    history_row,
    linesearch_evals,
    scalar_fields,
    tree_sq,
    write_row,
)

__all__ = ["take_step"]


def take_step(
    cfg: Config, s: State, hyper: Any, args: tuple, tols: Tolerances, active: Any = None
) -> State:
    """One step of the optimizer, then f and the gradient at the new iterate.

    ``active`` False leaves the history alone (see :func:`write_row`).
    """
    import jax.numpy as jnp
    import optax
    from jax import lax

    opt = cfg.make_optimizer(hyper)
    if cfg.extra_args:
        value_fn = functools.partial(_call_value, cfg.objective, args=args)
        updates, opt_state = opt.update(
            s.grad, s.opt_state, s.x, value=s.f, grad=s.grad, value_fn=value_fn
        )
    else:
        updates, opt_state = opt.update(s.grad, s.opt_state, s.x)
    x = optax.apply_updates(s.x, updates)
    f, g = cfg.objective(x, args)
    # A fusion boundary between the step and the bookkeeping: without it XLA:CPU may
    # recompute the update inside every consumer (norms, history), which costs up to
    # 20x per step for adam with the full history.
    x, f, g, updates, opt_state = lax.optimization_barrier((x, f, g, updates, opt_state))
    # Norms cost a pass over the parameters each: compute only those a rule or the
    # history needs (the final ones are computed on the host in finish()).
    gn = tree_sq(g).astype(f.dtype) if cfg.need_grad_norm else jnp.zeros((), f.dtype)
    ss = tree_sq(updates).astype(f.dtype) if cfg.need_step_size else jnp.zeros((), f.dtype)
    step = s.step + 1
    status = stopping.status_code(
        f=f, f_prev=s.f, f0=s.f0, grad_norm=gn, step_size=ss, step=step, **tols._asdict()
    )
    row = history_row(step, cfg.record_every)
    return State(
        step=step,
        x=x,
        prev_x=s.x if cfg.keep_prev else (),
        opt_state=opt_state,
        f=f,
        f_prev=s.f,
        f0=s.f0,
        grad=g,
        grad_norm=gn,
        step_size=ss,
        status=status,
        # Without a line search nfev is step + 1; not carrying it keeps the loop small.
        nfev=s.nfev + 1 + linesearch_evals(opt_state) if cfg.extra_args else (),
        hist=write_row(s.hist, scalar_fields(cfg.record), row, x, f, gn, ss, active),
    )


def _call_value(objective: Objective, x: Any, args: tuple) -> Any:
    return objective.value(x, args)
