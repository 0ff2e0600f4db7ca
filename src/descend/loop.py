"""The one driver: a compiled gradient-descent loop with stopping rules and a record.

Design, in short:

* ``_init`` evaluates f and its gradient at the start point; ``_run_chunk`` is one
  ``lax.while_loop`` whose body takes a step, evaluates f and the gradient at the
  new iterate, writes the history row and computes the status code. Every quantity
  a rule needs is produced by the step itself, so the checks are a handful of
  scalar operations per step.
* History buffers are preallocated and carried through the loop; step ``k`` writes
  row ``ceil(k / record_every)``, so with ``record_every=k`` the rows end up holding
  steps 0, k, 2k, ... and the last step without any branch in the loop.
* Python runs the compiled loop in chunks (donating the buffers, so nothing is
  copied), which is where progress, callbacks and Ctrl-C are handled. A run without
  either starts with one compiled call that is init and the first chunk together.
* Batches (see :mod:`descend.batch`) use ``vmap`` of the same functions, but step in
  blocks (``_fast_chunk``): a vmapped while-loop would freeze every finished run
  with a select on every carried array at every step (15x a bare loop for 10,000
  runs of a 3-parameter problem). In a block every run steps with no bookkeeping;
  a rule that fires turns x into nan, and a block where that happened is replayed
  by the step-by-step loop, so each run still stops at its exact step.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import stopping
from .result import History, Result
from .stopping import Status

__all__ = ["minimize", "HISTORY_FIELDS"]

HISTORY_FIELDS = ("x", "fun", "grad_norm", "step_size")
KEEP_PREV_MAX_SIZE = 2**20
DEFAULT_MAX_HISTORY_BYTES = 2**30


# --------------------------------------------------------------------------- objective
class Objective(NamedTuple):
    """f and its gradient as one hashable callable ``(x, args) -> (f, grad)``."""

    fun: Callable[..., Any]
    grad: Any = None  # None: autodiff; "numeric": central differences; else a callable

    def __call__(self, x: Any, args: tuple) -> tuple[Any, Any]:
        import jax

        if self.grad is None:
            return jax.value_and_grad(self.fun)(x, *args)
        if isinstance(self.grad, str):
            return _numeric_value_and_grad(self.fun, x, args)
        return self.fun(x, *args), self.grad(x, *args)

    def value(self, x: Any, args: tuple) -> Any:
        if isinstance(self.grad, str):
            return _numeric_value_and_grad(self.fun, x, args)[0]
        return self.fun(x, *args)


def _numeric_value_and_grad(fun: Callable[..., Any], x: Any, args: tuple) -> tuple[Any, Any]:
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

        f0 = f_of(vec)
        g = np.empty_like(vec)
        # h ~ eps^(1/3) balances truncation and rounding error for central differences.
        h = np.finfo(np.float64).eps ** (1 / 3) * np.maximum(np.abs(vec), 1.0)
        for i in range(vec.size):
            e = np.zeros_like(vec)
            e[i] = h[i]
            g[i] = (f_of(vec + e) - f_of(vec - e)) / (2 * h[i])
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


# --------------------------------------------------------------------------- config
class Config(NamedTuple):
    """Everything static about a run; hashable, so compiled loops are reused."""

    objective: Objective
    make_optimizer: Callable[[Any], Any]  # hyper -> optax transformation
    extra_args: bool  # pass value/grad/value_fn to optimizer.update (line searches)
    record: tuple[str, ...]  # which history fields are kept
    record_every: int
    rows: int  # history rows preallocated
    need_grad_norm: bool  # gtol is on or grad_norm is recorded
    need_step_size: bool  # xtol is on or step_size is recorded
    # Carrying the previous iterate (to return the last finite one after a nan) costs
    # a copy of x per step; above KEEP_PREV_MAX_SIZE parameters minimize() replays the
    # run instead, only when a nan actually happens.
    keep_prev: bool = True
    # Run steps in blocks with no per-step bookkeeping, replaying a block exactly only
    # when a rule fired inside it (see _fast_chunk); batches without history use it.
    fast: bool = False
    rules: tuple[str, ...] = ()  # the tolerance rules that are on ("gtol", "xtol", "ftol")
    block: int = 256  # steps per fast block (a block with a stop is replayed)
    lean: bool = False  # one large run: _lean_chunk (no gradient carried between steps)


class Tolerances(NamedTuple):
    gtol: Any
    xtol: Any
    ftol: Any
    max_steps: Any
    diverge_factor: Any


class State(NamedTuple):
    """The loop's carry; a pytree (batched runs add a leading axis to every leaf)."""

    step: Any
    x: Any
    prev_x: Any
    opt_state: Any
    f: Any
    f_prev: Any
    f0: Any
    grad: Any
    grad_norm: Any
    step_size: Any
    status: Any
    nfev: Any
    hist: dict


def _fixed(optimizer: Any) -> Callable[[Any], Any]:
    return _Fixed(optimizer)


class _Fixed(NamedTuple):
    optimizer: Any

    def __call__(self, hyper: Any) -> Any:
        return self.optimizer


def _tree_sq(tree: Any) -> Any:
    """Squared Euclidean norm over all leaves of a pytree.

    The loops keep squared norms (``State.grad_norm``, ``State.step_size`` and the
    history) and compare them with squared tolerances: a square root on the way to
    the loop's test costs a 3-parameter gd step 25%. Results take the root.
    """
    import jax
    import jax.numpy as jnp

    total = 0.0
    for leaf in jax.tree.leaves(tree):
        sq = leaf * leaf if not jnp.iscomplexobj(leaf) else jnp.real(leaf * jnp.conj(leaf))
        if sq.size <= 16:
            # Small leaves: add the entries one by one. Under vmap a reduce over a
            # short trailing axis is emitted poorly on XLA:CPU (3x slower batches).
            flat = sq.reshape(-1)
            total = total + sum(flat[i] for i in range(flat.size))
        else:
            total = total + jnp.sum(sq)
    return total


def _linesearch_evals(opt_state: Any) -> Any:
    """Function evaluations spent inside an optax line search this step (else 0)."""
    import jax.numpy as jnp
    import optax

    n = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps", None)
    return jnp.int32(0) if n is None else jnp.asarray(n, jnp.int32)


def _scalar_fields(record: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in record if n != "x")


