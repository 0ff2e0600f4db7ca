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
from typing import Any, NamedTuple

import numpy as np

from . import stopping
from .stopping import Status

__all__ = ["Fresh", "Program", "Progress", "SigintFlag", "drive", "interruptible"]


class Fresh(NamedTuple):
    """A run not started: the driver runs its init and first chunk in one call."""

    x0: Any


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

    def __init__(self, total: int, enabled: bool, unit: str = "step") -> None:
        self.enabled = enabled
        self.total = total
        self.unit = unit
        self._bar: Any = None
        if not enabled:
            return
        try:
            from rich.progress import BarColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("descend"),
                BarColumn(),
                TextColumn(unit + " {task.completed:,}/{task.total:,}"),
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

            print(f"\rdescend {self.unit} {step:,}/{self.total:,} {info}", end="", file=sys.stderr)

    def close(self) -> None:
        if self.enabled:
            if self._bar is not None:
                self._bar.stop()
            else:
                import sys

                print(file=sys.stderr)


class Program(NamedTuple):
    """A compiled loop as the driver sees it: any loop with these pieces can be driven.

    Its state is a NamedTuple with ``step`` and ``status`` (codes of
    :mod:`descend.stopping`; a leading run axis in batches) and ``_replace``.
    """

    init: Callable[[Any], Any]  # start -> the state there
    chunk: Callable[[Any, Any], Any]  # (state, stop_at) -> steps until stop_at or all stopped
    start: Callable[[Any, Any], Any]  # (start, stop_at) -> init then chunk: one dispatch
    key: Any  # hashable, equal for programs that share compiled code; None: unknown
    size: int  # parameters of all runs together: sizes the first chunk


