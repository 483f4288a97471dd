"""kanlab.nn: KANLinear, the efficient-kan container, KANConv1d/2d, and the torch.nn superset."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import kanlab.nn as knn
from kanlab import splines
from kanlab.bases_family import BASIS_NAMES
from kanlab.layer import KANLayer
from kanlab.nn import KAN, KANConv1d, KANConv2d, KANLinear


def _edge_reference(layer: knn._KANConvNd, x: torch.Tensor) -> torch.Tensor:
    """An independent conv KAN: pad, unfold the receptive fields, evaluate every edge with the exact
    Cox-de Boor basis of its input channel and sum: ``(N, C, H, W) -> (N, O, H', W')`` (2-D only)."""
    xp = layer._pad(x)
    n, c = x.shape[:2]
    g, o = layer.groups, layer.out_channels
    cg, og = c // g, o // g
    kh, kw = layer.kernel_size
    cols = F.unfold(xp, layer.kernel_size, dilation=layer.dilation, stride=layer.stride)  # (N, C*kh*kw, L)
    patches = cols.view(n, c, kh * kw, -1)
    knots, k = layer.knots, layer.spline_order
    out = torch.zeros(n, o, patches.shape[-1], dtype=torch.float64)
    for oo in range(o):
        grp = oo // og
        for cl in range(cg):
            ch = grp * cg + cl
            v = patches[:, ch].reshape(-1, 1).double()  # (N*kh*kw*L, 1)
            basis = splines.bspline_basis(v, knots[ch:ch + 1].double(), k)[:, 0].view(n, kh * kw, -1, layer.n_basis)
            coef = layer.coef[oo, cl].double().reshape(layer.n_basis, kh * kw).T  # (kh*kw, n_basis)
            spline = torch.einsum("nulb,ub->nul", basis, coef)
            base = F.silu(patches[:, ch].double())
            phi = layer.scale_spline[oo, cl].double().reshape(-1, 1) * spline + layer.scale_base[oo, cl].double().reshape(-1, 1) * base
            out[:, oo] += phi.sum(1)
    if layer.bias is not None:
        out += layer.bias.double()[None, :, None]
    h = (xp.shape[2] - layer.dilation[0] * (kh - 1) - 1) // layer.stride[0] + 1
    return out.view(n, o, h, -1)


# ------------------------------------------------------------------ the torch.nn superset
def test_star_import_nn_is_torch_nn_plus_kan_layers() -> None:
    """pykan-style code after ``from kanlab import *`` keeps working, and finds the KAN layers."""
    code = (
        "from kanlab import *\n"
        "import torch as t\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(2, 3)\n"
        "        self.kan = nn.KANLinear(3, 1)\n"
        "    def forward(self, x):\n"
        "        return self.kan(nn.functional.relu(self.lin(x)))\n"
        "m = M()\n"
        "assert m(torch.zeros(4, 2)).shape == (4, 1)\n"
        "assert isinstance(m, t.nn.Module) and nn.Module is t.nn.Module and nn.Parameter is t.nn.Parameter\n"
        "assert nn.functional is t.nn.functional and nn.init is t.nn.init\n"
        "assert len(list(m.parameters())) == 2 + 3\n"  # lin: weight, bias; kan: coef, scale_base, scale_spline
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_torch_nn_name_is_torch_nns_own() -> None:
    """No module-level name of kanlab.nn shadows a torch.nn name with something else."""
    names = [n for n in dir(torch.nn) if not n.startswith("_")]
    assert len(names) > 100
    differ = [n for n in names if getattr(knn, n) is not getattr(torch.nn, n)]
    assert differ == []
    assert {"KANLinear", "KANConv2d", "Conv2d", "functional"} <= set(dir(knn))
    from kanlab.nn import Conv2d, init  # a from-import goes through __getattr__ too
    assert Conv2d is torch.nn.Conv2d and init is torch.nn.init
    with pytest.raises(AttributeError, match="nor has torch.nn"):
        knn.NoSuchLayer  # noqa: B018


# ------------------------------------------------------------------ KANLinear and the container
def test_kan_linear_shapes_and_formula() -> None:
    """``(*, in) -> (*, out)``, equal to the edge formula with efficient-kan's base_activation class."""
    torch.manual_seed(0)
    layer = KANLinear(4, 3, grid_size=6, spline_order=2, base_activation=torch.nn.GELU, scale_noise=1.0)
    assert layer.in_features == 4 and layer.out_features == 3 and layer.base_fun_name == "custom"
    x = torch.rand(2, 5, 4) * 2 - 1
    y = layer(x)
    assert y.shape == (2, 5, 3)
    flat = x.reshape(-1, 4).double()
    basis = splines.bspline_basis(flat, layer.knots.double(), 2)  # (b, in, n_basis)
    spline = torch.einsum("bin,oin->boi", basis, layer.coef.double())
    phi = layer.scale_spline.double() * spline + layer.scale_base.double() * F.gelu(flat).unsqueeze(1)
    torch.testing.assert_close(y.reshape(-1, 3).double(), phi.sum(-1), atol=1e-5, rtol=1e-5)
    assert layer(torch.zeros(0, 4)).shape == (0, 3)
    with pytest.raises(RuntimeError, match=r"expects input of shape \(\*, 4\)"):
        layer(torch.zeros(2, 5))


