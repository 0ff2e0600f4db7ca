"""Backpropagation written out: the loss and its gradient, layer by layer, by the chain rule.

:func:`backprop` computes what ``jax.grad(model.loss)`` computes, but by hand, with
plain array operations, and keeps every intermediate quantity so it can be looked at:

* **forward**: for each layer ``z = a_prev @ W + b`` (the pre-activation) and
  ``a = act(z)`` (the activation; the output layer has none), starting from ``a = X``;
* **loss**: the mean loss of the outputs, plus ``l2 / 2 * sum(W ** 2)`` over the weights;
* **backward**: ``delta = dL/dz`` of the output layer from the loss alone, then for each
  layer, last to first::

      dL/dW      = a_prev.T @ delta  (+ l2 * W)
      dL/db      = delta.sum(axis=0)
      delta_prev = (delta @ W.T) * act'(z_prev)

The three losses give the same simple ``delta`` at the output, ``(output - target) / n``
up to a factor: ``2 (out - y) / n`` for the mean squared error, ``(sigmoid(z) - y) / n``
for the binary cross-entropy, ``(softmax(z) - onehot(y)) / n`` for the cross-entropy.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

__all__ = ["backprop", "Backprop", "Layer"]

_GELU_C = 0.044715  # JAX's (and the GELU paper's) tanh approximation


class Layer(NamedTuple):
    """One layer's forward and backward quantities (``n`` rows of data).

    Attributes:
      name: the layer's name in ``params`` (``"hidden1"``, ..., ``"output"``).
      a_prev: what enters the layer, ``(n, d_in)``: X for the first layer.
      z: the pre-activation ``a_prev @ W + b``, ``(n, d_out)``.
      a: the activation ``act(z)``; for the output layer, ``z`` itself (the outputs or
        logits).
      delta: ``dL/dz`` of the mean data loss, ``(n, d_out)``.
      grad_w: ``dL/dW = a_prev.T @ delta + l2 * W``, ``(d_in, d_out)``.
      grad_b: ``dL/db = delta.sum(axis=0)``, ``(d_out,)``.
    """

    name: str
    a_prev: Any
    z: Any
    a: Any
    delta: Any
    grad_w: Any
    grad_b: Any


class Backprop(NamedTuple):
    """What :func:`backprop` returns.

    Attributes:
      loss: the mean loss plus the L2 penalty (what ``model.loss`` returns).
      data_loss: the mean loss alone.
      penalty: ``l2 / 2 * sum(W ** 2)`` over the weights.
      grads: ``dL/dparams``, in the layout of ``params`` (what ``jax.grad`` returns).
      layers: a :class:`Layer` per layer, first to last (the linear models have one,
        ``"output"``).
      output: the model's outputs, as ``model.apply`` gives them.
      d_output: ``dL/d(output)``, the start of the backward pass (same shape as
        ``output``).
    """

    loss: Any
    data_loss: Any
    penalty: Any
    grads: Any
    layers: tuple[Layer, ...]
    output: Any
    d_output: Any

    def __repr__(self) -> str:
        def norm(a: Any) -> str:
            return f"{float(np.linalg.norm(np.asarray(a))):.4g}"

        lines = [
            f"Backprop(loss={float(self.loss):.6g}: data loss {float(self.data_loss):.6g}"
            f" + penalty {float(self.penalty):.6g}",
            f"  {'layer':9} {'W shape':>10} {'z shape':>10} {'|delta|':>10}"
            f" {'|dL/dW|':>10} {'|dL/db|':>10}",
        ]
        for layer in self.layers:
            w_shape = "x".join(map(str, np.shape(layer.grad_w)))
            z_shape = "x".join(map(str, np.shape(layer.z)))
            lines.append(
                f"  {layer.name:9} {w_shape:>10} {z_shape:>10} {norm(layer.delta):>10}"
                f" {norm(layer.grad_w):>10} {norm(layer.grad_b):>10}"
            )
        return "\n".join(lines) + "\n)"


# -- activations and their derivatives, written out ----------------------------------


def _activation(name: str) -> tuple[Any, Any]:
    """``(act, act')``: the activation as ``Model.apply`` computes it and its derivative
    as a function of ``z``."""
    import jax
    import jax.numpy as jnp

    if name == "relu":
        # relu(z) = max(z, 0); its slope is 1 where z > 0 and 0 elsewhere (JAX takes 0
        # at z = 0 as well).
        return jax.nn.relu, lambda z: (z > 0).astype(z.dtype)
    if name == "tanh":
        # tanh' = 1 - tanh^2
        return jnp.tanh, lambda z: 1 - jnp.tanh(z) ** 2
    if name == "sigmoid":
        # s' = s (1 - s)
        def d_sigmoid(z: Any) -> Any:
            s = jax.nn.sigmoid(z)
            return s * (1 - s)

        return jax.nn.sigmoid, d_sigmoid
    if name == "gelu":
        # gelu(z) = z * c(z), c(z) = (1 + tanh(u)) / 2, u = sqrt(2/pi) (z + 0.044715 z^3)
        # gelu'(z) = c(z) + z * (1 - tanh(u)^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 z^2)
        def d_gelu(z: Any) -> Any:
            k = np.sqrt(2 / np.pi).astype(z.dtype)
            t = jnp.tanh(k * (z + _GELU_C * z**3))
            return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * _GELU_C * z * z)

        return jax.nn.gelu, d_gelu
    raise ValueError(f"unknown activation {name!r}")


# -- the losses and dL/d(output), written out ------------------------------------------


def _loss_and_delta(task: str, z: Any, y: Any, classes: int) -> tuple[Any, Any]:
    """The mean data loss of the output layer's ``z`` (n, k) and ``dL/dz``."""
    import jax
    import jax.numpy as jnp

    n = z.shape[0]
    if task == "regression":
        r = z[:, 0] - y.astype(z.dtype)
        # L = mean(r^2)  ->  dL/dz = 2 r / n
        return jnp.mean(r * r), (2 * r / n)[:, None]
    if task == "binary":
        t, y = z[:, 0], y.astype(z.dtype)
        # L = mean(-y log s(t) - (1 - y) log(1 - s(t))) = mean(softplus(t) - y t),
        # written so exp never overflows; dL/dt = (s(t) - y) / n.
        loss = jnp.mean(jnp.maximum(t, 0) - t * y + jnp.log1p(jnp.exp(-jnp.abs(t))))
        return loss, ((jax.nn.sigmoid(t) - y) / n)[:, None]
    # multiclass: L = mean(logsumexp(z) - z[y]); dL/dz = (softmax(z) - onehot(y)) / n
    m = jnp.max(z, axis=1, keepdims=True)
    lse = m + jnp.log(jnp.sum(jnp.exp(z - m), axis=1, keepdims=True))
    y = y.astype(jnp.int32)
    picked = jnp.take_along_axis(z, y[:, None], axis=1)
    onehot = (y[:, None] == jnp.arange(classes)[None, :]).astype(z.dtype)
    return jnp.mean(lse - picked), (jnp.exp(z - lse) - onehot) / n


# -- the passes --------------------------------------------------------------------


def _task(model: Any, params: dict) -> tuple[str, int]:
    """The model's task and its output width (an mlp's may come from its params)."""
    if model.kind == "custom":
        raise ValueError(
            "backprop needs the layers of a built-in model (linear, logistic, softmax, "
            "mlp); for a custom loss use jax.grad(loss)"
        )
    if model.kind == "mlp":
        width = int(np.shape(params["output"]["w"])[1])
    else:
        w = np.shape(params["w"])
        width = 1 if len(w) == 1 else int(w[1])
    task = model.task
    if task is None:
        # mlp() without classes: its task comes from the data when it is fitted. Its
        # init gives one output for a regression and k for k classes: read it back.
        task = "regression" if width == 1 else "multiclass"
    if (task == "multiclass") != (width > 1):
        raise ValueError(
            f"a {task} model needs {'k > 1 outputs' if task == 'multiclass' else 'one output'}"
            f", these params have {width}"
        )
    return task, width


def backprop(model: Any, params: Any, X: Any, y: Any, l2: Any = None) -> Backprop:
    """The loss of ``model`` at ``params`` on ``(X, y)`` and its gradient, by backpropagation.

    A forward pass keeps every layer's pre-activation ``z`` and activation ``a``; a
    backward pass starts from ``dL/d(output)`` and applies the chain rule one layer at
    a time (see the module's documentation). Everything is plain array arithmetic
    (compiled with ``jax.jit`` into one program), no automatic differentiation, so the
    result can be checked against ``jax.grad(model.loss)(params, X, y)``: they agree to
    rounding.

    Args:
      model: a :func:`~descend.models.mlp`, :func:`~descend.models.linear`,
        :func:`~descend.models.logistic` or :func:`~descend.models.softmax` model. An
        ``mlp()`` without ``classes`` is a regression if its output layer has one unit
        and a k-class classifier if it has k.
      params: its parameters, as ``model.init`` makes them.
      X: the inputs, ``(n, d)``.
      y: the targets, ``(n,)``: numbers (regression) or class indices ``0 .. k-1``.
      l2: the penalty (default: the model's ``l2``).

    Returns:
      a :class:`Backprop`: ``loss``, ``grads`` (the layout of ``params``), and the
      ``layers`` with their ``z``, ``a``, ``delta`` and gradients.
    """
    import jax.numpy as jnp

    task, width = _task(model, params)
    l2 = model.l2 if l2 is None else l2
    X = jnp.asarray(X)
    y = jnp.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features), got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have one entry per row of X ({X.shape[0]}), got {y.shape}")

    if model.kind == "mlp":
        names = [f"hidden{i + 1}" for i in range(len(model.hidden))] + ["output"]
        raw = [(params[k]["w"], params[k]["b"]) for k in names]
        activation = model.activation
    else:
        names, raw, activation = ["output"], [(params["w"], params["b"])], None
    # The layers' W 2-D: the linear models' w (d,) and b () become (d, 1) and (1,), so
    # one formula serves every layer.
    weights = [
        (jnp.asarray(w).reshape(np.shape(w)[0], -1), jnp.asarray(b).reshape(-1)) for w, b in raw
    ]
    data_loss, penalty, forward, backward = _passes(task, width, activation, weights, X, y, l2)
    layers = tuple(
        Layer(name, *fwd, *bwd) for name, fwd, bwd in zip(names, forward, backward, strict=True)
    )

    # Back into the layout of params.
    def shaped(layer: Layer, like: tuple[Any, Any]) -> dict:
        w, b = like
        return {"w": layer.grad_w.reshape(np.shape(w)), "b": layer.grad_b.reshape(np.shape(b))}

    if model.kind == "mlp":
        grads = {name: shaped(layer, like) for name, layer, like in zip(names, layers, raw)}
    else:
        grads = shaped(layers[0], raw[0])
    z_out, delta_out = layers[-1].z, layers[-1].delta
    squeeze = task != "multiclass"
    output = z_out[:, 0] if squeeze else z_out
    d_output = delta_out[:, 0] if squeeze else delta_out
    return Backprop(data_loss + penalty, data_loss, penalty, grads, layers, output, d_output)