def drive(
    program: Program,
    state: Any,
    *,
    max_steps: int,
    callback: Callable[[Any], Any] | None,
    progress: bool,
    chunk_size: int | None,
    snapshot: Callable[[Any], Any],
    describe: Callable[[Any], str] | None = None,
    first_step: int = 0,
    unit: str = "step",
    first_chunk: int = 64,
) -> tuple[Any, float, float]:
    """Run ``program`` chunk by chunk from ``state`` (or a :class:`Fresh` start) at step
    ``first_step`` (a resumed run) to ``max_steps``. With a bar or callback the first
    chunk has ``first_chunk`` steps and the next ones grow.

    Between chunks: the progress bar (``describe(state)`` says what it shows),
    ``callback(snapshot(state))`` (StopIteration -> ``stopped``, KeyboardInterrupt ->
    ``interrupted``) and Ctrl-C (-> ``interrupted``). Returns (state, wall_time,
    compile_time).
    """
    sigint = SigintFlag.current()  # installed by the entry point (@interruptible)
    interactive = callback is not None or progress
    # First chunk: short with a bar or callback; otherwise about 10^8 parameter-steps
    # (~0.1 s; small runs and batches finish in one dispatch).
    size = chunk_size or (
        first_chunk if interactive else max(1, min(100_000, 10**8 // program.size))
    )
    t0 = time.perf_counter()
    state = _compile(program, state, size < max_steps, sigint)
    compile_time = time.perf_counter() - t0
    bar = Progress(max_steps, progress, unit)
    describe = describe or _describe
    done_at = first_step
    final_code, size = _agreed(Status.INTERRUPTED if sigint.hit else None, size)
    try:
        while final_code is None:
            stop_at = min(done_at + size, max_steps)
            t_chunk = time.perf_counter()
            state = _advance(program, state, stop_at)
            steps_run, done_at = stop_at - done_at, stop_at
            if done_at >= max_steps:
                break  # no need to wait for the status here: the result fetches it
            step, status = (np.asarray(a) for a in _fetch((state.step, state.status)))
            elapsed = time.perf_counter() - t_chunk
            if not (status == stopping.RUNNING).any():
                break
            if sigint.hit:
                final_code = Status.INTERRUPTED
            else:
                if progress:
                    bar.update(int(np.max(step)), describe(state))
                final_code = _call_back(callback, snapshot, state)
            if final_code is None and sigint.hit:  # Ctrl-C during the bar or callback
                final_code = Status.INTERRUPTED
            if chunk_size is None:
                size = _next_size(size, elapsed, steps_run, interactive)
            final_code, size = _agreed(final_code, size)
    finally:
        if progress:
            bar.update(int(np.max(_fetch(state.step))), describe(state))
            bar.close()
    if final_code is not None:
        state = _stop_running(state, stopping.CODES[final_code])
    return state, time.perf_counter() - t0 - compile_time, compile_time


def _fetch(tree: Any) -> Any:
    from ._multi import to_host

    return to_host(tree)


_CODES = {None: 0, Status.STOPPED: 1, Status.INTERRUPTED: 2}


def _agreed(final_code: Any, size: int) -> tuple[Any, int]:
    """Process 0's decision (stop or not, the next chunk's size) in every process: with
    several processes the chunks run in step (each holds collectives), so Ctrl-C or a
    callback's stop there stops all, and chunk timings that differ cannot split them."""
    from ._multi import agree, count

    if count() == 1:
        return final_code, size
    code, size = agree(_CODES[final_code], size)
    return {v: k for k, v in _CODES.items()}[code], size


def _advance(program: Program, state: Any, stop_at: int) -> Any:
    if isinstance(state, Fresh):
        return program.start(state.x0, np.int32(stop_at))
    return program.chunk(state, np.int32(stop_at))


def _compile(program: Program, state: Any, several_chunks: bool, sigint: SigintFlag) -> Any:
    """Compile what the run will call (a zero-step call), so chunk timing measures
    steps only; returns the state to start from."""
    import jax

    if isinstance(state, Fresh) and several_chunks:
        # More than one chunk: the chunk function is needed (and compiled) anyway.
        state = program.init(state.x0)
        jax.block_until_ready(state.status)  # compiling init counts as compile time
    fresh = isinstance(state, Fresh)
    key = None if program.key is None else (program.key, fresh)
    if key is None or key not in _WARM:
        warm = _advance(program, state, 0)
        jax.block_until_ready(warm.status)
        # A fresh run starts again (init is cheap), unless Ctrl-C came while compiling.
        state = state if fresh and not sigint.hit else warm
        if key is not None:
            _WARM.add(key)
    if sigint.hit and isinstance(state, Fresh):
        # Ctrl-C while checking or tracing: the result is the start, f and gradient there.
        state = program.init(state.x0)
    return state


def _call_back(callback: Callable[[Any], Any] | None, snapshot: Callable, state: Any) -> Any:
    """Call the user's callback; the Status that ends the run, if it asks to stop."""
    if callback is None:
        return None
    try:
        callback(snapshot(state))
    except StopIteration:
        return Status.STOPPED
    except KeyboardInterrupt:
        return Status.INTERRUPTED
    return None


def _next_size(size: int, elapsed: float, steps_run: int, interactive: bool) -> int:
    """Steps in the next chunk: about 0.5 s of work (0.1 s with a bar or callback).

    Each chunk costs a dispatch (~0.1 ms), so few, long chunks; with a bar or
    callback the size grows geometrically, so the first updates come quickly.
    """
    per_step = max(elapsed, 1e-6) / max(steps_run, 1)
    want = max(int((0.1 if interactive else 0.5) / per_step), 1)
    return min(size * 2, want) if interactive else want


def _describe(state: Any) -> str:
    """The bar's text for a run of the engine (or the best of a batch's runs)."""
    f = np.asarray(_fetch(state.f))
    g = np.sqrt(np.asarray(_fetch(state.grad_norm)))  # kept squared in the loop
    return f"f {np.min(f):.4g}  |grad| {np.min(g):.2e}"


def _stop_running(state: Any, code: int) -> Any:
    """Runs still running get ``code`` (stopped, interrupted); the others keep theirs."""
    import jax.numpy as jnp

    status = jnp.where(state.status == stopping.RUNNING, jnp.int32(code), state.status)
    return state._replace(status=status)