def test_kan_linear_arguments_map_to_the_layer() -> None:
    layer = KANLinear(16, 2, scale_base=0.5, scale_spline=2.0, enable_standalone_scale_spline=False,
                      base_activation=torch.nn.Identity)
    assert layer.base_fun_name == "identity" and not layer.scale_spline.requires_grad
    top = float(layer.scale_base.detach().abs().max())
    assert 0.05 < top <= 0.5 / 4
    torch.testing.assert_close(layer.scale_spline, torch.full((2, 16), 2.0 / 4))
    assert float(layer.coef.detach().abs().max()) <= 0.1 / (2 * 5)
    assert KANLinear(3, 2, base_activation=torch.nn.SiLU()).base_fun_name == "silu"
    assert "in_features=16, out_features=2" in repr(layer) and "basis='bspline'" in repr(layer)
    with pytest.raises(ValueError, match="base_activation must be one of"):
        KANLinear(3, 2, base_activation="tanhh")
    with pytest.raises(ValueError, match="basis must be one of"):
        KANLinear(3, 2, basis="wavelets")


def test_reset_parameters_redraws_reproducibly() -> None:
    layer = KANLinear(5, 4)
    before = layer.coef.detach().clone()
    layer.reset_parameters(torch.Generator().manual_seed(3))
    first = [p.detach().clone() for p in (layer.coef, layer.scale_base)]
    assert not torch.equal(first[0], before)
    layer.reset_parameters(torch.Generator().manual_seed(3))
    assert torch.equal(layer.coef, first[0]) and torch.equal(layer.scale_base, first[1])


def test_update_grid_keeps_the_function_on_the_batch() -> None:
    torch.manual_seed(0)
    model = KAN([3, 4, 2], scale_noise=1.0)
    x = torch.randn(256, 3) * 0.4
    before = model(x).detach()
    knots = model.layers[0].knots.clone()
    after = model(x, update_grid=True).detach()
    assert not torch.equal(knots, model.layers[0].knots)  # the grid moved to the data
    assert float(model.layers[0].knots[:, 3].max()) < -0.5  # the first grid point near the data's minimum
    err = (after - before).norm() / before.norm()
    assert float(err) < 2e-2, float(err)
    torch.testing.assert_close(model(x), after)  # update_grid=True only updates, then computes as usual


def test_regularization_loss_matches_its_formula() -> None:
    layer = KANLinear(2, 2)
    with torch.no_grad():
        layer.coef.zero_()
        layer.coef[0, 0] = 2.0
        layer.coef[1, 1, :4] = -3.0  # mean |.| over n_basis = 8: 1.5
        layer.scale_spline.fill_(1.0)
    l1 = torch.tensor([2.0, 1.5])
    p = l1 / l1.sum()
    expected = 0.5 * l1.sum() - 2.0 * (p * p.log()).sum()
    torch.testing.assert_close(layer.regularization_loss(0.5, 2.0), expected)
    model = KAN([2, 2, 2])
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.zero_()
    loss = model.regularization_loss()
    assert float(loss.detach()) == 0.0  # all-zero weights: no NaN from 0 log 0
    model.layers[0].coef.data[0, 0, 0] = 1.0
    model.regularization_loss().backward()
    assert torch.isfinite(model.layers[0].coef.grad).all() and model.layers[0].coef.grad.abs().sum() > 0


