"""Plots: the KAN diagram (:func:`plot_kan`), every edge of a layer (:func:`plot_activations`)
and fit histories (:func:`plot_history`). Matplotlib is imported lazily and keeps its backend:
the one the user set (``matplotlib.use``, ``MPLBACKEND``, matplotlibrc), else matplotlib's own
choice, which is off-screen Agg where there is no display. Each function draws on a figure that
becomes the current one (so ``plt.savefig`` saves it) and returns it.

The diagram: node layers bottom (inputs) to top (outputs); every edge ``i -> j`` of layer ``l``
is drawn as a line from node ``i`` to a small inset showing the edge's learned curve over the
inputs it sees on the data, then on to node ``j``. The insets of one layer share a vertical
scale, so a curve's height is its edge's magnitude: a flat edge is a flat line, and a small edge
never looks as big as a large one. Line and curve opacity is ``tanh(beta * importance)``, at least
``0.4`` for an edge whose importance is ``1e-2`` or more; a negligible edge (below ``1e-2``) is a
faint grey curve in a dotted box, a switched-off (pruned) edge is not drawn; symbolic edges are
red and labelled with their function. A contributing edge whose curve would look flat on its
layer's scale (less than a fifth of it) also shows its shape magnified, dashed and labelled
``×N``, over its true-scale curve.
"""
from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

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
_NEGLIGIBLE = 1e-2  # an edge scoring less is drawn as negligible (grey, dotted box)
_MIN_ALPHA = 0.4  # every other live edge is drawn at least this opaque
_NEGLIGIBLE_COLOR = "0.6"
_HEADROOM = 1.15  # an inset's height over its layer's largest edge variation


def _alpha(score: float, beta: float) -> float:
    """Opacity of an edge of importance ``score``: ``tanh(beta * score)``, at least ``_MIN_ALPHA``
    unless the edge is negligible (``score < _NEGLIGIBLE``)."""
    alpha = math.tanh(beta * score)
    return alpha if score < _NEGLIGIBLE else max(alpha, _MIN_ALPHA)


