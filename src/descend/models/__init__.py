"""Models to train with :func:`descend.fit`: their parameters are pytrees (dicts of arrays).

* :func:`linear`: regression, ``X @ w + b``, mean squared error;
* :func:`logistic`: two classes, ``sigmoid(X @ w + b)``, binary cross-entropy;
* :func:`softmax`: k classes, ``softmax(X @ W + b)``, cross-entropy;
* :func:`mlp`: hidden layers with an activation, then one of the above;
* :func:`custom`: your own ``loss(params, X, y)`` (a mean over the rows).

Each takes ``l2``: the loss minimized is ``mean loss + l2 / 2 * sum(w ** 2)`` over the
weights (not the biases). In scikit-learn's terms ``LogisticRegression(C=C)`` on
``n`` rows is ``l2 = 1 / (C n)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import check_int, check_real
from ._backprop import Backprop, Layer, backprop

__all__ = [
    "Model",
    "linear",
    "logistic",
    "softmax",
    "mlp",
    "custom",
    "ACTIVATIONS",
    "backprop",
    "Backprop",
    "Layer",
]

REGRESSION, BINARY, MULTICLASS = "regression", "binary", "multiclass"
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")


@dataclasses.dataclass(frozen=True)
class Model:
    """What to fit: a kind of model, its shape and its L2 penalty.

    ``spec`` (everything but ``l2``) keys the compiled training program, so a new
    ``l2`` (like a new learning rate) compiles nothing.
    """

    kind: str
    task: str | None  # regression, binary, multiclass; None: from the data (mlp, custom)
    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    classes: int | None = None
    l2: float = 0.0
    loss_fn: Callable[..., Any] | None = None
    predict_fn: Callable[..., Any] | None = None

    @property
    def spec(self) -> tuple:
        return (self.kind, self.task, self.hidden, self.activation, self.classes, self.loss_fn)

    @property
    def is_classifier(self) -> bool:
        return self.task in (BINARY, MULTICLASS)

    def __repr__(self) -> str:
        parts = (
            [f"hidden={list(self.hidden)}", f"activation={self.activation!r}"]
            if self.hidden
            else []
        )
        parts += [f"classes={self.classes}"] if self.classes else []
        parts += [f"l2={self.l2:g}"] if self.l2 else []
        return f"{self.kind}({', '.join(parts)})"

    # -- shapes ---------------------------------------------------------------------

    def for_data(self, task: str, n_classes: int | None) -> Model:
        """This model with its task and class count checked against (or taken from) the
        data's (``task``: ``"classification"`` or ``"regression"``)."""
        if self.kind == "custom":
            return self
        classify = task == "classification"
        if self.kind == "linear" and classify:
            raise ValueError(
                "a linear (regression) model needs a numeric target; this data has "
                f"{n_classes} classes: use ds.models.logistic() or softmax(), or load "
                "whole-number targets as numbers with ds.data.load(..., task='regression')"
            )
        if self.kind in ("logistic", "softmax") and not classify:
            raise ValueError(f"a {self.kind} model needs classes; this data is a regression target")
        if self.kind == "logistic" and n_classes != 2:
            raise ValueError(
                f"logistic regression needs 2 classes, this data has {n_classes}: "
                "use ds.models.softmax()"
            )
        if self.kind == "mlp" and self.classes is None:
            task_ = MULTICLASS if classify else REGRESSION
            return dataclasses.replace(self, task=task_, classes=n_classes if classify else None)
        if self.kind == "mlp" and not classify:
            raise ValueError(
                f"mlp(classes={self.classes}) needs classes; this data is a regression target"
            )
        if self.classes is not None and classify and self.classes != n_classes:
            raise ValueError(f"the model has {self.classes} classes, the data has {n_classes}")
        if self.kind == "softmax" and self.classes is None:
            return dataclasses.replace(self, classes=n_classes)
        return self

    def init(self, n_features: int, seed: int = 0, dtype: Any = np.float32) -> dict:
        """Initial parameters: zeros for the linear models (their losses are convex),
        He (relu, gelu) or Glorot (tanh, sigmoid) uniform weights for an MLP, drawn by
        ``numpy.random.default_rng(seed)``."""
        import jax.numpy as jnp

        outputs = self.classes if self.task == MULTICLASS else None
        if self.kind in ("linear", "logistic", "softmax"):
            shape = (n_features,) if outputs is None else (n_features, outputs)
            return {"w": jnp.zeros(shape, dtype), "b": jnp.zeros(shape[1:], dtype)}
        if self.kind != "mlp":
            raise ValueError("a custom model has no initial parameters: pass params= to ds.fit")
        # numpy's generator, not jax.random: no compilation before the first epoch
        rng = np.random.default_rng(seed)
        sizes = [n_features, *self.hidden, outputs or 1]
        params = {}
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            fan = n_in if self.activation in ("relu", "gelu") else (n_in + n_out) / 2
            limit = float(
                np.sqrt(3.0 * (2.0 if self.activation in ("relu", "gelu") else 1.0) / fan)
            )
            name = "output" if i == len(sizes) - 2 else f"hidden{i + 1}"
            w = rng.uniform(-limit, limit, (n_in, n_out)).astype(dtype)
            params[name] = {"w": jnp.asarray(w), "b": jnp.zeros((n_out,), dtype)}
        return params

    # -- the math (pure functions of arrays; traced inside the training program) -----

    def apply(self, params: dict, X: Any) -> Any:
        """Outputs: predictions (regression) or logits, one row per sample."""
        import jax
        import jax.numpy as jnp

        if self.task is None and self.kind == "mlp":
            raise ValueError(
                "this mlp learns its task from the data in ds.fit; give classes=K (or use "
                "model.for_data(task, classes)) to call it directly"
            )
        if self.kind in ("linear", "logistic", "softmax"):
            return X @ params["w"] + params["b"]
        act = {
            "relu": jax.nn.relu,
            "tanh": jnp.tanh,
            "sigmoid": jax.nn.sigmoid,
            "gelu": jax.nn.gelu,
        }[self.activation]
        h = X
        for i in range(len(self.hidden)):
            layer = params[f"hidden{i + 1}"]
            h = act(h @ layer["w"] + layer["b"])
        out = h @ params["output"]["w"] + params["output"]["b"]
        return out[:, 0] if self.task != MULTICLASS else out

    def data_loss(self, params: Any, X: Any, y: Any) -> Any:
        """The mean loss over the rows (without the penalty)."""
        import jax.numpy as jnp

        if self.kind == "custom":
            return self.loss_fn(params, X, y)
        return jnp.mean(self.row_losses(params, X, y))

    def row_losses(self, params: Any, X: Any, y: Any) -> Any:
        """Each row's loss (the built-in models; a custom loss is a mean already)."""
        import optax

        out = self.apply(params, X)
        if self.task == REGRESSION:
            return (out - y) ** 2
        if self.task == BINARY:
            return optax.sigmoid_binary_cross_entropy(out, y.astype(out.dtype))
        return optax.softmax_cross_entropy_with_integer_labels(out, y)

    def penalty(self, params: Any, l2: Any) -> Any:
        """``l2 / 2`` times the sum of the squared weights (leaves named ``w``)."""
        import jax

        if self.kind == "custom" or (isinstance(l2, (int, float)) and l2 == 0):
            return 0.0  # nothing traced for an unpenalized model
        total = 0.0
        for path, leaf in jax.tree_util.tree_leaves_with_path(params):
            if getattr(path[-1], "key", None) == "w":
                total = total + (leaf * leaf).sum()
        return 0.5 * l2 * total

    def loss(self, params: Any, X: Any, y: Any, l2: Any = None) -> Any:
        """What training minimizes: the mean loss plus the L2 penalty."""
        return self.data_loss(params, X, y) + self.penalty(params, self.l2 if l2 is None else l2)

    def loss_and_metric(self, params: Any, X: Any, y: Any, l2: Any) -> tuple[Any, Any]:
        """(loss with the penalty, metric) from one forward pass."""
        import jax.numpy as jnp
        import optax

        if self.kind == "custom":
            return self.loss_fn(params, X, y), jnp.nan
        out = self.apply(params, X)
        if self.task == REGRESSION:
            sq = jnp.sum((out - y) ** 2)
            data_loss = sq / y.shape[0]
            metric = 1.0 - sq / jnp.sum((y - jnp.mean(y)) ** 2)
        else:
            if self.task == BINARY:
                per = optax.sigmoid_binary_cross_entropy(out, y.astype(out.dtype))
            else:
                per = optax.softmax_cross_entropy_with_integer_labels(out, y)
            data_loss = jnp.mean(per)
            metric = jnp.mean(self.classes_from(out) == y)
        return data_loss + self.penalty(params, l2), metric

    def metric(self, params: Any, X: Any, y: Any) -> Any:
        """Accuracy (classifiers) or R^2 (regression); nan for a custom model."""
        import jax.numpy as jnp

        if self.kind == "custom":
            return jnp.nan
        out = self.apply(params, X)
        if self.task == REGRESSION:
            resid = jnp.sum((y - out) ** 2)
            return 1.0 - resid / jnp.sum((y - jnp.mean(y)) ** 2)
        return jnp.mean(self.classes_from(out) == y)

    def classes_from(self, out: Any) -> Any:
        import jax.numpy as jnp

        if self.task == BINARY:
            return (out > 0).astype(jnp.int32)
        return jnp.argmax(out, axis=-1).astype(jnp.int32)

    def proba_from(self, out: Any) -> Any:
        import jax
        import jax.numpy as jnp

        if self.task == BINARY:
            p = jax.nn.sigmoid(out)
            return jnp.stack([1 - p, p], axis=-1)
        return jax.nn.softmax(out, axis=-1)


