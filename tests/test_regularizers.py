"""The regulariser metrics (kanlab.regularizers): pykan 0.2.8's five equal pykan's values and
gradients on copied weights; kanlab's and pykan's by hand on networks whose scales are known;
fit's reg_metric plumbing; the first grid update of a new model (kanlab.train.update_grids)."""
import math
import warnings

import pytest
import torch

from kanlab import KAN, create_dataset
from kanlab.regularizers import DEFAULT_REG_METRIC, REG_METRICS, edge_scales, penalty

PYKAN_METRICS = REG_METRICS[1:]


def _x(n: int, rows: int = 64) -> torch.Tensor:
    return torch.rand(rows, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1


def _pykan_pair(width, symbolic=None):
    """A pykan model and a kanlab model with its weights (copied through ``act_fun[l]``'s
    pykan-layout views); ``symbolic``: an edge ``(l, i, j)`` fixed to sin in both."""
    kan = pytest.importorskip("kan")
    theirs = kan.KAN(width=width, grid=4, k=3, seed=0, noise_scale=1.0, auto_save=False)
    ours = KAN(width, grid=4, k=3, seed=1, dtype=torch.float64)
    with torch.no_grad():
        for l in range(len(theirs.act_fun)):
            a, b = theirs.act_fun[l], ours.act_fun[l]
            b.grid.copy_(a.grid)
            for name in ("coef", "scale_base", "scale_sp", "mask"):
                getattr(b, name).copy_(getattr(a, name))
    if symbolic is not None:
        theirs.fix_symbolic(*symbolic, "sin", fit_params_bool=False, verbose=False, log_history=False)
        ours.fix_symbolic(*symbolic, "sin", fit_params_bool=False, verbose=False)
    return theirs, ours


def _pykan_reg(model, x, metric):
    """pykan's ``fit`` closure: forward (records the scales), the attribution the backward
    metrics read, then ``get_reg``."""
    model(x)
    if metric == "edge_backward":
        model.attribute(plot=False)
    if metric == "node_backward":
        model.node_attribute()
    return model.get_reg(metric, 1.0, 2.0, 0.7, 0.3)


@pytest.mark.parametrize("width, symbolic", [([3, 4, 2], (0, 1, 2)), ([2, [2, 2], 1], None),
                                             ([3, [1, 2], 2, 1], (1, 0, 1))])
def test_pykan_metrics_equal_pykans_values_and_gradients(float64_default, width, symbolic) -> None:
    """Sum and multiplication nodes, a symbolic edge, coefficient terms; gradients too, except
    edge_forward_sum's L1 and entropy, which pykan detaches (kanlab's pass gradients)."""
    theirs, ours = _pykan_pair(width, symbolic)
    x = _x(ours.width[0])
    assert torch.allclose(theirs(x), ours(x), atol=1e-12)
    for metric in PYKAN_METRICS:
        expected = _pykan_reg(theirs, x, metric)
        got = ours.get_reg(metric, 1.0, 2.0, 0.7, 0.3, x=x)
        assert math.isclose(got.item(), expected.item(), rel_tol=1e-10), metric
        if metric == "edge_forward_sum":
            continue
        params = [p for l in range(len(width) - 1) for p in (theirs.act_fun[l].coef, theirs.act_fun[l].scale_base)]
        grads = torch.autograd.grad(expected, params)
        mine = torch.autograd.grad(got, [p for layer in ours.layers for p in (layer.coef, layer.scale_base)])
        for g_theirs, g_ours in zip(grads, mine):
            assert torch.allclose(g_ours, g_theirs.transpose(0, 1), rtol=1e-8, atol=1e-12), metric


def _reg(model: KAN, *args, **kwargs) -> float:
    return model.reg(*args, **kwargs).item()


def _identity_layer(weights) -> KAN:
    """``[in, out]`` with ``phi_ji(x) = weights[j][i] * x`` (identity base, splines at 0)."""
    w = torch.tensor(weights, dtype=torch.float64)
    model = KAN([w.shape[1], w.shape[0]], grid=3, seed=0, base_fun="identity", dtype=torch.float64)
    with torch.no_grad():
        model.layers[0].coef.zero_()
        model.layers[0].scale_base.copy_(w)
    return model


def test_zero_network_has_zero_regulariser() -> None:
    model = KAN([3, 4, 2], grid=3, seed=0, base_fun="zero", dtype=torch.float64)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.zero_()
    for metric in REG_METRICS:
        assert _reg(model, metric, 1.0, 2.0, 1.0, 1.0, x=_x(3)) == 0.0, metric


def test_uniform_layer_entropy_by_hand() -> None:
    """Four equal edges on inputs of equal spread (x1 = -x0): kanlab's entropy is ln 4; pykan's
    normalises each row and column by its sum + 1, so with per-edge scale v = std(phi) (its
    edge_forward_spline_u), p = v / (2v + 1) and the row and column entropies are each
    -2 p log2(p + 1e-4), averaged over the rows (columns)."""
    model = _identity_layer([[0.5, 0.5], [0.5, 0.5]])
    x0 = _x(1)
    x = torch.cat([x0, -x0], dim=1)
    assert math.isclose(_reg(model, DEFAULT_REG_METRIC, 0.0, 1.0, x=x), math.log(4), rel_tol=1e-9)  # log(p + 1e-12)
    v = 0.5 * float(x0.std())
    p = v / (2 * v + 1)
    expected = 2 * (-2 * p * math.log2(p + 1e-4))
    assert math.isclose(_reg(model, "edge_forward_spline_u", 0.0, 1.0, x=x), expected, rel_tol=1e-12)
    assert math.isclose(_reg(model, "edge_forward_spline_u", 1.0, 0.0, x=x), 4 * v, rel_tol=1e-12)


@pytest.mark.parametrize("metric", REG_METRICS)
def test_l1_scales_with_the_edges_and_entropy_does_not(metric) -> None:
    """Doubling every edge of a one-layer network doubles the L1 of the forward metrics (the
    backward ones are relative spreads: unchanged up to pykan's 1e-4), and leaves kanlab's
    entropy unchanged."""
    x = _x(3)
    weights = [[0.3, -1.0, 0.2], [0.7, 0.1, -0.4]]
    small, large = _identity_layer(weights), _identity_layer([[2 * w for w in row] for row in weights])
    l1 = [_reg(m, metric, 1.0, 0.0, x=x) for m in (small, large)]
    backward = metric in ("edge_backward", "node_backward")  # up to the 1e-4 in their denominators
    assert math.isclose(l1[1], (1.0 if backward else 2.0) * l1[0], rel_tol=1e-3 if backward else 1e-9)
    if metric == DEFAULT_REG_METRIC:
        entropies = [_reg(m, metric, 0.0, 1.0, x=x) for m in (small, large)]
        assert math.isclose(entropies[0], entropies[1], rel_tol=1e-9)


def test_coefficient_terms_by_hand() -> None:
    """kanlab's metric: mean |coef| per edge, summed; pykan's: the mean over outputs, summed over
    inputs and basis functions. All coefficients -0.2 on [2, 3] (6 basis functions per edge)."""
    model = _identity_layer([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with torch.no_grad():
        model.layers[0].coef.fill_(-0.2)
    scales = edge_scales(model, _x(2), "edge_forward_spline_n")[1]
    assert math.isclose(penalty(scales, model.layers, DEFAULT_REG_METRIC, 0.0, 0.0, 1.0).item(), 6 * 0.2)
    assert math.isclose(penalty(scales, model.layers, "edge_forward_spline_n", 0.0, 0.0, 1.0).item(), 2 * 6 * 0.2)
    assert penalty(scales, model.layers, "edge_forward_spline_n", 0.0, 0.0, 0.0, 1.0).item() == 0.0


def test_reg_reads_the_recorded_data_and_checks_its_arguments() -> None:
    model = _identity_layer([[0.3, -1.0], [0.7, 0.1]])
    with pytest.raises(ValueError, match="no data"):
        model.reg("edge_forward_spline_n")
    x = _x(2)
    model.get_act(x)
    assert _reg(model, "edge_backward") == _reg(model, "edge_backward", x=x)
    with pytest.raises(ValueError, match="reg_metric must be one of"):
        model.reg("edge_forward")
    with pytest.raises(ValueError, match="at least 2 rows"):
        model.reg("edge_forward_spline_u", x=x[:1])
    assert _reg(model, DEFAULT_REG_METRIC, x=x[:1]) > 0  # a mean needs one row
    assert model.disable_symbolic_in_fit(0.0) == (True, True) and model.save_act


def test_fit_regularises_with_pykans_metric() -> None:
    """x1 and x2 do not matter: pykan's default metric drives their edges' spread far below x0's."""
    dataset = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]), n_var=3, seed=0)
    model = KAN([3, 3, 1], grid=3, seed=0)
    with pytest.raises(ValueError, match="reg_metric"):
        model.fit(dataset, steps=1, lamb=0.01, reg_metric="l1", progress=False)
    history = model.fit(dataset, steps=15, lamb=0.01, reg_metric="edge_forward_spline_n", starts=False,
                        progress=False)
    assert history["reg"][-1] > 0
    with torch.no_grad():
        spread = model.edge_activations(0, dataset["train_input"]).std(0)  # (3, 3)
    assert spread[:, 1:].max() < 0.05 * spread[:, 0].max()  # 0.25 with lamb = 0


