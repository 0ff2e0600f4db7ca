"""Data sets: loading, checks with clear errors, stratified and scaled splits."""

from __future__ import annotations

import numpy as np
import pytest

import descend as ds


def test_bundled_sets_match_scikit_learn():
    from sklearn import datasets

    for name in ("iris", "wine", "breast_cancer", "digits", "diabetes"):
        d = ds.data.load(name)
        bunch = getattr(datasets, f"load_{name}")()
        np.testing.assert_array_equal(d.X, bunch.data)
        if d.is_classification:
            # codes index the labels: classes[y] gives the original targets back
            labels = np.asarray(bunch.target_names)[bunch.target]
            np.testing.assert_array_equal(np.asarray(d.classes, dtype=object)[d.y], labels)
        else:
            np.testing.assert_array_equal(d.y, bunch.target)
    assert ds.data.load("digits").n_classes == 10
    assert not ds.data.load("diabetes").is_classification


def test_generated_line_has_the_documented_slope_and_intercept():
    d = ds.data.load("line", n_samples=5000, noise=0.1, seed=1)
    slope, intercept = np.polyfit(d.X[:, 0], d.y, 1)
    assert slope == pytest.approx(ds.data.LINE_SLOPE, abs=0.01)
    assert intercept == pytest.approx(ds.data.LINE_INTERCEPT, abs=0.01)
    a, b = ds.data.load("moons", seed=3), ds.data.load("moons", seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (200, 2) and set(np.unique(a.y)) == {0, 1}


def test_split_is_stratified_reproducible_and_scaled_by_train_only():
    d = ds.data.load("iris")
    train, val, test = d.split(val=0.2, test=0.2, seed=0)
    assert len(train) + len(val) + len(test) == 150
    for part, n in ((train, 30), (val, 10), (test, 10)):
        np.testing.assert_array_equal(np.bincount(part.y), [n, n, n])
    again = d.split(val=0.2, test=0.2, seed=0)
    np.testing.assert_array_equal(again[2].X, test.X)
    other = d.split(val=0.2, test=0.2, seed=1)[2]
    assert not np.array_equal(other.X, test.X)
    # train is standardized exactly; val and test with train's statistics
    np.testing.assert_allclose(train.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(train.X.std(axis=0), 1, atol=1e-12)
    raw_train, raw_val, _ = d.split(val=0.2, test=0.2, seed=0, scale=False)
    mean, std = raw_train.X.mean(axis=0), raw_train.X.std(axis=0)
    np.testing.assert_allclose(val.X, (raw_val.X - mean) / std, rtol=1e-12)
    assert len(d.split(test=0.25)) == 2


def test_csv_with_a_named_target(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("size,rooms,price\n50,2,100.5\n70,3,140.0\n90,4,181.25\n")
    d = ds.data.load(path, target="price")
    np.testing.assert_array_equal(d.X, [[50, 2], [70, 3], [90, 4]])
    np.testing.assert_array_equal(d.y, [100.5, 140.0, 181.25])
    assert d.feature_names == ("size", "rooms") and not d.is_classification
    labels = tmp_path / "pets.csv"
    labels.write_text("w,h,kind\n1,2,cat\n3,4,dog\n5,6,cat\n")
    d = ds.data.load(labels)
    assert d.classes == ("cat", "dog")
    np.testing.assert_array_equal(d.y, [0, 1, 0])


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("a,b,price\n1,2,3\n", "prise", "no column 'prise'.*closest: 'price'"),
        ("a,name,y\n1,bob,3\n2,al,4\n", "y", "non-numeric feature columns 'name'"),
        ("a,b,y\n1,2,3\n1,,3\nnan,1,2\n", "y", "2 missing, NaN or inf values; the first at line 3"),
        ("a,b,y\n1,2\n", "y", "line 2 has 2 fields"),
    ],
)
def test_bad_csv_files_say_what_and_where(tmp_path, text, target, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        ds.data.load(path, target=target)


def test_bad_arrays_say_what_and_where():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        ds.data.load((X, np.zeros(4)))
    bad = X.copy()
    bad[3, 1] = np.nan
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match="2 NaN or inf values; the first at row 3"):
        ds.data.load((bad, np.zeros(5)))
    with pytest.raises(ValueError, match="labels must be classes.*0.5 at row 1"):
        ds.data.load((X, [0, 0.5, 1, 1, 0]), task="classification")
    with pytest.raises(ValueError, match="no test samples"):
        ds.data.load((np.ones((12, 1)), [0] * 10 + [1] * 2)).split(test=0.2)
    with pytest.raises(ValueError, match="did you mean 'digits'"):
        ds.data.load("digit")
    with pytest.raises(ValueError, match="val must be in"):
        ds.data.load("iris").split(val=1.5)


def test_csv_lines_are_counted_in_the_file_and_a_bom_is_not_a_name(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_bytes("\ufeffa,b,y\n1,2,3\n\n\n4,,6\n".encode())
    with pytest.raises(ValueError, match="the first at line 5"):
        ds.data.load(path)
    path.write_bytes("\ufeffa,b,Y\n1,2,3\n4,5,6\n".encode())
    assert ds.data.load(path, target="Y").feature_names == ("a", "b")
    with pytest.raises(ValueError, match="closest: 'Y'"):
        ds.data.load(path, target="y")
