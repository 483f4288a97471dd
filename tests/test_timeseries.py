"""kanlab.timeseries: windows, the UCR loader, DTW and 1-NN, the KAN classifier and forecaster."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("sklearn")

from kanlab import timeseries as ts  # noqa: E402
from kanlab.timeseries import (KANForecaster, KANTimeSeriesClassifier, NearestNeighborClassifier,  # noqa: E402
                               SeriesFeatures, dtw_distances, load_ucr, make_windows, paa, read_ts, ucr_info,
                               znormalize)

HAS_EXTRA = any(importlib.util.find_spec(p) is not None for p in ("sktime", "aeon"))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="the timeseries extra is not installed (pip install "
                                 "'kanlab[timeseries]': sktime ships the UCR files)")


# ---------------------------------------------------------------------------------------- windows
def test_make_windows_shapes_and_values():
    X, Y = make_windows(np.arange(10.0), lags=3, horizon=2)
    assert X.shape == (6, 3) and Y.shape == (6, 2)
    np.testing.assert_array_equal(X[0], [0, 1, 2])
    np.testing.assert_array_equal(Y[0], [3, 4])
    np.testing.assert_array_equal(X[-1], [5, 6, 7])
    np.testing.assert_array_equal(Y[-1], [8, 9])
    X2, Y2 = make_windows(np.arange(10.0), lags=3, horizon=2, stride=2)
    assert X2.shape == (3, 3)
    np.testing.assert_array_equal(X2[:, 0], [0, 2, 4])
    np.testing.assert_array_equal(Y2[:, -1], [4, 6, 8])
    X3, Y3 = make_windows(np.arange(4.0), lags=3)  # exactly lags + horizon values: one window
    assert X3.shape == (1, 3) and Y3.tolist() == [[3.0]]


@pytest.mark.parametrize("kwargs, match", [
    (dict(series=np.arange(10.0), lags=0), "lags must be a positive int"),
    (dict(series=np.arange(10.0), lags=2, horizon=True), "horizon must be a positive int"),
    (dict(series=np.arange(10.0), lags=2, stride=0), "stride must be a positive int"),
    (dict(series=np.arange(4.0), lags=3, horizon=2), "too short for lags=3 and horizon=2"),
    (dict(series=np.ones((5, 2)), lags=2), r"one series of shape \(length,\)"),
    (dict(series=np.array([1.0, np.nan, 2.0, 3.0]), lags=1), "NaN or Inf .*index 1"),
])
def test_make_windows_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_windows(**kwargs)


# ---------------------------------------------------------------------------------------- features
def test_paa_and_znormalize():
    np.testing.assert_allclose(paa(np.arange(6.0), 3), [0.5, 2.5, 4.5])
    np.testing.assert_allclose(paa(np.arange(5.0), 2), [0.5, 3.0])  # pieces [0, 2) and [2, 5)
    np.testing.assert_array_equal(paa(np.arange(3.0), 8), [0, 1, 2])  # more segments than steps: unchanged
    assert paa(np.zeros((4, 2, 100)), 10).shape == (4, 2, 10)
    z = znormalize(np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(z[0].std(), 1)
    np.testing.assert_array_equal(z[1], 0)  # a constant series is shifted, not divided by 0
    with pytest.raises(ValueError, match="n_segments must be a positive int"):
        paa(np.arange(5.0), 0)


def test_series_features_shapes_and_checks():
    rng = np.random.default_rng(0)
    f = SeriesFeatures(n_segments=8).fit(rng.normal(size=(5, 40)))
    assert f.transform(rng.normal(size=(3, 40))).shape == (3, 16)
    f3 = SeriesFeatures(n_segments=8, derivative=False).fit(rng.normal(size=(5, 3, 40)))
    assert f3.transform(rng.normal(size=(2, 3, 40))).shape == (2, 24)
    # features of a series do not depend on its offset and scale (z-normalised first)
    x = rng.normal(size=(1, 40))
    np.testing.assert_allclose(f.transform(x), f.transform(3.0 * x + 7.0), atol=1e-10)
    with pytest.raises(ValueError, match=r"series of shape \(41,\).*fitted on series of shape \(40,\)"):
        f.transform(rng.normal(size=(2, 41)))


# ---------------------------------------------------------------------------------------- DTW
def _dtw_reference(x: np.ndarray, y: np.ndarray, w: int) -> float:
    """The textbook O(L^2) recursion, cell by cell."""
    n = len(x)
    D = np.full((n + 1, n + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, n + 1):
            if abs(i - j) <= w:
                D[i, j] = (x[i - 1] - y[j - 1]) ** 2 + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return float(np.sqrt(D[n, n]))


@pytest.mark.parametrize("window, w", [(None, 19), (0.2, 4), (0.05, 1)])
def test_dtw_matches_the_cell_by_cell_recursion(window, w):
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(4, 19)), rng.normal(size=(3, 19))
    expected = np.array([[_dtw_reference(a, b, w) for b in B] for a in A])
    np.testing.assert_allclose(dtw_distances(A, B, window=window), expected, rtol=1e-12)
    # the same in small blocks (several passes over A)
    np.testing.assert_allclose(dtw_distances(A, B, window=window, max_block=1), expected, rtol=1e-12)


def test_dtw_window_zero_is_euclidean_and_warping_only_helps():
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(5, 2, 30)), rng.normal(size=(4, 2, 30))  # two channels
    ed = np.sqrt(((A[:, None] - B[None]) ** 2).sum(axis=(2, 3)))
    np.testing.assert_allclose(dtw_distances(A, B, window=0.0), ed, rtol=1e-12)
    assert np.all(dtw_distances(A, B, window=0.1) <= ed + 1e-12)
    # a shifted copy is close under DTW, far under ED
    t = np.linspace(0, 4 * np.pi, 60)
    x, y = np.sin(t)[None], np.sin(t - 0.4)[None]
    assert dtw_distances(x, y, window=0.1)[0, 0] < 0.3 * dtw_distances(x, y, window=0.0)[0, 0]
    with pytest.raises(ValueError, match="window must be a number in"):
        dtw_distances(A, B, window=1.5)
    with pytest.raises(ValueError, match="same shape"):
        dtw_distances(A, B[:, :, :20])


# ---------------------------------------------------------------------------------------- loader
def _write_ts(path, rows, header="@problemName Toy\n@univariate true\n@classLabel true a b\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# a toy problem\n" + header + "@data\n" + "\n".join(rows) + "\n")


def test_load_ucr_from_a_folder(tmp_path):
    _write_ts(tmp_path / "Toy" / "Toy_TRAIN.ts", ["1,2,3:b", "4,5,6:a", "0,0,1:b"])
    _write_ts(tmp_path / "Toy" / "Toy_TEST.ts", ["7,8,9:a"])
    X_train, y_train, X_test, y_test = load_ucr("toy", folder=tmp_path)  # names are case-insensitive
    assert X_train.shape == (3, 3) and X_train.dtype == np.float64
    assert y_train.tolist() == [1, 0, 1] and y_train.dtype == np.int64  # the declared order: a = 0, b = 1
    assert X_test.tolist() == [[7, 8, 9]] and y_test.tolist() == [0]
    info = ucr_info("Toy", folder=tmp_path)
    assert info["classes"] == ["a", "b"] and info["length"] == 3 and info["description"] == "a toy problem"


def test_read_ts_multivariate_and_refusals(tmp_path):
    _write_ts(tmp_path / "m.ts", ["1,2:3,4:x", "5,6:7,8:y"])
    X, labels, _ = read_ts(tmp_path / "m.ts")
    assert X.shape == (2, 2, 2) and X[1, 1].tolist() == [7, 8] and labels == ["x", "y"]
    _write_ts(tmp_path / "missing.ts", ["1,?,3:a"])
    with pytest.raises(ValueError, match="missing values"):
        read_ts(tmp_path / "missing.ts")
    _write_ts(tmp_path / "ragged.ts", ["1,2,3:a", "1,2:b"])
    with pytest.raises(ValueError, match="unequal lengths"):
        read_ts(tmp_path / "ragged.ts")
    _write_ts(tmp_path / "Toy" / "Toy_TRAIN.ts", ["1,2:a"])
    with pytest.raises(ValueError, match=r"unknown UCR dataset 'Nope'.*available: Toy"):
        load_ucr("Nope", folder=tmp_path)


def test_load_ucr_without_the_extra_names_it(monkeypatch):
    monkeypatch.setattr(ts.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match=r"kanlab\[timeseries\]"):
        load_ucr("GunPoint")


@needs_extra
def test_load_ucr_gunpoint_shapes():
    X_train, y_train, X_test, y_test = load_ucr("GunPoint")
    assert X_train.shape == (50, 150) and X_test.shape == (150, 150)
    assert y_train.shape == (50,) and y_test.shape == (150,)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    assert set(np.unique(np.r_[y_train, y_test])) == {0, 1}
    assert np.bincount(y_train).tolist() == [24, 26]
    assert load_ucr("BasicMotions")[0].shape == (40, 6, 100)  # multivariate: (n, channels, length)


@needs_extra
def test_one_nn_euclidean_matches_the_archive_on_gunpoint():
    """1-NN ED on GunPoint misclassifies 13 of 150 test series (the UCR archive's 0.0867 error rate)."""
    X_train, y_train, X_test, y_test = load_ucr("GunPoint")
    acc = NearestNeighborClassifier(metric="euclidean").fit(X_train, y_train).score(X_test, y_test)
    assert round(acc * 150) == 137


# ---------------------------------------------------------------------------------------- models
@needs_extra
def test_kan_classifier_beats_chance_on_gunpoint():
    X_train, y_train, X_test, y_test = load_ucr("GunPoint")
    clf = KANTimeSeriesClassifier(random_state=0, max_iter=300).fit(X_train, y_train)
    assert clf.predict_proba(X_test).shape == (150, 2)
    assert clf.score(X_test, y_test) > 0.8  # chance: 0.5 (classes 76 / 74 in the test split)


def test_kan_classifier_bad_input():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 30)), np.repeat([0, 1], 10)
    Xn = X.copy()
    Xn[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at index \(3, 7\)\)"):
        KANTimeSeriesClassifier().fit(Xn, y)
    with pytest.raises(ValueError, match=r"X\[None, :\]"):
        KANTimeSeriesClassifier().fit(X[0], y[:1])
    with pytest.raises(ValueError, match=r"y must have shape \(20,\)"):
        KANTimeSeriesClassifier().fit(X, y[:5])
    with pytest.raises(ValueError, match="at least 2 time steps"):
        KANTimeSeriesClassifier().fit(X[:, :1], y)
    with pytest.raises(ValueError, match="kan_params repeats"):
        KANTimeSeriesClassifier(kan_params={"max_iter": 5}).fit(X, y)
    clf = KANTimeSeriesClassifier(random_state=0, max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="fitted on series of shape"):
        clf.predict(X[:, :20])
    with pytest.raises(ValueError, match="metric must be"):
        NearestNeighborClassifier(metric="cosine").fit(X, y)


