"""The KAN facade (kanlab.model): pykan's API bound from the operation modules, not restated."""
import inspect

import pytest
import torch
from torch import nn

from kanlab import KAN, checkpoint, create_dataset, edges, formula, plot, prune, symbolic, train
from kanlab.network import KANNetwork


def test_pykan_and_efficient_kan_styles() -> None:
    a = KAN(width=[2, 5, 1], grid=3, k=3, seed=0)
    assert a.width == [2, 5, 1] and a.grid == 3 and a.k == 3 and a.depth == 2
    b = KAN([784, 64, 10])
    assert isinstance(b, nn.Module) and b(torch.rand(4, 784)).shape == (4, 10)
    c = KAN([3, 2], grid_size=7, spline_order=2)
    assert c.grid == 7 and c.k == 2


def test_speed_returns_model_and_train_is_not_shadowed() -> None:
    model = KAN([2, 1])
    assert model.speed() is model
    assert model.train(False) is model and not model.training
    assert model.train() is model and model.training


def test_speed_drops_the_regulariser_as_pykan_does_but_says_so() -> None:
    ds = create_dataset(lambda x: x[:, [0]] ** 2, n_var=2, train_num=64, test_num=16, seed=0)
    plain, fast = KAN([2, 3, 1], seed=0), KAN([2, 3, 1], seed=0).speed()
    assert plain.save_act and not fast.save_act
    with pytest.warns(UserWarning, match=r"lamb=0\.01\) trains without the regulariser.*save_act = True"):
        res = fast.fit(ds, steps=2, lamb=0.01, progress=False)
    assert res["reg"] == [0.0, 0.0]  # pykan's 'setting lamb=0'
    unreg = KAN([2, 3, 1], seed=0)
    unreg.fit(ds, steps=2, lamb=0.0, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(fast.state_dict().values(), unreg.state_dict().values()))
    fast.save_act = True
    assert fast.fit(ds, steps=1, lamb=0.01, progress=False)["reg"][0] > 0


def test_feature_score_is_absent_not_an_error_before_scores() -> None:
    model = KAN([2, 3, 1], seed=0)
    assert not hasattr(model, "feature_score")  # a property must not raise anything else
    with pytest.raises(AttributeError, match=r"call model\.attribute\(x\) or fit first"):
        model.feature_score
    scores = model.attribute(torch.rand(64, 2))
    assert hasattr(model, "feature_score") and torch.equal(model.feature_score, scores["node_scores"][0])
    with pytest.raises(AttributeError, match="no attribute 'nope'"):  # other names: nn.Module's error
        model.nope


BOUND = {"fit": train.fit, "fit_grid_schedule": train.fit_grid_schedule, "saveckpt": checkpoint.save_checkpoint,
         "get_fun": edges.get_fun, "suggest_symbolic": symbolic.suggest_symbolic,
         "fix_symbolic": symbolic.fix_symbolic, "unfix_symbolic": symbolic.unfix_symbolic,
         "auto_symbolic": symbolic.auto_symbolic, "symbolic_formula": formula.symbolic_formula,
         "prune": prune.prune, "prune_node": prune.prune_node, "prune_edge": prune.prune_edge,
         "prune_input": prune.prune_input, "remove_edge": prune.remove_edge, "remove_node": prune.remove_node,
         "plot": plot.plot_kan, "plot_activations": plot.plot_activations, "plot_history": plot.plot_history}


@pytest.mark.parametrize("name", sorted(BOUND))
def test_facade_methods_are_the_operations_themselves(name) -> None:
    """``help(KAN.fit)`` shows train.fit's own signature and docs: the facade binds, never restates.
    Methods that change the model are wrapped by :func:`kanlab.history.versioned`, which adds only
    pykan's keyword ``log_history`` and a note on versions."""
    method, op = getattr(KAN, name), BOUND[name]
    if method is op:
        return
    assert method.__wrapped__ is op
    params = [p for p in inspect.signature(method).parameters.values() if p.name != "log_history"]
    assert inspect.signature(method).replace(parameters=params) == inspect.signature(op)
    assert "log_history" in inspect.signature(method).parameters
    assert method.__doc__.startswith(inspect.cleandoc(op.__doc__))


