"""Training on data: ds.fit against numpy, scikit-learn and a hand-written optax loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import compilations

import descend as ds
from descend._fit import checkpoint as ckpt


def leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


@pytest.fixture(scope="module")
def diabetes():
    return ds.data.load("diabetes").split(seed=0)[0]


@pytest.fixture(scope="module")
def digits():
    return ds.data.load("digits").split(val=0.15, test=0.15, seed=0)


def test_full_batch_linear_regression_equals_lstsq(diabetes):
    fit = ds.fit(
        ds.models.linear(),
        diabetes,
        ds.gd(0.1),
        batch_size=None,
        epochs=50_000,
        dtype="float64",
        gtol=1e-10,
    )
    assert fit.status is ds.Status.GTOL and fit.success
    A = np.c_[diabetes.X, np.ones(len(diabetes))]
    solution = np.linalg.lstsq(A, diabetes.y, rcond=None)[0]
    np.testing.assert_allclose(fit.params["w"], solution[:-1], atol=1e-6)
    assert abs(fit.params["b"] - solution[-1]) < 1e-6
    # one step an epoch: the history is full-batch gradient descent's
    assert fit.steps == fit.epochs == len(fit.history.grad_norm)
    assert fit.history.grad_norm[-1] <= 1e-10 * 10
    assert fit.score(diabetes) == pytest.approx(
        1
        - np.sum((A @ solution - diabetes.y) ** 2) / np.sum((diabetes.y - diabetes.y.mean()) ** 2),
        abs=1e-9,
    )


def test_logistic_regression_with_l2_equals_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    (train,) = ds.data.load("breast_cancer").split(seed=0)
    l2 = 0.01  # mean loss + l2/2 |w|^2  <=>  C = 1 / (l2 n)
    fit = ds.fit(
        ds.models.logistic(l2=l2),
        train,
        ds.gd(),
        batch_size=None,
        epochs=100_000,
        dtype="float64",
        gtol=1e-9,
    )
    assert fit.status is ds.Status.GTOL
    sk = LogisticRegression(C=1 / (l2 * len(train)), tol=1e-12, max_iter=100_000)
    sk.fit(train.X, train.y)
    np.testing.assert_allclose(fit.params["w"], sk.coef_[0], atol=1e-4)
    assert abs(fit.params["b"] - sk.intercept_[0]) < 1e-4
    np.testing.assert_allclose(fit.predict_proba(train.X), sk.predict_proba(train.X), atol=1e-5)
    assert fit.learning_rate is not None  # gd()'s "auto": 1/L of the full-batch loss


@pytest.mark.parametrize("batch_size", [1, 32, 50])
def test_an_epoch_equals_a_hand_written_optax_loop(batch_size):
    X, y = np.random.default_rng(0).normal(size=(120, 4)), np.arange(120) % 3
    data = ds.data.load((X, y))
    model = ds.models.softmax(l2=1e-3)
    p0 = model.for_data("classification", 3).init(4, 0, np.float64)
    opt = ds.momentum(0.05, beta=0.9)
    fit = ds.fit(
        model, data, opt, params=p0, batch_size=batch_size, epochs=2, dtype="float64", seed=7
    )
    # by hand: each epoch's permutation from (seed, epoch), batches in order, the
    # leftover rows last
    m = model.for_data("classification", 3)
    p, state, losses = p0, opt.init(p0), []
    Xj, yj = jnp.asarray(X), jnp.asarray(y, jnp.int32)
    for epoch in range(2):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(jax.random.key(7), epoch), 120))
        for start in range(0, 120, batch_size):
            rows = perm[start : start + batch_size]
            loss, g = jax.value_and_grad(m.loss)(p, Xj[rows], yj[rows], 1e-3)
            updates, state = opt.update(g, state, p)
            p = optax.apply_updates(p, updates)
            losses.append(float(loss))
    for a, b in zip(jax.tree.leaves(fit.params), jax.tree.leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fit.history.batch_loss, losses, rtol=1e-12)
    per_epoch = -(-120 // batch_size)
    assert fit.steps == 2 * per_epoch
    sizes = np.diff(np.r_[np.arange(0, 120, batch_size), 120])
    expected = [
        np.sum(np.array(losses[i * per_epoch : (i + 1) * per_epoch]) * sizes) / 120
        for i in range(2)
    ]
    np.testing.assert_allclose(fit.history.train_loss, expected, rtol=1e-12)


def test_mlp_learns_digits_and_early_stopping_keeps_the_best_epoch(digits):
    train, val, test = digits
    fit = ds.fit(
        ds.models.mlp(hidden=[64], classes=10),
        train,
        ds.adam(1e-3),
        batch_size=32,
        epochs=200,
        validation=val,
        early_stopping=5,
        seed=0,
    )
    assert fit.score(test) >= 0.95
    assert fit.status is ds.Status.EARLY_STOPPED
    h = fit.history
    assert fit.best_epoch == h.epoch[np.argmin(h.val_loss)]
    assert fit.epochs == fit.best_epoch + 5 and len(h) == fit.epochs
    assert f"best epoch {fit.best_epoch} restored" in fit.message
    # the parameters returned are the best epoch's: their validation loss is the minimum
    assert fit.evaluate(val)["loss"] == pytest.approx(h.val_loss.min(), rel=1e-5)
    assert fit.params["hidden1"]["w"].dtype == np.float32  # data trains in float32
    assert fit.predict(test.X).shape == (len(test),)
    np.testing.assert_allclose(fit.predict_proba(test.X).sum(axis=1), 1, rtol=1e-5)
    acc = np.mean(fit.predict(val.X) == val.y)
    assert acc == pytest.approx(h.val_accuracy[fit.best_epoch - 1], abs=1e-6)


def _early_stop_by_hand(val_loss, patience, min_delta):
    """(stopping epoch, best epoch) of the rule as the docs state it: stop once the
    validation loss has not improved on its best by more than min_delta for `patience`
    epochs (Keras's EarlyStopping with mode="min")."""
    best, best_epoch, wait = np.inf, 0, 0
    for epoch, v in enumerate(val_loss, start=1):
        if v < best - min_delta:
            best, best_epoch, wait = v, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch, best_epoch
    return len(val_loss), best_epoch


@pytest.mark.parametrize("min_delta", [0.003, 0.01, 0.02])  # stops near epochs 46, 27, 19
def test_min_delta_stops_as_the_rule_says(digits, min_delta):
    train, val, _ = digits
    kw = dict(batch_size=64, validation=val, seed=1, dtype="float64")
    model, opt = ds.models.softmax(), ds.gd(0.05)
    free = ds.fit(model, train, opt, epochs=60, **kw)  # no early stopping: every epoch
    stop, best = _early_stop_by_hand(free.history.val_loss, 3, min_delta)
    assert stop < 60  # the rule fires within the run (with min_delta=0 it does not)
    fit = ds.fit(model, train, opt, epochs=60, early_stopping=3, min_delta=min_delta, **kw)
    assert (fit.epochs, fit.best_epoch) == (stop, best)
    assert fit.status is ds.Status.EARLY_STOPPED
    np.testing.assert_allclose(fit.history.val_loss, free.history.val_loss[:stop], rtol=1e-12)
    assert fit.evaluate(val)["loss"] == pytest.approx(free.history.val_loss[best - 1], rel=1e-12)


def test_resume_is_bitwise_identical(tmp_path, digits):
    train, val, _ = digits
    model, opt = ds.models.mlp([16]), ds.adam(1e-3)
    kw = dict(batch_size=50, validation=val, seed=3, record_params=False)
    straight = ds.fit(model, train, opt, epochs=10, checkpoint=tmp_path / "a", **kw)
    first = ds.fit(model, train, opt, epochs=5, checkpoint=tmp_path / "b", **kw)
    assert first.epochs == 5
    resumed = ds.fit(model, train, opt, epochs=10, resume=tmp_path / "b", **kw)
    assert resumed.epochs == 10
    assert leaves_equal(straight.params, resumed.params)
    for field in ("train_loss", "val_loss", "val_accuracy", "batch_loss"):
        np.testing.assert_array_equal(
            getattr(straight.history, field), getattr(resumed.history, field)
        )
    header, arrays = ckpt.load(tmp_path / "b")
    assert header["epoch"] == 10 and header["version"] == ckpt.VERSION


def test_checkpoints_refuse_another_model_and_corrupt_files(tmp_path, digits):
    train, _, _ = digits
    ds.fit(ds.models.mlp([8]), train, ds.adam(1e-3), epochs=1, checkpoint=tmp_path)
    good = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(ValueError, match="was written for model"):
        ds.fit(ds.models.mlp([9]), train, ds.adam(1e-3), epochs=2, resume=tmp_path)
    with pytest.raises(ValueError, match="optimizer"):
        ds.fit(ds.models.mlp([8]), train, ds.momentum(0.1), epochs=2, resume=tmp_path)
    with pytest.raises(ValueError, match="was written for n_features = 64; this fit has 63"):
        narrower = (train.X[:, 1:], train.y)  # one feature fewer
        ds.fit(ds.models.mlp([8]), narrower, ds.adam(1e-3), epochs=2, resume=tmp_path)
    assert (tmp_path / "checkpoint.npz").read_bytes() == good  # nothing overwritten
    (tmp_path / "checkpoint.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="corrupt or not a descend checkpoint"):
        ds.fit(ds.models.mlp([8]), train, ds.adam(1e-3), epochs=2, resume=tmp_path)


def test_an_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    ckpt.save(tmp_path, {"a": 1}, {"x": np.arange(3)})
    before = (tmp_path / "checkpoint.npz").read_bytes()

    def dies(fh, **arrays):
        fh.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dies)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(tmp_path, {"a": 2}, {"x": np.arange(4)})
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]  # no temporary left


