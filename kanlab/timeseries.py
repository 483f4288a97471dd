"""Time series with KANs: UCR classification data, baselines, a classifier and a forecaster.

Data (:func:`load_ucr`): the UCR/UEA archive problems that ``sktime`` ships inside its wheel (``pip
install 'kanlab[timeseries]'``), read straight from the bundled ``.ts`` files (sktime itself is not
imported, and nothing is downloaded), with the archive's own train/test split::

    from kanlab.timeseries import load_ucr, KANTimeSeriesClassifier
    X_train, y_train, X_test, y_test = load_ucr("GunPoint")    # (50, 150), (50,), (150, 150), (150,)
    clf = KANTimeSeriesClassifier(random_state=0).fit(X_train, y_train)
    clf.score(X_test, y_test)

Pieces, each usable alone:

- :func:`znormalize` (each series to mean 0, standard deviation 1), :func:`paa` (piecewise aggregate
  approximation: the means of ``n_segments`` near-equal pieces) and :class:`SeriesFeatures` (a
  scikit-learn transformer: z-normalise, then the PAA of the series and of its first difference).
- :func:`dtw_distances` (dynamic time warping with a Sakoe-Chiba band, vectorised over all pairs)
  and :class:`NearestNeighborClassifier` (1-NN with the Euclidean or the DTW distance: the standard
  baselines of the UCR archive).
- :class:`KANTimeSeriesClassifier`: :class:`SeriesFeatures` followed by
  :class:`kanlab.estimators.KANClassifier`.
- :func:`make_windows` (series -> lagged inputs and horizon targets) and
  :class:`WindowForecaster` / :class:`KANForecaster` (a one-step model on ``lags`` past values,
  iterated for multi-step forecasts, batched over forecast origins).

Shapes: a univariate collection is ``(n_series, length)``; a multivariate one (BasicMotions) is
``(n_series, n_channels, length)``. A single series for forecasting is ``(length,)``.

Needs scikit-learn (the estimators) and, for :func:`load_ucr` without a ``folder``, the ``sktime``
package (or ``aeon``, which ships the same files).
"""
from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin, clone
    from sklearn.utils.validation import check_is_fitted
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("kanlab.timeseries needs scikit-learn >= 1.6: pip install 'kanlab[timeseries]'") from err

from .estimators import KANClassifier, KANRegressor
from .validation import check_int, check_real

__all__ = ["UCR_DATASETS", "load_ucr", "ucr_info", "read_ts", "znormalize", "paa", "SeriesFeatures", "dtw_distances",
           "NearestNeighborClassifier", "KANTimeSeriesClassifier", "make_windows", "WindowForecaster", "KANForecaster"]

#: The classification problems of the UCR/UEA archive that sktime's wheel bundles with equal-length
#: series (BasicMotions is multivariate: 6 channels).
UCR_DATASETS = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf", "ACSF1", "BasicMotions")
EXTRA_HINT = "pip install 'kanlab[timeseries]' (the extra installs sktime, whose wheel ships the UCR files)"
PathLike = Union[str, os.PathLike]
Split = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# ---------------------------------------------------------------------------------------- data
def _bundled_folder() -> Path:
    """The ``datasets/data`` folder of an installed sktime (or aeon), found without importing it."""
    for package in ("sktime", "aeon"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
            if folder.is_dir():
                return folder
    raise ImportError(f"load_ucr reads the UCR files that the sktime package bundles, and neither sktime nor aeon is "
                      f"installed: {EXTRA_HINT}; or pass folder= a folder holding <name>/<name>_TRAIN.ts and _TEST.ts")


def read_ts(path: PathLike) -> Tuple[np.ndarray, List[str], Dict[str, str]]:
    """Parse one file in the archive's ``.ts`` format (``@`` header lines, ``#`` comments, then one
    case a line: each channel's comma-separated values, channels and the class label separated by
    ``:``). Returns ``(X, labels, header)``: ``X`` float64 ``(n, length)`` for one channel or
    ``(n, n_channels, length)``, the label strings ``(n,)`` and the header's ``@key value`` pairs
    (lowercase keys; ``classlabel`` holds the declared labels). Missing values (``?``), unequal
    lengths and files without labels are refused with a ``ValueError``."""
    header: Dict[str, str] = {}
    cases: List[List[List[float]]] = []
    labels: List[str] = []
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower() == "@data":
                    in_data = True
                elif line.startswith("@"):
                    key, _, value = line[1:].partition(" ")
                    header[key.lower()] = value.strip()
                continue
            *channels, label = line.split(":")
            if not channels:
                raise ValueError(f"{path}:{lineno}: expected channel values and a class label separated by ':'")
            try:
                values = [[float(v) for v in ch.split(",")] for ch in channels]
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: unreadable value ({err}); missing values ('?') are not "
                                 f"supported") from err
            if not all(math.isfinite(v) for ch in values for v in ch):
                raise ValueError(f"{path}:{lineno}: missing values (NaN) are not supported (case {len(cases) + 1})")
            cases.append(values)
            labels.append(label.strip())
    if not in_data or not cases:
        raise ValueError(f"{path}: no @data section with cases")
    shapes = {(len(c), len(c[0])) for c in cases} | {(len(c), len(ch)) for c in cases for ch in c}
    if len(shapes) != 1:
        raise ValueError(f"{path}: the series have unequal lengths or channel counts {sorted(shapes)[:4]}...; only "
                         f"equal-length problems are supported")
    X = np.asarray(cases, dtype=np.float64)
    return (X[:, 0, :] if X.shape[1] == 1 else X), labels, header


