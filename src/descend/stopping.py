"""Stopping rules and the :class:`Status` of a run.

Each rule is a small pure function of scalars that returns whether it fires; the
driver combines them in a fixed order of precedence (``nonfinite``, ``diverged``,
``gtol``, ``xtol``, ``ftol``, ``unbounded``, ``max_steps``) so one step has exactly one reason.
A tolerance of 0 turns its rule off.
"""

from __future__ import annotations

import enum
import math
from typing import Any

__all__ = ["Status", "stop_message"]


class Status(str, enum.Enum):
    """Why a run stopped. A string-valued enum: ``Status.GTOL == "gtol"``."""

    GTOL = "gtol"
    XTOL = "xtol"
    FTOL = "ftol"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    UNBOUNDED = "unbounded"
    NONFINITE = "nonfinite"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    EARLY_STOPPED = "early_stopped"  # training on data (descend.fit)
    MAX_EPOCHS = "max_epochs"

    @property
    def success(self) -> bool:
        """True when a convergence rule fired (gtol, xtol or ftol)."""
        return self in (Status.GTOL, Status.XTOL, Status.FTOL)

    @property
    def description(self) -> str:
        """A one-line explanation of the status for a learner."""
        return _DESCRIPTIONS[self]

    def __str__(self) -> str:
        return self.value


_DESCRIPTIONS = {
    Status.GTOL: "the gradient norm fell below gtol: the ground is flat here",
    Status.XTOL: "the step became shorter than xtol: x stopped moving",
    Status.FTOL: "f changed by less than ftol in one step",
    Status.MAX_STEPS: "the step limit was reached before any convergence rule fired",
    Status.DIVERGED: "f grew far past its start value: the steps overshoot",
    Status.UNBOUNDED: "f fell far below its start value: f looks unbounded below",
    Status.NONFINITE: "f or its gradient became inf or nan",
    Status.STOPPED: "the callback raised StopIteration",
    Status.INTERRUPTED: "the run was interrupted (Ctrl-C)",
    Status.EARLY_STOPPED: "the validation loss stopped improving: the best epoch is kept",
    Status.MAX_EPOCHS: "the epoch limit was reached",
}

# Integer codes used inside the compiled loop; 0 means "still running".
RUNNING = 0
CODES: dict[Status, int] = {
    Status.NONFINITE: 1,
    Status.DIVERGED: 2,
    Status.GTOL: 3,
    Status.XTOL: 4,
    Status.FTOL: 5,
    Status.MAX_STEPS: 6,
    Status.STOPPED: 7,
    Status.INTERRUPTED: 8,
    Status.UNBOUNDED: 9,
    Status.EARLY_STOPPED: 10,
    Status.MAX_EPOCHS: 11,
}
FROM_CODE: dict[int, Status] = {v: k for k, v in CODES.items()}


def status_code(
    *,
    f: Any,
    f_prev: Any,
    f0: Any,
    grad_norm: Any,
    step_size: Any,
    step: Any,
    gtol: Any,
    xtol: Any,
    ftol: Any,
    max_steps: Any,
    diverge_factor: Any,
) -> Any:
    """The status code after evaluating iterate ``step`` (jax scalars in, int32 out).

    The rules, in order of precedence:
      nonfinite: f or ||grad f|| is inf or nan;
      diverged:  f - f0 > diverge_factor * max(|f0|, 1);
      gtol:      ||grad f(x_k)|| <= gtol;
      xtol:      ||x_k - x_{k-1}|| <= xtol (k >= 1);
      ftol:      |f(x_k) - f(x_{k-1})| <= ftol (k >= 1);
      unbounded: f0 - f > diverge_factor * max(|f0|, 1) (f keeps falling; a run that
                 converges at such a depth is a success all the same);
      max_steps: k >= max_steps.

    ``grad_norm`` and ``step_size`` are the *squared* norms, as the loops keep them.
    """
    import jax.numpy as jnp

    moved = step >= 1
    nonfinite = ~(jnp.isfinite(f) & jnp.isfinite(grad_norm))
    bound = diverge_factor * jnp.maximum(jnp.abs(f0), 1.0)
    diverged = (f - f0) > bound
    unbounded = (f0 - f) > bound
    # Squared norms against squared tolerances (no square root in the loop); a tiny
    # tolerance whose square underflows to 0 then asks for a gradient of exactly 0,
    # which is what ||g|| <= gtol means in floating point.
    g_done = (gtol > 0) & (grad_norm <= gtol * gtol)
    x_done = moved & (xtol > 0) & (step_size <= xtol * xtol)
    f_done = moved & (ftol > 0) & (jnp.abs(f - f_prev) <= ftol)
    out_of_steps = step >= max_steps
    code = jnp.int32(RUNNING)
    # Lowest precedence first, so the most important reason wins.
    for cond, st in (
        (out_of_steps, Status.MAX_STEPS),
        (unbounded, Status.UNBOUNDED),
        (f_done, Status.FTOL),
        (x_done, Status.XTOL),
        (g_done, Status.GTOL),
        (diverged, Status.DIVERGED),
        (nonfinite, Status.NONFINITE),
    ):
        code = jnp.where(cond, jnp.int32(CODES[st]), code)
    return code


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def stop_message(
    status: Status,
    *,
    nit: int,
    fun: float,
    f0: float,
    f_stop: float,
    grad_norm: float,
    step_size: float,
    f_change: float,
    gtol: float,
    xtol: float,
    ftol: float,
    max_steps: int,
    diverge_factor: float,
    grad_stop: float = float("nan"),
    suggestion: str = "",
) -> str:
    """A sentence that says which rule fired, with its numbers.

    ``f_stop`` and ``grad_stop`` are f and the gradient norm at the step where the run
    stopped (for ``nonfinite`` that is the bad step, not the returned x).
    """
    steps = f"after {nit} step{'s' if nit != 1 else ''}"
    if status is Status.GTOL:
        return f"gradient norm {grad_norm:.2e} <= gtol {gtol:.3g} {steps}"
    if status is Status.XTOL:
        return f"step size {step_size:.2e} <= xtol {xtol:.3g} {steps}"
    if status is Status.FTOL:
        return f"change in f {f_change:.2e} <= ftol {ftol:.3g} {steps}"
    if status is Status.MAX_STEPS:
        return (
            f"reached max_steps {max_steps} without converging "
            f"(gradient norm {grad_norm:.2e}, gtol {gtol:.3g})"
        )
    hint = suggestion or "try a smaller learning rate"
    if status is Status.DIVERGED:
        return (
            f"diverged at step {nit}: f = {_fmt(f_stop)} grew past "
            f"f0 + {diverge_factor:.3g} * max(|f0|, 1) (f0 = {_fmt(f0)}); {hint}"
        )
    if status is Status.UNBOUNDED:
        return (
            f"f looks unbounded below: it fell to {_fmt(f_stop)} at step {nit}, more than "
            f"{diverge_factor:.3g} * max(|f0|, 1) below f0 = {_fmt(f0)}, still falling; if f "
            "has a minimum further down, raise diverge_factor"
        )
    if status is Status.NONFINITE:
        what = (
            f"f became {_fmt(f_stop)}"
            if not math.isfinite(f_stop)
            else f"the gradient became {_fmt(grad_stop)} (f = {_fmt(f_stop)})"
        )
        if nit == 0:
            return f"{what.replace('became', 'is', 1)} at the start point; choose another x0"
        return f"{what} at step {nit}; x is the last finite iterate, from step {nit - 1}; {hint}"
    if status is Status.STOPPED:
        return f"stopped by the callback {steps}"
    return f"interrupted {steps}; the result holds everything computed so far"
