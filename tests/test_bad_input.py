"""Misuse is refused at once with a message naming the argument and what was expected."""

import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds


def f(x):
    return jnp.sum(x**2)


@pytest.mark.parametrize(
    "x0, exc, match",
    [
        (np.array([1.0, np.nan]), ValueError, "x0 must be finite"),
        (np.array([np.inf]), ValueError, "x0 must be finite"),
        (np.array([]), ValueError, "x0 must not be empty"),
        ({}, ValueError, "x0 must not be empty"),
        (np.array(["a"]), TypeError, "x0 must hold real numbers"),
    ],
)
def test_bad_x0(x0, exc, match):
    with pytest.raises(exc, match=match):
        ds.minimize(f, x0)


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: ds.gd(0.0), ValueError, "learning_rate must be a positive finite number, got 0.0"),
        (lambda: ds.gd(-0.1), ValueError, "learning_rate must be a positive"),
        (lambda: ds.adam(float("nan")), ValueError, "learning_rate must be a positive"),
        (
            lambda: ds.momentum("fast"),
            TypeError,
            "learning_rate must be a positive number, an optax schedule or 'auto'",
        ),
        (lambda: ds.momentum(0.1, beta=1.5), ValueError, r"beta must be in \[0, 1\)"),
        (lambda: ds.adam(0.1, b2=1.0), ValueError, r"b2 must be in \[0, 1\)"),
        (lambda: ds.rmsprop(0.1, eps=0), ValueError, "eps must be a positive number"),
        (
            lambda: ds.adamw(0.1, weight_decay=-1),
            ValueError,
            "weight_decay must be a non-negative number",
        ),
    ],
)
def test_bad_learning_rate_and_hyperparameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_unknown_optimizer_name_suggests():
    with pytest.raises(ValueError, match=r"optimizer: unknown name 'adma'.*did you mean adam"):
        ds.minimize(f, np.ones(2), "adma")
    with pytest.raises(TypeError, match="optimizer must be an optax GradientTransformation"):
        ds.minimize(f, np.ones(2), 3.0)


def test_fun_returning_non_scalar_or_non_float():
    with pytest.raises(
        ValueError, match=r"fun must return a scalar, got an output of shape \(2,\)"
    ):
        ds.minimize(lambda x: x**2, np.ones(2))
    with pytest.raises(TypeError, match="fun must return a floating-point scalar, got dtype int"):
        ds.minimize(lambda x: jnp.sum(x > 0).astype(jnp.int32), np.ones(2))
    with pytest.raises(ValueError, match="fun must return a scalar of shape"):
        ds.minimize(lambda x: jnp.sum(x, keepdims=True), np.ones(2))


def test_fun_raising_is_reraised_with_context():
    def broken(x):
        raise ZeroDivisionError("boom")

    with pytest.raises(
        ValueError, match="fun raised ZeroDivisionError when called at x0: boom"
    ) as e:
        ds.minimize(broken, np.ones(2))
    assert isinstance(e.value.__cause__, ZeroDivisionError)


def test_untraceable_fun_names_the_numeric_path():
    with pytest.raises(TypeError, match="grad='numeric'"):
        ds.minimize(lambda x: float(np.sum(np.asarray(x) ** 2)), np.ones(2))


def test_grad_of_wrong_shape():
    with pytest.raises(
        ValueError, match=r"grad must return the shape of x0: expected \(2,\), got \(3,\)"
    ):
        ds.minimize(f, np.ones(2), grad=lambda x: jnp.zeros(3))
    with pytest.raises(ValueError, match="grad must be None, a callable or 'numeric'"):
        ds.minimize(f, np.ones(2), grad="exact")


@pytest.mark.parametrize("name", ["gtol", "xtol", "ftol"])
def test_negative_tolerances(name):
    with pytest.raises(ValueError, match=f"{name} must be a non-negative number"):
        ds.minimize(f, np.ones(2), **{name: -1e-6})
    with pytest.raises(TypeError, match=f"{name} must be a non-negative number"):
        ds.minimize(f, np.ones(2), **{name: "small"})


@pytest.mark.parametrize("name", ["max_steps", "record_every"])
def test_counts_below_one(name):
    with pytest.raises(ValueError, match=f"{name} must be an integer >= 1, got 0"):
        ds.minimize(f, np.ones(2), **{name: 0})
    with pytest.raises(TypeError, match=f"{name} must be an integer >= 1"):
        ds.minimize(f, np.ones(2), **{name: 2.5})


def test_other_options():
    with pytest.raises(TypeError, match="fun must be callable"):
        ds.minimize(3, np.ones(2))
    with pytest.raises(TypeError, match="callback must be callable"):
        ds.minimize(f, np.ones(2), callback=3)
    with pytest.raises(ValueError, match="history must be True, False or a subset"):
        ds.minimize(f, np.ones(2), history=("loss",))
    with pytest.raises(ValueError, match="diverge_factor must be a positive number"):
        ds.minimize(f, np.ones(2), diverge_factor=0)


@pytest.mark.parametrize("name", ["gtol", "xtol"])
def test_tolerance_too_small_to_resolve_is_refused(name):
    with pytest.raises(
        ValueError, match=f"{name} must be 0 \\(off\\) or at least 1.49e-154 in float64"
    ):
        ds.minimize(lambda x: jnp.sum(x**2), np.ones(2), **{name: 1e-300})
    with pytest.raises(
        ValueError, match=f"{name} must be 0 \\(off\\) or at least 1.08e-19 in float32"
    ):
        ds.minimize(lambda x: jnp.sum(x**2), np.ones(2, np.float32), **{name: 1e-20})


def test_bfloat16_start_is_refused():
    with pytest.raises(TypeError, match="x0 must hold real numbers, got dtype bfloat16"):
        ds.minimize(lambda x: jnp.sum(x**2), jnp.ones(2, jnp.bfloat16))
