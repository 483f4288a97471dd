"""``SymbolicLayer``: the symbolic edges of one layer, a module beside the spline layer.

Edge ``i -> j`` with an active symbolic function computes ``c * f(a * x_i + b) + d`` (``affine[j,
i] = (a, b, c, d)``); one call per distinct function, ``index_add`` into the outputs. Function
names travel as uint8 JSON extra state (weights-only loading stays safe). Fitting functions to
edges lives in :mod:`kanlab.symbolic`.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .symbolic_lib import SymbolicFunction, get_symbolic

NameTable = Dict[str, List[int]]
"""Active symbolic edges by function name: ``{name: [j * in_dim + i, ...]}`` (row-major edge indices)."""


def name_table(names: Sequence[Sequence[str]], active: torch.Tensor) -> NameTable:
    """The nonzero edges of ``active`` ``(out, in)`` grouped by their function ``names[j][i]``."""
    in_dim = active.shape[1]
    table: NameTable = {}
    for k in active.flatten().nonzero().flatten().tolist():
        table.setdefault(names[k // in_dim][k % in_dim], []).append(k)
    return table


def encode_names(table: NameTable, device: Optional[torch.device] = None) -> torch.Tensor:
    """``table`` as UTF-8 JSON bytes ``(n,) uint8``: how function names travel in a state dict (a
    tensor, so every ``state_dict()`` value stays a tensor and ``torch.load(weights_only=True)`` reads it)."""
    data = bytearray(json.dumps(table, separators=(",", ":")).encode("utf-8"))
    return torch.frombuffer(data, dtype=torch.uint8).clone().to(device=device)


def decode_names(state: Any, out_dim: int, in_dim: int) -> NameTable:
    """Read :func:`encode_names`' tensor for an ``(out_dim, in_dim)`` layer and check it: every name
    must resolve (library, :func:`~kanlab.symbolic_lib.add_symbolic` or a safe expression string; aliases
    become library names) and every edge index lie in ``[0, out_dim * in_dim)`` once. ``ValueError``
    names the problem."""
    if not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.ndim == 1 and not state.is_meta):
        got = f"{state.dtype} tensor of shape {tuple(state.shape)} on {state.device}" if isinstance(state, torch.Tensor) \
            else type(state).__name__
        raise ValueError(f"symbolic function names must be a 1-D uint8 tensor of UTF-8 JSON, got a {got}")
    try:
        raw = json.loads(state.cpu().numpy().tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"symbolic function names are not UTF-8 JSON: {err}") from err
    if not (isinstance(raw, dict) and all(isinstance(v, list) and all(type(k) is int for k in v) for v in raw.values())):
        raise ValueError("symbolic function names must be a JSON object mapping each name to a list of edge indices")
    flat = [k for idx in raw.values() for k in idx]
    n_edges = out_dim * in_dim
    if len(set(flat)) != len(flat) or not all(0 <= k < n_edges for k in flat):
        raise ValueError(f"symbolic edge indices must be distinct and lie in [0, {n_edges}) for a "
                         f"{out_dim} x {in_dim} layer")
    table: NameTable = {}
    for name, idx in raw.items():
        table.setdefault(get_symbolic(name).name, []).extend(idx)
    return table


class SymbolicLayer(nn.Module):
    """Symbolic edges of one layer: edge ``i -> j`` is ``c * f(a * x_i + b) + d`` where active.

    State (all of it in ``state_dict()``): buffer ``active (out, in)`` (1 where the edge is
    symbolic), parameter ``affine (out, in, 4)`` holding ``(a, b, c, d)``, and ``names[j][i]``
    (library names), whose active entries travel as extra state (:func:`encode_names`). Loading a
    state dict with active edges but no names, or names that do not resolve, fails loudly.
    ``forward`` maps ``(batch, in) -> (batch, out)`` and evaluates the active edges grouped by
    function (one call per distinct function, not per edge); the groups are rebuilt eagerly
    whenever edges change, so a compiled forward never builds them.

    ``affine.requires_grad`` is True exactly while some edge is active: an inactive layer holds no
    trainable parameter that would get no gradient (DDP's default settings refuse those). Fix
    symbolic edges before building an optimizer or a DDP wrapper that should train them.
    """

    def __init__(self, in_dim: int, out_dim: int, device: Optional[torch.device] = None,
                 dtype: Optional[torch.dtype] = None) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        kw = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("active", torch.zeros(out_dim, in_dim, **kw))
        init = torch.zeros(out_dim, in_dim, 4, **kw)
        init[..., 0] = 1.0
        self.affine = nn.Parameter(init, requires_grad=False)  # trainable once an edge is active
        self.names: List[List[str]] = [["0"] * in_dim for _ in range(out_dim)]
        self._table: NameTable = {}  # none active; cached: fit's clone_state reads state_dict() every step
        self._groups: List[Tuple[SymbolicFunction, torch.Tensor, torch.Tensor]] = []

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, n_active={self.n_active}"

    @property
    def n_active(self) -> int:
        """Number of symbolic edges (from the cached groups: no device sync, no graph break)."""
        return sum(len(js) for _, js, _ in self._groups)

    def set_edge(self, j: int, i: int, fun: Union[str, SymbolicFunction], params: Sequence[float]) -> None:
        """Make edge ``i -> j`` symbolic with ``fun`` and ``params = (a, b, c, d)``."""
        entry = get_symbolic(fun)
        with torch.no_grad():
            self.affine[j, i] = torch.tensor([float(v) for v in params], dtype=self.affine.dtype)
            self.active[j, i] = 1.0
        self.names[j][i] = entry.name
        self._regroup()

    def clear_edge(self, j: int, i: int) -> None:
        """Switch edge ``i -> j``'s symbolic function off and forget it (its name becomes ``"0"``)."""
        self.names[j][i] = "0"
        self.set_active(j, i, False)

    def set_active(self, j: int, i: int, on: bool) -> None:
        """Switch edge ``i -> j``'s symbolic part on or off, keeping its function and ``(a, b, c,
        d)`` (pykan's ``set_mode``); an edge never fixed has the zero function ``"0"``. Only active
        edges' names are state: a switched-off edge's name is lost by ``load_state_dict``."""
        with torch.no_grad():
            self.active[j, i] = 1.0 if on else 0.0
        self._regroup()

    def groups(self) -> List[Tuple[SymbolicFunction, torch.Tensor, torch.Tensor]]:
        """Active edges grouped by function: ``[(entry, out_idx (m,), in_idx (m,))]``."""
        return self._groups

    def _regroup(self) -> None:
        """Rebuild the groups from ``active`` and ``names`` (eagerly, outside any compiled forward)
        and set ``affine.requires_grad`` to whether any edge is active."""
        self._table = {} if self.active.is_meta else name_table(self.names, self.active)
        flat = [(name, torch.tensor(idx, device=self.active.device)) for name, idx in self._table.items()]
        self._groups = [(get_symbolic(name), f // self.in_dim, f % self.in_dim) for name, f in flat]
        self.affine.requires_grad_(bool(self._table))

    def _edge_values(self, x: torch.Tensor, entry: SymbolicFunction, js: torch.Tensor, is_: torch.Tensor) -> torch.Tensor:
        p = self.affine[js, is_]  # (m, 4)
        u = p[:, 0] * x[:, is_] + p[:, 1]
        return p[:, 2] * entry.torch_fn(u) + p[:, 3]  # (batch, m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in) -> (batch, out)``: sums of the active symbolic edges."""
        y = x.new_zeros(x.shape[0], self.out_dim)
        for entry, js, is_ in self._groups:
            y = y.index_add(1, js, self._edge_values(x, entry, js, is_))
        return y

    def edge_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in) -> (batch, out, in)``: each symbolic edge's value (0 where inactive)."""
        out = x.new_zeros(x.shape[0], self.out_dim * self.in_dim)
        for entry, js, is_ in self._groups:
            out = out.index_add(1, js * self.in_dim + is_, self._edge_values(x, entry, js, is_))
        return out.reshape(x.shape[0], self.out_dim, self.in_dim)

    def get_extra_state(self) -> torch.Tensor:
        """The active edges' function names, :func:`encode_names`' ``(n,) uint8`` tensor."""
        return encode_names(self._table, self.active.device)

    def set_extra_state(self, state: Any) -> None:
        """Restore :meth:`get_extra_state`'s names. They must name exactly the active edges of
        ``active`` (already loaded), which must hold only 0 and 1; ``ValueError`` otherwise."""
        table = decode_names(state, self.out_dim, self.in_dim)
        if not bool(((self.active == 0) | (self.active == 1)).all()):
            raise ValueError("the active mask must hold only 0 and 1")
        named = {k for idx in table.values() for k in idx}
        active = set(self.active.flatten().nonzero().flatten().tolist())
        if named != active:
            raise ValueError(f"{len(active - named)} active symbolic edges have no function name and "
                             f"{len(named - active)} named edges are not active (first differing edge index "
                             f"{min(active ^ named)}, row-major)")
        names = [["0"] * self.in_dim for _ in range(self.out_dim)]
        for name, idx in table.items():
            for k in idx:
                names[k // self.in_dim][k % self.in_dim] = name
        self.names = names
        self._regroup()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,  # type: ignore[override]
                              unexpected_keys, error_msgs):
        # a state saved before symbolic edges existed: none active, every name "0"
        active = state_dict.setdefault(prefix + "active", torch.zeros_like(self.active))
        state_dict.setdefault(prefix + "affine", self.affine.detach().clone())
        key = prefix + "_extra_state"
        if key not in state_dict and isinstance(active, torch.Tensor) and not active.is_meta:
            if bool(active.any()):
                error_msgs.append(f"{prefix}active has {int(active.count_nonzero())} symbolic edges but the state "
                                  f"dict has no function names ({key}); it was not written by this kanlab's "
                                  "state_dict(), so the edges' functions are unknown")
            else:
                state_dict[key] = encode_names({})
        try:
            super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                          unexpected_keys, error_msgs)
        except ValueError as err:  # set_extra_state refusing the names
            error_msgs.append(f"{key}: {err}")
        self._regroup()

    def _apply(self, fn, *args, **kwargs):  # type: ignore[override]
        out = super()._apply(fn, *args, **kwargs)
        self._regroup()  # cached index tensors live on the old device
        return out


