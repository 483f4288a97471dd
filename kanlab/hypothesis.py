"""How a function's inputs combine: KAN 2.0's hypothesis tests and pykan's ``tree``.

Every test takes a function ``f`` mapping ``x`` ``(batch, n)`` to ``(batch,)`` or ``(batch, m)``
(the first output is tested, as in pykan) whose rows are independent (a ``KAN``, an MLP, a
lambda), and reads autograd derivatives at the rows of ``x``. Scores are medians over the rows,
scaled by the inputs' spreads ``std_i = x[:, i].std()`` so they do not depend on units:

- *symmetry* of a group ``A`` (:func:`is_symmetric`): ``f(x) = F(g(x_A), x_B)`` (``B``: the other
  inputs), so the direction of ``grad_A f`` does not move with ``x_B``; score
  ``median |d(grad_A f / |grad_A f|) / dx_B| std_A std_B``.
- *additive separability* into groups (:func:`is_separable`): ``f = sum_g f_g(x_g)``, so the
  Hessian's entries between groups vanish; score ``median |H_ij| std_i std_j``. *Multiplicative*:
  the same test on ``log |f + bias|``.
- *general separability* (:func:`is_generally_separable`): ``f = F(g_1(x_A) + g_2(x_B))``: every
  ratio ``df/dx_b / df/dx_a`` (``a`` in one group, ``b`` in another) is multiplicatively separable.

:func:`get_molecule` groups the inputs level by level into ever larger symmetric groups,
:func:`get_tree_node` labels each merge (``'Id'``, ``'GS'``, ``'Add'``, ``'Mul'`` or ``''``) and
:func:`plot_tree` draws the result; :func:`tree` is pykan's ``model.tree``. pykan's
``test_symmetry``, ``test_separability`` and ``test_general_separability`` are named
``is_symmetric``, ``is_separable`` and ``is_generally_separable`` here (pytest would collect
functions named ``test_*`` wherever they are imported).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple

import torch

from .plot import input_names
from .validation import check_real

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

Function = Callable[[torch.Tensor], torch.Tensor]
Groups = Sequence[Sequence[int]]
Levels = List[List[List[int]]]

MODES = ("add", "mul")
STYLES = ("tree", "box")
_NORM_EPS = 1e-6  # added to |grad_A f| before normalising (pykan's)


def _first_output(f: Function, x: torch.Tensor) -> torch.Tensor:
    """``f(x)``'s first output per row ``(batch,)``."""
    y = f(x)
    if not isinstance(y, torch.Tensor) or y.shape[:1] != x.shape[:1]:
        raise ValueError(f"f must map x (batch, n) to (batch,) or (batch, m), got {getattr(y, 'shape', type(y))}")
    return y.reshape(y.shape[0], -1)[:, 0]


