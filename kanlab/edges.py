"""Per-edge views of a KAN in pykan's vocabulary: ``act_fun``, ``symbolic_fun``, ``get_fun``,
``get_act``, ``get_range``.

``act_fun[l]`` is layer ``l`` as pykan's ``KANLayer`` shows it (``in_dim``, ``out_dim``, ``grid``,
``coef``, ``scale_base``, ``scale_sp``, ``mask`` in pykan's layouts, and callable as pykan's
layer), ``act_fun[l][j]`` the row of functions feeding output node ``j``, and indexing that row
by an input ``i`` (``[i]``, ``[:, i]`` or ``[:, i:i+1]``) gives edge ``i -> j`` as a callable
mapping ``x`` ``(n, 1)`` (or ``(n,)``) to ``(n, 1)`` (or ``(n,)``). The value is the whole edge
function: spline and base terms (times the mask) plus the symbolic part if the edge is symbolic.
``symbolic_fun[l]`` is layer ``l``'s symbolic edges as pykan's ``Symbolic_KANLayer`` shows them.

Activations: pykan's ``forward`` stores every edge's inputs and outputs on the model; kanlab's
forward stores nothing (it stays the fast path, with no ``(batch, out, in)`` tensor). The data
that plots, ``get_fun``, ``get_range`` and symbolic fitting read is the model's recorded data,
``cache_data``: ``fit`` records its training inputs, and :func:`get_act` records any ``x``
(pykan's explicit form of what its forward does implicitly). Activations are computed from the
recorded data when asked for, so they always belong to the current parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from .validation import check_index

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

Index = Union[int, slice, Tuple[slice, Union[int, slice]]]


def eval_edge(model: KANNetwork, l: int, i: int, j: int, x: torch.Tensor) -> torch.Tensor:
    """Edge ``i -> j`` of layer ``l`` at the values ``x`` ``(n,)`` -> ``(n,)``."""
    x = torch.as_tensor(x, device=model.device, dtype=model.dtype).reshape(-1)
    full = x.new_zeros(x.shape[0], model.width[l])
    full[:, i] = x
    return model.edge_activations(l, full)[:, j, i]


class EdgeFunction:
    """Edge ``i -> j`` of layer ``l`` as a callable: ``(n, 1) -> (n, 1)`` or ``(n,) -> (n,)``."""

    def __init__(self, model: KANNetwork, l: int, i: int, j: int) -> None:
        model.check_edge(l, i, j)
        self.model, self.l, self.i, self.j = model, l, i, j

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.ndim == 2 and x.shape[1] != 1:
            raise ValueError(f"an edge takes x of shape (n, 1) or (n,), got {tuple(x.shape)}")
        y = eval_edge(self.model, self.l, self.i, self.j, x)
        return y.reshape(-1, 1) if x.ndim == 2 else y

    def __repr__(self) -> str:
        return f"EdgeFunction(layer={self.l}, in={self.i}, out={self.j})"


class NodeFunctions:
    """The edges feeding output node ``j`` of layer ``l``; index by input ``i`` (see module doc)."""

    def __init__(self, model: KANNetwork, l: int, j: int) -> None:
        self.model, self.l, self.j = model, l, j

    def __len__(self) -> int:
        return self.model.width[self.l]

    def __getitem__(self, index: Index) -> EdgeFunction:
        i = _input_index(index, len(self))
        return EdgeFunction(self.model, self.l, i, self.j)


class _LayerDims:
    """``in_dim``/``out_dim`` of the wrapped ``self.layer`` (a spline or a symbolic layer)."""

    layer: Any

    @property
    def in_dim(self) -> int:
        return self.layer.in_dim

    @property
    def out_dim(self) -> int:
        """Output sub-nodes (a multiplication node counts its factors, as in pykan)."""
        return self.layer.out_dim


class LayerFunctions(_LayerDims):
    """Layer ``l`` as pykan's ``KANLayer``: ``[j]`` is output node ``j``'s row of edges,
    ``submodules`` every edge, and the attributes below pykan's, in pykan's layouts.

    ``coef``, ``scale_base``, ``scale_sp`` and ``mask`` are transposed *views* of the layer's
    tensors (kanlab stores ``(out, in)``; pykan ``(in, out)``) and ``grid`` is the layer's knot
    buffer itself, so in-place writes reach the model (``act_fun[l].coef.data *= 2``,
    ``act_fun[l].mask.data[i, j] = 0``); assigning a new tensor to their ``.data`` does not (write
    into ``model.layers[l]`` instead). ``model.layers[l]`` is the layer in kanlab's own terms.
    """

    def __init__(self, model: KANNetwork, l: int) -> None:
        self.model, self.l = model, l
        self.layer = model.layers[l]

    def __len__(self) -> int:
        return self.model.n_sub(self.l + 1)

    def __getitem__(self, j: int) -> NodeFunctions:
        j = check_index("output node", j, len(self), where=f" for layer {self.l}", sep=" ")
        return NodeFunctions(self.model, self.l, j)

    def __call__(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """pykan's ``KANLayer.forward``: ``x`` ``(batch, in_dim)`` -> ``(y (batch, out_dim),
        preacts, postacts, postspline)``, the last three ``(batch, out_dim, in_dim)``: each
        edge's input, its value (base + spline, masked) and its unscaled spline. Spline edges
        only, as pykan's spline layer (symbolic edges are ``symbolic_fun[l]``)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"act_fun[{self.l}] takes x of shape (batch, {self.in_dim}), got "
                             f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}")
        postacts = self.layer.edge_activations(x)
        preacts = x.unsqueeze(1).expand(-1, self.out_dim, -1)
        return postacts.sum(-1), preacts, postacts, self.layer.spline_values(x)

    @property
    def submodules(self) -> List[EdgeFunction]:
        """Every edge, input-major: index ``i * out_dim + j`` is edge ``i -> j``."""
        return [EdgeFunction(self.model, self.l, i, j)
                for i in range(self.model.width[self.l]) for j in range(len(self))]

    @property
    def num(self) -> int:
        """Grid intervals ``G``."""
        return self.layer.grid_size

    @property
    def k(self) -> int:
        """Spline order."""
        return self.layer.spline_order

    @property
    def grid(self) -> torch.Tensor:
        """pykan's grid: the extended knots ``(in_dim, G + 2k + 1)`` (``model.layers[l].grid`` is
        kanlab's, the ``G + 1`` points inside)."""
        knots = getattr(self.layer, "knots", None)
        if knots is None:
            raise AttributeError(f"layer {self.l}'s basis ({type(self.layer.edge_basis).__name__}) has no knots")
        return knots

    @property
    def coef(self) -> torch.Tensor:
        """Spline coefficients ``(in_dim, out_dim, G + k)`` (view of ``layers[l].coef``)."""
        return self.layer.coef.transpose(0, 1)

    @property
    def scale_base(self) -> torch.Tensor:
        """``(in_dim, out_dim)`` (view of ``layers[l].scale_base``)."""
        return self.layer.scale_base.T

    @property
    def scale_sp(self) -> torch.Tensor:
        """``(in_dim, out_dim)`` (view of ``layers[l].scale_spline``)."""
        return self.layer.scale_spline.T

    @property
    def mask(self) -> torch.Tensor:
        """``(in_dim, out_dim)``, 1 for a live spline edge (view of ``layers[l].mask``)."""
        return self.layer.mask.T


