"""Structure editing: pykan's model methods that add, reorder or isolate nodes and layers, and
its size summaries (bound as methods and properties of :class:`~kanlab.model.KAN`).

Every edit is in place and keeps the function: ``expand_depth`` appends an identity layer,
``expand_width`` adds hidden nodes whose edges start switched off, ``swap``/``auto_swap`` permute
hidden nodes. Existing edges keep everything (coefficients, scales, masks, adapted grids,
symbolic functions); ``input_id`` and the cached data are untouched (inputs and outputs do not
change). ``perturb``, ``module`` and ``set_mode`` (an edge's spline and symbolic parts on or off)
change the function on purpose, as pykan's do.

One rebuild does every node edit (:func:`_renode`): node layer ``l`` becomes a list of old node
indices (``None`` for a new node), which re-indexes the outputs of layer ``l - 1`` (sub-nodes)
and the inputs of layer ``l``; a permutation loads into the existing modules, so optimisers
keep tracking the parameters. Multiplication nodes are supported; they stay after the sums.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import torch
from torch import nn

from .attribution import attribute
from .bases_family import make_basis
from .layer import KANLayer
from .prune import live_edges, remove_edge
from .symbolic_layer import SymbolicLayer, encode_names, name_table
from .validation import check_index, check_int, check_positive_int, check_real, is_int

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

_EDGE_TENSORS = ("coef", "scale_base", "scale_spline", "mask")  # (out, in, ...); other layer state is per input

# --------------------------------------------------------------------------- sizes


def width_in(model: KANNetwork) -> List[int]:
    """pykan's ``width_in``: nodes per node layer, ``[width[0], ..., width[depth]]`` (sum and
    multiplication nodes together; kanlab's ``width``)."""
    return list(model.width)


def width_out(model: KANNetwork) -> List[int]:
    """pykan's ``width_out``: sub-nodes per node layer (what the layer below sums into: one per sum
    node, ``mult_arity`` per multiplication node), ``[n_sub(0), ..., n_sub(depth)]``."""
    return [model.n_sub(l) for l in range(model.depth + 1)]


def n_mult(model: KANNetwork) -> List[int]:
    """pykan's ``n_mult``: multiplication nodes of each *hidden* node layer ``1..depth - 1``."""
    return list(model.mult_width[1:-1])


def n_edge(model: KANNetwork) -> int:
    """Switched-on edges: a spline with a non-zero mask or a symbolic function (pykan counts
    spline masks only, so its symbolic edges do not count)."""
    return sum(int(live_edges(model, l).sum()) for l in range(model.depth))


def get_params(model: KANNetwork) -> Iterator[nn.Parameter]:
    """pykan's ``get_params``: ``model.parameters()``."""
    return model.parameters()


