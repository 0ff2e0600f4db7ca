"""One large run (more parameters than ``KEEP_PREV_MAX_SIZE``): no gradient carried."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import stopping
from .state import Config, State, Tolerances, history_row, scalar_fields, tree_sq, write_row

__all__ = ["large_chunk"]

class _Lean(NamedTuple):
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

    :func:`run_chunk` carries the gradient from one step to the next, which for a
    large problem costs two more passes over the parameters a step (write it, read it
    back). Here each step evaluates f and the gradient at x and steps at once, so XLA
    fuses the gradient into the update. A rule that fires freezes x with a select in
    the same fused update, so the run ends on the exact iterate; the optimizer state
    is not frozen (a stopped run never uses it again). Large runs only: for small ones
    the select would sit on the latency path from one step to the next.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    opt = cfg.make_optimizer(hyper)
    names = scalar_fields(cfg.record)
    dtype = s.f.dtype
    zero = jnp.zeros((), dtype)

    def code(f: Any, f_prev: Any, gn: Any, ss: Any, k: Any) -> Any:
        return stopping.status_code(
            f=f, f_prev=f_prev, f0=s.f0, grad_norm=gn, step_size=ss, step=k, **tols._asdict()
        )

    def grad_sq(g: Any) -> Any:  # only where a rule or the history needs it
        return tree_sq(g).astype(dtype) if cfg.need_grad_norm else zero

    def advance(c: _Lean, f: Any, g: Any) -> _Lean:
        """Test iterate c.k (f and g evaluated there), record it and step from it."""
        gn = grad_sq(g)
        ok = code(f, c.f_prev, gn, c.ss, c.k) == stopping.RUNNING
        hist = write_row(c.hist, names, history_row(c.k, cfg.record_every), c.x, f, gn, c.ss)
        updates, opt_state = opt.update(g, c.opt_state, c.x)
        ss = tree_sq(updates).astype(dtype) if cfg.need_step_size else zero
        x = jax.tree.map(lambda a, b: jnp.where(ok, a, b), optax.apply_updates(c.x, updates), c.x)
        return _Lean(
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

    def body(c: _Lean) -> _Lean:
        f, g = cfg.objective(c.x, args)
        return advance(c, f, g)

    def run(s: State) -> State:
        start = _Lean(
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
        c = advance(start, s.f, s.grad)  # the state holds f and the gradient at x
        c = lax.while_loop(lambda c: c.ok & (c.k < stop_at), body, c)
        # Where a rule fired, the state is that of the last evaluated iterate (x was
        # frozen there), with its values from the loop so the status agrees with the
        # test; otherwise f and the gradient at the new iterate.
        ok = c.ok
        k = jnp.where(ok, c.k, c.k - 1)
        f_prev = jnp.where(ok, c.f_prev, c.f_prev_last)
        ss = jnp.where(ok, c.ss, c.ss_last)
        f, g = cfg.objective(c.x, args)
        gn = grad_sq(g)
        f = jnp.where(ok, f, c.f_last)
        gn = jnp.where(ok, gn, c.gn_last)
        hist = (
            write_row(c.hist, names, history_row(k, cfg.record_every), c.x, f, gn, ss)
            if cfg.record
            else c.hist
        )
        return s._replace(
            step=k,
            x=c.x,
            opt_state=c.opt_state,
            f=f,
            f_prev=f_prev,
            grad=g,
            grad_norm=gn,
            step_size=ss,
            status=code(f, f_prev, gn, ss, k),
            hist=hist,
        )

    return lax.cond((s.status == stopping.RUNNING) & (s.step < stop_at), run, lambda s: s, s)
