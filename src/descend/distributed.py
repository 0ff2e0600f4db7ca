"""Several processes, one computation: a thin wrapper over :func:`jax.distributed.initialize`.

Call :func:`initialize` once at the start of each process, before the first JAX
computation::

    import descend as ds

    info = ds.distributed.initialize()  # reads what `descend launch` sets
    print(info.process_id, "of", info.num_processes, "sees", len(info.global_devices))

Where the arguments come from, first match wins:

1. the arguments given (``coordinator_address``, ``num_processes``, ``process_id``);
2. the environment variables ``DESCEND_COORDINATOR`` (``host:port``),
   ``DESCEND_NUM_PROCESSES`` and ``DESCEND_PROCESS_ID``, which ``descend launch -n N``
   (:mod:`descend.launch`) sets for each process it starts;
3. otherwise JAX's own detection of the cluster (SLURM, Open MPI, Kubernetes, cloud
   TPUs...): :func:`jax.distributed.initialize` reads that environment itself;
4. with none of these, the process runs alone: nothing is joined, and the same script
   works unchanged as one process.

A second call is a no-op that returns the same :class:`ProcessInfo`. On CPUs, JAX
(>= 0.5.1) runs cross-process collectives with gloo; use one CPU device per process
(``JAX_NUM_CPU_DEVICES=1``, what the launcher sets): with several devices per process
long queues of jitted steps without a host sync have hung (jax#25861).

Once joined, an exception nobody catches in a script prints its traceback and ends the
process at once with status 1 (130 for Ctrl-C), without running ``atexit`` handlers: a
normal exit would first wait for the other processes (JAX's shutdown and its
collectives), so one crash would stall every process until a timeout. ``sys.exit``
still exits the normal way.

JAX is imported only when a function here is called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = [
    "ENV_COORDINATOR",
    "ENV_NUM_PROCESSES",
    "ENV_PROCESS_ID",
    "ProcessInfo",
    "initialize",
    "is_initialized",
    "process_count",
    "process_index",
]

ENV_COORDINATOR = "DESCEND_COORDINATOR"
ENV_NUM_PROCESSES = "DESCEND_NUM_PROCESSES"
ENV_PROCESS_ID = "DESCEND_PROCESS_ID"
DEFAULT_TIMEOUT = 300  # seconds to wait for every process to reach the coordinator


class ProcessInfo(NamedTuple):
    """What :func:`initialize` returns: this process's place among the others."""

    process_id: int
    num_processes: int
    local_devices: tuple[Any, ...]
    global_devices: tuple[Any, ...]


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            ok = isinstance(value, np.integer)
        except ImportError:  # pragma: no cover - numpy comes with JAX
            ok = False
        if not ok:
            raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _from_env(name: str, var: str) -> int | None:
    text = os.environ.get(var, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: ${var} must be a whole number, got {text!r}") from None


def _check_address(address: Any) -> str:
    if not isinstance(address, str):
        raise TypeError(
            f"coordinator_address must be a string 'host:port', got "
            f"{type(address).__name__} {address!r}"
        )
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"coordinator_address must be 'host:port' with a port 1-65535, got {address!r}"
        )
    return address.strip()


def _resolve(
    coordinator_address: Any, num_processes: Any, process_id: Any
) -> tuple[str | None, int | None, int | None]:
    """The arguments, else the launcher's environment variables; checked."""
    if coordinator_address is None:
        coordinator_address = os.environ.get(ENV_COORDINATOR, "").strip() or None
    if num_processes is None:
        num_processes = _from_env("num_processes", ENV_NUM_PROCESSES)
    if process_id is None:
        process_id = _from_env("process_id", ENV_PROCESS_ID)
    if coordinator_address is not None:
        coordinator_address = _check_address(coordinator_address)
    if num_processes is not None:
        num_processes = _whole("num_processes", num_processes, 1)
    if process_id is not None:
        process_id = _whole("process_id", process_id, 0)
        if num_processes is not None and process_id >= num_processes:
            raise ValueError(
                f"process_id must be below num_processes ({num_processes}), got {process_id}"
            )
    return coordinator_address, num_processes, process_id


