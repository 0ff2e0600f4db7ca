"""One large run (more parameters than ``KEEP_PREV_MAX_SIZE``): no gradient carried."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import stopping
from .state import Config, State, Tolerances, history_row, scalar_fields, tree_sq, write_row

__all__ = ["large_chunk"]


class _Carry(NamedTuple):
    """The carry of :func:`large_chunk`: iterate ``k``, not evaluated yet."""

    k: Any
    x: Any
    opt_state: Any
    f_prev: Any  # f(x_{k-1})
    ss: Any  # ||x_k - x_{k-1}||
    # At the last evaluated iterate, k - 1: f, ||grad||, its f_prev and step size.
    f_last: Any
    gn_last: Any
    f_prev_last: Any
    ss_last: Any
    ok: Any  # no rule fired there
    hist: dict


def large_chunk(
    cfg: Config, s: State, hyper: Any, args: tuple, tols: Tolerances, stop_at: Any
) -> State:
    """One large run's chunk: evaluate, test, record and step, as a hand-written loop.

    :func:`~descend._engine.stepwise.run_chunk` carries the gradient from one step to
    the next, which for a large problem costs two more passes over the parameters a
    step (write it, read it back). Here each step evaluates f and the gradient at x and
    steps at once, so XLA fuses the gradient into the update. A rule that fires freezes
    x with a select in the same fused update, so the run ends on the exact iterate; the
    optimizer state is not frozen (a stopped run never uses it again). Large runs
    only: for small ones the select would sit on the latency path from one step to
    the next.
    """
    from jax import lax

    opt = cfg.make_optimizer(hyper)

    def body(c: _Carry) -> _Carry:
        f, g = cfg.objective(c.x, args)
        return _advance(cfg, opt, s.f0, tols, c, f, g)

    def run(s: State) -> State:
        c = _advance(cfg, opt, s.f0, tols, _start(s), s.f, s.grad)  # f, g at x are known
        c = lax.while_loop(lambda c: c.ok & (c.k < stop_at), body, c)
        return _end(cfg, s, c, args, tols)

    return lax.cond((s.status == stopping.RUNNING) & (s.step < stop_at), run, lambda s: s, s)


def _code(f0: Any, tols: Tolerances, f: Any, f_prev: Any, gn: Any, ss: Any, k: Any) -> Any:
    return stopping.status_code(
        f=f, f_prev=f_prev, f0=f0, grad_norm=gn, step_size=ss, step=k, **tols._asdict()
    )


def _grad_sq(cfg: Config, g: Any, dtype: Any) -> Any:
    """The squared gradient norm, where a rule or the history needs it (else 0)."""
    import jax.numpy as jnp

    return tree_sq(g).astype(dtype) if cfg.need_grad_norm else jnp.zeros((), dtype)


def _start(s: State) -> _Carry:
    import jax.numpy as jnp

    return _Carry(
        k=s.step,
        x=s.x,
        opt_state=s.opt_state,
        f_prev=s.f_prev,
        ss=s.step_size,
        f_last=s.f,
        gn_last=s.grad_norm,
        f_prev_last=s.f_prev,
        ss_last=s.step_size,
        ok=jnp.bool_(True),
        hist=s.hist,
    )


def _advance(cfg: Config, opt: Any, f0: Any, tols: Tolerances, c: _Carry, f: Any, g: Any) -> _Carry:
    """Test iterate c.k (f and g evaluated there), record it and step from it."""
    import jax
    import jax.numpy as jnp
    import optax

    dtype = f.dtype
    gn = _grad_sq(cfg, g, dtype)
    ok = _code(f0, tols, f, c.f_prev, gn, c.ss, c.k) == stopping.RUNNING
    names = scalar_fields(cfg.record)
    hist = write_row(c.hist, names, history_row(c.k, cfg.record_every), c.x, f, gn, c.ss)
    updates, opt_state = opt.update(g, c.opt_state, c.x)
    ss = tree_sq(updates).astype(dtype) if cfg.need_step_size else jnp.zeros((), dtype)
    x = jax.tree.map(lambda a, b: jnp.where(ok, a, b), optax.apply_updates(c.x, updates), c.x)
    return _Carry(
        k=c.k + 1,
        x=x,
        opt_state=opt_state,
        f_prev=f,
        ss=ss,
        f_last=f,
        gn_last=gn,
        f_prev_last=c.f_prev,
        ss_last=c.ss,
        ok=ok,
        hist=hist,
    )


def _end(cfg: Config, s: State, c: _Carry, args: tuple, tols: Tolerances) -> State:
    """The state after the loop. Where a rule fired, that of the last evaluated iterate
    (x was frozen there), with its values from the loop so the status agrees with the
    test; otherwise f and the gradient at the new iterate."""
    import jax.numpy as jnp

    ok = c.ok
    k = jnp.where(ok, c.k, c.k - 1)
    f_prev = jnp.where(ok, c.f_prev, c.f_prev_last)
    ss = jnp.where(ok, c.ss, c.ss_last)
    f, g = cfg.objective(c.x, args)
    gn = _grad_sq(cfg, g, s.f.dtype)
    f = jnp.where(ok, f, c.f_last)
    gn = jnp.where(ok, gn, c.gn_last)
    hist = c.hist
    if cfg.record:
        names = scalar_fields(cfg.record)
        hist = write_row(hist, names, history_row(k, cfg.record_every), c.x, f, gn, ss)
    return s._replace(
        step=k,
        x=c.x,
        opt_state=c.opt_state,
        f=f,
        f_prev=f_prev,
        grad=g,
        grad_norm=gn,
        step_size=ss,
        status=_code(s.f0, tols, f, f_prev, gn, ss, k),
        hist=hist,
    )
