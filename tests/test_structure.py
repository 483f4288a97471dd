"""Structure editing (kanlab.structure): sizes, evaluate, connection cost, expand/swap/auto_swap,
perturb and module; the edits that keep the function are checked on the output."""
from types import SimpleNamespace

import pytest
import torch

from kanlab import KAN, create_dataset
from kanlab.attribution import attribute
from kanlab.structure import auto_swap, connection_cost, swap

X = torch.rand(200, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _mixed(x: torch.Tensor = X) -> KAN:
    """[2, [3, 2], 2] with multiplication nodes of arity 2 and 3, grids adapted to ``x``, a symbolic edge."""
    model = KAN([2, [3, 2], 2], mult_arity=[[], [2, 3], []], seed=0)
    model.update_grid_from_samples(x)
    model.fix_symbolic(0, 1, 2, "sin", fit_params_bool=False, params=(2.0, 0.5, 1.5, 0.1), verbose=False)
    model.fix_symbolic(1, 4, 1, "x^2", fit_params_bool=False, params=(1.0, 0.0, 0.7, 0.0), verbose=False)
    model.remember_data(x)
    return model


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sizes_follow_pykans_definitions() -> None:
    model = KAN([3, [2, 2], [1, 1], 2], mult_arity=[[], [2, 4], [3], []])
    assert model.width_in == [3, 4, 2, 2]
    assert model.width_out == [3, 2 + 6, 1 + 3, 2]
    assert model.n_mult == [2, 1]
    assert model.n_edge == 3 * 8 + 4 * 4 + 2 * 2
    model.remove_edge(0, 0, 0)
    model.fix_symbolic(1, 1, 1, "sin", fit_params_bool=False, verbose=False)  # symbolic edges count
    assert model.n_edge == 3 * 8 + 4 * 4 + 2 * 2 - 1
    assert list(model.get_params()) == list(model.parameters())


def test_sizes_equal_pykans() -> None:
    kan = pytest.importorskip("kan")
    theirs = kan.KAN(width=[3, [2, 2], 2], mult_arity=2, auto_save=False, seed=0)
    ours = KAN([3, [2, 2], 2])
    assert (ours.width_in, ours.width_out, ours.n_mult) == (theirs.width_in, theirs.width_out, theirs.n_mult)
    assert ours.n_edge == theirs.n_edge


def test_evaluate_is_the_rmse_by_hand() -> None:
    ds = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=10, test_num=50, seed=1)
    model = KAN([2, 3, 1], seed=0)
    result = model.evaluate(ds)
    with torch.no_grad():
        rmse = ((model(ds["test_input"]) - ds["test_label"]) ** 2).mean().sqrt().item()
    assert result == {"test_loss": pytest.approx(rmse, rel=1e-6), "n_edge": 9, "n_grid": 5}
    with pytest.raises(KeyError, match="test_label"):
        model.evaluate({"test_input": ds["test_input"]})


def test_connection_cost_is_distance_times_score() -> None:
    # one layer, outputs at 1/2 and inputs at 1/4, 3/4: each unit score costs 1/4
    model = KAN([2, 1])
    assert float(connection_cost(model, [torch.tensor([[1.0, 3.0]])])) == pytest.approx(0.25 * 4)
    kan = pytest.importorskip("kan")
    scores = [torch.rand(5, 3), torch.rand(2, 4), torch.rand(1, 2)]
    theirs = kan.MultKAN.connection_cost.fget(SimpleNamespace(edge_scores=scores, device="cpu"))
    assert float(connection_cost(model, scores)) == pytest.approx(float(theirs), rel=1e-6)


def test_connection_cost_reads_the_last_attribution_like_pykan() -> None:
    model = _mixed()
    scores = model.attribute()
    assert float(model.connection_cost) == pytest.approx(float(connection_cost(model, scores["edge_scores"])))
    model.swap(1, 0, 1)
    assert model.scores is None  # they index the old node order
    assert float(model.connection_cost) == pytest.approx(float(connection_cost(model, attribute(model)["edge_scores"])))


