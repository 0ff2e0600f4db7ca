"""ds.models.backprop: the gradient by the chain rule, layer by layer, equals autodiff's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import descend as ds

jax = pytest.importorskip("jax")
jnp = jax.numpy

M = ds.models
TOL = 1e-12
TASKS = {"regression": None, "binary": 2, "multiclass": 4}


def _data(task: str, n: int = 9, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[0] = 0.0  # a zero row: with zero biases every first-layer z is exactly 0 there
    if task == "regression":
        y = rng.normal(size=n)
    else:
        y = rng.integers(0, TASKS[task], size=n).astype(np.int32)
    return X, y


def _mlp(task: str, activation: str, l2: float = 0.0):
    return dataclasses.replace(
        M.mlp([5, 4], activation=activation, l2=l2), task=task, classes=TASKS[task]
    )


def _check_against_autodiff(model, params, X, y, l2=None):
    bp = M.backprop(model, params, X, y, l2=l2)
    loss = model.loss(params, jnp.asarray(X), jnp.asarray(y), l2)
    auto = jax.grad(model.loss)(params, jnp.asarray(X), jnp.asarray(y), l2)
    assert float(bp.loss) == pytest.approx(float(loss), abs=TOL)
    assert jax.tree.structure(bp.grads) == jax.tree.structure(auto)
    for mine, theirs in zip(jax.tree.leaves(bp.grads), jax.tree.leaves(auto)):
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=0, atol=TOL)
    return bp


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("activation", M.ACTIVATIONS)
def test_mlp_equals_autodiff(activation, task, l2):
    model = _mlp(task, activation, l2)
    X, y = _data(task)
    params = model.init(X.shape[1], seed=1, dtype=np.float64)
    assert params["hidden1"]["w"].dtype == np.float64  # descend enables x64
    bp = _check_against_autodiff(model, params, X, y)
    assert [layer.name for layer in bp.layers] == ["hidden1", "hidden2", "output"]
    # an explicit l2 overrides the model's, as in model.loss
    _check_against_autodiff(model, params, X, y, l2=0.05)


@pytest.mark.parametrize("l2", [0.0, 0.2])
@pytest.mark.parametrize(
    "make, task",
    [
        (M.linear, "regression"),
        (M.logistic, "binary"),
        (lambda l2: M.softmax(4, l2=l2), "multiclass"),
    ],
)
def test_linear_models_equal_autodiff(make, task, l2):
    model = make(l2=l2)
    X, y = _data(task)
    rng = np.random.default_rng(2)
    params = jax.tree.map(
        lambda a: a + rng.normal(size=a.shape), model.init(X.shape[1], dtype=np.float64)
    )
    bp = _check_against_autodiff(model, params, X, y)
    assert [layer.name for layer in bp.layers] == ["output"]
    assert bp.grads["w"].shape == params["w"].shape and bp.grads["b"].shape == params["b"].shape


@pytest.mark.parametrize("activation", M.ACTIVATIONS)
def test_forward_and_backward_quantities(activation):
    model = _mlp("multiclass", activation, l2=0.1)
    X, y = _data("multiclass")
    params = model.init(X.shape[1], seed=3, dtype=np.float64)
    bp = M.backprop(model, params, X, y)
    act = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "gelu": jax.nn.gelu}[
        activation
    ]
    a = X
    for layer in bp.layers:
        W, b = params[layer.name]["w"], params[layer.name]["b"]
        np.testing.assert_array_equal(layer.a_prev, a)
        np.testing.assert_allclose(layer.z, a @ W + b, rtol=0, atol=TOL)
        expected = layer.z if layer.name == "output" else act(layer.z)
        np.testing.assert_allclose(layer.a, expected, rtol=0, atol=TOL)
        # dL/dW = a_prev^T delta + l2 W, dL/db = sum of delta over the rows
        np.testing.assert_allclose(layer.grad_w, a.T @ layer.delta + 0.1 * W, atol=TOL)
        np.testing.assert_allclose(layer.grad_b, layer.delta.sum(axis=0), atol=TOL)
        a = layer.a
    np.testing.assert_allclose(bp.output, model.apply(params, X), rtol=0, atol=TOL)
    # delta of the output layer is dL/d(output), (softmax - onehot) / n
    p = jax.nn.softmax(bp.output, axis=1)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(bp.d_output, (p - onehot) / len(y), atol=TOL)
    assert float(bp.penalty) == pytest.approx(float(model.penalty(params, 0.1)), abs=TOL)
    assert float(bp.data_loss) == pytest.approx(float(model.data_loss(params, X, y)), abs=TOL)
    # delta is dL/dz: autodiff of the loss with respect to z, with z perturbed in place
    hidden = bp.layers[-2]
    W, b = params["output"]["w"], params["output"]["b"]

    def from_a(a_last):
        z = a_last @ W + b
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + jnp.log(jnp.exp(z - m).sum(axis=1))
        return jnp.mean(lse - z[jnp.arange(len(y)), y])

    d_a = jax.grad(from_a)(hidden.a)
    np.testing.assert_allclose(bp.layers[-1].delta @ W.T, d_a, atol=TOL)


@pytest.mark.parametrize("activation", M.ACTIVATIONS)
def test_activation_derivatives(activation):
    from descend.models._backprop import _activation

    act, d_act = _activation(activation)
    z = jnp.linspace(-6.0, 6.0, 241)  # includes 0.0 exactly (relu's kink)
    auto = jax.vmap(jax.grad(act))(z)
    np.testing.assert_allclose(d_act(z), auto, rtol=0, atol=TOL)


def test_by_hand_relu_regression():
    """One input, one relu hidden unit, one output; one sample (x, y) = (2, 4).

    forward:  z1 = w1 x + b1 = 0.5 * 2 + 1 = 2,  a1 = relu(2) = 2
              out = w2 a1 + b2 = 3 * 2 - 1 = 5,  L = (out - y)^2 = (5 - 4)^2 = 1
    backward: dL/dout = 2 (out - y) = 2            (delta of the output layer)
              dL/dw2 = a1 * 2 = 4,  dL/db2 = 2
              delta1 = 2 * w2 * relu'(z1) = 2 * 3 * 1 = 6
              dL/dw1 = x * 6 = 12,  dL/db1 = 6
    with l2 = 0.1: penalty 0.1 / 2 * (0.5^2 + 3^2) = 0.4625, so L = 1.4625,
              dL/dw1 = 12 + 0.1 * 0.5 = 12.05, dL/dw2 = 4 + 0.1 * 3 = 4.3 (biases unchanged)
    """
    model = dataclasses.replace(M.mlp([1], activation="relu"), task="regression")
    params = {
        "hidden1": {"w": jnp.array([[0.5]]), "b": jnp.array([1.0])},
        "output": {"w": jnp.array([[3.0]]), "b": jnp.array([-1.0])},
    }
    X, y = np.array([[2.0]]), np.array([4.0])
    bp = M.backprop(model, params, X, y)
    hidden, out = bp.layers
    assert float(hidden.z[0, 0]) == 2.0 and float(hidden.a[0, 0]) == 2.0
    assert float(bp.output[0]) == 5.0 and float(bp.loss) == 1.0
    assert float(bp.d_output[0]) == 2.0 and float(out.delta[0, 0]) == 2.0
    assert float(hidden.delta[0, 0]) == 6.0
    g = bp.grads
    assert (float(g["output"]["w"][0, 0]), float(g["output"]["b"][0])) == (4.0, 2.0)
    assert (float(g["hidden1"]["w"][0, 0]), float(g["hidden1"]["b"][0])) == (12.0, 6.0)

    bp = M.backprop(model, params, X, y, l2=0.1)
    assert float(bp.penalty) == pytest.approx(0.4625, abs=TOL)
    assert float(bp.loss) == pytest.approx(1.4625, abs=TOL)
    assert float(bp.grads["hidden1"]["w"][0, 0]) == pytest.approx(12.05, abs=TOL)
    assert float(bp.grads["output"]["w"][0, 0]) == pytest.approx(4.3, abs=TOL)
    assert float(bp.grads["hidden1"]["b"][0]) == 6.0 and float(bp.grads["output"]["b"][0]) == 2.0
    _check_against_autodiff(model, params, X, y, l2=0.1)


def test_by_hand_sigmoid_binary():
    """One input x = 1, one sigmoid hidden unit, a logit; label y = 1.

    forward:  z1 = 0 * 1 + 0 = 0,  a1 = sigmoid(0) = 0.5
              t = w2 a1 + b2 = 2 * 0.5 - 1 = 0,  L = -log sigmoid(0) = log 2
    backward: dL/dt = sigmoid(t) - y = 0.5 - 1 = -0.5
              dL/dw2 = a1 * (-0.5) = -0.25,  dL/db2 = -0.5
              delta1 = -0.5 * w2 * sigmoid'(0) = -0.5 * 2 * 0.25 = -0.25
              dL/dw1 = x * (-0.25) = -0.25,  dL/db1 = -0.25
    """
    model = dataclasses.replace(M.mlp([1], activation="sigmoid"), task="binary", classes=2)
    params = {
        "hidden1": {"w": jnp.array([[0.0]]), "b": jnp.array([0.0])},
        "output": {"w": jnp.array([[2.0]]), "b": jnp.array([-1.0])},
    }
    X, y = np.array([[1.0]]), np.array([1])
    bp = M.backprop(model, params, X, y)
    assert float(bp.loss) == pytest.approx(np.log(2), abs=TOL)
    assert float(bp.d_output[0]) == -0.5
    assert float(bp.layers[0].delta[0, 0]) == -0.25
    g = bp.grads
    assert (float(g["output"]["w"][0, 0]), float(g["output"]["b"][0])) == (-0.25, -0.5)
    assert (float(g["hidden1"]["w"][0, 0]), float(g["hidden1"]["b"][0])) == (-0.25, -0.25)
    _check_against_autodiff(model, params, X, y)


def test_mlp_without_classes_reads_its_task_from_params():
    X, y = _data("regression")
    open_model = M.mlp([4], activation="tanh")  # task None until fitted
    params = open_model.init(X.shape[1], dtype=np.float64)
    bp = M.backprop(open_model, params, X, y)
    _check_against_autodiff(open_model.for_data("regression", None), params, X, y)
    assert float(bp.loss) == pytest.approx(
        float(open_model.for_data("regression", None).loss(params, X, y)), abs=TOL
    )
    X, y = _data("multiclass")
    fitted = M.mlp([4]).for_data("classification", 4)
    params = fitted.init(X.shape[1], dtype=np.float64)
    bp = M.backprop(M.mlp([4]), params, X, y)
    assert float(bp.loss) == pytest.approx(float(fitted.loss(params, X, y)), abs=TOL)


def test_uses_no_automatic_differentiation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("backprop must not call JAX's autodiff")

    for name in ("grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacfwd"):
        monkeypatch.setattr(jax, name, refuse)
    model = _mlp("binary", "gelu", 0.1)
    X, y = _data("binary")
    bp = M.backprop(model, model.init(3, dtype=np.float64), X, y)
    assert np.isfinite(float(bp.loss))


def test_float32_params_stay_float32():
    model = _mlp("regression", "tanh")
    X, y = _data("regression")
    params = model.init(3, dtype=np.float32)
    bp = M.backprop(model, params, X.astype(np.float32), y.astype(np.float32))
    assert all(g.dtype == np.float32 for g in jax.tree.leaves(bp.grads))


def test_repr_lists_the_layers():
    model = _mlp("multiclass", "relu", 0.1)
    X, y = _data("multiclass")
    text = repr(M.backprop(model, model.init(3, dtype=np.float64), X, y))
    assert text.startswith("Backprop(loss=")
    shapes = (("hidden1", "3x5", "9x5"), ("hidden2", "5x4", "9x4"), ("output", "4x4", "9x4"))
    for name, w, z in shapes:
        line = next(l for l in text.splitlines() if l.strip().startswith(name))
        assert w in line and z in line, line


def test_refuses_what_it_cannot_do():
    X, y = _data("regression")
    with pytest.raises(ValueError, match="custom"):
        M.backprop(M.custom(lambda p, X, y: 0.0), {}, X, y)
    model = _mlp("regression", "relu")
    params = model.init(3, dtype=np.float64)
    with pytest.raises(ValueError, match="2-D"):
        M.backprop(model, params, X[:, 0], y)
    with pytest.raises(ValueError, match="one entry per row"):
        M.backprop(model, params, X, y[:-1])
    with pytest.raises(ValueError, match="one output"):
        M.backprop(model, _mlp("multiclass", "relu").init(3, dtype=np.float64), X, y)