# ------------------------------------------------------------------ convolutions: shapes and checks
CONV2D_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3), stride=(2, 1)),
    dict(kernel_size=3, padding=1, stride=2),
    dict(kernel_size=3, padding=(2, 0), dilation=2),
    dict(kernel_size=4, padding="same"),
    dict(kernel_size=(3, 2), padding="same", dilation=(1, 3)),
    dict(kernel_size=3, padding="valid", groups=2),
    dict(kernel_size=1, groups=4, bias=False),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=2, padding_mode="replicate", stride=3),
    dict(kernel_size=(3, 5), padding=(1, 2), padding_mode="circular", groups=2),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch.nn.Conv2d's own
@pytest.mark.parametrize("case", CONV2D_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv2d_shapes_and_identity_base_equal_torch(case: dict) -> None:
    """Output shapes equal nn.Conv2d's; with zero spline coefficients and an identity base the
    KAN conv *is* an ordinary convolution whose weight is ``scale_base``."""
    torch.manual_seed(0)
    kan = KANConv2d(4, 8, base_activation="identity", **case)
    conv = torch.nn.Conv2d(4, 8, **case)
    with torch.no_grad():
        kan.coef.zero_()
        conv.weight.copy_(kan.scale_base)
        if conv.bias is not None:
            conv.bias.copy_(kan.bias)
    for x in (torch.randn(2, 4, 11, 9), torch.randn(4, 7, 8)):  # batched and unbatched
        y = kan(x)
        assert y.shape == conv(x).shape
        torch.testing.assert_close(y, conv(x), atol=1e-5, rtol=1e-5)
    assert kan(torch.randn(0, 4, 11, 9)).shape == conv(torch.randn(0, 4, 11, 9)).shape


CONV1D_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=4, stride=3, padding=2),
    dict(kernel_size=2, padding="same", dilation=3),
    dict(kernel_size=3, groups=2, padding=1, padding_mode="circular"),
    dict(kernel_size=5, padding=(2,), padding_mode="reflect", bias=False),
]


@pytest.mark.parametrize("case", CONV1D_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv1d_shapes_and_identity_base_equal_torch(case: dict) -> None:
    torch.manual_seed(0)
    kan = KANConv1d(2, 6, base_activation="identity", **case)
    conv = torch.nn.Conv1d(2, 6, **case)
    with torch.no_grad():
        kan.coef.zero_()
        conv.weight.copy_(kan.scale_base)
        if conv.bias is not None:
            conv.bias.copy_(kan.bias)
    for x in (torch.randn(3, 2, 13), torch.randn(2, 9)):
        torch.testing.assert_close(kan(x), conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", [dict(kernel_size=3, padding=1, stride=2, groups=2),
                                  dict(kernel_size=(2, 3), dilation=(2, 1), padding="same", padding_mode="reflect")])
def test_conv2d_is_the_kan_edge_sum_over_the_receptive_field(case: dict) -> None:
    """With non-zero splines, every output is the sum of its receptive field's edge functions
    (checked against an unfold + Cox-de Boor reference in float64)."""
    torch.manual_seed(1)
    layer = KANConv2d(4, 6, scale_noise=5.0, **case)
    x = torch.rand(2, 4, 7, 8) * 2.4 - 1.2  # some values beyond the grid range too
    torch.testing.assert_close(layer(x).double(), _edge_reference(layer, x), atol=1e-5, rtol=1e-5)


