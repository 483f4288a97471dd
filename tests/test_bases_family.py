"""The basis families (kanlab.bases_family) and the KAN workflow on each of them."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev as npcheb
from numpy.polynomial import legendre as npleg
from scipy import special

from kanlab import KAN, create_dataset
from kanlab import bases_family
from kanlab.bases_family import (BASIS_NAMES, ChebyshevBasis, FourierBasis, GlobalBasis, LegendreBasis, RBFBasis,
                                 basis_size, features_linear, make_basis)
from kanlab.layer import KANLayer
from kanlab.autobasis import choose_basis

NEW = ["rbf", "chebyshev", "legendre", "fourier"]
ALL = ["bspline"] + NEW
GLOBAL = ["chebyshev", "legendre", "fourier"]
RANGE = (-2.0, 3.0)  # a domain that is not [-1, 1]: the maps' centre and scale are exercised


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _x(n: int = 41, in_dim: int = 2, lo: float = -3.0, hi: float = 4.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return lo + (hi - lo) * torch.rand(n, in_dim, generator=g)


# --------------------------------------------------------------------------- registry
def test_registry_names_and_sizes():
    assert set(BASIS_NAMES) == set(ALL)
    for name in ALL:
        b = make_basis(name, 3, 4, 2)
        assert b.n_basis == basis_size(name, 4, 2)
        assert b.evaluate(_x(5, 3)).shape == (5, 3, b.n_basis)
        assert b.has_grid == (name in ("bspline", "rbf"))
    assert make_basis("fourier", 1, 4).n_basis == 9 and make_basis("chebyshev", 1, 4).n_basis == 5


def test_unknown_basis_lists_valid_names():
    with pytest.raises(ValueError, match="rbf.*chebyshev"):
        make_basis("gauss", 2)
    with pytest.raises(ValueError, match="'bspline'.*'fourier'.*'auto'"):
        KAN([2, 1], basis="splines")
    with pytest.raises(ValueError, match="grid_range"):
        make_basis("chebyshev", 2, grid_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="degree"):
        make_basis("legendre", 2, 0)


# --------------------------------------------------------------------------- values: scipy / numpy references
def _squash(x: np.ndarray, lo: float, hi: float):
    c, r = (lo + hi) / 2, (hi - lo) / 2
    t = np.tanh((x - c) / r)
    dt = (1 - t ** 2) / r
    return t, dt, -2 * t * dt / r


@pytest.mark.parametrize("name", ["chebyshev", "legendre"])
def test_polynomials_match_scipy(name):
    deg = 7
    basis = make_basis(name, 2, deg, grid_range=RANGE)
    x = _x()
    xn = x.numpy()
    t, dt, d2t = _squash(xn, *RANGE)
    scipy_eval = special.eval_chebyt if name == "chebyshev" else special.eval_legendre
    der = npcheb.chebder if name == "chebyshev" else npleg.legder
    val = npcheb.chebval if name == "chebyshev" else npleg.legval
    ref0 = np.stack([scipy_eval(n, t) for n in range(deg + 1)], -1)
    unit = np.eye(deg + 1)
    p1 = np.stack([val(t, der(unit[n])) for n in range(deg + 1)], -1)
    p2 = np.stack([val(t, der(unit[n], 2)) for n in range(deg + 1)], -1)
    ref1 = p1 * dt[..., None]
    ref2 = p2 * dt[..., None] ** 2 + p1 * d2t[..., None]
    for deriv, ref in enumerate((ref0, ref1, ref2)):
        np.testing.assert_allclose(basis.evaluate(x, deriv).numpy(), ref, atol=1e-11, rtol=1e-11)
    np.testing.assert_allclose(basis.evaluate_reference(x).numpy(), ref0, atol=1e-11)


def test_fourier_matches_numpy():
    deg = 4
    basis = make_basis("fourier", 2, deg, grid_range=RANGE)
    x = _x()
    s = (math.pi / 2) / ((RANGE[1] - RANGE[0]) / 2)
    phase = (x.numpy() - sum(RANGE) / 2) * s
    k = np.arange(1, deg + 1)
    kx = phase[..., None] * k
    refs = [
        (np.ones_like(phase), np.cos(kx), np.sin(kx)),
        (np.zeros_like(phase), -k * s * np.sin(kx), k * s * np.cos(kx)),
        (np.zeros_like(phase), -(k * s) ** 2 * np.cos(kx), -(k * s) ** 2 * np.sin(kx)),
    ]
    for deriv, (const, cos, sin) in enumerate(refs):
        got = basis.evaluate(x, deriv).numpy()
        np.testing.assert_allclose(got[..., 0], const, atol=1e-12)
        np.testing.assert_allclose(got[..., 1::2], cos, atol=1e-11)  # interleaved cos, sin
        np.testing.assert_allclose(got[..., 2::2], sin, atol=1e-11)
    np.testing.assert_allclose(basis.evaluate_reference(x).numpy(), basis.evaluate(x).numpy(), atol=1e-12)


def test_rbf_matches_numpy_uniform_and_adapted():
    basis = make_basis("rbf", 2, 6, grid_range=RANGE)
    x = _x()
    centres = np.linspace(*RANGE, 7)
    h = centres[1] - centres[0]  # FastKAN: width = grid spacing
    u = (x.numpy()[..., None] - centres) / h
    refs = [np.exp(-u ** 2), -2 * u / h * np.exp(-u ** 2), (4 * u ** 2 - 2) / h ** 2 * np.exp(-u ** 2)]
    for deriv, ref in enumerate(refs):
        np.testing.assert_allclose(basis.evaluate(x, deriv).numpy(), ref, atol=1e-12, rtol=1e-10)
    # an adapted (non-uniform) grid: widths are half the distance between neighbours
    layer = KANLayer(2, 1, basis=basis)
    layer.update_grid_from_samples(torch.randn(500, 2, generator=torch.Generator().manual_seed(1)) ** 3)
    g = basis.grid.numpy()
    d = np.diff(g, axis=1)
    widths = np.concatenate([d[:, :1], (d[:, 1:] + d[:, :-1]) / 2, d[:, -1:]], axis=1)
    ref = np.exp(-(((x.numpy()[..., None] - g) / widths) ** 2))
    np.testing.assert_allclose(basis.evaluate(x).numpy(), ref, atol=1e-12)
    assert not np.allclose(d, d[:, :1])  # it really is non-uniform


@pytest.mark.parametrize("name", ALL)
def test_derivatives_match_finite_differences(name):
    basis = make_basis(name, 2, 5, 3, grid_range=RANGE)
    x = _x(lo=-1.9, hi=2.9)
    eps = 1e-5
    v0, v1, v2 = (basis.evaluate(x, r) for r in range(3))
    fd1 = (basis.evaluate(x + eps) - basis.evaluate(x - eps)) / (2 * eps)
    fd2 = (basis.evaluate(x + eps, 1) - basis.evaluate(x - eps, 1)) / (2 * eps)
    scale = 1 + v1.abs().max()
    assert (v1 - fd1).abs().max() < 1e-6 * scale
    assert (v2 - fd2).abs().max() < 1e-6 * (1 + v2.abs().max())
    # the reference path (a layer's fast=False) agrees with the fast one
    assert torch.allclose(basis.evaluate_reference(x), v0, atol=1e-12)


@pytest.mark.parametrize("name", NEW)
def test_local_and_float32(name):
    basis = make_basis(name, 2, 4)
    x = _x(lo=-1, hi=1)
    values, index = basis.local(x, order=2)
    assert values.shape == (3, 41, 2, basis.n_basis)
    dense = torch.stack([basis.evaluate(x, r) for r in range(3)])
    assert torch.equal(torch.zeros_like(dense).scatter_add_(-1, index.expand(3, -1, -1, -1), values), dense)
    b32 = make_basis(name, 2, 4, dtype=torch.float32)
    assert b32.evaluate(x.float()).dtype == torch.float32
    assert torch.allclose(b32.evaluate(x.float()).double(), basis.evaluate(x), atol=1e-5)


# --------------------------------------------------------------------------- the layer's fast contraction
@pytest.mark.parametrize("name", NEW)
def test_fast_linear_gradients_and_double_backward(name, monkeypatch):
    monkeypatch.setattr(bases_family, "RECOMPUTE_ELEMENTS", 0)  # the recomputing path at any size
    basis = make_basis(name, 3, 4)
    x = _x(6, 3, -1.2, 1.2).requires_grad_()
    w = torch.randn(2, 3, basis.n_basis, generator=torch.Generator().manual_seed(2), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: features_linear(basis, a, b), (x, w))
    assert torch.autograd.gradgradcheck(lambda a, b: features_linear(basis, a, b), (x, w))
    plain = (basis.evaluate(x).reshape(6, -1) @ w.reshape(2, -1).T)
    assert torch.allclose(features_linear(basis, x, w), plain, atol=1e-13)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        features_linear(basis, x, w)
    assert sum(saved) == x.numel() + w.numel()  # only x and the weights are kept for backward


@pytest.mark.parametrize("name", NEW)
def test_layer_paths_and_forward_derivatives(name):
    layer = KANLayer(3, 2, basis=make_basis(name, 3, 4), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.coef.normal_(generator=torch.Generator().manual_seed(1))
    x = _x(7, 3, -1, 1).requires_grad_()
    y = layer(x)
    grads = torch.autograd.grad(y.square().sum(), [x, layer.coef], retain_graph=True)
    layer.fast = False  # the reference path: an independent formula, differentiable too
    y_ref = layer(x)
    assert torch.allclose(y_ref, y, atol=1e-12)
    for g, g_ref in zip(grads, torch.autograd.grad(y_ref.square().sum(), [x, layer.coef])):
        assert torch.allclose(g, g_ref, atol=1e-10)
    layer.fast = True
    assert torch.allclose(layer.edge_activations(x).sum(-1), y, atol=1e-12)
    # forward-mode derivatives (PINNs) against nested autograd, along the input axes
    dx = torch.eye(3).unsqueeze(1).expand(3, 7, 3)
    y_fd, dy, d2y = layer.forward_derivatives(x.detach(), dx)
    assert torch.allclose(y_fd, y, atol=1e-12)
    for o in range(2):
        g = torch.autograd.grad(y[:, o].sum(), x, create_graph=True)[0]
        assert torch.allclose(dy[:, :, o].T, g, atol=1e-10)
        for a in range(3):
            g2 = torch.autograd.grad(g[:, a].sum(), x, retain_graph=True)[0][:, a]
            assert torch.allclose(d2y[a, :, o], g2, atol=1e-9)


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("fast", [True, False])
def test_extreme_inputs_stay_finite_float32(name, fast):
    layer = KANLayer(2, 2, basis=make_basis(name, 2, 6, dtype=torch.float32), dtype=torch.float32, fast=fast)
    x = torch.tensor([[-60.0, 60.0], [1e4, -1e4], [0.0, 9.5]], dtype=torch.float32, requires_grad=True)
    y = layer(x)
    gx, gc = torch.autograd.grad(y.sum(), [x, layer.coef])
    assert torch.isfinite(y).all() and torch.isfinite(gx).all() and torch.isfinite(gc).all()


# --------------------------------------------------------------------------- refine and grids
def _trained_like(name: str, width=(2, 3, 1), grid: int = 5) -> KAN:
    model = KAN(list(width), grid=grid, seed=0, basis=name)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.normal_(generator=torch.Generator().manual_seed(3))
    return model


@pytest.mark.parametrize("name", GLOBAL)
def test_refine_raises_degree_exactly(name):
    model = _trained_like(name)
    x = _x(200, 2, -1, 1)
    y = model(x)
    model.refine(9)
    assert model.grid == 9 and model.layers[0].n_basis == basis_size(name, 9)
    assert torch.allclose(model(x), y, atol=1e-12)  # exactly: the coefficients are padded
    # the function is kept everywhere, not only on the domain
    far = _x(50, 2, -5, 5)
    assert torch.allclose(model(far), _trained_like(name)(far), atol=1e-12)
    model.refine(grid_factor=0.5)  # lowering the degree: a least-squares fit
    assert model.grid == 4 or model.grid == 5


def test_refine_rbf_keeps_function_up_to_refit():
    model = _trained_like("rbf")
    x = _x(300, 2, -1, 1)
    model.remember_data(x)
    y = model(x)
    model.refine(10)
    assert model.layers[0].grid.shape == (2, 11)
    err = (model(x) - y).abs() / y.abs().max()
    # Gaussians of two grids span different spaces: a least-squares refit, not exact. Measured
    # (random coefficients): 0.5-2% of the range inside, 3-9% at the domain ends
    assert err.max() < 0.12
    assert err[(x.abs() < 0.6).all(1)].max() < 0.04
    same = _trained_like("rbf")
    same.refine(5)  # same grid: the refit is a projection onto the same space
    assert torch.allclose(same(x), y, atol=1e-10)


def test_rbf_grid_update_keeps_function_on_samples():
    layer = KANLayer(1, 1, basis=make_basis("rbf", 1, 5), base_fun="zero")
    with torch.no_grad():
        layer.coef.normal_(generator=torch.Generator().manual_seed(0))
    x = 0.7 * torch.randn(400, 1, generator=torch.Generator().manual_seed(5)).clamp(-1.4, 1.4)  # inside [-1, 1]
    y = layer(x)
    old = layer.grid.clone()
    layer.update_grid_from_samples(x)
    assert not torch.allclose(layer.grid, old)
    # least squares on the samples between two Gaussian spaces: measured 1.8-4.3% of the range
    # over coefficient seeds (B-splines on the same data: 1.4-3.4%)
    y1 = layer(x)
    assert (y1 - y).abs().max() < 0.06 * y.abs().max()
    layer.update_grid_from_samples(x)  # same samples, same grid: the refit is a projection
    assert torch.allclose(layer(x), y1, atol=1e-10)


@pytest.mark.parametrize("name", GLOBAL)
def test_gridless_bases_refuse_grid_updates_and_fit_skips_them(name):
    model = _trained_like(name)
    x = _x(300, 2, -1, 1)
    with pytest.raises(ValueError, match="no grid.*refine"):
        model.update_grid_from_samples(x)
    with pytest.raises(ValueError, match="no grid"):
        model.layers[0].update_grid_from_samples(x)
    with pytest.raises(ValueError, match="no grid"):
        model.layers[0].grid  # noqa: B018
    ds = {"train_input": x, "train_label": x[:, :1] * x[:, 1:]}
    model.fit(ds, steps=2, update_grid=True, progress=False)  # grid updates scheduled, skipped
    assert model.grid == 5


@pytest.mark.parametrize("name", ALL)
def test_fit_reduces_loss(name):
    ds = create_dataset(lambda x: torch.exp(torch.sin(math.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2,
                        train_num=200, test_num=200, seed=0)
    model = KAN([2, 5, 1], grid=5, seed=0, basis=name)
    with torch.no_grad():
        before = float(torch.sqrt(torch.mean((model(ds["test_input"]) - ds["test_label"]) ** 2)))
    history = model.fit(ds, steps=15, progress=False)
    assert history["test_loss"][-1] < 0.1 and before > 0.5  # measured 0.005-0.09 after 15 steps


# --------------------------------------------------------------------------- checkpoints, pruning
@pytest.mark.parametrize("name", NEW)
def test_checkpoint_and_state_dict_round_trip(name, tmp_path):
    model = _trained_like(name)
    model.refine(7)  # a resolution the fresh model does not have
    x = _x(30, 2, -1.5, 1.5)
    model.saveckpt(str(tmp_path / "m"))
    loaded = KAN.loadckpt(str(tmp_path / "m"))
    assert loaded.basis_name == name and type(loaded.layers[0].edge_basis) is type(model.layers[0].edge_basis)
    assert torch.equal(loaded(x), model(x))
    fresh = KAN([2, 3, 1], grid=5, seed=1, basis=name)
    fresh.load_state_dict(model.state_dict())
    assert fresh.grid == 7 and torch.equal(fresh(x), model(x))
    other = KAN([2, 3, 1], grid=5, seed=1, basis="bspline" if name != "bspline" else "rbf")
    with pytest.raises(RuntimeError):
        other.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", NEW)
def test_prune_node_keeps_the_masked_function(name):
    model = _trained_like(name)
    x = _x(30, 2, -1, 1)
    pruned = model.prune_node(active_neurons_id=[[0, 2]])
    model.layers[1].mask[:, 1] = 0.0  # what removing hidden node 1 means
    assert pruned.width == [2, 2, 1] and pruned.basis_name == name
    assert torch.allclose(pruned(x), model(x), atol=1e-12)
    assert torch.equal(pruned.layers[0].domain, model.layers[0].domain)


# --------------------------------------------------------------------------- symbolic, plot
@pytest.fixture(scope="module")
def sine_models():
    """A [1, 1] model per basis fitted to sin(pi x)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    ds = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]), n_var=1, train_num=200, test_num=200, seed=0)
    models = {}
    for name in ALL:
        m = KAN([1, 1], grid=5, seed=0, basis=name)
        m.fit(ds, steps=20, progress=False)
        models[name] = m
    torch.set_default_dtype(old)
    return models, ds


