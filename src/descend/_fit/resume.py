"""Resuming a fit: the training state to and from a checkpoint's arrays, and which
checkpoints a fit may continue."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import stopping
from ..stopping import Status
from . import checkpoint as ckpt
from .program import TrainState, programs, replicated

__all__ = ["flatten", "resumed", "resumed_status", "unflatten"]


def resumed_status(setup: Any, state: TrainState) -> int:
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


def flatten(state: TrainState) -> dict[str, np.ndarray]:
    """The state's leaves in a fixed order, numbered by field."""
    import jax

    out = {}
    for field in TrainState._fields:
        for i, leaf in enumerate(jax.tree.leaves(getattr(state, field))):
            out[f"{field}/{i}"] = np.asarray(leaf)
    return out


def unflatten(like: TrainState, arrays: dict[str, np.ndarray], where: str) -> TrainState:
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


def resumed(setup: Any, saved: tuple, where: Any) -> tuple:
    """(TrainState, history) from a checkpoint, refused if it belongs to another fit."""
    import jax
    import jax.numpy as jnp

    header, arrays = saved
    where = ckpt.path_of(where)
    for key in ("model", "n_features", "n_train", "batch_size", "dtype", "optimizer", "validation"):
        if header.get(key) != setup.header[key]:
            raise ValueError(
                f"resume: {where} was written for {key} = {header.get(key)!r}; "
                f"this fit has {setup.header[key]!r} (a resumed fit takes the same "
                "model, data, batch_size, dtype, optimizer and validation)"
            )
    init, _ = programs(setup.model, setup.shape)
    like = init(setup.init_params, setup.data, setup.nums, 0)
    state = unflatten(like, arrays, str(where))
    if int(state.step) > int(setup.nums.max_epochs):
        raise ValueError(
            f"resume: {where} is at epoch {int(state.step)}; epochs={int(setup.nums.max_epochs)} "
            "must be at least that (epochs counts the earlier ones)"
        )
    state = state._replace(status=jnp.int32(resumed_status(setup, state)))
    if setup.shape.devices > 1:  # whole on every device (of every process)
        state = jax.device_put(jax.tree.map(np.asarray, state), replicated(setup.shape.devices))
    history = {k[len("history/") :]: v for k, v in arrays.items() if k.startswith("history/")}
    missing = [k for k in setup.history_arrays(()) if k not in history]
    if missing:
        if setup.shape.record_params and any(k.startswith("params/") for k in missing):
            raise ValueError(f"resume: {where} was written without record_params=True")
        raise ValueError(f"resume: {where} lacks the history {', '.join(missing)}")
    return state, history