def _resolve_name(name: str, folder: Path) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name (str), got {type(name).__name__}")
    known = {d.name.lower(): d.name for d in folder.iterdir() if (d / f"{d.name}_TRAIN.ts").is_file()} \
        if folder.is_dir() else {}
    if name.lower() not in known:
        listed = ", ".join(sorted(known.values(), key=str.lower)) or "none"
        raise ValueError(f"unknown UCR dataset {name!r} in {folder}; available: {listed} (the comparison uses "
                         f"{', '.join(UCR_DATASETS)})")
    return known[name.lower()]


def _encode(train: List[str], test: List[str], declared: str) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Labels -> ints in the order the header declares them (``@classLabel true a b c``), else sorted."""
    parts = declared.split()
    classes = parts[1:] if parts and parts[0].lower() == "true" and len(parts) > 1 else sorted(set(train) | set(test))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted((set(train) | set(test)) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the declared classes {classes}")
    return (np.array([index[c] for c in train], dtype=np.int64), np.array([index[c] for c in test], dtype=np.int64),
            classes)


def ucr_info(name: str, folder: Optional[PathLike] = None) -> Dict[str, Any]:
    """What :func:`load_ucr` would return, described: ``{"name", "classes" (the label strings,
    index = encoded label), "n_train", "n_test", "n_channels", "length", "description"}``
    (the file's leading comment, as the archive wrote it; empty if none)."""
    base = Path(folder) if folder is not None else _bundled_folder()
    real = _resolve_name(name, base)
    X_train, train_labels, header = read_ts(base / real / f"{real}_TRAIN.ts")
    X_test, test_labels, _ = read_ts(base / real / f"{real}_TEST.ts")
    _, _, classes = _encode(train_labels, test_labels, header.get("classlabel", ""))
    with open(base / real / f"{real}_TRAIN.ts", encoding="utf-8") as fh:
        comment = " ".join(line[1:].strip() for line in fh if line.startswith("#"))
    return {"name": real, "classes": classes, "n_train": len(X_train), "n_test": len(X_test),
            "n_channels": 1 if X_train.ndim == 2 else X_train.shape[1], "length": X_train.shape[-1],
            "description": comment}


def load_ucr(name: str, folder: Optional[PathLike] = None) -> Split:
    """``(X_train, y_train, X_test, y_test)`` of a UCR/UEA classification problem, with the
    archive's train/test split. ``X``: float64 ``(n, length)`` (univariate) or ``(n, n_channels,
    length)`` (multivariate, e.g. BasicMotions), values as stored (most UCR problems are already
    z-normalised per series); ``y``: int64 ``(n,)`` in ``0 .. n_classes - 1``, in the order the
    file declares the classes (:func:`ucr_info` names them).

    Files are read from ``folder`` (holding ``<name>/<name>_TRAIN.ts`` and ``_TEST.ts``) or, by
    default, from the copies in the installed sktime (or aeon) package: ``pip install
    'kanlab[timeseries]'``. Names are case-insensitive; :data:`UCR_DATASETS` lists the bundled
    equal-length classification problems. Nothing is downloaded.

    Sizes (train / test, length, classes): ArrowHead 36 / 175, 251, 3; GunPoint 50 / 150, 150, 2;
    ItalyPowerDemand 67 / 1029, 24, 2; OSULeaf 200 / 242, 427, 6; ACSF1 100 / 100, 1460, 10;
    BasicMotions 40 / 40, 6 channels x 100, 4.
    """
    base = Path(folder) if folder is not None else _bundled_folder()
    real = _resolve_name(name, base)
    X_train, train_labels, header = read_ts(base / real / f"{real}_TRAIN.ts")
    X_test, test_labels, _ = read_ts(base / real / f"{real}_TEST.ts")
    if X_train.shape[1:] != X_test.shape[1:]:
        raise ValueError(f"{real}: train series {X_train.shape[1:]} and test series {X_test.shape[1:]} differ in shape")
    y_train, y_test, _ = _encode(train_labels, test_labels, header.get("classlabel", ""))
    return X_train, y_train, X_test, y_test


# ---------------------------------------------------------------------------------------- features
def check_collection(X: Any, name: str = "X", min_length: int = 1) -> np.ndarray:
    """``X`` as float64 ``(n, length)`` or ``(n, n_channels, length)``: finite, at least one series
    and ``min_length`` time steps; otherwise a ``ValueError`` naming the problem."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array (n_series, length) or (n_series, n_channels, length): "
                         f"{err}") from err
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (n_series, length) or (n_series, n_channels, length), got shape "
                         f"{arr.shape}" + ("; for one series use X[None, :]" if arr.ndim == 1 else ""))
    if arr.shape[0] < 1 or arr.shape[-1] < min_length or (arr.ndim == 3 and arr.shape[1] < 1):
        raise ValueError(f"{name} needs at least one series of at least {min_length} time steps, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or Inf (first at index {tuple(int(i) for i in bad)}); impute or drop "
                         f"those series first")
    return arr


def znormalize(X: Any, eps: float = 1e-8) -> np.ndarray:
    """Each series (each channel) shifted to mean 0 and scaled to standard deviation 1 over time:
    ``(..., length) -> (..., length)``, float64. A constant series (std < ``eps``) is only shifted."""
    arr = np.asarray(X, dtype=np.float64)
    mean = arr.mean(axis=-1, keepdims=True)
    std = arr.std(axis=-1, keepdims=True)
    return (arr - mean) / np.where(std < eps, 1.0, std)


def paa(X: Any, n_segments: int) -> np.ndarray:
    """Piecewise aggregate approximation: ``(..., length) -> (..., min(n_segments, length))``, the
    mean of each of ``n_segments`` contiguous pieces whose lengths differ by at most one (piece
    ``s`` covers ``[floor(s L / S), floor((s + 1) L / S))``). ``n_segments >= length`` returns
    the series unchanged."""
    n_segments = check_int("n_segments", n_segments, low=1)
    arr = np.asarray(X, dtype=np.float64)
    length = arr.shape[-1]
    if n_segments >= length:
        return arr.copy()
    bounds = (np.arange(n_segments + 1) * length) // n_segments
    csum = np.concatenate([np.zeros(arr.shape[:-1] + (1,)), np.cumsum(arr, axis=-1)], axis=-1)
    return (csum[..., bounds[1:]] - csum[..., bounds[:-1]]) / np.diff(bounds)


class SeriesFeatures(TransformerMixin, BaseEstimator):
    """Series -> a short feature vector for a dense model: each series (each channel) z-normalised,
    then the PAA (:func:`paa`) of the series to ``n_segments`` values and, with ``derivative``,
    the PAA of its first difference (also ``n_segments`` values, scaled by ``length / n_segments``
    so a slope reads the same at any length). No parameters are learned from the data: ``fit``
    only records the input shape, which ``transform`` then requires.

    ``(n, length)`` or ``(n, n_channels, length)`` -> ``(n, n_channels * (1 + derivative) *
    min(n_segments, length))``.
    """

    def __init__(self, n_segments: int = 32, derivative: bool = True) -> None:
        self.n_segments = n_segments
        self.derivative = derivative

    def fit(self, X: Any, y: Any = None) -> "SeriesFeatures":
        check_int("n_segments", self.n_segments, low=1)
        if not isinstance(self.derivative, (bool, np.bool_)):
            raise ValueError(f"derivative must be True or False, got {self.derivative!r}")
        arr = check_collection(X, min_length=2 if self.derivative else 1)
        self.input_shape_ = arr.shape[1:]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        arr = check_collection(X, min_length=2 if self.derivative else 1)
        if arr.shape[1:] != self.input_shape_:
            raise ValueError(f"X has series of shape {arr.shape[1:]}, but this transformer was fitted on series of "
                             f"shape {self.input_shape_} (resample or pad the series to that length)")
        z = znormalize(arr)
        if z.ndim == 2:
            z = z[:, None, :]
        parts = [paa(z, self.n_segments)]
        if self.derivative:
            step = z.shape[-1] / min(self.n_segments, z.shape[-1] - 1)
            parts.append(paa(np.diff(z, axis=-1), self.n_segments) * step)
        return np.concatenate(parts, axis=-1).reshape(len(arr), -1)


# ---------------------------------------------------------------------------------------- 1-NN baselines
def _band(window: Optional[float], length: int) -> int:
    """Sakoe-Chiba half-width in time steps: ``window`` is a fraction of the length (``None`` or
    1: unconstrained; 0: no warping, i.e. the Euclidean distance)."""
    if window is None:
        return length
    w = check_real("window", window, low=0, high=1, note="a fraction of the series length; None: no band")
    return int(round(w * length))


def dtw_distances(A: Any, B: Any, window: Optional[float] = None, max_block: int = 4_000_000) -> np.ndarray:
    """Dynamic time warping distances between every series of ``A`` ``(na, length)`` (or ``(na,
    n_channels, length)``) and of ``B`` ``(nb, ...)`` of the same length: ``(na, nb)``.

    The cost of aligning steps ``i`` and ``j`` is the squared Euclidean distance between the two
    series' values there (summed over channels: dependent multivariate DTW); the distance is the
    square root of the cheapest warping path's total cost, with steps ``(1, 0), (0, 1), (1, 1)``
    and ``|i - j| <= round(window * length)`` (Sakoe-Chiba band; ``window=0`` gives the Euclidean
    distance, ``None`` no band).

    Each row ``i`` of the dynamic programme is computed for all pairs at once: with ``a[j] =
    c[i, j] + min(D[i-1, j], D[i-1, j-1])`` and ``S`` the running sum of ``c[i, :]`` along the row,
    ``D[i, j] = min(a[j], c[i, j] + D[i, j-1]) = S[j] + min_{k <= j} (a[k] - S[k])``, one
    cumulative minimum; so the Python loop runs ``length`` times, not ``length ** 2``. Pairs are
    processed in blocks of at most ``max_block`` cells per row.
    """
    a = check_collection(A, "A")
    b = check_collection(B, "B")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"A and B must hold series of the same shape, got {a.shape[1:]} and {b.shape[1:]}")
    if a.ndim == 2:
        a, b = a[:, None, :], b[:, None, :]
    length = a.shape[-1]
    w = min(_band(window, length), length - 1)
    out = np.empty((a.shape[0], b.shape[0]))
    chunk = max(1, max_block // max(1, b.shape[0] * (2 * w + 1)))
    for start in range(0, a.shape[0], chunk):
        out[start:start + chunk] = _dtw_block(a[start:start + chunk], b, w)
    return np.sqrt(np.maximum(out, 0.0))


def _dtw_block(a: np.ndarray, b: np.ndarray, w: int) -> np.ndarray:
    """Squared DTW costs ``(na, nb)`` of ``a`` ``(na, C, L)`` against ``b`` ``(nb, C, L)`` within a
    band of half-width ``w``."""
    na, nb, length = a.shape[0], b.shape[0], a.shape[-1]
    # one row buffer, column 0 the "j = -1" sentinel (inf). Row i is written in place over row i - 1:
    # row i + 1 reads columns >= lo(i + 1) - 1 >= lo(i) - 1 (the sentinel or row i's band), so stale
    # cells left of the band are never read, and the cells right of it were never written (inf).
    prev = np.full((na, nb, length + 1), np.inf)
    for i in range(length):
        lo, hi = max(0, i - w), min(length - 1, i + w)
        diff = a[:, None, :, i, None] - b[None, :, :, lo:hi + 1]  # (na, nb, C, hi - lo + 1)
        diff *= diff
        cost = diff[:, :, 0] if diff.shape[2] == 1 else diff.sum(axis=2)  # (na, nb, hi - lo + 1)
        run = np.cumsum(cost, axis=-1)
        if i == 0:
            prev[..., 1:hi + 2] = run  # only moves along the first row: D[0, j] = sum of c[0, :j + 1]
            continue
        start = np.minimum(prev[..., lo + 1:hi + 2], prev[..., lo:hi + 1])  # up, diagonal
        start += cost
        start -= run
        prev[..., lo + 1:hi + 2] = run + np.minimum.accumulate(start, axis=-1)
    return prev[..., length]


class NearestNeighborClassifier(ClassifierMixin, BaseEstimator):
    """1-nearest-neighbour classification of series, the UCR archive's reference baselines:
    ``metric="euclidean"`` (1-NN ED) or ``"dtw"`` (1-NN DTW, Sakoe-Chiba ``window`` as a fraction
    of the length; ``None``: unconstrained). With ``normalize`` each series (channel) is
    z-normalised first. Ties go to the first training series.

    ``fit(X (n, length) or (n, C, length), y (n,))``; ``predict(X) -> (n_test,)``.
    """

    def __init__(self, metric: str = "dtw", window: Optional[float] = 0.1, normalize: bool = True) -> None:
        self.metric = metric
        self.window = window
        self.normalize = normalize

    def fit(self, X: Any, y: Any) -> "NearestNeighborClassifier":
        if self.metric not in ("euclidean", "dtw"):
            raise ValueError(f"metric must be 'euclidean' or 'dtw', got {self.metric!r}")
        if self.window is not None:
            _band(self.window, 2)
        arr = check_collection(X)
        labels = np.asarray(y)
        if labels.shape != (len(arr),):
            raise ValueError(f"y must have shape ({len(arr)},) like the series of X, got {labels.shape}")
        self.classes_, self.y_ = np.unique(labels, return_inverse=True)
        self.X_ = znormalize(arr) if self.normalize else arr
        return self

    def distances(self, X: Any) -> np.ndarray:
        """``(n_test, n_train)`` distances from each series of ``X`` to each training series."""
        check_is_fitted(self)
        arr = check_collection(X)
        if arr.shape[1:] != self.X_.shape[1:]:
            raise ValueError(f"X has series of shape {arr.shape[1:]}, the training series {self.X_.shape[1:]}")
        arr = znormalize(arr) if self.normalize else arr
        if self.metric == "euclidean":
            a, b = arr.reshape(len(arr), -1), self.X_.reshape(len(self.X_), -1)
            sq = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
            return np.sqrt(np.maximum(sq, 0.0))
        return dtw_distances(arr, self.X_, window=self.window)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.y_[np.argmin(self.distances(X), axis=1)]]


# ---------------------------------------------------------------------------------------- KAN classifier
class KANTimeSeriesClassifier(ClassifierMixin, BaseEstimator):
    """A KAN on simple series features: :class:`SeriesFeatures` (z-normalised series and first
    difference, each reduced to ``n_segments`` PAA values per channel) then
    :class:`kanlab.estimators.KANClassifier` with its defaults (standardised inputs, early stopping
    on a stratified 20% of the training series, additive KAN or one hidden layer of 16 chosen by
    the one-standard-error rule, Adam, L2 ``alpha``).

    Args:
        n_segments, derivative: see :class:`SeriesFeatures`.
        hidden_layer_sizes, grid, max_iter, alpha, random_state: passed to ``KANClassifier``.
        kan_params: any other ``KANClassifier`` arguments (a dict), e.g. ``{"lr": 0.005}``.

    ``fit(X (n, length) or (n, C, length), y (n,))``; ``predict`` ``(n_test,)``; ``predict_proba``
    ``(n_test, n_classes)``. Attributes: ``features_`` (the fitted :class:`SeriesFeatures`),
    ``classifier_`` (the fitted ``KANClassifier``; its ``model_`` is the KAN), ``classes_``.
    """

    def __init__(self, n_segments: int = 32, derivative: bool = True, hidden_layer_sizes: Any = "auto",
                 grid: Any = "auto", max_iter: int = 1000, alpha: float = 0.1, random_state: Any = None,
                 kan_params: Optional[Dict[str, Any]] = None) -> None:
        self.n_segments = n_segments
        self.derivative = derivative
        self.hidden_layer_sizes = hidden_layer_sizes
        self.grid = grid
        self.max_iter = max_iter
        self.alpha = alpha
        self.random_state = random_state
        self.kan_params = kan_params

    def fit(self, X: Any, y: Any) -> "KANTimeSeriesClassifier":
        extra = dict(self.kan_params or {})
        clash = sorted(set(extra) & {"hidden_layer_sizes", "grid", "max_iter", "alpha", "random_state"})
        if clash:
            raise ValueError(f"kan_params repeats {clash}: pass those as KANTimeSeriesClassifier arguments")
        arr = check_collection(X, min_length=2 if self.derivative else 1)
        labels = np.asarray(y)
        if labels.shape != (len(arr),):
            raise ValueError(f"y must have shape ({len(arr)},) like the series of X, got {labels.shape}")
        self.features_ = SeriesFeatures(self.n_segments, self.derivative).fit(arr)
        self.classifier_ = KANClassifier(hidden_layer_sizes=self.hidden_layer_sizes, grid=self.grid,
                                         max_iter=self.max_iter, alpha=self.alpha, random_state=self.random_state,
                                         **extra)
        self.classifier_.fit(self.features_.transform(arr), labels)
        self.classes_ = self.classifier_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classifier_.predict(self.features_.transform(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classifier_.predict_proba(self.features_.transform(X))

    def num_parameters(self) -> int:
        """The trained KAN's parameter count."""
        check_is_fitted(self)
        return int(self.classifier_.model_.num_parameters())


# ---------------------------------------------------------------------------------------- forecasting
def check_series(series: Any, name: str = "series") -> np.ndarray:
    """One finite series as float64 ``(length,)`` (a ``(length, 1)`` column is accepted)."""
    arr = np.asarray(series, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one series of shape (length,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf (first at index {int(np.argmax(~np.isfinite(arr)))}); "
                         f"interpolate the gaps first")
    return arr


def make_windows(series: Any, lags: int, horizon: int = 1, stride: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Supervised pairs from one series: ``X`` ``(n_windows, lags)`` and ``Y`` ``(n_windows, horizon)``
    with ``X[w] = series[s : s + lags]`` and ``Y[w] = series[s + lags : s + lags + horizon]``
    for ``s = w * stride``; ``n_windows = (len(series) - lags - horizon) // stride + 1``.
    The series must hold at least ``lags + horizon`` finite values."""
    lags = check_int("lags", lags, low=1)
    horizon = check_int("horizon", horizon, low=1)
    stride = check_int("stride", stride, low=1)
    y = check_series(series)
    if len(y) < lags + horizon:
        raise ValueError(f"series of length {len(y)} is too short for lags={lags} and horizon={horizon}: it needs at "
                         f"least lags + horizon = {lags + horizon} values")
    n_windows = (len(y) - lags - horizon) // stride + 1
    starts = np.arange(n_windows) * stride
    X = y[starts[:, None] + np.arange(lags)]
    Y = y[starts[:, None] + lags + np.arange(horizon)]
    return X, Y


class WindowForecaster(RegressorMixin, BaseEstimator):
    """A recursive multi-step forecaster around any scikit-learn regressor: the regressor learns
    the next value from the ``lags`` values before it (:func:`make_windows`), and a forecast of
    ``steps`` values feeds each prediction back as the newest lag.

    ``fit(series (length,))`` (at least ``lags + 1`` values); ``forecast(steps, history=None)``:
    from ``history`` ``(m,)`` or ``(n_origins, m)`` with ``m >= lags`` (default: the end of the
    training series) -> ``(steps,)`` or ``(n_origins, steps)``; ``predict(X (n, lags)) -> (n,)``
    is the one-step model on given windows.
    """

    def __init__(self, regressor: Any = None, lags: int = 24) -> None:
        self.regressor = regressor
        self.lags = lags

    def _make_regressor(self) -> Any:
        if self.regressor is None:
            raise ValueError("regressor must be a scikit-learn regressor (e.g. KANRegressor()), got None")
        return clone(self.regressor)

    def fit(self, series: Any, y: Any = None) -> "WindowForecaster":
        """Learn the one-step model on every window of ``series`` ``(length,)``. ``y`` is ignored
        (scikit-learn's signature)."""
        lags = check_int("lags", self.lags, low=1)
        X, Y = make_windows(series, lags, horizon=1)
        self.regressor_ = self._make_regressor().fit(X, Y[:, 0])
        self.last_window_ = check_series(series)[-lags:].copy()
        return self

    def predict(self, X: Any) -> np.ndarray:
        """One-step predictions ``(n,)`` for windows ``X`` ``(n, lags)`` (oldest value first)."""
        check_is_fitted(self)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.lags:
            raise ValueError(f"X must have shape (n_windows, lags={self.lags}), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("X contains NaN or Inf")
        return np.asarray(self.regressor_.predict(arr), dtype=np.float64).reshape(len(arr))

    def forecast(self, steps: int, history: Any = None) -> np.ndarray:
        """The next ``steps`` values after ``history`` (``(m,)`` or ``(n_origins, m)``, ``m >=
        lags``; only its last ``lags`` values are used; default: the training series), each
        step's prediction fed back as an input: ``(steps,)`` or ``(n_origins, steps)``."""
        check_is_fitted(self)
        steps = check_int("steps", steps, low=1)
        if history is None:
            hist = self.last_window_[None, :]
            single = True
        else:
            hist = np.asarray(history, dtype=np.float64)
            single = hist.ndim == 1
            hist = hist[None, :] if single else hist
            if hist.ndim != 2:
                raise ValueError(f"history must have shape (m,) or (n_origins, m), got {np.shape(history)}")
            if hist.shape[1] < self.lags:
                raise ValueError(f"history holds {hist.shape[1]} values per origin; the model needs the last "
                                 f"lags={self.lags}")
            if not np.all(np.isfinite(hist)):
                raise ValueError("history contains NaN or Inf")
        window = hist[:, -self.lags:].copy()
        out = np.empty((len(window), steps))
        for s in range(steps):
            out[:, s] = self.predict(window)
            window = np.concatenate([window[:, 1:], out[:, s:s + 1]], axis=1)
        return out[0] if single else out


class KANForecaster(WindowForecaster):
    """:class:`WindowForecaster` with a :class:`kanlab.estimators.KANRegressor` as the one-step
    model (standardised lags and target, early stopping on a held-out 20% of the windows, additive
    KAN or one hidden layer chosen by validation loss). ``kan_params``: other ``KANRegressor``
    arguments. Attribute ``regressor_`` is the fitted ``KANRegressor``.
    """

    def __init__(self, lags: int = 24, hidden_layer_sizes: Any = "auto", grid: Any = "auto", max_iter: int = 1000,
                 alpha: float = 0.1, random_state: Any = None, kan_params: Optional[Dict[str, Any]] = None) -> None:
        self.lags = lags
        self.hidden_layer_sizes = hidden_layer_sizes
        self.grid = grid
        self.max_iter = max_iter
        self.alpha = alpha
        self.random_state = random_state
        self.kan_params = kan_params

    def _make_regressor(self) -> Any:
        extra = dict(self.kan_params or {})
        clash = sorted(set(extra) & {"hidden_layer_sizes", "grid", "max_iter", "alpha", "random_state"})
        if clash:
            raise ValueError(f"kan_params repeats {clash}: pass those as KANForecaster arguments")
        return KANRegressor(hidden_layer_sizes=self.hidden_layer_sizes, grid=self.grid, max_iter=self.max_iter,
                            alpha=self.alpha, random_state=self.random_state, **extra)