def test_constructor_signature_is_the_networks() -> None:
    assert inspect.signature(KAN) == inspect.signature(KANNetwork)
    assert {"width", "grid", "k", "seed", "base_fun", "grid_range"} <= set(inspect.signature(KAN).parameters)


def test_pykan_parameter_names_and_order() -> None:
    """pykan's positional order: plot(folder, beta, metric, scale, tick, sample, in_vars, out_vars,
    title) and fit(dataset, opt, steps, log, lamb, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff,
    update_grid, grid_update_num, loss_fn, lr, start_grid_update_step, stop_grid_update_step, batch)."""
    plot_params = list(inspect.signature(KAN.plot).parameters)[1:10]
    assert plot_params == ["folder", "beta", "metric", "scale", "tick", "sample", "in_vars", "out_vars", "title"]
    fit_params = list(inspect.signature(KAN.fit).parameters)[1:17]
    assert fit_params == ["dataset", "opt", "steps", "log", "lamb", "lamb_l1", "lamb_entropy", "lamb_coef",
                          "lamb_coefdiff", "update_grid", "grid_update_num", "loss_fn", "lr",
                          "start_grid_update_step", "stop_grid_update_step", "batch"]
    assert "fit_params_bool" in inspect.signature(KAN.fix_symbolic).parameters
    assert {"zero_threshold", "x"} <= set(inspect.signature(KAN.auto_symbolic).parameters)


def test_pykan_style_plot_folder_first(tmp_path) -> None:
    model = KAN([2, 2, 1], grid=3, seed=0)
    fig = model.plot(str(tmp_path / "figures"))  # pykan: model.plot("./figures")
    assert (tmp_path / "figures" / "kan_diagram.png").is_file() and fig is not None


def test_drawing_and_pruning_do_not_write_scores_onto_the_model() -> None:
    data = create_dataset(lambda x: x[:, [0]] ** 2, n_var=2, train_num=64, test_num=8, seed=0)
    model = KAN([2, 3, 1], grid=3, seed=0)
    model.fit(data, steps=2, progress=False)
    before = set(vars(model))
    model.plot()
    model.prune_edge(0.0)
    pruned = model.prune()
    assert set(vars(model)) == before and model.scores is None
    assert not any(hasattr(m, "_scores") for m in (model, pruned))
    scores = model.attribute()
    assert model.scores is scores and torch.equal(model.feature_score, scores["node_scores"][0])
    assert torch.equal(model.edge_scores[0], scores["edge_scores"][0])


def test_loadckpt_returns_the_calling_class(tmp_path) -> None:
    model = KAN([2, 3, 1], grid=3, seed=0)
    model.saveckpt(str(tmp_path / "m.pt"))
    assert type(KAN.loadckpt(str(tmp_path / "m.pt"))) is KAN
    assert type(checkpoint.load_checkpoint(str(tmp_path / "m.pt"))) is KANNetwork
    x = torch.rand(5, 2)
    assert torch.equal(KAN.loadckpt(str(tmp_path / "m.pt"))(x), model(x))


def test_a_subclass_survives_pruning() -> None:
    class MyKAN(KAN):
        pass

    model = MyKAN([2, 3, 1], grid=3, seed=0)
    assert type(model.prune_node(active_neurons_id=[[0, 2]])) is MyKAN


def test_old_positional_orders_fail_loudly_not_silently() -> None:
    """kanlab's earlier positional orders (plot(beta, ...), auto_symbolic(lib, r2_threshold)) cannot
    silently mean something else now: a clear TypeError names the fix."""
    model = KAN([2, 2, 1], grid=3, seed=0)
    with pytest.raises(TypeError, match=r"plot\(beta=3\)"):
        model.plot(3)
    with pytest.raises(TypeError):
        model.auto_symbolic(["x", "sin"], 0.999)
    with pytest.raises(TypeError):
        model.suggest_symbolic(0, 0, 0, ["x", "sin"])
