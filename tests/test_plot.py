"""descend.plot: the pictures hold what they claim (paths where the runs went, titles
saying what happened, distinct basins, log scales, GIF frames), not just a file."""

import os

os.environ["MPLBACKEND"] = "Agg"  # before matplotlib is imported anywhere

import subprocess
import sys

import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import LogNorm, to_rgb, to_rgba
from PIL import Image

import descend as ds
import descend.plot as dp

# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def render(fig) -> np.ndarray:
    """The figure as an (height, width, 3) uint8 array."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def distinct_colors(img: np.ndarray) -> int:
    return len(np.unique(img.reshape(-1, 3), axis=0))


def window(img: np.ndarray, ax, xy, radius: int = 2) -> np.ndarray:
    """The pixels around data point ``xy`` of ``ax`` (display y runs upward, rows down)."""
    px, py = ax.transData.transform(np.asarray(xy, float))
    row, col = int(round(img.shape[0] - py)), int(round(px))
    assert 0 <= row < img.shape[0] and 0 <= col < img.shape[1], "point outside the image"
    return img[row - radius : row + radius + 1, col - radius : col + radius + 1].reshape(-1, 3)


def has_color(pixels: np.ndarray, color, tol: float = 30.0) -> bool:
    target = np.array(to_rgb(color)) * 255
    return bool(np.any(np.linalg.norm(pixels.astype(float) - target, axis=1) < tol))


def line_labelled(ax, label: str):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def himmelblau_runs():
    starts = np.array([[0.0, 0.0], [-4.0, 4.0]])
    return ds.minimize_batch("himmelblau", starts, ds.gd(0.01), history=True, max_steps=300)


@pytest.fixture(scope="module")
def seed_run():
    return ds.minimize("seed-quadratic", np.zeros(3), ds.gd(0.1), max_steps=200)


@pytest.fixture(scope="module")
def lr_grid():
    starts = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, -2.0]])
    lrs = [0.01, 0.1, 0.3, 0.4, 1.0]
    return ds.minimize_batch(
        "seed-quadratic", starts, ds.gd, learning_rates=lrs, history=True, max_steps=150
    )


# --------------------------------------------------------------------------- import, backend


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    clean.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_core_import_leaves_matplotlib_alone_and_plot_picks_agg_when_headless():
    code = (
        "import sys, descend; descend.functions.get('himmelblau'); "
        "print('matplotlib' in sys.modules); import descend.plot, matplotlib; "
        "print(matplotlib.get_backend().lower())"
    )
    assert _python(code).split() == ["False", "agg"]


def test_a_backend_the_user_chose_is_kept():
    code = "import descend.plot, matplotlib; print(matplotlib.get_backend().lower())"
    assert _python(code, MPLBACKEND="svg") == "svg"


def test_public_names():
    expected = {"contour", "loss_curves", "surface", "learning_rates", "basins",
                "trajectories", "slice_path", "sweep", "animate", "save"}  # fmt: skip
    assert expected <= set(dp.__all__)
    assert all(callable(getattr(dp, name)) for name in expected)
    assert matplotlib.get_backend().lower() == "agg"


# --------------------------------------------------------------------------- contour


def test_contour_draws_each_path_where_the_run_went(himmelblau_runs):
    fig = dp.contour("himmelblau", himmelblau_runs)
    ax = fig.axes[0]
    img = render(fig)
    w, h = fig.canvas.get_width_height()
    assert img.shape == (h, w, 3) and w > 300 and h > 300
    assert distinct_colors(img) > 500  # a filled contour, not a blank canvas
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert ax.get_title() == "Himmelblau"
    for i in range(2):
        run = himmelblau_runs[i]
        label = f"start {i}: {run.status.value}, {run.nit} steps"
        line = line_labelled(ax, label)
        color = line.get_color()
        path = run.history.x
        np.testing.assert_allclose(line.get_xydata(), path)
        assert has_color(window(img, ax, path[0]), color), "start marker"
        assert has_color(window(img, ax, path[len(path) // 4]), color), "a step on the path"
        assert has_color(window(img, ax, path[-1], radius=4), color), "end marker"
    # no path goes near the bottom-right corner: the path colours must not be there
    corner = window(img, ax, (4.5, -4.7), radius=3)
    assert not has_color(corner, line_labelled(ax, label).get_color())
    # the unreached minimum at (-3.78, -3.28) carries a white marker
    assert has_color(window(img, ax, (-3.779310, -3.283186), radius=2), "white", tol=40)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "known minimum" in texts and "start" in texts


def test_contour_takes_formulas_callables_labels_and_arrows():
    res = ds.minimize("x**2 + 3*y**2", [2.0, 1.5], ds.gd(0.1), max_steps=100)
    fig = dp.contour("x**2 + 3*y**2", res, arrows=True, labels=["gd lr=0.1: gtol"])
    ax = fig.axes[0]
    assert any(type(c).__name__ == "Quiver" for c in ax.collections)
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "gd lr=0.1: gtol"
    assert "x**2 + 3*y**2" in ax.get_title()
    # the path starts outside any built-in domain: the window grows to hold it
    assert ax.get_xlim()[1] > 2.0 and ax.get_ylim()[1] > 1.5
    fig2 = dp.contour(lambda v: jnp.sum(v**2), domain=[(-1, 1), (-2, 2)], title="bowl")
    assert fig2.axes[0].get_xlim() == (-1, 1) and fig2.axes[0].get_title() == "bowl"
    _, ax3 = plt.subplots()
    assert dp.contour("booth", ax=ax3) is ax3.figure


def test_contour_levels_go_logarithmic_only_when_f_spans_decades():
    norm_of = lambda fig: fig.axes[0].collections[0].norm  # noqa: E731
    assert isinstance(norm_of(dp.contour("rosenbrock", resolution=60)), LogNorm)
    assert not isinstance(norm_of(dp.contour("x**2 + 3*y**2", resolution=60)), LogNorm)
    assert not isinstance(
        norm_of(dp.contour("rosenbrock", resolution=60, log_levels=False)), LogNorm
    )


def test_contour_refuses_what_it_cannot_draw(seed_run):
    with pytest.raises(ValueError, match="slice_path"):
        dp.contour("seed-quadratic")
    no_history = ds.minimize("booth", [0.0, 0.0], ds.gd(0.05), history=False)
    with pytest.raises(ValueError, match="history=True"):
        dp.contour("booth", no_history)
    with pytest.raises(ValueError, match="labels"):
        dp.contour("booth", ds.minimize("booth", [0.0, 0.0], ds.gd(0.05)), labels=["a", "b"])


# --------------------------------------------------------------------------- one run, one colour


def run_colors(*axes) -> dict:
    """label -> the set of RGBA colours its lines and legend entries carry on ``axes``
    (lines labelled ``_...`` are markers, not runs)."""
    seen: dict = {}
    for ax in axes:
        legend = ax.get_legend()
        handles = list(zip(legend.legend_handles, legend.get_texts())) if legend else []
        pairs = [(ln, ln.get_label()) for ln in ax.get_lines()]
        pairs += [(h, t.get_text()) for h, t in handles if hasattr(h, "get_color")]
        for line, label in pairs:
            if not label.startswith("_") and line.get_linestyle() != "None":
                seen.setdefault(label, set()).add(to_rgba(line.get_color()))
    return seen


@pytest.fixture(scope="module")
def compare_runs():
    """What `descend compare rosenbrock --optimizers gd,momentum,adam` runs, shortened."""
    start = [-1.5, 2.0]
    opts = {"gd lr=0.001": ds.gd(0.001), "momentum lr=0.001": ds.momentum(0.001),
            "adam lr=0.01": ds.adam(0.01)}  # fmt: skip
    results = [ds.minimize("rosenbrock", start, o, max_steps=60) for o in opts.values()]
    return results, list(opts)


def test_compare_figure_gives_each_run_one_colour_and_label_in_every_panel(compare_runs):
    results, labels = compare_runs
    # the figure `descend compare --plot` draws: contour, loss and gradient norm side by side
    fig = plt.figure(figsize=(16.8, 4.8), layout="constrained")
    axs = fig.subplots(1, 3)
    dp.contour("rosenbrock", results, ax=axs[0], labels=labels, title="Rosenbrock")
    dp.loss_curves(results, labels=labels, axes=axs[1:])
    for ax in axs:
        assert set(run_colors(ax)) == set(labels), ax.get_title()
    colors = run_colors(*axs)
    assert all(len(c) == 1 for c in colors.values()), colors
    assert len({next(iter(c)) for c in colors.values()}) == 3, "three runs, three colours"
    # the start and end markers on the contour wear their run's colour too
    for marker in ("_start", "_end"):
        faces = [to_rgba(ln.get_markerfacecolor()) for ln in axs[0].get_lines()
                 if ln.get_label() == marker]  # fmt: skip
        assert faces == [next(iter(colors[label])) for label in labels[: len(faces)]]
        assert len(faces) >= 1


def test_a_run_keeps_its_colour_and_label_from_one_picture_to_the_next(himmelblau_runs):
    # default labels ("start i: status, N steps") and colours, picture by picture
    pictures = {
        "contour": dp.contour("himmelblau", himmelblau_runs, resolution=40).axes[:1],
        "loss": dp.loss_curves(himmelblau_runs).axes[:2],
        "surface": dp.surface("himmelblau", himmelblau_runs, resolution=20).axes[:1],
        "slice": dp.slice_path("himmelblau", himmelblau_runs, resolution=40).axes[:1],
    }
    per_picture = {name: run_colors(*axs) for name, axs in pictures.items()}
    expected = per_picture["contour"]
    assert len(expected) == 2 and all(len(c) == 1 for c in expected.values())
    assert len(set().union(*expected.values())) == 2
    for name, colors in per_picture.items():
        assert colors == expected, name


# --------------------------------------------------------------------------- learning rates


def test_learning_rates_picture_tells_the_three_fates_of_the_seed_quadratic():
    fig = dp.learning_rates("seed-quadratic", (0.0, 0.0, 0.0), max_steps=100)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 3
    titles = [ax.get_title() for ax in panels]
    assert "still far after 100 steps" in titles[0]
    assert "converged in" in titles[1]
    assert "diverged at step" in titles[2]
    assert "0.05/L" in titles[0] and "(1/L)" in titles[1] and "2.3/L" in titles[2]
    img = render(fig)
    assert distinct_colors(img) > 500
    for ax in panels:
        # every run starts at the origin, whichever two coordinates the slice shows
        line = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")][0]
        assert has_color(window(img, ax, (0.0, 0.0)), line.get_color())


def test_learning_rates_accepts_rates_and_a_two_variable_function():
    fig = dp.learning_rates("booth", [0.0, 0.0], [0.001, 0.05], max_steps=50)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2
    assert titles[0].startswith("learning rate 0.001") and "still far after 50" in titles[0]


# --------------------------------------------------------------------------- curves


def test_loss_curves_log_scale_one_line_per_run_and_labels(lr_grid):
    fig = dp.loss_curves(lr_grid)
    ax_f, ax_g = fig.axes[:2]
    assert ax_f.get_yscale() == "log" and ax_g.get_yscale() == "log"
    assert len(ax_f.get_lines()) == len(lr_grid) == 10
    assert len(ax_g.get_lines()) == 10
    texts = [t.get_text() for t in ax_f.get_legend().get_texts()]
    assert "start 0 lr=0.1: gtol, 66 steps" in texts
    assert any("diverged" in t for t in texts)
    img = render(fig)
    assert distinct_colors(img) > 50
    labels = [f"run {i}" for i in range(2)]
    one = dp.loss_curves([lr_grid[0, 1], lr_grid[0, 0]], labels=labels, grad_norm=False)
    ax = one.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    assert len(ax.get_lines()) == 2 and ax.get_xlabel() == "step"


def test_loss_curves_shift_f_when_it_goes_negative():
    res = ds.minimize("six-hump-camel", [0.5, 0.5], ds.gd(0.02), max_steps=300)
    fig = dp.loss_curves(res)
    ax = fig.axes[0]
    assert "min" in ax.get_ylabel()
    y = ax.get_lines()[0].get_ydata()
    assert np.all(y[np.isfinite(y)] > 0)


def test_trajectories_one_line_per_parameter_and_f(seed_run):
    fig = dp.trajectories(seed_run)
    ax_p, ax_f = fig.axes[:2]
    named = [ln for ln in ax_p.get_lines() if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in named] == ["x", "y", "z"]
    np.testing.assert_allclose(named[1].get_ydata(), seed_run.history.x[:, 1])
    assert ax_f.get_yscale() == "log" and ax_f.get_xlabel() == "step"
    fig2 = dp.trajectories(seed_run, names=["w1", "w2", "w3"])
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()] == ["w1", "w2", "w3"]


def test_slice_path_projects_the_path_onto_the_chosen_slice(seed_run):
    fig = dp.slice_path("seed-quadratic", seed_run, dims=(0, 2))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "z"
    assert "slice at y = -2" in ax.get_title()
    img = render(fig)
    line = line_labelled(ax, f"gtol, {seed_run.nit} steps")
    np.testing.assert_allclose(line.get_xydata(), seed_run.history.x[:, [0, 2]])
    assert has_color(window(img, ax, (0.0, 0.0)), line.get_color())
    assert has_color(window(img, ax, (1.0, 0.5), radius=4), line.get_color())


def test_sweep_marks_diverged_rates_with_red_crosses(lr_grid):
    fig = dp.sweep(lr_grid)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 1 and to_rgb(crosses[0].get_color()) == (1.0, 0.0, 0.0)
    status = np.vectorize(lambda s: s.value)(lr_grid.status)
    diverged = lr_grid.learning_rates[np.any(np.isin(status, ["diverged", "nonfinite"]), axis=0)]
    np.testing.assert_allclose(np.sort(crosses[0].get_xdata()), np.sort(diverged))
    assert set(diverged) == {0.4, 1.0}
    img = render(fig)
    # a cross sits at the top of the axis above each failing learning rate
    px = ax.transData.transform((1.0, 1.0))[0]
    top = ax.transAxes.transform((0.0, 0.95))[1]
    row, col = int(round(img.shape[0] - top)), int(round(px))
    assert has_color(img[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3), "red")
    with pytest.raises(ValueError, match="learning-rate grid"):
        dp.sweep(ds.minimize_batch("booth", np.zeros((2, 2)), ds.gd(0.05)))


# --------------------------------------------------------------------------- surface, basins


def test_surface_draws_the_path_on_the_graph(himmelblau_runs):
    run = himmelblau_runs[0]
    fig = dp.surface("himmelblau", run, resolution=40)
    ax = fig.axes[0]
    assert ax.name == "3d"
    img = render(fig)
    assert distinct_colors(img) > 500
    line = line_labelled(ax, f"gtol, {run.nit} steps")
    xs, ys, zs = line.get_data_3d()
    np.testing.assert_allclose(np.c_[xs, ys], run.history.x)
    np.testing.assert_allclose(zs, run.history.fun, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="3-D Axes"):
        dp.surface("himmelblau", ax=plt.subplots()[1])


def test_basins_colour_each_basin_differently():
    b = ds.basins("himmelblau", resolution=15)
    fig = dp.basins(b)
    ax = fig.axes[0]
    img = render(fig)
    assert distinct_colors(img) > 20
    minima = np.array([m.x for m in b.minima])
    colors = {}
    for k in range(len(b.minima)):
        # a start of basin k away from every minimum's numbered marker
        rows, cols = np.nonzero(b.labels == k)
        pts = np.c_[b.xs[cols], b.ys[rows]]
        far = np.min(np.linalg.norm(pts[:, None] - minima[None], axis=2), axis=1)
        x, y = pts[int(np.argmax(far))]
        pixels = window(img, ax, (x, y), radius=1)
        assert len(np.unique(pixels, axis=0)) == 1, "one flat colour inside a cell"
        colors[k] = tuple(pixels[0])
    assert len(set(colors.values())) == len(b.minima) == 4
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("0: (") and "f = " in t for t in texts)
    assert [t.get_text() for t in ax.texts] == [str(k) for k in range(4)]


# --------------------------------------------------------------------------- animate, save


def test_animate_writes_the_expected_frames(tmp_path, himmelblau_runs):
    path = dp.animate("himmelblau", himmelblau_runs, tmp_path / "descent.gif", max_frames=12)
    assert path == str(tmp_path / "descent.gif")
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 12
        frames = []
        for i in (0, 6, 11):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")).astype(int))
    assert frames[0].shape[0] > 200 and frames[0].shape[1] > 500
    assert np.abs(frames[0] - frames[1]).sum() > 0 and np.abs(frames[1] - frames[2]).sum() > 0
    assert len(np.unique(frames[2].reshape(-1, 3), axis=0)) > 50
    short = ds.minimize("booth", [0.0, 0.0], ds.gd(0.05), max_steps=4)
    with Image.open(dp.animate("booth", short, tmp_path / "short.gif", max_frames=60)) as im:
        assert im.n_frames == 5  # one frame per recorded step when there are few


def test_save_writes_a_png_and_unwritable_paths_raise(tmp_path):
    fig = dp.contour("booth", resolution=40)
    out = dp.save(fig, tmp_path / "booth.png")
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == tuple(int(round(v * 120)) for v in fig.get_size_inches())
    missing = tmp_path / "no" / "such" / "folder" / "x.png"
    with pytest.raises(ValueError, match="no/such/folder"):
        dp.save(fig, missing)
    with pytest.raises(ValueError, match="x.gif"):
        dp.animate("booth", None, tmp_path / "nope" / "x.gif")
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ValueError, match="afile"):
        dp.save(fig, afile / "x.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_raises(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            dp.save(dp.contour("booth", resolution=30), ro / "x.png")
    finally:
        ro.chmod(0o700)
