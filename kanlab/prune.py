"""Pruning by attribution scores (:mod:`kanlab.attribution`): masking edges in place, or
keeping nodes in a smaller model.

Pruning to a smaller model (:func:`prune_node`, :func:`prune_input`) slices every tensor of the
kept nodes into a new model of the same class; its output equals the original's with the
removed nodes' edges masked, exactly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence

import torch

from .attribution import attribute
from .symbolic_layer import encode_names, name_table
from .validation import check_index, check_real

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork


def _check_threshold(name: str, value: float) -> None:
    check_real(name, value, low=0, finite=False)


@torch.no_grad()
def subset(model: KANNetwork, keep: Sequence[Sequence[int]]) -> KANNetwork:
    """A new model with only the nodes ``keep[l]`` of every node layer ``l = 0..depth``.

    Every kept edge's basis state (knots), coefficients, scales, mask and symbolic state are copied; data
    caches keep the kept input columns. ``input_id`` (the ``input_index`` buffer) records the
    original input indices.
    """
    if len(keep) != model.depth + 1:
        raise ValueError(f"keep needs {model.depth + 1} index lists (one per node layer), got {len(keep)}")
    idx = []
    for l, nodes in enumerate(keep):
        nodes = sorted(set(int(n) for n in nodes))
        if not nodes:
            raise ValueError(f"node layer {l} would be empty: keep at least one node per layer")
        if nodes[0] < 0 or nodes[-1] >= model.width[l]:
            raise IndexError(f"node layer {l} has nodes 0..{model.width[l] - 1}, got {nodes}")
        idx.append(torch.tensor(nodes, device=model.device))
    subs = [_sub_index(model, l, nodes) for l, nodes in enumerate(idx)]
    # kept multiplication nodes keep their arity (they are the nodes from n_sum on)
    arity = [[model.mult_arity[l][n - model.n_sum(l)] for n in nodes.tolist() if n >= model.n_sum(l)]
             for l, nodes in enumerate(idx)]
    config = dict(model.config, width=[[len(n) - len(a), len(a)] if a else len(n) for n, a in zip(idx, arity)],
                  mult_arity=arity)
    if config.get("base_fun") == "custom":
        config["base_fun"] = model.layers[0].base_fun
    new = type(model)(**config, device=model.device, dtype=model.dtype)
    state = {}
    for l in range(model.depth):
        o, i = subs[l + 1], idx[l]
        layer, sym = model.layers[l], model.symbolic[l]
        for name, buf in layer.named_buffers(recurse=False):  # the basis's per-input state (B-splines: knots)
            if name != "mask":
                state[f"layers.{l}.{name}"] = buf[i]
        for name in ("coef", "scale_base", "scale_spline", "mask"):
            state[f"layers.{l}.{name}"] = getattr(layer, name)[o][:, i]
        state[f"symbolic.{l}.active"] = sym.active[o][:, i]
        state[f"symbolic.{l}.affine"] = sym.affine[o][:, i]
        names = [[sym.names[j][n] for n in i.tolist()] for j in o.tolist()]
        state[f"symbolic.{l}._extra_state"] = encode_names(name_table(names, state[f"symbolic.{l}.active"]))
    state["input_index"] = model.input_index[idx[0]]
    new.load_state_dict(state)
    for l in range(model.depth):
        new.layers[l].grid_eps = model.layers[l].grid_eps
    x, y = model.cache_data, model.cache_target
    new.remember_data(None if x is None else x[:, idx[0].to(x.device)],
                      None if y is None else y[:, idx[-1].to(y.device)])
    return new


def _sub_index(model: KANNetwork, l: int, nodes: torch.Tensor) -> torch.Tensor:
    """The sub-nodes of node layer ``l`` that feed ``nodes`` (sorted node indices)."""
    owner = torch.tensor(model.node_of_sub(l), device=nodes.device)
    return torch.isin(owner, nodes).nonzero().flatten()


def prune_node(model: KANNetwork, threshold: float = 1e-2, mode: str = "auto",
               active_neurons_id: Optional[Sequence[Sequence[int]]] = None,
               x: Optional[torch.Tensor] = None) -> KANNetwork:
    """A smaller model keeping hidden nodes whose attribution score exceeds ``threshold`` and that
    are live (:func:`live_nodes`: a node whose incoming or outgoing edges are all switched off is
    dropped whatever its score), or, with ``active_neurons_id``, the listed hidden nodes per hidden
    layer. Inputs and outputs are kept; at least one node per hidden layer survives (the best one).
    ``mode`` (pykan's): ``"auto"`` uses ``active_neurons_id`` when given, else the threshold;
    ``"manual"`` requires ``active_neurons_id``."""
    _check_threshold("threshold", threshold)
    if mode not in ("auto", "manual"):
        raise ValueError(f"mode must be 'auto' (by threshold) or 'manual' (active_neurons_id), got {mode!r}")
    if mode == "manual" and active_neurons_id is None:
        raise ValueError("prune_node(mode='manual') needs active_neurons_id: one list of kept nodes per hidden layer")
    if active_neurons_id is not None:
        if len(active_neurons_id) != model.depth - 1:
            raise ValueError(f"active_neurons_id needs {model.depth - 1} lists (hidden layers), got {len(active_neurons_id)}")
        hidden = [list(ids) for ids in active_neurons_id]
    else:
        scores = attribute(model, x)["node_scores"]
        live = live_nodes(model)
        hidden = []
        for s, alive in zip(scores[1:-1], live[1:-1]):
            kept = ((s > threshold) & alive).nonzero().flatten().tolist()
            hidden.append(kept or [int(torch.argmax(s))])
    keep = [list(range(model.width[0]))] + hidden + [list(range(model.width[-1]))]
    return subset(model, keep)


def prune_input(model: KANNetwork, threshold: float = 1e-2, active_inputs: Optional[Sequence[int]] = None,
                x: Optional[torch.Tensor] = None) -> KANNetwork:
    """A smaller model keeping inputs scoring above ``threshold`` (or ``active_inputs``).
    ``new.input_id`` lists the kept original input indices."""
    _check_threshold("threshold", threshold)
    if active_inputs is None:
        s = attribute(model, x)["node_scores"][0]
        active_inputs = (s > threshold).nonzero().flatten().tolist() or [int(torch.argmax(s))]
    keep = [list(active_inputs)] + [list(range(w)) for w in model.width[1:]]
    return subset(model, keep)


@torch.no_grad()
def prune_edge(model: KANNetwork, threshold: float = 3e-2, x: Optional[torch.Tensor] = None) -> KANNetwork:
    """Switch off (in place) every edge whose attribution score is below ``threshold``."""
    _check_threshold("threshold", threshold)
    for l, e in enumerate(attribute(model, x)["edge_scores"]):
        for j, i in (e < threshold).nonzero().tolist():
            remove_edge(model, l, i, j)
    return model


def prune(model: KANNetwork, node_th: float = 1e-2, edge_th: float = 3e-2, x: Optional[torch.Tensor] = None) -> KANNetwork:
    """:func:`prune_node` (a smaller copy), then :func:`prune_edge` on it, then
    :func:`drop_dead_nodes`: a hidden node that kept its place by its score (above ``node_th``) but
    whose edges ``prune_edge`` then switched off, all its incoming or all its outgoing ones, carries
    no signal and is removed too. The original is unchanged."""
    return drop_dead_nodes(prune_edge(prune_node(model, node_th, x=x), edge_th, x=x))


def live_edges(model: KANNetwork, l: int) -> torch.Tensor:
    """``(n_sub(l + 1), width[l])`` bool: the edges of layer ``l`` that are switched on (spline
    mask non-zero, or a symbolic function)."""
    return (model.layers[l].mask != 0) | (model.symbolic[l].active != 0)


def live_nodes(model: KANNetwork, need_input: bool = True) -> List[torch.Tensor]:
    """``(width[l],)`` bool per node layer: the nodes that can carry the input's variation to the
    output through switched-on edges (:func:`live_edges`). A hidden node is dead when all its
    incoming edges are off (its value is a constant; for a multiplication node, when some factor
    has no incoming edge: the product is 0), or when all its outgoing edges are off or lead only to
    dead nodes; deadness propagates through the layers. Inputs count as live going forwards and
    outputs going backwards, so ``live[0]`` marks the inputs that reach an output, ``live[-1]``
    the outputs some input reaches. ``need_input=False`` counts a node no input reaches (a
    constant) as live when it reaches an output: dropping the other nodes is then exact."""
    depth = model.depth
    forward = [torch.ones(w, dtype=torch.bool, device=model.device) for w in model.width]
    for l in range(depth if need_input else 0):
        fed = (live_edges(model, l) & forward[l][None, :]).any(1)  # (n_sub,): a sub-node with input
        owner = torch.tensor(model.node_of_sub(l + 1), device=model.device)
        unfed = torch.zeros(model.width[l + 1], dtype=torch.long, device=model.device)
        forward[l + 1] = unfed.index_add_(0, owner, (~fed).long()) == 0  # every factor (or the sum) fed
    backward = [torch.ones(model.width[depth], dtype=torch.bool, device=model.device)]
    for l in reversed(range(depth)):
        owner = torch.tensor(model.node_of_sub(l + 1), device=model.device)
        useful = (forward[l + 1] & backward[0])[owner]  # (n_sub,): feeds a live node
        backward.insert(0, (live_edges(model, l) & useful[:, None]).any(0))
    return [f & b for f, b in zip(forward, backward)]


def drop_dead_nodes(model: KANNetwork) -> KANNetwork:
    """A smaller model without the hidden nodes that reach no output through switched-on edges
    (:func:`live_nodes` with ``need_input=False``); ``model`` itself when there are none. Its output
    equals ``model``'s exactly: a node whose incoming edges are all off but whose outgoing ones are
    on adds a constant, and stays. A hidden layer with no live node keeps its first node."""
    live = live_nodes(model, need_input=False)
    if all(bool(v.all()) for v in live[1:-1]):
        return model
    keep = [list(range(model.width[0]))]
    keep += [v.nonzero().flatten().tolist() or [0] for v in live[1:-1]]
    keep += [list(range(model.width[-1]))]
    return subset(model, keep)


@torch.no_grad()
def remove_edge(model: KANNetwork, l: int, i: int, j: int) -> KANNetwork:
    """Switch edge ``i -> j`` of layer ``l`` off: its spline (mask 0) and its symbolic function."""
    model.check_edge(l, i, j)
    model.layers[l].mask[j, i] = 0.0
    model.symbolic[l].clear_edge(j, i)
    return model


@torch.no_grad()
def remove_node(model: KANNetwork, l: int, i: int) -> KANNetwork:
    """Switch off every edge into and out of node ``i`` of node layer ``l`` (0 = inputs,
    ``depth`` = outputs), in place."""
    l = check_index("node layer l", l, model.depth + 1)
    i = check_index("node i", i, model.width[l], where=f" for node layer {l}")
    if l > 0:
        for s in (s for s, node in enumerate(model.node_of_sub(l)) if node == i):
            for src in range(model.width[l - 1]):
                remove_edge(model, l - 1, src, s)
    if l < model.depth:
        for dst in range(model.n_sub(l + 1)):
            remove_edge(model, l, i, dst)
    return model
