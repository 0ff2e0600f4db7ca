"""Batches in blocks: every run steps with no per-step bookkeeping, a stop is replayed.

A vmapped while-loop would freeze every finished run with a select on every carried
array at every step (15x a bare loop for 10,000 runs of a 3-parameter problem). In a
block every run steps with no bookkeeping; a rule that fires turns that run's x into
nan, and a block where that happened is replayed by the step-by-step loop, so each
run still stops at its exact step.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from .. import stopping
from ..stopping import Status
from .state import Config, State, Tolerances, history_row, scalar_fields, tree_sq, write_row
from .step import take_step
from .stepwise import run_chunk_batched, where_runs

__all__ = ["blocks_chunk"]


def fast_block(
    cfg: Config,
    s: State,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    k0: Any,
    n: Any,
    active: Any = True,
) -> tuple[State, Any, Any]:
    """``n`` steps of one run from step ``k0`` without per-step bookkeeping (n >= 1).

    Each step evaluates f and the gradient at x, writes x's history row, steps, and
    *poisons* the new x with nan if a stopping rule fires at x; nan then propagates
    to the end of the block. Only the last step is taken by :func:`take_step`, which
    builds the full state and its status. So a block ends ``RUNNING`` (or
    ``max_steps``) exactly when the step-by-step loop would have run through it;
    otherwise :func:`blocks_chunk` replays it with that loop. The loop carries x, the
    optimizer state and the history (f with ftol, the step norm when recorded), so
    XLA emits a step as one kernel with no per-step statuses or freezing of runs; it
    takes two steps an iteration and carries the middle values of the previous pair
    too, so that x is updated in place (see ``pair``).

    In freeze mode (gtol the only tolerance, no history; see :func:`_freezes`) a rule
    that fires keeps x at its iterate instead, and the block counts the iterates where
    none fired: a run frozen at iterate ``k0 + count`` is finished from that x by
    :func:`_stopped_at`, with no replay. Returns ``(state, count, x)`` (x before the
    last step), or ``(state, None, None)`` when poisoning.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    opt = cfg.make_optimizer(hyper)
    bounds = _bounds(s, tols)
    step = functools.partial(_one, cfg, opt, bounds, tols, args, active)
    zero = jnp.zeros((), s.f.dtype)
    keep_ss = "step_size" in cfg.record
    start = (
        s.x,
        s.opt_state,
        s.f_prev if "ftol" in cfg.rules else zero,
        s.step_size if keep_ss else zero,
        s.hist,
        jnp.int32(0),
    )

    def pair(i: Any, c: tuple) -> tuple:
        *c, mid_prev = c
        y, opt_state, f_prev, ss_prev, hist, count = step(k0 + 2 * i, tuple(c))
        # Reading mid_prev (the previous pair's middle values, carried only for this)
        # entry by entry makes the middle iterate a loop variable that XLA updates in
        # place, and the second step then writes x_{k+2} over x_k. A loop of single
        # steps copies x every step instead: the update cannot overwrite the x it reads
        # through the gradient (a copy and two more kernels a step; 15-20% of a step
        # for 10,000 runs of 3 parameters). f and the step norm of the middle iterate
        # go along, else the second step recomputes f(x_k) from x_k (ftol), keeping
        # it alive. The read adds nan only where mid_prev is nan, that is in a run
        # already poisoned (see _keep_with).
        mid = jax.tree.map(_keep_with, (y, f_prev, ss_prev), mid_prev)
        y, f_prev, ss_prev = mid
        return (*step(k0 + 2 * i + 1, (y, opt_state, f_prev, ss_prev, hist, count)), mid)

    m = n - 1  # steps in the loop: pairs, then one more if m is odd
    *c, _ = lax.fori_loop(0, m // 2, pair, (*start, (s.x, start[2], start[3])))
    # A loop of 0 or 1 steps, not a cond: a cond's pass-through branch would copy the
    # history.
    c = lax.fori_loop(0, m % 2, lambda i, c: step(k0 + m - 1, c), tuple(c))
    return _last_step(cfg, bounds, s, c, hyper, args, tols, k0 + n - 1, active)


def _last_step(
    cfg: Config,
    bounds: _Bounds,
    s: State,
    c: tuple,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    k: Any,
    active: Any,
) -> tuple[State, Any, Any]:
    """The block's last step ``k`` in full by :func:`take_step`, after the row and the
    rules at its start x_k (xtol there is the rule on the loop's last step, checked in
    the loop)."""
    x, opt_state, f_prev, ss_prev, hist, count = c
    f, g = cfg.objective(x, args)
    gn, _ = _norms(cfg, s.f.dtype, g, None)
    if cfg.record:
        row = history_row(k, cfg.record_every)
        hist = write_row(hist, scalar_fields(cfg.record), row, x, f, gn, ss_prev, active)
    if _freezes(cfg):
        # A run where a rule fires here is taken from (count, x); otherwise take_step's
        # state is exact, whatever its status. A gradient entry above g_max still turns
        # x into nan, so that a gradient whose norm overflows here is replayed.
        checked, ok = _freeze(cfg, bounds, tols, x, x, f, g, gn)
        count = count + ok.astype(count.dtype)
        last = s._replace(step=k, x=checked, opt_state=opt_state, f=f, grad=g, hist=hist)
        return take_step(cfg, last, hyper, args, tols, active), count, x
    x = _poison(cfg, bounds, tols, k, x, f, g, gn, f_prev, None)
    last = s._replace(step=k, x=x, opt_state=opt_state, f=f, grad=g, hist=hist)
    return take_step(cfg, last, hyper, args, tols, active), None, None


def _one(
    cfg: Config,
    opt: Any,
    bounds: _Bounds,
    tols: Tolerances,
    args: tuple,
    active: Any,
    k: Any,
    c: tuple,
) -> tuple:
    """Step k (of the run): row and rules at x_k, then x_{k+1} (poisoned if one fires,
    or x_k again in freeze mode, counting the iterates where none fired)."""
    import optax
    from jax import lax

    x, opt_state, f_prev, ss_prev, hist, count = c
    f, g = cfg.objective(x, args)
    updates, opt_state = opt.update(g, opt_state, x)
    # As in take_step: keeps XLA:CPU from recomputing the update inside the consumers.
    f, g, updates, opt_state = lax.optimization_barrier((f, g, updates, opt_state))
    gn, ss = _norms(cfg, bounds.dtype, g, updates)
    if cfg.record:
        row = history_row(k, cfg.record_every)
        hist = write_row(hist, scalar_fields(cfg.record), row, x, f, gn, ss_prev, active)
    if _freezes(cfg):
        x_new, ok = _freeze(cfg, bounds, tols, x, optax.apply_updates(x, updates), f, g, gn)
        count = count + ok.astype(count.dtype)
    else:
        x_new = _poison(cfg, bounds, tols, k, optax.apply_updates(x, updates), f, g, gn, f_prev, ss)
    return (
        x_new,
        opt_state,
        f if "ftol" in cfg.rules else f_prev,
        ss if "step_size" in cfg.record else ss_prev,
        hist,
        count,
    )


class _Bounds(NamedTuple):
    """What a block's tests compare with, computed once per block."""

    hi: Any  # f above it: diverged (or close: the exact loop decides)
    lo: Any  # f below it: unbounded (or close)
    dtype: Any  # f's dtype
    n_params: int
    folded: bool  # one float32/float64 dtype throughout: the rules fold into one test

    @property
    def big(self) -> float:
        return float(np.finfo(self.dtype).max)

    def g_max(self, dtype: Any) -> float:
        """Below this, the sum of the gradient's squared entries stays finite."""
        return float(np.sqrt(np.finfo(dtype).max / self.n_params) / 2)

    @property
    def band(self) -> float:
        """How far a threshold may move (below 1e-150 in float64)."""
        return 4 * self.g_max(self.dtype) / self.big


def _bounds(s: State, tols: Tolerances) -> _Bounds:
    import jax
    import jax.numpy as jnp

    f0, dtype = s.f0, s.f.dtype
    bound = tols.diverge_factor * jnp.maximum(jnp.abs(f0), 1.0)
    big = jnp.finfo(dtype).max
    # f - f0 > bound (diverged) implies f > hi, and f0 - f > bound (unbounded) implies
    # f < lo, whatever the rounding: 16 ulps of room.
    slack = 16 * jnp.finfo(dtype).eps * (jnp.abs(f0) + bound)
    hi = (f0 + bound) - slack
    hi = jnp.where(jnp.isfinite(hi), hi, big)
    lo = (f0 - bound) + slack
    lo = jnp.where(jnp.isfinite(lo), lo, -big)
    leaves = jax.tree.leaves(s.x)
    return _Bounds(
        hi=hi,
        lo=lo,
        dtype=dtype,
        n_params=max(sum(l.size for l in leaves), 1),
        # In 16-bit floats the band is not a normal number: no folding there.
        folded=dtype in (np.float32, np.float64) and all(l.dtype == dtype for l in leaves),
    )


def _norms(cfg: Config, dtype: Any, g: Any, updates: Any) -> tuple[Any, Any]:
    """Squared norms of the gradient and the step, where a rule or the history needs them."""
    need_gn = "gtol" in cfg.rules or "grad_norm" in cfg.record
    need_ss = updates is not None and ("xtol" in cfg.rules or "step_size" in cfg.record)
    gn = tree_sq(g).astype(dtype) if need_gn else None
    ss = tree_sq(updates).astype(dtype) if need_ss else None
    return gn, ss


def _freeze(
    cfg: Config, b: _Bounds, tols: Tolerances, x: Any, x_new: Any, f: Any, g: Any, gn: Any
) -> tuple[Any, Any]:
    """(x_new, or x where a rule fires at x, or nan where |g| > g_max; no rule fired).

    One per-run verdict, so a run freezes whole: every entry's select reads the
    same per-run term (inf where a rule fires). An entry above g_max turns nan (as
    in poison), whatever the rules say, so :func:`blocks_chunk` replays such runs.
    """
    import jax
    import jax.numpy as jnp

    ok = (f <= b.hi) & (f >= b.lo)  # finite, not diverged, not unbounded (errs inward)
    if "gtol" in cfg.rules:
        ok = ok & (gn > tols.gtol * tols.gtol)  # squared norms; nan: not ok
    stop = jnp.where(ok, jnp.zeros((), b.dtype), jnp.asarray(jnp.inf, b.dtype))

    def pick(l: Any, n: Any, gl: Any) -> Any:
        a, m = jnp.abs(gl), b.g_max(gl.dtype)
        return jnp.where(a + stop <= m, n, jnp.where(a <= m, l, jnp.nan)).astype(l.dtype)

    return jax.tree.map(pick, x, x_new, g), ok


def _at_or_above(b: _Bounds, v: Any, c: Any) -> Any:
    """0 where v < c (but for a band just below c), over 4 g_max from c up.

    The scale makes a test one multiply-add per entry, with no select on a per-run
    predicate broadcast over the entries (XLA:CPU emits that slowly in batches).
    """
    import jax.numpy as jnp

    gm = b.g_max(b.dtype)
    # lo: one spacing below c (measured downward, so c - lo is exact even where c
    # is a power of two), or further down if that spacing is below the band.
    lo = jnp.nextafter(c, jnp.asarray(-jnp.inf, b.dtype))
    lo = jnp.where(c - lo < b.band, c - b.band, lo)
    scale = jnp.minimum(4 * gm / (c - lo), b.big)  # v >= c: (v - lo) * scale > g_max
    return jnp.maximum(v - lo, 0) * scale


def _poison(
    cfg: Config,
    b: _Bounds,
    tols: Tolerances,
    k: Any,
    x: Any,
    f: Any,
    g: Any,
    gn: Any,
    f_prev: Any,
    ss_next: Any,
) -> Any:
    """x, or nan if a rule of stopping.status_code fires at iterate k (that of f, g).

    Written so that nan compares false: anything that would stop the run gives nan.
    The gradient is tested entry by entry (even if the update ignores it): an entry
    above ``g_max`` might make the norm overflow (nonfinite), so it poisons too.
    Each rule errs on the side of firing (a run near a threshold is replayed by
    the exact loop rather than missed).
    """
    import jax
    import jax.numpy as jnp

    moved = k >= 1
    if b.folded and all(gl.dtype == b.dtype for gl in jax.tree.leaves(g)):
        # 0 f is nan when f is not finite; each rule adds over 4 g_max where it
        # fires; |g| plus that per-run term stays <= g_max exactly when nothing
        # fires. (Adding 0 f to the per-run term, not to each entry, saves an
        # operation per entry: XLA recomputes the per-run terms for each entry.)
        extra = _at_or_above(b, f, b.hi) + _at_or_above(b, -f, -b.lo) + 0 * f
        if "gtol" in cfg.rules:
            extra = extra + _at_or_above(b, -gn, -(tols.gtol * tols.gtol))
        if "xtol" in cfg.rules and ss_next is not None:
            extra = extra + _at_or_above(b, -ss_next, -(tols.xtol * tols.xtol))
        if "ftol" in cfg.rules:
            f_fires = _at_or_above(b, -jnp.abs(f - f_prev), -tols.ftol)
            extra = extra + jnp.where(moved, f_fires, 0)
        gm = b.g_max(b.dtype)
        return jax.tree.map(lambda l, gl: jnp.where(jnp.abs(gl) + extra <= gm, l, jnp.nan), x, g)
    # Inside [lo, hi]: finite, not diverged, not unbounded (the bounds err inward,
    # so a run near one is replayed rather than missed); nan is outside any interval.
    ok = (f <= b.hi) & (f >= b.lo)
    if "gtol" in cfg.rules:
        ok = ok & ~(gn <= tols.gtol * tols.gtol)  # squared norms
    if "xtol" in cfg.rules and ss_next is not None:  # the rule at the next iterate
        ok = ok & ~(ss_next <= tols.xtol * tols.xtol)
    if "ftol" in cfg.rules:
        ok = ok & ~(moved & (jnp.abs(f - f_prev) <= tols.ftol))
    return jax.tree.map(
        lambda l, gl: jnp.where(ok & (jnp.abs(gl) <= b.g_max(gl.dtype)), l, jnp.nan).astype(
            l.dtype
        ),
        x,
        g,
    )


def _keep_with(a: Any, b: Any) -> Any:
    """``a``, made to read ``b`` entry by entry: ``a`` exactly, or nan where ``b`` is nan.

    The clip keeps an infinite ``b`` from turning ``a`` into nan: a squared step norm
    may overflow to inf while x stays finite, and its history row must say inf. (Both
    are floating: x's leaves, f and the squared step norm.)
    """
    import jax.numpy as jnp

    return a + 0 * jnp.clip(b, -1, 1)


def _freezes(cfg: Config) -> bool:
    """Whether :func:`fast_block` freezes runs instead of poisoning them.

    A frozen run sits at the iterate where a rule fired, and every rule it can meet
    fires there again each step (f and the gradient are those of the same x), so the
    count of iterates where none fired is its stop step. That holds for gtol,
    diverged, unbounded and nonfinite f, not for xtol (the step is not taken) or ftol
    (f_prev moves on); with a history the block's rows past the stop would need
    rewriting. Those keep the poison and the replay.
    """
    return not cfg.record and cfg.rules == ("gtol",)


def _stopped_at(cfg: Config, s: State, x: Any, step: Any, args: tuple, tols: Tolerances) -> State:
    """The state of a run frozen at iterate ``step`` (x), as the exact loop leaves it.

    f and the gradient are evaluated again at x (the same numbers the loop saw). With
    ftol and xtol off and no history, nothing reads f_prev, prev_x or step_size of a
    run that stopped on gtol (finish() reads prev_x only for nonfinite runs, f_prev
    for ftol's message, step_size for xtol's), so they are set from x itself.
    """
    import jax.numpy as jnp

    f, g = cfg.objective(x, args)
    gn = tree_sq(g).astype(f.dtype)
    zero = jnp.zeros((), f.dtype)
    status = stopping.status_code(
        f=f, f_prev=f, f0=s.f0, grad_norm=gn, step_size=zero, step=step, **tols._asdict()
    )
    return s._replace(
        step=step,
        x=x,
        prev_x=x if cfg.keep_prev else (),
        f=f,
        f_prev=f,
        grad=g,
        grad_norm=gn,
        step_size=zero,
        status=status,
    )


def blocks_chunk(
    cfg: Config,
    s: State,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    stop_at: Any,
    *,
    hyper_batched: bool,
) -> State:
    """Step until every run stopped or ``stop_at``, in blocks of ``cfg.block`` steps or more.

    Each block is :func:`fast_block` for every run: runs still running all sit at
    the same step, so every run takes the same number of steps and no run is frozen
    step by step. If a run's block ended on something other than running or
    ``max_steps`` (a rule fired or a nan appeared inside it), the block is replayed
    by the step-by-step loop, which stops each run at its exact step, and the next
    block goes on with the runs left. Runs that had stopped keep their state.

    In freeze mode a run frozen on gtol needs no replay: no rule fired at an earlier
    iterate (the block's tests fire wherever the exact rules do), so its state is
    that of the iterate it froze at, rebuilt there. Only other endings (a nan in x,
    diverged, unbounded, nonfinite, a test that fired where the exact rule does not)
    replay the block; a run that was not frozen has take_step's exact state.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    h = 0 if hyper_batched else None
    block = jax.vmap(fast_block, in_axes=(None, 0, h, None, None, None, None, 0))
    exact = functools.partial(run_chunk_batched, hyper_batched=hyper_batched)
    norms_sq = jax.vmap(tree_sq)
    stopped_at = jax.vmap(_stopped_at, in_axes=(None, 0, 0, 0, None, None))

    def where_running(s: State) -> tuple[Any, Any]:
        running = s.status == stopping.RUNNING
        return running, jnp.max(jnp.where(running, s.step, 0))

    def go_on(c: tuple) -> Any:
        running, k0 = where_running(c[0])
        return jnp.any(running) & (k0 < stop_at)

    def one_block(c: tuple) -> tuple:
        s, size = c
        running, k0 = where_running(s)
        n = jnp.minimum(stop_at - k0, size)
        # Stopped runs step along (no per-run freezing) but leave their history alone:
        # with record_every > 1 their last row is the row the block writes next.
        new, count, x_frozen = block(cfg, s, hyper, args, tols, k0, n, running)
        if count is None:
            ended = (new.status != stopping.RUNNING) & (
                new.status != stopping.CODES[Status.MAX_STEPS]
            )
            # A nan left in x that f does not see (f ignores those entries).
            ended = ended | ~jnp.isfinite(norms_sq(new.x))
        else:
            # Frozen runs (a rule fired at iterate k0 + count < k0 + n) end there, exact
            # where it was gtol; the others' state from take_step is exact whatever its
            # status. A nan in x (an entry above g_max) or any other ending: replay.
            frozen = count < n
            stopped = stopped_at(cfg, new, x_frozen, k0 + count, args, tols)
            new = where_runs(frozen, stopped, new)
            gtol = stopping.CODES[Status.GTOL]
            ended = (frozen & (stopped.status != gtol)) | ~jnp.isfinite(norms_sq(new.x))

        # The history goes to the cond only as the block's output: the start state's
        # buffers are then dead, and the block writes the history in place (passing
        # both would copy the whole history every block).
        def replay(core: State) -> State:
            # Rows before k0 are untouched in the new history: hand it on.
            return exact(cfg, core._replace(hist=new.hist), hyper, args, tols, k0 + n)

        def keep(core: State) -> State:
            return where_runs(running, new._replace(hist={}), core)._replace(hist=new.hist)

        event = jnp.any(running & ended)
        # Blocks double while nothing happens (fewer block ends to pay for) and shrink
        # back after a stop (a replay costs up to a block of the slower loop).
        size = jnp.where(event, cfg.block, jnp.minimum(2 * size, 16 * cfg.block))
        return lax.cond(event, replay, keep, s._replace(hist={})), size

    return lax.while_loop(go_on, one_block, (s, jnp.int32(cfg.block)))[0]
