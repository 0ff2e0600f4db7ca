"""descend.plot's pictures of learning from data: learning curves, regression paths over
the loss of a line, decision boundaries and their GIF, and the demo's picture.

The numbers the pictures must show are computed here independently (numpy's polyfit for
the least-squares line, the mean squared error by hand, predict_proba on the boundary),
not read back from the plotting code.
"""

import dataclasses
import io
import os

os.environ["MPLBACKEND"] = "Agg"  # before matplotlib is imported anywhere

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.contour import ContourSet
from PIL import Image

import descend as ds
import descend.plot as dp

START = {"w": np.array([-2.0]), "b": np.array(-3.0)}
LR = 0.05


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def line():
    return ds.data.load("line")


@pytest.fixture(scope="module")
def line_fits(line):
    """Full batch, mini-batches of 10 and SGD from one start, 100 steps each."""
    out = {}
    for label, batch, epochs in (("full", None, 100), ("mini", 10, 10), ("sgd", 1, 1)):
        out[label] = ds.fit(
            ds.models.linear(),
            line,
            ds.gd(LR),
            params=START,
            batch_size=batch,
            epochs=epochs,
            gtol=0,
            dtype="float64",
            record_params=True,
        )
    return out


@pytest.fixture(scope="module")
def moons():
    train, val = ds.data.load("moons").split(val=0.25, seed=0)
    return train, val


@pytest.fixture(scope="module")
def moons_fit(moons):
    train, val = moons
    fit = ds.fit(
        ds.models.mlp([8]),
        train,
        ds.adam(0.05),
        batch_size=32,
        epochs=300,
        validation=val,
        early_stopping=5,
        record_params=True,
    )
    assert fit.status.value == "early_stopped" and 0 < fit.best_epoch < fit.epochs
    return fit


def lstsq_line(data):
    """(intercept, slope) by numpy.polyfit: independent of the code under test."""
    slope, intercept = np.polyfit(data.X[:, 0], data.y, 1)
    return intercept, slope


def mse(data, b, w):
    """The mean squared error of the line(s) y = w x + b on data, by hand."""
    fitted = np.multiply.outer(w, data.X[:, 0]) + np.asarray(b)[..., None]
    return np.mean((fitted - data.y) ** 2, axis=-1)


def vlines(ax):
    """x of each vertical line (axvline) on ax, by label."""
    out = {}
    for ln in ax.get_lines():
        x = np.asarray(ln.get_xdata(), float)
        if len(x) == 2 and x[0] == x[1] and ln.get_transform() is not ax.transData:
            out[ln.get_label()] = x[0]
    return out


# --------------------------------------------------------------------------- learning curves
def test_learning_curves_mark_best_epoch_and_early_stop(moons_fit):
    f, h = moons_fit, moons_fit.history
    fig = dp.learning_curves(f)
    assert isinstance(fig, plt.Figure)
    ax, ax_acc = fig.axes
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_array_equal(lines["training loss"].get_xdata(), np.arange(1, f.epochs + 1))
    np.testing.assert_allclose(lines["training loss"].get_ydata(), h.train_loss)
    np.testing.assert_allclose(lines["validation loss"].get_ydata(), h.val_loss)
    # best epoch: where the validation loss is lowest (checked here, not taken from the fit)
    assert f.best_epoch == int(np.argmin(h.val_loss)) + 1
    marks = vlines(ax)
    assert marks[f"best epoch: {f.best_epoch}"] == f.best_epoch
    assert marks[f"early stop: {f.epochs}"] == f.epochs
    assert "early_stopped" in ax.get_title() and f"best epoch {f.best_epoch}" in ax.get_title()
    losses = np.concatenate([h.train_loss, h.val_loss])
    assert ax.get_yscale() == ("log" if losses.max() > 10 * losses.min() else "linear")
    # accuracy in its own panel, with the same epoch marks
    (acc,) = [ln for ln in ax_acc.get_lines() if ln.get_label() == "validation accuracy"]
    np.testing.assert_allclose(acc.get_ydata(), h.val_accuracy)
    assert sorted(vlines(ax_acc).values()) == [f.best_epoch, f.epochs]
    assert f"{h.val_accuracy[f.best_epoch - 1]:.4g}" in ax_acc.get_title()


