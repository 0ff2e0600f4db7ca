"""The sentence that says why a fit stopped, with its numbers."""

from __future__ import annotations

from typing import Any

from ..stopping import Status

__all__ = ["message"]


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


def _returned(epoch: int) -> str:
    if epoch == 0:
        return "the initial parameters are returned"
    return f"the parameters from the end of epoch {epoch} are returned"


def message(
    status: Status, state: Any, history: Any, setup: Any, grad_stop: float, returned: int
) -> str:
    """Why the fit stopped; ``state`` is the final training state (host arrays),
    ``grad_stop`` the full-batch gradient norm where gtol was tested last and
    ``returned`` the epoch whose parameters the result holds."""
    e = int(state.step)
    last = history.train_loss[-1] if len(history) else float("nan")
    if status is Status.EARLY_STOPPED:
        patience = int(setup.nums.patience)
        return (
            f"validation loss did not improve for {_epochs(patience)}; best epoch "
            f"{int(state.best_epoch)} restored (validation loss {float(state.best_val):.4g})"
        )
    if status is Status.MAX_EPOCHS:
        text = f"ran all {_epochs(e)}; last epoch's train loss {last:.4g}"
        if history.val_loss is not None and len(history):
            text += f", validation loss {history.val_loss[-1]:.4g}"
        if setup.shape.early_stopping and int(state.best_epoch):
            text += f"; best epoch {int(state.best_epoch)} restored"
        return text
    if status is Status.GTOL:
        gtol = float(setup.nums.gtol)
        return f"full-batch gradient norm {grad_stop:.2e} <= gtol {gtol:.3g} after {_epochs(e)}"
    if status is Status.NONFINITE:
        return (
            f"the training loss became nan or inf in epoch {e}: the learning rate may be "
            f"too large; {_returned(returned)}"
        )
    if status is Status.DIVERGED:
        return (
            f"the training loss grew from {float(state.loss0):.4g} to {last:.4g} by epoch {e}: "
            f"the steps overshoot; try a smaller learning rate; {_returned(returned)}"
        )
    if status is Status.STOPPED:
        return f"the callback raised StopIteration after {_epochs(e)}; {_returned(returned)}"
    if status is Status.INTERRUPTED:
        return f"interrupted (Ctrl-C) after {_epochs(e)}; {_returned(returned)}"
    return status.description
