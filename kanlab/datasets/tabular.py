"""Classification datasets as plain numpy splits: one entry point, :func:`load_tabular`.

``load_tabular(name, folder=None, seed=0) -> (X_train, y_train, X_test, y_test)`` with features
float32 ``(n, d)`` and labels int64 ``(n,)`` in ``0 .. n_classes - 1``. Features are returned
unscaled; :func:`standardize` scales both splits with the training split's statistics.

- ``poker``: generated hands (:mod:`kanlab.datasets.poker`), UCI encoding; 25010 / 100000; 10
  features (suits and ranks as numbers), 10 classes.
- ``adult``: ``adult/adult.data`` and ``adult/adult.test`` (UCI's split); 32561 / 16281; 105
  features (encoding below), 2 classes.
- ``magic``: ``magic/magic04.data``, seeded stratified 80/20 split; 15216 / 3804; 10 features, 2.
- ``breast_cancer``: scikit-learn's bundled copy, seeded stratified 80/20; 456 / 113; 30, 2.
- ``digits``: scikit-learn's bundled 8x8 digits, seeded stratified 80/20; 1438 / 359; 64, 10.
- ``mnist`` / ``fashion-mnist``: ``<name>/*-ubyte.gz`` (official split); 60000 / 10000; 784 pixels
  in [0, 1], 10 classes.

Files come from the data folder (:func:`kanlab.datasets.data_folder`: the ``folder`` argument,
``KANLAB_DATA`` or ``../shared/data``); nothing is downloaded. ``seed`` fixes the random splits
(magic, breast_cancer, digits) and the generated poker hands; the official splits ignore it.

Adult encoding: the six numeric columns (age, fnlwgt, education-num, capital-gain, capital-loss,
hours-per-week) as they are, then the eight categorical columns one-hot, with the categories seen in
``adult.data`` (sorted). A missing value ('?') and a category absent from ``adult.data`` encode as
all zeros in that column's block. Label 1 is income ``>50K`` (the test file's trailing '.' is
dropped). MAGIC: label 0 is gamma (``g``), 1 hadron (``h``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ..preprocessing import Standardizer
from .core import data_folder, load_mnist, need_file
from .poker import poker_split

__all__ = ["TABULAR_DATASETS", "load_tabular", "standardize", "ADULT_COLUMNS"]

TABULAR_DATASETS = ("poker", "adult", "magic", "breast_cancer", "digits", "mnist", "fashion-mnist")

Split = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
PathLike = Union[str, os.PathLike]

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
)
_ADULT_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")


def load_tabular(name: str, folder: Optional[PathLike] = None, seed: int = 0) -> Split:
    """``(X_train, y_train, X_test, y_test)`` for one of :data:`TABULAR_DATASETS` (see the module
    docstring for sources, splits and encodings). Features float32 ``(n, d)``, labels int64 ``(n,)``."""
    key = name.lower() if isinstance(name, str) else name
    if key not in TABULAR_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; accepted names: {', '.join(TABULAR_DATASETS)}")
    if key == "poker":
        X_train, y_train, X_test, y_test = poker_split(seed=seed)
        return _typed(X_train, y_train, X_test, y_test)
    if key == "adult":
        return _load_adult(folder)
    if key == "magic":
        X, y = _load_magic(folder)
        return _typed(*_stratified_split(X, y, 0.2, seed))
    if key in ("breast_cancer", "digits"):
        try:
            from sklearn import datasets as skd
        except ImportError as err:
            raise ModuleNotFoundError(f"the {key} dataset ships with scikit-learn, which is not installed: "
                                      "pip install 'kanlab[sklearn]' (or scikit-learn)") from err
        bunch = skd.load_breast_cancer() if key == "breast_cancer" else skd.load_digits()
        return _typed(*_stratified_split(bunch.data, bunch.target, 0.2, seed))
    return _load_idx_images(folder, key)


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Scale both splits to the training split's zero mean and unit variance (constant columns are
    only centred). Returns float32 copies."""
    scaler = Standardizer(X_train)  # population std, statistics in float64
    return (scaler.transform(X_train).astype(np.float32, copy=False),
            scaler.transform(X_test).astype(np.float32, copy=False))


