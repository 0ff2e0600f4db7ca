"""A fit's inputs, each checked once and named in the error when it is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_int
from . import checkpoint as ckpt

__all__ = [
    "batch_size_of",
    "check_checkpoint",
    "check_params",
    "check_validation",
    "dataset",
    "device_data",
    "devices_of",
    "dtype_of",
    "fingerprint",
    "model_of",
    "seed_of",
]


def dataset(data: Any, name: str, model: Any = None) -> Any:
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


def model_of(model: Any, params: Any) -> Any:
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


def dtype_of(dtype: Any) -> Any:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(name)


def check_checkpoint(checkpoint: Any, resume: Any) -> None:
    """A new fit does not write over another fit's checkpoint (its work would be lost)."""
    if checkpoint is None:
        return
    target = ckpt.path_of(checkpoint)
    if target.exists() and (resume is None or ckpt.path_of(resume).resolve() != target.resolve()):
        raise ValueError(
            f"checkpoint: {target} holds another fit's checkpoint; continue it with "
            f"resume={str(checkpoint)!r}, or choose another folder"
        )


def check_params(params: Any, like: Any, model: Any) -> None:
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


def fingerprint(val: Any) -> str | None:
    """The validation set's identity (rows and a hash of its numbers): early stopping
    compares losses across epochs, so a resumed fit must watch the same set."""
    import hashlib

    if val is None:
        return None
    digest = hashlib.sha256(np.ascontiguousarray(val.X).tobytes())
    digest.update(np.ascontiguousarray(val.y).tobytes())
    return f"{len(val)} rows, sha256 {digest.hexdigest()[:16]}"


def check_validation(data: Any, val: Any) -> None:
    if val is None:
        return
    if val.n_features != data.n_features:
        raise ValueError(f"validation has {val.n_features} features, train has {data.n_features}")
    if len(val) == 0:
        raise ValueError("validation has no rows")


def batch_size_of(batch_size: Any, n: int) -> int | None:
    if batch_size is None:
        return None
    batch_size = check_int(batch_size, "batch_size", 1)
    if batch_size > n:
        raise ValueError(
            f"batch_size must be at most the number of training rows ({n}), "
            f"got {batch_size}; batch_size=None trains on all rows at once"
        )
    return batch_size


def seed_of(seed: Any, saved: tuple | None) -> int:
    """The seed: the checkpoint's when resuming (a different one is refused), else 0."""
    saved_seed = None if saved is None else saved[0].get("seed")
    if saved is not None and seed is not None and seed != saved_seed:
        raise ValueError(f"seed={seed} differs from the checkpoint's seed {saved_seed}")
    seed = check_int(seed if seed is not None else (saved_seed or 0), "seed", 0)
    if seed >= 2**32:
        raise ValueError(f"seed must be below 2**32, got {seed}")
    return seed


def devices_of(devices: Any, batch_size: int | None, n: int, saved: tuple | None) -> int:
    """How many local devices split each mini-batch: all of them by default, a resumed
    fit's own count (another count would not continue it exactly: it is refused).
    A batch size that does not divide by the count is refused, naming sizes that do."""
    from .. import _multi

    available = len(_multi.devices())  # every process's with several
    written = None if saved is None else int(saved[0].get("devices", 1))
    if devices is not None:
        devices = check_int(devices, "devices", 1)
    if _multi.count() > 1 and devices not in (None, available):
        raise ValueError(
            f"with {_multi.count()} processes a fit runs on all {available} of their devices; "
            f"devices must be {available} or unset, got {devices}"
        )
    if written is not None and devices not in (None, written):
        raise ValueError(
            f"resume: the checkpoint was written on {written} device(s), this fit asks for "
            f"devices={devices}; a fit continues exactly only on its own device count "
            f"(devices={written}, or leave devices unset)"
        )
    if written is not None and written > available:
        raise ValueError(
            f"resume: the checkpoint was written on {written} devices, this process has "
            f"{available}; a fit continues exactly only on its own device count"
        )
    devices = devices or written or available
    if devices > available:
        raise ValueError(f"devices must be at most the {available} local device(s), got {devices}")
    if batch_size is not None and batch_size % devices:
        low = batch_size - batch_size % devices
        sizes = [str(v) for v in (low, low + devices) if 1 <= v <= n]
        hint = f" (e.g. {' or '.join(sizes)})" if sizes else ""
        raise ValueError(
            f"batch_size must be a multiple of the {devices} devices each batch is split "
            f"over{hint}, got {batch_size}; or devices=1, or batch_size=None"
        )
    return devices


def device_data(data: Any, val: Any, dtype: Any, devices: int = 1) -> tuple:
    """(X, y, X_val, y_val) on the device; an empty validation set when there is none.
    On several devices, whole on each (the program splits each batch's rows).

    Each Dataset keeps its device copy (per dtype), so fitting the same data again
    copies nothing (200,000 x 100 rows: about 80 ms a call otherwise)."""
    if val is None:
        from ..data import Dataset

        val = Dataset(np.zeros((0, data.n_features)), data.y[:0], data.task, data.classes)
    arrays = (*data.on_device(dtype), *val.on_device(dtype))
    if devices > 1:
        import jax

        from .program import replicated

        arrays = jax.device_put(arrays, replicated(devices))
    return arrays
