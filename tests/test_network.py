"""The network (kanlab.network): construction, validation, grids, dtype/device, plain nn.Module use,
the PyTorch toolbox (jit.trace, torch.func)."""
import pytest
import torch
from torch import nn

from kanlab import KAN, create_dataset


def test_seed_is_deterministic_and_private() -> None:
    state = torch.random.get_rng_state()
    m1, m2 = KAN([2, 3, 1], seed=5), KAN([2, 3, 1], seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
    assert not torch.equal(KAN([2, 3, 1], seed=6).layers[0].coef, m1.layers[0].coef)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(width=[2]), "at least 2"),
        (dict(width=[2, 0, 1]), "positive int"),
        (dict(width=[[2, 1], 1]), "input layer cannot have multiplication"),
        (dict(width=[2, [0, 0], 1]), r"\[n_sum, n_mult\]"),
        (dict(width=[2, [1, -1], 1]), r"\[n_sum, n_mult\]"),
        (dict(width=[2, [1, 2, 3], 1]), r"\[n_sum, n_mult\]"),
        (dict(width=[2, 1], k=0), "k must be a positive"),
        (dict(width=[2, 1], grid=0), "grid must be a positive"),
        (dict(width=[2, 1], grid=3, grid_size=4), "disagree"),
        (dict(width=[2, 1], grid_range=(1, -1)), "grid_range"),
        (dict(width=[2, 1], grid_eps=2.0), "grid_eps"),
        (dict(width=[2, 1], base_fun="nope"), "base_fun"),
    ],
)
def test_bad_construction(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        KAN(**kwargs)


def test_width_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="width"):
        KAN(5)


