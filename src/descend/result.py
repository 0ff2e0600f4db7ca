"""What a run returns: :class:`Result`, its :class:`History`, and :class:`BatchResult`.

Field names follow ``scipy.optimize.OptimizeResult`` (``x, fun, jac, nit, nfev,
status, success, message``). Arrays are numpy (or pytrees of numpy arrays for ``x``),
so a result is plain data that outlives the compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from .stopping import Status

__all__ = ["Result", "History", "BatchResult", "MAX_KIND_PARAMETERS"]

# Result.kind needs a dense Hessian: n^2 entries, so it is computed only up to here.
MAX_KIND_PARAMETERS = 1000


def _status_text(status: Any, success: bool) -> str:
    if status is None:  # an intermediate result passed to a callback
        return "running"
    return f"{status.value!r} (success={success})"


def _kind_text(result: Any) -> str:
    point = result.stationary
    if point is None:
        return "not computed"
    eig = np.array2string(point.eigenvalues, precision=4, threshold=6, separator=", ")
    return f"{point.kind} (Hessian eigenvalues {eig})"


def _short(a: Any, width: int = 60) -> str:
    if isinstance(a, np.ndarray) and a.ndim >= 1:
        s = np.array2string(a, precision=6, threshold=6, max_line_width=width, separator=", ")
        return s.replace("\n", " ")
    if isinstance(a, (dict, tuple, list)):
        import jax

        leaves = jax.tree_util.tree_leaves(a)
        return f"{type(a).__name__} pytree of {len(leaves)} arrays"
    return repr(a.item() if isinstance(a, np.generic) else a)


@dataclasses.dataclass(frozen=True)
class History:
    """Every recorded step of a run, oldest first.

    Row ``i`` describes iterate ``steps[i]``: ``x`` (same pytree structure as ``x0``
    with a leading step axis), ``fun`` = f(x), ``grad_norm`` = ||grad f(x)|| and
    ``step_size`` = ||x_k - x_{k-1}|| (0 for the start). With ``record_every=k`` the
    rows are steps 0, k, 2k, ... and the last step. A field not recorded is ``None``.
    """

    steps: np.ndarray
    x: Any = None
    fun: np.ndarray | None = None
    grad_norm: np.ndarray | None = None
    step_size: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.steps.shape[-1])

    def __repr__(self) -> str:
        kept = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]
        return f"History({len(self)} rows: {', '.join(kept)})"


@dataclasses.dataclass(frozen=True, repr=False)
class Result:
    """The outcome of :func:`descend.minimize`.

    Attributes:
      x: the final iterate (for ``nonfinite``, the last finite one).
      fun: f(x).
      jac: the gradient at x.
      grad_norm: the Euclidean norm of ``jac``.
      nit: the number of steps taken (the index of the last iterate evaluated).
      nfev: the number of evaluations of f and its gradient.
      status: a :class:`Status` saying which rule stopped the run.
      success: True when a convergence rule fired (gtol, xtol, ftol).
      message: which rule fired, with its numbers.
      history: a :class:`History`, or ``None`` with ``history=False``.
      wall_time: seconds spent in the run (compilation included in ``compile_time``).
      compile_time: seconds spent compiling (0 when the compiled loop was reused).
      learning_rate: with ``learning_rate="auto"`` (the default of ``ds.gd()``), the
        :class:`~descend.optimizers.LearningRateChoice` made at the start: its
        ``value`` and the ``rule`` that chose it; None when the optimizer had one.
    """

    x: Any
    fun: float
    jac: Any
    grad_norm: float
    nit: int
    nfev: int
    status: Status
    success: bool
    message: str
    history: History | None = None
    wall_time: float = 0.0
    compile_time: float = 0.0
    learning_rate: Any = None
    objective: Any = dataclasses.field(default=None, repr=False, compare=False)
    args: tuple = dataclasses.field(default=(), repr=False, compare=False)

    @functools.cached_property
    def stationary(self) -> Any:
        """A :class:`~descend.calculus.StationaryPoint` for ``x`` (Hessian eigenvalues).

        Computed on first access, for at most 1,000 parameters (a dense Hessian); None
        above that, for a black-box (numeric-gradient) function, or a non-finite x.
        """
        import jax

        leaves = jax.tree.leaves(self.x)
        if self.objective is None or isinstance(self.objective.grad, str):
            return None
        if sum(np.size(l) for l in leaves) > MAX_KIND_PARAMETERS:
            return None
        if not all(np.all(np.isfinite(l)) for l in leaves):
            return None
        from .calculus import classify

        fun, args = self.objective.fun, self.args
        try:
            return classify(lambda x: fun(x, *args), self.x)
        except Exception:  # noqa: BLE001 - a description, never a failure of the run
            return None

    @property
    def kind(self) -> str | None:
        """Where the run stopped: ``minimum``, ``maximum``, ``saddle`` or ``degenerate``
        (from the Hessian's eigenvalues; None above 1,000 parameters)."""
        point = self.stationary
        return None if point is None else point.kind

    def __repr__(self) -> str:
        rows = [
            ("status", _status_text(self.status, self.success)),
            ("message", self.message),
            ("x", _short(self.x)),
            ("fun", f"{self.fun:.10g}"),
            ("grad_norm", f"{self.grad_norm:.3e}"),
            ("nit", str(self.nit)),
            ("nfev", str(self.nfev)),
            ("kind", _kind_text(self)),
            ("history", repr(self.history)),
            ("wall_time", f"{self.wall_time:.4f} s"),
        ]
        if self.learning_rate is not None:
            rows.insert(2, ("learning_rate", str(self.learning_rate)))
        w = max(len(k) for k, _ in rows)
        return "Result(\n" + "\n".join(f"  {k:>{w}}: {v}" for k, v in rows) + "\n)"

    def __getitem__(self, key: str) -> Any:  # scipy's OptimizeResult is also a dict
        return getattr(self, key)


@dataclasses.dataclass(frozen=True, repr=False)
class BatchResult:
    """Many runs at once: the :class:`Result` fields with leading batch axes.

    The batch shape is ``(n_starts,)``, or ``(n_starts, n_learning_rates)`` for a
    learning-rate grid. ``status`` and ``message`` are numpy object arrays of that
    shape; ``history`` fields carry the batch axes first, then the step axis (runs
    that stopped early repeat their last row to the common length; ``nit`` says
    where each run really ended). ``learning_rate`` holds each run's rate when the
    optimizer chose it (``learning_rate="auto"``), else None.
    """

    x: Any
    fun: np.ndarray
    jac: Any
    grad_norm: np.ndarray
    nit: np.ndarray
    nfev: np.ndarray
    status: np.ndarray
    success: np.ndarray
    message: np.ndarray
    history: History | None = None
    learning_rates: np.ndarray | None = None
    learning_rate: np.ndarray | None = None
    wall_time: float = 0.0
    compile_time: float = 0.0
    objective: Any = dataclasses.field(default=None, repr=False, compare=False)
    args: tuple = dataclasses.field(default=(), repr=False, compare=False)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name == "message" and callable(value):
            # Messages are built on first use: formatting 10,000 of them costs more
            # than a short batch run itself.
            value = value()
            object.__setattr__(self, "message", value)
        return value

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape."""
        return tuple(self.fun.shape)

    def __len__(self) -> int:
        return int(self.fun.size)

    def __getitem__(self, index: Any) -> Result:
        """The :class:`Result` of one run, e.g. ``batch[3]`` or ``batch[3, 1]``."""
        import jax

        if isinstance(index, (int, np.integer)):
            # A single integer counts runs in row-major order, negatives from the end.
            n = int(np.prod(self.shape))
            if not -n <= index < n:
                raise IndexError(f"run index {index} out of range for {n} runs")
            idx = np.unravel_index(int(index) % n, self.shape)
        else:
            parts = index if isinstance(index, tuple) else (index,)
            if len(parts) != len(self.shape) or not all(
                isinstance(i, (int, np.integer)) for i in parts
            ):
                raise IndexError(
                    f"index one run with {len(self.shape)} integers (batch shape {self.shape}), "
                    f"got {index!r}"
                )
            idx = tuple(int(i) for i in parts)
        take = lambda a: np.asarray(a)[idx]  # noqa: E731
        hist = None
        if self.history is not None:
            n = int(take(self.nit))
            steps = take(self.history.steps)
            keep = steps <= n
            # Runs that stopped early repeat their last row; keep one copy of it.
            keep &= np.concatenate([[True], steps[1:] != steps[:-1]])
            sl = lambda a: None if a is None else np.asarray(a)[idx][keep]  # noqa: E731
            hist = History(
                steps=steps[keep],
                x=None if self.history.x is None else jax.tree.map(sl, self.history.x),
                fun=sl(self.history.fun),
                grad_norm=sl(self.history.grad_norm),
                step_size=sl(self.history.step_size),
            )
        return Result(
            x=jax.tree.map(take, self.x),
            fun=float(take(self.fun)),
            jac=jax.tree.map(take, self.jac),
            grad_norm=float(take(self.grad_norm)),
            nit=int(take(self.nit)),
            nfev=int(take(self.nfev)),
            status=take(self.status),
            success=bool(take(self.success)),
            message=str(take(self.message)),
            history=hist,
            wall_time=self.wall_time,
            objective=self.objective,
            args=self.args,
        )

    @property
    def best(self) -> Result:
        """The run with the lowest finite ``fun`` (ties: the first)."""
        f = np.where(np.isfinite(self.fun), self.fun, np.inf)
        flat = int(np.argmin(f.ravel()))
        return self[np.unravel_index(flat, self.shape)]

    def table(self) -> list[dict[str, Any]]:
        """One row per run: indices, learning rate, status, nit, fun, grad_norm."""
        rows = []
        for idx in np.ndindex(*self.shape):
            row: dict[str, Any] = {"start": idx[0]}
            if self.learning_rates is not None:
                row["learning_rate"] = float(self.learning_rates[idx[1]])
            elif self.learning_rate is not None:
                row["learning_rate"] = float(self.learning_rate[idx])
            row.update(
                status=self.status[idx].value,
                nit=int(self.nit[idx]),
                fun=float(self.fun[idx]),
                grad_norm=float(self.grad_norm[idx]),
            )
            rows.append(row)
        return rows

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for s in self.status.ravel():
            key = "running" if s is None else s.value
            counts[key] = counts.get(key, 0) + 1
        b = self.best
        return (
            f"BatchResult(shape={self.shape}, status={counts}, "
            f"best fun={b.fun:.10g} at x={_short(b.x)}, wall_time={self.wall_time:.4f} s)"
        )