@pytest.mark.parametrize("name", ALL)
def test_auto_symbolic_recovers_sin(name, sine_models):
    import copy

    models, ds = sine_models
    model = copy.deepcopy(models[name])
    assert model.suggest_symbolic(0, 0, 0, lib=["x", "x^2", "sin", "exp", "tanh"], verbose=False)[0] == "sin"
    model.auto_symbolic(lib=["x", "x^2", "sin", "exp", "tanh"], verbose=0)
    formula = str(model.symbolic_formula()[0][0])
    assert "sin" in formula
    pred = model(ds["test_input"])
    assert torch.sqrt(torch.mean((pred - ds["test_label"]) ** 2)) < 1e-2


@pytest.mark.parametrize("name", NEW)
def test_plot_draws_every_edge(name, sine_models, tmp_path):
    import matplotlib.pyplot as plt

    models, _ = sine_models
    fig = models[name].plot(folder=str(tmp_path))
    try:
        curves = [line.get_ydata() for ax in fig.axes for line in ax.get_lines() if len(line.get_ydata()) > 10]
        assert curves and max(float(np.ptp(c)) for c in curves) > 0.5  # sin(pi x)'s edge drawn, not flat
        assert any(tmp_path.iterdir())
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- basis="auto"
def test_auto_basis_picks_by_validation_and_says_so(capsys):
    ds = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]), n_var=1, train_num=100, test_num=10, seed=0)
    model = KAN([1, 1], grid=5, seed=0, basis="auto")
    assert model.basis_name == "auto"
    model.fit(ds, steps=3, progress=False)
    out = capsys.readouterr().out
    picked = model.basis_name
    assert picked in BASIS_NAMES and f"picked {picked!r}" in out
    assert set(model.basis_scores) == set(BASIS_NAMES)
    assert model.basis_scores[picked] == min(model.basis_scores.values())
    expected = {"bspline": "BSplineBasis", "rbf": "RBFBasis", "chebyshev": "ChebyshevBasis",
                "legendre": "LegendreBasis", "fourier": "FourierBasis"}[picked]
    assert type(model.layers[0].edge_basis).__name__ == expected
    model.fit(ds, steps=1, progress=False)  # chosen once
    assert "picked" not in capsys.readouterr().out