def _write(
    hist: dict,
    names: tuple[str, ...],
    row: Any,
    x: Any,
    f: Any,
    gn: Any,
    ss: Any,
    active: Any = None,
) -> dict:
    """Write one history row: x and the scalars as one row of a table (see _history).

    One table instead of a buffer per field means one in-place update per step (each
    update is a kernel of its own: a few ns in a small run's loop, a few us in a
    batch's); with separate vectors XLA:CPU sometimes fuses the scalar producers into
    an update that then sweeps the whole buffer (seen with adam: 20x slower steps).
    Where ``active`` is False the row keeps what it holds (a stopped run in a fast
    block).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    def put(buf: Any, value: Any) -> Any:
        if active is not None:
            value = jnp.where(active, value, lax.dynamic_index_in_dim(buf, row, 0, False))
        return lax.dynamic_update_index_in_dim(buf, value, row, 0)

    # gn and ss come squared (see _tree_sq) and the history keeps them so: finish()
    # takes the roots. Two square roots a step cost a 3-parameter gd step 17% (adam
    # 10%): they sit in the loop's chain of small kernels.
    values = {"fun": f, "grad_norm": gn, "step_size": ss}
    out = dict(hist)
    if "table" in hist:  # x's entries, then the scalars: one row, one update a step
        table = hist["table"]
        entries = [l.reshape(-1).astype(table.dtype) for l in jax.tree.leaves(x)]
        scalars = [values[n].astype(table.dtype).reshape(1) for n in names]
        out["table"] = put(table, jnp.concatenate(entries + scalars))
    if "x" in hist:
        out["x"] = jax.tree.map(put, hist["x"], x)
    if "scalars" in hist:
        table = hist["scalars"]
        out["scalars"] = put(table, jnp.stack([values[n].astype(table.dtype) for n in names]))
    return out


def _row(step: Any, record_every: int) -> Any:
    """The history row of ``step``: ceil(step / record_every), so with record_every=k the
    rows hold steps 0, k, 2k, ... and the last step with no branch in the loop."""
    from jax import lax

    if record_every == 1:
        return step
    # lax.div because step >= 0 (floor_divide adds sign fix-ups).
    return lax.div(step + (record_every - 1), step.dtype.type(record_every))


def _history(cfg: Config, x0: Any, dtype: Any) -> dict:
    """The history buffers, zeros: {"table": (rows, x's entries + scalars)} where every
    leaf of x has f's dtype; otherwise {"x": x's leaves with rows first, "scalars":
    (rows, scalars)}. A field not recorded has no columns."""
    import jax
    import jax.numpy as jnp

    names = _scalar_fields(cfg.record)
    leaves = jax.tree.leaves(x0) if "x" in cfg.record else []
    if leaves and all(l.dtype == dtype for l in leaves):
        width = sum(l.size for l in leaves) + len(names)
        return {"table": jnp.zeros((cfg.rows, width), dtype)}
    hist: dict = {}
    if leaves:
        hist["x"] = jax.tree.map(lambda l: jnp.zeros((cfg.rows,) + l.shape, l.dtype), x0)
    if names:
        hist["scalars"] = jnp.zeros((cfg.rows, len(names)), dtype)
    return hist


def _init(cfg: Config, x0: Any, hyper: Any, args: tuple, tols: Tolerances) -> State:
    """Evaluate the start point, allocate the history and decide if we are done already."""
    import jax.numpy as jnp

    f, g = cfg.objective(x0, args)
    gn = _tree_sq(g).astype(f.dtype)
    zero = jnp.zeros((), f.dtype)
    names = _scalar_fields(cfg.record)
    hist = _write(_history(cfg, x0, f.dtype), names, 0, x0, f, gn, zero)
    step = jnp.int32(0)
    status = stopping.status_code(
        f=f, f_prev=f, f0=f, grad_norm=gn, step_size=zero, step=step, **tols._asdict()
    )
    return State(
        step=step,
        x=x0,
        prev_x=x0 if cfg.keep_prev else (),
        opt_state=cfg.make_optimizer(hyper).init(x0),
        f=f,
        f_prev=f,
        f0=f,
        grad=g,
        grad_norm=gn,
        step_size=zero,
        status=status,
        nfev=jnp.int32(1) if cfg.extra_args else (),
        hist=hist,
    )


def _step(
    cfg: Config, s: State, hyper: Any, args: tuple, tols: Tolerances, active: Any = None
) -> State:
    """One step of the optimizer, then f and the gradient at the new iterate.

    ``active`` False leaves the history alone (see :func:`_write`).
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
    gn = _tree_sq(g).astype(f.dtype) if cfg.need_grad_norm else jnp.zeros((), f.dtype)
    ss = _tree_sq(updates).astype(f.dtype) if cfg.need_step_size else jnp.zeros((), f.dtype)
    step = s.step + 1
    status = stopping.status_code(
        f=f, f_prev=s.f, f0=s.f0, grad_norm=gn, step_size=ss, step=step, **tols._asdict()
    )
    row = _row(step, cfg.record_every)
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
        nfev=s.nfev + 1 + _linesearch_evals(opt_state) if cfg.extra_args else (),
        hist=_write(s.hist, _scalar_fields(cfg.record), row, x, f, gn, ss, active),
    )


def _call_value(objective: Objective, x: Any, args: tuple) -> Any:
    return objective.value(x, args)


def _run_chunk(
    cfg: Config, s: State, hyper: Any, args: tuple, tols: Tolerances, stop_at: Any
) -> State:
    """Step until a rule fires or ``step`` reaches ``stop_at`` (one compiled while-loop)."""
    from jax import lax

    return lax.while_loop(
        lambda c: (c.status == stopping.RUNNING) & (c.step < stop_at),
        lambda c: _step(cfg, c, hyper, args, tols),
        s,
    )


def _where_runs(on: Any, new: Any, old: Any) -> Any:
    """Per run (the leading axis of every leaf): ``new`` where ``on``, else ``old``."""
    import jax
    import jax.numpy as jnp

    def pick(a: Any, b: Any) -> Any:
        return jnp.where(on.reshape(on.shape + (1,) * (a.ndim - on.ndim)), a, b)

    return jax.tree.map(pick, new, old)


def _run_chunk_batched(
    cfg: Config,
    s: State,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    stop_at: Any,
    hyper_batched: bool,
) -> State:
    """:func:`_run_chunk` for a batch of runs (leading axis), written out by hand.

    ``vmap`` of the while-loop would step every run while any runs, keeping finished
    runs with a select on every carried array at every step, the history included:
    a pass over the whole history each step (16 s instead of 14 ms for 1,000 runs of
    1,000 steps that stop at different steps). Here the select leaves the history
    out, and the history row is written for the runs still running only.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    step = jax.vmap(_step, in_axes=(None, 0, 0 if hyper_batched else None, None, None))
    names = _scalar_fields(cfg.record)

    def running(c: State) -> Any:
        return (c.status == stopping.RUNNING) & (c.step < stop_at)

    def body(c: State) -> State:
        on = running(c)
        new = step(cfg, c._replace(hist={}), hyper, args, tols)

        kept = _where_runs(on, new, c._replace(hist={}))
        # The runs still running are all at the same step: their rows are one row of
        # the batch, an update in place rather than a scatter of one row per run.
        row = _row(jnp.max(jnp.where(on, new.step, 0)), cfg.record_every)
        hist = jax.vmap(lambda h, x, f, gn, ss, a: _write(h, names, row, x, f, gn, ss, a))(
            c.hist, new.x, new.f, new.grad_norm, new.step_size, on
        )
        return kept._replace(hist=hist)

    return lax.while_loop(lambda c: jnp.any(running(c)), body, s)


class _Lean(NamedTuple):
    """The carry of :func:`_lean_chunk`: iterate ``k``, not evaluated yet."""

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


def _lean_chunk(
    cfg: Config, s: State, hyper: Any, args: tuple, tols: Tolerances, stop_at: Any
) -> State:
    """One large run's chunk: evaluate, test, record and step, as a hand-written loop.

    :func:`_run_chunk` carries the gradient from one step to the next, which for a
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
    names = _scalar_fields(cfg.record)
    dtype = s.f.dtype
    zero = jnp.zeros((), dtype)

    def code(f: Any, f_prev: Any, gn: Any, ss: Any, k: Any) -> Any:
        return stopping.status_code(
            f=f, f_prev=f_prev, f0=s.f0, grad_norm=gn, step_size=ss, step=k, **tols._asdict()
        )

    def grad_sq(g: Any) -> Any:  # only where a rule or the history needs it
        return _tree_sq(g).astype(dtype) if cfg.need_grad_norm else zero

    def advance(c: _Lean, f: Any, g: Any) -> _Lean:
        """Test iterate c.k (f and g evaluated there), record it and step from it."""
        gn = grad_sq(g)
        ok = code(f, c.f_prev, gn, c.ss, c.k) == stopping.RUNNING
        hist = _write(c.hist, names, _row(c.k, cfg.record_every), c.x, f, gn, c.ss)
        updates, opt_state = opt.update(g, c.opt_state, c.x)
        ss = _tree_sq(updates).astype(dtype) if cfg.need_step_size else zero
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
            _write(c.hist, names, _row(k, cfg.record_every), c.x, f, gn, ss)
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


