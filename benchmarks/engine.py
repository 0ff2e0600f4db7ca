"""Engine benchmarks: what descend's compiled loop costs next to hand-written JAX.

Run ``python benchmarks/engine.py`` (``--quick`` shrinks every size for a smoke test).
Everything is measured in one process, in float64 (descend's default), on the default
JAX backend, and printed as one markdown table. Each time is the minimum over several
warm repetitions (``time.perf_counter`` around the call, ``jax.block_until_ready`` on
its output), taken round-robin over the variants so a burst of load on a shared
machine hits all of them alike; the minimum is the least noisy estimate there is.
Compilation is excluded (every function is called once before timing), except in B6,
which measures it. The persistent compilation cache is off in this process (descend's
and JAX's), so a compilation is never read from disk.

B1 tiny      f(w) = (w0-1)^2 + 2(w1+2)^2 + 3(w2-0.5)^2 from zeros(3), 20,000 steps,
             full history, every stopping rule on (tolerances 1e-150) but never
             firing; gd(1e-4) and adam(1e-4). descend vs a bare ``jit(fori_loop)`` of the same optax
             update, an optax Python loop around a jitted step, and a numpy loop.
             Targets: descend marginal <= 2x bare marginal; descend end-to-end at
             least 100x faster per step than the optax Python loop.
B2 batch     10,000 runs (100 starts x 100 learning rates in logspace(-3, -0.5)) x
             1,000 gd steps on the same quadratic, final state only, rules off
             (tolerances 0; divergence still checked):
             ``minimize_batch`` vs ``jit(vmap(vmap(fori_loop)))`` with the learning
             rate traced. Target <= 1.5x (per call; the overhead is amortized).
             For information, rules on (gtol = xtol = 1e-150, ftol = 1e-300, none
             firing: learning rates in logspace(-3, -2)), for the quadratic as
             written above (indexing) and as ``jnp.sum(c * (w - m)**2)``, each vs
             its own bare loop.
             Realistic: the same grid with the default gtol = 1e-6, runs stopping
             from about step 20 to never; vs the same batch with gtol = 0 (target
             <= 1.0x: stopping must not cost) and vs the bare loop (target <= 1.5x).
             Also for information, a batch's full history: 1,000 runs (100 starts x 10
             learning rates in logspace(-2, -0.5)), gtol = 1e-8, so the runs stop at
             different steps (25 to about 1,000), with history=True vs history=False.
B3 large     f(w) = sum(a * (w-1)^2), 10,000,000 parameters, 20 steps, history of f
             only, rules off (tolerances 0; divergence and nan still checked); gd(0.1)
             and adam(0.01). descend vs the bare loop (grad + update)
             and vs "bare + f" (value_and_grad, f stored in a preallocated array of 21
             entries: the same output as descend's history). Target <= 1.2x. Also
             GB/s from a minimum-traffic model (gd: read w and a, write w = 3 arrays
             a step; adam: read w, a, m, v, write w, m, v = 7) next to the bandwidth
             of an in-place scaling loop ``x * 1.0000001`` (read + write = 2 arrays).
B4 start-up  whole-process wall time of a script that imports descend and runs 2,000
             adam steps on Rosenbrock, vs ``python -c "import jax, optax"``.
             Target <= 1.5x.
B5 new numbers  a call of ``minimize`` on a 2-D function (Rosenbrock, 1,000 steps,
             rules off) with numbers it has not seen: a new learning rate for gd, a
             new learning rate and b1 for adam, each call. Target <= 5 ms a call, with
             no compilation (the count of XLA compilations during the timed calls is
             printed). Next to it, the same call with the same numbers every time.
B6 first calls  the first call on a function never seen before (a new Python function
             object each repetition, so nothing is reused from memory): checks,
             tracing, lowering, XLA compilation and the run, timed together.
             ``minimize(f, x0, gd(1e-3), max_steps=1000)`` on Rosenbrock (defaults:
             gtol 1e-6, full history) vs a bare ``jit(while_loop)`` with the same stop
             test (gradient norm, step limit) and a history of f. Target <= 1.5x.
             ``minimize_batch`` with 100 starts x 5 learning rates (``ds.gd``), same
             steps, vs the single run's first call: target <= 2x. For information,
             ``minimize(f, x0)``: the default optimizer, whose learning_rate="auto"
             (1/L by a power iteration) is a compiled program of its own. Times are the
             minimum (and median) over repetitions taken round-robin, after one call of
             each variant; the XLA compilations a call makes are counted.

B7 layouts   a 100,000-run batch (1,000 starts x 100 learning rates in logspace(-3,
             -0.5), B1's quadratic, 1,000 gd steps, the default rules: runs stop where
             gtol 1e-6 fires) on one CPU device, two virtual CPU devices of one process
             and two processes of one CPU device each (``descend launch -n 2``), each in
             a new process: the warm ``minimize_batch`` call, minimum over repetitions.
             The runs are split over the devices (each process computes half of them;
             every process gets the whole result). Runs/s and the ratio to one device
             are information (2 cores: the devices share them). Target: the same steps
             and end points as one device (1e-9).

``--check`` exits with status 1 when a target is missed.

Marginal cost per step
----------------------
A descend call has fixed work that has nothing to do with the number of steps:
validating arguments, the init call, dispatching compiled chunks, fetching the final
state and building the Result (about 0.3 ms on B1's problem, far more with 10M
parameters). On a 3-parameter problem one step costs tens of nanoseconds, so "call
time / steps" mostly measures that fixed work. B1 therefore reports both the
end-to-end figure and the marginal cost

    (T(N steps) - T(1 step)) / (N - 1),

measured the same way for descend (calls with ``max_steps=N`` and ``max_steps=1``)
and for the bare loop (one jitted function per trip count, a static Python int), so
each side's fixed cost cancels and the two are compared on the same footing. B3
reports the marginal figures too, for information.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

# The environment as the user gave it, for the start-up subprocesses (B4): importing
# descend may set JAX_ENABLE_X64 in os.environ, which would otherwise leak into them.
_USER_ENV = dict(os.environ)
# B6 times first calls: no compilation may come from a persistent cache, descend's
# (read when descend first compiles) or JAX's (whatever the environment says).
os.environ["DESCEND_CACHE"] = "0"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from common import (  # noqa: E402
    LAYOUTS,
    Row,
    best_times,
    finish,
    log,
    options,
    report,
    spawn,
    verdict,
)
from jax import lax  # noqa: E402

import descend as ds  # noqa: E402

if "--worker" in sys.argv and os.environ.get("DESCEND_COORDINATOR"):
    ds.distributed.initialize()  # started by descend launch: before any JAX computation

jax.config.update("jax_enable_x64", True)  # even with DESCEND_X64=0: compare float64
jax.config.update("jax_enable_compilation_cache", False)  # see DESCEND_CACHE above

# B1: every rule is on (so the loop computes the gradient norm, the step size and the
# change in f each step) with tolerances that cannot fire before the step limit;
# check_ran_all_steps() confirms it. A tolerance of 0 would turn the rule off and
# skip its work, which is what B2 and B3 use (final state / history of f only).
RULES_ON: dict[str, float] = dict(gtol=1e-150, xtol=1e-150, ftol=1e-300, diverge_factor=1e300)
NEVER_STOP: dict[str, float] = dict(gtol=0.0, xtol=0.0, ftol=0.0, diverge_factor=1e300)


# --------------------------------------------------------------------------- sizes
@dataclasses.dataclass(frozen=True)
class Sizes:
    tiny_steps: int = 20_000
    loop_steps: int = 2_000  # Python and numpy loops: timed on fewer steps, per step
    tiny_repeats: int = 15
    batch_starts: int = 100
    batch_lrs: int = 100
    batch_steps: int = 1_000
    batch_repeats: int = 5
    large_n: int = 10_000_000
    large_steps: int = 20
    large_repeats: int = 5
    startup_runs: int = 5
    first_repeats: int = 7


FULL = Sizes()
QUICK = Sizes(
    tiny_steps=2_000,
    loop_steps=500,
    tiny_repeats=3,
    batch_starts=20,
    batch_lrs=20,
    batch_steps=200,
    batch_repeats=3,
    large_n=1_000_000,
    large_steps=10,
    large_repeats=3,
    startup_runs=2,
    first_repeats=2,
)


# --------------------------------------------------------------------------- timing
def marginal(t_n: float, t_1: float, n: int) -> float:
    """Cost of one more step: (T(n) - T(1)) / (n - 1)."""
    return (t_n - t_1) / (n - 1)


# --------------------------------------------------------------------------- table
def us(seconds: float) -> str:
    return f"{seconds * 1e6:.3g} µs/step"


# --------------------------------------------------------------------------- baselines
def bare_loop(
    fun: Callable[..., jax.Array], opt: Any, n_steps: int, *, record_f: bool = False
) -> Callable[..., Any]:
    """``jit(fori_loop)`` of grad + ``opt.update`` + ``apply_updates``, nothing else.

    ``n_steps`` is a static Python int (one compiled function per trip count). With
    ``record_f`` the loop uses value_and_grad and stores f(x_0), ..., f(x_n) in a
    preallocated array, returning ``(x, fs)``.
    """
    grad = jax.grad(fun)
    value_and_grad = jax.value_and_grad(fun)

    def run(x0: jax.Array, *args: Any) -> Any:
        def body(i: jax.Array, carry: tuple) -> tuple:
            x, state, fs = carry
            if record_f:
                f, g = value_and_grad(x, *args)
                fs = fs.at[i].set(f)
            else:
                g = grad(x, *args)
            updates, state = opt.update(g, state, x)
            return optax.apply_updates(x, updates), state, fs

        fs0 = jnp.zeros(n_steps + 1, x0.dtype) if record_f else None
        x, _, fs = lax.fori_loop(0, n_steps, body, (x0, opt.init(x0), fs0))
        if record_f:
            return x, fs.at[n_steps].set(fun(x, *args))
        return x

    return jax.jit(run)


def optax_python_loop(
    fun: Callable[..., jax.Array], opt: Any
) -> Callable[[jax.Array, int], jax.Array]:
    """The textbook optax loop: a jitted step function called from Python."""

    @jax.jit
    def step(x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        updates, state = opt.update(jax.grad(fun)(x), state, x)
        return optax.apply_updates(x, updates), state

    def run(x0: jax.Array, n_steps: int) -> jax.Array:
        x, state = x0, opt.init(x0)
        for _ in range(n_steps):
            x, state = step(x, state)
        return x

    return run


def descend_call(
    fun: Callable[..., jax.Array],
    x0: Any,
    opt: Any,
    n_steps: int,
    history: Any,
    args: tuple = (),
    rules: dict[str, float] = NEVER_STOP,
) -> Callable[[], ds.Result]:
    return lambda: ds.minimize(fun, x0, opt, args=args, max_steps=n_steps, history=history, **rules)


def check_ran_all_steps(res: ds.Result, n_steps: int) -> None:
    if res.nit != n_steps or res.status != ds.Status.MAX_STEPS:
        raise RuntimeError(
            f"a stopping rule fired ({res.status} at step {res.nit}); timings invalid"
        )


# --------------------------------------------------------------------------- B1 tiny
QUAD_CURVATURE = np.array([1.0, 2.0, 3.0])
QUAD_MINIMUM = np.array([1.0, -2.0, 0.5])


def quadratic(w: jax.Array) -> jax.Array:
    return (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2


def quadratic_grad_np(w: np.ndarray) -> np.ndarray:
    return 2 * QUAD_CURVATURE * (w - QUAD_MINIMUM)


def numpy_gd(x0: np.ndarray, lr: float, n_steps: int) -> np.ndarray:
    w = x0.copy()
    for _ in range(n_steps):
        w -= lr * quadratic_grad_np(w)
    return w


def numpy_adam(
    x0: np.ndarray, lr: float, n_steps: int, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> np.ndarray:
    """Adam as optax computes it (bias-corrected moments, eps outside the square root)."""
    w, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for t in range(1, n_steps + 1):
        g = quadratic_grad_np(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


def bench_tiny(
    name: str, opt: Any, numpy_loop: Callable[..., np.ndarray], lr: float, sz: Sizes
) -> list[Row]:
    n, k = sz.tiny_steps, sz.loop_steps
    x0 = jnp.zeros(3)
    x0_np = np.zeros(3)
    bare_n, bare_1 = bare_loop(quadratic, opt, n), bare_loop(quadratic, opt, 1)
    python_loop = optax_python_loop(quadratic, opt)

    res = descend_call(quadratic, x0, opt, n, True, rules=RULES_ON)()
    check_ran_all_steps(res, n)
    np.testing.assert_allclose(res.x, bare_n(x0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(numpy_loop(x0_np, lr, k), python_loop(x0, k), rtol=1e-9, atol=1e-12)

    # The compiled loops side by side, then the Python loops side by side: a Python
    # loop's ~10 ms of interpreter work between two sub-millisecond compiled calls
    # leaves them caches and predictors in a state no real caller would.
    t = best_times(
        {
            "descend_n": descend_call(quadratic, x0, opt, n, True, rules=RULES_ON),
            "descend_1": descend_call(quadratic, x0, opt, 1, True, rules=RULES_ON),
            "bare_n": lambda: bare_n(x0),
            "bare_1": lambda: bare_1(x0),
        },
        sz.tiny_repeats,
    )
    t |= best_times(
        {"python": lambda: python_loop(x0, k), "numpy": lambda: numpy_loop(x0_np, lr, k)},
        sz.tiny_repeats,
    )
    ds_e2e, bare_e2e = t["descend_n"] / n, t["bare_n"] / n
    ds_marg = marginal(t["descend_n"], t["descend_1"], n)
    bare_marg = marginal(t["bare_n"], t["bare_1"], n)
    py_step, np_step = t["python"] / k, t["numpy"] / k
    label = f"B1 tiny {name}"
    marg_ratio, py_ratio = ds_marg / bare_marg, py_step / ds_e2e
    return [
        Row(
            label,
            f"descend (end-to-end call, {n:,} steps)",
            us(ds_e2e),
            f"{ds_e2e / bare_e2e:.2f}x bare end-to-end",
        ),
        Row(
            label,
            "descend (per step, marginal)",
            us(ds_marg),
            f"{marg_ratio:.2f}x bare marginal",
            "<= 2.0x",
            verdict(marg_ratio <= 2.0),
        ),
        Row(label, "bare jit(fori_loop) (end-to-end call)", us(bare_e2e)),
        Row(label, "bare jit(fori_loop) (per step, marginal)", us(bare_marg)),
        Row(
            label,
            f"optax Python loop, jitted step ({k:,} steps)",
            us(py_step),
            f"{py_ratio:.0f}x descend end-to-end",
            ">= 100x",
            verdict(py_ratio >= 100),
        ),
        Row(
            label,
            f"numpy loop ({k:,} steps)",
            us(np_step),
            f"{np_step / ds_e2e:.0f}x descend end-to-end",
        ),
    ]


# --------------------------------------------------------------------------- B2 batch
def bare_batch(
    fun: Callable[..., jax.Array], n_steps: int
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``jit(vmap over starts(vmap over learning rates(fori_loop)))``, sgd built inside."""

    def one_run(x0: jax.Array, lr: jax.Array) -> jax.Array:
        opt = optax.sgd(lr)

        def body(_: jax.Array, carry: tuple) -> tuple:
            x, state = carry
            updates, state = opt.update(jax.grad(fun)(x), state, x)
            return optax.apply_updates(x, updates), state

        return lax.fori_loop(0, n_steps, body, (x0, opt.init(x0)))[0]

    return jax.jit(jax.vmap(jax.vmap(one_run, in_axes=(None, 0)), in_axes=(0, None)))


