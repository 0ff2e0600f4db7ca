"""What :func:`descend.fit` returns: a :class:`FitResult` with its :class:`FitHistory`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..stopping import Status

__all__ = ["FitHistory", "FitResult"]


@dataclasses.dataclass(frozen=True)
class FitHistory:
    """Learning curves: one entry per epoch (``epoch`` = 1, 2, ...), and per step.

    ``train_loss`` is the mean of the epoch's mini-batch losses, each taken before
    its update (as Keras reports it; for full-batch training, the loss at the
    epoch's start). ``val_loss`` and ``val_accuracy`` (classifiers) or ``val_r2``
    (regression) are computed on the validation set at the epoch's end. Losses
    include the L2 penalty. ``batch_loss`` has one entry per step, ``grad_norm`` one
    per epoch in full-batch training. With ``record_params=True``, ``params`` holds the
    parameters at the start and after every step (the model's layout, with a leading
    step axis): the path the training took. A field with nothing in it is None.
    """

    epoch: np.ndarray
    train_loss: np.ndarray
    batch_loss: np.ndarray
    val_loss: np.ndarray | None = None
    val_accuracy: np.ndarray | None = None
    val_r2: np.ndarray | None = None
    grad_norm: np.ndarray | None = None
    params: Any = None

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        kept = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]
        return f"FitHistory({len(self)} epochs: {', '.join(kept)})"


def _fmt(v: Any) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.6g}"


@dataclasses.dataclass(frozen=True, repr=False)
class FitResult:
    """The outcome of :func:`descend.fit`.

    Attributes:
      params: the trained parameters (a dict of numpy arrays, the model's layout);
        with early stopping, those of the best epoch.
      status: why training stopped (``max_epochs``, ``early_stopped``, ``gtol``,
        ``nonfinite``, ``diverged``, ``stopped``, ``interrupted``).
      success: True unless training failed (nonfinite, diverged) or was cut short.
      message: the reason in words, with its numbers.
      epochs: epochs run in all (a resumed fit counts the earlier ones).
      best_epoch: with early stopping, the epoch whose parameters are returned: the
        lowest validation loss (with ``min_delta``, the last epoch that improved on
        the best by more than it); 0 without early stopping.
      history: a :class:`FitHistory`.
      steps: optimizer steps taken in all.
      wall_time, compile_time: seconds (compilation in ``compile_time`` only).
      model: the :class:`~descend.models.Model`; classes: the class labels or None.
    """

    params: Any
    status: Status
    success: bool
    message: str
    epochs: int
    best_epoch: int
    history: FitHistory
    steps: int
    model: Any
    classes: tuple | None = None
    learning_rate: Any = None
    wall_time: float = 0.0
    compile_time: float = 0.0
    n_features: int = 0

    def __repr__(self) -> str:
        h = self.history
        lines = [
            "FitResult(",
            f"  status: {self.status.value!r} (success={self.success})",
            f"  message: {self.message}",
            f"  model: {self.model!r}",
            f"  epochs: {self.epochs} ({self.steps} steps), best epoch: {self.best_epoch or 'n/a'}",
            f"  last epoch's train loss: {_fmt(h.train_loss[-1] if len(h) else None)}",
        ]
        if h.val_loss is not None and len(h):
            lines.append(f"  final validation loss: {_fmt(h.val_loss[-1])}")
        lines.append(f"  wall_time: {self.wall_time:.3g} s (compile {self.compile_time:.3g} s)")
        return "\n".join(lines) + "\n)"

    # -- using the model ------------------------------------------------------------

    def _outputs(self, X: Any) -> Any:
        import jax.numpy as jnp

        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None] if self._n_features() == 1 else X[None, :]
        if X.ndim != 2 or X.shape[1] != self._n_features():
            raise ValueError(
                f"X must have {self._n_features()} features (columns), got shape {X.shape}"
            )
        dtype = np.asarray(next(iter(_leaves(self.params)))).dtype
        return self.model.apply(self.params, jnp.asarray(X, dtype))

    def _n_features(self) -> int:
        return self.n_features

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values (regression) or class labels (classifiers) for the rows of X."""
        if self.model.kind == "custom":
            if self.model.predict_fn is None:
                raise ValueError("a custom model predicts with ds.models.custom(loss, predict=...)")
            return np.asarray(self.model.predict_fn(self.params, np.asarray(X)))
        out = self._outputs(X)
        if not self.model.is_classifier:
            return np.asarray(out)
        codes = np.asarray(self.model.classes_from(out))
        return np.asarray(self.classes, dtype=object)[codes] if _labels(self.classes) else codes

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class in ``classes`` order (classifiers)."""
        if not self.model.is_classifier:
            raise ValueError("predict_proba needs a classifier; this model is a regression")
        return np.asarray(self.model.proba_from(self._outputs(X)))

    def evaluate(self, data: Any) -> dict[str, float]:
        """The loss (with the L2 penalty) and metrics on ``data`` (a Dataset or (X, y))."""
        import jax.numpy as jnp

        from ..data import align

        task = "classification" if self.model.is_classifier else "regression"
        if self.model.kind == "custom":
            X, y = _xy(data)
        else:
            aligned = align(data, task, self.classes, "data")
            X, y = aligned.X, aligned.y
        dtype = np.asarray(next(iter(_leaves(self.params)))).dtype
        Xj = jnp.asarray(X, dtype)
        yj = jnp.asarray(y, jnp.int32 if self.model.is_classifier else dtype)
        out = {"loss": float(self.model.loss(self.params, Xj, yj))}
        if self.model.kind == "custom":
            return out
        key = "accuracy" if self.model.is_classifier else "r2"
        out[key] = float(self.model.metric(self.params, Xj, yj))
        if not self.model.is_classifier:
            out["mse"] = float(jnp.mean((self.model.apply(self.params, Xj) - yj) ** 2))
        return out

    def score(self, data: Any) -> float:
        """Accuracy (classifiers) or R^2 (regression) on ``data``, as scikit-learn's score."""
        ev = self.evaluate(data)
        return ev.get("accuracy", ev.get("r2", float("nan")))


def _labels(classes: tuple | None) -> bool:
    """Whether the labels differ from the codes 0..k-1."""
    return classes is not None and tuple(classes) != tuple(range(len(classes)))


def _leaves(tree: Any) -> list:
    import jax

    return jax.tree.leaves(tree)


def _xy(data: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(data, "X") and hasattr(data, "y"):
        return np.asarray(data.X), np.asarray(data.y)
    if isinstance(data, tuple) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    raise TypeError(f"data must be a Dataset or (X, y), got {type(data).__name__}")
