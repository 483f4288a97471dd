"""Per-edge views of a KAN: ``model.act_fun[l][j][:, i:i+1](x)`` and ``model.get_fun(l, i, j)``.

``act_fun[l]`` is the layer's function table, ``act_fun[l][j]`` the row of functions feeding
output node ``j``, and indexing that row by an input ``i`` (``[i]``, ``[:, i]`` or ``[:, i:i+1]``)
gives edge ``i -> j`` as a callable mapping ``x`` ``(n, 1)`` (or ``(n,)``) to ``(n, 1)`` (or
``(n,)``). The value is the whole edge function: spline and base terms (times the mask) plus the
symbolic part if the edge is symbolic.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple, Union

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


class LayerFunctions:
    """Layer ``l``'s edge functions: ``[j]`` is output node ``j``'s row, ``submodules`` every edge."""

    def __init__(self, model: KANNetwork, l: int) -> None:
        self.model, self.l = model, l

    def __len__(self) -> int:
        return self.model.n_sub(self.l + 1)

    def __getitem__(self, j: int) -> NodeFunctions:
        j = check_index("output node", j, len(self), where=f" for layer {self.l}", sep=" ")
        return NodeFunctions(self.model, self.l, j)

    @property
    def submodules(self) -> List[EdgeFunction]:
        """Every edge, input-major: index ``i * out_dim + j`` is edge ``i -> j``."""
        return [EdgeFunction(self.model, self.l, i, j)
                for i in range(self.model.width[self.l]) for j in range(len(self))]


class ActFun:
    """``model.act_fun``: ``act_fun[l]`` is :class:`LayerFunctions` for layer ``l``."""

    def __init__(self, model: KANNetwork) -> None:
        self.model = model

    def __len__(self) -> int:
        return self.model.depth

    def __getitem__(self, l: int) -> LayerFunctions:
        return LayerFunctions(self.model, check_index("layer", l, len(self), sep=" "))


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