def test_new_numbers_and_data_values_compile_nothing():
    X = np.random.default_rng(1).normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3

    def run(lr, seed, epochs, scale):
        return ds.fit(
            ds.models.linear(l2=lr / 10),
            (X * scale, y),
            ds.adam(lr),
            batch_size=16,
            epochs=epochs,
            seed=seed,
        )

    n1, _ = compilations(lambda: run(1e-2, 0, 3, 1.0))
    n2, res = compilations(lambda: run(3e-2, 5, 7, 2.0))
    assert n1 >= 1 and n2 == 0
    assert res.epochs == 7 and res.steps == 7 * 4


def test_an_epoch_makes_no_host_transfer():
    from descend._fit.program import programs
    from descend._fit.setup import prepare

    X = np.random.default_rng(2).normal(size=(40, 2))
    setup = prepare(
        ds.models.logistic(),
        (X, (X[:, 0] > 0).astype(int)),
        ds.adam(1e-2),
        params=None,
        batch_size=8,
        epochs=3,
        validation=None,
        early_stopping=None,
        min_delta=0.0,
        gtol=0.0,
        seed=0,
        dtype="float32",
        checkpoint=None,
        resume=None,
        diverge_factor=1e8,
    )
    init, run = programs(setup.model, setup.shape)
    state = init(setup.init_params, setup.data, setup.nums, 0)
    n = jnp.int32(3)
    jax.block_until_ready(run(state, setup.data, setup.nums, n))  # compile outside the guard
    with jax.transfer_guard("disallow"):
        state, records = run(state, setup.data, setup.nums, n)
        jax.block_until_ready(state)
    assert int(records.count) == 3 and int(state.step) == 3


