"""From the loop's final state to the user's result: numpy fields, history, messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import stopping
from ._engine.state import Config, State, scalar_fields
from ._inputs import tree_size
from ._objective import Objective
from .result import History, Result
from .stopping import Status

__all__ = [
    "Messages",
    "batch_hint",
    "finish",
    "learning_rate_hint",
    "local_note",
    "result_snapshot",
    "to_numpy",
    "tree_norm",
    "with_direction",
]


def to_numpy(tree: Any) -> Any:
    """The tree's leaves as numpy arrays.

    ``np.asarray`` of a CPU array is a read-only view of its buffer (about 1 us a leaf,
    no copy); ``jax.device_get`` copies and costs ~5 us a leaf even when tiny.
    Results are immutable, so views are all they need.
    """
    import jax

    from ._multi import count, to_host

    if count() > 1:  # runs spread over several processes: gathered
        return to_host(tree)
    return jax.tree.map(np.asarray, tree)


_STATUS_OF_CODE = np.array(
    [stopping.FROM_CODE.get(c) for c in range(max(stopping.FROM_CODE) + 1)], dtype=object
)


class Messages:
    """Each run's stop message, built when first asked for (10,000 take ~10 ms).

    Holds only per-run scalars, and pickles (``suggestion`` must be a module-level
    function for that: a batch's generic hint is).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        statuses: np.ndarray,
        columns: dict[str, Any],
        tols: dict,
        suggestion: Callable[[], str],
    ) -> None:
        self.shape = shape
        self.statuses = statuses
        self.columns = {
            k: v if np.shape(v) == shape else np.broadcast_to(v, shape)
            for k, v in ((k, np.asarray(v)) for k, v in columns.items())
        }
        self.tols = tols
        self.suggestion = suggestion

    def __call__(self) -> np.ndarray:
        bad = (Status.DIVERGED, Status.NONFINITE)
        statuses = np.asarray(self.statuses, dtype=object).ravel().tolist()
        hint = self.suggestion() if any(st in bad for st in statuses) else ""
        out = np.empty(len(statuses), dtype=object)
        names = list(self.columns)
        # Plain Python lists: per-run scalars without numpy overhead.
        columns = [v.ravel().tolist() for v in self.columns.values()]
        for i, (st, *values) in enumerate(zip(statuses, *columns)):
            out[i] = stopping.stop_message(
                st,
                **dict(zip(names, values)),
                suggestion=hint if st in bad else "",
                **self.tols,
            )
        return out.reshape(self.shape)


def batch_hint() -> str:
    """The learning-rate hint of a batch's diverged runs (one curvature for all is moot)."""
    return "try a smaller learning rate"


def finish(
    cfg: Config,
    state: Any,
    args: tuple,
    tols: dict,
    suggestion: Callable[[], str],
) -> dict:
    """Host-side fields shared by single and batched results (numpy, batch axes first).

    Returns a dict with x, fun, jac, grad_norm, nit, nfev, status (objects), message,
    success and the truncated history pieces.
    """
    s = to_numpy(state._replace(opt_state=()))
    step = np.asarray(s.step)
    codes = np.asarray(s.status)
    # A run that was still running when the loop ended reached max_steps; code 0
    # can only remain if a chunk ended exactly there without the rule firing.
    codes = np.where(codes == stopping.RUNNING, stopping.CODES[Status.MAX_STEPS], codes)
    statuses = _STATUS_OF_CODE[codes.reshape(-1)].reshape(codes.shape)  # Status per run
    point = _final_point(cfg, s, codes, args)
    f_stop = np.asarray(s.f)
    messages = Messages(
        shape=codes.shape,
        statuses=statuses,
        # Only per-run scalars: the history buffers are not kept alive.
        columns={
            "nit": step,
            "fun": point["fun"],
            "f0": s.f0,
            "f_stop": f_stop,
            "grad_norm": point["grad_norm"],
            "step_size": point.pop("step_size"),
            "f_change": np.abs(f_stop - np.asarray(s.f_prev)),
            "grad_stop": np.sqrt(s.grad_norm),
        },
        tols=tols,
        suggestion=suggestion,
    )
    return dict(
        **point,
        nit=step.astype(np.int64),
        nfev=(np.asarray(s.nfev) if cfg.extra_args else step + 1).astype(np.int64),
        status=statuses,
        success=functools.reduce(
            np.logical_or, [codes == stopping.CODES[st] for st in Status if st.success]
        ),
        message=messages,  # a Messages: call it for the array
        history=_history(cfg, s) if cfg.record else None,
    )


