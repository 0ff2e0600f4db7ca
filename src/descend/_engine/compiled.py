"""The jit-compiled programs: init, a chunk, and init-then-chunk, for every engine."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .._env import QUICK_COMPILE_MAX_SIZE, compiler_options, enable_compilation_cache
from .blocks import blocks_chunk
from .large import large_chunk
from .state import Config, Engine, State, init_state
from .stepwise import mapped, run_chunk, run_chunk_batched

__all__ = ["compiled", "quick"]


_MADE = threading.Lock()


def compiled(
    batched: bool, hyper_batched: bool, quick: bool = False
) -> tuple[Callable, Callable, Callable]:
    """jit-compiled init, chunk and init-then-chunk (for batches, over the runs); cached on cfg.

    ``quick``: compiled with the options of small single runs (see :func:`quick`). Made
    once per process under a lock: two threads' first runs must share the jitted
    functions (and so their compiled programs), not each make their own.
    """
    with _MADE:
        return _compiled(batched, hyper_batched, quick)


@functools.cache
def _compiled(
    batched: bool, hyper_batched: bool, quick: bool = False
) -> tuple[Callable, Callable, Callable]:
    import jax

    enable_compilation_cache()
    options = compiler_options(quick)

    h = 0 if hyper_batched else None
    vmapped_init = jax.vmap(init_state, in_axes=(None, 0, h, None, None))

    def init(cfg: Config, x0: Any, hyper: Any, args: tuple, tols: Any) -> State:
        if not batched:
            return init_state(cfg, x0, hyper, args, tols)
        if cfg.engine is Engine.MAPPED:  # the one-run init, run after run
            return mapped(init_state, cfg, x0, hyper, args, tols, hyper_batched=hyper_batched)
        return vmapped_init(cfg, x0, hyper, args, tols)

    if batched:
        loops = {
            Engine.STEPWISE: functools.partial(run_chunk_batched, hyper_batched=hyper_batched),
            Engine.BLOCKS: functools.partial(blocks_chunk, hyper_batched=hyper_batched),
            Engine.MAPPED: functools.partial(mapped, run_chunk, hyper_batched=hyper_batched),
        }
    else:
        loops = {Engine.STEPWISE: run_chunk, Engine.LARGE: large_chunk}

    def chunk(cfg: Config, s: State, hyper: Any, args: tuple, tols: Any, stop_at: Any) -> State:
        return loops[cfg.engine](cfg, s, hyper, args, tols, stop_at)

    def start(cfg: Config, x0: Any, hyper: Any, args: tuple, tols: Any, stop_at: Any) -> State:
        return chunk(cfg, init(cfg, x0, hyper, args, tols), hyper, args, tols, stop_at)

    return (
        jax.jit(init, static_argnums=0, compiler_options=options),
        jax.jit(chunk, static_argnums=0, donate_argnums=1, compiler_options=options),
        # init and the first chunk in one call: a short run is one dispatch.
        jax.jit(start, static_argnums=0, compiler_options=options),
    )


def quick(cfg: Config, x: Any, batched: bool) -> bool:
    """Whether the runs from ``x`` compile with the quick options: small runs whose
    program is the one-run loop (a single run, or a batch's runs one after another)."""
    import jax

    if batched and cfg.engine is not Engine.MAPPED:
        return False
    leaves = jax.tree.leaves(x)
    per_run = sum(int(np.prod(np.shape(l)[1:] if batched else np.shape(l))) for l in leaves)
    return per_run <= QUICK_COMPILE_MAX_SIZE