def _passes(
    task: str, width: int, activation: str | None, weights: list, X: Any, y: Any, l2: Any
) -> tuple:
    """The forward and backward passes, compiled once for each task, activation and
    shape: ``(data_loss, penalty, [(a_prev, z, a)], [(delta, grad_w, grad_b)])``, one
    entry per layer, first to last."""
    return _compiled()(task, width, activation, weights, X, y, l2)


@functools.cache
def _compiled() -> Any:
    import jax

    return jax.jit(_passes_traced, static_argnums=(0, 1, 2))


def _passes_traced(
    task: str, width: int, activation: str | None, weights: list, X: Any, y: Any, l2: Any
) -> tuple:
    import jax.numpy as jnp

    act, d_act = _activation(activation) if activation is not None else (None, None)

    # Forward: a_0 = X; z_l = a_{l-1} W_l + b_l; a_l = act(z_l), the output layer linear.
    a = X
    forward = []  # (a_prev, z, a) per layer
    for i, (W, b) in enumerate(weights):
        z = a @ W + b
        a_prev, a = a, (z if i == len(weights) - 1 else act(z))
        forward.append((a_prev, z, a))

    data_loss, delta = _loss_and_delta(task, forward[-1][1], y, width)
    penalty = 0.5 * l2 * sum(jnp.sum(W * W) for W, _ in weights)

    # Backward: delta_l = dL/dz_l, from the output layer to the first.
    backward = [None] * len(weights)  # (delta, grad_w, grad_b) per layer
    for i in reversed(range(len(weights))):
        W, _ = weights[i]
        a_prev = forward[i][0]
        backward[i] = (delta, a_prev.T @ delta + l2 * W, jnp.sum(delta, axis=0))
        if i > 0:
            z_prev = forward[i - 1][1]
            delta = (delta @ W.T) * d_act(z_prev)
    return data_loss, penalty, forward, backward
