"""A fit's inputs checked once, and what the driver calls: chunks, snapshots, the result."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from .. import stopping
from .._checks import check_int, check_real, check_tol
from ..stopping import Status
from . import checkpoint as ckpt
from .program import Numbers, Records, Shape, TrainState, batches, capacity, programs
from .result import FitHistory, FitResult

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


def _dataset(data: Any, name: str, model: Any = None) -> Any:
    from ..data import Dataset, load

    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        # arrays for a model of one kind are read as that kind (whole-number targets
        # of a linear regression are numbers, not classes)
        kind = getattr(model, "kind", None)
        task = {"linear": "regression", "logistic": "classification"}.get(kind)
        if kind in ("softmax", "mlp") and model.task is not None:
            task = "classification"
        return load(data, task=task)
    raise TypeError(
        f"{name} must be a ds.data Dataset or a tuple (X, y), got {type(data).__name__}"
    )


def _model(model: Any, params: Any) -> Any:
    from ..models import Model, custom

    if isinstance(model, Model):
        return model
    if callable(model):
        if params is None:
            raise ValueError("a model given as loss(params, X, y) needs its initial params=")
        return custom(model)
    raise TypeError(
        f"model must be a ds.models model (e.g. ds.models.mlp([64])) or a function "
        f"loss(params, X, y), got {type(model).__name__}"
    )


def _dtype(dtype: Any) -> Any:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(name)


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
        import jax.numpy as jnp

        _, program = programs(self.model, self.shape)
        state, records, epoch = run.train, run.records, run.epoch
        while True:
            n = int(max(0, min(self.shape.capacity, int(stop_at) - epoch)))
            state, rec = program(state, self.data, self.nums, jnp.int32(n))
            records, epoch = records + (_host_rows(rec),), epoch + n
            stopped = int(jax.device_get(state.status)) != stopping.RUNNING
            if self.checkpoint is not None and n:
                self.save(state, records)
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
        arrays = {f"state/{k}": v for k, v in _flatten(host).items()}
        arrays |= {f"history/{k}": v for k, v in history.items()}
        ckpt.save(self.checkpoint, {**self.header, "epoch": epochs}, arrays)

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


def _resumed_status(setup: Setup, state: TrainState) -> int:
    """A resumed fit goes on after a step limit, a callback or Ctrl-C; one that failed
    stays failed, and one that stopped early stays stopped while its rule still holds
    (its patience count has reached the patience asked for now), as it would have had it
    run straight through."""
    code = int(state.status)
    if code in (stopping.CODES[Status.NONFINITE], stopping.CODES[Status.DIVERGED]):
        return code
    if code == stopping.CODES[Status.EARLY_STOPPED] and setup.shape.early_stopping:
        if int(state.wait) >= int(setup.nums.patience):
            return code
    return stopping.RUNNING


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


def _flatten(state: TrainState) -> dict[str, np.ndarray]:
    """The state's leaves in a fixed order, numbered by field."""
    import jax

    out = {}
    for field in TrainState._fields:
        for i, leaf in enumerate(jax.tree.leaves(getattr(state, field))):
            out[f"{field}/{i}"] = np.asarray(leaf)
    return out