def _attribution_fit(seed: int, fresh: bool) -> float:
    """pykan's attribution tutorial with 200 training rows: 100 inputs, weights 0.5^i."""
    f = lambda x: (x * 0.5 ** torch.arange(100.0)).sum(1, keepdim=True)  # noqa: E731
    dataset = create_dataset(f, n_var=100, seed=seed, train_num=200, test_num=500)
    model = KAN([100, 10, 10, 1], grid=3, seed=seed)
    model.fresh = fresh  # False: treated as trained, so every layer adapts at step 0 (pykan's schedule)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # more numbers than rows, on purpose
        return float(model.fit(dataset, steps=10, lamb=0.001, starts=False, progress=False)["test_loss"][-1])


def test_first_grid_update_of_a_new_model_keeps_hidden_grids() -> None:
    """The update before the first step adapts the input layer and leaves hidden grids whose
    inputs lie inside them; adapting those to the untrained network's narrow activations
    overfits (test RMSE 0.20 against 0.04 here)."""
    model = KAN([3, 4, 2], grid=3, seed=0)
    x = _x(3, rows=100).float() * 0.5
    before = [layer.grid.clone() for layer in model.layers]
    inside = model.layer_inputs(x)[1]
    assert bool((inside.abs() < 1).all())
    model.fit({"train_input": x, "train_label": x[:, :2]}, steps=1, starts=False, progress=False)
    assert not torch.equal(model.layers[0].grid, before[0])
    assert float(model.layers[0].grid.max()) <= 0.5
    assert torch.equal(model.layers[1].grid, before[1])
    new, every_layer = _attribution_fit(0, fresh=True), _attribution_fit(0, fresh=False)
    assert new < 0.06 and new < 0.5 * every_layer
