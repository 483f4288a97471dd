"""The compiled small-layer basis loop (kanlab/native.py) against the eager path and the exact basis."""
import contextlib
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kanlab import KAN, kernels, native, splines
from kanlab.localbasis import LocalBasis
from test_kernels import ULPS, knots_and_points

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the eager path runs instead")


def eager_pair(plan: LocalBasis, x: torch.Tensor, base=None):
    with native.disabled():
        assert not native.applies(x)
        return plan.dense_pair(x, base)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(data=st.data(), dtype=st.sampled_from([torch.float32, torch.float64]),
       kind=st.sampled_from(["uniform", "jittered", "heavy", "repeated"]), k=st.integers(1, 4),
       grid=st.sampled_from([3, 5, 20, 200]))
def test_compiled_pair_equals_the_exact_basis_and_the_eager_slopes(data, dtype, kind, k, grid) -> None:
    """Values within ULPS ulps of the exact basis of the same stored knots (one ulp beside every
    knot included), slopes equal to the eager path's to rounding."""
    knots, x = knots_and_points(data.draw, dtype, kind, k, grid)
    plan = LocalBasis.from_knots(knots, k)
    assert native.applies(x)
    values, slopes = plan.dense_pair(x)
    exact = splines.bspline_basis(x.double(), knots.double(), k)  # (n, 1, n_basis)
    assert (values.double() - exact[:, 0]).abs().max().item() <= ULPS * torch.finfo(dtype).eps
    eager_values, eager_slopes = eager_pair(plan, x)
    scale = eager_slopes.abs().max().item() + 1e-30
    assert (slopes - eager_slopes).abs().max().item() <= 64 * torch.finfo(dtype).eps * scale


@pytest.mark.parametrize("adapted", [False, True])
def test_compiled_pair_with_base_rows_nan_and_outside_points(adapted: bool) -> None:
    layer = KAN([3, 2], grid=6, k=3, seed=0).layers[0]
    if adapted:
        layer.update_grid_from_samples(torch.randn(300, 3) * 0.6)
    plan = layer.edge_basis.plan
    assert plan.cardinal == (not adapted)
    x = torch.cat([torch.rand(50, 3) * 4 - 2, torch.tensor([[math.nan, 0.1, 5.0]])])
    base = (layer._base.fn, layer._base.d1)
    got, want = plan.dense_pair(x, base), eager_pair(plan, x, base)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        torch.testing.assert_close(g[:50], w[:50], atol=1e-6, rtol=1e-5)
        # the NaN input's features are NaN where the eager path's are; its other inputs' are equal
        row, wrow = g[50].view(-1, 3), w[50].view(-1, 3)
        assert torch.isnan(row[:, 0]).any() and torch.isnan(wrow[:, 0]).any()
        torch.testing.assert_close(row[:, 1:], wrow[:, 1:], atol=1e-6, rtol=1e-5)


