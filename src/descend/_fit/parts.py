"""A fit's data over several processes: each holds a block of the rows on its devices.

The training (and validation) rows are one global array split by rows over the mesh of
every process's devices; process ``p`` holds block ``p`` (padded with zero rows to the
same length in every process). A map ``index`` takes row ``r`` of the data (the
concatenation of the processes' rows, in process order) to its place in that array, so
the shuffled mini-batches are the very rows one process would draw: each device
computes the part of the batch in its block (:mod:`descend._fit.program`), and a fit
over processes matches one process up to the order of the gradient's sum.

Where the rows come from (``local_rows``):

* ``False``: every process passes the same, whole data (the script is unchanged); each
  keeps only its block on its devices.
* ``True``: every process passes only its own rows (read from its own files); the data
  is their concatenation in process order; classes and features must agree.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import numpy as np

from .. import _multi

__all__ = [
    "Layout",
    "check_parts",
    "device_parts",
    "fingerprint",
    "layout",
    "place",
    "rows_in_all",
]


class Layout(NamedTuple):
    """Where a set's rows lie: ``n`` rows in all, blocks of ``block`` per process."""

    n: int
    block: int
    index: np.ndarray  # (n,) int32: data row -> row of the global array


def layout(n_local: int, local_rows: bool, local_devices: int) -> tuple[Layout, slice]:
    """The set's layout over processes, and which of this process's rows it holds
    (all of its own with ``local_rows``, else its block of the whole)."""
    procs, me = _multi.count(), _process_index()
    if local_rows:
        sizes = _multi.gather([n_local])[:, 0]
        mine = slice(0, n_local)
    else:
        sizes = _blocks(n_local, procs)
        start = int(np.sum(sizes[:me]))
        mine = slice(start, start + int(sizes[me]))
    block = -(-int(np.max(sizes)) // local_devices) * local_devices  # a multiple of L
    index = np.concatenate([p * block + np.arange(s) for p, s in enumerate(sizes)])
    return Layout(int(np.sum(sizes)), block, index.astype(np.int32)), mine


def _blocks(n: int, procs: int) -> np.ndarray:
    """Rows of each process's block of ``n`` rows: equal up to one."""
    return np.array([n // procs + (p < n % procs) for p in range(procs)])


def _process_index() -> int:
    import jax

    return int(jax.process_index())


def place(X: np.ndarray, y: np.ndarray, lay: Layout, mine: slice, mesh: Any) -> tuple:
    """(X, y) as global arrays split by rows over ``mesh``, from this process's rows."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    rows = PartitionSpec("batch")
    out = []
    for a in (X[mine], y[mine]):
        block = np.zeros((lay.block, *a.shape[1:]), a.dtype)
        block[: len(a)] = a
        shape = (lay.block * _multi.count(), *a.shape[1:])
        out.append(jax.make_array_from_process_local_data(NamedSharding(mesh, rows), block, shape))
    return tuple(out)


def check_parts(data: Any, val: Any, local_rows: bool) -> None:
    """Refuse, in every process alike, data that does not fit together: parts whose
    features, task or classes differ, or a whole set that is not the same everywhere
    (compared on its shape and a sample of its rows)."""
    what = []
    for part in (data, val):
        if part is None:
            what.append("none")
            continue
        head = (part.n_features, part.task, part.classes)
        if not local_rows:  # whole: the same rows everywhere
            step = max(1, len(part) // 1000)
            sample = np.ascontiguousarray(part.X[::step]).tobytes() + part.y[::step].tobytes()
            head = (*head, len(part), hashlib.sha256(sample).hexdigest())
        what.append(repr(head))
    digest = int(hashlib.sha256("|".join(what).encode()).hexdigest()[:15], 16)
    seen = _multi.gather([digest])[:, 0]
    odd = [p for p, d in enumerate(seen) if d != seen[0]]
    if odd:
        kind = (
            "features, task or classes"
            if local_rows
            else "rows (every process must pass the "
            "same whole data, or its own rows with local_rows=True)"
        )
        raise ValueError(
            f"train/validation differ between process 0 and process {odd[0]} in their {kind}"
        )


def fingerprint(val: Any, local_rows: bool) -> str | None:
    """The validation set's identity over every process (see ``inputs.fingerprint``)."""
    from .inputs import fingerprint as one

    if val is None or not local_rows:
        return one(val)
    digests = _multi.gather([int(one(val).rsplit(" ", 1)[1][:15], 16)])[:, 0]
    rows = int(_multi.gather([len(val)]).sum())
    joined = hashlib.sha256(np.asarray(digests, np.int64).tobytes()).hexdigest()[:16]
    return f"{rows} rows, sha256 {joined}"


def device_parts(data: Any, val: Any, dtype: Any, devices: int, local_rows: bool) -> tuple:
    """``(X, y, X_val, y_val, index, index_val)`` for a fit over several processes: the
    sets split by rows over every process's devices, the index maps whole on each."""
    import jax

    from .program import mesh, replicated

    m, whole = mesh(devices), replicated(devices)
    local = len(jax.local_devices())
    out, maps = [], []
    for part in (data, val):
        labels = np.int32 if part is not None and part.is_classification else dtype
        if part is None:  # no validation: empty, whole on each
            X = np.zeros((0, data.n_features), dtype)
            empty = (X, np.zeros(0, labels), np.zeros(0, np.int32))
            out.extend(jax.device_put(empty[:2], whole))
            maps.append(jax.device_put(empty[2], whole))
            continue
        lay, mine = layout(len(part), local_rows, local)
        X, y = np.asarray(part.X, dtype), np.asarray(part.y, labels)
        out.extend(place(X, y, lay, mine, m))
        maps.append(jax.device_put(lay.index, whole))
    return (*out, *maps)


def rows_in_all(n_local: int, local_rows: bool) -> int:
    """The set's rows over every process."""
    return int(_multi.gather([n_local]).sum()) if local_rows else n_local
