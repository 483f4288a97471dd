"""The Poker Hand generator and labeller (UCI encoding, classes 0-9)."""
import numpy as np
import pytest
import torch

from kanlab.datasets import POKER_CLASSES, poker_all_hands, poker_dataset, poker_hands, poker_label


def hand(*cards):
    """``hand((suit, rank), ...)`` -> one UCI row ``(1, 10)``."""
    return np.array([[v for card in cards for v in card]])


def test_all_hands_reproduce_the_exact_class_counts() -> None:
    X = poker_all_hands()
    assert X.shape == (2598960, 10)
    cards = np.sort((X[:, 0::2] - 1) * 13 + X[:, 1::2] - 1, axis=1)
    assert np.all(np.diff(cards, axis=1) > 0)  # five distinct cards per hand
    # every hand appears once: the sorted card tuples, packed into one integer, strictly increase
    key = (((cards[:, 0] * 52 + cards[:, 1]) * 52 + cards[:, 2]) * 52 + cards[:, 3]) * 52 + cards[:, 4]
    assert np.all(np.diff(key) > 0)
    counts = np.bincount(poker_label(X), minlength=10)
    assert counts.tolist() == [1302540, 1098240, 123552, 54912, 10200, 5108, 3744, 624, 36, 4]


@pytest.mark.parametrize(
    "cards, label",
    [
        (((1, 1), (2, 3), (3, 5), (4, 7), (1, 9)), 0),
        (((1, 12), (2, 13), (3, 1), (4, 2), (1, 3)), 0),  # Q-K-A-2-3 does not wrap around
        (((1, 5), (2, 5), (3, 9), (4, 11), (1, 2)), 1),
        (((1, 5), (2, 5), (3, 9), (4, 9), (1, 2)), 2),
        (((1, 5), (2, 5), (3, 5), (4, 9), (1, 2)), 3),
        (((1, 2), (2, 6), (3, 3), (4, 5), (1, 4)), 4),  # straight dealt out of order
        (((1, 1), (2, 2), (3, 3), (4, 4), (1, 5)), 4),  # ace low
        (((1, 10), (2, 11), (3, 12), (4, 13), (1, 1)), 4),  # ace high
        (((3, 1), (3, 4), (3, 7), (3, 9), (3, 13)), 5),
        (((1, 8), (2, 8), (3, 8), (4, 3), (1, 3)), 6),
        (((1, 8), (2, 8), (3, 8), (4, 8), (1, 3)), 7),
        (((2, 9), (2, 5), (2, 7), (2, 6), (2, 8)), 8),
        (((4, 1), (4, 2), (4, 3), (4, 4), (4, 5)), 8),  # ace-low straight flush is not royal
        (((4, 13), (4, 1), (4, 11), (4, 10), (4, 12)), 9),
    ],
)
def test_known_hands(cards, label) -> None:
    assert poker_label(hand(*cards)).tolist() == [label]
    assert POKER_CLASSES[label]


def test_label_does_not_depend_on_card_order() -> None:
    X, y = poker_hands(2000, seed=5)
    rng = np.random.default_rng(0)
    perm = rng.permutation(5)
    shuffled = X.reshape(-1, 5, 2)[:, perm].reshape(-1, 10)
    assert np.array_equal(poker_label(shuffled), y)


def test_random_hands_shape_seed_and_frequencies() -> None:
    X, y = poker_hands(200000, seed=1)
    assert X.shape == (200000, 10) and y.shape == (200000,) and X.dtype == np.int64 and y.dtype == np.int64
    assert X[:, 0::2].min() == 1 and X[:, 0::2].max() == 4 and X[:, 1::2].min() == 1 and X[:, 1::2].max() == 13
    cards = np.sort((X[:, 0::2] - 1) * 13 + X[:, 1::2] - 1, axis=1)
    assert np.all(np.diff(cards, axis=1) > 0)
    # uniform hands: class frequencies match the exact probabilities within sampling noise
    exact = np.array([1302540, 1098240, 123552, 54912, 10200, 5108]) / 2598960
    freq = np.bincount(y, minlength=10)[:6] / len(y)
    assert np.all(np.abs(freq - exact) < 5 * np.sqrt(exact / len(y)) + 1e-4)
    # each card position is uniform over the 52 cards (dealt order kept, no sorting)
    first = np.bincount((X[:, 0] - 1) * 13 + X[:, 1] - 1, minlength=52) / len(y)
    assert np.abs(first - 1 / 52).max() < 0.003
    again, _ = poker_hands(200000, seed=1)
    other, _ = poker_hands(200000, seed=2)
    assert np.array_equal(X, again) and not np.array_equal(X, other)


def test_poker_dataset_format() -> None:
    d = poker_dataset(train_num=300, test_num=200, seed=3)
    assert d["train_input"].shape == (300, 10) and d["train_input"].dtype == torch.float32
    assert d["test_label"].shape == (200,) and d["test_label"].dtype == torch.int64
    assert torch.equal(torch.as_tensor(poker_label(d["train_input"].numpy())), d["train_label"])
    assert not torch.equal(d["train_input"][:200], d["test_input"])


@pytest.mark.parametrize(
    "X, match",
    [
        (np.ones((3, 9)), "shape"),
        (hand((0, 1), (2, 2), (3, 3), (4, 4), (1, 5)), "suits"),
        (hand((1, 14), (2, 2), (3, 3), (4, 4), (1, 5)), "ranks"),
        (hand((1, 2), (1, 2), (3, 3), (4, 4), (1, 5)), "twice"),
        (np.full((1, 10), 1.5), "integer"),
    ],
)
def test_invalid_hands(X, match) -> None:
    with pytest.raises(ValueError, match=match):
        poker_label(X)
    with pytest.raises(ValueError, match="non-negative"):
        poker_hands(-1)


def test_load_tabular_and_poker_dataset_share_the_split():
    from kanlab.datasets import load_tabular, poker_dataset

    X_train, y_train, X_test, y_test = load_tabular("poker", seed=4)
    ds = poker_dataset(seed=4)
    assert X_train.shape == (25010, 10) and X_test.shape == (100000, 10)
    assert np.array_equal(X_train, ds["train_input"].numpy()) and np.array_equal(y_test, ds["test_label"].numpy())
