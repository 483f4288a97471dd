"""``KAN``: the facade users meet. A :class:`~kanlab.network.KANNetwork` with pykan's API bound on.

Both construction styles work::

    model = KAN(width=[2, 5, 1], grid=3, k=3, seed=0)   # pykan style
    model = KAN([784, 64, 10])                          # efficient-kan style: a plain nn.Module

The network (construction, ``forward``, grid updates, ``refine``) is
:class:`~kanlab.network.KANNetwork`. Every other method is a function of an operations module
bound here as it is, so ``help(KAN.fit)`` shows :func:`kanlab.train.fit`'s own signature and
documentation, and a new option added there reaches the facade without a copy:

=================  ======================================================================
training           :mod:`kanlab.train` (``fit``, ``fit_grid_schedule``, ``disable_symbolic_in_fit``)
regularisers       :mod:`kanlab.regularizers` (``reg``, ``get_reg``)
checkpoints        :mod:`kanlab.checkpoint` (``saveckpt``, ``loadckpt``)
versions           :mod:`kanlab.history` (``rewind``, ``checkout``, ``log_history``, ``history``; with
                   ``auto_save=True`` the methods that change the model save versions)
edges              :mod:`kanlab.edges` (``act_fun``, ``symbolic_fun``, ``get_fun``, ``get_act``, ``get_range``)
copies             :mod:`kanlab.transfer` (``copy``, ``initialize_from_another_model``, ...)
symbolic edges     :mod:`kanlab.symbolic` (``suggest_symbolic``, ``fix_symbolic``, ...)
formulas           :mod:`kanlab.formula` (``symbolic_formula``)
attribution        :mod:`kanlab.attribution` (``attribute``, ``feature_score``, ``node_attribute``, ``feature_interaction``)
hypotheses         :mod:`kanlab.hypothesis` (``tree``: separability and symmetry of the learned function)
pruning            :mod:`kanlab.prune` (``prune``, ``prune_node``, ...)
structure          :mod:`kanlab.structure` (``expand_depth``, ``expand_width``, ``swap``, ``perturb``,
                   ``set_mode``, ``evaluate``, ``n_edge``, ``connection_cost``, ...)
plots              :mod:`kanlab.plot` (``plot``, ``plot_activations``, ``plot_history``)
=================  ======================================================================
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

import torch

from . import attribution, autobasis, checkpoint, edges, formula, regularizers, structure, symbolic, train, transfer
from . import history as _history
from . import hypothesis
from . import plot as _plot
from . import prune as _prune
from .network import KANNetwork

Device = Union[str, torch.device, None]


class KAN(KANNetwork):
    __doc__ = KANNetwork.__doc__

    #: scores of the last explicit :meth:`attribute` call (pykan's ``node_scores``,
    #: ``edge_scores``, ``feature_score``); ``None`` until then. The constructor is
    #: :class:`KANNetwork`'s, so ``help(KAN)`` shows its every argument; with ``auto_save=True``
    #: it then saves the first version (:mod:`kanlab.history`).
    scores: Optional[Dict[str, List[torch.Tensor]]] = None
    __init__ = _history.versioned_init(KANNetwork.__init__)

    #: ``{basis name: validation loss}`` of the run that picked the basis of a ``KAN(basis="auto")``
    #: (:func:`choose_basis`); ``None`` until then.
    basis_scores: Optional[Dict[str, float]] = None

    # training
    fit = _history.versioned(train.fit)
    prepare_fit = autobasis.prepare_fit
    fit_grid_schedule = _history.versioned(train.fit_grid_schedule)
    refine = _history.versioned(KANNetwork.refine)
    reg = regularizers.reg
    get_reg = regularizers.reg
    disable_symbolic_in_fit = train.disable_symbolic_in_fit

    #: pykan's switch: whether training may read the per-edge activations the regulariser needs.
    #: :meth:`speed` turns it off (as pykan's does), and ``fit(lamb > 0)`` then trains without the
    #: regulariser and warns; set it back to ``True`` to regularise.
    save_act: bool = True

    def speed(self) -> "KAN":
        """pykan's fast mode, with pykan's meaning; returns ``self``.

        kanlab's spline path is always the fast one, so nothing else changes, but pykan's
        ``speed()`` also stops saving activations, which silently switches its sparsity
        regulariser off (``fit(lamb=0.01)`` trains with ``lamb = 0``). Scripts written for pykan
        rely on that, so kanlab does the same, with a warning from ``fit`` instead of silence.
        Set ``model.save_act = True`` afterwards to regularise. Symbolic edges keep working.
        """
        self.save_act = False
        return self

    # checkpoints and copies
    saveckpt = checkpoint.save_checkpoint
    copy = transfer.copy_model
    initialize_from_another_model = transfer.initialize_from_another_model
    initialize_grid_from_another_model = transfer.initialize_grid_from_another_model

    @classmethod
    def loadckpt(cls, path: str, base_fun: Optional[Callable] = None, map_location: Device = None) -> "KAN":
        """Load a model written by :meth:`saveckpt`, or pykan's ``saveckpt`` files as weights (see
        :func:`kanlab.checkpoint.load_checkpoint`)."""
        return checkpoint.load_checkpoint(path, base_fun=base_fun, map_location=map_location, cls=cls)

    # edges and symbolic edges
    act_fun = property(edges.ActFun, doc=edges.ActFun.__doc__)
    symbolic_fun = property(edges.SymbolicFun, doc=edges.SymbolicFun.__doc__)
    get_fun = edges.get_fun
    get_act = edges.get_act
    get_range = edges.get_range
    acts = property(edges.acts, doc=edges.acts.__doc__)
    spline_preacts = property(edges.spline_preacts, doc=edges.spline_preacts.__doc__)
    spline_postacts = property(edges.spline_postacts, doc=edges.spline_postacts.__doc__)
    suggest_symbolic = symbolic.suggest_symbolic
    fix_symbolic = _history.versioned(symbolic.fix_symbolic)
    unfix_symbolic = _history.versioned(symbolic.unfix_symbolic)
    unfix_symbolic_all = _history.versioned(symbolic.unfix_symbolic_all)
    auto_symbolic = _history.versioned(symbolic.auto_symbolic)
    symbolic_formula = formula.symbolic_formula

    # attribution and pruning
    def attribute(self, l: Any = None, i: Optional[int] = None, plot: bool = False, *,
                  x: Optional[torch.Tensor] = None) -> Any:
        """Attribution scores on ``x`` ``(batch, width[0])`` (default ``cache_data``).

        ``attribute()`` (or ``attribute(x)``): :func:`kanlab.attribution.attribute`'s dict for the
        whole network, kept as ``model.scores`` for pykan's ``node_scores``, ``edge_scores`` and
        ``feature_score``. ``attribute(l)``: pykan's per-node form,
        :func:`kanlab.attribution.node_input_scores` ``(width[l], width[0])``, each row the inputs'
        scores for one node of node layer ``l``; ``attribute(l, i)`` its row ``i`` ``(width[0],)``,
        drawn as a bar chart with ``plot=True`` (pykan draws by default; kanlab only when asked).
        The per-node forms leave ``model.scores`` as they were (pykan overwrites its node scores).
        """
        if isinstance(l, torch.Tensor):  # attribute(x), kanlab's positional form
            l, x = None, l
        if l is None:
            self.scores = attribution.attribute(self, x)
            return self.scores
        rows = attribution.node_input_scores(self, l, x)
        if i is None:
            return rows
        if not 0 <= i < rows.shape[0]:
            raise IndexError(f"node layer {l} has {rows.shape[0]} nodes, got i={i}")
        if plot:
            import matplotlib.pyplot as plt

            plt.figure(figsize=(max(3, rows.shape[1]), 3))
            plt.bar(range(rows.shape[1]), rows[i].cpu().numpy())
            plt.xticks(range(rows.shape[1]))
        return rows[i]

    @property
    def node_scores(self) -> List[torch.Tensor]:
        """``(width[l],)`` per node layer from the last :meth:`attribute` (pykan's attribute)."""
        return self._last_scores()["node_scores"]

    @property
    def edge_scores(self) -> List[torch.Tensor]:
        """``(n_sub(l + 1), width[l])`` per layer from the last :meth:`attribute`."""
        return self._last_scores()["edge_scores"]

    @property
    def feature_score(self) -> torch.Tensor:
        """Input importance ``(width[0],)``: from the last :meth:`attribute`, else computed on the
        last fit's inputs (not stored). ``AttributeError`` before there are scores or data, so
        ``hasattr(model, "feature_score")`` is ``False`` on an untrained model."""
        return self._last_scores()["node_scores"][0]

    #: pykan's ``node_attribute_scores``: the last :meth:`node_attribute`'s list; ``None`` until then.
    node_attribute_scores: Optional[List[torch.Tensor]] = None

    def node_attribute(self, x: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        """:func:`kanlab.attribution.node_attribute` on ``x`` (default ``cache_data``), kept as
        ``model.node_attribute_scores`` (as pykan's) and returned (pykan returns ``None``)."""
        self.node_attribute_scores = attribution.node_attribute(self, x)
        return self.node_attribute_scores

    feature_interaction = attribution.feature_interaction
    tree = hypothesis.tree

    def _last_scores(self) -> Dict[str, List[torch.Tensor]]:
        if self.scores is not None:
            return self.scores
        if self.cache_data is None:
            raise AttributeError(_NO_SCORES)
        return attribution.attribute(self)

    def __getattr__(self, name: str) -> Any:
        # nn.Module.__getattr__ runs when a property raises AttributeError and would replace its
        # message with "'KAN' object has no attribute ..."; keep the scores' explanation
        if name in ("feature_score", "node_scores", "edge_scores", "connection_cost"):
            raise AttributeError(_NO_SCORES)
        return super().__getattr__(name)

    prune = _history.versioned(_prune.prune)
    prune_node = _history.versioned(_prune.prune_node)
    prune_edge = _history.versioned(_prune.prune_edge)
    prune_input = _history.versioned(_prune.prune_input)
    remove_edge = _history.versioned(_prune.remove_edge)
    remove_node = _history.versioned(_prune.remove_node)

    # structure: sizes, node and layer edits, edge modes
    width_in = property(structure.width_in, doc=structure.width_in.__doc__)
    width_out = property(structure.width_out, doc=structure.width_out.__doc__)
    n_mult = property(structure.n_mult, doc=structure.n_mult.__doc__)
    n_edge = property(structure.n_edge, doc=structure.n_edge.__doc__)

    @property
    def connection_cost(self) -> torch.Tensor:
        """pykan's connection cost (:func:`kanlab.structure.connection_cost`) from the last
        :meth:`attribute` scores, else from attribution on the cached data; ``AttributeError``
        before there are either, so ``hasattr`` (and ``torch.jit.trace``) see no attribute."""
        return structure.connection_cost(self, self._last_scores()["edge_scores"])
    get_params = structure.get_params
    evaluate = structure.evaluate
    set_mode = structure.set_mode
    expand_depth = structure.expand_depth
    expand_width = structure.expand_width
    swap = _history.versioned(structure.swap)
    auto_swap = _history.versioned(structure.auto_swap)
    auto_swap_l = structure.auto_swap_l
    perturb = _history.versioned(structure.perturb)
    module = _history.versioned(structure.module)

    # versions (auto_save=True)
    rewind = _history.rewind
    checkout = _history.checkout
    log_history = _history.log_history
    history = _history.history

    # plots
    plot = _plot.plot_kan
    plot_activations = _plot.plot_activations
    plot_history = staticmethod(_plot.plot_history)


_NO_SCORES = ("attribution scores are not computed yet and there is no cached data to compute them from: "
              "call model.attribute(x) or fit first")