def test_a_too_large_learning_rate_ends_nonfinite_with_the_last_finite_parameters():
    X = np.random.default_rng(3).normal(size=(50, 2)) * 10
    y = X @ np.array([3.0, -1.0])
    fit = ds.fit(
        ds.models.linear(),
        (X, y),
        ds.gd(5.0),
        batch_size=None,
        epochs=500,
        dtype="float64",
        diverge_factor=1e308,
    )
    assert fit.status is ds.Status.NONFINITE and not fit.success
    assert all(np.all(np.isfinite(l)) for l in jax.tree.leaves(fit.params))
    assert not np.isfinite(fit.history.train_loss[-1])
    assert np.all(np.isfinite(fit.history.train_loss[:-1]))
    # the parameters returned are those the last finite epoch ended with
    before = ds.fit(
        ds.models.linear(),
        (X, y),
        ds.gd(5.0),
        batch_size=None,
        epochs=fit.epochs - 1,
        dtype="float64",
        diverge_factor=1e308,
    )
    assert before.status is ds.Status.MAX_EPOCHS and leaves_equal(before.params, fit.params)
    assert "the parameters from the end of epoch" in fit.message
    diverged = ds.fit(
        ds.models.linear(), (X, y), ds.gd(5.0), batch_size=None, epochs=500, dtype="float64"
    )
    assert diverged.status is ds.Status.DIVERGED and "smaller learning rate" in diverged.message