def test_swap_keeps_the_function_and_swaps_back_exactly() -> None:
    model = _mixed()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    coef = model.layers[0].coef
    y = model(X)
    model.swap(1, 0, 2)  # sum nodes
    model.swap(1, 3, 4)  # multiplication nodes of arity 2 and 3
    assert model.mult_arity[1] == [3, 2] and model.config["mult_arity"][1] == [3, 2]
    assert model.symbolic[0].names[0][1] == "sin" and model.symbolic[1].names[1][3] == "x^2"  # moved with their nodes
    assert _close(model(X), y)
    assert model.layers[0].coef is coef  # a permutation keeps the parameter objects (optimisers)
    model.swap(1, 3, 4)
    model.swap(1, 0, 2)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_swap_refuses_what_would_change_the_function() -> None:
    model = _mixed()
    with pytest.raises(ValueError, match="same kind"):
        model.swap(1, 0, 3)
    with pytest.raises(IndexError, match="hidden"):
        model.swap(0, 0, 1)
    with pytest.raises(IndexError, match="i2"):
        model.swap(1, 0, 9)
    with pytest.raises(ValueError, match="no hidden node layer"):
        KAN([2, 2]).swap(1, 0, 1)


@pytest.mark.filterwarnings("ignore:the model has .* trainable numbers")  # 448 for 200 rows: fine here
def test_expand_width_keeps_function_grids_and_state() -> None:
    model = _mixed()
    model.input_id = [4, 2]  # as after prune_input on a wider model
    knots0, knots1 = model.layers[0].knots.clone(), model.layers[1].knots.clone()
    x = model.cache_data
    y = model(x)
    model.expand_width(1, 2)
    model.expand_width(1, 1, sum_bool=False, mult_arity=4)
    assert model.width == [2, 8, 2] and model.config["width"] == [2, [5, 3], 2]
    assert model.mult_arity[1] == [2, 3, 4] and model.n_sub(1) == 5 + 9
    assert _close(model(x), y)
    assert model.input_id == [4, 2] and model.cache_data is x
    assert torch.equal(model.layers[0].knots, knots0)  # the adapted grids of the old nodes
    assert torch.equal(model.layers[1].knots[2:7], knots1)  # old nodes after the two new sum nodes
    new_in = [0, 1, 7]
    assert not model.layers[1].mask[:, new_in].any() and not model.symbolic[1].active[:, new_in].any()
    assert not model.layers[0].mask[[0, 1, 10, 11, 12, 13]].any()  # the new nodes' sub-nodes
    path = "expanded.ckpt"
    with pytest.MonkeyPatch.context() as mp:
        import tempfile

        mp.chdir(tempfile.mkdtemp())
        model.saveckpt(path)
        loaded = KAN.loadckpt(path)
    assert _close(loaded(x), y) and loaded.mult_arity == model.mult_arity
    model.perturb(mode="all")  # the new nodes are live edges now
    assert not _close(model(x), y)
    ds = {"train_input": x, "train_label": y.detach(), "test_input": x, "test_label": y.detach()}
    coef = model.layers[1].coef[:, new_in].detach().clone()
    model.fit(ds, opt="Adam", steps=2, update_grid=False, progress=False)
    assert not torch.equal(model.layers[1].coef[:, new_in], coef)  # the new nodes' edges train


def test_expand_width_refuses_bad_arguments() -> None:
    model = _mixed()
    with pytest.raises(IndexError, match="layer_id"):
        model.expand_width(2, 1)
    with pytest.raises(ValueError, match="n_added_nodes"):
        model.expand_width(1, 0)
    with pytest.raises(ValueError, match="mult_arity"):
        model.expand_width(1, 2, sum_bool=False, mult_arity=[2])


def test_expand_depth_appends_an_identity_layer() -> None:
    model = KAN([1, 1], seed=0)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, params=(3.0, 0.0, 1.0, 0.0), verbose=False)
    formula = model.symbolic_formula().formulas
    model.expand_depth()
    assert model.width == [1, 1, 1] and model.config["width"] == [1, 1, 1] and model.depth == 2
    x = torch.linspace(-1, 1, 50)[:, None]
    assert _close(model(x), torch.sin(3 * x))
    assert not model.layers[1].mask.any() and model.symbolic[1].names == [["x"]]
    assert model.symbolic_formula().formulas == formula
    mixed = _mixed()
    y = mixed(X)
    mixed.expand_depth()
    assert mixed.width == [2, 5, 2, 2] and _close(mixed(X), y)


def _pykan_auto_swap(model: KAN) -> None:
    """pykan's procedure: every trial swap followed by a new attribution (kanlab's swap, so
    multiplication nodes stay products)."""
    for l in range(1, model.depth):
        n_sums = model.n_sum(l)
        for i in range(model.width[l]):
            kind = list(range(n_sums) if i < n_sums else range(n_sums, model.width[l]))
            costs = []
            for j in kind:
                swap(model, l, i, j)
                costs.append(float(connection_cost(model, attribute(model)["edge_scores"])))
                swap(model, l, i, j)
            swap(model, l, i, kind[min(range(len(kind)), key=costs.__getitem__)])


