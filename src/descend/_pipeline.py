"""The one pipeline of ``minimize`` and ``minimize_batch``.

inputs checked once (:func:`check_inputs`) -> a plan (:mod:`descend._engine.plan`:
the numbers, the loop) -> the compiled loop, run by the chunk driver (progress,
callback, Ctrl-C) -> result assembly (:func:`descend._assemble.finish`) -> fields
from which each entry point builds its ``Result`` or ``BatchResult``. The two entry
points differ only where batching does: how starts become runs, and the result's shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from ._assemble import finish
from ._driver import Fresh, Program, drive
from ._engine.compiled import compiled, quick
from ._engine.state import Config, State, Tolerances
from ._inputs import (
    Options,
    check_args,
    check_history_budget,
    check_options,
    message_tols,
    tree_size,
)
from ._objective import Objective, make_objective, signature

__all__ = ["Outcome", "check_inputs", "check_memory", "program", "run"]


def check_inputs(
    fun: Any, grad: Any, args: Any, **options: Any
) -> tuple[Objective, tuple, Options]:
    """The objective, args and options, each checked (before the start is looked at)."""
    opts = check_options(**options)
    return make_objective(fun, grad), check_args(args), opts


def check_memory(x0: Any, opts: Options, n_runs: int) -> None:
    """Refuse a history that would not fit in ``max_history_bytes`` for all runs."""
    check_history_budget(opts.record, x0, opts.rows, n_runs, opts.max_history_bytes)


class Outcome(NamedTuple):
    """What the pipeline hands back: the host-side fields and the timings."""

    fields: dict
    started: float  # time.perf_counter() when the runs started
    compile_time: float

    @property
    def wall_time(self) -> float:
        """Seconds since the start, without compilation: read it as the result is built."""
        return time.perf_counter() - self.started - self.compile_time


def program(
    cfg: Config,
    x: Any,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    *,
    batched: bool,
    hyper_batched: bool,
) -> Program:
    """The engine's compiled loop for these runs, as the driver sees it."""
    init, chunk, start = compiled(batched, hyper_batched, quick(cfg, x, batched))
    # The state's layout follows from cfg and x; keying on them is cheaper than the state.
    key = signature(x, hyper, args)
    return Program(
        init=lambda x0: init(cfg, x0, hyper, args, tols),
        chunk=lambda s, stop_at: chunk(cfg, s, hyper, args, tols, stop_at),
        start=lambda x0, stop_at: start(cfg, x0, hyper, args, tols, stop_at),
        key=None if key is None else (cfg, batched, hyper_batched, key),
        size=max(1, tree_size(x)),
    )


def run(
    cfg: Config,
    x: Any,
    hyper: Any,
    args: tuple,
    tols: Tolerances,
    opts: Options,
    *,
    batched: bool,
    hyper_batched: bool,
    snapshot: Callable[[State], Any],
    suggestion: Callable[[], str],
) -> Outcome:
    """Start the runs at ``x``, drive the compiled loop to the end, assemble the fields."""
    t_run = time.perf_counter()
    runs = program(cfg, x, hyper, args, tols, batched=batched, hyper_batched=hyper_batched)
    if opts.callback is None and not opts.progress:
        state: Any = Fresh(x)  # init and the first chunk in one compiled call
    else:  # the callback and the bar need the state before the first chunk
        state = runs.init(x)
    init_time = time.perf_counter() - t_run  # mostly compilation on a first call
    state, _, compile_time = drive(
        runs,
        state,
        max_steps=opts.max_steps,
        callback=opts.callback,
        progress=opts.progress,
        chunk_size=opts.chunk_size,
        snapshot=snapshot,
    )
    fields = finish(cfg, state, args, message_tols(opts), suggestion=suggestion)
    compile_time += init_time
    return Outcome(fields, t_run, compile_time)