def test_learning_curves_regression_with_and_without_validation(line):
    plain = ds.fit(ds.models.linear(), line, ds.gd(0.1), batch_size=None, epochs=20)
    fig = dp.learning_curves(plain)
    (ax,) = fig.axes
    assert [ln.get_label() for ln in ax.get_lines()] == ["training loss"]
    assert vlines(ax) == {} and "max_epochs after 20 epochs" in ax.get_title()
    validated = ds.fit(
        ds.models.linear(), line, ds.gd(0.1), batch_size=None, epochs=20,
        validation=ds.data.load("line", seed=1),
    )  # fmt: skip
    ax, ax_r2 = dp.learning_curves(validated).axes
    assert ax_r2.get_ylabel() == "validation R²"
    np.testing.assert_allclose(ax_r2.get_lines()[0].get_ydata(), validated.history.val_r2)
    assert ax.get_yscale() == "log"  # from about 14 down to about 1
    # no early stopping: the lowest validation loss is marked, the title claims no best
    low = int(np.argmin(validated.history.val_loss)) + 1
    assert vlines(ax) == {f"lowest validation loss: {low}": low}
    assert "best epoch" not in ax.get_title()
    assert ax_r2.get_title().endswith(f"{validated.history.val_r2[-1]:.4g} at the end")


def test_learning_curves_into_one_axes_puts_the_metric_on_a_twin(moons_fit):
    fig, ax = plt.subplots(layout="constrained")
    assert dp.learning_curves(moons_fit, ax=ax) is fig
    assert len(fig.axes) == 2
    twin = fig.axes[1]
    assert twin.get_ylabel() == "validation accuracy"
    (acc,) = [ln for ln in ax.get_lines() if ln.get_label() == "validation accuracy"]
    assert acc.get_transform() == twin.transData  # drawn on the twin's scale
    np.testing.assert_allclose(acc.get_ydata(), moons_fit.history.val_accuracy)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "validation accuracy" in labels and "training loss" in labels


# --------------------------------------------------------------------------- regression paths
def test_regression_paths_draw_each_path_and_the_least_squares_point(line, line_fits):
    fig = dp.regression_paths(line, line_fits)
    ax = fig.axes[0]
    paths = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label() in line_fits}
    assert set(paths) == {"full", "mini", "sgd"}
    for label, fit in line_fits.items():
        np.testing.assert_allclose(paths[label].get_xdata(), fit.history.params["b"])
        np.testing.assert_allclose(paths[label].get_ydata(), fit.history.params["w"][:, 0])
        assert len(paths[label].get_xdata()) == 101  # the start and 100 steps
    b_ls, w_ls = lstsq_line(line)
    (diamond,) = [ln for ln in ax.get_lines() if ln.get_marker() == "D"]
    assert diamond.get_xdata()[0] == pytest.approx(b_ls, abs=1e-9)
    assert diamond.get_ydata()[0] == pytest.approx(w_ls, abs=1e-9)
    # the start, marked once where all three begin
    (start,) = [ln for ln in ax.get_lines() if ln.get_label() == "_start"]
    np.testing.assert_allclose(np.ravel(start.get_xydata()), [-3.0, -2.0])
    # the window holds every path and the minimum
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for fit in line_fits.values():
        b, w = fit.history.params["b"], fit.history.params["w"][:, 0]
        assert x0 < b.min() and b.max() < x1 and y0 < w.min() and w.max() < y1
    assert ax.get_xlabel() == "intercept b" and ax.get_ylabel() == "slope w"
    # contours of the mean squared error: the lowest level is its least-squares value
    (filled,) = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]
    assert filled.levels[0] == pytest.approx(mse(line, b_ls, w_ls), rel=1e-9)
    assert filled.levels[-1] == pytest.approx(mse(line, x0, y0), rel=0.05)  # a far corner


