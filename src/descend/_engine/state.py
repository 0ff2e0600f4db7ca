"""The compiled loop's data: its static configuration, its carry and the history table.

``Config`` is everything static about a run (hashable: it keys the compiled loop);
``Tolerances`` and the optimizer's numbers are inputs; ``State`` is the carry every
loop shares, and :func:`init_state` builds it at the start point.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import stopping
from .._objective import Objective

__all__ = [
    "Config",
    "Engine",
    "State",
    "Tolerances",
    "history_row",
    "init_state",
    "linesearch_evals",
    "new_history",
    "scalar_fields",
    "tree_sq",
    "write_row",
]


class Engine(enum.Enum):
    """Which compiled loop runs (picked once, by :func:`descend._engine.plan.config`)."""

    STEPWISE = "stepwise"  # the rules after every step (one run; batches with line searches)
    LARGE = "large"  # one large run: no gradient carried between steps
    BLOCKS = "blocks"  # batches: blocks of steps without bookkeeping, a stop replayed
    MAPPED = "mapped"  # small batches: the one-run loop, run after run (quick to compile)


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
    # a copy of x per step; runs too large for it are replayed after a nan instead.
    keep_prev: bool = True
    engine: Engine = Engine.STEPWISE
    rules: tuple[str, ...] = ()  # the tolerance rules that are on ("gtol", "xtol", "ftol")
    block: int = 256  # steps per block (Engine.BLOCKS; a block with a stop is replayed)


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


def tree_sq(tree: Any) -> Any:
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


def linesearch_evals(opt_state: Any) -> Any:
    """Function evaluations spent inside an optax line search this step (else 0)."""
    import jax.numpy as jnp
    import optax

    n = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps", None)
    return jnp.int32(0) if n is None else jnp.asarray(n, jnp.int32)


def scalar_fields(record: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in record if n != "x")


def write_row(
    hist: dict,
    names: tuple[str, ...],
    row: Any,
    x: Any,
    f: Any,
    gn: Any,
    ss: Any,
    active: Any = None,
) -> dict:
    """Write one history row: x and the scalars as one row of a table (see new_history).

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

    # gn and ss come squared (see tree_sq) and the history keeps them so: finish()
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


def history_row(step: Any, record_every: int) -> Any:
    """The history row of ``step``: ceil(step / record_every), so with record_every=k the
    rows hold steps 0, k, 2k, ... and the last step with no branch in the loop."""
    from jax import lax

    if record_every == 1:
        return step
    # lax.div because step >= 0 (floor_divide adds sign fix-ups).
    return lax.div(step + (record_every - 1), step.dtype.type(record_every))


def new_history(cfg: Config, x0: Any, dtype: Any) -> dict:
    """The history buffers, zeros: {"table": (rows, x's entries + scalars)} where every
    leaf of x has f's dtype; otherwise {"x": x's leaves with rows first, "scalars":
    (rows, scalars)}. A field not recorded has no columns."""
    import jax
    import jax.numpy as jnp

    names = scalar_fields(cfg.record)
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


def init_state(cfg: Config, x0: Any, hyper: Any, args: tuple, tols: Tolerances) -> State:
    """Evaluate the start point, allocate the history and decide if we are done already."""
    import jax.numpy as jnp

    f, g = cfg.objective(x0, args)
    gn = tree_sq(g).astype(f.dtype)
    zero = jnp.zeros((), f.dtype)
    names = scalar_fields(cfg.record)
    hist = write_row(new_history(cfg, x0, f.dtype), names, 0, x0, f, gn, zero)
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
