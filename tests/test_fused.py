"""The compiled whole-network MSE closure (kanlab/fused.py) against the eager graph."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kanlab import KAN, native
from kanlab.fused import accumulate, mse_loss, mse_value, objective
from kanlab.regularizers import forward_with_reg

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the eager path runs instead")


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def eager_and_fused(model, x, y):
    """(eager loss, eager grads), (fused loss, fused grads) of the parameters that train."""
    params = trainable(model)
    loss = torch.mean((model(x) - y) ** 2)
    grads = torch.autograd.grad(loss, params)
    fused = mse_loss(model, x, y)
    assert fused is not None
    return (loss, grads), (fused, torch.autograd.grad(fused, params))


def assert_same(eager, fused, rtol):
    """Equal to ``rtol`` relative to the loss's scale: losses are O(1) here, so are gradients
    (a gradient that cancels to ~1e-6 is compared with the rounding of its O(1) terms)."""
    (loss, grads), (f_loss, f_grads) = eager, fused
    assert abs(f_loss.item() - loss.item()) <= rtol * abs(loss.item())
    for got, want in zip(f_grads, grads):
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * max(1.0, loss.item()))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(width=st.lists(st.integers(1, 4), min_size=2, max_size=4), k=st.integers(1, 4), grid=st.sampled_from([1, 3, 7]),
       base=st.sampled_from(["silu", "identity", "zero"]), adapted=st.booleans(), spread=st.sampled_from([0.5, 3.0]))
def test_loss_and_gradients_equal_the_eager_graph(width, k, grid, base, adapted, spread) -> None:
    """Any plain network (depths 1-3, k 1-4, uniform or adapted knots, inputs inside and outside
    the grid): the loss and every trainable parameter's gradient equal the eager graph's to
    float64 rounding."""
    gen = torch.Generator().manual_seed(len(width) * 100 + k * 10 + grid)
    model = KAN(width, grid=grid, k=k, seed=1, base_fun=base).double()
    x = (torch.rand(64, width[0], generator=gen, dtype=torch.float64) * 2 - 1) * spread
    if adapted:
        model.update_grid_from_samples(x.clamp(-1, 1) * 0.9 + 0.05 * x.clamp(-1, 1) ** 3)
    y = torch.randn(64, width[-1], generator=gen, dtype=torch.float64)
    assert_same(*eager_and_fused(model, x, y), rtol=1e-12)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(width=st.lists(st.integers(1, 4), min_size=2, max_size=4), base=st.sampled_from(["silu", "zero"]),
       lamb=st.sampled_from([1e-3, 0.01, 1.0]), l1=st.sampled_from([0.0, 1.0]), entropy=st.sampled_from([0.0, 2.0]),
       masked=st.booleans())
def test_the_regularised_objective_equals_the_eager_graph(width, base, lamb, l1, entropy, masked) -> None:
    """``mse + lamb * R`` (the paper's L1 + entropy of each layer's mean |phi|): the value, its
    parts and every gradient equal ``forward_with_reg``'s eager graph; a pruned edge's |phi| = 0
    gets no gradient (abs's subgradient at 0 is 0, as in torch)."""
    gen = torch.Generator().manual_seed(sum(width) * 7 + int(lamb * 1000))
    model = KAN(width, grid=4, k=3, seed=2, base_fun=base).double()
    x = torch.rand(80, width[0], generator=gen, dtype=torch.float64) * 2.4 - 1.2
    y = torch.randn(80, width[-1], generator=gen, dtype=torch.float64)
    if masked:
        with torch.no_grad():
            model.layers[0].mask[0, 0] = 0.0
    params = trainable(model)
    pred, reg = forward_with_reg(model, x, lamb_l1=l1, lamb_entropy=entropy)
    loss = torch.mean((pred - y) ** 2)
    want = torch.autograd.grad(loss + lamb * reg, params)
    value, f_loss, f_reg = objective(model, x, y, lamb, l1, entropy)
    got = torch.autograd.grad(value, params)
    assert f_loss.item() == pytest.approx(loss.item(), rel=1e-12)
    assert f_reg.item() == pytest.approx(reg.item(), rel=1e-12, abs=1e-14)
    assert value.item() == pytest.approx((loss + lamb * reg).item(), rel=1e-12)
    assert not f_loss.requires_grad and not f_reg.requires_grad
    scale = max(1.0, (loss + lamb * reg).item())
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10 * scale)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(hidden=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)).filter(lambda t: sum(t) > 0), min_size=1, max_size=2),
       out_mult=st.booleans(), arity=st.sampled_from([2, 3, "mixed"]), lamb=st.sampled_from([0.0, 0.01]))
