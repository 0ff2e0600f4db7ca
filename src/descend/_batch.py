"""Many runs in one compiled call: the one-run loop run after run (small batches), or a
``vmap`` of blocks of steps spread over the local devices (large ones)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._assemble import Messages, batch_hint
from ._driver import interruptible
from ._engine.plan import (
    config,
    default_optimizer,
    needs_extra_args,
    plan_optimizer,
    resolve_optimizer,
    tolerances,
)
from ._engine.state import Config, Engine, State
from ._inputs import DEFAULT_MAX_HISTORY_BYTES, Options, prepare_x0
from ._multi import count, devices, identical, to_host
from ._objective import Objective, check_objective
from ._pipeline import check_inputs, check_memory, run
from .optimizers import AutoRate, auto_learning_rates, get_optimizer
from .result import BatchResult, History

__all__ = ["minimize_batch"]


class _CutMessages(NamedTuple):
    """The batch's messages without the padding runs, in the batch's shape (lazy)."""

    messages: Messages
    n_runs: int
    shape: tuple[int, ...]

    def __call__(self) -> np.ndarray:
        return np.asarray(self.messages()).ravel()[: self.n_runs].reshape(self.shape)


class _Factory(NamedTuple):
    """``hyper -> factory(learning_rate=hyper)``; hashable so the compiled loop is reused."""

    factory: Callable[..., Any]

    def __call__(self, hyper: Any) -> Any:
        return self.factory(hyper)


def _unrolled(objective: Objective, norms: bool) -> Objective:
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
    return Objective(fun, grad)


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

    mesh = Mesh(np.array(devices()[:n_devices]), ("runs",))
    sharding = NamedSharding(mesh, PartitionSpec("runs"))
    return jax.jit(spread, out_shardings=sharding)


def _spread(x0s: Any, hyper: np.ndarray | None, repeats: int) -> tuple[Any, Any]:
    """The runs' starts and learning rates, spread over all devices (every process's,
    with several: each holds its share of the runs)."""
    import jax

    spread_over = set(devices())
    n_devices = len(spread_over)
    # Starts placed elsewhere (another device or backend) go through the host: a jitted
    # call refuses inputs committed to devices other than those of its output.
    placed = [l.sharding.device_set == spread_over for l in jax.tree.leaves(x0s)]
    if not all(placed):
        x0s = jax.tree.map(
            lambda l: l if l.sharding.device_set == spread_over else np.asarray(l), x0s
        )
    elif n_devices == 1 and repeats == 1 and hyper is None:
        return x0s, None  # already whole on the one device
    n_runs = jax.tree.leaves(x0s)[0].shape[0] * repeats
    return _spreader(repeats, (-n_runs) % n_devices, n_devices)(x0s, hyper)


def _check_starts(x0s: Any) -> tuple[Any, int]:
    import jax

    x0s = prepare_x0(x0s, "x0s")
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


class _Cut(NamedTuple):
    """The runs' values without the padding runs, in the batch's shape (run axis first)."""

    n_runs: int
    shape: tuple[int, ...]

    def __call__(self, a: Any) -> np.ndarray:
        a = np.asarray(a)
        return a[: self.n_runs].reshape(self.shape + a.shape[1:])


class _Runs(NamedTuple):
    """How a batch's runs get their update rule: one set of numbers for all, or one per run."""

    make: Callable[[Any], Any]  # hyper -> the optax transformation (a hashable key)
    extra: bool  # the update needs value, grad and value_fn (line searches)
    shape: tuple[int, ...]  # (n_starts,) or (n_starts, n_learning_rates)
    hyper: np.ndarray | None  # per-run learning rates (one per run), else None
    shared: Any  # the numbers every run shares, when ``hyper`` is None
    learning_rates: np.ndarray | None  # the grid's rates
    chosen: np.ndarray | None  # learning_rate="auto": the rate of each start