def _fast_block(
    cfg: Config,
    s: State,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    k0: Any,
    n: Any,
    active: Any = True,
) -> State:
    """``n`` steps of one run from step ``k0`` without per-step bookkeeping (n >= 1).

    Each step evaluates f and the gradient at x, writes x's history row, steps, and
    *poisons* the new x with nan if a stopping rule fires at x; nan then propagates
    to the end of the block. Only the last step is taken by :func:`_step`, which
    builds the full state and its status. So a block ends ``RUNNING`` (or
    ``max_steps``) exactly when the step-by-step loop would have run through it;
    otherwise :func:`_fast_chunk` replays it with that loop. The loop carries x, the
    optimizer state and the history (f with ftol, the step norm when recorded), so
    XLA emits a step as one kernel with no per-step statuses or freezing of runs; it
    takes two steps an iteration and carries the middle values of the previous pair
    too, so that x is updated in place (see ``pair``).
    """
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    opt = cfg.make_optimizer(hyper)
    f0 = s.f0
    dtype = s.f.dtype
    bound = tols.diverge_factor * jnp.maximum(jnp.abs(f0), 1.0)
    big = jnp.finfo(dtype).max
    # f - f0 > bound (diverged) implies f > hi, and f0 - f > bound (unbounded) implies
    # f < lo, whatever the rounding: 16 ulps of room.
    slack = 16 * jnp.finfo(dtype).eps * (jnp.abs(f0) + bound)
    hi = (f0 + bound) - slack
    hi = jnp.where(jnp.isfinite(hi), hi, big)
    lo = (f0 - bound) + slack
    lo = jnp.where(jnp.isfinite(lo), lo, -big)
    n_params = max(sum(l.size for l in jax.tree.leaves(s.x)), 1)

    def g_max(dtype: Any) -> float:
        """Below this, the sum of the gradient's squared entries stays finite."""
        return float(np.sqrt(np.finfo(dtype).max / n_params) / 2)

    names = _scalar_fields(cfg.record)
    keep_ss = "step_size" in cfg.record

    # One dtype throughout (float32 or float64: in 16-bit floats the band below is not
    # a normal number): the tests below fold into one per-entry comparison.
    folded = dtype in (np.float32, np.float64) and all(
        l.dtype == dtype for l in jax.tree.leaves(s.x)
    )
    gm = g_max(dtype)
    band = 4 * gm / float(big)  # how far a threshold may move (below 1e-150 in f64)

    def at_or_above(v: Any, c: Any) -> Any:
        """0 where v < c (but for a band just below c), over 4 g_max from c up.

        The scale makes a test one multiply-add per entry, with no select on a per-run
        predicate broadcast over the entries (XLA:CPU emits that slowly in batches).
        """
        # lo: one spacing below c (measured downward, so c - lo is exact even where c
        # is a power of two), or further down if that spacing is below the band.
        lo = jnp.nextafter(c, jnp.asarray(-jnp.inf, dtype))
        lo = jnp.where(c - lo < band, c - band, lo)
        scale = jnp.minimum(4 * gm / (c - lo), big)  # v >= c: (v - lo) * scale > g_max
        return jnp.maximum(v - lo, 0) * scale

    def poison(k: Any, x: Any, f: Any, g: Any, gn: Any, f_prev: Any, ss_next: Any) -> Any:
        """x, or nan if a rule of stopping.status_code fires at iterate k (that of f, g).

        Written so that nan compares false: anything that would stop the run gives nan.
        The gradient is tested entry by entry (even if the update ignores it): an entry
        above ``g_max`` might make the norm overflow (nonfinite), so it poisons too.
        Each rule errs on the side of firing (a run near a threshold is replayed by
        the exact loop rather than missed).
        """
        moved = k >= 1
        if folded and all(gl.dtype == dtype for gl in jax.tree.leaves(g)):
            # 0 f is nan when f is not finite; each rule adds over 4 g_max where it
            # fires; |g| plus that per-run term stays <= g_max exactly when nothing
            # fires. (Adding 0 f to the per-run term, not to each entry, saves an
            # operation per entry: XLA recomputes the per-run terms for each entry.)
            extra = at_or_above(f, hi) + at_or_above(-f, -lo) + 0 * f
            if "gtol" in cfg.rules:
                extra = extra + at_or_above(-gn, -(tols.gtol * tols.gtol))
            if "xtol" in cfg.rules and ss_next is not None:
                extra = extra + at_or_above(-ss_next, -(tols.xtol * tols.xtol))
            if "ftol" in cfg.rules:
                f_fires = at_or_above(-jnp.abs(f - f_prev), -tols.ftol)
                extra = extra + jnp.where(moved, f_fires, 0)
            return jax.tree.map(
                lambda l, gl: jnp.where(jnp.abs(gl) + extra <= gm, l, jnp.nan), x, g
            )
        # Inside [lo, hi]: finite, not diverged, not unbounded (the bounds err inward,
        # so a run near one is replayed rather than missed); nan is outside any interval.
        ok = (f <= hi) & (f >= lo)
        if "gtol" in cfg.rules:
            ok = ok & ~(gn <= tols.gtol * tols.gtol)  # squared norms
        if "xtol" in cfg.rules and ss_next is not None:  # the rule at the next iterate
            ok = ok & ~(ss_next <= tols.xtol * tols.xtol)
        if "ftol" in cfg.rules:
            ok = ok & ~(moved & (jnp.abs(f - f_prev) <= tols.ftol))
        return jax.tree.map(
            lambda l, gl: jnp.where(ok & (jnp.abs(gl) <= g_max(gl.dtype)), l, jnp.nan).astype(
                l.dtype
            ),
            x,
            g,
        )

    def norms(g: Any, updates: Any) -> tuple[Any, Any]:
        need_gn = "gtol" in cfg.rules or "grad_norm" in cfg.record
        need_ss = updates is not None and ("xtol" in cfg.rules or keep_ss)
        gn = _tree_sq(g).astype(dtype) if need_gn else None
        ss = _tree_sq(updates).astype(dtype) if need_ss else None
        return gn, ss

    def one(k: Any, c: tuple) -> tuple:
        """Step k (of the run): row and rules at x_k, then x_{k+1} (poisoned if one fires)."""
        x, opt_state, f_prev, ss_prev, hist = c
        f, g = cfg.objective(x, args)
        updates, opt_state = opt.update(g, opt_state, x)
        # As in _step: keeps XLA:CPU from recomputing the update inside the consumers.
        f, g, updates, opt_state = lax.optimization_barrier((f, g, updates, opt_state))
        gn, ss = norms(g, updates)
        if cfg.record:
            hist = _write(hist, names, _row(k, cfg.record_every), x, f, gn, ss_prev, active)
        x_new = poison(k, optax.apply_updates(x, updates), f, g, gn, f_prev, ss)
        return (
            x_new,
            opt_state,
            f if "ftol" in cfg.rules else f_prev,
            ss if keep_ss else ss_prev,
            hist,
        )

    zero = jnp.zeros((), dtype)
    start = (
        s.x,
        s.opt_state,
        s.f_prev if "ftol" in cfg.rules else zero,
        s.step_size if keep_ss else zero,
        s.hist,
    )

    def pair(i: Any, c: tuple) -> tuple:
        *c, mid_prev = c
        y, opt_state, f_prev, ss_prev, hist = one(k0 + 2 * i, tuple(c))
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
        return (*one(k0 + 2 * i + 1, (y, opt_state, f_prev, ss_prev, hist)), mid)

    m = n - 1  # steps in the loop: pairs, then one more if m is odd
    *c, _ = lax.fori_loop(0, m // 2, pair, (*start, (s.x, start[2], start[3])))
    # A loop of 0 or 1 steps, not a cond: a cond's pass-through branch would copy the
    # history.
    c = lax.fori_loop(0, m % 2, lambda i, c: one(k0 + m - 1, c), tuple(c))
    x, opt_state, f_prev, ss_prev, hist = c
    # The last step in full by _step, after the row and the rules at its start
    # x_{k0+n-1} (xtol there is the rule on the loop's last step, checked in the loop).
    k = k0 + n - 1
    f, g = cfg.objective(x, args)
    gn, _ = norms(g, None)
    if cfg.record:
        hist = _write(hist, names, _row(k, cfg.record_every), x, f, gn, ss_prev, active)
    x = poison(k, x, f, g, gn, f_prev, None)
    last = s._replace(step=k, x=x, opt_state=opt_state, f=f, grad=g, hist=hist)
    return _step(cfg, last, hyper, args, tols, active)


def _keep_with(a: Any, b: Any) -> Any:
    """``a``, made to read ``b`` entry by entry: ``a`` exactly, or nan where ``b`` is nan.

    The clip keeps an infinite ``b`` from turning ``a`` into nan: a squared step norm
    may overflow to inf while x stays finite, and its history row must say inf. (Both
    are floating: x's leaves, f and the squared step norm.)
    """
    import jax.numpy as jnp

    return a + 0 * jnp.clip(b, -1, 1)


def _fast_chunk(
    cfg: Config,
    s: State,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    stop_at: Any,
    *,
    batched: bool,
    hyper_batched: bool,
) -> State:
    """Step until every run stopped or ``stop_at``, in blocks of ``cfg.block`` steps or more.

    Each block is :func:`_fast_block` for every run: runs still running all sit at
    the same step, so every run takes the same number of steps and no run is frozen
    step by step. If a run's block ended on something other than running or
    ``max_steps`` (a rule fired or a nan appeared inside it), the block is replayed
    by the step-by-step loop, which stops each run at its exact step, and the next
    block goes on with the runs left. Runs that had stopped keep their state.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    h = 0 if hyper_batched else None
    block, exact = _fast_block, _run_chunk
    if batched:
        block = jax.vmap(_fast_block, in_axes=(None, 0, h, None, None, None, None, 0))
        exact = functools.partial(_run_chunk_batched, hyper_batched=hyper_batched)

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
        new = block(cfg, s, hyper, args, tols, k0, n, running)
        ended = (new.status != stopping.RUNNING) & (new.status != stopping.CODES[Status.MAX_STEPS])
        if batched:  # a nan left in x that f does not see (f ignores those entries)
            ended = ended | ~jnp.isfinite(jax.vmap(_tree_sq)(new.x))
        else:
            ended = ended | ~jnp.isfinite(_tree_sq(new.x))

        # The history goes to the cond only as the block's output: the start state's
        # buffers are then dead, and the block writes the history in place (passing
        # both would copy the whole history every block).
        def replay(core: State) -> State:
            # Rows before k0 are untouched in the new history: hand it on.
            return exact(cfg, core._replace(hist=new.hist), hyper, args, tols, k0 + n)

        def keep(core: State) -> State:
            return _where_runs(running, new._replace(hist={}), core)._replace(hist=new.hist)

        event = jnp.any(running & ended)
        # Blocks double while nothing happens (fewer block ends to pay for) and shrink
        # back after a stop (a replay costs up to a block of the slower loop).
        size = jnp.where(event, cfg.block, jnp.minimum(2 * size, 16 * cfg.block))
        return lax.cond(event, replay, keep, s._replace(hist={})), size

    return lax.while_loop(go_on, one_block, (s, jnp.int32(cfg.block)))[0]


def enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache, so a new process reuses compiled loops.

    Compiling a loop takes 0.1-0.3 s, as long as the run itself for small problems;
    the cache makes the second start of a script or the CLI fast. It lives in
    ``$DESCEND_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/descend/jax`` (default
    ``~/.cache/descend/jax``). Left alone if the user configured a JAX cache already;
    ``DESCEND_CACHE=0`` turns it off.
    """
    import os

    import jax

    if os.environ.get("DESCEND_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if jax.config.jax_compilation_cache_dir:
        return
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.environ.get("DESCEND_CACHE_DIR") or os.path.join(root, "descend", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)


@functools.cache
def _compiled(batched: bool, hyper_batched: bool) -> tuple[Callable, Callable, Callable]:
    """jit-compiled init, chunk and init-then-chunk (vmapped for batches); cached on cfg."""
    import jax

    enable_compilation_cache()

    init, slow = _init, _run_chunk
    if batched:
        h = 0 if hyper_batched else None
        init = jax.vmap(_init, in_axes=(None, 0, h, None, None))
        slow = functools.partial(_run_chunk_batched, hyper_batched=hyper_batched)
    fast = functools.partial(_fast_chunk, batched=batched, hyper_batched=hyper_batched)

    def chunk(cfg: Config, s: State, hyper: Any, args: tuple, tols: Any, stop_at: Any) -> State:
        if cfg.lean and not batched:
            return _lean_chunk(cfg, s, hyper, args, tols, stop_at)
        return (fast if cfg.fast else slow)(cfg, s, hyper, args, tols, stop_at)

    def start(cfg: Config, x0: Any, hyper: Any, args: tuple, tols: Any, stop_at: Any) -> State:
        return chunk(cfg, init(cfg, x0, hyper, args, tols), hyper, args, tols, stop_at)

    return (
        jax.jit(init, static_argnums=0),
        jax.jit(chunk, static_argnums=0, donate_argnums=1),
        # init and the first chunk in one call: a short run is one dispatch.
        jax.jit(start, static_argnums=0),
    )


class Fresh(NamedTuple):
    """A run not started: :func:`drive` runs its init and first chunk in one call."""

    x0: Any


# --------------------------------------------------------------------------- validation
def _check_tol(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number (0 turns it off), got {value!r}")
    return float(value)


def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def prepare_x0(x0: Any, name: str = "x0") -> Any:
    """``x0`` as a pytree of floating jax arrays; refuses empty or non-finite input."""
    import jax
    import jax.numpy as jnp

    if isinstance(x0, list) or np.isscalar(x0):
        try:
            x0 = np.asarray(x0)
        except ValueError:  # a list of differently shaped arrays: keep it as a pytree
            pass
    leaves, treedef = jax.tree.flatten(x0)
    if not leaves:
        raise ValueError(f"{name} must not be empty; got {x0!r}")
    out = []
    for leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            dtype = np.asarray(leaf).dtype
        # numpy's kind first: jnp.issubdtype costs microseconds (bfloat16 needs it).
        if np.dtype(dtype).kind not in "fiub" and not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")
        try:
            arr = leaf if isinstance(leaf, jax.Array) else jnp.asarray(leaf)
        except TypeError:
            raise TypeError(
                f"{name} must be an array or a pytree of arrays of numbers, "
                f"got a leaf of type {type(leaf).__name__}"
            ) from None
        kind = arr.dtype.kind
        if kind not in "fiub":  # also bfloat16 (kind "V"): not supported
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if kind in "iub":
            arr = arr.astype(jnp.result_type(float))
        out.append(arr)
    if sum(a.size for a in out) == 0:
        raise ValueError(f"{name} must not be empty; got an array of size 0")
    bad = [int(np.size(a) - np.count_nonzero(np.isfinite(np.asarray(a)))) for a in out]
    if any(bad):
        raise ValueError(f"{name} must be finite; it has {sum(bad)} inf or nan entries")
    return jax.tree.unflatten(treedef, out)


def resolve_optimizer(optimizer: Any) -> Any:
    """An optax transformation (or an AutoRate) from a transformation, a name or a factory."""
    from .optimizers import AutoRate, get_optimizer

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
    from .optimizers import AutoRate, Numbers, numbers_of

    choice = None
    if isinstance(optimizer, AutoRate):
        choice = optimizer.choose(objective, x0, args)
        optimizer = optimizer(choice.value)
    values = numbers_of(optimizer)
    if values is None:
        return optimizer, _fixed(optimizer), None, choice
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

    from .optimizers import Numbers, numbers_of

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


def make_objective(fun: Any, grad: Any) -> Objective:
    """The objective from a callable, a built-in function's name or a formula."""
    if isinstance(fun, str):
        from .functions import resolve

        fun = resolve(fun)
    if not callable(fun):
        raise TypeError(
            f"fun must be callable, a function name or a formula, got {type(fun).__name__}"
        )
    if grad is not None and not callable(grad) and grad != "numeric":
        raise ValueError(f"grad must be None, a callable or 'numeric', got {grad!r}")
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
        objective.fun.check_dim(_tree_size(x0))
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


def history_fields(history: bool | str | Sequence[str]) -> tuple[str, ...]:
    if not isinstance(history, (bool, str, list, tuple, set, frozenset)) and history is not None:
        raise TypeError(
            "history must be True, False or field names such as ('fun',), "
            f"got {type(history).__name__} {history!r}"
        )
    if history is True:
        return HISTORY_FIELDS
    if history is False or history is None:
        return ()
    names = (history,) if isinstance(history, str) else tuple(history)
    unknown = [n for n in names if n not in HISTORY_FIELDS]
    if unknown:
        raise ValueError(
            f"history must be True, False or a subset of {HISTORY_FIELDS}, got {unknown}"
        )
    return tuple(n for n in HISTORY_FIELDS if n in names)


def check_max_history_bytes(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"max_history_bytes must be a positive number, got {value!r}")


def history_rows(max_steps: int, record_every: int) -> int:
    return -(-max_steps // record_every) + 1


def check_history_budget(
    record: tuple[str, ...], x0: Any, rows: int, n_runs: int, max_history_bytes: float
) -> None:
    import jax

    if not record:
        return
    itemsize = np.dtype(jax.tree.leaves(x0)[0].dtype).itemsize
    per_row = sum(itemsize for n in record if n != "x")
    if "x" in record:
        per_row += sum(l.size * l.dtype.itemsize for l in jax.tree.leaves(x0))
    total = per_row * rows * n_runs
    if total > max_history_bytes:
        runs = f" x {n_runs:,} runs" if n_runs > 1 else ""
        raise ValueError(
            f"history would need {total / 2**30:.2f} GiB ({rows:,} rows x {per_row:,} "
            f"bytes{runs}), over max_history_bytes={max_history_bytes:,.0f}; record "
            "fewer rows with record_every=k, keep only some fields (history=('fun',)), "
            "turn it off with history=False, or raise max_history_bytes"
        )


# --------------------------------------------------------------------------- driver
_WARM: set = set()  # loops already compiled, keyed by config and signature


class _SigintFlag:
    """Turns Ctrl-C into a flag the driver reads between chunks.

    Installed when a run is entered, before anything is traced or compiled, so a
    Ctrl-C at any moment (tracing, compiling, stepping) ends the run with status
    ``interrupted`` instead of a ``KeyboardInterrupt`` from inside JAX, and no buffer
    is left half-donated. Nested runs (a replay inside a run) share the outer flag.
    Only the main thread receives signals; elsewhere the flag never goes up.
    """

    _local = threading.local()  # the flag of the run this thread is in

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None
        self._outer: _SigintFlag | None = None

    def __enter__(self) -> _SigintFlag:
        self._outer = getattr(self._local, "flag", None)
        if self._outer is not None:
            return self._outer
        self._local.flag = self
        # A process that ignores SIGINT (started in the background) keeps ignoring it.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):
            try:
                old = signal.signal(signal.SIGINT, self._handler)
                # None: a handler installed outside Python; the default is the nearest.
                self._old = signal.SIG_DFL if old is None else old
            except ValueError:  # not allowed here (e.g. embedded interpreter)
                self._old = None
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        if self.hit:  # a second Ctrl-C: stop now, without waiting for the run
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc: Any) -> None:
        if self._outer is not None:
            return
        self._local.flag = None
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    @classmethod
    def current(cls) -> _SigintFlag:
        """The flag of the run this thread is in (a fresh one outside any run)."""
        return getattr(cls._local, "flag", None) or cls()

    @classmethod
    @contextlib.contextmanager
    def unheard(cls) -> Iterator[None]:
        """Runs inside see a flag that never goes up (a replay that completes a result);
        a Ctrl-C meanwhile still reaches the outer run's flag."""
        saved = getattr(cls._local, "flag", None)
        cls._local.flag = cls()
        try:
            yield
        finally:
            cls._local.flag = saved


def interruptible(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` (an entry point such as ``minimize``) under one Ctrl-C flag."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _SigintFlag():
            return fn(*args, **kwargs)

    return wrapper


class Progress:
    """A progress bar (rich if installed, else a line on stderr)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.total = total
        self._bar: Any = None
        if not enabled:
            return
        try:
            from rich.progress import BarColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("descend"),
                BarColumn(),
                TextColumn("step {task.completed:,}/{task.total:,}"),
                TextColumn("{task.fields[info]}"),
                transient=False,
            )
            self._task = self._bar.add_task("run", total=total, info="")
            self._bar.start()
        except ImportError:
            self._bar = None

    def update(self, step: int, info: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)
        else:
            import sys

            print(f"\rdescend step {step:,}/{self.total:,} {info}", end="", file=sys.stderr)

    def close(self) -> None:
        if self.enabled:
            if self._bar is not None:
                self._bar.stop()
            else:
                import sys

                print(file=sys.stderr)


def drive(
    cfg: Config,
    state: State | Fresh,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    *,
    batched: bool,
    hyper_batched: bool,
    max_steps: int,
    callback: Callable[[Any], Any] | None,
    progress: bool,
    chunk_size: int | None,
    snapshot: Callable[[State], Any],
) -> tuple[State, float, float]:
    """Run the compiled loop chunk by chunk; returns (state, wall_time, compile_time).

    Between chunks: progress, ``callback(snapshot)`` (StopIteration -> ``stopped``,
    KeyboardInterrupt -> ``interrupted``) and Ctrl-C (-> ``interrupted``).
    """
    import jax
    import jax.numpy as jnp

    sigint = _SigintFlag.current()  # installed by the entry point (@interruptible)
    init_fn, chunk_fn, start_fn = _compiled(batched, hyper_batched)
    interactive = callback is not None or progress
    target = 0.1 if interactive else 0.5  # seconds per chunk
    # First chunk: short with a bar or callback; otherwise about 10^8 parameter-steps
    # (~0.1 s; small runs and batches finish in one dispatch).
    fresh = isinstance(state, Fresh)
    n_params = max(1, _tree_size(state.x0 if fresh else state.x))
    size = chunk_size or (64 if interactive else max(1, min(100_000, 10**8 // n_params)))
    t0 = time.perf_counter()
    if fresh and size < max_steps:
        # More than one chunk: the chunk function is needed (and compiled) anyway.
        state, fresh = init_fn(cfg, state.x0, hyper, args, tols), False
        jax.block_until_ready(state.status)  # compiling init counts as compile time

    def run(state: Any, stop_at: int) -> State:
        if isinstance(state, Fresh):
            return start_fn(cfg, state.x0, hyper, args, tols, np.int32(stop_at))
        return chunk_fn(cfg, state, hyper, args, tols, np.int32(stop_at))

    # The state's layout follows from cfg and x; keying on them is cheaper than the state.
    key = signature(state.x0 if fresh else state.x, hyper, args)
    key = None if key is None else (cfg, batched, hyper_batched, fresh, key)
    if key is None or key not in _WARM:
        # A zero-step call compiles the loop, so chunk timing below measures only steps.
        warm = run(state, 0)
        jax.block_until_ready(warm.status)
        # A fresh run starts again (init is cheap), unless Ctrl-C came while compiling.
        state = state if fresh and not sigint.hit else warm
        if key is not None:
            _WARM.add(key)
    if sigint.hit and isinstance(state, Fresh):
        # Ctrl-C while checking or tracing: the result is the start, f and gradient there.
        state = init_fn(cfg, state.x0, hyper, args, tols)
    compile_time = time.perf_counter() - t0
    bar = Progress(max_steps, progress)
    done_at = 0
    final_code: int | None = None
    run_start = time.perf_counter()
    try:
        while True:
            if sigint.hit:
                final_code = stopping.CODES[Status.INTERRUPTED]
                break
            stop_at = min(done_at + size, max_steps)
            steps_run = stop_at - done_at
            t_chunk = time.perf_counter()
            state = run(state, stop_at)
            done_at = stop_at
            if done_at >= max_steps:
                break  # no need to wait for the status here: finish() fetches it
            step, status = jax.device_get((state.step, state.status))
            elapsed = time.perf_counter() - t_chunk
            if not (np.asarray(status) == stopping.RUNNING).any():
                break
            if sigint.hit:
                final_code = stopping.CODES[Status.INTERRUPTED]
                break
            if progress:
                f = np.asarray(jax.device_get(state.f))
                g = np.sqrt(np.asarray(jax.device_get(state.grad_norm)))
                bar.update(int(np.max(step)), f"f {np.min(f):.4g}  |grad| {np.min(g):.2e}")
            if callback is not None:
                try:
                    callback(snapshot(state))
                except StopIteration:
                    final_code = stopping.CODES[Status.STOPPED]
                    break
                except KeyboardInterrupt:
                    final_code = stopping.CODES[Status.INTERRUPTED]
                    break
            if chunk_size is None:
                # Aim for ~target seconds per chunk: each chunk costs a dispatch
                # (~0.1 ms), so few, long chunks; with a bar or callback grow
                # geometrically so the first updates come quickly.
                per_step = max(elapsed, 1e-6) / max(steps_run, 1)
                want = max(int(target / per_step), 1)
                size = min(size * 2, want) if interactive else want
    finally:
        if progress:
            f = np.asarray(jax.device_get(state.f))
            bar.update(int(np.max(jax.device_get(state.step))), f"f {np.min(f):.4g}")
            bar.close()
    if final_code is not None:
        state = state._replace(
            status=jnp.where(state.status == stopping.RUNNING, jnp.int32(final_code), state.status)
        )
    return state, time.perf_counter() - run_start, compile_time


# --------------------------------------------------------------------------- results
def _to_numpy(tree: Any) -> Any:
    """The tree's leaves as numpy arrays.

    ``np.asarray`` of a CPU array is a read-only view of its buffer (about 1 us a leaf,
    no copy); ``jax.device_get`` copies and costs ~5 us a leaf even when tiny.
    Results are immutable, so views are all they need.
    """
    import jax

    return jax.tree.map(np.asarray, tree)


_STATUS_OF_CODE = np.array(
    [stopping.FROM_CODE.get(c) for c in range(max(stopping.FROM_CODE) + 1)], dtype=object
)


class Messages:
    """Each run's stop message, built when first asked for (10,000 take ~10 ms).

    Holds only per-run scalars, and pickles (``suggestion`` must be a module-level
    function for that: a batch's generic hint is).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        statuses: np.ndarray,
        columns: dict[str, Any],
        tols: dict,
        suggestion: Callable[[], str],
    ) -> None:
        self.shape = shape
        self.statuses = statuses
        self.columns = {
            k: v if np.shape(v) == shape else np.broadcast_to(v, shape)
            for k, v in ((k, np.asarray(v)) for k, v in columns.items())
        }
        self.tols = tols
        self.suggestion = suggestion

    def __call__(self) -> np.ndarray:
        bad = (Status.DIVERGED, Status.NONFINITE)
        statuses = np.asarray(self.statuses, dtype=object).ravel().tolist()
        hint = self.suggestion() if any(st in bad for st in statuses) else ""
        out = np.empty(len(statuses), dtype=object)
        names = list(self.columns)
        # Plain Python lists: per-run scalars without numpy overhead.
        columns = [v.ravel().tolist() for v in self.columns.values()]
        for i, (st, *values) in enumerate(zip(statuses, *columns)):
            out[i] = stopping.stop_message(
                st,
                **dict(zip(names, values)),
                suggestion=hint if st in bad else "",
                **self.tols,
            )
        return out.reshape(self.shape)


def batch_hint() -> str:
    """The learning-rate hint of a batch's diverged runs (one curvature for all is moot)."""
    return "try a smaller learning rate"


def finish(
    cfg: Config,
    state: Any,
    args: tuple,
    tols: dict,
    suggestion: Callable[[], str],
) -> dict:
    """Host-side fields shared by single and batched results (numpy, batch axes first).

    Returns a dict with x, fun, jac, grad_norm, nit, nfev, status (objects), message,
    success and the truncated history pieces.
    """
    import jax

    s = _to_numpy(state._replace(opt_state=()))
    step = np.asarray(s.step)
    codes = np.asarray(s.status)
    # A run that was still running when the loop ended reached max_steps; code 0
    # can only remain if a chunk ended exactly there without the rule firing.
    codes = np.where(codes == stopping.RUNNING, stopping.CODES[Status.MAX_STEPS], codes)
    statuses = _STATUS_OF_CODE[codes.reshape(-1)].reshape(codes.shape)  # Status per run
    nonfinite = codes == stopping.CODES[Status.NONFINITE]
    moved = step >= 1
    use_prev = nonfinite & moved
    x = s.x
    fun = np.asarray(s.f)
    jac = s.grad
    nb = step.ndim
    # The loops keep squared norms (see _tree_sq).
    gnorm = np.sqrt(s.grad_norm) if cfg.need_grad_norm else _np_tree_norm(s.grad, nb)
    if cfg.need_step_size:
        step_size = np.sqrt(s.step_size)
    else:
        if cfg.keep_prev:
            diff = jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), s.x, s.prev_x)
            step_size = _np_tree_norm(diff, nb)
        else:
            step_size = np.full(step.shape, np.nan)  # only the xtol message shows it
    if use_prev.any() and cfg.keep_prev:
        prev = s.prev_x
        pick = lambda a, b: np.where(  # noqa: E731
            use_prev.reshape(use_prev.shape + (1,) * (np.ndim(a) - use_prev.ndim)), a, b
        )
        x = jax.tree.map(pick, prev, x)
        fun = np.where(use_prev, np.asarray(s.f_prev), fun)
        # The gradient at the last finite iterate: one more evaluation, only here.
        obj = cfg.objective
        _, g_prev = _eval_batched(obj, prev, args, use_prev.ndim)
        jac = jax.tree.map(pick, g_prev, jac)
        gnorm = np.where(use_prev, _np_tree_norm(g_prev, use_prev.ndim), gnorm)
    hist = None
    if cfg.record:
        last_row = -(-step // cfg.record_every)
        n_rows = int(np.max(last_row)) + 1
        nb = np.ndim(step)
        if nb == 0 or np.all(step == step.flat[0]):
            # One run, or runs that all stopped at the same step (max_steps, say): steps
            # 0, k, 2k, ... and the last step, one read-only row shared by every run.
            steps = _steps_view(n_rows, cfg.record_every, int(step.flat[0]))
            steps = np.broadcast_to(steps, np.shape(step) + (n_rows,))
            ragged = False
        else:
            rows = np.arange(n_rows)
            steps = np.minimum(rows * cfg.record_every, step[..., None])
            steps = np.where(rows <= last_row[..., None], steps, step[..., None])
            ragged = True

        def cut(buf: Any) -> np.ndarray:
            """The first n_rows rows, read-only: a view of the buffer (a copy if that
            would keep a buffer over twice as long alive), or, where runs stopped at
            different steps, a copy in which rows past a run's end repeat its last row
            (a gather of every row took 0.3 s for 1,000 runs x 4,000 steps)."""
            buf = np.asarray(buf)
            out = buf[(slice(None),) * nb + (slice(0, n_rows),)]
            if not ragged and 2 * n_rows > buf.shape[nb]:
                return out
            out = out.copy()
            if ragged:
                flat = out.reshape((-1,) + out.shape[nb:])  # a view: (runs, rows, ...)
                lasts, group = np.unique(last_row.reshape(-1), return_inverse=True)
                for i, last in enumerate(lasts.tolist()[:-1]):  # the longest runs: no tail
                    runs = np.flatnonzero(group == i)
                    flat[runs, last + 1 :] = flat[runs, last][:, None]
            out.flags.writeable = False
            return out

        # One cut of the whole table (x and the scalars), then views of its columns.
        bufs = {k: cut(v) if k in ("table", "scalars") else v for k, v in s.hist.items()}
        if "x" in bufs:
            bufs["x"] = jax.tree.map(cut, bufs["x"])
        x_rows, scalars = _history_columns(bufs, s.x, nb)
        names = _scalar_fields(cfg.record)

        def column(name: str) -> np.ndarray | None:
            if name not in names:
                return None
            values = scalars[..., names.index(name)]
            if name == "fun":
                return values
            norms = np.sqrt(values)  # the loop records squared norms (see _write)
            norms.flags.writeable = False
            return norms

        hist = History(
            steps=steps.astype(np.int64, copy=False),
            x=x_rows if "x" in cfg.record else None,
            fun=column("fun"),
            grad_norm=column("grad_norm"),
            step_size=column("step_size"),
        )
    f_stop = np.asarray(s.f)
    messages = Messages(
        shape=codes.shape,
        statuses=statuses,
        # Only per-run scalars: the history buffers are not kept alive.
        columns={
            "nit": step,
            "fun": fun,
            "f0": s.f0,
            "f_stop": f_stop,
            "grad_norm": gnorm,
            "step_size": step_size,
            "f_change": np.abs(f_stop - np.asarray(s.f_prev)),
            "grad_stop": np.sqrt(s.grad_norm),
        },
        tols=tols,
        suggestion=suggestion,
    )

    return dict(
        x=x,
        fun=fun,
        jac=jac,
        grad_norm=gnorm,
        nit=step.astype(np.int64),
        nfev=(np.asarray(s.nfev) if cfg.extra_args else step + 1).astype(np.int64),
        status=statuses,
        success=functools.reduce(
            np.logical_or, [codes == stopping.CODES[st] for st in Status if st.success]
        ),
        message=messages,  # a Messages: call it for the array
        history=hist,
    )


def _history_columns(hist: dict, x: Any, batch_ndim: int) -> tuple[Any, np.ndarray | None]:
    """The history's x (x's structure, each leaf with the rows axis after the batch
    axes) and scalars (rows, k), as numpy views of the buffers of :func:`_history`."""
    import jax

    if "table" not in hist:
        scalars = np.asarray(hist["scalars"]) if "scalars" in hist else None
        return hist.get("x"), scalars
    table = np.asarray(hist["table"])
    lead = table.shape[: batch_ndim + 1]  # batch axes, rows
    leaves, treedef = jax.tree.flatten(x)
    out, at = [], 0
    for leaf in leaves:
        shape = np.shape(leaf)[batch_ndim:]
        size = int(np.prod(shape, dtype=np.int64))
        out.append(table[..., at : at + size].reshape(lead + shape))
        at += size
    return jax.tree.unflatten(treedef, out), table[..., at:]


@functools.lru_cache(maxsize=16)
def _step_numbers(n_rows: int, record_every: int, last: int) -> np.ndarray:
    """A run's history step numbers, read-only and shared between equal runs (a fresh
    20,000-entry array costs ~100 us of page faults after XLA's allocations)."""
    steps = np.arange(0, n_rows * record_every, record_every, dtype=np.int64)
    steps[-1] = last
    steps.flags.writeable = False
    return steps


def _steps_view(n_rows: int, record_every: int, last: int) -> np.ndarray:
    """A read-only view of the shared step numbers (a view cannot be made writable)."""
    return _step_numbers(n_rows, record_every, last).view()


def _np_tree_norm(tree: Any, batch_ndim: int) -> np.ndarray:
    import jax

    total = 0.0
    for leaf in jax.tree.leaves(tree):
        flat = np.asarray(leaf, np.float64).reshape(np.shape(leaf)[:batch_ndim] + (-1,))
        if batch_ndim == 0:
            total = total + np.dot(flat, flat)  # BLAS: 10^7 entries in ~5 ms, no temporary
        else:
            total = total + np.einsum("...i,...i->...", flat, flat)
    return np.sqrt(total)


def _eval_batched(obj: Objective, x: Any, args: tuple, batch_ndim: int) -> tuple[Any, Any]:
    import jax

    fn = lambda xx: obj(xx, args)  # noqa: E731
    for _ in range(batch_ndim):
        fn = jax.vmap(fn)
    f, g = fn(x)
    return np.asarray(f), jax.tree.map(np.asarray, g)


# --------------------------------------------------------------------------- minimize
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
    opts = _validate_options(
        gtol=gtol,
        xtol=xtol,
        ftol=ftol,
        max_steps=max_steps,
        record_every=record_every,
        diverge_factor=diverge_factor,
        callback=callback,
        chunk_size=chunk_size,
    )
    objective = make_objective(fun, grad)
    x0 = prepare_x0(x0)
    args = _check_args(args)
    optimizer = resolve_optimizer(optimizer if optimizer is not None else _default_optimizer())
    check_objective(objective, x0, args)
    optimizer, make_optimizer, hyper, rate = plan_optimizer(optimizer, objective, x0, args)
    record = history_fields(history)
    rows = history_rows(max_steps, record_every)
    check_max_history_bytes(max_history_bytes)
    check_history_budget(record, x0, rows, 1, max_history_bytes)
    extra = needs_extra_args(optimizer, x0)
    cfg = Config(
        objective=objective,
        make_optimizer=make_optimizer,
        extra_args=extra,
        record=record,
        record_every=record_every,
        rows=rows if record else 0,
        # The gradient norm also catches a nan gradient at once; only runs too large to
        # carry the previous iterate skip it when no rule or history needs it (a nan
        # gradient then shows as a nan f one step later).
        need_grad_norm=opts["gtol"] > 0
        or "grad_norm" in record
        or _tree_size(x0) <= KEEP_PREV_MAX_SIZE,
        need_step_size=opts["xtol"] > 0 or "step_size" in record,
        keep_prev=_tree_size(x0) <= KEEP_PREV_MAX_SIZE,
        # One run is latency-bound: the step-by-step loop's checks feed only the loop
        # condition, which the CPU predicts, while the fast block's poison sits on the
        # chain from x to the next x (2x slower per step on a 3-parameter problem).
        fast=False,
        rules=tuple(r for r in ("gtol", "xtol", "ftol") if opts[r] > 0),
        lean=_tree_size(x0) > KEEP_PREV_MAX_SIZE and not extra,
    )
    tols = _tolerances(opts, x0)
    t_init = t_run = time.perf_counter()
    if callback is None and not progress:
        state = Fresh(x0)  # init and the first chunk in one call
    else:
        init_fn = _compiled(False, False)[0]
        state = init_fn(cfg, x0, hyper, args, tols)
    init_time = time.perf_counter() - t_init  # mostly compilation on a first call

    def snapshot(s: State) -> Result:
        return _snapshot(s)

    state, _, compile_time = drive(
        cfg,
        state,
        hyper,
        args,
        tols,
        batched=False,
        hyper_batched=False,
        max_steps=max_steps,
        callback=callback,
        progress=progress,
        chunk_size=chunk_size,
        snapshot=snapshot,
    )
    fields = finish(
        cfg,
        state,
        args,
        _message_tols(opts),
        suggestion=lambda: _suggest(objective, x0, args, optimizer),
    )
    if not cfg.keep_prev and fields["status"].item() is Status.NONFINITE and fields["nit"] >= 1:
        with _SigintFlag.unheard():  # the last finite iterate, even after a Ctrl-C
            fields.update(_replay(objective, x0, optimizer, args, int(fields["nit"]) - 1, opts))
    result = Result(
        x=_unbatch(fields["x"]),
        fun=float(fields["fun"]),
        jac=_unbatch(fields["jac"]),
        grad_norm=float(fields["grad_norm"]),
        nit=int(fields["nit"]),
        nfev=int(fields["nfev"]),
        status=fields["status"].item(),
        success=bool(fields["success"]),
        message=_with_direction(str(fields["message"]().item()), fields, x0)
        + _local_note(objective, fields, x0),
        history=fields["history"],
        objective=objective,
        args=args,
        wall_time=time.perf_counter() - t_run - compile_time - init_time,
        compile_time=compile_time + init_time,
        learning_rate=rate,
    )
    if throw and not result.success:
        raise RuntimeError(f"minimize did not converge: {result.message}")
    return result


def _replay(
    objective: Objective, x0: Any, optimizer: Any, args: tuple, steps: int, opts: dict
) -> dict:
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
        grad_norm=_np_tree_norm(g, 0),
    )


def _few(values: Any, digits: int = 3, tiny: float = 0.0) -> str:
    """``(a, b, ...)``: at most six entries of a vector, for a message."""
    v = np.ravel(np.asarray(values, np.float64))
    shown = ", ".join("0" if abs(a) < tiny else f"{a:.{digits}g}" for a in v[:6])
    return f"({shown}{', ...' if v.size > 6 else ''})"


def _with_direction(message: str, fields: dict, x0: Any) -> str:
    """An unbounded run's message, with the direction f kept falling along."""
    if fields["status"].item() is not Status.UNBOUNDED:
        return message
    import jax

    flat = lambda t: np.concatenate([np.ravel(l) for l in jax.tree.leaves(t)])  # noqa: E731
    d = flat(fields["x"]) - flat(x0)
    norm = float(np.linalg.norm(d))
    if not np.isfinite(norm) or norm == 0:
        return message
    where = f"along the direction {_few(d / norm, tiny=5e-4)}"
    return message.replace("f looks unbounded below", f"f looks unbounded below {where}", 1)


def _local_note(objective: Objective, fields: dict, x0: Any) -> str:
    """For a built-in function that converged above its known global minimum: say so,
    and whether it is a local minimum (by the Hessian's eigenvalues there)."""
    lower = getattr(objective.fun, "lower_minimum", None)
    if lower is None or not bool(fields["success"]):
        return ""
    n = _tree_size(x0)
    m = lower(float(fields["fun"]), n)
    if m is None:
        return ""
    best = f"f = {m.f:.6g} at {_few(m.x, 6)}"
    from .calculus import classify
    from .result import MAX_KIND_PARAMETERS

    point = classify(objective.fun, fields["x"]) if n <= MAX_KIND_PARAMETERS else None
    if point is not None and point.stationary and point.kind == "minimum":
        return f"; a local minimum: the global minimum is {best}"
    return f"; above the global minimum ({best}), not a minimum the gradient and Hessian confirm"


def _snapshot(s: State) -> Result:
    import jax

    x, f, g, gn, step, nfev = jax.device_get((s.x, s.f, s.grad, s.grad_norm, s.step, s.nfev))
    gn = np.sqrt(gn)  # kept squared in the loop
    nfev = step + 1 if isinstance(nfev, tuple) else nfev
    return Result(
        x=_unbatch(x),
        fun=float(f),
        jac=_unbatch(g),
        grad_norm=float(gn),
        nit=int(step),
        nfev=int(nfev),
        status=None,  # type: ignore[arg-type]  # still running
        success=False,
        message="running",
    )


def _unbatch(tree: Any) -> Any:
    import jax

    return jax.tree.map(np.asarray, tree)


def _tree_size(x: Any) -> int:
    import jax

    return sum(int(np.size(l)) for l in jax.tree.leaves(x))


def _default_optimizer() -> Any:
    from .optimizers import gd

    return gd()  # learning rate "auto": 1/L at the start


def _check_args(args: Any) -> tuple:
    """``args`` as a tuple; its leaves are traced, so they must be arrays or numbers."""
    import jax

    if not isinstance(args, tuple):
        args = (args,) if not isinstance(args, list) else tuple(args)
    for leaf in jax.tree.leaves(args):
        kind = getattr(getattr(leaf, "dtype", None), "kind", None)
        if kind is None and not isinstance(leaf, (int, float, bool, np.number)):
            raise TypeError(
                "args must hold arrays or numbers (they are passed into the compiled "
                f"loop); got {type(leaf).__name__} {leaf!r}: close over it in fun instead"
            )
    return args


def _validate_options(**kw: Any) -> dict:
    out = dict(kw)
    for name in ("gtol", "xtol", "ftol"):
        out[name] = _check_tol(kw[name], name)
    out["max_steps"] = _check_int(kw["max_steps"], "max_steps")
    if out["max_steps"] >= 2**31:
        raise ValueError(f"max_steps must be below 2**31, got {out['max_steps']}")
    out["record_every"] = _check_int(kw["record_every"], "record_every")
    if kw["chunk_size"] is not None:
        out["chunk_size"] = _check_int(kw["chunk_size"], "chunk_size")
    df = kw["diverge_factor"]
    if isinstance(df, bool) or not isinstance(df, numbers.Real) or not df > 0:
        raise ValueError(f"diverge_factor must be a positive number, got {df!r}")
    if kw["callback"] is not None and not callable(kw["callback"]):
        raise TypeError(f"callback must be callable, got {type(kw['callback']).__name__}")
    return out


def _tolerances(opts: dict, x0: Any) -> Tolerances:
    import jax

    # numpy scalars: jit takes them as arguments without a device round trip each.
    dtype = np.dtype(jax.tree.leaves(x0)[0].dtype)
    big = float(np.finfo(dtype).max)
    # The loops compare squared norms with squared tolerances, and XLA:CPU reads a
    # number below the smallest normal one as 0: a smaller gtol or xtol cannot be
    # told apart from it, so it is refused rather than quietly changed.
    floor = float(np.sqrt(np.finfo(dtype).tiny))
    for name in ("gtol", "xtol"):
        if 0 < opts[name] < floor:
            raise ValueError(
                f"{name} must be 0 (off) or at least {floor:.3g} in {dtype.name} (a smaller "
                f"norm squared underflows to 0 in the compiled loop), got {opts[name]!r}"
            )
    return Tolerances(
        gtol=dtype.type(min(opts["gtol"], big)),
        xtol=dtype.type(min(opts["xtol"], big)),
        ftol=dtype.type(min(opts["ftol"], big)),
        max_steps=np.int32(opts["max_steps"]),
        diverge_factor=dtype.type(min(opts["diverge_factor"], big)),
    )


def _message_tols(opts: dict) -> dict:
    return {k: opts[k] for k in ("gtol", "xtol", "ftol", "max_steps", "diverge_factor")}


def _suggest(objective: Objective, x0: Any, args: tuple, optimizer: Any) -> str:
    """A learning-rate hint for a diverged run, from the curvature at x0 when possible."""
    try:
        from .curvature import largest_algebraic_eigenvalue

        lam = largest_algebraic_eigenvalue(objective, x0, args)
    except Exception:  # noqa: BLE001 - a hint only; never fail the run over it
        return "try a smaller learning rate"
    if not np.isfinite(lam) or lam <= 0:
        return "try a smaller learning rate"
    return (
        f"try a smaller learning rate: the curvature at x0 is about {lam:.3g}, so gradient "
        f"descent needs learning_rate < 2/L = {2 / lam:.3g} (1/L = {1 / lam:.3g} is a safe start)"
    )