def test_labels_come_back_as_labels_and_ctrl_c_in_a_callback_interrupts(tmp_path):
    path = tmp_path / "pets.csv"
    rows = ["w,h,kind"] + [f"{i % 7},{i % 5},{'cat' if i % 7 < 3 else 'dog'}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    data = ds.data.load(path)

    def interrupt(r):
        raise KeyboardInterrupt

    fit = ds.fit(
        ds.models.logistic(), data, ds.adam(0.1), batch_size=10, epochs=50, callback=interrupt
    )
    assert fit.status is ds.Status.INTERRUPTED and "interrupted" in fit.message
    fit = ds.fit(ds.models.logistic(), data, ds.adam(0.1), batch_size=10, epochs=200)
    assert set(fit.predict(data.X)) <= {"cat", "dog"}
    labels = np.where(data.X[:, 0] < 3, "cat", "dog")
    assert fit.evaluate((data.X, labels))["accuracy"] == pytest.approx(fit.score(data))
    assert fit.score(data) > 0.95


def test_callback_stops_and_custom_losses_train():
    X = np.random.default_rng(4).normal(size=(80, 2))
    y = X @ np.array([2.0, -1.0]) + 0.5

    def loss(p, X, y):
        return jnp.mean((X @ p["w"] + p["b"] - y) ** 2)

    seen = []

    def callback(r):
        seen.append(r.epochs)
        if r.epochs >= 3:
            raise StopIteration

    p0 = {"w": np.zeros(2), "b": np.zeros(())}
    fit = ds.fit(
        loss,
        (X, y),
        ds.gd(0.1),
        params=p0,
        batch_size=None,
        epochs=1000,
        callback=callback,
        dtype="float64",
    )
    assert fit.status is ds.Status.STOPPED and seen and fit.epochs >= 3
    full = ds.fit(
        loss,
        (X, y),
        ds.gd(0.1),
        params=p0,
        batch_size=None,
        epochs=2000,
        dtype="float64",
        gtol=1e-9,
    )
    np.testing.assert_allclose(full.params["w"], [2.0, -1.0], atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
        (
            dict(batch_size=1000),
            ValueError,
            "batch_size must be at most the number of training rows",
        ),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(early_stopping=3), ValueError, "early_stopping needs validation"),
        (dict(dtype="int32"), ValueError, "dtype must be 'float32' or 'float64'"),
        (dict(min_delta=-1.0), ValueError, "min_delta"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        ds.fit(ds.models.softmax(), ds.data.load("iris"), ds.adam(1e-2), **kwargs)


def test_models_refuse_data_of_the_wrong_kind():
    with pytest.raises(ValueError, match="logistic regression needs 2 classes, this data has 3"):
        ds.fit(ds.models.logistic(), ds.data.load("iris"))
    with pytest.raises(ValueError, match="needs a numeric target"):
        ds.fit(ds.models.linear(), ds.data.load("iris"))
    with pytest.raises(ValueError, match="needs classes"):
        ds.fit(ds.models.softmax(), ds.data.load("diabetes"))
    with pytest.raises(ValueError, match="needs its initial params"):
        ds.fit(lambda p, X, y: 0.0, ds.data.load("iris"))


def test_validation_and_scoring_use_the_training_classes():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 2))
    y = np.array(["a", "b", "c"])[np.argmax(X @ rng.normal(size=(2, 3)), axis=1)]
    fit = ds.fit(
        ds.models.softmax(),
        (X, y),
        ds.adam(0.1),
        batch_size=None,
        epochs=300,
        validation=(X[:15], y[:15]),
    )
    # the 15 validation rows are read with the training labels, not inferred anew
    assert fit.history.val_accuracy[-1] == pytest.approx(np.mean(fit.predict(X[:15]) == y[:15]))
    # a set holding only some of the classes is scored with the model's classes
    some = y != "a"
    expected = np.mean(fit.predict(X[some]) == y[some])
    assert fit.score(ds.data.load((X[some], y[some]))) == pytest.approx(expected)
    with pytest.raises(ValueError, match="label 'z' is not one of the classes"):
        fit.evaluate((X[:2], np.array(["a", "z"])))
    # whole-number targets of a linear regression given as arrays are numbers
    counts = np.round(3 * X[:, 0] + 5)
    line = ds.fit(
        ds.models.linear(),
        (X, counts),
        ds.gd(0.1),
        batch_size=None,
        epochs=2000,
        dtype="float64",
        gtol=1e-9,
    )
    lstsq = np.linalg.lstsq(np.c_[X, np.ones(90)], counts, rcond=None)[0]
    np.testing.assert_allclose(line.params["w"], lstsq[:2], atol=1e-7)