@pytest.mark.parametrize(
    "x, err, match",
    [
        (torch.rand(4, 3), ValueError, r"shape \(\.\.\., 2\)"),
        (torch.rand(4), ValueError, r"shape \(\.\.\., 2\)"),
        (torch.tensor(1.0), ValueError, r"shape \(\.\.\., 2\)"),
        (torch.rand(0, 2), ValueError, "empty batch"),
        (torch.rand(3, 0, 2), ValueError, "empty batch"),
        (torch.tensor([[0.0, float("nan")]]), ValueError, "NaN or Inf"),
        (torch.tensor([[0.0, float("inf")]]), ValueError, "NaN or Inf"),
        (torch.tensor([[float("inf"), -float("inf")]]), ValueError, "NaN or Inf"),
        (torch.tensor([[3e38, 3e38], [3e38, float("nan")]]), ValueError, "NaN or Inf"),
        (torch.rand(4, 2, dtype=torch.float64), TypeError, "dtype"),
        (torch.ones(4, 2, dtype=torch.long), TypeError, "dtype"),
        ([[0.0, 1.0]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_inputs(x, err, match) -> None:
    with pytest.raises(err, match=match):
        KAN([2, 3, 1])(x)


def test_finite_inputs_whose_sum_overflows_are_accepted() -> None:
    """The input check sums first; a sum that overflows on finite values is not an error."""
    x = torch.full((4, 2), 3e38)
    assert torch.isinf(x.sum())
    assert KAN([2, 3, 1], seed=0)(x).shape == (4, 1)


def test_device_mismatch_is_named() -> None:
    with pytest.raises(ValueError, match="is on meta but the model is on cpu"):
        KAN([2, 1])(torch.empty(3, 2, device="meta"))


def test_float64_end_to_end() -> None:
    model = KAN([2, 3, 1], dtype=torch.float64, seed=0)
    assert all(t.dtype == torch.float64 for t in model.state_dict().values() if t.is_floating_point())
    model32 = KAN([2, 3, 1], seed=0).double()
    x = torch.rand(8, 2, dtype=torch.float64)
    assert model(x).dtype == torch.float64
    torch.testing.assert_close(model(x), model32(x), atol=1e-6, rtol=1e-6)


def test_no_default_device_allocations() -> None:
    # with a foreign default device, everything built for the CPU must still land on the CPU
    with torch.device("meta"):
        model = KAN([2, 3, 1], seed=0, device="cpu")
        dataset = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=50, test_num=10)
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    assert all(t.device.type == "cpu" for t in dataset.values())
    torch.testing.assert_close(model.layers[0].coef, KAN([2, 3, 1], seed=0).layers[0].coef)


def test_layer_math_runs_on_meta_device() -> None:
    model = KAN([3, 4, 2], device="meta", seed=0)
    assert all(t.device.type == "meta" for t in model.state_dict().values())
    out = model.layers[0](torch.empty(5, 3, device="meta"))  # the layer math is device-agnostic
    assert out.device.type == "meta" and out.shape == (5, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:  # pragma: no cover - runs where a GPU is present
    cpu = KAN([2, 4, 1], seed=0, dtype=torch.float64)
    gpu = KAN([2, 4, 1], seed=0, dtype=torch.float64, device="cuda")
    x = torch.rand(100, 2, dtype=torch.float64)
    torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x))
    gpu.update_grid_from_samples(x.cuda())
    gpu.refine(10)
    assert gpu.layers[0].knots.device.type == "cuda"


def test_model_update_grid_keeps_function() -> None:
    model = KAN([2, 4, 1], seed=0, dtype=torch.float64)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.copy_(torch.sin(torch.linspace(0, 3, layer.n_basis, dtype=torch.float64)).expand_as(layer.coef))
    x = torch.rand(2000, 2, dtype=torch.float64) * 1.6 - 0.8
    before = model(x)
    assert model.update_grid_from_samples(x) is model
    torch.testing.assert_close(model(x), before, atol=1e-3 * before.abs().max().item(), rtol=0)


def test_refine_forms_and_return_value() -> None:
    model = KAN([2, 3, 1], grid=3, seed=0, dtype=torch.float64)
    x = torch.rand(300, 2, dtype=torch.float64) * 2 - 1
    before = model(x)
    assert model.refine(grid_factor=2) is model and model.grid == 6
    model = model.refine(12)
    assert model.grid == 12 and all(layer.grid_size == 12 for layer in model.layers)
    torch.testing.assert_close(model(x), before, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="exactly one"):
        model.refine()
    with pytest.raises(ValueError, match="positive"):
        model.refine(0)


def test_plain_module_training_with_dataloader() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 6, generator=gen)
    y = (x[:, 0] * x[:, 1] + torch.sin(2 * x[:, 2]) > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    torch.manual_seed(0)
    model = KAN([6, 16, 2])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        start = loss_fn(model(x), y).item()
    for _ in range(15):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
        assert loss_fn(model(x), y).item() < 0.5 * start
    assert acc > 0.9


@pytest.mark.parametrize("fast", [True, False])
def test_leading_dims_like_nn_linear(fast: bool) -> None:
    """``(*, in) -> (*, out)``: any leading dims give the flattened batch's output reshaped, with
    the same gradients, for KAN (sum and multiplication nodes) and a bare KANLayer."""
    from kanlab import KANLayer

    torch.manual_seed(0)
    for module, n_in, n_out in [(KAN([3, 4, 2], seed=0, fast=fast), 3, 2),
                                (KAN([2, [1, 1], 1], seed=1, fast=fast), 2, 1),
                                (KANLayer(3, 5, fast=fast), 3, 5)]:
        x = (torch.rand(4, 5, n_in) * 2 - 1).requires_grad_()
        flat = x.detach().reshape(-1, n_in).requires_grad_()
        y, y_flat = module(x), module(flat)
        assert y.shape == (4, 5, n_out)
        assert torch.equal(y, y_flat.reshape(4, 5, n_out))
        w = torch.randn(4, 5, n_out)  # a loss that weighs every output differently
        params = [p for p in module.parameters() if p.requires_grad]
        (g_x, *g_p), (g_flat, *g_p_flat) = (
            torch.autograd.grad((out.reshape(4, 5, n_out) * w).sum(), [inp, *params], allow_unused=True)
            for out, inp in ((y, x), (y_flat, flat)))
        assert g_x.abs().sum() > 0 and torch.equal(g_x, g_flat.reshape(4, 5, n_in))
        assert any(g is not None for g in g_p)
        assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(g_p, g_p_flat))
        one = x.detach()[1, 2]  # a single sample (in,) -> (out,), like nn.Linear
        assert torch.equal(module(one), module(one[None])[0]) and module(one).shape == (n_out,)
        assert module(x.detach()[:, :1]).shape == (4, 1, n_out)


def test_jit_trace_of_a_fresh_model_matches_eager() -> None:
    torch.manual_seed(0)
    model = KAN([2, 3, 1], seed=0)
    x = torch.rand(16, 2) * 2 - 1
    traced = torch.jit.trace(model, x)
    for batch in (x, torch.rand(5, 2) * 4 - 2):  # another batch size and points outside the grid
        assert torch.allclose(traced(batch), model(batch), rtol=0, atol=1e-6)


def test_torch_func_vmap_jacrev_and_hessian_match_autograd() -> None:
    """Per-sample derivatives (PINN style) through torch.func transforms: inputs are wrapped
    tensors there, so the data-dependent NaN check must stand aside. The reference path (the fast
    path's custom Function is kanlab.kernels' business)."""
    torch.manual_seed(0)
    model = KAN([2, 3, 1], seed=0, fast=False, dtype=torch.float64)
    x = torch.rand(8, 2, dtype=torch.float64) * 2 - 1
    jac = torch.func.vmap(torch.func.jacrev(model))(x)  # (8, 1, 2)
    rows_are_independent = torch.autograd.functional.jacobian(lambda v: model(v).sum(0), x)  # (1, 8, 2)
    assert jac.shape == (8, 1, 2) and jac.abs().max() > 1e-2
    assert torch.allclose(jac, rows_are_independent.transpose(0, 1), rtol=0, atol=1e-12)
    hess = torch.func.vmap(torch.func.hessian(lambda v: model(v)[0]))(x)  # (8, 2, 2)
    loop = torch.stack([torch.autograd.functional.hessian(lambda v: model(v[None]).sum(), xi) for xi in x])
    assert hess.shape == (8, 2, 2) and hess.abs().max() > 1e-3
    assert torch.allclose(hess, loop, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="NaN"):  # eager calls still check
        model(torch.tensor([[0.0, float("nan")]], dtype=torch.float64))


def test_integer_input_is_told_to_convert_the_input_not_the_model() -> None:
    model = KAN([2, 1], seed=0)
    with pytest.raises(TypeError, match=r"x.to\(torch.float32\) \(a KAN computes in a floating point dtype\)"):
        model(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"or the model with .to\(torch.float64\)"):
        model(torch.ones(3, 2, dtype=torch.float64))


def test_pykans_constructor_options_are_accepted_or_refused_with_the_alternative() -> None:
    """pykan's KAN(...) options: no-ops where they only serve pykan's machinery, save_act with
    pykan's meaning, and a ValueError naming what to do for those kanlab cannot honour."""
    from kanlab import KAN

    model = KAN(width=[2, 3, 1], grid=3, k=3, seed=1, symbolic_enabled=False, affine_trainable=False,
                sparse_init=False, auto_save=False, first_init=True, ckpt_path="./model", state_id=0, round=0,
                save_act=False)
    assert not model.save_act and not model.symbolic_enabled
    assert torch.equal(model(torch.zeros(4, 2)), KAN(width=[2, 3, 1], grid=3, k=3, seed=1)(torch.zeros(4, 2)))
    for option, hint in (("affine_trainable", "scale/bias"), ("sparse_init", "prune")):
        with pytest.raises(ValueError, match=hint):
            KAN([2, 1], **{option: True})