def test_full_kernel_conv_equals_a_kan_layer_on_the_flattened_input() -> None:
    torch.manual_seed(2)
    conv = KANConv2d(2, 3, (3, 4), bias=False, scale_noise=5.0)
    layer = KANLayer(2 * 3 * 4, 3)
    with torch.no_grad():  # KANLayer's inputs are (c, i, j) flattened, coef (out, in, n_basis)
        layer.coef.copy_(conv.coef.permute(0, 1, 3, 4, 2).reshape(3, 24, -1))
        layer.scale_base.copy_(conv.scale_base.reshape(3, 24))
        layer.scale_spline.copy_(conv.scale_spline.reshape(3, 24))
    x = torch.rand(5, 2, 3, 4) * 2 - 1
    torch.testing.assert_close(conv(x).reshape(5, 3), layer(x.reshape(5, 24)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("build, x, error, match", [
    (lambda: KANConv2d(3, 4, 3), torch.zeros(1, 2, 8, 8), RuntimeError, "expected input.*to have 3 channels, but got 2"),
    (lambda: KANConv2d(3, 6, 3, groups=3), torch.zeros(1, 6, 8, 8), RuntimeError, "Given groups=3"),
    (lambda: KANConv2d(1, 4, 5), torch.zeros(1, 1, 4, 8), RuntimeError, r"padded input size per channel: \(4 x 8\). "
                                                                        r"Kernel size: \(5 x 5\)"),
    (lambda: KANConv2d(1, 4, 3, dilation=3), torch.zeros(1, 1, 6, 8), RuntimeError, "Kernel size: \\(7 x 7\\)"),
    (lambda: KANConv1d(1, 4, 3), torch.zeros(1, 1, 2, 8), RuntimeError, r"Expected 2D \(unbatched\) or 3D"),
    (lambda: KANConv2d(1, 4, 3), torch.zeros(1, 8, 8, dtype=torch.float64), RuntimeError, "Input type"),
])
def test_conv_rejects_bad_inputs_like_torch(build, x, error, match) -> None:
    with pytest.raises(error, match=match):
        build()(x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), "in_channels must be divisible by groups"),
    (dict(in_channels=4, out_channels=3, kernel_size=3, groups=2), "out_channels must be divisible by groups"),
    (dict(in_channels=4, out_channels=4, kernel_size=3, groups=0), "groups must be a positive integer"),
    (dict(in_channels=1, out_channels=4, kernel_size=0), "kernel_size must be an int >= 1"),
    (dict(in_channels=1, out_channels=4, kernel_size=(3, 3, 3)), "tuple of 2"),
    (dict(in_channels=1, out_channels=4, kernel_size=3, stride=0), "stride must be"),
    (dict(in_channels=1, out_channels=4, kernel_size=3, padding=-1), "padding must be"),
    (dict(in_channels=1, out_channels=4, kernel_size=3, padding="full"), "Invalid padding string 'full'"),
    (dict(in_channels=1, out_channels=4, kernel_size=3, padding="same", stride=2), "not supported for strided"),
    (dict(in_channels=1, out_channels=4, kernel_size=3, padding_mode="mirror"), "padding_mode must be one of"),
    (dict(in_channels=1, out_channels=4, kernel_size=3, basis="wavelets"), "basis must be one of"),
])
def test_conv_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        KANConv2d(**kwargs)


