"""The chunk driver: runs a compiled loop chunk by chunk, with progress, callback and Ctrl-C.

Everything that talks to the user while a run goes on lives here, so that any loop
(the engine's, a training loop over data) gets the same chunks, progress bar,
``callback(intermediate_result)`` with ``StopIteration``, and Ctrl-C handling.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import stopping
from ._engine.compiled import Fresh, compiled
from ._engine.state import Config, State, Tolerances
from ._inputs import tree_size
from ._objective import signature
from .stopping import Status

__all__ = ["Progress", "SigintFlag", "drive", "interruptible"]

_WARM: set = set()  # loops already compiled, keyed by config and signature


class SigintFlag:
    """Turns Ctrl-C into a flag the driver reads between chunks.

    Installed when a run is entered, before anything is traced or compiled, so a
    Ctrl-C at any moment (tracing, compiling, stepping) ends the run with status
    ``interrupted`` instead of a ``KeyboardInterrupt`` from inside JAX, and no buffer
    is left half-donated. Nested runs (a replay inside a run) share the outer flag.
    Only the main thread receives signals; elsewhere the flag never goes up.
    """

    _local = threading.local()  # the flag of the run this thread is in

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None
        self._outer: SigintFlag | None = None

    def __enter__(self) -> SigintFlag:
        self._outer = getattr(self._local, "flag", None)
        if self._outer is not None:
            return self._outer
        self._local.flag = self
        # A process that ignores SIGINT (started in the background) keeps ignoring it.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):
            try:
                old = signal.signal(signal.SIGINT, self._handler)
                # None: a handler installed outside Python; the default is the nearest.
                self._old = signal.SIG_DFL if old is None else old
            except ValueError:  # not allowed here (e.g. embedded interpreter)
                self._old = None
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        if self.hit:  # a second Ctrl-C: stop now, without waiting for the run
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc: Any) -> None:
        if self._outer is not None:
            return
        self._local.flag = None
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    @classmethod
    def current(cls) -> SigintFlag:
        """The flag of the run this thread is in (a fresh one outside any run)."""
        return getattr(cls._local, "flag", None) or cls()

    @classmethod
    @contextlib.contextmanager
    def unheard(cls) -> Iterator[None]:
        """Runs inside see a flag that never goes up (a replay that completes a result);
        a Ctrl-C meanwhile still reaches the outer run's flag."""
        saved = getattr(cls._local, "flag", None)
        cls._local.flag = cls()
        try:
            yield
        finally:
            cls._local.flag = saved