def _final_point(cfg: Config, s: State, codes: np.ndarray, args: tuple) -> dict:
    """x, f, the gradient and the norms where each run ended: after a nan, at the last
    finite iterate (carried as ``prev_x``; its gradient is evaluated once more here)."""
    import jax

    step = np.asarray(s.step)
    nb = step.ndim
    use_prev = (codes == stopping.CODES[Status.NONFINITE]) & (step >= 1)
    x, fun, jac = s.x, np.asarray(s.f), s.grad
    # The loops keep squared norms (see tree_sq).
    gnorm = np.sqrt(s.grad_norm) if cfg.need_grad_norm else tree_norm(s.grad, nb)
    if cfg.need_step_size:
        step_size = np.sqrt(s.step_size)
    elif cfg.keep_prev:
        diff = jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), s.x, s.prev_x)
        step_size = tree_norm(diff, nb)
    else:
        step_size = np.full(step.shape, np.nan)  # only the xtol message shows it
    if use_prev.any() and cfg.keep_prev:
        prev = s.prev_x
        pick = lambda a, b: np.where(  # noqa: E731
            use_prev.reshape(use_prev.shape + (1,) * (np.ndim(a) - use_prev.ndim)), a, b
        )
        x = jax.tree.map(pick, prev, x)
        fun = np.where(use_prev, np.asarray(s.f_prev), fun)
        _, g_prev = _eval_batched(cfg.objective, prev, args, use_prev.ndim)
        jac = jax.tree.map(pick, g_prev, jac)
        gnorm = np.where(use_prev, tree_norm(g_prev, use_prev.ndim), gnorm)
    return dict(x=x, fun=fun, jac=jac, grad_norm=gnorm, step_size=step_size)