def _unflatten(like: TrainState, arrays: dict[str, np.ndarray], where: str) -> TrainState:
    """A TrainState shaped like ``like`` from a checkpoint's arrays, or a clear error."""
    import jax
    import jax.numpy as jnp

    fields = {}
    for field in TrainState._fields:
        leaves, treedef = jax.tree.flatten(getattr(like, field))
        saved = [arrays.get(f"state/{field}/{i}") for i in range(len(leaves))]
        extra = f"state/{field}/{len(leaves)}" in arrays
        for i, (a, b) in enumerate(zip(leaves, saved)):
            if b is None or extra or np.shape(a) != b.shape or np.asarray(a).dtype != b.dtype:
                got = "nothing" if b is None else f"{b.dtype}{list(b.shape)}"
                raise ValueError(
                    f"resume: {where} does not fit this fit's {field.replace('_', ' ')} "
                    f"(leaf {i}: expected {np.asarray(a).dtype}{list(np.shape(a))}, got {got}); "
                    "a different model, data width, optimizer or dtype"
                )
        fields[field] = jax.tree.unflatten(treedef, [jnp.asarray(b) for b in saved])
    return TrainState(**fields)


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
) -> Setup:
    """Check every input (naming the argument), then build the fit's :class:`Setup`."""
    import jax
    import jax.numpy as jnp

    from .._engine.plan import plan_optimizer, resolve_optimizer
    from ..data import align

    model = _model(model, params)
    data = _dataset(train, "train", model)
    val = None if validation is None else align(validation, data.task, data.classes, "validation")
    _check_validation(data, val)
    dtype = _dtype(dtype)
    epochs = check_int(epochs, "epochs", 1)
    batch_size = _batch_size(batch_size, len(data))
    if early_stopping is not None:
        early_stopping = check_int(early_stopping, "early_stopping", 1)
        if val is None:
            raise ValueError("early_stopping needs validation= data to watch")
    saved = ckpt.load(resume) if resume is not None else None
    _check_checkpoint(checkpoint, resume)
    seed = _seed(seed, saved)
    if model.kind != "custom":
        model = model.for_data(data.task, data.n_classes)
    p0 = model.init(data.n_features, seed, dtype) if model.kind != "custom" else params
    if params is not None:
        _check_params(params, p0, model)
        p0 = params
    p0 = jax.tree.map(lambda l: jnp.asarray(l, dtype), p0)
    arrays = _device_data(data, val, dtype)
    optimizer = resolve_optimizer(optimizer if optimizer is not None else "adam")

    def full_loss(p: Any) -> Any:
        return model.loss(p, arrays[0], arrays[1])

    optimizer, make, numbers, choice = plan_optimizer(optimizer, full_loss, p0, ())
    n = len(data)
    bs = n if batch_size is None else batch_size
    full, last = batches(n, bs)
    shape = Shape(
        model=model.spec,
        make_optimizer=make,
        n_train=n,
        n_val=0 if val is None else len(val),
        batch_size=bs,
        full_batch=batch_size is None,
        early_stopping=early_stopping is not None,
        capacity=capacity(1 if batch_size is None else full + (1 if last else 0)),
        record_params=bool(record_params),
        penalized=model.l2 > 0,
    )
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    nums = Numbers(
        # on the device once (weakly typed still): no transfer at each call
        optimizer=jax.device_put(numbers),
        l2=f(model.l2),
        gtol=f(check_tol(gtol, "gtol") if batch_size is None else 0.0),
        min_delta=f(check_real(min_delta, "min_delta", low=0)),
        patience=jnp.int32(early_stopping or 0),
        max_epochs=jnp.int32(epochs),
        diverge_factor=f(check_real(diverge_factor, "diverge_factor", low=0, low_open=True)),
        seed=jnp.uint32(seed),
    )
    factory = getattr(optimizer, "descend_factory", None)
    header = {
        "model": repr(model),
        "n_features": data.n_features,
        "n_train": n,
        "batch_size": batch_size,
        "dtype": dtype.name,
        "seed": seed,
        "optimizer": getattr(factory, "__name__", type(optimizer).__name__),
        "validation": _fingerprint(val),
    }
    setup = Setup(
        model=model,
        shape=shape,
        nums=nums,
        data=arrays,
        init_params=p0,
        start=None,
        checkpoint=checkpoint if checkpoint is not None else resume,
        header=header,
        classes=data.classes,
        learning_rate=choice,
        seed=seed,
        batch_size=batch_size,
        n_features=data.n_features,
    )
    if saved is not None:
        setup.start = _resumed(setup, saved, resume)
    return setup


def _check_checkpoint(checkpoint: Any, resume: Any) -> None:
    """A new fit does not write over another fit's checkpoint (its work would be lost)."""
    if checkpoint is None:
        return
    target = ckpt.path_of(checkpoint)
    if target.exists() and (resume is None or ckpt.path_of(resume).resolve() != target.resolve()):
        raise ValueError(
            f"checkpoint: {target} holds another fit's checkpoint; continue it with "
            f"resume={str(checkpoint)!r}, or choose another folder"
        )