def test_auto_basis_choose_directly_and_bad_input():
    ds = create_dataset(lambda x: x[:, [0]] ** 2, n_var=1, train_num=60, test_num=10, seed=0)
    model = KAN([1, 1], grid=3, seed=0, basis="auto")
    with pytest.warns(UserWarning, match="picked"):
        best = choose_basis(model, ds, candidates=["rbf", "chebyshev"], steps=2, verbose=False)
    assert best in ("rbf", "chebyshev") and model.config["basis"] == best
    with pytest.raises(ValueError, match="objective"):
        KAN([1, 1], basis="auto").fit(ds, objective=lambda m: m(ds["train_input"]).pow(2).mean(), steps=1)
    with pytest.raises(ValueError, match="must be one of"):
        choose_basis(model, ds, candidates=["cubic"])


@pytest.mark.parametrize("cls", [ChebyshevBasis, LegendreBasis, FourierBasis])
def test_global_basis_repr_sizes(cls):
    b = cls(2, 3)
    assert isinstance(b, GlobalBasis) and b.grid_size == 3 and b.domain.shape == (2, 2)
    assert isinstance(RBFBasis(2, 3).grid, torch.Tensor)


@pytest.mark.parametrize("basis", ["rbf", "chebyshev", "fourier"])
def test_structure_edits_keep_the_basis_and_the_function(basis: str) -> None:
    """expand_width / expand_depth build new layers of the model's own basis family, and the
    model's output is unchanged by them (the new edges start at zero)."""
    from kanlab import KAN

    model = KAN([2, 3, 1], grid=5, k=3, seed=0, basis=basis).double()
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    before = model(x)
    wider = model.expand_width(1, 2)
    deeper = model.expand_depth()
    for m in (wider, deeper):
        assert all(type(l.edge_basis) is type(model.layers[0].edge_basis) for l in m.layers)
        torch.testing.assert_close(m(x), before, rtol=1e-10, atol=1e-10)
