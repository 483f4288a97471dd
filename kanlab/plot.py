"""Plots: the KAN diagram (:func:`plot_kan`), every edge of a layer (:func:`plot_activations`)
and fit histories (:func:`plot_history`). Matplotlib is imported lazily and keeps its backend:
the one the user set (``matplotlib.use``, ``MPLBACKEND``, matplotlibrc), else matplotlib's own
choice, which is off-screen Agg where there is no display. Each function draws on a figure that
becomes the current one (so ``plt.savefig`` saves it) and returns it.

The diagram: node layers bottom (inputs) to top (outputs); every edge ``i -> j`` of layer ``l``
is drawn as a line from node ``i`` to a small inset showing the edge's learned curve over the
inputs it sees, then on to node ``j``. Line and curve opacity is ``tanh(beta * importance)``;
symbolic edges are red and labelled with their function.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import torch

from .attribution import attribute
from .edges import eval_edge, input_range
from .validation import check_index

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

METRICS = ("backward", "forward_n", "forward_u")
_MAX_INSETS = 120  # layers with more edges are drawn as lines only
_SPLINE_COLOR, _SYMBOLIC_COLOR = "black", "tab:red"
_MULT_DROP = 0.03  # how far below a multiplication node its factor sub-nodes are drawn


def _pyplot() -> Any:
    """``matplotlib.pyplot``, on the backend the user (or matplotlib) chose: never switched here."""
    import matplotlib.pyplot as plt

    return plt


def _figure(plt: Any, figsize: Sequence[float]) -> Any:
    """The current figure if it is blank (e.g. ``plt.subplots()`` just made it), else a new one."""
    if plt.get_fignums():
        fig = plt.gcf()
        blank = all(not (ax.lines or ax.collections or ax.images or ax.patches or ax.texts) for ax in fig.axes)
        if blank:
            fig.clf()
            return fig
    return plt.figure(figsize=figsize)


def _names(given: Optional[Sequence[str]], n: int, default: Sequence[str], what: str) -> List[str]:
    if given is None:
        return list(default)
    if len(given) != n:
        raise ValueError(f"{what} needs {n} names, got {len(given)}")
    return [str(v) for v in given]


def plot_kan(model: KANNetwork, folder: Optional[str] = None, beta: float = 3, metric: str = "backward",
             scale: float = 0.5, tick: bool = False, sample: bool = False, in_vars: Optional[Sequence[str]] = None,
             out_vars: Optional[Sequence[str]] = None, title: Optional[str] = None, *, n_points: int = 100) -> Any:
    """Draw the KAN diagram of ``model`` and return the figure (now current). The parameters are
    pykan's ``plot``'s, in its order (``model.plot("./figures")`` saves there).

    Args:
        beta: opacity sharpness: an edge is drawn with alpha ``tanh(beta * importance)``.
        metric: importance per edge: 'backward' (attribution edge score, default), 'forward_n'
            (edge spread over its output node's) or 'forward_u' (edge spread). Needs data
            (``cache_data``, set by ``fit``); without data every edge is drawn opaque.
        scale: figure size factor (a new figure is ``~ 24 * scale`` inches wide for wide layers).
        folder: if given, the diagram is also saved there as ``kan_diagram.png``.
        in_vars, out_vars: input / output names (default ``x_1..``, ``y_1..``).
        title: figure title.
        sample: also scatter the data each edge sees on its inset.
        tick: draw ticks and tick labels on the insets.
    """
    if folder is not None and not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path or None, got {folder!r}; plot's order is pykan's, "
                        "plot(folder, beta, metric, ...): give beta by name, plot(beta=3)")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not isinstance(beta, (int, float)) or beta <= 0:
        raise ValueError(f"beta must be a positive number, got {beta!r}")
    plt = _pyplot()
    width, depth = model.width, model.depth
    ids = getattr(model, "input_id", list(range(width[0])))
    in_names = _names(in_vars, width[0], [f"$x_{{{k + 1}}}$" for k in ids], "in_vars")
    out_names = _names(out_vars, width[-1], [f"$y_{{{k + 1}}}$" for k in range(width[-1])], "out_vars")
    has_data = model.cache_data is not None
    if has_data:
        scores = attribute(model)[{"backward": "edge_scores"}.get(metric, metric)]
        inputs = model.layer_inputs(model.cache_data.to(device=model.device, dtype=model.dtype))
    n_sub = [model.n_sub(l) for l in range(depth + 1)]
    n_edges = [width[l] * n_sub[l + 1] for l in range(depth)]
    widest = max(max(n_edges), max(width))
    fig = _figure(plt, (max(8.0, min(40.0, 2.4 * scale * min(widest, 20))), max(5.0, 7.0 * scale * depth)))
    main = fig.add_axes((0, 0, 1, 1))
    main.set_xlim(0, 1)
    main.set_ylim(0, 1)
    main.axis("off")
    top = 0.86 if title else 0.93
    row_y = [0.07 + (top - 0.07) * l / depth for l in range(depth + 1)]

    def sub_x(l: int, s: int) -> float:
        return (s + 0.5) / n_sub[l]

    # node positions per node layer: a multiplication node sits at the mean of its sub-nodes
    owners = [model.node_of_sub(l) for l in range(depth + 1)]
    node_pos = [[sum(sub_x(l, s) for s, o in enumerate(owners[l]) if o == k) / owners[l].count(k)
                 for k in range(width[l])] for l in range(depth + 1)]

    def node_x(l: int, k: int) -> float:
        return node_pos[l][k]

    def sub_y(l: int, s: int) -> float:  # factors hang below their product node
        return row_y[l] - (_MULT_DROP if s >= model.n_sum(l) else 0.0)

    for l in range(depth):
        layer, sym = model.layers[l], model.symbolic[l]
        y0, y1 = row_y[l], row_y[l + 1]
        draw_insets = n_edges[l] <= _MAX_INSETS
        slot = 1.0 / n_edges[l]
        w = min(0.8 * slot, 0.13)
        h = min(0.55 * (y1 - y0), 1.2 * w * fig.get_figwidth() / fig.get_figheight())
        ym = 0.5 * (y0 + y1)
        for i in range(width[l]):
            lo_hi = (float(inputs[l][:, i].min()), float(inputs[l][:, i].max())) if has_data else None
            for j in range(n_sub[l + 1]):
                symbolic = bool(sym.active[j, i])
                if not symbolic and layer.mask[j, i] == 0:
                    continue  # pruned edge
                alpha = math.tanh(beta * float(scores[l][j, i])) if has_data else 1.0
                color = _SYMBOLIC_COLOR if symbolic else _SPLINE_COLOR
                xm = (i * n_sub[l + 1] + j + 0.5) * slot
                end = (sub_x(l + 1, j), sub_y(l + 1, j))
                if not draw_insets:
                    main.plot([node_x(l, i), end[0]], [y0, end[1]], color=color, alpha=alpha, lw=0.5)
                    continue
                main.plot([node_x(l, i), xm], [y0 + 0.012, ym - h / 2], color=color, alpha=alpha, lw=1.0)
                main.plot([xm, end[0]], [ym + h / 2, end[1] - 0.012], color=color, alpha=alpha, lw=1.0)
                ax = fig.add_axes((xm - w / 2, ym - h / 2, w, h))
                lo, hi = lo_hi if lo_hi is not None and lo_hi[1] > lo_hi[0] else input_range(model, l, i)
                xs = torch.linspace(lo, hi, n_points, device=model.device, dtype=model.dtype)
                with torch.no_grad():
                    ys = eval_edge(model, l, i, j, xs)
                ax.plot(xs.cpu().numpy(), ys.cpu().numpy(), color=color, lw=1.5, alpha=max(alpha, 0.0))
                if sample and has_data:
                    with torch.no_grad():
                        pts = model.edge_activations(l, inputs[l][:200])[:, j, i]
                    ax.scatter(inputs[l][:200, i].cpu().numpy(), pts.cpu().numpy(), s=2, color=color,
                               alpha=0.5 * alpha)
                for side in ax.spines.values():
                    side.set_alpha(max(alpha, 0.15))
                    side.set_color(color)
                if tick:
                    ax.tick_params(labelsize=6, length=2, pad=1)
                else:
                    ax.set_xticks([])
                    ax.set_yticks([])
                ax.patch.set_alpha(0.0)
                if symbolic:
                    ax.set_title(sym.names[j][i], fontsize=8, color=color, pad=1.5)
    for l in range(depth + 1):
        n_sum = model.n_sum(l)
        for s in range(n_sum, n_sub[l]):  # sub-nodes of multiplication nodes, joined to their node
            main.plot([sub_x(l, s), node_x(l, owners[l][s])], [sub_y(l, s), row_y[l]], color="black", lw=1.0)
            main.scatter([sub_x(l, s)], [sub_y(l, s)], s=15, color="black", zorder=5)
        for k in range(width[l]):
            if k < n_sum:
                main.scatter([node_x(l, k)], [row_y[l]], s=60, color="black", zorder=5)
            else:
                main.scatter([node_x(l, k)], [row_y[l]], s=160, color="white", edgecolors="black", zorder=5)
                main.text(node_x(l, k), row_y[l], "×", ha="center", va="center", fontsize=11, zorder=6)
    for k, name in enumerate(in_names):
        main.text(node_x(0, k), row_y[0] - 0.035, name, ha="center", va="top", fontsize=13)
    for k, name in enumerate(out_names):
        main.text(node_x(depth, k), row_y[-1] + 0.025, name, ha="center", va="bottom", fontsize=13)
    if title:
        main.text(0.5, 0.985, title, ha="center", va="top", fontsize=15)
    plt.figure(fig.number)  # make it current
    if folder is not None:
        os.makedirs(folder, exist_ok=True)
        fig.savefig(os.path.join(folder, "kan_diagram.png"), dpi=120)
    return fig


def plot_activations(model: KANNetwork, l: int = 0, n_points: int = 200, extend: float = 0.25,
                     x: Optional[torch.Tensor] = None) -> Any:
    """Every edge of layer ``l`` on its own axes (rows: output nodes, columns: inputs), drawn
    over the data range widened by ``extend`` on each side, the data range shaded."""
    l = check_index("layer l", l, model.depth)
    plt = _pyplot()
    n_in, n_out = model.width[l], model.n_sub(l + 1)  # rows: sub-nodes (one per factor of a product)
    fig, axes = plt.subplots(n_out, n_in, figsize=(3.2 * n_in, 2.4 * n_out), squeeze=False)
    sym = model.symbolic[l]
    for i in range(n_in):
        lo, hi = input_range(model, l, i, x)
        pad = extend * (hi - lo)
        xs = torch.linspace(lo - pad, hi + pad, n_points, device=model.device, dtype=model.dtype)
        for j in range(n_out):
            ax = axes[j][i]
            with torch.no_grad():
                ys = eval_edge(model, l, i, j, xs)
            symbolic = bool(sym.active[j, i])
            ax.axvspan(lo, hi, color="tab:blue", alpha=0.08, lw=0)
            ax.plot(xs.cpu().numpy(), ys.cpu().numpy(), color=_SYMBOLIC_COLOR if symbolic else "tab:blue", lw=1.8)
            label = f" [{sym.names[j][i]}]" if symbolic else ""
            ax.set_title(f"layer {l}: in {i} → out {j}{label}", fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=7)
    fig.suptitle(f"Layer {l} edge functions (shaded: range of the data)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_history(results: Dict[str, list], keys: Optional[Sequence[str]] = None, logy: bool = True) -> Any:
    """Curves of a ``fit`` result: ``train_loss``, ``test_loss`` (and ``reg`` if non-zero) by step."""
    if not isinstance(results, dict):
        raise TypeError(f"results must be the dict fit returns, got {type(results).__name__}")
    if keys is None:
        keys = [k for k in ("train_loss", "test_loss", "reg") if results.get(k) and any(v != 0 for v in results[k])]
    missing = [k for k in keys if k not in results]
    if missing:
        raise KeyError(f"results has no {missing}; available: {sorted(results)}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in keys:
        (ax.semilogy if logy else ax.plot)(results[k], label=k)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