def _check_params(params: Any, like: Any, model: Any) -> None:
    """``params`` laid out as the model's (same tree, same shapes), or a clear error."""
    import jax

    if model.kind == "custom":
        return
    want = jax.tree.map(np.shape, like)
    try:
        got = jax.tree.map(np.shape, params)
    except Exception:  # noqa: BLE001 - not a pytree of arrays
        got = None
    if jax.tree.structure(got) != jax.tree.structure(want) or got != want:
        raise ValueError(f"params must be laid out as {model!r}'s: shapes {want}, got {got}")


def _fingerprint(val: Any) -> str | None:
    """The validation set's identity (rows and a hash of its numbers): early stopping
    compares losses across epochs, so a resumed fit must watch the same set."""
    import hashlib

    if val is None:
        return None
    digest = hashlib.sha256(np.ascontiguousarray(val.X).tobytes())
    digest.update(np.ascontiguousarray(val.y).tobytes())
    return f"{len(val)} rows, sha256 {digest.hexdigest()[:16]}"


def _check_validation(data: Any, val: Any) -> None:
    if val is None:
        return
    if val.n_features != data.n_features:
        raise ValueError(f"validation has {val.n_features} features, train has {data.n_features}")
    if len(val) == 0:
        raise ValueError("validation has no rows")


def _batch_size(batch_size: Any, n: int) -> int | None:
    if batch_size is None:
        return None
    batch_size = check_int(batch_size, "batch_size", 1)
    if batch_size > n:
        raise ValueError(
            f"batch_size must be at most the number of training rows ({n}), "
            f"got {batch_size}; batch_size=None trains on all rows at once"
        )
    return batch_size


def _seed(seed: Any, saved: tuple | None) -> int:
    """The seed: the checkpoint's when resuming (a different one is refused), else 0."""
    saved_seed = None if saved is None else saved[0].get("seed")
    if saved is not None and seed is not None and seed != saved_seed:
        raise ValueError(f"seed={seed} differs from the checkpoint's seed {saved_seed}")
    seed = check_int(seed if seed is not None else (saved_seed or 0), "seed", 0)
    if seed >= 2**32:
        raise ValueError(f"seed must be below 2**32, got {seed}")
    return seed


def _device_data(data: Any, val: Any, dtype: Any) -> tuple:
    """(X, y, X_val, y_val) on the device; an empty validation set when there is none.

    Each Dataset keeps its device copy (per dtype), so fitting the same data again
    copies nothing (200,000 x 100 rows: about 80 ms a call otherwise)."""
    if val is None:
        from ..data import Dataset

        val = Dataset(np.zeros((0, data.n_features)), data.y[:0], data.task, data.classes)
    return (*data.on_device(dtype), *val.on_device(dtype))


def _resumed(setup: Setup, saved: tuple, where: Any) -> tuple:
    """(TrainState, history) from a checkpoint, refused if it belongs to another fit."""
    import jax.numpy as jnp

    header, arrays = saved
    where = ckpt.path_of(where)
    for key in ("model", "n_features", "n_train", "batch_size", "dtype", "optimizer", "validation"):
        if header.get(key) != setup.header[key]:
            raise ValueError(
                f"resume: {where} was written for {key} = {header.get(key)!r}; "
                f"this fit has {setup.header[key]!r}"
            )
    init, _ = programs(setup.model, setup.shape)
    like = init(setup.init_params, setup.data, setup.nums, 0)
    state = _unflatten(like, arrays, str(where))
    if int(state.step) > int(setup.nums.max_epochs):
        raise ValueError(
            f"resume: {where} is at epoch {int(state.step)}; epochs={int(setup.nums.max_epochs)} "
            "must be at least that (epochs counts the earlier ones)"
        )
    state = state._replace(status=jnp.int32(_resumed_status(setup, state)))
    history = {k[len("history/") :]: v for k, v in arrays.items() if k.startswith("history/")}
    missing = [k for k in setup.history_arrays(()) if k not in history]
    if missing:
        if setup.shape.record_params and any(k.startswith("params/") for k in missing):
            raise ValueError(f"resume: {where} was written without record_params=True")
        raise ValueError(f"resume: {where} lacks the history {', '.join(missing)}")
    return state, history