def _bounds(ys: Any) -> Tuple[float, float]:
    """``(min, max)`` of the finite values of ``ys`` (``(0, 0)`` if there are none)."""
    import numpy as np

    finite = ys[np.isfinite(ys)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def _layer_span(curves: Sequence[Any], eps: float) -> float:
    """The vertical extent every inset of a layer shows: its edges' largest variation (max - min
    over the drawn range), at least 100 roundings (``eps``, the model's machine epsilon) of the
    largest value, so a layer of flat edges is drawn flat instead of magnifying rounding noise."""
    bounds = [_bounds(ys) for ys in curves]
    span = max((hi - lo for lo, hi in bounds), default=0.0)
    size = max((max(abs(lo), abs(hi)) for lo, hi in bounds), default=0.0)
    span = max(span, 100 * eps * size)
    return span if span > 0 else 1.0


def _magnification(ys: Any, span: float) -> int:
    """How much to magnify a curve of variation ``ptp(ys)`` that would look flat on its layer's
    scale ``span``: the largest of 1, 2, 5, 10, 20, 50, ... that keeps it within ``0.8 * span``;
    1 (none) when it already spans a fifth of the scale or more, or is flat (``1e-4 * span`` or
    less)."""
    lo, hi = _bounds(ys)
    var = hi - lo
    if var <= 1e-4 * span or var >= 0.2 * span:
        return 1
    room = 0.8 * span / var  # < 8000
    return max(m * 10 ** e for e in range(4) for m in (1, 2, 5) if m * 10 ** e <= room)


def _data_range(col: torch.Tensor) -> Tuple[float, float]:
    """``(min, max)`` of a layer input column, widened to ``±0.5`` around a constant one (as
    :func:`kanlab.edges.input_range` does)."""
    lo, hi = float(col.min()), float(col.max())
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-8 else (lo, hi)


def _set_ylim(ax: Any, ys: Any, span: float) -> None:
    """Centre ``ys`` on ``ax`` with the layer's common vertical extent ``span``."""
    mid = 0.5 * sum(_bounds(ys))
    half = 0.5 * _HEADROOM * span
    ax.set_ylim(mid - half, mid + half)


def _diagram_path(folder: str, title: Optional[str]) -> str:
    """Where :func:`plot_kan` saves a diagram in ``folder``: ``<title>.png`` (the title with every
    run of characters other than letters, digits, ``.``, ``-`` and ``_`` made one ``_``), else
    ``kan_diagram.png``, ``kan_diagram_2.png``, ... (the first free name). A titled file is reused
    only when it holds a diagram drawn with the same title (its PNG ``Title``); otherwise
    ``_2``, ``_3``, ... is appended, so no call overwrites another title's or an untitled picture.
    Names keep at most 120 characters of the title."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("._")[:120] if title else ""
    base = stem or "kan_diagram"
    n = 1
    while True:
        path = os.path.join(folder, f"{base}.png" if n == 1 else f"{base}_{n}.png")
        if not os.path.exists(path) or (title and _png_title(path) == title):
            return path
        n += 1


def _png_title(path: str) -> Optional[str]:
    """The ``Title`` text of the PNG at ``path`` (``None`` if it has none or cannot be read)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return getattr(image, "text", {}).get("Title")
    except Exception:  # not a PNG, unreadable, or no Pillow: treat as another picture
        return None


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


def _label(name: Any) -> str:
    """A name as text: a sympy expression in LaTeX (``$x_{1}$``), anything else as ``str``."""
    if type(name).__module__.startswith("sympy"):
        import sympy

        return f"${sympy.latex(name)}$"
    return str(name)


def input_names(ids: Sequence[int], given: Optional[Sequence[Any]] = None, what: str = "in_vars") -> List[str]:
    """Labels of input nodes whose original input columns are ``ids`` (``model.input_id``):
    default ``$x_{k+1}$`` for original column ``k``; else ``given`` (strings as they are, sympy
    expressions in LaTeX), either one name per input node, used in order, or, after
    ``prune_input``, one per original input, indexed by ``ids`` (so a pruned model takes the
    unpruned model's list; a model does not record how many inputs it had, so any list longer
    than ``max(ids)`` counts as that). Any other length is a ``ValueError`` naming ``what``."""
    ids = [int(k) for k in ids]
    if given is None:
        return [f"$x_{{{k + 1}}}$" for k in ids]
    if len(given) == len(ids):
        return [_label(v) for v in given]
    if len(given) > max(ids, default=-1):
        return [_label(given[k]) for k in ids]
    raise ValueError(f"{what} needs {len(ids)} names (one per input) or, after prune_input, one per original "
                     f"input (at least {max(ids) + 1}, picked by input_id {ids}), got {len(given)}")


def plot_kan(model: KANNetwork, folder: Optional[str] = None, beta: float = 3, metric: str = "backward",
             scale: float = 0.5, tick: bool = False, sample: bool = False, in_vars: Optional[Sequence[str]] = None,
             out_vars: Optional[Sequence[str]] = None, title: Optional[str] = None, *, n_points: int = 100) -> Any:
    """Draw the KAN diagram of ``model`` and return the figure (now current). The parameters are
    pykan's ``plot``'s, in its order (``model.plot("./figures")`` saves there).

    Args:
        beta: opacity sharpness: an edge is drawn with alpha ``tanh(beta * importance)``, at
            least 0.4 for an edge of importance ``>= 1e-2`` so that no contributing edge fades
            out; an edge below ``1e-2`` is negligible: a grey curve in a dotted box.
        metric: importance per edge: 'backward' (attribution edge score, default), 'forward_n'
            (edge spread over its output node's) or 'forward_u' (edge spread). Needs data
            (``cache_data``, set by ``fit``); without data every edge is drawn opaque.
        scale: figure size factor (a new figure is ``~ 24 * scale`` inches wide for wide layers).
        folder: if given, the diagram is also saved there (120 dpi), one file per call: named
            after ``title`` (``title="Grid 5"`` writes ``Grid_5.png``; a later call with the same
            title replaces it, a different title never does), untitled calls write
            ``kan_diagram.png``, ``kan_diagram_2.png``, ... (the first free name). The file's PNG
            ``Title`` records the title. pykan's per-edge ``sp_{l}_{i}_{j}.png`` are not written.
        in_vars, out_vars: input / output names (default ``x_1..``, ``y_1..``; an input keeps its
            original number after ``prune_input``). ``in_vars`` may also name every original
            input: after ``prune_input`` the kept ones are picked by ``model.input_id``
            (:func:`input_names`); sympy expressions there are drawn in LaTeX.
        title: figure title.
        sample: also scatter the data each edge sees on its inset.
        tick: draw ticks and tick labels on the insets (actual values; no offset notation).

    Each inset spans the inputs its edge sees on the data (``cache_data``; the grid range without
    data). The insets of one layer share one vertical scale (their height is ``1.15`` times the
    layer's largest edge variation, each centred on its own curve), so heights compare within a
    layer and a flat edge is a flat line. A contributing (not negligible) edge whose variation is
    under a fifth of that scale also gets a dashed copy magnified ``N`` times (1, 2, 5, 10, ...;
    at most 0.8 of the scale), labelled ``×N``, so its shape stays readable.
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
    in_names = input_names(model.input_id, in_vars)
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
        edges = []  # (i, j, symbolic, score or None, xs, ys)
        for i in range(width[l]):
            if draw_insets:  # every edge out of input i on n_points spanning the data it sees
                lo, hi = _data_range(inputs[l][:, i]) if has_data else input_range(model, l, i)
                xs = torch.linspace(lo, hi, n_points, device=model.device, dtype=model.dtype)
                full = xs.new_zeros(n_points, width[l])
                full[:, i] = xs
                with torch.no_grad():
                    acts = model.edge_activations(l, full)[:, :, i].cpu().numpy()  # (n_points, n_sub)
                xs_np = xs.cpu().numpy()
            for j in range(n_sub[l + 1]):
                symbolic = bool(sym.active[j, i])
                if not symbolic and layer.mask[j, i] == 0:
                    continue  # pruned edge
                score = float(scores[l][j, i]) if has_data else None
                if draw_insets:
                    edges.append((i, j, symbolic, score, xs_np, acts[:, j]))
                else:
                    edges.append((i, j, symbolic, score, None, None))
        span = _layer_span([e[5] for e in edges if e[5] is not None], torch.finfo(model.dtype).eps)
        for i, j, symbolic, score, xs, ys in edges:
            negligible = score is not None and score < _NEGLIGIBLE
            alpha = 1.0 if score is None else _alpha(score, beta)
            color = _SYMBOLIC_COLOR if symbolic else _SPLINE_COLOR
            xm = (i * n_sub[l + 1] + j + 0.5) * slot
            end = (sub_x(l + 1, j), sub_y(l + 1, j))
            if not draw_insets:
                main.plot([node_x(l, i), end[0]], [y0, end[1]], color=color, alpha=alpha, lw=0.5)
                continue
            main.plot([node_x(l, i), xm], [y0 + 0.012, ym - h / 2], color=color, alpha=alpha, lw=1.0)
            main.plot([xm, end[0]], [ym + h / 2, end[1] - 0.012], color=color, alpha=alpha, lw=1.0)
            ax = fig.add_axes((xm - w / 2, ym - h / 2, w, h))
            curve_color = _NEGLIGIBLE_COLOR if negligible and not symbolic else color
            curve_alpha = 0.5 if negligible else alpha
            ax.plot(xs, ys, color=curve_color, lw=1.0 if negligible else 1.5, alpha=curve_alpha)
            zoom = 1 if negligible else _magnification(ys, span)
            if zoom > 1:  # a contributing edge too small to read on the layer's scale: its shape, labelled
                mid = 0.5 * sum(_bounds(ys))
                ax.plot(xs, mid + zoom * (ys - mid), color=color, lw=1.0, ls=(0, (3, 2)), alpha=0.7 * alpha)
                ax.text(0.04, 0.96, f"×{zoom}", transform=ax.transAxes, ha="left", va="top", fontsize=6,
                        color=color, alpha=max(alpha, 0.6))
            ax.set_xlim(float(xs[0]), float(xs[-1]))
            _set_ylim(ax, ys, span)
            if sample and has_data:
                with torch.no_grad():
                    pts = model.edge_activations(l, inputs[l][:200])[:, j, i]
                ax.scatter(inputs[l][:200, i].cpu().numpy(), pts.cpu().numpy(), s=2, color=curve_color,
                           alpha=0.5 * curve_alpha)
            for side in ax.spines.values():
                if negligible:
                    side.set_linestyle((0, (1, 2)))
                    side.set_color(_NEGLIGIBLE_COLOR)
                    side.set_alpha(0.6)
                else:
                    side.set_color(color)
                    side.set_alpha(alpha)
            if tick:
                ax.tick_params(labelsize=6, length=2, pad=1)
                ax.ticklabel_format(useOffset=False, style="plain", axis="both")
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
        fig.savefig(_diagram_path(os.fspath(folder), title), dpi=120, format="png",
                    metadata={"Title": title} if title else None)
    return fig


def plot_activations(model: KANNetwork, l: int = 0, n_points: int = 200, extend: float = 0.25,
                     x: Optional[torch.Tensor] = None) -> Any:
    """Every edge of layer ``l`` on its own axes (rows: output nodes, columns: inputs), drawn
    over the data range widened by ``extend`` on each side, the data range shaded. All axes
    share one vertical extent (1.15 times the layer's largest edge variation, each centred on its
    own curve; tick labels without offset notation), so a flat edge is a flat line and heights
    compare across the grid."""
    l = check_index("layer l", l, model.depth)
    plt = _pyplot()
    n_in, n_out = model.width[l], model.n_sub(l + 1)  # rows: sub-nodes (one per factor of a product)
    fig, axes = plt.subplots(n_out, n_in, figsize=(3.2 * n_in, 2.4 * n_out), squeeze=False)
    sym = model.symbolic[l]
    curves = {}
    for i in range(n_in):
        lo, hi = input_range(model, l, i, x)
        pad = extend * (hi - lo)
        xs = torch.linspace(lo - pad, hi + pad, n_points, device=model.device, dtype=model.dtype)
        for j in range(n_out):
            with torch.no_grad():
                curves[j, i] = (lo, hi, xs.cpu().numpy(), eval_edge(model, l, i, j, xs).cpu().numpy())
    span = _layer_span([c[3] for c in curves.values()], torch.finfo(model.dtype).eps)
    for (j, i), (lo, hi, xs_np, ys_np) in curves.items():
        ax = axes[j][i]
        symbolic = bool(sym.active[j, i])
        ax.axvspan(lo, hi, color="tab:blue", alpha=0.08, lw=0)
        ax.plot(xs_np, ys_np, color=_SYMBOLIC_COLOR if symbolic else "tab:blue", lw=1.8)
        _set_ylim(ax, ys_np, span)
        ax.ticklabel_format(useOffset=False, style="plain", axis="y")
        off = not symbolic and model.layers[l].mask[j, i] == 0
        label = f" [{sym.names[j][i]}]" if symbolic else (" (switched off)" if off else "")
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