def time_batch(
    fun: Callable[..., jax.Array], lrs: np.ndarray, rules: dict[str, float], sz: Sizes
) -> dict[str, float]:
    """Best times of minimize_batch and the bare batch loop, after checking they agree."""
    n = sz.batch_steps
    x0s = jnp.asarray(np.random.default_rng(0).normal(size=(sz.batch_starts, 3)))
    bare = bare_batch(fun, n)
    lrs_j = jnp.asarray(lrs)

    def descend_batch() -> Any:
        return ds.minimize_batch(
            fun, x0s, ds.gd, learning_rates=lrs, max_steps=n, history=False, **rules
        )

    res = descend_batch()
    if not np.all(res.nit == n):
        raise RuntimeError(f"{np.sum(res.nit != n)} batch runs stopped early; timings invalid")
    np.testing.assert_allclose(res.x, bare(x0s, lrs_j), rtol=1e-9, atol=1e-12)
    return best_times(
        {"descend": descend_batch, "bare": lambda: bare(x0s, lrs_j)}, sz.batch_repeats
    )


def bench_batch(sz: Sizes) -> list[Row]:
    n = sz.batch_steps
    t = time_batch(quadratic, np.logspace(-3, -0.5, sz.batch_lrs), NEVER_STOP, sz)
    runs = sz.batch_starts * sz.batch_lrs
    label = f"B2 batch {runs:,} runs x {n:,} steps"
    ratio = t["descend"] / t["bare"]
    return [
        Row(
            label,
            "descend minimize_batch (end-to-end call)",
            f"{t['descend'] * 1e3:.1f} ms/call",
            f"{ratio:.2f}x bare",
            "<= 1.5x",
            verdict(ratio <= 1.5),
        ),
        Row(label, "bare jit(vmap(vmap(fori_loop)))", f"{t['bare'] * 1e3:.1f} ms/call"),
    ]


