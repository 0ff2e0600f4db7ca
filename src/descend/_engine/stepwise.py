"""The step-by-step loop: the rules tested after every step, each run stopping exactly.

One run is latency-bound: this loop's checks feed only the loop condition, which the
CPU predicts. It is also the exact loop that replays a batch's block where a run ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import stopping
from .state import Config, State, Tolerances, history_row, scalar_fields, write_row
from .step import take_step

__all__ = ["mapped", "run_chunk", "run_chunk_batched", "where_runs"]


def run_chunk(
    cfg: Config, s: State, hyper: Any, args: tuple, tols: Tolerances, stop_at: Any
) -> State:
    """Step until a rule fires or ``step`` reaches ``stop_at`` (one compiled while-loop)."""
    from jax import lax

    return lax.while_loop(
        lambda c: (c.status == stopping.RUNNING) & (c.step < stop_at),
        lambda c: take_step(cfg, c, hyper, args, tols),
        s,
    )


def where_runs(on: Any, new: Any, old: Any) -> Any:
    """Per run (the leading axis of every leaf): ``new`` where ``on``, else ``old``."""
    import jax
    import jax.numpy as jnp

    def pick(a: Any, b: Any) -> Any:
        return jnp.where(on.reshape(on.shape + (1,) * (a.ndim - on.ndim)), a, b)

    return jax.tree.map(pick, new, old)


def run_chunk_batched(
    cfg: Config,
    s: State,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    stop_at: Any,
    hyper_batched: bool,
) -> State:
    """:func:`run_chunk` for a batch of runs (leading axis), written out by hand.

    ``vmap`` of the while-loop would step every run while any runs, keeping finished
    runs with a select on every carried array at every step, the history included:
    a pass over the whole history each step (16 s instead of 14 ms for 1,000 runs of
    1,000 steps that stop at different steps). Here the select leaves the history
    out, and the history row is written for the runs still running only.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    step = jax.vmap(take_step, in_axes=(None, 0, 0 if hyper_batched else None, None, None))
    names = scalar_fields(cfg.record)

    def running(c: State) -> Any:
        return (c.status == stopping.RUNNING) & (c.step < stop_at)

    def body(c: State) -> State:
        on = running(c)
        new = step(cfg, c._replace(hist={}), hyper, args, tols)

        kept = where_runs(on, new, c._replace(hist={}))
        # The runs still running are all at the same step: their rows are one row of
        # the batch, an update in place rather than a scatter of one row per run.
        row = history_row(jnp.max(jnp.where(on, new.step, 0)), cfg.record_every)
        hist = jax.vmap(lambda h, x, f, gn, ss, a: write_row(h, names, row, x, f, gn, ss, a))(
            c.hist, new.x, new.f, new.grad_norm, new.step_size, on
        )
        return kept._replace(hist=hist)

    return lax.while_loop(lambda c: jnp.any(running(c)), body, s)


def mapped(
    fn: Callable[..., Any],
    cfg: Config,
    runs: Any,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    *rest: Any,
    hyper_batched: bool,
) -> Any:
    """``fn(cfg, run, hyper, args, tols, *rest)`` for each run of a batch in turn
    (``lax.map``): the program is the one-run code, so it compiles about as fast as a
    single run's, and each run runs the one-run loop itself."""
    from jax import lax

    def one(c: tuple) -> Any:
        run, h = c
        return fn(cfg, run, h if hyper_batched else hyper, args, tols, *rest)

    return lax.map(one, (runs, hyper if hyper_batched else None))