def _l2(l2: Any) -> float:
    return check_real(l2, "l2", low=0)


def linear(l2: float = 0.0) -> Model:
    """Linear regression ``X @ w + b`` with the mean squared error."""
    return Model("linear", REGRESSION, l2=_l2(l2))


def logistic(l2: float = 0.0) -> Model:
    """Logistic regression for two classes: ``P(class 1) = sigmoid(X @ w + b)``."""
    return Model("logistic", BINARY, classes=2, l2=_l2(l2))


def softmax(classes: int | None = None, l2: float = 0.0) -> Model:
    """Multinomial logistic regression: ``softmax(X @ W + b)`` over ``classes`` (default:
    the data's)."""
    if classes is not None:
        classes = check_int(classes, "classes", 2)
    return Model("softmax", MULTICLASS, classes=classes, l2=_l2(l2))


def mlp(
    hidden: Any = (64,), classes: int | None = None, activation: str = "relu", l2: float = 0.0
) -> Model:
    """A multilayer perceptron: ``hidden`` layer sizes with ``activation``, then a
    softmax over ``classes`` (default: the data's classes) or, for a regression target,
    one linear output. Layers are named ``hidden1``, ``hidden2``, ..., ``output``."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise TypeError(f"hidden must be a list of layer sizes like [64, 64], got {hidden!r}")
    hidden = tuple(check_int(h, "hidden", 1, what="a list of integers >= 1") for h in hidden)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    task = None
    if classes is not None:
        classes = check_int(classes, "classes", 2)
        task = MULTICLASS
    return Model("mlp", task, hidden, activation, classes, l2=_l2(l2))


def custom(loss: Callable[..., Any], predict: Callable[..., Any] | None = None) -> Model:
    """Your own ``loss(params, X, y)`` (a mean over the rows); ``predict(params, X)``, if
    given, serves :meth:`descend.FitResult.predict`. Pass initial ``params=`` to fit."""
    if not callable(loss):
        raise TypeError(f"loss must be a function loss(params, X, y), got {type(loss).__name__}")
    return Model("custom", None, loss_fn=loss, predict_fn=predict)