def test_a_fit_closure_gives_the_eager_gradients() -> None:
    """One loss-and-gradient evaluation of [2, 5, 1] after a grid update, compiled loop on and off."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, 2, generator=gen, dtype=torch.float64) * 2 - 1
    y = torch.sin(3 * x[:, :1]) * x[:, 1:]
    grads = []
    for on in (True, False):
        model = KAN([2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
        model.update_grid_from_samples(x)
        with contextlib.nullcontext() if on else native.disabled():
            torch.mean((model(x) - y) ** 2).backward()
        grads.append([p.grad for p in model.parameters() if p.requires_grad])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_no_compiler_or_disabled_means_the_eager_path(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("KANLAB_NATIVE", "0")
    assert native.library() is None and not native.applies(torch.zeros(2, 2))
    monkeypatch.delenv("KANLAB_NATIVE")
    monkeypatch.setattr(native, "_TRIED", False)
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setenv("KANLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    assert not native.available()
    layer = KAN([2, 3], grid=5, seed=0).layers[0]
    x = torch.rand(10, 2)
    torch.testing.assert_close(layer.edge_basis.plan.dense_pair(x)[0], eager_pair(layer.edge_basis.plan, x)[0])


def test_a_traced_basis_is_recomputed_not_baked_in() -> None:
    """torch.jit.trace records tensor operations; the C loop's output would be a constant of the
    trace, so tracing keeps the eager path."""
    plan = KAN([2, 3], grid=5, seed=0).layers[0].edge_basis.plan
    traced = torch.jit.trace(lambda v: plan.dense(v), torch.rand(6, 2), check_trace=False)
    other = torch.rand(6, 2) * 2 - 1
    torch.testing.assert_close(traced(other), plan.dense(other))


@pytest.mark.parametrize("adapted", [False, True])
def test_a_compiled_graph_calls_the_loop_as_one_operator(adapted: bool) -> None:
    """Under torch.compile the dense basis is the operator kanlab::dense_basis, in one graph;
    values and gradients (input and coefficients) equal the eager model's; native.disabled()
    keeps the traced tensor code."""
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    def traced_ops() -> set:
        return {str(node.target) for gm in graphs for sub in gm.modules() if isinstance(sub, torch.fx.GraphModule)
                for node in sub.graph.nodes}

    x = torch.rand(40, 3, dtype=torch.float64) * 2 - 1
    model = KAN([3, 4, 2], grid=5, k=3, seed=0).double()
    if adapted:
        model.update_grid_from_samples(x ** 3)
    torch._dynamo.reset()
    xg = x.clone().requires_grad_()
    y = torch.compile(model, backend=capture, fullgraph=True)(xg)
    assert any("kanlab.dense_basis" in op for op in traced_ops())
    grads = torch.autograd.grad(y.square().sum(), [xg, model.layers[0].coef])
    xe = x.clone().requires_grad_()
    ye = model(xe)
    expected = torch.autograd.grad(ye.square().sum(), [xe, model.layers[0].coef])
    torch.testing.assert_close(y, ye, rtol=1e-12, atol=1e-14)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    graphs.clear()
    torch._dynamo.reset()
    with native.disabled():
        torch.compile(model, backend=capture, fullgraph=True)(x)
    assert graphs and not any("kanlab.dense_basis" in op for op in traced_ops())
    torch._dynamo.reset()


def assert_row_loop_gives_the_point_loops_numbers(knots: torch.Tensor, x: torch.Tensor, k: int) -> LocalBasis:
    """The basis of ``x`` ``(batch, in)`` on ``knots`` ``(in, n_knots)`` in one call equals, bit
    for bit, the calls on one input at a time (the point-wise loop)."""
    plan = LocalBasis.from_knots(knots, k)
    knots_t, inv_width, pieces = plan.native_tables(x.dtype)
    per_interval, nb, n_int = not plan.cardinal, plan.n_basis, knots.shape[1] - 1
    got = plan._native(x, nb + 1)[:, :, :nb]
    for i in range(x.shape[1]):
        own = pieces[i * n_int : (i + 1) * n_int] if per_interval else pieces
        one = native.basis(x[:, i : i + 1], knots_t[i : i + 1], inv_width[i : i + 1], own, per_interval, k, nb,
                           nb + 1)[:, :, :nb, 0]
        assert torch.equal(got[..., i].nan_to_num(7.0), one.nan_to_num(7.0)), i
    return plan


def points_around(knots: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``(rows, in)`` points for knots ``(in, n_knots)``: each knot and its neighbours one ulp either
    side, then 300 rows spread over each input's span widened by 20% on both sides."""
    lo, hi = knots[:, :1].T, knots[:, -1:].T
    near = torch.cat([knots, torch.nextafter(knots, knots - 1), torch.nextafter(knots, knots + 1)], dim=1).T
    spread = lo - 0.2 * (hi - lo) + 1.4 * (hi - lo) * torch.rand(300, knots.shape[0], generator=gen, dtype=knots.dtype)
    return torch.cat([near, spread])


def with_odd_points(x: torch.Tensor) -> torch.Tensor:
    """``x`` with NaN, infinities and far points in some of its first four columns."""
    x = x.clone()
    x[::97, 0], x[5::101, 1], x[7::89, 2] = math.nan, math.inf, -math.inf
    x[3::50, 3] = x[3::50, 3] * 1e6
    return x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("grid, k", [(3, 1), (3, 4), (5, 1), (5, 2), (5, 3), (5, 4), (12, 2)])
