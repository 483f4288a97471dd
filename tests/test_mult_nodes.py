"""Multiplication nodes (``width`` entries ``[n_sum, n_mult]``, pykan's MultKAN) through the
forward pass, grids, formulas, attribution, pruning, plots and checkpoints."""

import matplotlib
import pytest
import sympy as sp
import torch

from kanlab import KAN, create_dataset

matplotlib.use("Agg")


def _product_model() -> KAN:
    """[2, [0, 1], 1] computing sin(x) * exp(-y^2) exactly with symbolic edges."""
    model = KAN([2, [0, 1], 1], seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)  # x -> first factor
    model.fix_symbolic(0, 1, 1, "gaussian", fit_params_bool=False, verbose=False)  # y -> second factor
    model.remove_edge(0, 1, 0)
    model.remove_edge(0, 0, 1)
    model.fix_symbolic(1, 0, 0, "x", fit_params_bool=False, verbose=False)
    return model


def test_width_spec_counts_nodes_and_sub_nodes() -> None:
    model = KAN([3, [2, 2], [1, 1], 2], seed=0)
    assert model.width == [3, 4, 2, 2] and model.mult_width == [0, 2, 1, 0]
    assert model.config["width"] == [3, [2, 2], [1, 1], 2]
    assert [layer.out_dim for layer in model.layers] == [6, 3, 2]  # n_sum + 2 n_mult
    assert [layer.in_dim for layer in model.layers] == [3, 4, 2]
    assert model.node_of_sub(1) == [0, 1, 2, 2, 3, 3]
    assert model(torch.rand(5, 3)).shape == (5, 2)
    assert "[2, 2]" in repr(model)


def test_forward_multiplies_sub_node_pairs() -> None:
    model = KAN([2, [1, 2], 1], seed=1, dtype=torch.float64)
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    sub = model.layers[0](x)  # (7, 5): one sum sub-node, then two pairs
    hidden = torch.stack([sub[:, 0], sub[:, 1] * sub[:, 2], sub[:, 3] * sub[:, 4]], dim=1)
    torch.testing.assert_close(model(x), model.layers[1](hidden))
    out, acts = model.forward_with_activations(x)
    torch.testing.assert_close(out, model(x))
    assert [a.shape for a in acts] == [(7, 5, 2), (7, 1, 3)]


def test_symbolic_product_model_and_formula() -> None:
    model = _product_model()
    pts = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    exact = torch.sin(pts[:, 0]) * torch.exp(-pts[:, 1] ** 2)
    torch.testing.assert_close(model(pts)[:, 0], exact)
    (expr,), (x, y) = model.symbolic_formula(var=["x", "y"])
    assert sp.simplify(expr - sp.sin(x) * sp.exp(-y ** 2)) == 0


def test_product_is_learned_and_grid_updates_keep_the_function() -> None:
    ds = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, seed=0, train_num=300, test_num=300)
    model = KAN([2, [0, 1], 1], grid=5, seed=0, base_fun="identity")
    with torch.no_grad():
        start = float(torch.sqrt(torch.mean((model(ds["test_input"]) - ds["test_label"]) ** 2)))
    history = model.fit(ds, opt="LBFGS", steps=30, progress=False)
    assert history["test_loss"][-1] < 1e-2 < start
    before = model(ds["train_input"]).detach()
    model.update_grid_from_samples(ds["train_input"])
    assert torch.allclose(model(ds["train_input"]), before, atol=5e-3)


def test_attribution_and_pruning_keep_factors_together() -> None:
    torch.manual_seed(0)
    model = KAN([2, [1, 2], 1], seed=0, dtype=torch.float64)
    model.cache_data = torch.rand(200, 2, dtype=torch.float64) * 2 - 1
    scores = model.attribute()
    assert [e.shape for e in scores["edge_scores"]] == [(5, 2), (1, 3)]
    assert scores["node_scores"][1].shape == (3,)
    small = model.prune_node(active_neurons_id=[[0, 2]])  # the sum node and the second product
    assert small.config["width"] == [2, [1, 1], 1] and small.layers[0].out_dim == 3
    model.remove_node(1, 1)  # the dropped product, masked in the original (in place)
    x = model.cache_data
    torch.testing.assert_close(small(x), model(x))