def test_auto_swap_lowers_the_cost_like_pykans_procedure() -> None:
    x = torch.rand(100, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    model = KAN([3, [4, 2], 3, 2], seed=3)
    model.remember_data(x)
    reference = KAN([3, [4, 2], 3, 2], seed=3)
    reference.remember_data(x)
    y = model(x)
    cost = float(connection_cost(model, attribute(model)["edge_scores"]))
    auto_swap(model)
    _pykan_auto_swap(reference)
    assert _close(model(x), y)
    after = float(connection_cost(model, attribute(model)["edge_scores"]))
    assert after < cost
    by_layer = KAN([3, [4, 2], 3, 2], seed=3)  # pykan's auto_swap_l(l) for each hidden layer
    by_layer.remember_data(x)
    by_layer.auto_swap_l(1)
    by_layer.auto_swap_l(2)
    for other in (reference, by_layer):
        ref = other.state_dict()
        assert all(torch.allclose(v, ref[k]) for k, v in model.state_dict().items() if v.is_floating_point())


def _symbolic_net(model) -> None:
    """Splines off, symbolic x0 -> n0 -> y0 and x1 -> n1 (a compiled network, pykan's tutorial)."""
    for layer in model.act_fun:
        layer.mask.data.zero_()
    for l, i, j in ((0, 0, 0), (0, 1, 1), (1, 0, 0)):
        model.fix_symbolic(l, i, j, "x", fit_params_bool=False, verbose=False)


@pytest.mark.parametrize("mode", ["non-intrusive", "all", "minimal"])
def test_perturb_switches_pykans_edges_on(mode) -> None:
    model = KAN([2, 3, 2], seed=0)
    _symbolic_net(model)
    y = model(X)
    model.perturb(0.3, mode)
    mask0 = {"all": torch.full((3, 2), 0.3), "minimal": torch.tensor([[0.3, 0], [0, 0.3], [0, 0]]),
             "non-intrusive": torch.tensor([[0, 0], [0, 0], [0.3, 0.3]])}[mode]  # rows: outputs
    assert torch.equal(model.layers[0].mask, mask0)
    if mode == "non-intrusive":  # the last layer's splines are on at scale 0: the output is kept
        assert bool((model.layers[1].mask == 1).all()) and not model.layers[1].scale_spline.any()
        assert _close(model(X), y)
    else:
        assert not _close(model(X), y)
    with pytest.raises(ValueError, match="mode"):
        model.perturb(1.0, "some")


@pytest.mark.parametrize("mode", ["non-intrusive", "all", "minimal"])
def test_perturb_masks_equal_pykans(mode) -> None:
    kan = pytest.importorskip("kan")
    ours, theirs = KAN([2, 3, 2], seed=0), kan.KAN(width=[2, 3, 2], auto_save=False, seed=0)
    _symbolic_net(ours)
    _symbolic_net(theirs)
    theirs(X)  # pykan's perturb reads the cached data
    ours.perturb(0.3, mode)
    theirs.perturb(0.3, mode)
    for l in range(2):
        assert torch.equal(ours.layers[l].mask, theirs.act_fun[l].mask.T)


def test_module_switches_off_the_edges_crossing_its_border() -> None:
    model = KAN([3, 3, 2], seed=0)
    model.module(0, "[0,1]->[0,1]->[0,1]->[0]")
    x = X[:20, [0, 1, 0]].clone()
    moved = x.clone()
    moved[:, 2] += 0.5
    y, y_moved = model(x), model(moved)
    assert _close(y[:, 0], y_moved[:, 0]) and not _close(y[:, 1], y_moved[:, 1])  # output 0 ignores x2
    ones = KAN([3, 3, 2], seed=0)
    ones.module(0, "[-3,-2]->[0,-2]->[0,1]->[-2]")  # negative indices count from the end
    assert torch.equal(ones.layers[0].mask, model.layers[0].mask)
    assert torch.equal(ones.layers[1].mask, model.layers[1].mask)
    with pytest.raises(ValueError, match="pair"):
        model.module(0, "[0]->[0]->[1]")
    with pytest.raises(IndexError, match="out of range"):
        model.module(0, "[5]->[0]")
    kan = pytest.importorskip("kan")
    theirs = kan.KAN(width=[3, 3, 2], auto_save=False, seed=0)
    theirs.module(0, "[0,1]->[0,1]->[0,1]->[0]")
    assert all(torch.equal(model.layers[l].mask, theirs.act_fun[l].mask.T) for l in range(2))


def test_forward_accepts_pykans_singularity_arguments() -> None:
    model = _mixed()
    assert torch.equal(model(X, singularity_avoiding=True, y_th=1.0), model(X))