@torch.no_grad()
def evaluate(model: KANNetwork, dataset: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """pykan's ``evaluate``: ``{"test_loss": RMSE of model(test_input) against test_label,
    "n_edge": n_edge(model), "n_grid": model.grid}``; ``dataset`` holds ``test_input (n,
    width[0])`` and ``test_label (n, width[-1])``."""
    missing = [key for key in ("test_input", "test_label") if key not in dataset]
    if missing:
        raise KeyError(f"dataset needs {missing} (a create_dataset dict has them)")
    label = dataset["test_label"]
    pred = model(dataset["test_input"])
    if pred.shape != label.shape:
        raise ValueError(f"dataset['test_label'] has shape {tuple(label.shape)}, the model gives {tuple(pred.shape)}")
    return {"test_loss": float(torch.sqrt(((pred - label) ** 2).mean())), "n_edge": n_edge(model),
            "n_grid": model.grid}


def connection_cost(model: KANNetwork, edge_scores: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
    """pykan's ``connection_cost``, a 0-d tensor: ``sum_l sum_ji |p_j - q_i| * score_l[j, i]``
    with nodes at the centres ``(m + 0.5) / n`` of ``[0, 1]`` (outputs counted as sub-nodes).
    ``edge_scores`` ``[(n_sub(l + 1), width[l])]``: default the model's last ``attribute()``
    scores where it keeps them (``KAN.edge_scores``, as pykan), else attribution on ``cache_data``."""
    if edge_scores is None:
        edge_scores = getattr(model, "edge_scores", None)
    if edge_scores is None:
        edge_scores = attribute(model)["edge_scores"]
    return sum((_layer_cost(e) for e in edge_scores), torch.zeros((), device=model.device, dtype=model.dtype))


def _layer_cost(scores: torch.Tensor) -> torch.Tensor:
    """One layer's connection cost from its edge scores ``(n_out, n_in)``."""
    n_out, n_in = scores.shape
    p = (torch.arange(n_out, device=scores.device, dtype=scores.dtype) + 0.5) / n_out
    q = (torch.arange(n_in, device=scores.device, dtype=scores.dtype) + 0.5) / n_in
    return ((p[:, None] - q[None, :]).abs() * scores).sum()


# --------------------------------------------------------------------------- rebuilding layers


def _fresh_layer(model: KANNetwork, like: KANLayer, in_dim: int, out_dim: int) -> KANLayer:
    """A new layer shaped ``(out_dim, in_dim)`` with the model's basis family, ``like``'s grid
    size, order, base function and options and the model's initialisation (drawn on a private generator: the global RNG is
    left alone)."""
    cfg = model.config
    seed = cfg.get("seed")
    kind = "bspline" if model.basis_name == "auto" else model.basis_name
    k = like.spline_order or cfg["k"]  # 0 for a basis without a spline order
    layer = KANLayer(
        in_dim, out_dim, like.grid_size, k, grid_range=cfg["grid_range"], grid_eps=like.grid_eps,
        basis=make_basis(kind, in_dim, like.grid_size, k, cfg["grid_range"], device=model.device, dtype=model.dtype),
        noise_scale=cfg["noise_scale"], scale_base_mu=cfg["scale_base_mu"], scale_base_sigma=cfg["scale_base_sigma"],
        scale_spline=cfg["scale_sp"], base_fun=like.base_fun if like.base_fun_name == "custom" else like.base_fun_name,
        generator=torch.Generator().manual_seed(0 if seed is None else int(seed)), fast=like.fast,
        contraction=like.contraction, device=model.device, dtype=model.dtype,
    )
    for name, p in layer.named_parameters():
        p.requires_grad_(getattr(like, name).requires_grad)
    return layer


def _pairs(src: Sequence[Optional[int]], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(new positions, old indices)`` of the entries of ``src`` taken from an old index."""
    new = [n for n, s in enumerate(src) if s is not None]
    return (torch.tensor(new, dtype=torch.long, device=device),
            torch.tensor([src[n] for n in new], dtype=torch.long, device=device))


@torch.no_grad()
def _rebuild(model: KANNetwork, l: int, rows: Sequence[Optional[int]], cols: Sequence[Optional[int]]) -> None:
    """Layer ``l`` re-indexed: output sub-node ``r`` is old sub-node ``rows[r]`` and input ``c`` old
    input ``cols[c]``; ``None`` is a new node, whose edges start switched off (spline mask 0, no
    symbolic function) with fresh parameters and the initial grid."""
    old, sym = model.layers[l], model.symbolic[l]
    fresh = _fresh_layer(model, old, len(cols), len(rows))
    fresh_sym = SymbolicLayer(len(cols), len(rows), device=model.device, dtype=model.dtype)
    (rn, ro), (cn, co) = _pairs(rows, model.device), _pairs(cols, model.device)
    state, old_state = fresh.state_dict(), old.state_dict()
    state["mask"].zero_()
    for key, value in state.items():
        if key in _EDGE_TENSORS:
            value[rn[:, None], cn] = old_state[key][ro[:, None], co]
        else:  # the basis's per-input state (B-splines: knots, adapted grids included)
            value[cn] = old_state[key][co]
    active, affine = fresh_sym.active.clone(), fresh_sym.affine.detach().clone()
    active[rn[:, None], cn] = sym.active[ro[:, None], co]
    affine[rn[:, None], cn] = sym.affine[ro[:, None], co]
    names = [[sym.names[r][c] if r is not None and c is not None else "0" for c in cols] for r in rows]
    sym_state = {"active": active, "affine": affine, "_extra_state": encode_names(name_table(names, active))}
    same = (len(rows), len(cols)) == (old.out_dim, old.in_dim)
    layer, sym_layer = (old, sym) if same else (fresh, fresh_sym)  # same shape: keep the parameter objects
    layer.load_state_dict(state)
    sym_layer.load_state_dict(sym_state)
    sym_layer.names = names  # also the names set_mode(..., "n") keeps for switched-off symbolic edges
    model.layers[l], model.symbolic[l] = layer, sym_layer


def _sub_sources(model: KANNetwork, l: int, nodes: Sequence[Optional[int]],
                 arity: Sequence[int]) -> List[Optional[int]]:
    """The old sub-node behind each sub-node of node layer ``l`` once its nodes are ``nodes``
    (old index or ``None``), the last ``len(arity)`` of them multiplication nodes."""
    owner = model.node_of_sub(l)
    blocks = [[s for s, o in enumerate(owner) if o == n] for n in range(model.width[l])]
    n_sums = len(nodes) - len(arity)
    rows: List[Optional[int]] = []
    for pos, src in enumerate(nodes):
        rows += blocks[src] if src is not None else [None] * (1 if pos < n_sums else arity[pos - n_sums])
    return rows


def _renode(model: KANNetwork, l: int, nodes: Sequence[Optional[int]], arity: Sequence[int]) -> None:
    """Hidden node layer ``l`` becomes ``nodes`` (old index, ``None``: new), sums first, then
    multiplication nodes of ``arity``."""
    rows = _sub_sources(model, l, nodes, arity)
    _rebuild(model, l - 1, rows, list(range(model.width[l - 1])))
    _rebuild(model, l, list(range(model.n_sub(l + 1))), nodes)
    _record_nodes(model, l, len(nodes), arity)


def _record_nodes(model: KANNetwork, l: int, n_nodes: int, arity: Sequence[int]) -> None:
    """Node layer ``l``'s entries in ``width``, ``mult_width``, ``mult_arity`` and the config
    (appended for a new last layer); forgets the last ``attribute()`` scores (they index the old nodes)."""
    spec = [n_nodes - len(arity), len(arity)] if arity else n_nodes
    for entries, value in ((model.width, n_nodes), (model.mult_width, len(arity)), (model.mult_arity, list(arity)),
                           (model.config["width"], spec), (model.config["mult_arity"], list(arity))):
        if l == len(entries):
            entries.append(value)
        else:
            entries[l] = value
    if getattr(model, "scores", None) is not None:
        model.scores = None


def _hidden(model: KANNetwork, l: int, name: str = "l") -> int:
    """``l`` checked as a hidden node layer index ``1..depth - 1`` (``IndexError`` otherwise)."""
    if model.depth < 2:
        raise ValueError(f"a model of depth {model.depth} has no hidden node layer to edit; expand_depth() adds one")
    return check_int(name, l, low=1, high=model.depth - 1, note="a hidden node layer", error=IndexError)


# --------------------------------------------------------------------------- structure edits


@torch.no_grad()
def expand_depth(model: KANNetwork) -> KANNetwork:
    """Append a layer computing the identity (pykan's): ``width[-1]`` new sum outputs, edge ``j ->
    j`` the symbolic ``x`` with ``(a, b, c, d) = (1, 0, 1, 0)``, every spline switched off (mask
    0). The output is unchanged; the old output nodes become hidden. Returns ``model``."""
    n = model.width[-1]
    layer = _fresh_layer(model, model.layers[-1], n, n)
    layer.mask.zero_()
    sym = SymbolicLayer(n, n, device=model.device, dtype=model.dtype)
    for j in range(n):
        sym.set_edge(j, j, "x", (1.0, 0.0, 1.0, 0.0))
    model.layers.append(layer)
    model.symbolic.append(sym)
    _record_nodes(model, model.depth, n, [])
    return model


def expand_width(model: KANNetwork, layer_id: int, n_added_nodes: int, sum_bool: bool = True,
                 mult_arity: Union[int, Sequence[int]] = 2) -> KANNetwork:
    """Add ``n_added_nodes`` nodes to hidden node layer ``layer_id`` (pykan's placement: sum nodes
    first, at indices ``0..n_added_nodes - 1``; with ``sum_bool=False`` multiplication nodes of
    ``mult_arity`` (an int, or one per node) after the others). Their edges, in and out, start
    switched off (spline mask 0, no symbolic function; turn them on with ``perturb`` or
    ``set_mode``), so the output is unchanged. pykan also switches off every existing spline
    of the two layers; kanlab keeps them. Returns ``model``."""
    l = _hidden(model, layer_id, "layer_id")
    n = check_positive_int("n_added_nodes", n_added_nodes)
    old = list(range(model.width[l]))
    arity = list(model.mult_arity[l])
    if sum_bool:
        nodes: List[Optional[int]] = [None] * n + old
    else:
        added = [mult_arity] * n if is_int(mult_arity) else list(mult_arity)  # type: ignore[list-item]
        if len(added) != n or not all(is_int(a) and a >= 2 for a in added):
            raise ValueError(f"mult_arity must be an int >= 2 or {n} of them (one per added node), got {mult_arity!r}")
        nodes, arity = old + [None] * n, arity + [int(a) for a in added]
    _renode(model, l, nodes, arity)
    return model


def swap(model: KANNetwork, l: int, i1: int, i2: int) -> KANNetwork:
    """Exchange nodes ``i1`` and ``i2`` of hidden node layer ``l`` with all their edges in and out
    (a multiplication node with its factors); the output is unchanged. Two sum nodes or two
    multiplication nodes (sums come first); pykan swaps sub-node slots, which breaks products.
    Returns ``model``."""
    l = _hidden(model, l)
    i1 = check_index("node i1", i1, model.width[l], where=f" for node layer {l}")
    i2 = check_index("node i2", i2, model.width[l], where=f" for node layer {l}")
    n_sums = model.n_sum(l)
    if (i1 < n_sums) != (i2 < n_sums):
        raise ValueError(f"node layer {l} has sum nodes 0..{n_sums - 1} then multiplication nodes: "
                         f"swap two of the same kind, got i1={i1}, i2={i2}")
    nodes = _swapped(model.width[l], i1, i2)
    _renode(model, l, nodes, [model.mult_arity[l][n - n_sums] for n in nodes[n_sums:]])
    return model


def _swapped(n: int, i1: int, i2: int) -> List[int]:
    nodes = list(range(n))
    nodes[i1], nodes[i2] = i2, i1
    return nodes


def auto_swap(model: KANNetwork, x: Optional[torch.Tensor] = None) -> KANNetwork:
    """Reorder hidden nodes to lower :func:`connection_cost` (pykan's greedy pass): for each hidden
    node layer ``l`` and each node ``i`` in turn, swap ``i`` with the node of its kind that gives
    the lowest cost (itself if none is lower). Scores come from attribution on ``x`` (default
    ``cache_data``) once: they permute with the nodes, so a trial swap needs no new attribution
    (pykan recomputes it per trial, and uses layer 1's width for every layer). Returns ``model``."""
    scores = list(attribute(model, x)["edge_scores"])
    for l in range(1, model.depth):
        _auto_swap_layer(model, l, scores)
    return model


def auto_swap_l(model: KANNetwork, l: int, x: Optional[torch.Tensor] = None) -> KANNetwork:
    """:func:`auto_swap`'s pass over hidden node layer ``l`` alone. Returns ``model``."""
    _auto_swap_layer(model, _hidden(model, l), list(attribute(model, x)["edge_scores"]))
    return model


def _auto_swap_layer(model: KANNetwork, l: int, scores: List[torch.Tensor]) -> None:
    """The greedy pass over node layer ``l``; ``scores`` (edge scores per layer) follow the swaps."""
    n_sums = model.n_sum(l)
    for i in range(model.width[l]):
        kind = range(n_sums) if i < n_sums else range(n_sums, model.width[l])
        trials = [(_trial(model, l, scores, _swapped(model.width[l], i, j)), j) for j in kind]
        (_, below, above), best = min(trials, key=lambda t: float(t[0][0]))  # the first of equal costs
        if best != i:
            scores[l - 1], scores[l] = below, above
            swap(model, l, i, best)


def _trial(model: KANNetwork, l: int, scores: List[torch.Tensor], nodes: List[int]) -> Tuple[torch.Tensor, ...]:
    """``(cost of layers l - 1 and l, their permuted scores)`` with node layer ``l`` reordered to ``nodes``."""
    n_sums = model.n_sum(l)
    rows = _sub_sources(model, l, nodes, [model.mult_arity[l][n - n_sums] for n in nodes[n_sums:]])
    below, above = scores[l - 1][rows], scores[l][:, nodes]
    return _layer_cost(below) + _layer_cost(above), below, above


@torch.no_grad()
def perturb(model: KANNetwork, mag: float = 1.0, mode: str = "non-intrusive") -> KANNetwork:
    """pykan's ``perturb``: switch splines on (mask ``mag``) beside a symbolic network so training
    can grow it. A node is *active* in layer ``l`` when a symbolic function enters it (output) or
    leaves it (input); an edge is ``aa`` (active to active; ``aa_a`` if symbolic itself, else
    ``aa_i``), ``ai``, ``ia`` or ``ii``. ``mode``:

    - ``"all"``: every edge's spline mask becomes ``mag`` (changes the function);
    - ``"minimal"``: only ``aa_a`` edges, the symbolic ones, get their spline added at ``mag``;
    - ``"non-intrusive"``: ``ai`` and ``ii`` edges of the hidden layers get ``mag``; every edge of
      the last layer gets mask 1 with ``scale_base = scale_spline = 0`` (trainable, 0 for now). With
      the other splines off (as after ``expand_width`` or a fully symbolic network) the output is
      unchanged. Other edges keep their masks. Returns ``model``.
    """
    modes = {"all": {"aa_a", "aa_i", "ai", "ia", "ii"}, "non-intrusive": {"ai", "ii"}, "minimal": {"aa_a"}}
    if mode not in modes:
        raise ValueError(f"mode must be one of {sorted(modes)}, got {mode!r}")
    check_real("mag", mag)
    for l, (layer, sym) in enumerate(zip(model.layers, model.symbolic)):
        if l == model.depth - 1 and mode == "non-intrusive":
            layer.mask.fill_(1.0)
            layer.scale_base.zero_()
            layer.scale_spline.zero_()
            continue
        named = torch.tensor([[n != "0" for n in row] for row in sym.names], device=model.device)
        on = (sym.active != 0) & named  # (out, in): symbolic edges
        fed, feeds = on.any(1)[:, None], on.any(0)[None, :]  # output / input node active
        kinds = {"aa_a": feeds & fed & on, "aa_i": feeds & fed & ~on, "ai": feeds & ~fed,
                 "ia": ~feeds & fed, "ii": ~feeds & ~fed}
        chosen = torch.zeros_like(on)
        for kind in modes[mode]:
            chosen |= kinds[kind]
        layer.mask[chosen] = float(mag)
    return model


@torch.no_grad()
def set_mode(model: KANNetwork, l: int, i: int, j: int, mode: str, mask_n: Optional[float] = None) -> KANNetwork:
    """pykan's switch of edge ``i -> j`` of layer ``l``: ``"n"`` spline only, ``"s"`` symbolic only,
    ``"ns"``/``"sn"`` both, summed (the spline's mask ``mask_n``, default 1; ignored by the other
    modes, as in pykan). The symbolic part is the edge's current function, kept while switched off
    (``"n"`` then ``"s"`` brings it back); an edge never fixed (or unfixed) has pykan's ``"0"``,
    worth its affine constant ``d`` (0 unless fixed before). pykan switches both parts off for
    any other mode; kanlab raises ``ValueError`` (``remove_edge`` does that). Returns ``model``."""
    model.check_edge(l, i, j)
    spline = {"n": 1.0, "s": 0.0, "ns": 1.0, "sn": 1.0}
    if mode not in spline:
        raise ValueError(f"mode must be 'n' (spline), 's' (symbolic) or 'ns'/'sn' (both), got {mode!r}; "
                         "remove_edge(l, i, j) switches an edge off")
    if mode in ("ns", "sn") and mask_n is not None:
        spline[mode] = check_real("mask_n", mask_n)
    model.layers[l].mask[j, i] = spline[mode]
    model.symbolic[l].set_active(j, i, mode != "n")
    return model


def module(model: KANNetwork, start_layer: int, chain: str) -> KANNetwork:
    """Isolate a module (pykan's ``module``): ``chain`` ``"[in]->[out]->[in]->[out]..."`` lists,
    for layers ``start_layer, start_layer + 1, ...``, the input nodes and output sub-nodes (as
    pykan: a multiplication node's factors count one each) inside the module; every edge that
    crosses its border (inside input to outside output, or outside input to inside output) is
    switched off (spline and symbolic). Negative indices count from the end (pykan mistakes them
    for outsiders). Returns ``model``."""
    groups = [g.strip() for g in chain.split("->")]
    if len(groups) < 2 or len(groups) % 2:
        raise ValueError(f"chain must pair '[inputs]->[outputs]' per layer, e.g. '[0,1]->[0]', got {chain!r}")
    first = check_index("start_layer", start_layer, model.depth, where=f" (layers 0..{model.depth - 1})")
    n_layers = len(groups) // 2
    if first + n_layers > model.depth:
        raise ValueError(f"chain spans {n_layers} layers from start_layer={first}; the model has {model.depth}")
    for k in range(n_layers):
        l = first + k
        ins = _node_list(groups[2 * k], model.width[l], f"layer {l}'s inputs")
        outs = _node_list(groups[2 * k + 1], model.n_sub(l + 1), f"layer {l}'s output sub-nodes")
        for j in range(model.n_sub(l + 1)):
            for i in range(model.width[l]):
                if (i in ins) != (j in outs):
                    remove_edge(model, l, i, j)
    return model


def _node_list(group: str, n: int, what: str) -> Set[int]:
    """The indices of ``"[a,b,...]"`` (negative from the end) checked against ``n``."""
    if not (group.startswith("[") and group.endswith("]")):
        raise ValueError(f"{what} must be written '[i,j,...]', got {group!r}")
    try:
        ids = [int(v) for v in group[1:-1].split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(f"{what} must be integers, got {group!r}") from err
    if not all(-n <= i < n for i in ids):
        raise IndexError(f"{what}: indices {ids} out of range (0..{n - 1}, or negative from the end)")
    return {i % n for i in ids}