def test_regression_paths_full_batch_is_smooth_sgd_is_noisy(line, line_fits):
    """What the picture shows, checked on the paths it draws: full batch descends the
    MSE at every step; SGD goes uphill often and wanders more; all end near lstsq."""
    ax = dp.regression_paths(line, line_fits).axes[0]
    drawn = {ln.get_label(): ln.get_xydata() for ln in ax.get_lines()}
    drawn = {k: v for k, v in drawn.items() if k in line_fits}
    losses = {k: mse(line, p[:, 0], p[:, 1]) for k, p in drawn.items()}
    assert np.all(np.diff(losses["full"]) <= 1e-12)
    assert np.sum(np.diff(losses["sgd"]) > 0) > 20
    length = {k: np.sum(np.linalg.norm(np.diff(p, axis=0), axis=1)) for k, p in drawn.items()}
    assert length["full"] < length["mini"] < length["sgd"]
    best = np.array(lstsq_line(line))
    assert np.linalg.norm(drawn["full"][-1] - best) < 1e-3
    assert np.linalg.norm(drawn["sgd"][-1] - best) < 0.3
    assert losses["sgd"][-1] < 1.01 * mse(line, *best)


def test_regression_paths_legend_covers_no_path_point(line, line_fits):
    fig = dp.regression_paths(line, list(line_fits.values()))
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:3] == ["full batch: 100 steps", "mini-batch (10 steps/epoch): 100 steps",
                         "SGD (batch 1): 100 steps"]  # fmt: skip
    assert any(t.startswith("least squares: b = ") for t in texts)
    for fit in line_fits.values():
        pts = np.column_stack([fit.history.params["b"], fit.history.params["w"][:, 0]])
        sx, sy = ax.transData.transform(pts).T
        inside = (box.x0 <= sx) & (sx <= box.x1) & (box.y0 <= sy) & (sy <= box.y1)
        assert not inside.any()


def test_regression_paths_refuse_what_they_cannot_draw(line, line_fits, moons_fit, moons):
    unrecorded = ds.fit(ds.models.linear(), line, ds.gd(0.1), batch_size=None, epochs=3)
    with pytest.raises(ValueError, match="record_params=True"):
        dp.regression_paths(line, unrecorded)
    with pytest.raises(ValueError, match="one feature"):
        dp.regression_paths(moons[0], line_fits)
    with pytest.raises(ValueError, match="linear regressions"):
        dp.regression_paths(line, moons_fit)
    with pytest.raises(ValueError, match="labels has 1 entries for 3 fits"):
        dp.regression_paths(line, list(line_fits.values()), labels=["a"])


# --------------------------------------------------------------------------- decision boundary
def test_decision_boundary_two_classes(moons_fit, moons):
    train = moons[0]
    fig = dp.decision_boundary(moons_fit, train)
    ax = fig.axes[0]
    (boundary,) = [c for c in ax.collections if isinstance(c, ContourSet) and not c.filled]
    assert list(boundary.levels) == [0.5]
    verts = np.concatenate([p.vertices for p in boundary.get_paths() if len(p.vertices)])
    assert len(verts) > 20
    p1 = moons_fit.predict_proba(verts)[:, 1]
    assert np.max(np.abs(p1 - 0.5)) < 0.03  # the line is where the model is undecided
    # the points, coloured by their class
    (dots,) = [c for c in ax.collections if not isinstance(c, ContourSet)]
    np.testing.assert_allclose(dots.get_offsets(), train.X)
    colors = dots.get_facecolors()[:, :3]
    assert len(np.unique(colors[train.y == 0], axis=0)) == 1
    assert len(np.unique(colors[train.y == 1], axis=0)) == 1
    assert not np.allclose(colors[train.y == 0][0], colors[train.y == 1][0])
    acc = np.mean(moons_fit.predict(train.X) == train.y)
    assert f"accuracy {acc:.1%}" in ax.get_title()
    # the window holds every point
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < train.X[:, 0].min() and train.X[:, 0].max() < x1
    assert y0 < train.X[:, 1].min() and train.X[:, 1].max() < y1