def test_wide_uniform_layers_take_the_row_loop_with_the_point_loops_numbers(dtype, grid, k) -> None:
    """Layers with at least 8 inputs on equally spaced grids take a row-wise vectorised loop
    (:func:`kanlab.native.rows_loop`): the same numbers as the point-wise loop, one ulp beside
    every knot, outside the grid, at NaN and infinity included."""
    ranges = [(-1, 1), (0, 1), (0.1, 0.7), (-1e3, 1e3), (-2, 2), (0, 4), (-3.7, 12.1), (-8, 8), (-0.5, 0.25)]
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # the layers' own knots in dtype (converted ones are not equally spaced)
    try:
        knots = torch.cat([KAN([1, 1], grid=grid, k=k, grid_range=r).layers[0].edge_basis.knots for r in ranges])
    finally:
        torch.set_default_dtype(default)
    gen = torch.Generator().manual_seed(grid * 10 + k)
    plan = assert_row_loop_gives_the_point_loops_numbers(knots, with_odd_points(points_around(knots, gen)), k)
    assert plan.cardinal and native.rows_loop(plan.native_tables(dtype)[0], False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("grid", [3, 5, 27, 28])
def test_wide_adapted_layers_take_the_row_loop_with_the_point_loops_numbers(dtype, grid) -> None:
    """Cubic layers with at least 16 inputs on adapted grids (per-interval pieces) up to 34 knots
    take the row-wise loop: the same numbers as the point-wise loop, beside every knot, on
    repeated knots, outside the grid, at NaN and infinity included."""
    gen = torch.Generator().manual_seed(grid)
    normal = torch.randn(1000, 18, generator=gen, dtype=torch.float64)
    samples = torch.cat([normal[:, :6] * 0.5, normal[:, 6:12].exp(),  # skewed
                         normal[:, 12:].round().clamp(-1, 1)], dim=1)  # three values: repeated knots
    model = KAN([18, 1], grid=grid, k=3, seed=0).to(dtype)
    model.update_grid_from_samples(samples.to(dtype))
    knots = model.layers[0].edge_basis.knots.detach()
    plan = assert_row_loop_gives_the_point_loops_numbers(knots, with_odd_points(points_around(knots, gen)), 3)
    assert not plan.cardinal
    assert native.rows_loop(plan.native_tables(dtype)[0], True) == (knots.shape[1] <= 34)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data(), dtype=st.sampled_from([torch.float32, torch.float64]),
       kind=st.sampled_from(["uniform", "jittered", "heavy", "repeated"]), k=st.integers(1, 4),
       grid=st.sampled_from([3, 5, 20, 27]))
def test_wide_layers_of_any_grid_give_the_point_loops_numbers(data, dtype, kind, k, grid) -> None:
    """Whichever loop a wide layer takes (drawn grids, mostly not equally spaced; 16 inputs, as
    the adapted row loop asks), one call equals the calls on one input at a time."""
    drawn = [knots_and_points(data.draw, dtype, kind, k, grid) for _ in range(16)]
    knots, x = torch.cat([d[0] for d in drawn]), torch.cat([d[1] for d in drawn], dim=1)
    assert_row_loop_gives_the_point_loops_numbers(knots, with_odd_points(x), k)


def test_loops_split_over_threads_give_the_same_bits() -> None:
    """Where torch runs on GNU OpenMP (Linux wheels) the loops are built with OpenMP and split the
    basis (row-wise uniform, row-wise adapted and point-wise forms) and the weight pass and its
    gradients over torch's threads: the same numbers on one thread and on two."""
    flags = native._openmp_flags()
    if flags and native._compiled(native._FLAGS + flags) is not None:  # a compiler with OpenMP
        assert native.parallel()
    gen = torch.Generator().manual_seed(3)
    cases = []
    for width, rows, adapted in (([784, 4], 64, False), ([784, 4], 64, True), ([3, 4], 9000, True)):
        model = KAN(width, grid=5, k=3, seed=0)
        if adapted:
            model.update_grid_from_samples(torch.randn(500, width[0], generator=gen) * 0.5)
        cases.append((model.layers[0].edge_basis.plan, torch.rand(rows, width[0], generator=gen) * 2 - 1))
    weight, scale, base = (torch.randn(shape, generator=gen) for shape in ((64, 784, 8), (64, 784), (64, 784)))
    grad = torch.randn(64, 9, 784, generator=gen)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append([plan._native(x, plan.n_basis) for plan, x in cases]
                           + [native.basis_major(weight, scale, base), *native.basis_major_grad(grad, weight, scale)])
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(*results):
        assert torch.equal(one, two)