def test_resume_after_a_stop_is_as_if_straight_through(tmp_path, digits):
    X, y = np.random.default_rng(6).normal(size=(40, 3)), np.arange(40.0)
    kw = dict(batch_size=None, dtype="float64")
    # a gtol stop: the checkpoint's history has the epochs run, no more
    ds.fit(
        ds.models.linear(),
        (X, y),
        ds.gd(0.05),
        epochs=50,
        gtol=1e-1,
        checkpoint=tmp_path / "g",
        **kw,
    )
    resumed = ds.fit(
        ds.models.linear(), (X, y), ds.gd(0.05), epochs=60, gtol=0, resume=tmp_path / "g", **kw
    )
    straight = ds.fit(ds.models.linear(), (X, y), ds.gd(0.05), epochs=60, gtol=0, **kw)
    np.testing.assert_array_equal(resumed.history.train_loss, straight.history.train_loss)
    assert leaves_equal(resumed.params, straight.params)
    # an early stop stays stopped while its rule holds
    train, val, _ = digits
    es = dict(batch_size=100, validation=val, early_stopping=1, seed=1)
    first = ds.fit(
        ds.models.softmax(), train, ds.adam(0.5), epochs=40, checkpoint=tmp_path / "e", **es
    )
    assert first.status is ds.Status.EARLY_STOPPED
    again = ds.fit(ds.models.softmax(), train, ds.adam(0.5), epochs=40, resume=tmp_path / "e", **es)
    assert again.status is ds.Status.EARLY_STOPPED and again.epochs == first.epochs
    assert leaves_equal(again.params, first.params)
    with pytest.raises(ValueError, match="epochs=2 must be at least"):
        ds.fit(ds.models.softmax(), train, ds.adam(0.5), epochs=2, resume=tmp_path / "e", **es)
    other = dict(es, validation=(val.X[:50], val.y[:50]))
    with pytest.raises(ValueError, match="written for validation"):
        ds.fit(ds.models.softmax(), train, ds.adam(0.5), epochs=40, resume=tmp_path / "e", **other)
    with pytest.raises(ValueError, match="holds another fit's checkpoint"):
        ds.fit(ds.models.softmax(), train, ds.adam(0.5), epochs=40, checkpoint=tmp_path / "e", **es)


def test_the_returned_parameters_are_named_in_the_message(digits):
    train, val, _ = digits

    def stop_at_6(r):
        if r.epochs >= 6:
            raise StopIteration

    fit = ds.fit(
        ds.models.softmax(),
        train,
        ds.adam(1e-2),
        batch_size=64,
        epochs=50,
        validation=val,
        early_stopping=20,
        callback=stop_at_6,
    )
    assert fit.status is ds.Status.STOPPED and fit.epochs == 6
    assert f"the parameters from the end of epoch {fit.best_epoch} are returned" in fit.message
    assert fit.steps == 6 * -(-len(train) // 64)
    with pytest.raises(ValueError, match="seed must be below 2"):
        ds.fit(ds.models.softmax(), train, seed=2**32)
    with pytest.raises(ValueError, match="params must be laid out as"):
        ds.fit(ds.models.mlp([4]), train, params={"w": np.zeros(64)})
    with pytest.raises(ValueError, match="has no rows"):
        ds.fit(ds.models.softmax(), train, validation=(np.zeros((0, 64)), np.zeros(0)))
