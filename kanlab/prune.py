"""Attribution (KAN 2.0 backward scores) and pruning into smaller models.

Scores on data ``x`` (default ``model.cache_data``): every output node scores 1; going backwards,
edge ``i -> j`` of layer ``l`` scores ``node_score[l+1][j] * std(phi_lji) / std(x_{l+1, j})``
(its share of node ``j``'s spread, times node ``j``'s importance) and node ``i`` of layer ``l``
scores the sum of its outgoing edges. ``node_scores[0]`` is the input (feature) importance.

Pruning to a smaller model (:func:`prune_node`, :func:`prune_input`) slices every tensor of the
kept nodes into a new :class:`~kanlab.model.KAN`; its output equals the original's with the
removed nodes' edges masked, exactly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import torch

from .symbolic import check_edge, encode_names, name_table

if TYPE_CHECKING:  # pragma: no cover
    from .model import KAN


def _data(model: "KAN", x: Optional[torch.Tensor]) -> torch.Tensor:
    from .symbolic import _data as data

    return data(model, x)


@torch.no_grad()
def attribute(model: "KAN", x: Optional[torch.Tensor] = None) -> Dict[str, List[torch.Tensor]]:
    """Backward attribution scores on ``x`` ``(batch, width[0])``.

    Returns (and stores on the model as ``_scores``) ``{"node_scores": [(width[l],) per layer
    l = 0..depth], "edge_scores": [(out_l, in_l) per layer], "forward_u": [(out_l, in_l)] edge
    value spreads, "forward_n": [(out_l, in_l)] spreads over the output node's}``, where
    ``out_l = model.n_sub(l + 1)`` counts sub-nodes (one per factor of a multiplication node).
    """
    data = _data(model, x)
    inputs = model._layer_inputs(data)
    acts = [model.edge_activations(l, inp) for l, inp in enumerate(inputs)]
    edge_std = [a.std(0) if a.shape[0] > 1 else a.abs().mean(0) for a in acts]  # (out, in)
    node_std = [e_act.sum(-1).std(0) if e_act.shape[0] > 1 else e_act.sum(-1).abs().mean(0) for e_act in acts]
    forward_n = [e / (n[:, None] + 1e-8) for e, n in zip(edge_std, node_std)]
    node_scores: List[torch.Tensor] = [torch.ones(model.width[-1], dtype=data.dtype, device=data.device)]
    edge_scores: List[torch.Tensor] = []
    for l in reversed(range(model.depth)):
        sub_scores = node_scores[0][model.node_of_sub(l + 1)]  # a product's factors share its score
        e = sub_scores[:, None] * forward_n[l]
        edge_scores.insert(0, e)
        node_scores.insert(0, e.sum(0))
    scores = {"node_scores": node_scores, "edge_scores": edge_scores, "forward_u": edge_std, "forward_n": forward_n}
    model._scores = scores
    model.node_scores, model.edge_scores = node_scores, edge_scores
    return scores


def _check_threshold(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


@torch.no_grad()
def subset(model: "KAN", keep: Sequence[Sequence[int]]) -> "KAN":
    """A new model with only the nodes ``keep[l]`` of every node layer ``l = 0..depth``.

    Every kept edge's knots, coefficients, scales, mask and symbolic state are copied; data
    caches keep the kept input columns. ``input_id`` (the ``input_index`` buffer) records the
    original input indices.
    """
    from .model import KAN

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
    new = KAN(**config, device=model.device, dtype=model.dtype)
    state = {}
    for l in range(model.depth):
        o, i = subs[l + 1], idx[l]
        layer, sym = model.layers[l], model.symbolic[l]
        state[f"layers.{l}.knots"] = layer.knots[i]
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
    new.config["grid"] = model.config.get("grid")
    if model.cache_data is not None:
        new.cache_data = model.cache_data[:, idx[0].to(model.cache_data.device)]
    if model.cache_target is not None:
        new.cache_target = model.cache_target[:, idx[-1].to(model.cache_target.device)]
    return new


def _sub_index(model: "KAN", l: int, nodes: torch.Tensor) -> torch.Tensor:
    """The sub-nodes of node layer ``l`` that feed ``nodes`` (sorted node indices)."""
    owner = torch.tensor(model.node_of_sub(l), device=nodes.device)
    return torch.isin(owner, nodes).nonzero().flatten()


def prune_node(model: "KAN", threshold: float = 1e-2,
               active_neurons_id: Optional[Sequence[Sequence[int]]] = None,
               x: Optional[torch.Tensor] = None) -> "KAN":
    """A smaller model keeping hidden nodes whose attribution score exceeds ``threshold``
    (or, with ``active_neurons_id``, the listed hidden nodes per hidden layer). Inputs and
    outputs are kept; at least one node per hidden layer survives (the best one)."""
    _check_threshold("threshold", threshold)
    if active_neurons_id is not None:
        if len(active_neurons_id) != model.depth - 1:
            raise ValueError(f"active_neurons_id needs {model.depth - 1} lists (hidden layers), got {len(active_neurons_id)}")
        hidden = [list(ids) for ids in active_neurons_id]
    else:
        scores = attribute(model, x)["node_scores"]
        hidden = []
        for s in scores[1:-1]:
            kept = (s > threshold).nonzero().flatten().tolist()
            hidden.append(kept or [int(torch.argmax(s))])
    keep = [list(range(model.width[0]))] + hidden + [list(range(model.width[-1]))]
    return subset(model, keep)


def prune_input(model: "KAN", threshold: float = 1e-2, active_inputs: Optional[Sequence[int]] = None,
                x: Optional[torch.Tensor] = None) -> "KAN":
    """A smaller model keeping inputs scoring above ``threshold`` (or ``active_inputs``).
    ``new.input_id`` lists the kept original input indices."""
    _check_threshold("threshold", threshold)
    if active_inputs is None:
        s = attribute(model, x)["node_scores"][0]
        active_inputs = (s > threshold).nonzero().flatten().tolist() or [int(torch.argmax(s))]
    keep = [list(active_inputs)] + [list(range(w)) for w in model.width[1:]]
    return subset(model, keep)


@torch.no_grad()
def prune_edge(model: "KAN", threshold: float = 3e-2, x: Optional[torch.Tensor] = None) -> "KAN":
    """Switch off (in place) every edge whose attribution score is below ``threshold``."""
    _check_threshold("threshold", threshold)
    for l, e in enumerate(attribute(model, x)["edge_scores"]):
        for j, i in (e < threshold).nonzero().tolist():
            remove_edge(model, l, i, j)
    return model


def prune(model: "KAN", node_th: float = 1e-2, edge_th: float = 3e-2, x: Optional[torch.Tensor] = None) -> "KAN":
    """:func:`prune_node` (a smaller copy) then :func:`prune_edge` on it. The original is unchanged."""
    return prune_edge(prune_node(model, node_th, x=x), edge_th, x=x)


@torch.no_grad()
def remove_edge(model: "KAN", l: int, i: int, j: int) -> "KAN":
    """Switch edge ``i -> j`` of layer ``l`` off: its spline (mask 0) and its symbolic function."""
    check_edge(model, l, i, j)
    model.layers[l].mask[j, i] = 0.0
    model.symbolic[l].clear_edge(j, i)
    return model


@torch.no_grad()
def remove_node(model: "KAN", l: int, i: int) -> "KAN":
    """Switch off every edge into and out of node ``i`` of node layer ``l`` (0 = inputs,
    ``depth`` = outputs), in place."""
    if isinstance(l, bool) or not isinstance(l, int) or not 0 <= l <= model.depth:
        raise IndexError(f"node layer l={l!r} out of range (0..{model.depth})")
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < model.width[l]:
        raise IndexError(f"node i={i!r} out of range for node layer {l} (0..{model.width[l] - 1})")
    if l > 0:
        for s in (s for s, node in enumerate(model.node_of_sub(l)) if node == i):
            for src in range(model.width[l - 1]):
                remove_edge(model, l - 1, src, s)
    if l < model.depth:
        for dst in range(model.n_sub(l + 1)):
            remove_edge(model, l, i, dst)
    return model
