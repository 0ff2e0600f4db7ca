"""A fit's inputs checked once, and what the driver calls: chunks, snapshots, the result."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from .. import _multi, stopping
from .._checks import check_bool, check_int, check_real, check_tol
from ..optimizers import AutoRate
from ..stopping import Status
from . import checkpoint as ckpt
from .inputs import (
    batch_size_of,
    check_checkpoint,
    check_params,
    check_validation,
    dataset,
    device_data,
    devices_of,
    dtype_of,
    fingerprint,
    model_of,
    seed_of,
)
from .program import Numbers, Records, Shape, TrainState, batches, capacity, programs, replicated
from .result import FitHistory, FitResult
from .resume import flatten, resumed

__all__ = ["Run", "Setup", "prepare"]

HISTORY = ("train_loss", "val_loss", "val_metric", "batch_loss", "grad_norm")


class Run(NamedTuple):
    """The driver's view of a fit: ``step`` and ``status`` (device arrays), the training
    state, and the records of the calls so far (a tuple, host side)."""

    step: Any
    status: Any
    train: Any
    records: tuple
    epoch: int  # epochs dispatched (host count; calls past a stop run no epoch)


@dataclasses.dataclass
class Setup:
    """Everything fixed about a fit once its inputs are checked."""

    model: Any
    shape: Shape
    nums: Numbers
    data: tuple
    init_params: Any
    start: tuple | None  # (TrainState, history arrays) from a checkpoint
    checkpoint: Any
    header: dict
    classes: tuple | None
    learning_rate: Any
    seed: int
    batch_size: int | None
    n_features: int

    @property
    def key(self) -> Any:
        return (self.model.spec, self.shape, _signature(self.init_params))

    @property
    def cost(self) -> int:
        """Parameter-rows an epoch touches (sizes the driver's first chunk)."""
        n_params = sum(int(np.size(l)) for l in _leaves(self.init_params))
        return max(1, n_params * (self.shape.n_train + self.shape.n_val))

    @property
    def start_epoch(self) -> int:
        return 0 if self.start is None else int(self.start[0].step)

    def first_run(self) -> Any:
        init, _ = programs(self.model, self.shape)
        if self.start is not None:
            state = self.start[0]
        else:
            state = init(self.init_params, self.data, self.nums, 0)
        return Run(state.step, state.status, state, (), int(state.step))

    def chunk(self, run: Any, stop_at: Any) -> Any:
        """Epochs up to ``stop_at`` (calls of at most ``capacity`` epochs; at least one
        call, so a zero-epoch chunk compiles the program). Each call's records come to
        the host at once, cut to the epochs it ran."""
        import jax

        _, program = programs(self.model, self.shape)
        state, records, epoch = run.train, run.records, run.epoch
        while True:
            n = int(max(0, min(self.shape.capacity, int(stop_at) - epoch)))
            state, rec = program(state, self.data, self.nums, np.int32(n))
            records, epoch = records + (_host_rows(rec),), epoch + n
            stopped = int(jax.device_get(state.status)) != stopping.RUNNING
            if self.checkpoint is not None and n:
                self.save(state, records)  # by process 0; the others wait for it
            if stopped or epoch >= int(stop_at):
                break
        return run._replace(
            step=state.step, status=state.status, train=state, records=records, epoch=epoch
        )

    # -- the record so far ----------------------------------------------------------

    def history_arrays(self, records: tuple) -> dict[str, np.ndarray]:
        """The per-epoch and per-step arrays, earlier (resumed) epochs first; with
        ``record_params``, ``params/i`` (leaf i after each step) and ``start/i``."""
        width = _width(self.shape)
        empty = {k: np.zeros(0) for k in HISTORY}
        empty["batch_loss"] = np.zeros((0, width))
        if self.shape.record_params:
            for i, leaf in enumerate(_leaves(self.init_params)):
                empty[f"params/{i}"] = np.zeros((0, width, *np.shape(leaf)), leaf.dtype)
        parts: dict[str, list] = {k: [v] for k, v in empty.items()}
        earlier = () if self.start is None else (self.start[1],)
        for rows in (*earlier, *records):
            for k in parts:
                parts[k].append(rows[k])
        out = {k: np.concatenate(v) for k, v in parts.items()}
        if self.shape.record_params:
            for i, leaf in enumerate(_leaves(self.init_params)):
                out[f"start/{i}"] = earlier[0][f"start/{i}"] if earlier else np.asarray(leaf)
        return out

    def save(self, state: TrainState, records: tuple) -> None:
        import jax

        host = jax.device_get(state)
        epochs = int(host.step)  # a gtol stop records the epoch it did not run: cut
        history = {
            k: v if k.startswith("start/") else v[:epochs]
            for k, v in self.history_arrays(records).items()
        }
        arrays = {f"state/{k}": v for k, v in flatten(host).items()}
        arrays |= {f"history/{k}": v for k, v in history.items()}
        if _multi.is_main():
            ckpt.save(self.checkpoint, {**self.header, "epoch": epochs}, arrays)
        _multi.barrier("descend-fit-checkpoint")

    def snapshot(self, run: Any) -> FitResult:
        return self.result(run, 0.0, 0.0, final=False)

    def describe(self, run: Any) -> str:
        h = next((r for r in reversed(run.records) if len(r["train_loss"])), None)
        if h is None:
            return ""
        text = f"loss {h['train_loss'][-1]:.4g}"
        if self.shape.n_val:
            text += f"  val {h['val_loss'][-1]:.4g}"
        return text

    def result(self, run: Any, wall: float, compile_time: float, final: bool = True) -> FitResult:
        import jax

        from .messages import message

        state = jax.device_get(run.train)
        status_code = int(jax.device_get(run.status))
        status = stopping.FROM_CODE.get(status_code, Status.MAX_EPOCHS) if status_code else None
        h = self.history_arrays(run.records)
        epochs = int(state.step)
        grad_stop = float(h["grad_norm"][-1]) if len(h["grad_norm"]) else float("nan")
        # A gtol stop records the epoch it did not run.
        h = {k: v if k.startswith("start/") else v[:epochs] for k, v in h.items()}
        params, returned = state.params, epochs
        if status is Status.NONFINITE:
            returned = int(state.last_good)
        best_epoch = int(state.best_epoch) if self.shape.early_stopping else 0
        if self.shape.early_stopping and best_epoch > 0:
            params, returned = state.best_params, best_epoch
        history = self._history(h, epochs)
        steps = epochs * _width(self.shape)  # a failed epoch took its steps too
        status_out = status or Status.MAX_EPOCHS
        return FitResult(
            params=jax.tree.map(np.asarray, params),
            status=status_out,
            success=final and status_out in (Status.MAX_EPOCHS, Status.EARLY_STOPPED, Status.GTOL),
            message=message(status_out, state, history, self, grad_stop, returned)
            if final
            else "running",
            epochs=epochs,
            best_epoch=best_epoch,
            history=history,
            steps=steps,
            model=self.model,
            classes=self.classes,
            learning_rate=self.learning_rate,
            wall_time=wall,
            compile_time=compile_time,
            n_features=self.n_features,
        )

    def _history(self, h: dict, epochs: int) -> FitHistory:
        import jax

        has_val = self.shape.n_val > 0
        classifier = self.model.is_classifier
        path = None
        if self.shape.record_params:
            leaves, treedef = jax.tree.flatten(self.init_params)
            path = jax.tree.unflatten(
                treedef,
                [
                    np.concatenate([h[f"start/{i}"][None], h[f"params/{i}"].reshape(-1, *l.shape)])
                    for i, l in enumerate(leaves)
                ],
            )
        return FitHistory(
            epoch=np.arange(1, epochs + 1),
            train_loss=h["train_loss"],
            batch_loss=h["batch_loss"].reshape(-1),
            params=path,
            val_loss=h["val_loss"] if has_val else None,
            val_accuracy=h["val_metric"] if has_val and classifier else None,
            val_r2=h["val_metric"]
            if has_val and not classifier and self.model.kind != "custom"
            else None,
            grad_norm=h["grad_norm"] if self.shape.full_batch else None,
        )


def _host_rows(rec: Records) -> dict[str, np.ndarray]:
    """A call's records on the host, cut to the epochs it ran."""
    import jax

    r = jax.device_get(rec)
    c = int(r.count)
    rows = {k: np.asarray(getattr(r, k))[:c] for k in HISTORY}
    for i, leaf in enumerate(jax.tree.leaves(r.params)):
        rows[f"params/{i}"] = np.asarray(leaf)[:c]
    return rows


def _width(shape: Shape) -> int:
    full, last = batches(shape.n_train, shape.batch_size)
    return 1 if shape.full_batch else full + (1 if last else 0)


def _leaves(tree: Any) -> list:
    import jax

    return jax.tree.leaves(tree)


def _signature(tree: Any) -> tuple:
    import jax

    leaves, treedef = jax.tree.flatten(tree)
    return (str(treedef), tuple((np.shape(l), np.asarray(l).dtype.name) for l in leaves))


def prepare(
    model: Any,
    train: Any,
    optimizer: Any,
    *,
    params: Any,
    batch_size: Any,
    epochs: Any,
    validation: Any,
    early_stopping: Any,
    min_delta: Any,
    gtol: Any,
    seed: Any,
    dtype: Any,
    checkpoint: Any,
    resume: Any,
    diverge_factor: Any,
    record_params: Any = False,
    devices: Any = None,
    local_rows: Any = False,
) -> Setup:
    """Check every input (naming the argument), then build the fit's :class:`Setup`."""
    import jax
    import jax.numpy as jnp

    from .._engine.plan import plan_optimizer, resolve_optimizer
    from . import parts

    model = model_of(model, params)
    sets = _Sets.of(model, train, validation, local_rows)
    data, val, n_train = sets.data, sets.val, sets.n_train
    dtype = dtype_of(dtype)
    epochs = check_int(epochs, "epochs", 1)
    batch_size = batch_size_of(batch_size, n_train)
    if early_stopping is not None:
        early_stopping = check_int(early_stopping, "early_stopping", 1)
        if val is None:
            raise ValueError("early_stopping needs validation= data to watch")
    limits = (
        check_tol(gtol, "gtol") if batch_size is None else 0.0,  # full batch only
        check_real(min_delta, "min_delta", low=0),
        check_real(diverge_factor, "diverge_factor", low=0, low_open=True),
    )
    saved = ckpt.load(resume) if resume is not None else None
    check_checkpoint(checkpoint, resume)
    seed = seed_of(seed, saved)
    devices = devices_of(devices, batch_size, n_train, saved)
    if model.kind != "custom":
        model = model.for_data(data.task, data.n_classes)
    p0 = model.init(data.n_features, seed, dtype) if model.kind != "custom" else params
    if params is not None:
        check_params(params, p0, model)
        p0 = params
    p0 = jax.tree.map(lambda l: jnp.asarray(l, dtype), p0)
    arrays = sets.on_devices(dtype, devices)
    optimizer = resolve_optimizer(optimizer if optimizer is not None else "adam")
    if sets.local_rows and isinstance(optimizer, AutoRate):
        raise ValueError(
            'learning_rate="auto" needs the whole data in each process; with '
            "local_rows=True give the optimizer a learning rate"
        )

    def full_loss(p: Any) -> Any:  # the learning rate "auto" looks at the whole data
        return model.loss(p, *data.on_device(dtype))

    optimizer, make, numbers, choice = plan_optimizer(optimizer, full_loss, p0, ())
    nums = _numbers(numbers, model.l2, limits, early_stopping, epochs, seed, dtype)
    if devices > 1:  # whole on every device, once (not at each call)
        nums, p0 = jax.device_put(_host_side((nums, p0)), replicated(devices))
    setup = Setup(
        model=model,
        shape=_shape(
            model, make, sets.rows, batch_size, early_stopping, record_params, devices, sets.multi
        ),
        nums=nums,
        data=arrays,
        init_params=p0,
        start=None,
        checkpoint=checkpoint if checkpoint is not None else resume,
        header=_header(model, data, val, batch_size, dtype, seed, optimizer, devices)
        | {"n_train": n_train, "validation": parts.fingerprint(val, sets.local_rows)},
        classes=data.classes,
        learning_rate=choice,
        seed=seed,
        batch_size=batch_size,
        n_features=data.n_features,
    )
    if saved is not None:
        setup.start = resumed(setup, saved, resume)
    return setup


class _Sets(NamedTuple):
    """The training and validation sets, and how their rows lie over processes."""

    data: Any
    val: Any
    multi: bool  # several processes: the rows split over them
    local_rows: bool  # each process passed its own rows
    rows: tuple[int, int]  # (training, validation) rows over every process

    @property
    def n_train(self) -> int:
        return self.rows[0]

    @classmethod
    def of(cls, model: Any, train: Any, validation: Any, local_rows: Any) -> _Sets:
        from ..data import align
        from . import parts

        data = dataset(train, "train", model)
        val = (
            None if validation is None else align(validation, data.task, data.classes, "validation")
        )
        check_validation(data, val)
        multi = _multi.count() > 1
        local_rows = check_bool(local_rows, "local_rows") and multi
        if multi:
            parts.check_parts(data, val, local_rows)
        n_val = 0 if val is None else parts.rows_in_all(len(val), local_rows)
        rows = (parts.rows_in_all(len(data), local_rows), n_val)
        return cls(data, val, multi, local_rows, rows)

    def on_devices(self, dtype: Any, devices: int) -> tuple:
        from . import parts

        if self.multi:
            return parts.device_parts(self.data, self.val, dtype, devices, self.local_rows)
        return device_data(self.data, self.val, dtype, devices)


def _host_side(tree: Any) -> Any:
    """``tree`` on the host, to be put on every process's devices (a jitted call refuses
    arrays on this process's device alone); weakly typed numbers stay Python numbers,
    so they stay weakly typed (a float32 fit's optimizer state stays float32)."""
    import jax

    def one(leaf: Any) -> Any:
        if getattr(leaf, "weak_type", False) and getattr(leaf, "ndim", 1) == 0:
            return leaf.item()
        return _multi.to_host(leaf)

    return jax.tree.map(one, tree)


def _numbers(
    optimizer: Any,
    l2: Any,
    limits: tuple,
    early_stopping: int | None,
    epochs: int,
    seed: int,
    dtype: Any,
) -> Numbers:
    """The fit's numbers, on the device once (weakly typed still): no transfer at each
    call. ``limits``: (gtol, min_delta, diverge_factor)."""
    import jax
    import jax.numpy as jnp

    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return Numbers(
        optimizer=jax.device_put(optimizer),
        l2=f(l2),
        gtol=f(limits[0]),
        min_delta=f(limits[1]),
        patience=jnp.int32(early_stopping or 0),
        max_epochs=jnp.int32(epochs),
        diverge_factor=f(limits[2]),
        seed=jnp.uint32(seed),
    )


def _shape(
    model: Any,
    make: Any,
    rows: tuple[int, int],
    batch_size: int | None,
    early_stopping: int | None,
    record_params: Any,
    devices: int = 1,
    parted: bool = False,
) -> Shape:
    """What fixes the training program's shapes (its cache key); ``rows``: (training,
    validation) rows over every process."""
    n, n_val = rows
    bs = n if batch_size is None else batch_size
    full, last = batches(n, bs)
    return Shape(
        model=model.spec,
        make_optimizer=make,
        n_train=n,
        n_val=n_val,
        batch_size=bs,
        full_batch=batch_size is None,
        early_stopping=early_stopping is not None,
        capacity=capacity(1 if batch_size is None else full + (1 if last else 0)),
        record_params=bool(record_params),
        penalized=model.l2 > 0,
        devices=devices,
        parted=parted,
    )


def _header(
    model: Any,
    data: Any,
    val: Any,
    batch_size: Any,
    dtype: Any,
    seed: int,
    optimizer: Any,
    devices: int = 1,
) -> dict:
    """What a checkpoint says about the fit that wrote it (a resumed fit must match)."""
    factory = getattr(optimizer, "descend_factory", None)
    return {
        "model": repr(model),
        "n_features": data.n_features,
        "n_train": len(data),
        "batch_size": batch_size,
        "dtype": dtype.name,
        "seed": seed,
        "optimizer": getattr(factory, "__name__", type(optimizer).__name__),
        "validation": fingerprint(val),
        "devices": devices,  # the same count continues it exactly (see devices_of)
    }