# ---------------------------------------------------------------------------------------- helpers
def _typed(X_train, y_train, X_test, y_test) -> Split:
    return (np.ascontiguousarray(X_train, dtype=np.float32), np.asarray(y_train, dtype=np.int64),
            np.ascontiguousarray(X_test, dtype=np.float32), np.asarray(y_test, dtype=np.int64))


def _stratified_split(X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Split:
    """A seeded split keeping each class's share: ``round(test_fraction * count)`` rows per class
    go to the test split; both splits keep the rows' original order."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        test[rng.permutation(rows)[: int(round(test_fraction * rows.size))]] = True
    return X[~test], y[~test], X[test], y[test]


def _adult_rows(path: Path) -> List[List[str]]:
    rows = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("|"):  # blank lines and adult.test's first-line comment
                continue
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != len(ADULT_COLUMNS) + 1:
                raise ValueError(f"{path}: expected {len(ADULT_COLUMNS) + 1} fields, got {len(fields)} in {line[:60]!r}")
            rows.append(fields)
    return rows


def _load_adult(folder: Optional[PathLike]) -> Split:
    root = data_folder(folder) / "adult"
    what = "UCI Adult (adult.data and adult.test)"
    train = _adult_rows(need_file(root / "adult.data", what))
    test = _adult_rows(need_file(root / "adult.test", what))
    categorical = [i for i, c in enumerate(ADULT_COLUMNS) if c not in _ADULT_NUMERIC]
    numeric = [ADULT_COLUMNS.index(c) for c in _ADULT_NUMERIC]
    categories: Dict[int, List[str]] = {
        i: sorted({r[i] for r in train} - {"?"}) for i in categorical
    }

    def encode(rows: List[List[str]]) -> Tuple[np.ndarray, np.ndarray]:
        blocks = [np.array([[float(r[i]) for i in numeric] for r in rows], dtype=np.float64)]
        for i in categorical:
            index = {c: j for j, c in enumerate(categories[i])}
            block = np.zeros((len(rows), len(index)))
            for n, r in enumerate(rows):
                j = index.get(r[i])
                if j is not None:
                    block[n, j] = 1.0
            blocks.append(block)
        labels = [r[-1].rstrip(".") for r in rows]
        unknown = set(labels) - {"<=50K", ">50K"}
        if unknown:
            raise ValueError(f"Adult: unexpected income labels {sorted(unknown)}")
        return np.concatenate(blocks, axis=1), np.array([lab == ">50K" for lab in labels], dtype=np.int64)

    return _typed(*encode(train), *encode(test))


def _load_magic(folder: Optional[PathLike]) -> Tuple[np.ndarray, np.ndarray]:
    path = need_file(data_folder(folder) / "magic" / "magic04.data", "UCI MAGIC Gamma Telescope (magic04.data)")
    raw = np.loadtxt(path, delimiter=",", dtype=str)
    if raw.ndim != 2 or raw.shape[1] != 11:
        raise ValueError(f"{path}: expected 10 features and a class column, got shape {raw.shape}")
    classes = raw[:, -1]
    if not np.all((classes == "g") | (classes == "h")):
        raise ValueError(f"{path}: class column must hold 'g' or 'h', found {sorted(set(classes) - {'g', 'h'})}")
    return raw[:, :-1].astype(np.float64), (classes == "h").astype(np.int64)


def _load_idx_images(folder: Optional[PathLike], name: str) -> Split:
    X_train, y_train, X_test, y_test = (t.numpy() for t in load_mnist(folder, name))
    return _typed(X_train.reshape(len(X_train), -1), y_train, X_test.reshape(len(X_test), -1), y_test)
