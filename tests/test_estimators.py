"""kanlab.estimators: scikit-learn's estimator checks, real accuracy, Pipeline/GridSearchCV, errors."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_iris, make_classification  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import recall_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from kanlab.estimators import KANClassifier, KANRegressor  # noqa: E402

SMALL = dict(hidden_layer_sizes=(3,), grid=3, max_iter=5, random_state=0)


# One check is expected to fail: integer sample weights are not equivalent to repeated rows
# because the spline grids adapt to the quantiles of the (unweighted) training inputs, and float32
# sums differ in rounding anyway. check_array_api_input skips itself unless SCIPY_ARRAY_API=1
# (inputs are converted to numpy; array-API inputs are not claimed).
EXPECTED_FAILED = {"check_sample_weight_equivalence_on_dense_data":
                   "grids adapt to unweighted input quantiles, so repeated rows differ from weights"}


@parametrize_with_checks([KANRegressor(**SMALL), KANClassifier(**SMALL)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def _smooth_2d(n: int, seed: int):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, np.sin(X[:, 0]) * np.exp(-X[:, 1] ** 2)


def test_breast_cancer_accuracy() -> None:
    X, y = load_breast_cancer(return_X_y=True)  # raw features: scales from 1e-3 to 1e3
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    clf = KANClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.9
    proba = clf.predict_proba(X_te)
    assert proba.shape == (len(X_te), 2) and np.allclose(proba.sum(1), 1.0)
    assert np.array_equal(clf.predict(X_te), clf.classes_[proba.argmax(1)])
    assert np.array_equal(clf.decision_function(X_te) > 0, proba[:, 1] > 0.5)


def test_regressor_smooth_function_r2() -> None:
    X, y = _smooth_2d(1000, 0)
    y = 100.0 + 50.0 * y  # target scaling happens inside
    reg = KANRegressor(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(X[:800], y[:800])
    assert reg.score(X[800:], y[800:]) > 0.99
    assert reg.predict(X[800:]).shape == (200,)
    assert len(reg.loss_curve_) == reg.n_iter_ and reg.loss_curve_[-1] < reg.loss_curve_[0]


def test_multi_output_regression() -> None:
    X, _ = _smooth_2d(600, 1)
    Y = np.stack([np.sin(X[:, 0]), X[:, 1] ** 2, -3.0 * X[:, 0] * X[:, 1]], axis=1)
    reg = KANRegressor(hidden_layer_sizes=(6,), max_iter=30, random_state=0).fit(X[:500], Y[:500])
    pred = reg.predict(X[500:])
    assert pred.shape == (100, 3) and reg.n_outputs_ == 3
    assert reg.score(X[500:], Y[500:]) > 0.95


def test_multiclass_string_labels() -> None:
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    X_tr, X_te, y_tr, y_te = train_test_split(X, names, test_size=0.3, random_state=0, stratify=names)
    clf = KANClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X_tr, y_tr)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    pred = clf.predict(X_te)
    assert pred.dtype.kind == "U" and set(pred) <= set(clf.classes_)
    assert clf.score(X_te, y_te) > 0.9
    assert clf.predict_proba(X_te).shape == (len(X_te), 3)


def test_pipeline_and_grid_search() -> None:
    X, y = _smooth_2d(300, 2)
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 10.0), KANRegressor(max_iter=6, random_state=0))
    search = GridSearchCV(pipe, {"kanregressor__grid": [3, 5], "kanregressor__hidden_layer_sizes": [(2,), (4,)]},
                          cv=2)
    search.fit(X, y)
    assert search.best_params_["kanregressor__grid"] in (3, 5)
    assert search.best_score_ > 0.9
    assert search.best_estimator_[-1].model_.width == [2, *search.best_params_["kanregressor__hidden_layer_sizes"], 1]
    assert search.score(X, y) > 0.9


def test_random_state_reproducible() -> None:
    X, y = _smooth_2d(200, 3)
    kw = dict(opt="Adam", batch_size=32, max_iter=40, early_stopping=True)
    a = KANRegressor(random_state=7, **kw).fit(X, y).predict(X)
    b = KANRegressor(random_state=7, **kw).fit(X, y).predict(X)
    c = KANRegressor(random_state=8, **kw).fit(X, y).predict(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_clone_and_params_round_trip() -> None:
    clf = KANClassifier(hidden_layer_sizes=(2, 3), grid=4, class_weight="balanced", random_state=3)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (2, 3) and params["class_weight"] == "balanced"
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == params
    twin.set_params(grid=7, opt="Adam")
    assert twin.grid == 7 and clf.grid == 4
    assert KANClassifier(**params).get_params() == params


def test_early_stopping_keeps_best_step() -> None:
    X, y = make_classification(n_samples=300, n_features=6, flip_y=0.3, random_state=0)
    clf = KANClassifier(hidden_layer_sizes=(8,), grid=8, max_iter=200, early_stopping=True, n_iter_no_change=3,
                        random_state=0).fit(X, y)
    curve = clf.validation_loss_curve_
    assert clf.n_iter_ < 200 and len(curve) == clf.n_iter_  # noisy labels: overfits, stops early
    assert clf.best_iter_ == int(np.argmin(curve)) + 1
    assert KANClassifier(max_iter=3, random_state=0).fit(X, y).validation_loss_curve_ is None


def test_class_weight_balanced_lifts_minority_recall() -> None:
    X, y = make_classification(n_samples=400, n_features=4, weights=[0.9, 0.1], class_sep=0.5, random_state=1)
    kw = dict(hidden_layer_sizes=(3,), max_iter=10, random_state=0)
    plain = KANClassifier(**kw).fit(X, y)
    balanced = KANClassifier(class_weight="balanced", **kw).fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X)) + 0.1


def test_dataframe_feature_names() -> None:
    pd = pytest.importorskip("pandas")
    X, y = _smooth_2d(100, 4)
    frame = pd.DataFrame(X, columns=["x", "y"])
    reg = KANRegressor(max_iter=3, random_state=0).fit(frame, y)
    assert list(reg.feature_names_in_) == ["x", "y"]
    with pytest.warns(UserWarning, match="feature names"):
        reg.predict(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_rejected(bad: float) -> None:
    X, y = _smooth_2d(50, 5)
    X[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        KANRegressor(max_iter=2).fit(X, y)
    X[3, 1] = 0.0
    reg = KANRegressor(max_iter=2, random_state=0).fit(X, y)
    X[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        reg.predict(X)


def test_errors() -> None:
    X, y = _smooth_2d(40, 6)
    with pytest.raises(NotFittedError):
        KANRegressor().predict(X)
    with pytest.raises(NotFittedError):
        KANClassifier().predict_proba(X)
    reg = KANRegressor(max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="2 features"):
        reg.predict(X[:, :1])
    for bad, match in [(dict(opt="SGD"), "opt must be one of"), (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
                       (dict(grid=0), "grid must be"), (dict(validation_fraction=1.5), "validation_fraction"),
                       (dict(lr=-1.0), "lr must be")]:
        with pytest.raises(ValueError, match=match):
            KANRegressor(**bad).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        KANClassifier(class_weight="heavy").fit(X, y > 0)
    with pytest.raises(ValueError, match="one class"):
        KANClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        KANClassifier().fit(X, y)  # continuous labels


def test_import_kanlab_does_not_need_sklearn() -> None:
    code = ("import sys, kanlab; assert 'sklearn' not in sys.modules; "
            "assert kanlab.KANClassifier.__name__ == 'KANClassifier' and 'sklearn' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sample_weight_zero_rows_change_nothing_and_weights_matter() -> None:
    X, y = _smooth_2d(120, 7)
    kw = dict(hidden_layer_sizes=(3,), max_iter=8, random_state=0)
    w = np.ones(len(X))
    w[:20] = 0.0
    dropped = KANRegressor(**kw).fit(X[20:], y[20:]).predict(X)
    zeroed = KANRegressor(**kw).fit(X, y, sample_weight=w).predict(X)
    assert np.array_equal(dropped, zeroed)
    y_bad = y.copy()
    y_bad[:60] += 5.0  # a shifted half: with tiny weight it barely pulls the fit
    w = np.where(np.arange(len(X)) < 60, 1e-3, 1.0)
    reg = KANRegressor(**kw).fit(X, y_bad, sample_weight=w)
    assert np.mean((reg.predict(X[60:]) - y[60:]) ** 2) < 0.05
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        KANRegressor(**kw).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        KANClassifier(**kw).fit(X, y > 0, sample_weight=-w)