class _PerLayer:
    """A read-only list of per-layer views, one ``item(model, l)`` per layer."""

    item: Any

    def __init__(self, model: KANNetwork) -> None:
        self.model = model

    def __len__(self) -> int:
        return self.model.depth

    def __getitem__(self, l: int) -> Any:
        return self.item(self.model, check_index("layer", l, len(self), sep=" "))


class ActFun(_PerLayer):
    """``model.act_fun``: ``act_fun[l]`` is :class:`LayerFunctions` for layer ``l``."""

    item = LayerFunctions


class SymbolicFunctions(_LayerDims):
    """Layer ``l``'s symbolic edges as pykan's ``Symbolic_KANLayer``, in its ``(out, in)`` layout:
    ``funs_name[j][i]`` the function of edge ``i -> j`` (``'0'``: none; a copy, change edges with
    ``fix_symbolic``/``unfix_symbolic``), ``mask`` ``(out_dim, in_dim)`` (1 where symbolic) and
    ``affine`` ``(out_dim, in_dim, 4)`` holding ``(a, b, c, d)`` of ``c * f(a x + b) + d``, the
    layer's own tensors."""

    def __init__(self, model: KANNetwork, l: int) -> None:
        self.l, self.layer = l, model.symbolic[l]

    @property
    def funs_name(self) -> List[List[str]]:
        return [list(row) for row in self.layer.names]

    @property
    def mask(self) -> torch.Tensor:
        return self.layer.active

    @property
    def affine(self) -> torch.Tensor:
        return self.layer.affine