# ------------------------------------------------------------------ convolutions: training state
def test_conv_gradients_reach_the_input_and_every_parameter() -> None:
    torch.manual_seed(0)
    layer = KANConv2d(2, 4, 3, padding=1, groups=2)
    x = (torch.rand(2, 2, 6, 6) * 2 - 1).requires_grad_(True)
    layer(x).square().sum().backward()
    for name, p in [("input", x), *layer.named_parameters()]:
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()) and float(p.grad.abs().sum()) > 0, name
    conv64 = KANConv1d(2, 2, 3, padding=1, scale_noise=5.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(conv64, torch.rand(1, 2, 5, dtype=torch.float64, requires_grad=True) * 1.8 - 0.9)


def test_conv_device_and_dtype_follow_the_parameters() -> None:
    layer = KANConv2d(2, 3, 3, dtype=torch.float64)
    assert {t.dtype for t in list(layer.parameters()) + list(layer.buffers())} == {torch.float64}
    x = torch.rand(1, 2, 5, 5, dtype=torch.float64)
    y64 = layer(x)
    assert y64.dtype == torch.float64
    layer.float()
    assert layer.knots.dtype == torch.float32
    torch.testing.assert_close(layer(x.float()), y64.float(), atol=1e-5, rtol=1e-5)
    if torch.cuda.is_available():
        cuda = KANConv2d(2, 3, 3, device="cuda")
        assert cuda.knots.device.type == "cuda" and cuda.coef.device.type == "cuda"
        torch.testing.assert_close(layer.cuda()(x.float().cuda()).cpu(), y64.float(), atol=1e-5, rtol=1e-5)


def test_conv_state_dict_round_trips_across_grid_sizes() -> None:
    torch.manual_seed(0)
    layer = KANConv2d(3, 4, 3, groups=1, scale_noise=3.0)
    x = torch.randn(2, 3, 8, 8) * 0.5
    layer.update_grid(x, grid_size=8)
    assert layer.coef.shape == (4, 3, 11, 3, 3)
    fresh = KANConv2d(3, 4, 3)  # grid 5: adopts the saved grid size
    fresh.load_state_dict(layer.state_dict())
    assert fresh.grid_size == 8 and torch.equal(fresh.knots, layer.knots)
    torch.testing.assert_close(fresh(x), layer(x))
    with pytest.raises(RuntimeError, match="size mismatch"):
        KANConv2d(3, 5, 3).load_state_dict(layer.state_dict())
    twin = copy.deepcopy(layer)  # a copy owns its grid: updating it leaves the original alone
    twin.update_grid(x * 3)
    assert twin.edge_basis._state is twin._buffers and not torch.equal(twin.knots, layer.knots)


def test_conv_grid_update_and_refine_keep_each_channels_edges() -> None:
    """Channels with different data get different grids; refitting applies each input channel's
    refit to its own edges (groups included), so the functions are kept."""
    torch.manual_seed(0)
    layer = KANConv2d(4, 6, 3, groups=2, scale_noise=3.0)
    scale = torch.tensor([0.2, 0.5, 0.9, 0.3]).view(1, 4, 1, 1)
    shift = torch.tensor([0.0, 0.3, -0.2, 0.5]).view(1, 4, 1, 1)
    x = (torch.rand(4, 4, 10, 10) * 2 - 1) * scale + shift
    before = layer(x).detach()
    layer.update_grid(x)
    grid = layer.knots[:, 3:-3]
    assert float((grid[:, -1] - grid[:, 0]).std()) > 0.1  # one grid per channel, fitted to it
    after = layer(x).detach()
    assert float((after - before).norm() / before.norm()) < 2e-2
    layer.refine(10)  # a multiple of the grid: the new knots contain the old, the function is exact
    assert layer.grid_size == 10
    torch.testing.assert_close(layer(x), after, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ every basis
@pytest.mark.parametrize("name", BASIS_NAMES)
def test_every_basis_builds_linear_and_conv_layers(name: str) -> None:
    torch.manual_seed(0)
    lin = KAN([3, 4, 2], basis=name)
    conv = KANConv2d(2, 3, 3, padding=1, basis=name)
    assert lin.layers[0].basis_name == name and f"basis={name!r}" in repr(conv)
    x = (torch.rand(5, 3) * 2 - 1).requires_grad_(True)
    img = (torch.rand(2, 2, 6, 6) * 2 - 1).requires_grad_(True)
    y, z = lin(x), conv(img)
    assert y.shape == (5, 2) and z.shape == (2, 3, 6, 6)
    assert bool(torch.isfinite(y).all()) and bool(torch.isfinite(z).all())
    (y.sum() + z.sum()).backward()
    assert float(x.grad.abs().sum()) > 0 and float(img.grad.abs().sum()) > 0
    if conv.edge_basis.has_grid:
        conv.update_grid(img)
        lin(x, update_grid=True)
    else:
        with pytest.raises(ValueError, match="has no grid"):
            conv.update_grid(img)
        with pytest.raises(ValueError, match="has no grid"):
            lin(x, update_grid=True)


# ------------------------------------------------------------------ the example
def test_conv_mnist_example_runs_and_matches_sizes(capsys) -> None:
    """examples/conv_mnist.py on a tiny budget: both models train, are tested, and have the same size."""
    import importlib.util
    from pathlib import Path

    from kanlab.datasets.core import data_folder

    try:
        found = (data_folder(None) / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    except FileNotFoundError:
        found = False
    if not found:
        pytest.skip("MNIST files not found (KANLAB_DATA or ../shared/data)")
    path = Path(__file__).resolve().parents[1] / "examples" / "conv_mnist.py"
    spec = importlib.util.spec_from_file_location("conv_mnist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    threads = torch.get_num_threads()
    try:
        rows = module.main(["--quick", "--budget", "0.3", "--datasets", "mnist"])
    finally:
        torch.set_num_threads(threads)
    assert [r["model"] for r in rows] == ["conv KAN", "CNN"]
    kan, cnn = rows
    assert abs(kan["params"] - cnn["params"]) / kan["params"] < 0.02
    assert all(r["steps"] >= 1 and 0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert "| mnist | conv KAN | 16,322 |" in capsys.readouterr().out
