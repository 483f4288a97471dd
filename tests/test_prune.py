"""Attribution scores and pruning into smaller models."""

import pytest
import torch

from kanlab import KAN


@pytest.fixture()
def sparse_model(fitted):
    """[3, 5, 1] fitted with sparsity on a function of inputs 0 and 1 only."""
    return fitted("sparse_three_inputs")[:2]


def test_attribute_shapes_and_feature_selection(sparse_model) -> None:
    model, _ = sparse_model
    scores = model.attribute()
    assert [s.shape for s in scores["node_scores"]] == [(3,), (5,), (1,)]
    assert [s.shape for s in scores["edge_scores"]] == [(5, 3), (1, 5)]
    fs = model.feature_score
    assert fs.shape == (3,)
    assert fs[2] < 0.02 * fs[:2].min()  # the unused input is recognised
    # node scores are sums of the outgoing edge scores
    assert torch.allclose(scores["node_scores"][1], scores["edge_scores"][1].sum(0))


def _masked(model: KAN, keep_hidden) -> KAN:
    import copy

    masked = copy.deepcopy(model)
    for n in range(model.width[1]):
        if n not in keep_hidden:
            masked.remove_node(1, n)
    return masked


def test_prune_node_gives_a_smaller_model_equal_to_the_masked_one(sparse_model) -> None:
    model, ds = sparse_model
    small = model.prune_node(1e-2)
    assert small.width[0] == 3 and small.width[-1] == 1 and small.width[1] < 5
    kept = (model.attribute()["node_scores"][1] > 1e-2).nonzero().flatten().tolist()
    assert small.width[1] == len(kept)
    x = ds["test_input"]
    assert torch.allclose(small(x), _masked(model, kept)(x), atol=1e-6)
    assert small.num_parameters() < model.num_parameters()
    assert torch.equal(small.cache_data, model.cache_data)


def test_prune_combines_nodes_and_edges(sparse_model) -> None:
    model, ds = sparse_model
    pruned = model.prune(node_th=1e-2, edge_th=3e-2)
    assert pruned.width[1] < 5
    assert pruned is not model and model.width == [3, 5, 1]
    active = int(pruned.layers[0].mask.sum())
    assert active < pruned.width[0] * pruned.width[1]  # edges from the unused input are masked
    rmse = lambda m: float((m(ds["test_input"]) - ds["test_label"]).pow(2).mean().sqrt())
    assert rmse(pruned) < 3 * rmse(model) < 0.3  # pruning costs little


def test_prune_input_keeps_the_used_inputs(sparse_model) -> None:
    model, ds = sparse_model
    small = model.prune_input(1e-2)
    assert small.width[0] == 2 and small.input_id == [0, 1]
    x = ds["test_input"]
    masked = _masked(model, range(5))
    masked.remove_node(0, 2)
    assert torch.allclose(small(x[:, :2]), masked(x), atol=1e-6)
    chosen = model.prune_input(active_inputs=[1])
    assert chosen.width == [1, 5, 1] and chosen.input_id == [1]


def test_pruning_keeps_symbolic_edges(sparse_model) -> None:
    import copy

    model, ds = sparse_model
    model = copy.deepcopy(model)
    model.fix_symbolic(0, 0, 3, "sin", verbose=False)
    small = model.prune_node(active_neurons_id=[[1, 3]])
    assert small.width == [3, 2, 1]
    assert small.symbolic[0].names[1][0] == "sin" and small.symbolic[0].n_active == 1
    x = ds["test_input"]
    assert torch.allclose(small(x), _masked(model, [1, 3])(x), atol=1e-6)


def test_remove_and_bad_arguments(sparse_model) -> None:
    import copy

    model = copy.deepcopy(sparse_model[0])
    model.remove_edge(0, 0, 1)
    assert model.layers[0].mask[1, 0] == 0
    model.remove_node(1, 2)
    assert model.layers[0].mask[2].sum() == 0 and model.layers[1].mask[0, 2] == 0
    with pytest.raises(IndexError, match="node layer l=3"):
        model.remove_node(3, 0)
    with pytest.raises(IndexError, match="output node j=7"):
        model.remove_edge(0, 0, 7)
    with pytest.raises(ValueError, match="non-negative"):
        model.prune(node_th=-1)
    with pytest.raises(ValueError, match="1 lists"):
        model.prune_node(active_neurons_id=[[0], [1]])
    with pytest.raises(IndexError, match="nodes 0..4"):
        model.prune_node(active_neurons_id=[[9]])
    with pytest.raises(ValueError, match="no data"):
        KAN([2, 1]).attribute()


