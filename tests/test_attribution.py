"""pykan's node_attribute and feature_interaction (kanlab.attribution), checked against pykan on
models whose weights are copied from pykan's, and on models whose structure fixes the answer."""
import pytest
import torch

from kanlab import KAN
from kanlab import attribution


def _x(n: int, rows: int = 200, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return (torch.rand(rows, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1).to(dtype)


def _pykan_pair(width, masks=()):
    """A pykan model with large enough activations (node spreads ~0.5, so pykan's 1e-4 in the
    attribution's denominators moves scores by ~2e-4 against kanlab's 1e-8) and a kanlab model
    with its weights copied through ``act_fun[l]``'s pykan-layout views. ``masks``:
    ``(l, i, j)`` edges switched off in both."""
    kan = pytest.importorskip("kan")
    theirs = kan.KAN(width=width, grid=5, k=3, seed=0, noise_scale=1.0, auto_save=False)
    ours = KAN(width=width, grid=5, k=3, seed=1, dtype=torch.float64)
    with torch.no_grad():
        for l, i, j in masks:
            theirs.act_fun[l].mask[i, j] = 0
        for l in range(len(width) - 1):
            a, b = theirs.act_fun[l], ours.act_fun[l]
            a.coef.mul_(10)
            a.scale_base.mul_(3)
            assert torch.allclose(a.grid.double(), b.grid)
            for name in ("coef", "scale_base", "scale_sp", "mask"):
                getattr(b, name).copy_(getattr(a, name))
    return theirs, ours


def test_node_attribute_equals_pykans(float64_default) -> None:
    """pykan averages the output nodes' scores where kanlab sums them: with two outputs every
    kanlab score is twice pykan's (up to pykan's 1e-4 in the denominators)."""
    theirs, ours = _pykan_pair([3, 4, 2])
    x = _x(3, dtype=torch.float64)
    assert torch.allclose(theirs(x), ours(x))
    theirs.node_attribute()
    ours.get_act(x)
    scores = ours.node_attribute()
    assert ours.node_attribute_scores is scores
    assert [s.shape for s in scores] == [(4, 3), (2, 3)]
    for mine, reference in zip(scores, theirs.node_attribute_scores):
        assert torch.allclose(mine, 2 * reference.detach(), rtol=1e-3, atol=0)


def test_feature_interaction_equals_pykans(float64_default) -> None:
    """Hidden node 0 reads x0 only, node 1 x1 and x2, nodes 2 and 3 everything: the dict says so,
    as pykan's does."""
    off = [(0, 1, 0), (0, 2, 0), (0, 0, 1)]
    theirs, ours = _pykan_pair([3, 4, 1], masks=off)
    x = _x(3, dtype=torch.float64)
    theirs(x)
    ours.get_act(x)
    expected = {(0,): 1, (1, 2): 1, (0, 1, 2): 2}
    assert ours.feature_interaction(1) == theirs.feature_interaction(1) == expected
    assert ours.feature_interaction(2) == theirs.feature_interaction(2) == {(0, 1, 2): 1}


def test_node_attribute_rows_are_the_per_node_scores() -> None:
    model = KAN([3, 4, 2, 1], grid=3, seed=0)
    x = _x(3)
    rows = model.node_attribute(x)
    assert len(rows) == model.depth
    for l, r in enumerate(rows, start=1):
        assert torch.equal(r, attribution.node_input_scores(model, l, x))
    whole = attribution.attribute(model, x)
    assert torch.allclose(rows[-1].sum(0), whole["node_scores"][0])  # from the output: feature scores
    assert torch.allclose(rows[0], whole["edge_scores"][0])  # one layer down: the edges' scores
    assert model.scores is None  # the whole-network scores are left alone


def test_feature_interaction_thresholds() -> None:
    model = KAN([3, 2, 1], grid=3, seed=0)
    model.remove_edge(0, 2, 0)  # node 0: x0, x1; node 1: all three
    x = _x(3)
    rows = attribution.node_input_scores(model, 1, x)
    assert model.feature_interaction(1, feature_th=0, x=x) == {(0, 1): 1, (0, 1, 2): 1}
    assert model.feature_interaction(1, neuron_th=float(rows.max()), x=x) == {}  # no node above
    assert model.feature_interaction(1, feature_th=1, x=x) == {(): 2}  # no input beats its node's maximum
    tops = [(int(r.argmax()),) for r in rows]
    assert model.feature_interaction(1, feature_th=0.999999, x=x) == {k: tops.count(k) for k in tops}
    with pytest.raises(ValueError, match="neuron_th must be"):
        model.feature_interaction(1, neuron_th=-1, x=x)
    with pytest.raises(ValueError, match="node layer index"):
        model.feature_interaction(3, x=x)
    with pytest.raises(ValueError, match="no data"):
        model.feature_interaction(1)