def test_multiplication_nodes_equal_the_eager_graph(hidden, out_mult, arity, lamb) -> None:
    """Sum and multiplication nodes (pykan's ``[n_sum, n_mult]`` widths, one arity or one per
    node): the objective and every gradient equal the eager graph's."""
    width = [2] + [list(h) for h in hidden] + [[0, 1] if out_mult else 1]
    if arity == "mixed":
        mults = [w[1] if isinstance(w, list) else 0 for w in width]
        arity = [[2 + (m % 2) for m in range(n)] for n in mults]
    model = KAN(width, grid=3, k=3, seed=3, mult_arity=arity).double()
    gen = torch.Generator().manual_seed(len(hidden) * 10 + int(out_mult))
    x = torch.rand(50, 2, generator=gen, dtype=torch.float64) * 2 - 1
    y = torch.randn(50, 1, generator=gen, dtype=torch.float64)
    params = trainable(model)
    pred, reg = forward_with_reg(model, x)
    torch.testing.assert_close(pred, model(x), rtol=1e-14, atol=1e-14)
    want_value = torch.mean((pred - y) ** 2) + lamb * reg
    want = torch.autograd.grad(want_value, params)
    value, _, _ = objective(model, x, y, lamb)
    got = torch.autograd.grad(value, params)
    assert value.item() == pytest.approx(want_value.item(), rel=1e-12)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10 * max(1.0, want_value.item()))


def test_float32_masked_edges_and_frozen_scales() -> None:
    """float32 within float32 rounding; a pruned edge (mask 0) and frozen spline scales get what
    the eager graph gives them (no gradient through the mask; none for frozen parameters)."""
    torch.manual_seed(0)
    model = KAN([3, 4, 2], grid=5, k=3, seed=0)
    with torch.no_grad():
        model.layers[0].mask[1, 2] = 0.0
    model.layers[1].scale_spline.requires_grad_(False)
    x, y = torch.rand(200, 3) * 2 - 1, torch.randn(200, 2)
    eager, fused = eager_and_fused(model, x, y)
    assert_same(eager, fused, rtol=2e-5)
    coef_grad = fused[1][0]
    assert coef_grad[1, 2].abs().max().item() == 0.0  # the masked edge's coefficients get nothing


def test_backward_scales_by_the_incoming_gradient() -> None:
    model = KAN([2, 3, 1], grid=4, k=3, seed=0).double()
    x, y = torch.rand(50, 2, dtype=torch.float64), torch.rand(50, 1, dtype=torch.float64)
    params = trainable(model)
    once = torch.autograd.grad(mse_loss(model, x, y), params)
    thrice = torch.autograd.grad(3.0 * mse_loss(model, x, y) + 1.0, params)
    for a, b in zip(once, thrice):
        torch.testing.assert_close(3.0 * a, b, rtol=1e-14, atol=0)


def test_accumulate_adds_what_backward_would() -> None:
    """``accumulate`` writes the gradients ``objective(...)[0].backward()`` gives into ``.grad``,
    adding to gradients already there (as autograd accumulates); values detached."""
    model = KAN([2, 4, 1], grid=4, k=3, seed=0).double()
    x, y = torch.rand(60, 2, dtype=torch.float64), torch.rand(60, 1, dtype=torch.float64)
    params = trainable(model)
    value, _, _ = objective(model, x, y, 0.01)
    want = torch.autograd.grad(value, params)
    got_value, loss, reg, _ = accumulate(model, x, y, 0.01)
    assert not got_value.requires_grad and got_value.item() == value.item()
    for p, w in zip(params, want):
        torch.testing.assert_close(p.grad, w, rtol=0, atol=0)
    accumulate(model, x, y, 0.01)
    for p, w in zip(params, want):
        torch.testing.assert_close(p.grad, 2 * w, rtol=1e-15, atol=0)


