"""The compiled training program: epochs of shuffled mini-batches, with the stopping rules.

One compiled call runs up to ``capacity`` epochs (a while loop; the count is data), and
returns one record per epoch. An epoch is a ``lax.scan`` over the mini-batches of a
permutation drawn from ``(seed, epoch)``, then a last, smaller batch if the batch size
does not divide the data. Everything that is a number (the optimizer's, ``l2``, the
seed, the epoch limit, patience, tolerances) is an input, so a new number compiles
nothing; the program is cached on what fixes its shapes.

On several local devices (``Shape.devices > 1``) the program is data parallel over a
1-D mesh (axis ``"batch"``): the data, parameters and optimizer state are whole on
every device, each mini-batch's rows are split over the devices (a constraint on the
gathered rows), and XLA's SPMD partitioner sums the gradient across them (an
all-reduce: the same mean as on one device, up to the order of the sum). A batch whose
rows do not divide by the device count (the leftover one, or the whole set when full
batch) is computed whole on every device: the same numbers everywhere. On one device
the program carries no sharding at all.

Over several processes (``Shape.parted``) the data's rows lie in blocks, one per
device (see :mod:`descend._fit.parts`), and the batch's row numbers are the same
everywhere: for a built-in model each device sums the losses of the batch rows in its
own block and one all-reduce sums the gradients (no row moves); for a loss of one's own
(a mean of its own making) the rows are gathered first, then split as above.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import stopping
from .._engine.state import tree_sq
from ..stopping import Status

__all__ = ["Shape", "Numbers", "TrainState", "Records", "programs", "capacity", "replicated"]

RUNNING = stopping.RUNNING
CODE = {s: stopping.CODES[s] for s in Status}


class Shape(NamedTuple):
    """What fixes a training program's shapes; hashable: it keys the compiled program."""

    model: Any  # Model.spec
    make_optimizer: Callable[[Any], Any]  # numbers -> optax transformation
    n_train: int
    n_val: int  # 0: no validation
    batch_size: int  # = n_train for full batch
    full_batch: bool  # batch_size=None: one step an epoch, gtol tested
    early_stopping: bool
    capacity: int  # epochs one call can run (records buffer)
    record_params: bool = False  # the parameters after every step (small models: paths)
    penalized: bool = True  # l2 > 0 (its value is data; without it no penalty is traced)
    devices: int = 1  # the first devices each batch is split over (1: no sharding)
    parted: bool = False  # the rows split over processes (see parts.py), not whole on each


class Numbers(NamedTuple):
    """The numbers of a fit (arrays in the program)."""

    optimizer: Any  # dict of the optimizer's numbers, or None
    l2: Any
    gtol: Any
    min_delta: Any
    patience: Any
    max_epochs: Any
    diverge_factor: Any
    seed: Any


class TrainState(NamedTuple):
    """The carry of the training loop (everything a checkpoint saves, but the history)."""

    step: Any  # epochs done
    status: Any
    params: Any
    opt_state: Any
    best_params: Any
    best_val: Any  # best validation loss (inf: none yet)
    best_epoch: Any  # 0: none yet
    wait: Any  # epochs since the best one
    loss0: Any  # the first batch's loss at the start (for the divergence test; nan: not yet)
    last_good: Any  # epochs done when params were last finite


class Records(NamedTuple):
    """One call's records: rows 0..count-1 are its epochs."""

    count: Any
    train_loss: Any  # (capacity,)
    val_loss: Any
    val_metric: Any
    batch_loss: Any  # (capacity, batches per epoch)
    grad_norm: Any  # full batch: |g| at the epoch's start (nan otherwise)
    params: Any = None  # record_params: (capacity, batches per epoch, *leaf shape) leaves