def worker_layouts(sz: Sizes) -> None:
    """B7's measurement in this process (or these processes): a RESULT line."""
    starts, lrs = sz.batch_starts * 10, np.logspace(-3, -0.5, sz.batch_lrs)
    x0s = np.random.default_rng(0).normal(size=(starts, 3))

    def batch() -> Any:
        return ds.minimize_batch(
            quadratic, x0s, ds.gd, learning_rates=lrs, max_steps=sz.batch_steps
        )

    t = best_times({"batch": batch}, sz.batch_repeats)["batch"]
    r = batch()
    sample = r.x.reshape(-1, 3)[::97]  # a sample of the end points
    report({"time": t, "nit": r.nit.ravel().tolist(), "x": sample.tolist(), "runs": r.nit.size})


def bench_layouts(sz: Sizes, quick: bool) -> list[Row]:
    args = ["--worker", "B7"] + (["--quick"] if quick else [])
    got = {layout: spawn(__file__, args, layout) for layout in LAYOUTS}
    one = got[LAYOUTS[0]]
    label = f"B7 batch {one['runs']:,} runs x up to {sz.batch_steps:,} steps, over layouts"
    rows = []
    for layout, r in got.items():
        same = r["nit"] == one["nit"] and np.allclose(r["x"], one["x"], rtol=0, atol=1e-9)
        rate = f"{r['runs'] / r['time'] / 1e6:.2f} M runs/s ({r['time'] * 1e3:.0f} ms)"
        ratio = f"{one['time'] / r['time']:.2f}x one device's speed"
        rows.append(Row(label, layout, rate, ratio, "same steps, x to 1e-9", verdict(same)))
    return rows


