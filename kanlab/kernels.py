"""The fast path: a memory-lean fused spline product over :class:`~kanlab.localbasis.LocalBasis`.

Every input ``x`` of a B-spline layer touches only ``k + 1`` of the ``n_basis = G + k`` basis
functions. :mod:`kanlab.localbasis` evaluates just those; this module contracts them with the
coefficients without keeping the basis for backward.

* :func:`spline_linear` computes ``y[b, o] = sum_{i,n} B_n(x[b, i]) w[o, i * n_basis + n]`` through
  a custom ``autograd.Function`` that saves only ``x`` and ``w`` and recomputes the local basis in
  backward. Its backward is written in differentiable tensor operations, so second derivatives
  (``create_graph=True``, physics-informed losses) work. Two formulations, chosen per shape:
  ``"dense"`` writes the ``k + 1`` values into the dense basis and uses one matrix product (best
  for small grids), ``"sparse"`` gathers only the ``k + 1`` coefficient rows per input (cost
  independent of the grid size; best for large grids).

The reference path (:func:`kanlab.splines.bspline_basis`) is what all of this is tested against.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import native
from .localbasis import BaseRow, LocalBasis, Located

__all__ = ["LocalBasis", "spline_linear", "choose_mode", "basis_major_weight"]


def choose_mode(n_basis: int, k: int, compiled: Optional[bool] = None) -> str:
    """``"sparse"`` when gathering the ``k + 1`` touched coefficient rows per input beats one
    dense product over all ``n_basis`` functions, else ``"dense"``. A gathered row costs several
    dense multiply-adds; fused by ``torch.compile`` the gather wins from ``n_basis >= 4 (k + 1)``,
    eagerly (where the gathered rows are materialized) from ``n_basis >= 20 (k + 1)``: the
    crossovers measured on config e of ``benchmarks/speed.py``. ``compiled`` defaults to whether
    a ``torch.compile`` trace is running."""
    if compiled is None:
        compiled = torch.compiler.is_compiling()
    return "sparse" if n_basis >= (4 if compiled else 20) * (k + 1) else "dense"


def compile_options(in_dims: Sequence[int], device: torch.device) -> Dict[str, Any]:
    """Inductor options for a KAN with layer input sizes ``in_dims`` on ``device``.

    The fused basis loops vectorize over each layer's inputs. On CPU, when every layer has fewer
    than 8 inputs (pykan's ``[2, 5, 1]``) most vector lanes would idle behind masked loads, and
    scalar code is faster (1.5x on a training step of config b in ``benchmarks/speed.py``);
    otherwise inductor's defaults."""
    if torch.device(device).type == "cpu" and max(in_dims) < 8:
        return {"cpp.simdlen": 1}
    return {}


# ------------------------------------------------------------------ the fused product
def _features(
    plan: LocalBasis, x: torch.Tensor, base: Optional[BaseRow], deriv: int = 0, located: Optional[Located] = None
) -> torch.Tensor:
    """``(batch, (n_basis [+ 1]) * in_dim)``: the basis-major dense basis, with the base
    function (``deriv`` 0) or its derivative (``deriv`` 1) as one more row when ``base`` is
    given. ``located``: ``x``'s :meth:`LocalBasis.window`, when the caller already has it."""
    row = None if base is None else base[deriv](x)
    return plan.dense_t(x, deriv, row, located).reshape(x.shape[0], -1)


def _index_add_products(rows: torch.Tensor, vals: torch.Tensor, gy: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``out[rows[b, p]] += vals[b, p] * gy[b]`` into zeros ``(n_rows, out)`` (``rows``, ``vals``
    ``(batch, P)``, ``gy`` ``(batch, out)``) by ``index_add`` of the products."""
    products = (vals.unsqueeze(-1) * gy[:, None, :]).reshape(-1, gy.shape[1])
    return products.new_zeros(n_rows, gy.shape[1]).index_add(0, rows.reshape(-1), products)


@torch.library.custom_op("kanlab::add_products", mutates_args=())
def add_products(rows: torch.Tensor, vals: torch.Tensor, gy: torch.Tensor, n_rows: int) -> torch.Tensor:
    """:func:`_index_add_products` as an opaque operator (the C loop where it applies, which
    skips the products tensor), for compiled graphs on a multi-threaded CPU: inductor lowers
    ``index_add`` to atomic adds there, 4x slower than on one thread (config d of
    ``benchmarks/speed.py``); on one thread, or on CUDA, inductor's fused kernel is used."""
    if native.applies(vals):
        return native.scatter_products(rows, vals, gy, n_rows)
    return _index_add_products(rows, vals, gy, n_rows)


@add_products.register_fake
def _(rows: torch.Tensor, vals: torch.Tensor, gy: torch.Tensor, n_rows: int) -> torch.Tensor:
    return vals.new_empty(n_rows, gy.shape[1])


def _add_products_setup(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    ctx.save_for_backward(inputs[0], inputs[1], inputs[2])


def _add_products_backward(ctx, grad: torch.Tensor):  # type: ignore[no-untyped-def]
    rows, vals, gy = ctx.saved_tensors
    picked = grad[rows]  # (batch, P, out); differentiable: second derivatives keep working
    return None, (picked * gy[:, None, :]).sum(-1), (picked * vals.unsqueeze(-1)).sum(1), None


add_products.register_autograd(_add_products_backward, setup_context=_add_products_setup)


def _table(w: torch.Tensor, in_dim: int, k: int) -> torch.Tensor:
    """``w (out, n_basis * in_dim)`` -> the padded table ``((n_basis + 2k) * in_dim, out)``."""
    return F.pad(w.reshape(w.shape[0], -1, in_dim), (0, 0, k, k)).reshape(w.shape[0], -1).T


def _table_rows(plan: LocalBasis, j: torch.Tensor) -> torch.Tensor:
    """Rows ``(batch, (k + 1) * in_dim)`` of :func:`_table` that input ``x`` touches."""
    in_dim = j.shape[1]
    rows = plan.padded_index(j) * in_dim + torch.arange(in_dim, device=j.device)
    return rows.reshape(j.shape[0], -1)


# Eager passes work on row chunks whose transient buffers stay under this many elements, so the
# peak memory of a step does not grow with the batch. On CPU the chunks are small enough to stay
# in cache (2 MiB of float32); on GPUs they only cap memory (launches are what costs there).
CHUNK_ELEMENTS = {"cpu": 1 << 19, "other": 1 << 26}
# ... but hold at least this many rows: each chunk's matmul packs the whole weight again, so wide
# layers with few rows per chunk paid for packing (config a of benchmarks/speed.py: 27 rows per
# chunk, 10 packings of its 1.8 MB weight per pass; 64 rows took its eager train step from ~2.0x to
# ~1.85x the bound, alternating in one process; 128 rows fell out of cache and lost again).
CHUNK_MIN_ROWS = {"cpu": 64, "other": 1}


def _row_chunks(batch: int, per_row: int, device: torch.device) -> List[slice]:
    if torch.compiler.is_compiling():
        return [slice(0, batch)]
    kind = "cpu" if device.type == "cpu" else "other"
    rows = max(CHUNK_MIN_ROWS[kind], CHUNK_ELEMENTS[kind] // max(per_row, 1))
    return [slice(s, min(s + rows, batch)) for s in range(0, batch, rows)]


def _per_row(plan: LocalBasis, mode: str, in_dim: int, out_dim: int) -> int:
    """Transient elements per batch row: padded basis and features, or gathered table rows."""
    if mode == "dense":
        return (2 * plan.n_basis + 2 * plan.k + 2) * in_dim
    return 2 * (plan.k + 1) * in_dim * out_dim


def _forward_rows(
    plan: LocalBasis, x: torch.Tensor, w: torch.Tensor, mode: str, base: Optional[BaseRow]
) -> torch.Tensor:
    if mode == "dense":
        return _features(plan, x, base) @ w.T
    j, f, inside = plan.window(x)
    vals = plan.local(j, f, inside).transpose(1, 2).reshape(x.shape[0], -1)
    return F.embedding_bag(_table_rows(plan, j), _table(w, x.shape[1], plan.k), per_sample_weights=vals, mode="sum")


def _backward_rows(
    plan: LocalBasis, x: torch.Tensor, w: torch.Tensor, gy: torch.Tensor, mode: str, base: Optional[BaseRow],
    need_x: bool, need_w: bool, gw_into: Optional[torch.Tensor] = None,
) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """``(grad_x (b, in), grad_w (out, rows * in))`` of one chunk of rows; with ``gw_into`` (the
    previous chunks' ``grad_w``, outside a differentiable backward) the dense mode adds its
    product into it in place (one ``addmm_``, no temporary and no separate sum)."""
    b, in_dim = x.shape
    k, nb = plan.k, plan.n_basis
    gx = gw = None
    if mode == "dense":
        # the compiled loop locates by itself (kanlab.native); the eager path shares one window
        located = None if native.basis_applies(x) else plan.window(x)
        if need_w:
            feats = _features(plan, x, base, located=located)
            gw = gy.T @ feats if gw_into is None else gw_into.addmm_(gy.T, feats)
        if need_x:
            gx = _input_grad(gy, w, _features(plan, x, base, 1, located), in_dim)
        return gx, gw
    j, f, inside = plan.window(x)
    rows = _table_rows(plan, j)  # (b, (k+1) * in)
    if need_w:
        vals = plan.local(j, f, inside).transpose(1, 2).reshape(b, -1)  # (b, (k+1) * in)
        n_rows = (nb + 2 * k) * in_dim
        if torch.compiler.is_compiling() and x.device.type == "cpu" and native._threads() > 1:
            table = add_products(rows, vals, gy, n_rows)  # no atomic adds, see add_products
        else:
            table = _index_add_products(rows, vals, gy, n_rows)
        gw = table[k * in_dim : (k + nb) * in_dim].T
    if need_x:
        picked = F.embedding(rows, _table(w, in_dim, k))  # (b, (k+1) * in, out)
        g_local = (picked * gy[:, None, :]).sum(-1).reshape(b, k + 1, in_dim)
        gx = (g_local * plan.local(j, f, inside, 1).transpose(1, 2)).sum(1)
    return gx, gw


def _input_grad(gy: torch.Tensor, w: torch.Tensor, slope: torch.Tensor, in_dim: int) -> torch.Tensor:
    """``x``'s gradient ``(b, in_dim)`` from ``gy`` ``(b, out)``, ``w`` ``(out, rows * in_dim)`` and
    the features' slopes ``(b, rows * in_dim)``: the product ``gy @ w`` times the slopes, summed
    over the rows; in place on the product when no graph of the gradient is built (one buffer less)."""
    g = gy @ w
    g = g * slope if torch.is_grad_enabled() else g.mul_(slope)
    return g.reshape(g.shape[0], -1, in_dim).sum(1)


def _spline_forward(x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str, base: Optional[BaseRow],
                    autocast_off: bool) -> torch.Tensor:
    """``features(x) @ w.T`` in row chunks (the forward of both autograd Functions below)."""
    with _autocast_off(x, autocast_off):
        chunks = _row_chunks(x.shape[0], _per_row(plan, mode, x.shape[1], w.shape[0]), x.device)
        if len(chunks) == 1:
            return _forward_rows(plan, x, w, mode, base)
        return torch.cat([_forward_rows(plan, x[c], w, mode, base) for c in chunks])


def _save(ctx: Any, x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str, base: Optional[BaseRow],
          autocast_off: bool) -> None:
    ctx.plan, ctx.mode, ctx.base, ctx.autocast_off = plan, mode, base, autocast_off
    ctx.save_for_backward(x, w)


#: A dense eager product whose features have at most this many elements keeps them (and their
#: derivative, when ``x`` needs a gradient) from the forward for a first-order backward, instead
#: of recomputing the basis: on small networks the recomputation's ~40 small operations per layer
#: were a third of a loss-and-gradient evaluation ([2, 5, 1] on 1000 rows, issue 15); the memory
#: (at most 1 MiB in float32) does not matter there. Larger products keep only ``x`` and ``w``.
SAVE_FEATURES_ELEMENTS = 1 << 18


def _small_dense_forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str,
                         base: Optional[BaseRow], autocast_off: bool) -> Optional[torch.Tensor]:
    """The forward of a small dense eager product with its features kept on ``ctx`` (see
    :data:`SAVE_FEATURES_ELEMENTS`); ``None`` where that does not apply."""
    if (mode != "dense" or torch.compiler.is_compiling() or x.dim() != 2
            or x.shape[0] * (plan.n_basis + 1) * x.shape[1] > SAVE_FEATURES_ELEMENTS):
        return None
    with _autocast_off(x, autocast_off):
        if ctx.needs_input_grad[0]:
            ctx.features = plan.dense_pair(x, base)
        else:
            ctx.features = (_input_features(plan, x, base), None)
        return ctx.features[0] @ w.T


def _input_features(plan: LocalBasis, x: torch.Tensor, base: Optional[BaseRow]) -> torch.Tensor:
    """:func:`_features` of an ``x`` that needs no gradient, kept on the plan for the next call
    on the same memory, unchanged (its version counter), and the same base: a full-batch fit
    evaluates its input layer on the same training inputs ~20 times per LBFGS step, and this
    skips the basis there (a third of a closure of ``[2, 5, 1]`` on 1000 rows, issue 15). The
    plan belongs to one grid, so a grid change drops it; one entry, at most
    :data:`SAVE_FEATURES_ELEMENTS` elements."""
    if x.is_inference():  # no version counter to tell an in-place change
        return _features(plan, x, base)
    # the same memory, layout and version: ``model(x)`` reshapes into a new view every call.
    # Holding the kept input keeps its storage alive, so no other storage can reuse the address.
    key = (x.data_ptr(), x.shape, x.stride(), x.dtype, x.device, x._version, base)
    kept = plan.kept_input
    if kept is not None and kept[1] == key:
        return kept[2]
    feats = _features(plan, x, base)
    plan.kept_input = (x, key, feats)
    return feats


def _spline_backward(ctx: Any, gy: torch.Tensor) -> tuple:
    """Gradients for ``x`` and ``w`` from the recomputed basis, in differentiable operations
    (from the forward's kept features when it kept them and no graph of the gradient is built)."""
    x, w = ctx.saved_tensors
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    kept = getattr(ctx, "features", None)
    if kept is not None and not torch.is_grad_enabled():  # create_graph=False: constants suffice
        feats, slope = kept
        with _autocast_off(x, ctx.autocast_off):
            gy = gy.to(x.dtype)
            gw = gy.T @ feats if need_w else None
            gx = _input_grad(gy, w, slope, x.shape[1]) if need_x else None
        return gx, gw, None, None, None, None
    with _autocast_off(x, ctx.autocast_off):
        gy = gy.to(x.dtype)
        chunks = _row_chunks(x.shape[0], _per_row(ctx.plan, ctx.mode, x.shape[1], w.shape[0]), x.device)
        gxs, gw = [], None
        in_place = not torch.is_grad_enabled()  # no graph of the gradient: accumulate into one buffer
        for c in chunks:
            gx_c, gw_c = _backward_rows(ctx.plan, x[c], w, gy[c], ctx.mode, ctx.base, need_x, need_w,
                                        gw if in_place else None)
            gxs.append(gx_c)
            gw = gw_c if gw is None or gw_c is gw else gw + gw_c
    gx = (gxs[0] if len(gxs) == 1 else torch.cat(gxs)) if need_x else None
    return gx, gw, None, None, None, None


class _SplineLinear(torch.autograd.Function):
    """``y = features(x) @ w.T`` saving only ``x`` and ``w``; differentiable backward. The eager and
    compiled path: ``ctx`` in ``forward`` (the ``setup_context`` form binds its arguments with
    ``inspect`` on every call, ~80 us per layer on CPU, measured on ``[2, 5, 1]``)."""

    @staticmethod
    def forward(ctx, x, w, plan, mode, base, autocast_off):  # type: ignore[override]
        _save(ctx, x, w, plan, mode, base, autocast_off)
        small = _small_dense_forward(ctx, x, w, plan, mode, base, autocast_off)
        return small if small is not None else _spline_forward(x, w, plan, mode, base, autocast_off)

    backward = staticmethod(_spline_backward)


class _SplineLinearFunctorch(torch.autograd.Function):
    """The same product under ``torch.func`` transforms (``vmap``, ``jacrev``, ``jacfwd``,
    ``hessian``): functorch's form (``setup_context``, a generated vmap rule) and forward-mode AD
    (``jvp``, which ``torch.compile`` would refuse)."""

    generate_vmap_rule = True
    forward = staticmethod(_spline_forward)
    backward = staticmethod(_spline_backward)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def, override]
        _save(ctx, *inputs)
        ctx.save_for_forward(inputs[0], inputs[1])

    @staticmethod
    def jvp(ctx, dx, dw, *_):  # type: ignore[no-untyped-def, override]
        """``features'(x) dx @ w.T + features(x) @ dw.T``, in differentiable operations."""
        x, w = ctx.saved_tensors
        out = None
        with _autocast_off(x, ctx.autocast_off):
            if dw is not None:
                out = _SplineLinearFunctorch.apply(x, dw, ctx.plan, ctx.mode, ctx.base, False)
            if dx is not None:
                b, in_dim = x.shape
                slope = _features(ctx.plan, x, ctx.base, 1).reshape(b, -1, in_dim)  # any mode
                term = (slope * dx.unsqueeze(1)).reshape(b, -1) @ w.T
                out = term if out is None else out + term
        return out


# device types torch.autocast knows (others, e.g. "meta", have no autocast state to query)
_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu", "xla")


class _BasisMajor(torch.autograd.Function):
    """:func:`basis_major_weight` of a scaled weight on the CPU: one C pass each way
    (:func:`kanlab.native.basis_major`; autograd's product, transpose and ``cat`` and their
    backward take about 3x as long, ``python -m benchmarks.native_loops``). A backward that
    builds a graph (``create_graph``) runs in differentiable operations."""

    @staticmethod
    def forward(ctx, weight, scale, base_weight):  # type: ignore[override]
        ctx.save_for_backward(weight, scale)
        return native.basis_major(weight, scale, base_weight)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        weight, scale = ctx.saved_tensors
        n = weight.shape[2]
        g_base = g[:, n] if ctx.needs_input_grad[2] else None
        if not torch.is_grad_enabled():
            g_weight, g_scale = native.basis_major_grad(g, weight, scale)
            return g_weight, g_scale, g_base
        g_spline = g[:, :n].transpose(1, 2)  # (out, in, n)
        return g_spline * scale.unsqueeze(-1), (g_spline * weight).sum(-1), g_base


#: :func:`basis_major_weight` takes the C pass from this many weight elements on: below it the
#: call's fixed cost outweighs autograd's three small operations (a training step of config b of
#: ``benchmarks/speed.py``, 75 weights, was ~10% slower with it; a, 401k weights, ~6% faster)
NATIVE_WEIGHT_ELEMENTS = 1 << 15


def basis_major_weight(weight: torch.Tensor, edge_scale: Optional[torch.Tensor] = None,
                       base_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The weight :func:`spline_linear` takes, ``(out, n_basis [+ 1], in)`` (reshape it to ``(out,
    -1)``), from an edge-major ``weight`` ``(out, in, n_basis)`` times ``edge_scale`` ``(out, in)``
    (when given) per edge, with ``base_weight`` ``(out, in)`` (when given) as the last basis row."""
    if edge_scale is not None and weight.numel() >= NATIVE_WEIGHT_ELEMENTS and native.weights_apply(weight):
        return _BasisMajor.apply(weight, edge_scale, base_weight)
    w = weight.transpose(1, 2) if edge_scale is None else (weight * edge_scale.unsqueeze(-1)).transpose(1, 2)
    return w if base_weight is None else torch.cat([w, base_weight.unsqueeze(1)], dim=1)


def _autocast_off(x: torch.Tensor, off: bool) -> Any:
    """A context that disables autocast on ``x``'s device when ``off`` (the spline product runs
    in the parameters' precision under ``torch.autocast``, as ``custom_fwd(cast_inputs=...)``
    would do), else a no-op."""
    return torch.autocast(x.device.type, enabled=False) if off else contextlib.nullcontext()


def spline_linear(
    x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str = "auto", base: Optional[BaseRow] = None
) -> torch.Tensor:
    """``y[b, o] = sum_{n, i} B_n(x[b, i]) w[o, n * in_dim + i]`` (+ ``b(x[b, i]) w[o,
    n_basis * in_dim + i]`` when ``base = (b, b')``, a base function and its derivative, is
    given: :data:`kanlab.bases.BASE_FUNCTIONS`' entries with derivatives; dense mode only).

    ``x``: ``(batch, in_dim)``; ``w``: ``(out, (n_basis [+ 1]) * in_dim)``, basis-major (row
    ``n`` of every input, then the next). Returns ``(batch, out)``. ``mode``: ``"dense"``,
    ``"sparse"`` or ``"auto"`` (:func:`choose_mode`). Saves only ``x`` and ``w`` for backward
    and recomputes the basis there; twice differentiable.
    """
    if mode == "auto":
        mode = choose_mode(plan.n_basis, plan.k)
    if mode not in ("dense", "sparse"):
        raise ValueError(f"mode must be 'auto', 'dense' or 'sparse', got {mode!r}")
    if base is not None and mode != "dense":
        raise ValueError(f"a base function can only be folded into the dense mode, got mode {mode!r}")
    rows = plan.n_basis + (base is not None)
    if x.ndim != 2 or w.ndim != 2 or w.shape[1] != rows * x.shape[1]:
        raise ValueError(f"expected x (batch, in) and w (out, {rows} * in), got {tuple(x.shape)} and {tuple(w.shape)}")
    if x.shape[0] == 0:  # an empty batch: an empty product, still connected to x and w
        return x.repeat(1, rows) @ w.T
    autocast = x.device.type in _AUTOCAST_DEVICES and torch.is_autocast_enabled(x.device.type)
    if autocast:  # B-spline pieces in bfloat16 would be off by ~1e-2: compute in w's precision
        dtype = torch.promote_types(x.dtype, w.dtype)
        x, w = x.to(dtype), w.to(dtype)
    functorch = not torch.compiler.is_compiling() and torch._C._are_functorch_transforms_active()
    fn = _SplineLinearFunctorch if functorch else _SplineLinear
    return fn.apply(x, w, plan, mode, base, autocast)