class SymbolicFun(_PerLayer):
    """``model.symbolic_fun``: ``symbolic_fun[l]`` is :class:`SymbolicFunctions` for layer ``l``."""

    item = SymbolicFunctions


def _input_index(index: Index, n_in: int) -> int:
    """``i``, ``[:, i]`` or ``[:, i:i+1]`` -> ``i`` (a single input)."""
    if isinstance(index, tuple):
        if len(index) != 2 or index[0] != slice(None):
            raise IndexError(f"use [i], [:, i] or [:, i:i+1] to pick one input, got {index!r}")
        index = index[1]
    if isinstance(index, slice):
        picked = list(range(n_in))[index]
        if len(picked) != 1:
            raise IndexError(f"the slice {index!r} must select exactly one of {n_in} inputs")
        return picked[0]
    return check_index("input", index, n_in, sep=" ")


@torch.no_grad()
def get_fun(model: KANNetwork, l: int, i: int, j: int, n: int = 200,
            x: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(xs (n,), ys (n,))``: edge ``i -> j`` of layer ``l`` on ``n`` points spanning the inputs
    it sees on the data (``x``, default ``model.cache_data``), or its grid range without data."""
    model.check_edge(l, i, j)
    lo, hi = input_range(model, l, i, x)
    xs = torch.linspace(lo, hi, n, device=model.device, dtype=model.dtype)
    return xs, eval_edge(model, l, i, j, xs)


def input_range(model: KANNetwork, l: int, i: int, x: Optional[torch.Tensor] = None) -> Tuple[float, float]:
    """Range of input ``i`` of layer ``l`` on the data (default ``cache_data``), or without data
    the range its basis represents (``KANLayer.domain``; B-splines: the grid range)."""
    if x is not None or model.cache_data is not None:
        col = model.layer_inputs(model.data(x))[l][:, i]
        lo, hi = float(col.min()), float(col.max())
    else:
        lo, hi = (float(v) for v in model.layers[l].domain[i])
    if hi - lo < 1e-8:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


class RecordedActivations:
    """pykan's per-layer activation lists, computed from the recorded data (see :func:`get_act`)
    on each access, with the current parameters (never stored, never stale). ``[l]`` accepts
    negative indices like a list. Kinds:

    - ``"acts"``: node values ``(batch, width[l])`` for ``l = 0 .. depth`` (inputs to outputs);
    - ``"preacts"``: each edge's input ``(batch, n_sub(l + 1), width[l])`` for each layer;
    - ``"postacts"``: each edge's value (spline and base, masked, plus symbolic), same shape.
    """

    def __init__(self, model: KANNetwork, kind: str) -> None:
        if kind not in ("acts", "preacts", "postacts"):
            raise ValueError(f"kind must be 'acts', 'preacts' or 'postacts', got {kind!r}")
        self.model, self.kind = model, kind

    def __len__(self) -> int:
        return self.model.depth + (self.kind == "acts")

    @torch.no_grad()
    def __getitem__(self, l: int) -> torch.Tensor:
        n = len(self)
        l = check_index("layer", l + n if isinstance(l, int) and -n <= l < 0 else l, n, sep=" ")
        model = self.model
        inputs = _recorded_inputs(model, f"{self.kind}[{l}]")
        if self.kind == "acts":
            return inputs[l] if l < model.depth else model.layer_forward(l - 1, inputs[l - 1])
        if self.kind == "preacts":
            return inputs[l].unsqueeze(1).expand(-1, model.n_sub(l + 1), -1)
        return model.edge_activations(l, inputs[l])


def _recorded_inputs(model: KANNetwork, what: str) -> List[torch.Tensor]:
    """Each layer's inputs on the recorded data (:func:`get_act`); ``ValueError`` naming ``what``
    needs them when nothing is recorded."""
    if model.cache_data is None:
        raise ValueError(f"{what} reads the activations on recorded data: call model.get_act(x) first "
                         "(kanlab's forward records nothing) or fit")
    return model.layer_inputs(model.data())


def acts(model: KANNetwork) -> RecordedActivations:
    """pykan's ``model.acts``: node values ``(batch, width[l])``, ``l = 0 .. depth``, on the recorded data."""
    return RecordedActivations(model, "acts")


def spline_preacts(model: KANNetwork) -> RecordedActivations:
    """pykan's ``model.spline_preacts``: ``[l][:, j, i]`` is edge ``i -> j``'s input on the recorded data."""
    return RecordedActivations(model, "preacts")


def spline_postacts(model: KANNetwork) -> RecordedActivations:
    """pykan's ``model.spline_postacts``: ``[l][:, j, i]`` is edge ``i -> j``'s value on the recorded data."""
    return RecordedActivations(model, "postacts")


def get_act(model: KANNetwork, x: Optional[Union[torch.Tensor, Mapping[str, Any]]] = None) -> None:
    """pykan's ``get_act``: record ``x`` ``(batch, width[0])`` as the data whose activations
    ``get_range``, ``get_fun``, ``plot``, ``spline_preacts``/``spline_postacts``/``acts``,
    attribution and symbolic fitting read (``model.cache_data``, which ``fit`` also sets).

    ``x``: a tensor, a dataset dict (its ``train_input``, and ``train_label`` as the cached
    labels) or ``None`` (keep the recorded data; ``ValueError`` if there is none). pykan's
    ``model(x)`` records ``x`` as a side effect; kanlab's forward does not (no per-edge
    activations on the hot path), so call ``get_act(x)`` where a pykan script relies on that.
    The activations are not stored: each reader computes them from the recorded data with the
    current parameters, so they are never stale. A tensor other than the recorded one drops
    the recorded labels (they belong to the old rows).
    """
    if isinstance(x, Mapping):
        if "train_input" not in x:
            raise ValueError(f"a dataset passed to get_act needs 'train_input', got keys {sorted(x)}")
        x, y = x["train_input"], x.get("train_label")
    elif x is None:
        x, y = model.cache_data, model.cache_target
        if x is None:
            raise ValueError("get_act needs data: pass x (batch, width[0]) or a dataset, or fit first")
    else:
        y = model.cache_target if x is model.cache_data else None
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"get_act takes x as a torch.Tensor (batch, {model.width[0]}), got {type(x).__name__}")
    model.check_input(model.data(x), "x")
    model.remember_data(x, y)


@torch.no_grad()
def get_range(model: KANNetwork, l: int, i: int, j: int, verbose: bool = True) -> Tuple[np.float64, ...]:
    """pykan's ``get_range``: ``(x_min, x_max, y_min, y_max)`` of edge ``i -> j`` of layer ``l``
    on the recorded data (see :func:`get_act`): the range of its input and of its value (spline
    and base, masked, plus the symbolic part). ``numpy.float64`` scalars (floats). With
    ``verbose``, prints both ranges as pykan does. ``ValueError`` without recorded data."""
    model.check_edge(l, i, j)
    xs = _recorded_inputs(model, "get_range")[l][:, i]
    ys = eval_edge(model, l, i, j, xs)
    x_min, x_max, y_min, y_max = (np.float64(float(v)) for v in (xs.min(), xs.max(), ys.min(), ys.max()))
    if verbose:
        print(f"x range: [{x_min:.2f} , {x_max:.2f} ]")
        print(f"y range: [{y_min:.2f} , {y_max:.2f} ]")
    return x_min, x_max, y_min, y_max
