"""Many runs in one compiled call: ``vmap`` of the same loop, spread over devices."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import loop
from .optimizers import AutoRate, auto_learning_rates
from .result import BatchResult

__all__ = ["minimize_batch"]


class _CutMessages(NamedTuple):
    """The batch's messages without the padding runs, in the batch's shape (lazy)."""

    messages: loop.Messages
    n_runs: int
    shape: tuple[int, ...]

    def __call__(self) -> np.ndarray:
        return np.asarray(self.messages()).ravel()[: self.n_runs].reshape(self.shape)


class _Factory(NamedTuple):
    """``hyper -> factory(learning_rate=hyper)``; hashable so the compiled loop is reused."""

    factory: Callable[..., Any]

    def __call__(self, hyper: Any) -> Any:
        return self.factory(hyper)


def _unrolled(objective: loop.Objective, norms: bool) -> loop.Objective:
    """The objective with its short sums written out (see :mod:`descend.small_sums`).

    With ``norms`` (a rule or the history needs the norm of the gradient or of the
    step), short slices are rewritten too: the norms read the gradient entry by entry,
    and XLA:CPU then computes the pads that indexing's gradient is made of in kernels
    of their own, each step (2.5x slower batches). Without norms the pads fuse, and
    are faster than the rewritten form.
    """
    from .small_sums import small_sums

    if isinstance(objective.grad, str):  # numeric: evaluated on the host
        return objective
    fun = small_sums(objective.fun, slices=norms)
    grad = objective.grad if objective.grad is None else small_sums(objective.grad, slices=norms)
    return loop.Objective(fun, grad)


def _first_start(leaf: Any) -> Any:
    """The first start of a leaf of x0s, for checks that need only shapes and dtypes.

    A read-only numpy view where the leaf lives on one device (no dispatch, ~1 us);
    indexing the jax array costs ~60 us.
    """
    if len(leaf.sharding.device_set) == 1:
        return np.asarray(leaf)[0]
    return leaf[0]


@functools.lru_cache(maxsize=32)
def _spreader(repeats: int, pad: int, n_devices: int) -> Callable[..., Any]:
    """A compiled ``(x0s, hyper) -> (runs, hyper)``: each start repeated ``repeats``
    times (hyper holds one entry per run already), both padded with copies of their
    first run to a multiple of the device count and split over the devices along the
    run axis. One dispatch instead of a handful of eager operations and transfers
    (~0.3 ms a call)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    def padded(l: Any) -> Any:
        return jnp.concatenate([l, jnp.repeat(l[:1], pad, 0)]) if pad else l

    def spread(x0s: Any, hyper: Any) -> tuple[Any, Any]:
        runs = jax.tree.map(lambda l: padded(jnp.repeat(l, repeats, axis=0)), x0s)
        return runs, jax.tree.map(padded, hyper)

    devices = np.array(jax.local_devices()[:n_devices])
    sharding = NamedSharding(Mesh(devices, ("runs",)), PartitionSpec("runs"))
    return jax.jit(spread, out_shardings=sharding)


def _spread(x0s: Any, hyper: np.ndarray | None, repeats: int) -> tuple[Any, Any]:
    """The runs' starts and learning rates, spread over all local devices."""
    import jax

    devices = set(jax.local_devices())
    n_devices = len(devices)
    # Starts placed elsewhere (another device or backend) go through the host: a jitted
    # call refuses inputs committed to devices other than those of its output.
    placed = [l.sharding.device_set == devices for l in jax.tree.leaves(x0s)]
    if not all(placed):
        x0s = jax.tree.map(lambda l: l if l.sharding.device_set == devices else np.asarray(l), x0s)
    elif n_devices == 1 and repeats == 1 and hyper is None:
        return x0s, None  # already whole on the one device
    n_runs = jax.tree.leaves(x0s)[0].shape[0] * repeats
    return _spreader(repeats, (-n_runs) % n_devices, n_devices)(x0s, hyper)


def _check_starts(x0s: Any) -> tuple[Any, int]:
    import jax

    x0s = loop.prepare_x0(x0s, "x0s")
    leaves = jax.tree.leaves(x0s)
    lengths = {l.shape[0] if l.ndim else None for l in leaves}
    if None in lengths or len(lengths) != 1:
        raise ValueError(
            "x0s must have a leading batch axis of starts shared by every leaf, "
            f"got leaf shapes {[tuple(l.shape) for l in leaves]}"
        )
    n = lengths.pop()
    if n < 1:
        raise ValueError("x0s must hold at least one start")
    return x0s, n


