"""Inputs checked once, before anything is traced: the start, args, options, history.

Every entry point (``minimize``, ``minimize_batch``, the calculus helpers) checks what
the user gave here, so a mistake gets one clear error naming the argument at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._checks import check_int, check_real, check_tol

__all__ = [
    "DEFAULT_MAX_HISTORY_BYTES",
    "HISTORY_FIELDS",
    "check_args",
    "check_history_budget",
    "check_options",
    "history_fields",
    "history_rows",
    "message_tols",
    "prepare_x0",
    "Options",
    "tree_size",
]

HISTORY_FIELDS = ("x", "fun", "grad_norm", "step_size")


DEFAULT_MAX_HISTORY_BYTES = 2**30


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


def check_args(args: Any) -> tuple:
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


def tree_size(x: Any) -> int:
    import jax

    return sum(int(np.size(l)) for l in jax.tree.leaves(x))


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


def history_rows(max_steps: int, record_every: int) -> int:
    return -(-max_steps // record_every) + 1


def check_history_budget(
    record: tuple[str, ...], x0: Any, rows: int, n_runs: int, max_history_bytes: float
) -> None:
    """Refuse, before anything runs, a history that would need over max_history_bytes."""
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


class Options(NamedTuple):
    """A run's options, checked (see :func:`check_options`)."""

    gtol: float
    xtol: float
    ftol: float
    max_steps: int
    record_every: int
    record: tuple[str, ...]  # the history fields kept
    max_history_bytes: float
    diverge_factor: float
    callback: Callable[[Any], Any] | None
    progress: bool
    chunk_size: int | None

    @property
    def rules(self) -> tuple[str, ...]:
        """The tolerance rules that are on."""
        return tuple(r for r in ("gtol", "xtol", "ftol") if getattr(self, r) > 0)

    @property
    def rows(self) -> int:
        """History rows to preallocate (0 without a history)."""
        return history_rows(self.max_steps, self.record_every) if self.record else 0


def check_options(
    *,
    gtol: Any,
    xtol: Any,
    ftol: Any,
    max_steps: Any,
    record_every: Any,
    history: Any,
    max_history_bytes: Any,
    diverge_factor: Any,
    callback: Any,
    progress: Any,
    chunk_size: Any,
) -> Options:
    """The options of ``minimize`` and ``minimize_batch``, each checked by its rule."""
    max_steps = check_int(max_steps, "max_steps")
    if max_steps >= 2**31:
        raise ValueError(f"max_steps must be below 2**31, got {max_steps}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    return Options(
        gtol=check_tol(gtol, "gtol"),
        xtol=check_tol(xtol, "xtol"),
        ftol=check_tol(ftol, "ftol"),
        max_steps=max_steps,
        record_every=check_int(record_every, "record_every"),
        record=history_fields(history),
        max_history_bytes=check_real(
            max_history_bytes, "max_history_bytes", low=0, low_open=True, finite=False
        ),
        diverge_factor=check_real(
            diverge_factor, "diverge_factor", low=0, low_open=True, finite=False
        ),
        callback=callback,
        progress=bool(progress),
        chunk_size=None if chunk_size is None else check_int(chunk_size, "chunk_size"),
    )


def message_tols(opts: Options) -> dict:
    """The options the stop messages quote."""
    return {k: getattr(opts, k) for k in ("gtol", "xtol", "ftol", "max_steps", "diverge_factor")}
