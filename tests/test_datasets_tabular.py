"""load_tabular: the classification datasets as numpy splits."""
import os
from pathlib import Path

import numpy as np
import pytest

from kanlab.datasets import TABULAR_DATASETS, data_folder, load_tabular, poker_label, standardize


def shared_data():
    try:
        return data_folder()
    except FileNotFoundError:
        return None


DATA = shared_data()
needs_data = pytest.mark.skipif(DATA is None, reason="no data folder (KANLAB_DATA or ../shared/data) on this machine")


def check_split(split, d, classes):
    X_train, y_train, X_test, y_test = split
    assert X_train.dtype == X_test.dtype == np.float32 and y_train.dtype == y_test.dtype == np.int64
    assert X_train.shape[1] == X_test.shape[1] == d and len(y_train) == len(X_train) and len(y_test) == len(X_test)
    assert np.isfinite(X_train).all() and np.isfinite(X_test).all()
    assert set(np.unique(y_train)) <= set(range(classes)) and set(np.unique(y_test)) <= set(range(classes))


def test_names_and_unknown_name() -> None:
    assert TABULAR_DATASETS == ("poker", "adult", "magic", "breast_cancer", "digits", "mnist", "fashion-mnist")
    with pytest.raises(ValueError, match="accepted names: poker, adult"):
        load_tabular("iris")


def test_poker_split_is_labelled_and_seeded() -> None:
    split = load_tabular("poker", seed=4)
    check_split(split, 10, 10)
    assert len(split[0]) == 25010 and len(split[2]) == 100000
    assert np.array_equal(poker_label(split[0].astype(np.int64)), split[1])
    assert np.array_equal(load_tabular("poker", seed=4)[0], split[0])
    assert not np.array_equal(load_tabular("poker", seed=5)[0], split[0])


@pytest.mark.parametrize("name, n, d, classes", [("breast_cancer", 569, 30, 2), ("digits", 1797, 64, 10)])
def test_sklearn_splits_stratified_and_disjoint(name, n, d, classes) -> None:
    split = load_tabular(name, seed=1)
    check_split(split, d, classes)
    X_train, y_train, X_test, y_test = split
    assert len(X_train) + len(X_test) == n and abs(len(X_test) / n - 0.2) < 0.01
    share = np.bincount(y_train, minlength=classes) / len(y_train) - np.bincount(y_test, minlength=classes) / len(y_test)
    assert np.abs(share).max() < 0.02
    rows = {r.tobytes() for r in X_train}
    assert not any(r.tobytes() in rows for r in X_test)
    assert not np.array_equal(load_tabular(name, seed=2)[2], X_test)


def test_standardize_uses_training_statistics() -> None:
    a = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    b = np.array([[5.0, 6.0]], dtype=np.float32)
    sa, sb = standardize(a, b)
    np.testing.assert_allclose(sa, [[-1, 0], [1, 0]])
    np.testing.assert_allclose(sb, [[3, 1]])


def test_missing_folder_and_files(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_tabular("adult", folder=tmp_path / "nowhere")
    monkeypatch.setenv("KANLAB_DATA", str(tmp_path))
    for name, file in (("adult", "adult.data"), ("magic", "magic04.data"), ("mnist", "train-images"),
                       ("fashion-mnist", "train-images")):
        with pytest.raises(FileNotFoundError, match=f"{file}.*never downloads"):
            load_tabular(name)


def test_adult_parsing_on_a_small_copy(tmp_path: Path) -> None:
    row = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, {c}, {y}"
    (tmp_path / "adult").mkdir()
    (tmp_path / "adult" / "adult.data").write_text(
        "\n".join([row.format(c="United-States", y="<=50K"), row.format(c="Cuba", y=">50K")]) + "\n\n")
    (tmp_path / "adult" / "adult.test").write_text(
        "|1x3 Cross validator\n" + "\n".join([row.format(c="?", y=">50K."), row.format(c="Peru", y="<=50K.")]) + "\n")
    X_train, y_train, X_test, y_test = load_tabular("adult", folder=tmp_path)
    assert y_train.tolist() == [0, 1] and y_test.tolist() == [1, 0]
    assert X_train.shape == (2, 6 + 7 + 2)  # numeric, 7 one-category blocks, country has 2
    np.testing.assert_array_equal(X_train[:, :6], [[39, 77516, 13, 2174, 0, 40]] * 2)
    np.testing.assert_array_equal(X_train[:, -2:], [[0, 1], [1, 0]])  # sorted: Cuba, United-States
    np.testing.assert_array_equal(X_test[:, -2:], [[0, 0], [0, 0]])  # '?' and unseen 'Peru'


@needs_data
def test_adult_and_magic_real_files() -> None:
    X_train, y_train, X_test, y_test = split = load_tabular("adult")
    check_split(split, X_train.shape[1], 2)
    assert len(X_train) == 32561 and len(X_test) == 16281
    assert y_train.sum() == 7841 and y_test.sum() == 3846  # >50K rows in UCI's files
    assert np.all(X_train[:, 6:].sum(1) <= 8) and np.all(np.isin(X_train[:, 6:], (0, 1)))
    magic = load_tabular("magic", seed=0)
    check_split(magic, 10, 2)
    assert len(magic[0]) + len(magic[2]) == 19020 and len(magic[2]) == 3804
    assert magic[1].sum() + magic[3].sum() == 6688  # hadron rows (class h)


@needs_data
@pytest.mark.skipif(not os.path.isdir(str(DATA or "") + "/fashion-mnist"), reason="no fashion-mnist folder")
def test_image_sets() -> None:
    for name in ("mnist", "fashion-mnist"):
        split = load_tabular(name)
        check_split(split, 784, 10)
        assert len(split[0]) == 60000 and len(split[2]) == 10000
        assert split[0].min() == 0 and split[0].max() == 1