def bench_batch_stopping(sz: Sizes) -> list[Row]:
    """The B2 grid with the default rules: runs stop where gtol 1e-6 fires (from about
    step 20 for the largest rates to never, at 1,000 steps, for the smallest)."""
    n = sz.batch_steps
    x0s = jnp.asarray(np.random.default_rng(0).normal(size=(sz.batch_starts, 3)))
    lrs = np.logspace(-3, -0.5, sz.batch_lrs)
    bare = bare_batch(quadratic, n)
    lrs_j = jnp.asarray(lrs)

    def batch(gtol: float) -> Callable[[], Any]:
        return lambda: ds.minimize_batch(
            quadratic, x0s, ds.gd, learning_rates=lrs, max_steps=n, history=False, gtol=gtol
        )

    nit = batch(1e-6)().nit
    t = best_times(
        {"default": batch(1e-6), "never": batch(0.0), "bare": lambda: bare(x0s, lrs_j)},
        sz.batch_repeats,
    )
    label = f"B2 batch {nit.size:,} runs stopping at steps {nit.min()} to {nit.max()}"
    ratio, vs_never = t["default"] / t["bare"], t["default"] / t["never"]
    return [
        Row(
            label,
            "descend minimize_batch, default gtol 1e-6",
            f"{t['default'] * 1e3:.1f} ms/call",
            f"{ratio:.2f}x bare",
            "<= 1.5x",
            verdict(ratio <= 1.5),
        ),
        Row(
            label,
            "descend minimize_batch, gtol=0 (every run takes every step)",
            f"{t['never'] * 1e3:.1f} ms/call",
            f"default {vs_never:.2f}x this",
            "<= 1.0x",
            verdict(vs_never <= 1.0),
        ),
        Row(label, "bare jit(vmap(vmap(fori_loop)))", f"{t['bare'] * 1e3:.1f} ms/call"),
    ]