def capacity(batches_per_epoch: int) -> int:
    """Epochs one call can run: a records buffer of at most ~64k batch losses."""
    k = max(1, 65536 // max(batches_per_epoch, 1))
    return min(256, 1 << (k.bit_length() - 1))


def batches(n: int, batch_size: int) -> tuple[int, int]:
    """(full batches, size of the last smaller one or 0)."""
    return n // batch_size, n % batch_size


def mesh(devices: int) -> Any:
    """The 1-D mesh (axis ``"batch"``) of the first ``devices`` devices: local ones, or
    with several processes every process's, process by process."""
    from jax.sharding import Mesh

    from .. import _multi

    ordered = sorted(_multi.devices(), key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(ordered[:devices]), ("batch",))


def replicated(devices: int) -> Any:
    """Whole on each of the first ``devices`` local devices."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(mesh(devices), PartitionSpec())


def _split(shape: Shape, tree: Any, rows: int) -> Any:
    """``tree``'s arrays split by rows over the devices when ``rows`` divides by their
    count, else whole on each; untouched on one device."""
    if shape.devices == 1:
        return tree
    from jax.lax import with_sharding_constraint
    from jax.sharding import NamedSharding, PartitionSpec

    spec = PartitionSpec("batch") if rows % shape.devices == 0 else PartitionSpec()
    return with_sharding_constraint(tree, NamedSharding(mesh(shape.devices), spec))


def _gather(shape: Shape, X: Any, y: Any, pos: Any, after: Any) -> tuple:
    """Rows ``pos`` of ``X`` and ``y``, split by rows over the devices
    (``shape.parted``), whole on each device: each device takes those in its block
    (zeros for the others) and the blocks' rows are summed across devices (adding
    zeros: exact).

    One all-reduce (y rides as a column of X: class indices are exact in floats), and
    it waits for ``after`` (the parameters it is for): XLA:CPU runs collectives that
    do not depend on each other concurrently, in an order that may differ between
    processes, and gloo then pairs one process's all-reduce with another's (a size
    mismatch, or a hang). The wait is a real use of ``after`` (an optimization barrier
    is gone by the time the runtime orders the work): rows are taken only while it is
    finite, which changes nothing, since an epoch with non-finite parameters is
    discarded."""
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.sharding import PartitionSpec

    def local(pos: Any, ok: Any, X: Any, y: Any) -> tuple:
        size = X.shape[0]
        j = pos - lax.axis_index("batch") * size
        inside = (j >= 0) & (j < size) & ok
        j = jnp.clip(j, 0, size - 1)
        rows = jnp.concatenate([X[j], y[j, None].astype(X.dtype)], axis=1)
        rows = lax.psum(jnp.where(inside[:, None], rows, jnp.zeros((), X.dtype)), "batch")
        return rows[:, :-1], rows[:, -1].astype(y.dtype)

    whole, split = PartitionSpec(), PartitionSpec("batch")
    return jax.shard_map(
        local, mesh=mesh(shape.devices), in_specs=(whole, whole, split, split), out_specs=whole
    )(pos, _finite(after), X, y)


def _blockwise_value_and_grad(
    shape: Shape, model: Any, nums: Numbers, p: Any, X: Any, y: Any, pos: Any
) -> tuple:
    """A built-in model's loss of rows ``pos`` and its gradient, with the rows where
    they lie (``shape.parted``): each device sums the losses of the rows in its block,
    each over the batch size, and its gradient; one all-reduce sums them (and, using
    ``p``, waits for it: see :func:`_gather`). No row moves between processes, only the
    gradient; the same mean as one device, up to the order of the sum."""
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.sharding import PartitionSpec

    def local(p: Any, pos: Any, X: Any, y: Any) -> tuple:
        size = X.shape[0]
        j = pos - lax.axis_index("batch") * size
        weight = ((j >= 0) & (j < size)).astype(X.dtype) / pos.shape[0]
        j = jnp.clip(j, 0, size - 1)
        mine = lambda q: jnp.sum(weight * model.row_losses(q, X[j], y[j]))  # noqa: E731
        # the gradient of this device's share: varying over the devices, summed here
        value, g = jax.value_and_grad(mine)(lax.pcast(p, "batch", to="varying"))
        return lax.psum((value, g), "batch")

    whole, split = PartitionSpec(), PartitionSpec("batch")
    value, g = jax.shard_map(
        local, mesh=mesh(shape.devices), in_specs=(whole, whole, split, split), out_specs=whole
    )(p, pos, X, y)
    if shape.penalized:
        pv, pg = jax.value_and_grad(model.penalty)(p, nums.l2)
        value, g = value + pv, jax.tree.map(jnp.add, g, pg)
    return value, g


def _whole(shape: Shape, tree: Any) -> Any:
    """``tree`` whole on every device (parameters, optimizer state); untouched on one."""
    if shape.devices == 1:
        return tree
    from jax.lax import with_sharding_constraint

    return with_sharding_constraint(tree, replicated(shape.devices))


def _finite(tree: Any) -> Any:
    import jax
    import jax.numpy as jnp

    leaves = [jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(tree)]
    return functools.reduce(jnp.logical_and, leaves, jnp.bool_(True))


def _epoch(model: Any, shape: Shape, data: tuple, nums: Numbers, s: TrainState) -> tuple:
    """One epoch from ``s``: (state, (train loss, val loss, val metric, batch losses, |g|))."""
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    X, y, Xv, yv = data[:4]
    opt = shape.make_optimizer(nums.optimizer)
    loss = functools.partial(model.loss, l2=nums.l2 if shape.penalized else 0.0)
    dtype = jax.tree.leaves(s.params)[0].dtype

    def value_and_grad(p: Any, rows: Any) -> tuple:
        """The loss of the training rows ``rows`` (None: all) at ``p``, and its gradient."""
        if shape.parted:  # the rows lie in blocks over the processes
            pos = data[4] if rows is None else data[4][rows]
            if model.kind != "custom":
                return _blockwise_value_and_grad(shape, model, nums, p, X, y, pos)
            batch = _gather(shape, X, y, pos, p)
        else:
            batch = (X, y) if rows is None else (X[rows], y[rows])
        n = shape.n_train if rows is None else rows.shape[0]
        return jax.value_and_grad(loss)(p, *_split(shape, batch, n))

    def step(carry: tuple, rows: Any) -> tuple:
        p, o = carry
        value, g = value_and_grad(p, rows)
        updates, o = opt.update(g, o, p)
        p, o = _whole(shape, (optax.apply_updates(p, updates), o))
        return (p, o), (value, p if shape.record_params else None)

    gn = jnp.asarray(jnp.nan, dtype)
    stop_g = jnp.bool_(False)
    if shape.full_batch:
        value, g = value_and_grad(s.params, None)
        gn = jnp.sqrt(tree_sq(g)).astype(dtype)
        stop_g = gn <= nums.gtol
        updates, o = opt.update(g, s.opt_state, s.params)
        p = jax.tree.map(
            lambda a, b: jnp.where(stop_g, a, b), s.params, optax.apply_updates(s.params, updates)
        )
        o = jax.tree.map(lambda a, b: jnp.where(stop_g, a, b), s.opt_state, o)
        losses, train_loss = value[None], value
        path = jax.tree.map(lambda l: l[None], p) if shape.record_params else None
    else:
        key = jax.random.fold_in(jax.random.key(nums.seed), s.step)
        perm = jax.random.permutation(key, shape.n_train)
        full, last = batches(shape.n_train, shape.batch_size)
        rows = perm[: full * shape.batch_size].reshape(full, shape.batch_size)
        (p, o), (losses, path) = lax.scan(step, (s.params, s.opt_state), rows)
        total = jnp.sum(losses) * shape.batch_size
        if last:
            (p, o), (tail, end) = step((p, o), perm[full * shape.batch_size :])
            losses = jnp.concatenate([losses, tail[None]])
            path = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), path, end)
            total = total + tail * last
        train_loss = total / shape.n_train
    if shape.n_val:
        if shape.parted:
            Xv, yv = _gather(shape, Xv, yv, data[5], p)  # after the epoch's steps
        val_loss, val_metric = model.loss_and_metric(p, Xv, yv, nums.l2 if shape.penalized else 0.0)
    else:
        val_loss = val_metric = jnp.asarray(jnp.nan, dtype)
    # The reference for the divergence test: the loss at the start, as the first batch
    # of the first epoch saw it (no pass over the data of its own).
    s = s._replace(loss0=jnp.where(jnp.isnan(s.loss0), losses[0].astype(dtype), s.loss0))
    return _judge(shape, nums, s, p, o, train_loss, val_loss, stop_g), (
        train_loss,
        val_loss.astype(dtype),
        jnp.asarray(val_metric, dtype),
        losses.astype(dtype),
        gn,
        path,
    )


def _judge(
    shape: Shape,
    nums: Numbers,
    s: TrainState,
    p: Any,
    o: Any,
    train_loss: Any,
    val_loss: Any,
    stop_g: Any,
) -> TrainState:
    """The state after an epoch, with its status: nonfinite (parameters of the last
    finite epoch kept), diverged, gtol, early_stopped, max_epochs, or running."""
    import jax
    import jax.numpy as jnp

    e = s.step + 1
    finite = jnp.isfinite(train_loss) & _finite(p)
    bound = nums.diverge_factor * jnp.maximum(jnp.abs(s.loss0), 1)
    diverged = train_loss - s.loss0 > bound
    best_params, best_val, best_epoch, wait = s.best_params, s.best_val, s.best_epoch, s.wait
    stop_early = jnp.bool_(False)
    if shape.early_stopping:
        better = val_loss < best_val - nums.min_delta
        best_params = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best_params)
        best_val = jnp.where(better, val_loss, best_val)
        best_epoch = jnp.where(better, e, best_epoch)
        wait = jnp.where(better, 0, wait + 1)
        stop_early = wait >= nums.patience
    code = jnp.select(
        [~finite, diverged, stop_g, stop_early, e >= nums.max_epochs],
        [
            CODE[Status.NONFINITE],
            CODE[Status.DIVERGED],
            CODE[Status.GTOL],
            CODE[Status.EARLY_STOPPED],
            CODE[Status.MAX_EPOCHS],
        ],
        RUNNING,
    ).astype(jnp.int32)
    # One decision for the whole tree (a select on every leaf makes a larger program).
    keep = lambda new, old: jax.lax.cond(finite, lambda: new, lambda: old)
    return s._replace(
        step=jnp.where(stop_g, s.step, e).astype(s.step.dtype),
        status=code,
        params=keep(p, s.params),
        opt_state=keep(o, s.opt_state),
        best_params=best_params,
        best_val=best_val,
        best_epoch=best_epoch.astype(s.best_epoch.dtype),
        wait=wait.astype(s.wait.dtype),
        last_good=jnp.where(finite, e, s.last_good).astype(s.last_good.dtype),
    )


def _run(model: Any, shape: Shape, s: TrainState, data: tuple, nums: Numbers, n: Any) -> tuple:
    """Up to ``n`` (<= capacity) epochs from ``s`` while it runs: (state, records)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    dtype = s.loss0.dtype
    full, last = batches(shape.n_train, shape.batch_size)
    width = 1 if shape.full_batch else full + (1 if last else 0)
    k = shape.capacity
    nan = jnp.full((k,), jnp.nan, dtype)
    path = None
    if shape.record_params:
        path = jax.tree.map(lambda l: jnp.full((k, width, *l.shape), jnp.nan, l.dtype), s.params)
    rec = Records(jnp.int32(0), nan, nan, nan, jnp.full((k, width), jnp.nan, dtype), nan, path)

    def more(c: tuple) -> Any:
        s, r = c
        return (r.count < n) & (s.status == RUNNING)

    def body(c: tuple) -> tuple:
        s, r = c
        s, row = _epoch(model, shape, data, nums, s)
        i = r.count
        fields = [jax.tree.map(lambda f, v: f.at[i].set(v), f, v) for f, v in zip(r[1:], row)]
        return s, Records(i + 1, *fields)

    return lax.while_loop(more, body, (s, rec))