def _history(cfg: Config, s: State) -> History:
    """The recorded rows up to each run's end, as read-only numpy views where possible."""
    import jax

    step = np.asarray(s.step)
    last_row = -(-step // cfg.record_every)
    n_rows = int(np.max(last_row)) + 1
    nb = np.ndim(step)
    if nb == 0 or np.all(step == step.flat[0]):
        # One run, or runs that all stopped at the same step (max_steps, say): steps
        # 0, k, 2k, ... and the last step, one read-only row shared by every run.
        steps = _steps_view(n_rows, cfg.record_every, int(step.flat[0]))
        steps = np.broadcast_to(steps, np.shape(step) + (n_rows,))
        ragged = False
    else:
        rows = np.arange(n_rows)
        steps = np.minimum(rows * cfg.record_every, step[..., None])
        steps = np.where(rows <= last_row[..., None], steps, step[..., None])
        ragged = True

    def cut(buf: Any) -> np.ndarray:
        """The first n_rows rows, read-only: a view of the buffer (a copy if that
        would keep a buffer over twice as long alive), or, where runs stopped at
        different steps, a copy in which rows past a run's end repeat its last row
        (a gather of every row took 0.3 s for 1,000 runs x 4,000 steps)."""
        buf = np.asarray(buf)
        out = buf[(slice(None),) * nb + (slice(0, n_rows),)]
        if not ragged and 2 * n_rows > buf.shape[nb]:
            return out
        out = out.copy()
        if ragged:
            flat = out.reshape((-1,) + out.shape[nb:])  # a view: (runs, rows, ...)
            lasts, group = np.unique(last_row.reshape(-1), return_inverse=True)
            for i, last in enumerate(lasts.tolist()[:-1]):  # the longest runs: no tail
                runs = np.flatnonzero(group == i)
                flat[runs, last + 1 :] = flat[runs, last][:, None]
        out.flags.writeable = False
        return out

    # One cut of the whole table (x and the scalars), then views of its columns.
    bufs = {k: cut(v) if k in ("table", "scalars") else v for k, v in s.hist.items()}
    if "x" in bufs:
        bufs["x"] = jax.tree.map(cut, bufs["x"])
    x_rows, scalars = _history_columns(bufs, s.x, nb)
    names = scalar_fields(cfg.record)

    def column(name: str) -> np.ndarray | None:
        if name not in names:
            return None
        values = scalars[..., names.index(name)]
        if name == "fun":
            return values
        norms = np.sqrt(values)  # the loop records squared norms (see write_row)
        norms.flags.writeable = False
        return norms

    return History(
        steps=steps.astype(np.int64, copy=False),
        x=x_rows if "x" in cfg.record else None,
        fun=column("fun"),
        grad_norm=column("grad_norm"),
        step_size=column("step_size"),
    )


def _history_columns(hist: dict, x: Any, batch_ndim: int) -> tuple[Any, np.ndarray | None]:
    """The history's x (x's structure, each leaf with the rows axis after the batch
    axes) and scalars (rows, k), as numpy views of the buffers of :func:`new_history`."""
    import jax

    if "table" not in hist:
        scalars = np.asarray(hist["scalars"]) if "scalars" in hist else None
        return hist.get("x"), scalars
    table = np.asarray(hist["table"])
    lead = table.shape[: batch_ndim + 1]  # batch axes, rows
    leaves, treedef = jax.tree.flatten(x)
    out, at = [], 0
    for leaf in leaves:
        shape = np.shape(leaf)[batch_ndim:]
        size = int(np.prod(shape, dtype=np.int64))
        out.append(table[..., at : at + size].reshape(lead + shape))
        at += size
    return jax.tree.unflatten(treedef, out), table[..., at:]


@functools.lru_cache(maxsize=16)
def _step_numbers(n_rows: int, record_every: int, last: int) -> np.ndarray:
    """A run's history step numbers, read-only and shared between equal runs (a fresh
    20,000-entry array costs ~100 us of page faults after XLA's allocations)."""
    steps = np.arange(0, n_rows * record_every, record_every, dtype=np.int64)
    steps[-1] = last
    steps.flags.writeable = False
    return steps


def _steps_view(n_rows: int, record_every: int, last: int) -> np.ndarray:
    """A read-only view of the shared step numbers (a view cannot be made writable)."""
    return _step_numbers(n_rows, record_every, last).view()


def tree_norm(tree: Any, batch_ndim: int) -> np.ndarray:
    import jax

    total = 0.0
    for leaf in jax.tree.leaves(tree):
        flat = np.asarray(leaf, np.float64).reshape(np.shape(leaf)[:batch_ndim] + (-1,))
        if batch_ndim == 0:
            total = total + np.dot(flat, flat)  # BLAS: 10^7 entries in ~5 ms, no temporary
        else:
            total = total + np.einsum("...i,...i->...", flat, flat)
    return np.sqrt(total)


def _eval_batched(obj: Objective, x: Any, args: tuple, batch_ndim: int) -> tuple[Any, Any]:
    import jax

    fn = lambda xx: obj(xx, args)  # noqa: E731
    for _ in range(batch_ndim):
        fn = jax.vmap(fn)
    f, g = fn(x)
    return np.asarray(f), jax.tree.map(np.asarray, g)


def _few(values: Any, digits: int = 3, tiny: float = 0.0) -> str:
    """``(a, b, ...)``: at most six entries of a vector, for a message."""
    v = np.ravel(np.asarray(values, np.float64))
    shown = ", ".join("0" if abs(a) < tiny else f"{a:.{digits}g}" for a in v[:6])
    return f"({shown}{', ...' if v.size > 6 else ''})"


def with_direction(message: str, fields: dict, x0: Any) -> str:
    """An unbounded run's message, with the direction f kept falling along."""
    if fields["status"].item() is not Status.UNBOUNDED:
        return message
    import jax

    flat = lambda t: np.concatenate([np.ravel(l) for l in jax.tree.leaves(t)])  # noqa: E731
    d = flat(fields["x"]) - flat(x0)
    norm = float(np.linalg.norm(d))
    if not np.isfinite(norm) or norm == 0:
        return message
    where = f"along the direction {_few(d / norm, tiny=5e-4)}"
    return message.replace("f looks unbounded below", f"f looks unbounded below {where}", 1)


def local_note(objective: Objective, fields: dict, x0: Any) -> str:
    """For a built-in function that converged above its known global minimum: say so,
    and whether it is a local minimum (by the Hessian's eigenvalues there)."""
    lower = getattr(objective.fun, "lower_minimum", None)
    if lower is None or not bool(fields["success"]):
        return ""
    n = tree_size(x0)
    m = lower(float(fields["fun"]), n)
    if m is None:
        return ""
    best = f"f = {m.f:.6g} at {_few(m.x, 6)}"
    from .calculus import classify
    from .result import MAX_KIND_PARAMETERS

    point = classify(objective.fun, fields["x"]) if n <= MAX_KIND_PARAMETERS else None
    if point is not None and point.stationary and point.kind == "minimum":
        return f"; a local minimum: the global minimum is {best}"
    return f"; above the global minimum ({best}), not a minimum the gradient and Hessian confirm"


def result_snapshot(s: State) -> Result:
    import jax

    x, f, g, gn, step, nfev = jax.device_get((s.x, s.f, s.grad, s.grad_norm, s.step, s.nfev))
    gn = np.sqrt(gn)  # kept squared in the loop
    nfev = step + 1 if isinstance(nfev, tuple) else nfev
    return Result(
        x=to_numpy(x),
        fun=float(f),
        jac=to_numpy(g),
        grad_norm=float(gn),
        nit=int(step),
        nfev=int(nfev),
        status=None,  # type: ignore[arg-type]  # still running
        success=False,
        message="running",
    )


def learning_rate_hint(objective: Objective, x0: Any, args: tuple, optimizer: Any) -> str:
    """A learning-rate hint for a diverged run, from the curvature at x0 when possible."""
    try:
        from .curvature import largest_algebraic_eigenvalue

        lam = largest_algebraic_eigenvalue(objective, x0, args)
    except Exception:  # noqa: BLE001 - a hint only; never fail the run over it
        return "try a smaller learning rate"
    if not np.isfinite(lam) or lam <= 0:
        return "try a smaller learning rate"
    return (
        f"try a smaller learning rate: the curvature at x0 is about {lam:.3g}, so gradient "
        f"descent needs learning_rate < 2/L = {2 / lam:.3g} (1/L = {1 / lam:.3g} is a safe start)"
    )
