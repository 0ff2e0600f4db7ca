"""The environment descend sets up for JAX: float64, XLA:CPU options, the compile cache."""

from __future__ import annotations

import os
import sys

__all__ = [
    "QUICK_COMPILE_MAX_SIZE",
    "SMALL_LOOP_BYTES",
    "compiler_options",
    "enable_compilation_cache",
    "enable_x64",
    "set_xla_flags",
]


def enable_x64() -> None:
    """float64 by default (``DESCEND_X64=0`` keeps JAX's float32 default)."""
    if os.environ.get("DESCEND_X64", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        # Read by JAX when it is first imported, by us or by the user.
        os.environ.setdefault("JAX_ENABLE_X64", "1")


# XLA:CPU compiles a while loop into one kernel only while one iteration touches
# under 1 KiB; above that every operation is a separate kernel launch (~50 ns each).
# descend's loop for a 3-parameter adam run with its history is just above, and
# runs 8x slower per step than under the limit; 64 KiB keeps small problems' loops
# (up to a few hundred parameters) in one kernel, while large ones, which need the
# per-operation threads, stay as they are.
SMALL_LOOP_BYTES = 65536


def set_xla_flags() -> None:
    """Add the small-loop threshold to ``XLA_FLAGS`` unless the user set backend options."""
    if os.environ.get("DESCEND_XLA_FLAGS", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_extra_options" in flags:
        return  # the user's own options: leave them alone
    # Read when JAX first creates its CPU backend (the first computation).
    option = (
        f"--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold={SMALL_LOOP_BYTES}"
    )
    os.environ["XLA_FLAGS"] = f"{flags} {option}".strip()


def enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache, so a new process reuses compiled loops.

    Compiling a loop takes 0.1-0.3 s, as long as the run itself for small problems;
    the cache makes the second start of a script or the CLI fast. It lives in
    ``$DESCEND_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/descend/jax`` (default
    ``~/.cache/descend/jax``). Left alone if the user configured a JAX cache already;
    ``DESCEND_CACHE=0`` turns it off.
    """
    import jax

    if os.environ.get("DESCEND_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if jax.config.jax_compilation_cache_dir:
        return
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.environ.get("DESCEND_CACHE_DIR") or os.path.join(root, "descend", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)


# Up to this many parameters a single run's loop is one XLA:CPU kernel (see
# SMALL_LOOP_BYTES) and the code around it is scalar work. For such a program XLA:CPU's
# MLIR fusion emitters (a pipeline per fused kernel) and its split of the code into
# modules compiled in parallel cost most of the compile time (a 2-parameter run: about
# 70 ms instead of 125 without them) and nothing in speed. With more parameters the
# emitters make steps faster (5% at 3,000 parameters, 1.5x at 10^7; batches 1.5x).
QUICK_COMPILE_MAX_SIZE = 256


def compiler_options(quick: bool) -> dict | None:
    """XLA options for a compiled program: quicker compilation where ``quick``."""
    import jax

    # The options exist (and jit takes them) from jax 0.7; before, XLA is left alone.
    if not quick or jax.__version_info__ < (0, 7) or jax.default_backend() != "cpu":
        return None
    return {"xla_cpu_use_fusion_emitters": False, "xla_cpu_parallel_codegen_split_count": 1}