def test_decision_boundary_three_classes_regions_follow_predict():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    X = np.concatenate([c + 0.6 * rng.normal(size=(40, 2)) for c in centers])
    y = np.repeat(["a", "b", "c"], 40)
    data = ds.data.load((X, y))
    fit = ds.fit(ds.models.softmax(), data, ds.adam(0.1), epochs=60)
    ax = dp.decision_boundary(fit, data, resolution=120).axes[0]
    (regions,) = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]
    np.testing.assert_allclose(regions.levels, [-0.5, 0.5, 1.5, 2.5])
    lines = [c for c in ax.collections if isinstance(c, ContourSet) and not c.filled]
    assert len(lines) == 3  # each class's region has an edge
    # each boundary vertex lies where two classes' probabilities are nearly equal
    verts = np.concatenate([p.vertices for c in lines for p in c.get_paths() if len(p.vertices)])
    top2 = np.sort(fit.predict_proba(verts), axis=1)[:, -2:]
    assert np.median(top2[:, 1] - top2[:, 0]) < 0.1
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["class a", "class b", "class c"]


def test_decision_boundary_refuses_regressions_and_other_widths(line_fits, line, moons_fit):
    with pytest.raises(ValueError, match="classifiers"):
        dp.decision_boundary(line_fits["full"], line)
    wide = (np.zeros((4, 3)), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="two features"):
        dp.decision_boundary(moons_fit, wide)


# --------------------------------------------------------------------------- GIF
def test_animate_boundary_writes_one_frame_per_epoch(tmp_path, moons):
    train = moons[0]
    fit = ds.fit(
        ds.models.logistic(), train, ds.adam(0.1), batch_size=25, epochs=6, record_params=True
    )
    out = dp.animate_boundary(fit, train, tmp_path / "b.gif", resolution=40)
    assert out == str(tmp_path / "b.gif")
    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames == 7  # the start and 6 epoch ends
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert first.shape == last.shape and (first != last).mean() > 0.01  # the boundary moved


def test_animate_boundary_caps_frames(tmp_path, moons_fit, moons):
    assert moons_fit.epochs + 1 > 8
    out = dp.animate_boundary(moons_fit, moons[0], tmp_path / "m.gif", max_frames=8, resolution=40)
    with Image.open(out) as im:
        assert im.n_frames == 8


def test_animate_boundary_needs_recorded_parameters(tmp_path, moons_fit, moons):
    fit = dataclasses.replace(
        moons_fit, history=dataclasses.replace(moons_fit.history, params=None)
    )  # as ds.fit(..., record_params=False) leaves it
    with pytest.raises(ValueError, match="record_params=True"):
        dp.animate_boundary(fit, moons[0], tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


# --------------------------------------------------------------------------- demo
def test_demo_draws_the_paths_of_full_batch_mini_batch_and_sgd(tmp_path, line):
    from rich.console import Console

    from descend.cli.demo import PATHS_PNG, run_demo

    buf = io.StringIO()
    assert run_demo(Console(file=buf, width=200, markup=False, highlight=False), tmp_path) == 0
    text = buf.getvalue()
    png = tmp_path / PATHS_PNG
    assert PATHS_PNG == "demo_sgd_paths.png" and PATHS_PNG in text
    assert png.stat().st_size > 5_000
    with Image.open(png) as im:
        assert im.format == "PNG" and min(im.size) >= 200
    b, w = lstsq_line(line)
    assert f"b = {b:.3f}, w = {w:.3f}" in text  # the least-squares line, as numpy has it
    for label in ("full batch", "mini-batch of 10", "SGD (batch 1)"):
        assert label in text