def _check_learning_rates(learning_rates: Any) -> np.ndarray:
    try:
        lrs = np.asarray(learning_rates, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"learning_rates must be a 1-D array of positive numbers, got {learning_rates!r}"
        ) from None
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError(f"learning_rates must be a non-empty 1-D array, got shape {lrs.shape}")
    if not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"learning_rates must all be positive and finite, got {lrs}")
    return lrs


@loop.interruptible
def minimize_batch(
    fun: Callable[..., Any],
    x0s: Any,
    optimizer: Any = None,
    *,
    learning_rates: Sequence[float] | None = None,
    args: tuple = (),
    grad: None | str | Callable[..., Any] = None,
    gtol: float = 1e-6,
    xtol: float = 0.0,
    ftol: float = 0.0,
    max_steps: int = 10_000,
    record_every: int = 1,
    history: bool | str | Sequence[str] = False,
    max_history_bytes: float = loop.DEFAULT_MAX_HISTORY_BYTES,
    diverge_factor: float = 1e8,
    callback: Callable[[BatchResult], Any] | None = None,
    progress: bool = False,
    chunk_size: int | None = None,
) -> BatchResult:
    """Run :func:`descend.minimize` from many starts (and learning rates) at once.

    All runs are one ``vmap`` of the compiled loop, spread over every local JAX device
    along the run axis. Each run stops on its own rule at its own step; a run that
    diverges or hits nan never affects the others, and every run's numbers equal a
    single :func:`~descend.minimize` with the same settings.

    Args:
      fun: as in :func:`~descend.minimize`.
      x0s: starts with a leading batch axis (shape ``(n_starts, ...)`` per leaf).
      optimizer: an optax transformation, a name, or (with ``learning_rates``) a factory
        taking the learning rate first, such as ``ds.adam``. Defaults to ``ds.gd()``;
        with ``learning_rate="auto"`` each run gets the rate a single run from its start
        gets (to the precision of the power iteration), kept in ``learning_rate``.
      learning_rates: a 1-D array; the runs are then the grid starts x learning rates,
        and results have shape ``(n_starts, n_learning_rates)``.
      history: off by default for batches; True or field names to keep it.
      callback: called between chunks with a :class:`BatchResult` of the current state.
      Other options: as in :func:`~descend.minimize`.

    Returns:
      A :class:`BatchResult` with leading axes ``(n_starts,)`` or
      ``(n_starts, n_learning_rates)``, ``.best`` and ``.table()``.
    """
    import jax

    opts = loop._validate_options(
        gtol=gtol,
        xtol=xtol,
        ftol=ftol,
        max_steps=max_steps,
        record_every=record_every,
        diverge_factor=diverge_factor,
        callback=callback,
        chunk_size=chunk_size,
    )
    objective = loop.make_objective(fun, grad)
    x0s, n_starts = _check_starts(x0s)
    args = loop._check_args(args)
    first = jax.tree.map(_first_start, x0s)
    loop.check_objective(objective, first, args)
    lrs = chosen = opt = shared = None
    if learning_rates is None:
        opt = loop.resolve_optimizer(
            optimizer if optimizer is not None else loop._default_optimizer()
        )
    if isinstance(opt, AutoRate):
        # learning_rate="auto": each start gets the rate a single run from it would get.
        chosen = auto_learning_rates(opt, objective, x0s, args)
        make, shape = opt, (n_starts,)
        extra = loop.needs_extra_args(opt(float(chosen[0])), first)
        hyper = chosen.astype(jax.tree.leaves(x0s)[0].dtype)
    elif learning_rates is not None:
        lrs = _check_learning_rates(learning_rates)
        factory = optimizer if optimizer is not None else "gd"
        if isinstance(factory, str):
            from .optimizers import get_optimizer

            factory = get_optimizer(factory)
        if not callable(factory) or hasattr(factory, "update"):
            raise TypeError(
                "with learning_rates, optimizer must be a factory taking the learning "
                "rate (e.g. ds.adam or 'adam'), got an already built transformation"
            )
        probe = factory(float(lrs[0]))  # refuses bad factories before compiling
        make = _Factory(factory)
        extra = loop.needs_extra_args(probe, first)
        shape: tuple[int, ...] = (n_starts, lrs.size)
        hyper = np.tile(lrs, n_starts).astype(jax.tree.leaves(x0s)[0].dtype)
    else:
        opt, make, shared, _ = loop.plan_optimizer(opt, objective, first, args)
        extra = loop.needs_extra_args(opt, first)
        shape = (n_starts,)
        hyper = None
    n_runs = int(np.prod(shape))
    record = loop.history_fields(history)
    rows = loop.history_rows(max_steps, record_every)
    loop.check_max_history_bytes(max_history_bytes)
    loop.check_history_budget(record, first, rows, n_runs, max_history_bytes)

    x_runs, hyper = _spread(x0s, hyper, 1 if lrs is None else lrs.size)
    hyper_batched = hyper is not None
    if not hyper_batched:
        hyper = shared  # the same numbers for every run (or None)

    rules = tuple(r for r in ("gtol", "xtol", "ftol") if opts[r] > 0)
    rules_need_norms = bool({"gtol", "xtol", "grad_norm", "step_size"} & {*rules, *record})
    cfg = loop.Config(
        objective=_unrolled(objective, norms=rules_need_norms),
        make_optimizer=make,
        extra_args=extra,
        record=record,
        record_every=record_every,
        rows=rows if record else 0,
        need_grad_norm=True,  # a nan gradient must stop each run where it happens
        need_step_size=opts["xtol"] > 0 or "step_size" in record,
        keep_prev=True,  # batches carry it always: no replay of one run among many
        fast=not extra,
        rules=rules,
    )
    tols = loop._tolerances(opts, first)
    t_init = t_run = time.perf_counter()
    if callback is None and not progress:
        state = loop.Fresh(x_runs)  # init and the first chunk in one call
    else:
        init_fn = loop._compiled(True, hyper_batched)[0]
        state = init_fn(cfg, x_runs, hyper, args, tols)
    init_time = time.perf_counter() - t_init  # mostly compilation on a first call

    def snapshot(s: loop.State) -> BatchResult:
        f, gn, step, x, nfev = jax.device_get((s.f, s.grad_norm, s.step, s.x, s.nfev))
        gn = np.sqrt(gn)  # kept squared in the loop
        cut = lambda a: np.asarray(a)[:n_runs].reshape(shape + np.shape(a)[1:])  # noqa: E731
        return BatchResult(
            x=jax.tree.map(cut, x),
            fun=cut(f),
            jac=None,
            grad_norm=cut(gn),
            nit=cut(step),
            nfev=cut(step) + 1 if isinstance(nfev, tuple) else cut(nfev),
            status=np.full(shape, None, dtype=object),
            success=np.zeros(shape, bool),
            message=np.full(shape, "running", dtype=object),
            learning_rates=lrs,
        )

    state, _, compile_time = loop.drive(
        cfg,
        state,
        hyper,
        args,
        tols,
        batched=True,
        hyper_batched=hyper_batched,
        max_steps=max_steps,
        callback=callback,
        progress=progress,
        chunk_size=chunk_size,
        snapshot=snapshot,
    )
    fields = loop.finish(cfg, state, args, loop._message_tols(opts), suggestion=loop.batch_hint)

    def cut(a: Any) -> Any:
        a = np.asarray(a)
        return a[:n_runs].reshape(shape + a.shape[1:])

    hist = fields["history"]
    if hist is not None:
        hist = type(hist)(
            steps=cut(hist.steps),
            x=None if hist.x is None else jax.tree.map(cut, hist.x),
            fun=None if hist.fun is None else cut(hist.fun),
            grad_norm=None if hist.grad_norm is None else cut(hist.grad_norm),
            step_size=None if hist.step_size is None else cut(hist.step_size),
        )
    return BatchResult(
        x=jax.tree.map(cut, fields["x"]),
        fun=cut(fields["fun"]),
        jac=jax.tree.map(cut, fields["jac"]),
        grad_norm=cut(fields["grad_norm"]),
        nit=cut(fields["nit"]),
        nfev=cut(fields["nfev"]),
        status=cut(fields["status"]),
        success=cut(fields["success"]),
        message=_CutMessages(fields["message"], n_runs, shape),  # built on first use
        history=hist,
        learning_rates=lrs,
        learning_rate=None if chosen is None else chosen.reshape(shape),
        objective=objective,
        args=args,
        wall_time=time.perf_counter() - t_run - compile_time - init_time,
        compile_time=compile_time + init_time,
    )