def _dead_hidden(model: KAN):
    """Hidden nodes whose incoming (every factor's) or outgoing edges are all switched off."""
    dead = []
    for l in range(1, model.depth):
        for n in range(model.width[l]):
            subs = [s for s, o in enumerate(model.node_of_sub(l)) if o == n]
            fed = all(bool(model.layers[l - 1].mask[s].any() or model.symbolic[l - 1].active[s].any()) for s in subs)
            used = bool(model.layers[l].mask[:, n].any() or model.symbolic[l].active[:, n].any())
            if not (fed and used):
                dead.append((l, n))
    return dead


def test_prune_removes_a_node_kept_by_its_score_whose_edges_were_then_switched_off(sparse_model) -> None:
    """prune = prune_node, prune_edge, and then the nodes prune_edge left reaching no output go too:
    before, such a node stayed (score above node_th, every edge below edge_th)."""
    from kanlab.prune import prune_edge, prune_node

    model, ds = sparse_model
    kept = prune_node(model, 1e-4)
    # an edge threshold just above the weakest kept hidden node's outgoing edge (its score, with
    # one output): the situation of the report, whatever the fit's exact rounding gave
    node_scores = kept.attribute()["node_scores"][1]
    edge_th = 1.5 * float(node_scores.min())
    assert float(node_scores.max()) > edge_th  # a node survives
    two_steps = prune_edge(kept, edge_th)
    assert _dead_hidden(two_steps)  # a kept node, all its edges off
    pruned = model.prune(node_th=1e-4, edge_th=edge_th)
    assert _dead_hidden(pruned) == [] and pruned.width[1] == two_steps.width[1] - len(_dead_hidden(two_steps))
    assert bool((pruned.attribute()["node_scores"][1] > 1e-2).all())  # every kept node matters
    x = ds["test_input"]
    assert torch.allclose(pruned(x), two_steps(x), atol=1e-5)  # the dropped nodes carried nothing


def test_a_node_with_all_incoming_or_all_outgoing_edges_off_scores_0_and_is_pruned(sparse_model) -> None:
    import copy

    from kanlab.prune import live_nodes

    model, ds = sparse_model
    model = copy.deepcopy(model)
    scores = model.attribute()["node_scores"][1]
    a, b = scores.argsort(descending=True)[:2].tolist()
    assert scores[a] > 0.05 and scores[b] > 0.05  # the two nodes that carry the function
    for i in range(3):
        model.remove_edge(0, i, a)  # node a: no incoming edge, its outgoing edge still on
    model.remove_edge(1, b, 0)  # node b: no outgoing edge
    scores = model.attribute()["node_scores"][1]
    assert float(scores[a]) == 0.0 and float(scores[b]) == 0.0
    assert live_nodes(model)[1][[a, b]].tolist() == [False, False]
    small = model.prune_node(threshold=0.0)
    assert small.width[1] == int((scores > 0).sum()) and _dead_hidden(small) == []


def test_live_nodes_follow_products_and_propagate() -> None:
    from kanlab.prune import drop_dead_nodes, live_nodes

    model = KAN([2, [1, 1], 2, 1], seed=0)  # node layer 1: a sum node and a product of 2 factors
    assert all(bool(v.all()) for v in live_nodes(model))
    for i in range(2):
        model.remove_edge(0, i, 2)  # the product's second factor gets nothing: the product is 0
    model.remove_edge(1, 0, 1)  # node 1 of layer 2 is fed by the dead product only
    model.remove_edge(2, 0, 0)  # node 0 of layer 2 feeds nothing, so the sum node of layer 1 ...
    live = live_nodes(model)
    assert live[1].tolist() == [False, False]  # ... is dead too: it only fed the dead node 0
    assert live[2].tolist() == [False, False]  # and node 1 of layer 2 only got the dead product
    assert live[0].tolist() == [False, False] and live[3].tolist() == [False]  # nothing gets through
    x = torch.rand(20, 2) * 2 - 1
    with torch.no_grad():
        assert bool((model(x) == model(x)[0]).all())  # the output is constant indeed
    small = drop_dead_nodes(model)
    assert small.width == [2, 1, 1, 1]  # every hidden layer keeps one node
    model = KAN([2, [1, 1], 2, 1], seed=0)
    model.remove_node(1, 0)
    small = drop_dead_nodes(model)
    assert small.width == [2, 1, 2, 1] and small.mult_width == [0, 1, 0, 0]
    assert torch.allclose(small(x), model(x), atol=1e-6)
    assert drop_dead_nodes(small) is small


def test_prune_node_takes_pykans_mode() -> None:
    """pykan's prune_node(threshold, mode, active_neurons_id): 'manual' keeps the listed nodes
    (and needs them), 'auto' prunes by score; anything else is refused."""
    model = KAN([2, 4, 1], seed=0)
    manual = model.prune_node(1e-2, "manual", [[1, 3]])
    assert manual.width == [2, 2, 1]
    with pytest.raises(ValueError, match="needs active_neurons_id"):
        model.prune_node(mode="manual")
    with pytest.raises(ValueError, match="mode must be"):
        model.prune_node(mode="by hand")