RULES_ON = dict(gtol=1e-150, xtol=1e-150, ftol=1e-300)
QUAD_C = jnp.asarray(QUAD_CURVATURE)
QUAD_M = jnp.asarray(QUAD_MINIMUM)


def quadratic_summed(w: jax.Array) -> jax.Array:
    """The seed's quadratic written with a sum instead of indexing."""
    return jnp.sum(QUAD_C * (w - QUAD_M) ** 2)


def bench_batch_rules_on(sz: Sizes) -> list[Row]:
    n = sz.batch_steps
    runs = sz.batch_starts * sz.batch_lrs
    rows = []
    for name, fun in (("indexing", quadratic), ("jnp.sum", quadratic_summed)):
        t = time_batch(fun, np.logspace(-3, -2, sz.batch_lrs), RULES_ON, sz)
        label = f"B2 batch {runs:,} runs x {n:,} steps, rules on, f by {name}"
        rows += [
            Row(
                label,
                "descend minimize_batch (end-to-end call)",
                f"{t['descend'] * 1e3:.1f} ms/call",
                f"{t['descend'] / t['bare']:.2f}x bare",
                "(info)",
            ),
            Row(label, "bare jit(vmap(vmap(fori_loop)))", f"{t['bare'] * 1e3:.1f} ms/call"),
        ]
    return rows


