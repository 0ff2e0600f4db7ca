"""Several processes (``jax.distributed``): the few things descend does differently there.

With one process every function here is the plain single-process operation. With
several, a computation over all global devices runs in every process in step: each
process must make the same calls with the same decisions, or the collectives wait for
each other forever. So the decisions the driver takes between chunks (how many steps
next, whether to stop) are process 0's, sent to all; values that span other processes'
devices come to the host by an all-gather; files are written by process 0.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = ["agree", "barrier", "count", "devices", "gather", "identical", "is_main", "to_host"]


def count() -> int:
    """How many processes take part (1 unless ``jax.distributed`` is initialized)."""
    import jax

    return int(jax.process_count())


def is_main() -> bool:
    """Whether this is process 0, the one that writes files."""
    import jax

    return int(jax.process_index()) == 0


def devices() -> list:
    """The devices a batch is spread over: every process's (all local ones when alone)."""
    import jax

    return list(jax.devices()) if count() > 1 else list(jax.local_devices())


def to_host(tree: Any) -> Any:
    """``tree`` as numpy arrays; leaves that span other processes' devices are gathered
    (every process calls this at the same point)."""
    import jax

    def one(leaf: Any) -> Any:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            if leaf.is_fully_replicated:
                return np.asarray(leaf.addressable_data(0))
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return jax.device_get(leaf)

    return jax.tree.map(one, tree)


def agree(*values: int) -> tuple[int, ...]:
    """Process 0's ``values`` (small integers) in every process; unchanged when alone."""
    if count() == 1:
        return values
    from jax.experimental import multihost_utils

    sent = multihost_utils.broadcast_one_to_all(np.asarray(values, np.int64))
    return tuple(int(v) for v in np.asarray(sent))


def gather(values: Any) -> np.ndarray:
    """Every process's ``values`` (a small 1-D integer array), stacked: (processes, k)."""
    arr = np.atleast_1d(np.asarray(values, np.int64))
    if count() == 1:
        return arr[None]
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(arr)).reshape(count(), -1)


def identical(tree: Any, name: str) -> None:
    """Refuse, in every process alike, a ``tree`` that is not the same in all of them
    (a checksum of its bytes is compared)."""
    if count() == 1:
        return
    import jax

    crc = 0
    for leaf in jax.tree.leaves(tree):
        a = np.ascontiguousarray(to_host(leaf))
        crc = zlib.crc32(repr((a.shape, a.dtype.str)).encode() + a.tobytes(), crc)
    sums = gather([crc])[:, 0]
    differ = [i for i, c in enumerate(sums) if c != sums[0]]
    if differ:
        raise ValueError(
            f"{name} differs between processes (process {differ[0]} has other values than "
            f"process 0); with several processes every one must pass the same {name}"
        )


def barrier(name: str) -> None:
    """Wait until every process gets here (no-op when alone)."""
    if count() == 1:
        return
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