def test_the_kept_first_layer_follows_the_input_and_the_grid() -> None:
    """The first layer's local values kept between calls (a full-batch fit's repeated inputs) are
    reused only for the same, unchanged ``x`` on the same grid: after an in-place change of ``x``
    or a grid update the pass equals the eager graph again, and a reused pass equals a fresh one
    bit for bit."""
    model = KAN([2, 3, 1], grid=5, k=3, seed=0).double()
    x = torch.rand(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 2 - 1
    y = torch.rand(40, 1, dtype=torch.float64)
    first = objective(model, x, y)[0].item()
    assert model.layers[0].edge_basis.plan.kept_native is not None
    assert objective(model, x, y)[0].item() == first  # reused
    assert objective(model, x.clone(), y)[0].item() == first  # recomputed on other memory
    x.mul_(0.5)  # in place: the version counter moves
    assert_same(*eager_and_fused(model, x, y), rtol=1e-12)
    model.update_grid_from_samples(x)  # a new plan
    assert model.layers[0].edge_basis.plan.kept_native is None
    assert_same(*eager_and_fused(model, x, y), rtol=1e-12)


def test_accumulate_leaves_parameters_with_gradient_hooks_to_autograd() -> None:
    model = KAN([2, 3, 1], grid=4, k=3, seed=0)
    model.layers[0].coef.register_hook(lambda g: g * 0)
    x, y = torch.rand(20, 2), torch.rand(20, 1)
    assert accumulate(model, x, y) is None
    assert all(p.grad is None for p in model.parameters())
    assert objective(model, x, y) is not None  # autograd runs the hook there


def _hooked(model):
    model.layers[0].register_forward_hook(lambda *a: None)
    return model


@pytest.mark.parametrize("case", ["disabled", "symbolic", "hook", "no_grad", "shape", "dtype", "x_grad", "rbf"])
def test_everything_else_keeps_the_eager_path(case) -> None:
    """Where the compiled closure would not compute exactly what ``model(x)`` does, it declines."""
    model = KAN([2, 3, 1], grid=4, k=3, seed=0, **({"basis": "rbf"} if case == "rbf" else {}))
    x, y = torch.rand(20, 2), torch.rand(20, 1)
    if case == "symbolic":
        model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    if case == "hook":
        _hooked(model)
    if case == "shape":
        y = torch.rand(20)
    if case == "dtype":
        x = x.double()
    if case == "x_grad":
        x.requires_grad_(True)
    if case == "disabled":
        with native.disabled():
            assert mse_loss(model, x, y) is None
        return
    if case == "no_grad":
        with torch.no_grad():
            assert mse_loss(model, x, y) is None
        return
    assert mse_loss(model, x, y) is None


def test_networks_beyond_the_measured_sizes_keep_the_eager_path(monkeypatch) -> None:
    """Wide layers and many (point, edge) pairs go to the eager path's vectorised products."""
    import kanlab.fused as fused

    wide = KAN([16, 17, 1], grid=3, k=3, seed=0)  # 272 edges in the first layer
    assert mse_loss(wide, torch.rand(8, 16), torch.rand(8, 1)) is None
    model = KAN([2, 3, 1], grid=3, k=3, seed=0)
    x, y = torch.rand(100, 2), torch.rand(100, 1)
    assert mse_loss(model, x, y) is not None
    monkeypatch.setattr(fused, "MAX_EDGE_POINTS", 100 * 9 - 1)  # 100 rows x 9 edges
    assert mse_loss(model, x, y) is None


def test_fit_takes_the_compiled_closure_and_lands_where_the_eager_fit_does(monkeypatch) -> None:
    """``fit`` (lamb = 0, default loss) uses the closure; a short LBFGS fit ends at the eager
    fit's loss (trajectories differ only by rounding)."""
    import kanlab.fused as fused

    x = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = {"train_input": x, "train_label": torch.sin(3 * x[:, :1]) * x[:, 1:] ** 2}
    calls = []
    real = fused.accumulate
    monkeypatch.setattr(fused, "accumulate", lambda *args: calls.append(real(*args)) or calls[-1])
    compiled = KAN([2, 3, 1], grid=5, k=3, seed=0).double().fit(data, steps=4, progress=False, starts=False)
    assert calls and all(c is not None for c in calls)
    calls.clear()
    with native.disabled():
        eager = KAN([2, 3, 1], grid=5, k=3, seed=0).double().fit(data, steps=4, progress=False, starts=False)
    assert calls and all(c is None for c in calls)
    assert float(compiled["train_loss"][-1]) == pytest.approx(float(eager["train_loss"][-1]), rel=1e-6)


@pytest.mark.parametrize("kwargs", [{"lamb": 0.01}, {"lamb": 0.01, "lamb_coef": 1.0},
                                    {"lamb": 0.01, "reg_metric": "edge_forward_spline_n"}])
def test_a_regularised_fit_compiles_the_default_regulariser_only(monkeypatch, kwargs) -> None:
    """``fit(lamb > 0)`` takes the compiled pass for the default metric without coefficient
    terms (and records its loss and regulariser as the eager fit does); other metrics and
    coefficient terms keep the eager path."""
    import kanlab.fused as fused

    x = torch.rand(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    data = {"train_input": x, "train_label": x[:, :1] * x[:, 1:]}
    calls = []
    real = fused.accumulate
    monkeypatch.setattr(fused, "accumulate", lambda *args: calls.append(real(*args)) or calls[-1])
    res = KAN([2, 3, 1], grid=4, k=3, seed=0).double().fit(data, steps=3, progress=False, starts=False, **kwargs)
    with native.disabled():
        eager = KAN([2, 3, 1], grid=4, k=3, seed=0).double().fit(data, steps=3, progress=False, starts=False, **kwargs)
    assert bool(calls) == (len(kwargs) == 1)
    assert float(res["reg"][-1]) > 0
    assert float(res["reg"][-1]) == pytest.approx(float(eager["reg"][-1]), rel=1e-6)
    assert float(res["train_loss"][-1]) == pytest.approx(float(eager["train_loss"][-1]), rel=1e-6)


def test_native_mse_refuses_tensors_that_do_not_fit() -> None:
    """The C loop indexes raw memory: shapes that do not fit raise instead of reading past a buffer."""
    from kanlab.fused import _layers

    model = KAN([2, 3, 1], grid=4, k=3, seed=0)
    x, y = torch.rand(10, 2), torch.rand(10, 1)
    specs = _layers(model)
    native.mse(x, y, specs)  # fits
    with pytest.raises(ValueError, match="mask"):
        native.mse(x, y, [specs[0]._replace(mask=torch.ones(3, 3)), specs[1]])
    with pytest.raises(ValueError, match="coef inputs"):
        native.mse(torch.rand(10, 3), y, specs)
    with pytest.raises(ValueError, match="target"):
        native.mse(x, torch.rand(10, 2), specs)
    with pytest.raises(ValueError, match="x must be"):
        native.mse(x[:, 0], y, specs)


@pytest.mark.skipif(not native.available(), reason="no C compiler")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mse_value_is_the_forward_loss_without_gradients(dtype) -> None:
    """The forward-only pass (fit's test loss) equals the eager loss, needs no grad mode and
    leaves every .grad untouched."""
    model = KAN([2, [3, 1], 1], grid=4, k=3, seed=1).to(dtype)
    x = (torch.rand(150, 2, dtype=torch.float64) * 2.4 - 1.2).to(dtype)
    y = torch.sin(x[:, :1]) * x[:, 1:]
    with torch.no_grad():
        value = mse_value(model, x, y)
        expected = torch.mean((model(x) - y) ** 2)
    assert value is not None and not value.requires_grad
    torch.testing.assert_close(value, expected, rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=0)
    assert all(p.grad is None for p in model.parameters())
