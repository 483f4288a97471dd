"""Poker Hand (UCI encoding): an exact, vectorised generator and labeller.

A hand is 5 cards, each ``(suit, rank)`` with suit 1-4 and rank 1-13 (1 = ace), laid out as UCI's
10 columns ``S1, R1, ..., S5, R5`` in the order the cards were dealt. Classes 0-9:

0 nothing, 1 one pair, 2 two pairs, 3 three of a kind, 4 straight, 5 flush, 6 full house,
7 four of a kind, 8 straight flush, 9 royal flush.

A straight is five consecutive ranks; the ace plays low (A-2-3-4-5) or high (10-J-Q-K-A). A royal
flush is the flush 10-J-Q-K-A; the other straight flushes (A-2-3-4-5 included) are class 8. Over all
2,598,960 hands the class counts are 1302540, 1098240, 123552, 54912, 10200, 5108, 3744, 624, 36, 4
(:func:`poker_all_hands` enumerates them; the tests check the counts).
"""
from __future__ import annotations

from typing import Dict, Tuple, Union

import numpy as np
import torch

from ..validation import check_int

__all__ = ["POKER_CLASSES", "poker_label", "poker_hands", "poker_all_hands", "poker_dataset"]

POKER_CLASSES = (
    "nothing", "one pair", "two pairs", "three of a kind", "straight", "flush", "full house",
    "four of a kind", "straight flush", "royal flush",
)

_ROYAL_MASK = (1 << 1) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13)  # ranks A, 10, J, Q, K


def _check_hands(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 10:
        raise ValueError(f"hands must have shape (n, 10) (S1, R1, ..., S5, R5), got {X.shape}")
    if X.size and not np.all(X == np.round(X)):
        raise ValueError("hands must hold integer suits and ranks")
    X = X.astype(np.int64)
    suits, ranks = X[:, 0::2], X[:, 1::2]
    if X.size and (suits.min() < 1 or suits.max() > 4 or ranks.min() < 1 or ranks.max() > 13):
        raise ValueError("suits must lie in 1..4 and ranks in 1..13")
    cards = (suits - 1) * 13 + (ranks - 1)
    cards.sort(axis=1)
    if X.size and np.any(cards[:, 1:] == cards[:, :-1]):
        raise ValueError("a hand holds the same card twice; the 5 cards of a hand must differ")
    return X


def poker_label(X: np.ndarray) -> np.ndarray:
    """Class 0-9 of each hand. ``X``: ``(n, 10)`` ints ``S1, R1, ..., S5, R5``; returns ``(n,)`` int64."""
    X = _check_hands(X)
    suits, ranks = X[:, 0::2], X[:, 1::2]
    n = X.shape[0]
    # how many cards of each rank: (n, 14), column 0 unused
    counts = np.bincount((np.arange(n)[:, None] * 14 + ranks).ravel(), minlength=n * 14).reshape(n, 14)
    most = counts.max(axis=1)  # largest multiplicity of a rank
    multi = (counts >= 2).sum(axis=1)  # how many ranks appear at least twice
    distinct = most == 1
    flush = np.all(suits == suits[:, :1], axis=1)
    rank_bits = np.bitwise_or.reduce(np.left_shift(1, ranks), axis=1)
    royal_ranks = rank_bits == _ROYAL_MASK
    straight = distinct & ((ranks.max(axis=1) - ranks.min(axis=1) == 4) | royal_ranks)

    y = np.zeros(n, dtype=np.int64)
    # assigned from weakest to strongest: a later rule overrides an earlier one
    y[most == 2] = 1
    y[(most == 2) & (multi == 2)] = 2
    y[most == 3] = 3
    y[straight] = 4
    y[flush] = 5
    y[(most == 3) & (multi == 2)] = 6
    y[most == 4] = 7
    y[straight & flush] = 8
    y[straight & flush & royal_ranks] = 9
    return y


def _cards_to_hands(cards: np.ndarray) -> np.ndarray:
    """Cards numbered 0-51 ``(n, 5)`` -> UCI layout ``(n, 10)`` (suit = card // 13 + 1, rank = card % 13 + 1)."""
    X = np.empty((cards.shape[0], 10), dtype=np.int64)
    X[:, 0::2] = cards // 13 + 1
    X[:, 1::2] = cards % 13 + 1
    return X


def poker_hands(n: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` uniformly random hands (5 distinct cards, in dealt order) and their labels.

    Returns ``X`` ``(n, 10)`` int64 (``S1, R1, ..., S5, R5``) and ``y`` ``(n,)`` int64 in 0-9.
    Deterministic in ``seed`` (a private numpy generator; global RNG state is untouched).
    """
    n = check_int("n", n, low=0)
    rng = np.random.default_rng(seed)
    cards = rng.integers(0, 52, size=(n, 5))
    while True:  # redraw the hands that hold a card twice (about 18% per round)
        ordered = np.sort(cards, axis=1)
        bad = np.flatnonzero(np.any(ordered[:, 1:] == ordered[:, :-1], axis=1))
        if bad.size == 0:
            break
        cards[bad] = rng.integers(0, 52, size=(bad.size, 5))
    X = _cards_to_hands(cards)
    return X, poker_label(X)


def poker_all_hands() -> np.ndarray:
    """All C(52, 5) = 2,598,960 hands (cards in increasing order) as ``(2598960, 10)`` int64."""
    combos = np.arange(52, dtype=np.int64)[:, None]
    for _ in range(4):  # extend every partial hand by each larger card
        last = combos[:, -1]
        extra = 51 - last
        rows = np.repeat(combos, extra, axis=0)
        # the appended card runs last+1 .. 51 within each group of repeated rows
        starts = np.cumsum(extra) - extra
        offset = np.arange(rows.shape[0]) - np.repeat(starts, extra)
        combos = np.concatenate([rows, (np.repeat(last, extra) + 1 + offset)[:, None]], axis=1)
    return _cards_to_hands(combos)


UCI_TRAIN, UCI_TEST = 25010, 100000  # split sizes (UCI's test file has 1,000,000 hands)


def poker_split(train_num: int = UCI_TRAIN, test_num: int = UCI_TEST,
                seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``: independent random hands for each split (numpy)."""
    X_train, y_train = poker_hands(train_num, seed=seed)
    X_test, y_test = poker_hands(test_num, seed=seed + 1_000_003)
    return X_train, y_train, X_test, y_test


def poker_dataset(
    train_num: int = UCI_TRAIN,
    test_num: int = UCI_TEST,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dict[str, torch.Tensor]:
    """Random Poker Hand splits in pykan's format (UCI's sizes by default: 25,010 training hands).

    ``train_input``/``test_input``: ``(n, 10)`` raw suits and ranks in ``dtype`` (not scaled);
    ``train_label``/``test_label``: ``(n,)`` int64 classes, ready for ``nn.CrossEntropyLoss``.
    Both splits are uniformly random; UCI's training file instead oversamples the rare classes
    (5 straight flushes and 5 royal flushes in 25,010 rows), so the rarest classes are usually
    absent from a random training set of that size.
    """
    X_train, y_train, X_test, y_test = poker_split(train_num, test_num, seed)
    out = {
        "train_input": torch.as_tensor(X_train, dtype=dtype), "train_label": torch.as_tensor(y_train),
        "test_input": torch.as_tensor(X_test, dtype=dtype), "test_label": torch.as_tensor(y_test),
    }
    return {k: v.to(device) for k, v in out.items()}