def test_remove_node_switches_off_both_factors() -> None:
    model = KAN([2, [0, 2], 1], seed=0)
    model.remove_node(1, 1)
    assert model.layers[0].mask[2:4].sum() == 0 and model.layers[0].mask[:2].sum() == 4
    assert model.layers[1].mask[0, 1] == 0


def test_plot_draws_product_nodes(tmp_path) -> None:
    model = _product_model()
    model.cache_data = torch.rand(100, 2, dtype=torch.float64) * 2 - 1
    fig = model.plot(in_vars=["x", "y"], folder=str(tmp_path))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "×" in texts
    assert (tmp_path / "kan_diagram.png").exists()
    assert len(model.plot_activations(0).axes) == 4  # 2 inputs x 2 sub-nodes


def test_checkpoint_roundtrip(tmp_path) -> None:
    model = KAN([2, [1, 1], 1], seed=0)
    path = str(tmp_path / "m.ckpt")
    model.saveckpt(path)
    loaded = KAN.loadckpt(path)
    assert loaded.config["width"] == [2, [1, 1], 1]
    x = torch.rand(9, 2)
    torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize("fast", [True, False])
def test_gradients_flow_through_products(fast: bool) -> None:
    model = KAN([2, [0, 1], 1], seed=0, fast=fast, dtype=torch.float64)
    x = (torch.rand(6, 2, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: model(v), (x,))


def test_mult_arity_products_of_three_and_mixed_arities(tmp_path) -> None:
    model = KAN([3, [1, 2], 1], mult_arity=[[], [3, 2], []], seed=0, dtype=torch.float64)
    assert model.layers[0].out_dim == 1 + 3 + 2 and model.node_of_sub(1) == [0, 1, 1, 1, 2, 2]
    x = torch.rand(5, 3, dtype=torch.float64)
    sub = model.layers[0](x)
    hidden = torch.stack([sub[:, 0], sub[:, 1] * sub[:, 2] * sub[:, 3], sub[:, 4] * sub[:, 5]], dim=1)
    torch.testing.assert_close(model(x), model.layers[1](hidden))
    uniform = KAN([3, [0, 2], 1], mult_arity=3, seed=0)
    assert uniform.mult_arity == [[], [3, 3], []] and uniform.layers[0].out_dim == 6
    # x * y * z exactly, as a formula
    xyz = KAN([3, [0, 1], 1], mult_arity=3, seed=0, dtype=torch.float64)
    for i in range(3):
        for s in range(3):
            if i == s:
                xyz.fix_symbolic(0, i, s, "x", fit_params_bool=False, verbose=False)
            else:
                xyz.remove_edge(0, i, s)
    xyz.fix_symbolic(1, 0, 0, "x", fit_params_bool=False, verbose=False)
    (expr,), (a, b, c) = xyz.symbolic_formula(var=["a", "b", "c"])
    assert sp.simplify(expr - a * b * c) == 0
    torch.testing.assert_close(xyz(x)[:, 0], x.prod(1))
    # pruning keeps each kept product's arity; checkpoints keep them all
    small = model.prune_node(active_neurons_id=[[0, 1]])
    assert small.config["width"] == [3, [1, 1], 1] and small.mult_arity == [[], [3], []]
    path = str(tmp_path / "m.ckpt")
    model.saveckpt(path)
    torch.testing.assert_close(KAN.loadckpt(path)(x), model(x))
    with pytest.raises(ValueError, match="mult_arity"):
        KAN([3, [1, 2], 1], mult_arity=[[], [3], []])
    with pytest.raises(ValueError, match="mult_arity"):
        KAN([3, [1, 2], 1], mult_arity=1)