def _sine(n: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 12) + 0.05 * np.random.default_rng(seed).normal(size=n)


def test_kan_forecaster_beats_the_naive_forecast_on_a_sine():
    y = _sine(400)
    model = KANForecaster(lags=12, random_state=0, max_iter=300).fit(y[:300])
    origins = np.arange(300, 388, 4)
    history = np.stack([y[o - 12:o] for o in origins])
    truth = np.stack([y[o:o + 12] for o in origins])
    pred = model.forecast(12, history)
    assert pred.shape == (len(origins), 12)
    kan_rmse = np.sqrt(np.mean((pred - truth) ** 2))
    naive_rmse = np.sqrt(np.mean((history[:, -1:] - truth) ** 2))
    assert kan_rmse < 0.25 * naive_rmse, (kan_rmse, naive_rmse)
    assert model.forecast(5).shape == (5,)  # from the end of the training series
    np.testing.assert_allclose(model.forecast(1, y[:300]), model.predict(y[None, 288:300]))


def test_forecaster_bad_input():
    model = KANForecaster(lags=4, random_state=0, max_iter=3)
    with pytest.raises(ValueError, match="too short for lags=4"):
        model.fit(np.arange(4.0))
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.fit(np.r_[np.arange(10.0), np.inf])
    model.fit(np.sin(np.arange(40.0)))
    with pytest.raises(ValueError, match="history holds 3 values per origin"):
        model.forecast(2, np.ones(3))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        model.forecast(0)
    with pytest.raises(ValueError, match=r"X must have shape \(n_windows, lags=4\)"):
        model.predict(np.ones((2, 3)))
