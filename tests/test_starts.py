"""kanlab.starts and fit(starts=...): the sign patterns, the choice, and fit's bookkeeping."""
import math

import pytest
import torch

from kanlab import KAN, create_dataset
from kanlab.starts import NARROW_FAN_IN, choose_start, start_patterns, walsh_signs
from kanlab import train


def xy_dataset():
    return create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=200, test_num=200, seed=0)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_walsh_signs_are_a_hadamard_matrix(n: int) -> None:
    h = walsh_signs(n, n, dtype=torch.float64)
    assert torch.equal(h.abs(), torch.ones(n, n)) and torch.equal(h[0], torch.ones(n, dtype=torch.float64))
    assert torch.equal(h @ h.T, n * torch.eye(n, dtype=torch.float64))  # rows orthogonal


def test_walsh_signs_of_other_shapes_repeat_rows_past_the_power_of_two() -> None:
    h = walsh_signs(5, 3)
    assert h.shape == (5, 3) and torch.equal(h[4], h[0]) and torch.equal(h[1], torch.tensor([1, -1, 1]))


def test_patterns_cover_narrow_layers_only_and_drop_duplicates() -> None:
    names = lambda width, **kw: list(start_patterns(KAN(width, seed=0, **kw)))  # noqa: E731
    assert names([2, 2, 1]) == ["as built", "equal", "walsh"]
    assert names([2, 1, 1]) == ["as built", "equal"]  # a one-row Walsh pattern is all positive
    assert names([2, 1, 1], base_fun="zero") == ["as built"]  # no base term to orient
    wide = start_patterns(KAN([NARROW_FAN_IN + 1, 3, 1], seed=0))
    assert wide["equal"][0] is None and torch.equal(wide["equal"][1], torch.ones(1, 3) / math.sqrt(3))
    walsh = start_patterns(KAN([4, 4, 1], seed=0))["walsh"][0]
    assert torch.equal(walsh, walsh_signs(4, 4, dtype=walsh.dtype) / 2)


def test_choose_start_keeps_the_lowest_loss_in_its_trained_state() -> None:
    model = KAN([2, 2, 1], seed=0)
    trained = {}

    def train() -> float:  # "training" shifts the coefficients; the loss prefers negative base weights
        with torch.no_grad():
            model.layers[0].coef.add_(1.0)
        loss = float(model.layers[0].scale_base.detach().sum())
        trained[loss] = {k: v.clone() for k, v in model.state_dict().items()}
        return loss

    losses, winner = choose_start(model, train)
    assert list(losses) == ["as built", "equal", "walsh"]
    assert winner == min(losses, key=losses.get)
    best = trained[losses[winner]]
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    assert torch.equal(model.layers[0].coef, KAN([2, 2, 1], seed=0).layers[0].coef + 1)  # trained once, not thrice


def test_choose_start_never_picks_nan_and_keeps_the_first_on_ties() -> None:
    model = KAN([2, 2, 1], seed=0)
    values = iter([math.nan, 1.0, 1.0])
    losses, winner = choose_start(model, lambda: next(values))
    assert winner == "equal" and math.isnan(losses["as built"])
    assert torch.equal(model.layers[0].scale_base, torch.ones(2, 2) / math.sqrt(2))
    values = iter([2.0, 2.0, 2.0])
    assert choose_start(KAN([2, 2, 1], seed=0), lambda: next(values))[1] == "as built"


@pytest.fixture
def short_starts(monkeypatch) -> int:
    """Starts trained 3 steps instead of train.START_STEPS, to keep these tests quick."""
    monkeypatch.setattr(train, "START_STEPS", 3)
    return 3


def test_fit_continues_the_winner_exactly(short_starts: int) -> None:
    """fit(starts=True) = the winning start trained START_STEPS steps, then the rest, as two plain fits."""
    dataset = xy_dataset()
    kw = dict(opt="LBFGS", update_grid=False, progress=False)
    model = KAN([2, 2, 1], grid=3, seed=1)
    history = model.fit(dataset, steps=short_starts + 5, starts=True, **kw)
    winner = min(model.start_losses, key=model.start_losses.get)
    assert len(history["train_loss"]) == len(history["test_loss"]) == short_starts + 5
    again = KAN([2, 2, 1], grid=3, seed=1)
    weights = start_patterns(again)[winner]
    with torch.no_grad():
        for layer, w in zip(again.layers, weights):
            if w is not None:
                layer.scale_base.copy_(w)
    first = again.fit(dataset, steps=short_starts, starts=False, **kw)
    rest = again.fit(dataset, steps=5, starts=False, **kw)
    assert history["train_loss"] == first["train_loss"] + rest["train_loss"]
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_auto_tries_starts_on_a_new_model_s_first_lbfgs_fit_only(short_starts: int) -> None:
    dataset = xy_dataset()
    model = KAN([2, 2, 1], grid=3, seed=0)
    assert model.fresh
    model.fit(dataset, steps=2 * short_starts, progress=False)
    assert list(model.start_losses) == ["as built", "equal", "walsh"] and not model.fresh
    model.start_losses = None
    model.fit(dataset, steps=2 * short_starts, progress=False)
    assert model.start_losses is None  # trained: its start is chosen
    short, adam, off = (KAN([2, 2, 1], grid=3, seed=0) for _ in range(3))
    short.fit(dataset, steps=2 * short_starts - 1, progress=False)
    adam.fit(dataset, opt="Adam", steps=2 * short_starts, progress=False)
    off.fit(dataset, steps=2 * short_starts, starts=False, progress=False)
    assert not any(hasattr(m, "start_losses") for m in (short, adam, off))
    loaded = KAN([2, 2, 1], grid=3, seed=1)
    loaded.load_state_dict(model.state_dict())
    assert not loaded.fresh
    with pytest.raises(ValueError, match="starts must be"):
        model.fit(dataset, steps=2, starts="always")