@pytest.mark.parametrize("libraries, flags", [
    (["torch/lib/libgomp.so.1", "libc.so.6"], ["-fopenmp"]),  # torch's GNU OpenMP alone
    (["torch/lib/libgomp.so.1", "lib/libiomp5.so"], []),  # a second runtime beside it
    (["lib/libomp.so", "libc.so.6"], []),  # LLVM's runtime only
    (["libc.so.6"], []),
])
def test_openmp_build_only_on_torchs_gnu_runtime_alone(monkeypatch, libraries, flags) -> None:
    """The loops are built with OpenMP only where libgomp is the process's one OpenMP runtime."""
    maps = [f"7f0000000000-7f0000001000 r-xp 00000000 00:00 1  /usr/{name}\n" for name in libraries]
    monkeypatch.setattr(native, "open", lambda *args, **kwargs: contextlib.nullcontext(maps), raising=False)
    assert native._openmp_flags() == flags


def test_a_compiler_without_openmp_gets_the_serial_build(monkeypatch, tmp_path) -> None:
    """When the OpenMP build fails (a compiler without it), the loops are built serially."""
    monkeypatch.setenv("KANLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_openmp_flags", lambda: ["-fno-such-option-kanlab"])
    lib = native._build()
    assert lib is not None and lib.kanlab_openmp() == 0
    assert len(list(tmp_path.glob("kanlab_basis_*.so"))) == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_base", [True, False])
@pytest.mark.parametrize("shape", [(3, 5, 4), (7, 37, 8), (2, 16, 1)])  # inputs not a multiple of 16
def test_basis_major_weight_is_the_transposed_product_and_its_gradients(monkeypatch, dtype, with_base, shape) -> None:
    """One C pass each way equals autograd's product, transpose and cat: the weight bit for bit,
    the gradients of the weight, its scale and the base weights to rounding."""
    monkeypatch.setattr(kernels, "NATIVE_WEIGHT_ELEMENTS", 0)  # these small weights take the C pass too
    gen = torch.Generator().manual_seed(sum(shape))
    out_dim, in_dim, n = shape
    weight = torch.randn(shape, generator=gen, dtype=dtype, requires_grad=True)
    scale = torch.randn(out_dim, in_dim, generator=gen, dtype=dtype, requires_grad=True)
    base = torch.randn(out_dim, in_dim, generator=gen, dtype=dtype, requires_grad=True) if with_base else None
    g = torch.randn(out_dim, n + with_base, in_dim, generator=gen, dtype=dtype)
    leaves = [t for t in (weight, scale, base) if t is not None]
    assert native.weights_apply(weight)
    fast = kernels.basis_major_weight(weight, scale, base)
    with native.disabled():
        assert not native.weights_apply(weight)
        plain = kernels.basis_major_weight(weight, scale, base)
    assert fast.shape == (out_dim, n + with_base, in_dim) and fast.grad_fn is not plain.grad_fn
    assert torch.equal(fast, plain)
    for a, b in zip(torch.autograd.grad(fast, leaves, g), torch.autograd.grad(plain, leaves, g)):
        assert a.shape == b.shape
        tol = 1e-12 if dtype == torch.float64 else 1e-5  # sums of n products in another order
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_basis_major_weight_keeps_second_derivatives(monkeypatch) -> None:
    """A backward that builds a graph (create_graph) differentiates again through the weight."""
    monkeypatch.setattr(kernels, "NATIVE_WEIGHT_ELEMENTS", 0)
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    scale = torch.randn(3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    base = torch.randn(3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kernels.basis_major_weight, (weight, scale, base))
    assert torch.autograd.gradgradcheck(kernels.basis_major_weight, (weight, scale, base))


def test_the_loops_allocate_on_the_cpu_whatever_the_default_device() -> None:
    """A CPU model under another default device (``torch.set_default_device``): the C loops'
    buffers stay on the CPU (an allocation on the default device would hand the loop a pointer it
    cannot write). The forward and the gradients equal those under the CPU default."""
    gen = torch.Generator().manual_seed(0)
    model = KAN([784, 8, 2], grid=5, k=3, seed=0)
    assert model.layers[0].coef.numel() >= kernels.NATIVE_WEIGHT_ELEMENTS  # the C weight pass too
    x = torch.rand(70, 784, generator=gen) * 2 - 1
    results = []
    for device in ("cpu", "meta"):
        model.zero_grad()
        with torch.device(device):
            out = model(x)
            out.square().sum().backward()
        assert out.device.type == "cpu"
        results.append((out.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