def _plan_runs(
    optimizer: Any, learning_rates: Any, objective: Objective, x0s: Any, first: Any, args: tuple
) -> _Runs:
    """The runs' update rules: a grid of learning rates, a rate per start ("auto"), or
    one optimizer for every run (its numbers travel as data, as in a single run)."""
    import jax

    n_starts = jax.tree.leaves(x0s)[0].shape[0]
    dtype = jax.tree.leaves(x0s)[0].dtype
    if learning_rates is not None:
        lrs = _check_learning_rates(learning_rates)
        factory = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
        factory = factory if factory is not None else get_optimizer("gd")
        if not callable(factory) or hasattr(factory, "update"):
            raise TypeError(
                "with learning_rates, optimizer must be a factory taking the learning "
                "rate (e.g. ds.adam or 'adam'), got an already built transformation"
            )
        probe = factory(float(lrs[0]))  # refuses bad factories before compiling
        hyper = np.tile(lrs, n_starts).astype(dtype)
        extra = needs_extra_args(probe, first)
        return _Runs(_Factory(factory), extra, (n_starts, lrs.size), hyper, None, lrs, None)
    opt = resolve_optimizer(optimizer if optimizer is not None else default_optimizer())
    if isinstance(opt, AutoRate):
        # Each start gets the rate a single run from it would get.
        chosen = auto_learning_rates(opt, objective, x0s, args)
        extra = needs_extra_args(opt(float(chosen[0])), first)
        return _Runs(opt, extra, (n_starts,), chosen.astype(dtype), None, None, chosen)
    opt, make, shared, _ = plan_optimizer(opt, objective, first, args)
    return _Runs(make, needs_extra_args(opt, first), (n_starts,), None, shared, None, None)


def _config(objective: Objective, runs: _Runs, opts: Options, first: Any, n_runs: int) -> Config:
    """The batch's configuration; under the vmap, the objective's short sums written out."""
    cfg = config(objective, runs.make, runs.extra, opts, first, batched=True, n_runs=n_runs)
    if cfg.engine is Engine.MAPPED:  # the one-run loop: the user's own function
        return cfg
    norms = bool({"gtol", "xtol", "grad_norm", "step_size"} & {*opts.rules, *opts.record})
    return cfg._replace(objective=_unrolled(objective, norms))


def _snapshot(s: State, cut: _Cut, learning_rates: np.ndarray | None) -> BatchResult:
    """The batch while it runs, for a callback (no history, no messages yet)."""
    import jax

    f, gn, step, x, nfev = to_host((s.f, s.grad_norm, s.step, s.x, s.nfev))
    shape = cut.shape
    return BatchResult(
        x=jax.tree.map(cut, x),
        fun=cut(f),
        jac=None,
        grad_norm=cut(np.sqrt(gn)),  # kept squared in the loop
        nit=cut(step),
        nfev=cut(step) + 1 if isinstance(nfev, tuple) else cut(nfev),
        status=np.full(shape, None, dtype=object),
        success=np.zeros(shape, bool),
        message=np.full(shape, "running", dtype=object),
        learning_rates=learning_rates,
    )


def _cut_history(hist: History, cut: _Cut) -> History:
    import jax

    return History(
        **{f.name: jax.tree.map(cut, getattr(hist, f.name)) for f in dataclasses.fields(hist)}
    )


@interruptible
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
    max_history_bytes: float = DEFAULT_MAX_HISTORY_BYTES,
    diverge_factor: float = 1e8,
    callback: Callable[[BatchResult], Any] | None = None,
    progress: bool = False,
    chunk_size: int | None = None,
) -> BatchResult:
    """Run :func:`descend.minimize` from many starts (and learning rates) at once.

    All runs are one compiled call: a small batch runs the one-run loop over its runs
    one after another, a larger one is a ``vmap`` spread over every local JAX device
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
    x0s, n_starts = _check_starts(x0s)
    if count() > 1:  # one batch, spread over every process: the same in each
        for value, name in ((x0s, "x0s"), (learning_rates, "learning_rates"), (args, "args")):
            identical(value, name)
        args = to_host(args)  # not on this process's device: the program spans them all
    first = jax.tree.map(_first_start, x0s)
    tols = tolerances(opts, first)  # refuses a tolerance below the starts' precision
    check_objective(objective, first, args)
    runs = _plan_runs(optimizer, learning_rates, objective, x0s, first, args)
    shape, lrs = runs.shape, runs.learning_rates
    n_runs = int(np.prod(shape))
    check_memory(first, opts, n_runs)
    x_runs, hyper = _spread(x0s, runs.hyper, 1 if lrs is None else lrs.size)
    hyper_batched = hyper is not None
    if not hyper_batched:
        hyper = runs.shared  # the same numbers for every run (or None)
    cfg = _config(objective, runs, opts, first, n_runs)

    cut = _Cut(n_runs, shape)

    out = run(
        cfg,
        x_runs,
        hyper,
        args,
        tols,
        opts,
        batched=True,
        hyper_batched=hyper_batched,
        snapshot=functools.partial(_snapshot, cut=cut, learning_rates=lrs),
        suggestion=batch_hint,
    )
    fields, hist = out.fields, out.fields["history"]
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
        history=None if hist is None else _cut_history(hist, cut),
        learning_rates=lrs,
        learning_rate=None if runs.chosen is None else runs.chosen.reshape(shape),
        objective=objective,
        args=args,
        wall_time=out.wall_time,
        compile_time=out.compile_time,
    )