def bench_batch_history(sz: Sizes) -> list[Row]:
    starts = jnp.asarray(np.random.default_rng(0).normal(size=(sz.batch_starts, 3)))
    lrs = np.logspace(-2, -0.5, max(sz.batch_lrs // 10, 2))

    def call(history: bool) -> Callable[[], Any]:
        return lambda: ds.minimize_batch(
            quadratic, starts, ds.gd, learning_rates=lrs, history=history, gtol=1e-8
        )

    res = call(True)()
    label = f"B2 batch history, {res.nit.size:,} runs of {res.nit.min()} to {res.nit.max()} steps"
    t = best_times({"on": call(True), "off": call(False)}, sz.batch_repeats)
    return [
        Row(
            label,
            "descend minimize_batch, history=True",
            f"{t['on'] * 1e3:.1f} ms/call",
            f"{t['on'] / t['off']:.2f}x history=False",
            "(info)",
        ),
        Row(label, "descend minimize_batch, history=False", f"{t['off'] * 1e3:.1f} ms/call"),
    ]


# --------------------------------------------------------------------------- B3 large
def weighted_squares(w: jax.Array, a: jax.Array) -> jax.Array:
    return jnp.sum(a * (w - 1.0) ** 2)


def gbps(arrays_per_step: int, n: int, seconds_per_step: float) -> float:
    return arrays_per_step * n * 8 / seconds_per_step / 1e9


def copy_bandwidth(n: int, iterations: int, repeats: int) -> tuple[float, float]:
    """Seconds per iteration of ``x * 1.0000001`` in place in a fori_loop.

    Returns (end-to-end, marginal): whole call / iterations, and
    (T(iterations) - T(1)) / (iterations - 1), like the other B3 rows.
    """

    def scaling(k: int) -> Callable[[jax.Array], jax.Array]:
        return jax.jit(lambda x: lax.fori_loop(0, k, lambda i, y: y * 1.0000001, x))

    x = jnp.ones(n)
    scale_n, scale_1 = scaling(iterations), scaling(1)
    t = best_times({"n": lambda: scale_n(x), "1": lambda: scale_1(x)}, repeats)
    return t["n"] / iterations, marginal(t["n"], t["1"], iterations)


def bench_large(name: str, opt: Any, arrays_per_step: int, sz: Sizes) -> list[Row]:
    n, steps = sz.large_n, sz.large_steps
    a = jnp.linspace(1.0, 2.0, n)
    x0 = jnp.zeros(n)
    bare_n = bare_loop(weighted_squares, opt, steps)
    bare_1 = bare_loop(weighted_squares, opt, 1)
    bare_f = bare_loop(weighted_squares, opt, steps, record_f=True)
    descend_n = descend_call(weighted_squares, x0, opt, steps, ("fun",), (a,))
    descend_1 = descend_call(weighted_squares, x0, opt, 1, ("fun",), (a,))

    res = descend_n()
    check_ran_all_steps(res, steps)
    x_f, fs = bare_f(x0, a)
    np.testing.assert_allclose(res.history.fun, fs, rtol=1e-9)
    np.testing.assert_allclose(res.x, x_f, rtol=1e-9, atol=1e-12)
    del res, x_f, fs

    t = best_times(
        {
            "descend_n": descend_n,
            "descend_1": descend_1,
            "bare_n": lambda: bare_n(x0, a),
            "bare_1": lambda: bare_1(x0, a),
            "bare_f": lambda: bare_f(x0, a),
        },
        sz.large_repeats,
    )
    ds_step, bare_step, f_step = t["descend_n"] / steps, t["bare_n"] / steps, t["bare_f"] / steps
    ds_marg = marginal(t["descend_n"], t["descend_1"], steps)
    bare_marg = marginal(t["bare_n"], t["bare_1"], steps)

    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.1f} ms/step ({gbps(arrays_per_step, n, seconds):.1f} GB/s)"

    label = f"B3 large {name} n={n:,}"
    r_bare, r_f = ds_step / bare_step, ds_step / f_step
    return [
        Row(label, f"descend, history=('fun',) (end-to-end call, {steps} steps)", ms(ds_step)),
        Row(
            label,
            "bare jit(fori_loop): grad + update",
            ms(bare_step),
            f"descend {r_bare:.2f}x this",
            "<= 1.2x",
            verdict(r_bare <= 1.2),
        ),
        Row(
            label,
            "bare + f: value_and_grad, f stored",
            ms(f_step),
            f"descend {r_f:.2f}x this",
            "<= 1.2x",
            verdict(r_f <= 1.2),
        ),
        Row(
            label,
            "descend (per step, marginal)",
            ms(ds_marg),
            f"{ds_marg / bare_marg:.2f}x bare marginal",
            "(info)",
        ),
        Row(label, "bare jit(fori_loop) (per step, marginal)", ms(bare_marg)),
    ]


# --------------------------------------------------------------------------- B4 start-up
STARTUP_SCRIPT = textwrap.dedent("""
    import jax.numpy as jnp, descend as ds

    def rosenbrock(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    ds.minimize(rosenbrock, jnp.array([-1.2, 1.0]), ds.adam(0.01), max_steps=2000)
    """)
IMPORT_SCRIPT = "import jax, optax"


def process_time(code: str, runs: int) -> float:
    """Minimum wall time of ``python -c code`` in a fresh process."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=_USER_ENV)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_startup(sz: Sizes) -> list[Row]:
    t_import = process_time(IMPORT_SCRIPT, sz.startup_runs)
    t_descend = process_time(STARTUP_SCRIPT, sz.startup_runs)
    ratio = t_descend / t_import
    label = "B4 start-up (process)"
    return [
        Row(
            label,
            "import descend + 2,000 adam steps on Rosenbrock",
            f"{t_descend:.2f} s",
            f"{ratio:.2f}x import",
            "<= 1.5x",
            verdict(ratio <= 1.5),
        ),
        Row(label, 'python -c "import jax, optax"', f"{t_import:.2f} s"),
    ]


def bench_new_numbers(sz: Sizes) -> list[Row]:
    steps = 1_000
    x0 = np.array([-1.2, 1.0])
    counter = iter(range(1, 10**9))
    compiles: list[str] = []

    def listener(event: str, *args: Any, **kwargs: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    def call(make: Callable[[float], Any]) -> Callable[[], Any]:
        def run() -> Any:
            k = next(counter)
            return ds.minimize(
                ds.functions.get("rosenbrock"), x0, make(k), gtol=0.0, max_steps=steps
            ).x

        return run

    fns = {
        "gd": call(lambda k: ds.gd(1e-4 * (1 + 1e-6 * k))),
        "adam": call(lambda k: ds.adam(1e-3 * (1 + 1e-6 * k), b1=0.9 - 1e-7 * k)),
        "same": call(lambda k: ds.gd(1e-4)),
    }
    for fn in fns.values():  # compile once
        fn()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        t = best_times(fns, sz.tiny_repeats)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    label = f"B5 new numbers, Rosenbrock, {steps:,} steps"
    rows = []
    for name, variant in (("gd", "gd, a new learning rate"), ("adam", "adam, new lr and b1")):
        ms = t[name] * 1e3
        ok = ms <= 5 and not compiles
        rows.append(
            Row(
                label,
                f"descend minimize, {variant} each call",
                f"{ms:.2f} ms/call",
                f"{len(compiles)} compilations",
                "<= 5 ms",
                verdict(ok),
            )
        )
    rows.append(
        Row(label, "descend minimize, gd, the same numbers", f"{t['same'] * 1e3:.2f} ms/call")
    )
    return rows


# --------------------------------------------------------------------------- B6 first calls
def new_rosenbrock() -> Callable[[jax.Array], jax.Array]:
    """Rosenbrock as a new function object: jit caches key on the function, so each one
    is traced and compiled anew, as a user's first call is."""

    def rosenbrock(x: jax.Array) -> jax.Array:
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    return rosenbrock


def bare_while(
    fun: Callable[[jax.Array], jax.Array], opt: Any, max_steps: int, gtol: float
) -> Callable[[jax.Array], Any]:
    """``jit(while_loop)``: f and the gradient at x0, then optax steps until the squared
    gradient norm is <= gtol**2 or ``max_steps``, f stored each step (history of f)."""
    value_and_grad = jax.value_and_grad(fun)

    def run(x0: jax.Array) -> Any:
        f0, g0 = value_and_grad(x0)
        fs0 = jnp.zeros(max_steps + 1, f0.dtype).at[0].set(f0)

        def go_on(c: tuple) -> Any:
            k, _, g, _, _ = c
            return (k < max_steps) & (jnp.sum(g * g) > gtol * gtol)

        def body(c: tuple) -> tuple:
            k, x, g, state, fs = c
            updates, state = opt.update(g, state, x)
            x = optax.apply_updates(x, updates)
            f, g = value_and_grad(x)
            return k + 1, x, g, state, fs.at[k + 1].set(f)

        k, x, _, _, fs = lax.while_loop(go_on, body, (0, x0, g0, opt.init(x0), fs0))
        return x, fs, k

    return jax.jit(run)


def first_call_times(
    calls: dict[str, Callable[[Callable[..., Any]], Any]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Wall times of each call on a new function, ``repeats`` each, round-robin; and the
    XLA compilations of each variant's last call.

    Each variant is called once first, so one-time work that has nothing to do with the
    function (imports, descend's helpers compiled once per process) is not counted.
    """
    events: list[str] = []

    def listener(event: str, *args: Any, **kwargs: Any) -> None:
        events.append(event)

    for call in calls.values():
        jax.block_until_ready(call(new_rosenbrock()))
    times: dict[str, list[float]] = {name: [] for name in calls}
    compiles: dict[str, int] = {}
    jax.monitoring.register_event_listener(listener)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for _ in range(repeats):
            for name, call in calls.items():
                fun = new_rosenbrock()
                events.clear()
                t0 = time.perf_counter()
                jax.block_until_ready(call(fun))
                times[name].append(time.perf_counter() - t0)
                compiles[name] = events.count("/jax/core/compile/backend_compile_duration")
                if "/jax/compilation_cache/compile_requests_use_cache" in events:
                    raise RuntimeError("a persistent compilation cache is on; timings invalid")
    finally:
        jax.monitoring.unregister_event_listener(listener)
        jax.monitoring.unregister_event_duration_listener(listener)
    return times, compiles


def bench_first_calls(sz: Sizes) -> list[Row]:
    steps, gtol = 1_000, 1e-6
    x0 = np.array([-1.2, 1.0])
    starts = np.random.default_rng(0).normal(size=(100, 2))
    lrs = np.logspace(-4, -3, 5)

    def single(fun: Callable[..., Any]) -> Any:
        return ds.minimize(fun, x0, ds.gd(1e-3), max_steps=steps, gtol=gtol).x

    def bare(fun: Callable[..., Any]) -> Any:
        return bare_while(fun, ds.gd(1e-3), steps, gtol)(jnp.asarray(x0))

    def batch(fun: Callable[..., Any]) -> Any:
        return ds.minimize_batch(
            fun, starts, ds.gd, learning_rates=lrs, max_steps=steps, gtol=gtol
        ).x

    def auto(fun: Callable[..., Any]) -> Any:
        return ds.minimize(fun, x0, max_steps=steps, gtol=gtol).x

    np.testing.assert_allclose(single(new_rosenbrock()), bare(new_rosenbrock())[0], rtol=1e-9)
    times, compiles = first_call_times(
        {"bare": bare, "single": single, "batch": batch, "auto": auto}, sz.first_repeats
    )
    t = {name: min(ts) for name, ts in times.items()}

    def ms(name: str) -> str:
        return f"{t[name] * 1e3:.0f} ms (median {statistics.median(times[name]) * 1e3:.0f})"

    def n(name: str) -> str:
        return f"{compiles[name]} compilation{'s' if compiles[name] != 1 else ''}"

    label = f"B6 first call on a new function, Rosenbrock, {steps:,} gd steps"
    r_single, r_batch = t["single"] / t["bare"], t["batch"] / t["single"]
    return [
        Row(
            label,
            f"descend minimize, gd(1e-3) ({n('single')})",
            ms("single"),
            f"{r_single:.2f}x bare",
            "<= 1.5x",
            verdict(r_single <= 1.5),
        ),
        Row(label, f"bare jit(while_loop), history of f ({n('bare')})", ms("bare")),
        Row(
            label,
            f"descend minimize_batch, 100 starts x 5 learning rates ({n('batch')})",
            ms("batch"),
            f"{r_batch:.2f}x single run",
            "<= 2x",
            verdict(r_batch <= 2.0),
        ),
        Row(
            label,
            f'descend minimize, default gd, learning_rate="auto" ({n("auto")})',
            ms("auto"),
            f"{t['auto'] / t['bare']:.2f}x bare",
            "(info)",
        ),
    ]


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    opts = options(__doc__, "B1,B2,B3,B4,B5,B6,B7", argv)
    sz = QUICK if opts.quick else FULL
    if opts.worker:
        worker_layouts(sz)
        return
    only = opts.only
    t_start = time.perf_counter()
    rows: list[Row] = []

    if "B1" in only:
        log("B1 tiny ...")
        # Small learning rates, so no convergence rule fires in 20,000 steps (with 0.1
        # the run reaches the exact minimum and f stops changing within 200 steps).
        rows += bench_tiny("gd(1e-4)", ds.gd(1e-4), numpy_gd, 1e-4, sz)
        rows += bench_tiny("adam(1e-4)", ds.adam(1e-4), numpy_adam, 1e-4, sz)
    if "B2" in only:
        log("B2 batch ...")
        rows += bench_batch(sz)
        rows += bench_batch_stopping(sz)
        rows += bench_batch_rules_on(sz)
        rows += bench_batch_history(sz)
    if "B3" in only:
        log("B3 large ...")
        copy_e2e, copy_marg = copy_bandwidth(sz.large_n, sz.large_steps, sz.large_repeats)
        rows += bench_large("gd(0.1)", ds.gd(0.1), 3, sz)
        rows += bench_large("adam(0.01)", ds.adam(0.01), 7, sz)
        for kind, secs in (("end-to-end call", copy_e2e), ("per iteration, marginal", copy_marg)):
            rows.append(
                Row(
                    f"B3 large n={sz.large_n:,}",
                    f"memory bandwidth: x * 1.0000001 in place ({kind})",
                    f"{secs * 1e3:.1f} ms/iter ({gbps(2, sz.large_n, secs):.1f} GB/s)",
                )
            )
    if "B4" in only:
        log("B4 start-up ...")
        rows += bench_startup(sz)
    if "B5" in only:
        log("B5 new numbers ...")
        rows += bench_new_numbers(sz)
    if "B6" in only:
        log("B6 first calls ...")
        rows += bench_first_calls(sz)
    if "B7" in only:
        log("B7 layouts ...")
        rows += bench_layouts(sz, opts.quick)

    mode = "quick" if sz is QUICK else "full"
    header = (
        f"descend {ds.__version__}, jax {jax.__version__}, optax {optax.__version__}, "
        f"backend {jax.default_backend()}, {os.cpu_count()} CPUs, float64, {mode} sizes"
    )
    footnote = (
        "time: minimum over warm repetitions. marginal = (T(N) - T(1)) / (N - 1). "
        "GB/s: gd moves 3 arrays a step (read w, a; write w), adam 7 (read w, a, m, v; "
        "write w, m, v), the in-place scaling 2."
    )
    finish(rows, header, footnote, t_start, opts.check)


if __name__ == "__main__":
    main()