def interruptible(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` (an entry point such as ``minimize``) under one Ctrl-C flag."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with SigintFlag():
            return fn(*args, **kwargs)

    return wrapper


class Progress:
    """A progress bar (rich if installed, else a line on stderr)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.total = total
        self._bar: Any = None
        if not enabled:
            return
        try:
            from rich.progress import BarColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("descend"),
                BarColumn(),
                TextColumn("step {task.completed:,}/{task.total:,}"),
                TextColumn("{task.fields[info]}"),
                transient=False,
            )
            self._task = self._bar.add_task("run", total=total, info="")
            self._bar.start()
        except ImportError:
            self._bar = None

    def update(self, step: int, info: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)
        else:
            import sys

            print(f"\rdescend step {step:,}/{self.total:,} {info}", end="", file=sys.stderr)

    def close(self) -> None:
        if self.enabled:
            if self._bar is not None:
                self._bar.stop()
            else:
                import sys

                print(file=sys.stderr)


def drive(
    cfg: Config,
    state: State | Fresh,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    *,
    batched: bool,
    hyper_batched: bool,
    max_steps: int,
    callback: Callable[[Any], Any] | None,
    progress: bool,
    chunk_size: int | None,
    snapshot: Callable[[State], Any],
) -> tuple[State, float, float]:
    """Run the compiled loop chunk by chunk; returns (state, wall_time, compile_time).

    Between chunks: progress, ``callback(snapshot)`` (StopIteration -> ``stopped``,
    KeyboardInterrupt -> ``interrupted``) and Ctrl-C (-> ``interrupted``).
    """
    import jax
    import jax.numpy as jnp

    sigint = SigintFlag.current()  # installed by the entry point (@interruptible)
    init_fn, chunk_fn, start_fn = compiled(batched, hyper_batched)
    interactive = callback is not None or progress
    target = 0.1 if interactive else 0.5  # seconds per chunk
    # First chunk: short with a bar or callback; otherwise about 10^8 parameter-steps
    # (~0.1 s; small runs and batches finish in one dispatch).
    fresh = isinstance(state, Fresh)
    n_params = max(1, tree_size(state.x0 if fresh else state.x))
    size = chunk_size or (64 if interactive else max(1, min(100_000, 10**8 // n_params)))
    t0 = time.perf_counter()
    if fresh and size < max_steps:
        # More than one chunk: the chunk function is needed (and compiled) anyway.
        state, fresh = init_fn(cfg, state.x0, hyper, args, tols), False
        jax.block_until_ready(state.status)  # compiling init counts as compile time

    def run(state: Any, stop_at: int) -> State:
        if isinstance(state, Fresh):
            return start_fn(cfg, state.x0, hyper, args, tols, np.int32(stop_at))
        return chunk_fn(cfg, state, hyper, args, tols, np.int32(stop_at))

    # The state's layout follows from cfg and x; keying on them is cheaper than the state.
    key = signature(state.x0 if fresh else state.x, hyper, args)
    key = None if key is None else (cfg, batched, hyper_batched, fresh, key)
    if key is None or key not in _WARM:
        # A zero-step call compiles the loop, so chunk timing below measures only steps.
        warm = run(state, 0)
        jax.block_until_ready(warm.status)
        # A fresh run starts again (init is cheap), unless Ctrl-C came while compiling.
        state = state if fresh and not sigint.hit else warm
        if key is not None:
            _WARM.add(key)
    if sigint.hit and isinstance(state, Fresh):
        # Ctrl-C while checking or tracing: the result is the start, f and gradient there.
        state = init_fn(cfg, state.x0, hyper, args, tols)
    compile_time = time.perf_counter() - t0
    bar = Progress(max_steps, progress)
    done_at = 0
    final_code: int | None = None
    run_start = time.perf_counter()
    try:
        while True:
            if sigint.hit:
                final_code = stopping.CODES[Status.INTERRUPTED]
                break
            stop_at = min(done_at + size, max_steps)
            steps_run = stop_at - done_at
            t_chunk = time.perf_counter()
            state = run(state, stop_at)
            done_at = stop_at
            if done_at >= max_steps:
                break  # no need to wait for the status here: finish() fetches it
            step, status = jax.device_get((state.step, state.status))
            elapsed = time.perf_counter() - t_chunk
            if not (np.asarray(status) == stopping.RUNNING).any():
                break
            if sigint.hit:
                final_code = stopping.CODES[Status.INTERRUPTED]
                break
            if progress:
                f = np.asarray(jax.device_get(state.f))
                g = np.sqrt(np.asarray(jax.device_get(state.grad_norm)))
                bar.update(int(np.max(step)), f"f {np.min(f):.4g}  |grad| {np.min(g):.2e}")
            if callback is not None:
                try:
                    callback(snapshot(state))
                except StopIteration:
                    final_code = stopping.CODES[Status.STOPPED]
                    break
                except KeyboardInterrupt:
                    final_code = stopping.CODES[Status.INTERRUPTED]
                    break
            if chunk_size is None:
                # Aim for ~target seconds per chunk: each chunk costs a dispatch
                # (~0.1 ms), so few, long chunks; with a bar or callback grow
                # geometrically so the first updates come quickly.
                per_step = max(elapsed, 1e-6) / max(steps_run, 1)
                want = max(int(target / per_step), 1)
                size = min(size * 2, want) if interactive else want
    finally:
        if progress:
            f = np.asarray(jax.device_get(state.f))
            bar.update(int(np.max(jax.device_get(state.step))), f"f {np.min(f):.4g}")
            bar.close()
    if final_code is not None:
        state = state._replace(
            status=jnp.where(state.status == stopping.RUNNING, jnp.int32(final_code), state.status)
        )
    return state, time.perf_counter() - run_start, compile_time