def _init(
    model: Any, shape: Shape, params: Any, data: tuple, nums: Numbers, step: Any
) -> TrainState:
    import jax
    import jax.numpy as jnp

    opt = shape.make_optimizer(nums.optimizer)
    dtype = jax.tree.leaves(params)[0].dtype
    return TrainState(
        step=jnp.asarray(step, jnp.int32),
        status=jnp.int32(RUNNING),
        params=params,
        opt_state=opt.init(params),
        best_params=params,
        best_val=jnp.asarray(jnp.inf, dtype),
        best_epoch=jnp.int32(0),
        wait=jnp.int32(0),
        loss0=jnp.asarray(jnp.nan, dtype),  # set by the first epoch
        last_good=jnp.asarray(step, jnp.int32),
    )


_PROGRAMS: collections.OrderedDict = collections.OrderedDict()
_MAX_PROGRAMS = 32


def programs(model: Any, shape: Shape) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(init, run)`` compiled for this model and shape, made once and kept (LRU)."""
    import jax

    from .._env import enable_compilation_cache

    enable_compilation_cache()
    key = (model.spec, shape)
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    jit = jax.jit
    if shape.parted:  # the data split by rows, as placed; every output whole on each
        jit = functools.partial(jax.jit, out_shardings=replicated(shape.devices))
    elif shape.devices > 1:  # every input and output whole on each device of the mesh
        whole = replicated(shape.devices)
        jit = functools.partial(jax.jit, in_shardings=whole, out_shardings=whole)
    made = (
        jit(functools.partial(_init, model, shape)),
        jit(functools.partial(_run, model, shape)),
    )
    _PROGRAMS[key] = made
    if len(_PROGRAMS) > _MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return made