def _check_devices(local_device_ids: Any) -> int | list[int] | None:
    if local_device_ids is None:
        return None
    if isinstance(local_device_ids, (str, bytes)) or not isinstance(
        local_device_ids, (int, Sequence)
    ):
        raise TypeError(
            "local_device_ids must be a whole number or a sequence of them, got "
            f"{type(local_device_ids).__name__} {local_device_ids!r}"
        )
    if isinstance(local_device_ids, int):
        return _whole("local_device_ids", local_device_ids, 0)
    return [_whole("local_device_ids", i, 0) for i in local_device_ids]


def _info() -> ProcessInfo:
    import jax

    return ProcessInfo(
        jax.process_index(),
        jax.process_count(),
        tuple(jax.local_devices()),
        tuple(jax.devices()),
    )


def _exit_on_uncaught(hook: Any) -> Any:
    """``sys.excepthook`` that prints as ``hook`` does, then ends the process at once
    (status 1, 130 for Ctrl-C) while it is still joined to the others."""

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        try:
            hook(kind, value, tb)
        finally:
            if is_initialized():
                for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                    try:
                        stream.flush()
                    except Exception:  # a closed or broken stream: nothing more to say
                        pass
                os._exit(130 if issubclass(kind, KeyboardInterrupt) else 1)

    excepthook.descend = True  # type: ignore[attr-defined]
    return excepthook


def _install_excepthook() -> None:
    if not getattr(sys.excepthook, "descend", False):
        sys.excepthook = _exit_on_uncaught(sys.excepthook)


def _cluster_detected() -> bool:
    """Whether JAX's detection of a cluster (SLURM, Open MPI, Kubernetes, cloud TPUs...)
    finds one in this environment."""
    try:
        from jax._src import clusters
    except ImportError:  # pragma: no cover - a JAX without it: let JAX decide
        return True
    return any(env.is_env_present() for env in clusters.ClusterEnv._cluster_types)


def is_initialized() -> bool:
    """True once :func:`initialize` (or :func:`jax.distributed.initialize`) has run here."""
    import jax

    return bool(jax.distributed.is_initialized())


def process_index() -> int:
    """This process's number, 0 to ``process_count() - 1`` (0 when alone)."""
    import jax

    return int(jax.process_index())


def process_count() -> int:
    """How many processes take part (1 when alone)."""
    import jax

    return int(jax.process_count())


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: int | Sequence[int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ProcessInfo:
    """Join this process to the others; returns its :class:`ProcessInfo`.

    Arguments left as None come from ``$DESCEND_COORDINATOR``, ``$DESCEND_NUM_PROCESSES``
    and ``$DESCEND_PROCESS_ID`` (set by ``descend launch``), else from JAX's detection of
    the cluster. ``local_device_ids`` restricts the devices this process uses;
    ``timeout`` is how many seconds to wait for all processes to arrive. Must run before
    the first JAX computation of the process. Bad arguments raise TypeError or
    ValueError naming them; a second call returns the same information and does nothing.
    """
    address, n, pid = _resolve(coordinator_address, num_processes, process_id)
    devices = _check_devices(local_device_ids)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    import jax

    if jax.distributed.is_initialized():
        return _info()
    if address is None and n is None and pid is None and not _cluster_detected():
        return _info()  # alone: nothing to join, the script runs as one process
    try:
        jax.distributed.initialize(
            coordinator_address=address,
            num_processes=n,
            process_id=pid,
            local_device_ids=devices,
            initialization_timeout=max(1, int(round(timeout))),
        )
    except RuntimeError as e:
        if "before any JAX" in str(e) or "backend" in str(e).lower():
            raise RuntimeError(
                "descend.distributed.initialize() must run before the first JAX computation "
                f"of the process ({e})"
            ) from e
        raise
    info = _info()
    if info.num_processes > 1:
        _install_excepthook()
    return info