def _grad(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``d y.sum() / dx`` ``(batch, n)`` with a graph for higher derivatives (rows independent: the
    per-row derivatives); zeros where ``y`` does not depend on ``x``."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _leaf(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(batch, n)`` as a fresh leaf that records gradients, unless it is already part of a
    graph (a derivative nested in another, :func:`is_generally_separable`)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor of shape (batch, n), got {getattr(x, 'shape', type(x))}")
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 rows (the scores are scaled by the inputs' spreads), got {x.shape[0]}")
    return x if x.requires_grad else x.detach().requires_grad_(True)


def input_gradient(f: Function, x: torch.Tensor) -> torch.Tensor:
    """``df/dx`` of ``f``'s first output at each row of ``x`` ``(batch, n)`` -> ``(batch, n)``
    (pykan's ``batch_jacobian``)."""
    x = _leaf(x)
    return _grad(_first_output(f, x), x)


def input_hessian(f: Function, x: torch.Tensor) -> torch.Tensor:
    """``d^2 f / dx_i dx_j`` of ``f``'s first output at each row of ``x`` ``(batch, n)`` ->
    ``(batch, n, n)`` (pykan's ``batch_hessian``)."""
    x = _leaf(x)
    g = _grad(_first_output(f, x), x)
    return torch.stack([_grad(g[:, i], x) for i in range(x.shape[1])], dim=1)


def _check_groups(groups: Groups, n: int) -> List[List[int]]:
    """``groups`` as lists of ints: disjoint input indices in ``0..n-1``."""
    out = [[int(i) for i in g] for g in groups]
    flat = [i for g in out for i in g]
    if any(not 0 <= i < n for i in flat) or len(set(flat)) != len(flat):
        raise ValueError(f"groups must be disjoint lists of input indices in 0..{n - 1}, got {groups!r}")
    return out


def dependence(f: Function, x: torch.Tensor, group: Sequence[int]) -> torch.Tensor:
    """pykan's ``get_dependence``: how much the direction of ``grad_A f`` (``A = group``) moves
    with each other input ``b``: ``(|A|, n - |A|)``, entry ``[a, b]`` the median over rows of
    ``|d u_a / dx_b| std_a std_b`` with ``u = grad_A f / (|grad_A f| + 1e-6)``; columns follow the
    other inputs in increasing order."""
    x = _leaf(x)
    (a_ids,) = _check_groups([group], x.shape[1])
    b_ids = [i for i in range(x.shape[1]) if i not in a_ids]
    g = _grad(_first_output(f, x), x)[:, a_ids]
    u = g / (g.norm(dim=1, keepdim=True) + _NORM_EPS)
    d = torch.stack([_grad(u[:, a], x)[:, b_ids] for a in range(len(a_ids))], dim=1)  # (batch, |A|, |B|)
    std = x.detach().std(0)
    return (d.detach() * std[a_ids, None] * std[None, b_ids]).abs().median(0).values


def is_symmetric(f: Function, x: torch.Tensor, group: Sequence[int], dependence_th: float = 1e-3) -> bool:
    """pykan's ``test_symmetry``: does ``f`` depend on the inputs ``group`` only through one
    combination ``g(x_group)``? True when every :func:`dependence` score is below ``dependence_th``
    (always for no inputs or all of them)."""
    check_real("dependence_th", dependence_th, low=0)
    if len(group) in (0, x.shape[1]):
        return True
    return bool(dependence(f, x, group).max() < dependence_th)


def separability_scores(f: Function, x: torch.Tensor, mode: str = "add", bias: float = 0.0) -> torch.Tensor:
    """``(n, n)``: the median over rows of ``|H_ij| std_i std_j``, ``H`` the Hessian of ``f``
    (``mode='add'``) or of ``log |f + bias|`` (``mode='mul'``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    fun = f if mode == "add" else (lambda z: torch.log(torch.abs(_first_output(f, z) + bias)))
    x = _leaf(x)
    std = x.detach().std(0)
    return (input_hessian(fun, x).detach() * std[:, None] * std[None, :]).abs().median(0).values


def is_separable(f: Function, x: torch.Tensor, groups: Groups, mode: str = "add", threshold: float = 1e-2,
                 bias: float = 0.0) -> bool:
    """pykan's ``test_separability``: is ``f`` a sum (``mode='add'``) or product (``'mul'``, of
    ``f + bias``) of functions of the ``groups``' inputs, with the inputs in no group in a term of
    their own? True when every :func:`separability_scores` entry between two groups, and between
    a grouped and an ungrouped input, is below ``threshold``."""
    check_real("threshold", threshold, low=0)
    groups = _check_groups(groups, x.shape[1])
    scores = separability_scores(f, x, mode=mode, bias=bias)
    grouped = [i for g in groups for i in g]
    rest = [i for i in range(x.shape[1]) if i not in grouped]
    blocks = [(a, b) for k, a in enumerate(groups) for b in groups[k + 1:]]
    if grouped and rest:
        blocks.append((grouped, rest))
    return all(bool(scores[a][:, b].max() < threshold) for a, b in blocks if a and b)


def is_generally_separable(f: Function, x: torch.Tensor, groups: Groups, threshold: float = 1e-2) -> bool:
    """pykan's ``test_general_separability``: ``f = F(g_1(x_A) + g_2(x_B) + ...)`` over the
    ``groups``? True when for every ``a``, ``b`` in different groups the ratio
    ``(df/dx_b) / (df/dx_a)`` passes :func:`is_separable` (``mode='mul'``) at ``threshold``.
    Needs third derivatives of ``f``."""
    groups = _check_groups(groups, x.shape[1])
    for k, group_a in enumerate(groups):
        for group_b in groups[k + 1:]:
            for a in group_a:
                for b in group_b:
                    def ratio(z: torch.Tensor, a: int = a, b: int = b) -> torch.Tensor:
                        g = _grad(_first_output(f, z), z)
                        return g[:, b] / g[:, a]

                    if not is_separable(ratio, x, groups, mode="mul", threshold=threshold):
                        return False
    return True


def _split(molecule: Sequence[int], parts: Levels) -> List[List[int]]:
    """``molecule`` cut into the consecutive pieces that are entries of ``parts`` (one level down)."""
    pieces, start = [], 0
    for end in range(1, len(molecule) + 1):
        if list(molecule[start:end]) in parts:
            pieces.append(list(molecule[start:end]))
            start = end
    return pieces


def get_molecule(f: Function, x: torch.Tensor, sym_th: float = 1e-3, verbose: bool = False) -> Levels:
    """pykan's ``get_molecule``: the inputs grouped level by level. Level 0 is ``[[0], [1], ...]``;
    each next level merges the previous one's groups greedily (in order, each group absorbing every
    later one with which it stays :func:`is_symmetric` at ``sym_th``) until a level merges nothing
    more (then everything becomes one group) or a single group is left. From level 1 on, a group
    that would absorb the last remaining group and so take in every input (which is always
    symmetric) keeps it apart, once, so the top merge is a real node of the tree. Lower levels are
    then reordered to follow the groups above them (each level's groups are consecutive runs).
    Returns ``levels``: ``levels[l]`` the groups (lists of input indices) of level ``l``.
    """
    check_real("sym_th", sym_th, low=0)
    n = x.shape[1]
    levels: Levels = [[[i] for i in range(n)]]
    kept_apart = False
    while True:
        atoms, molecules = levels[-1], []
        remaining = list(atoms)
        while remaining:
            current, members, apart = list(remaining[0]), [remaining[0]], None
            for atom in remaining[1:]:
                if len(levels) > 1 and len(members) > 1 and not kept_apart and len(current) + len(atom) == n:
                    kept_apart, apart = True, atom
                    break
                if is_symmetric(f, x, current + atom, dependence_th=sym_th):
                    current += atom
                    members.append(atom)
            molecules.append(current)
            if apart is not None:
                molecules.append(apart)
                members.append(apart)
            remaining = [a for a in remaining if a not in members]
        if verbose:
            print(f"level {len(levels)}: {molecules}")
        if len(molecules) == len(atoms):  # no progress: one group of everything on top
            levels.append([[i for m in molecules for i in m]])
            break
        levels.append(molecules)
        if len(molecules) == 1:
            break
    for l in range(len(levels) - 1, 0, -1):
        levels[l - 1] = [piece for molecule in levels[l] for piece in _split(molecule, levels[l - 1])]
    return levels


def get_tree_node(f: Function, x: torch.Tensor, levels: Levels, sep_th: float = 1e-2,
                  skip_test: bool = True) -> Tuple[List[List[int]], List[List[str]]]:
    """pykan's ``get_tree_node``: for each group of ``levels[l + 1]`` (:func:`get_molecule`) its
    arity (how many groups of level ``l`` it merges) and property: ``'Id'`` (arity 1), else
    ``'GS'`` if :func:`is_generally_separable` over its parts, and at the top level ``'Add'`` or
    ``'Mul'`` (:func:`is_separable`; ``'Mul'`` wins when both hold), else ``''``; with
    ``skip_test`` no test is run (every merge is ``''``). Returns ``(arities, properties)``, one
    list per level above 0."""
    check_real("sep_th", sep_th, low=0)
    arities, properties = [], []
    top = len(levels) - 2
    for l in range(len(levels) - 1):
        arity_l, property_l = [], []
        for molecule in levels[l + 1]:
            parts = _split(molecule, levels[l])
            arity_l.append(len(parts))
            prop = "Id" if len(parts) == 1 else ""
            if prop == "" and not skip_test:
                if l == top and is_separable(f, x, parts, mode="mul", threshold=sep_th):
                    prop = "Mul"
                elif l == top and is_separable(f, x, parts, mode="add", threshold=sep_th):
                    prop = "Add"
                elif is_generally_separable(f, x, parts, threshold=sep_th):
                    prop = "GS"
            property_l.append(prop)
        arities.append(arity_l)
        properties.append(property_l)
    return arities, properties


def plot_tree(f: Function, x: torch.Tensor, in_var: Optional[Sequence[Any]] = None, style: str = "tree",
              sym_th: float = 1e-3, sep_th: float = 1e-1, skip_sep_test: bool = False,
              verbose: bool = False) -> Any:
    """pykan's ``plot_tree``: draw how ``f``'s inputs combine (:func:`get_molecule`,
    :func:`get_tree_node`) and return the figure (now current; pykan calls ``plt.show()``).

    Inputs sit at the bottom in the order of the groups; each level above draws one mark per
    group: ``style='tree'`` draws a merge of separable parts as lines joining them (blue) with a red
    ``+`` (``'Add'``) or ``*`` (``'Mul'``) at the top level, a group with one part as a vertical
    line, and any other merge as a box; ``style='box'`` draws every group as a box labelled with
    its property. ``in_var``: input names (strings used as they are, sympy expressions in LaTeX),
    one per input of ``x`` or, for a model after ``prune_input``, one per original input (as
    ``plot``'s ``in_vars``); default ``x_1, x_2, ...`` (a model's original input numbers).
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    levels = get_molecule(f, x, sym_th=sym_th, verbose=verbose)
    arities, properties = get_tree_node(f, x, levels, sep_th=sep_th, skip_test=skip_sep_test)
    names = input_names(getattr(f, "input_id", range(x.shape[1])), in_var, what="in_var")
    import matplotlib.pyplot as plt

    n, depth = x.shape[1], len(levels) - 1
    fig = plt.figure(figsize=(max(4.0, 1.2 * n), 1.6 * depth + 1.0))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    ax.axis("off")
    delta, rise, half_w, half_h = 1.0 / n, 0.5, 0.3, 0.15  # spacing, level height, box margins
    centres = [(i + 0.5) * delta for i in range(n)]  # x of each group of the level below
    for l in range(depth):
        y = (l + 0.5) * rise
        below, centres, first = centres, [], 0
        for molecule, arity, prop in zip(levels[l + 1], arities[l], properties[l]):
            left, right = first * delta, (first + len(molecule)) * delta
            cx = 0.5 * (left + right)
            children, below = below[:arity], below[arity:]
            if style == "box" or prop == "":
                _box(ax, cx, y, right - left - (1 - 2 * half_w) * delta, 2 * half_h)
                if style == "box":
                    ax.text(cx, y, prop, fontsize=15, ha="center", va="center")
            elif prop == "Id":
                ax.plot([cx, cx], [y - half_h, y + half_h], color="black")
            else:
                for child in children:
                    ax.plot([child, cx], [y - half_h, y + half_h], color="tab:blue")
                if prop in ("Add", "Mul"):
                    ax.text(cx, y + half_h, "+" if prop == "Add" else "*", ha="center", va="center",
                            color="tab:red", fontsize=30)
            ax.plot([cx, cx], [y + half_h, y + rise - half_h], color="black")  # up to the next level
            centres.append(cx)
            first += len(molecule)
    for k, group in enumerate(levels[0]):
        xk = (k + 0.5) * delta
        ax.plot([xk, xk], [0, 0.5 * rise - half_h], color="black")
        ax.text(xk, -0.03, names[group[0]], fontsize=16, ha="center", va="top")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.2, depth * rise)
    return fig


def _box(ax: Any, cx: float, cy: float, w: float, h: float) -> None:
    """A black rectangle of size ``w x h`` centred at ``(cx, cy)``."""
    xs = [cx - w / 2, cx + w / 2, cx + w / 2, cx - w / 2, cx - w / 2]
    ys = [cy - h / 2, cy - h / 2, cy + h / 2, cy + h / 2, cy - h / 2]
    ax.plot(xs, ys, color="black")


def tree(model: KANNetwork, x: Optional[torch.Tensor] = None, in_var: Optional[Sequence[Any]] = None,
         style: str = "tree", sym_th: float = 1e-3, sep_th: float = 1e-1, skip_sep_test: bool = False,
         verbose: bool = False) -> Any:
    """pykan's ``model.tree``: :func:`plot_tree` of the model's first output on ``x``
    ``(batch, width[0])`` (default ``cache_data``); returns the figure."""
    return plot_tree(model, model.data(x), in_var=in_var, style=style, sym_th=sym_th, sep_th=sep_th,
                     skip_sep_test=skip_sep_test, verbose=verbose)
