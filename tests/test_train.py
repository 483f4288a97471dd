"""fit(): accuracy on a KAN-paper toy, history, regulariser, grid updates, guards."""
import math

import pytest
import torch

from kanlab import KAN, create_dataset
from kanlab.train import regularizer


def xy_dataset():
    return create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=1000, test_num=1000, seed=0)


def test_fit_learns_xy_to_1e_3() -> None:
    dataset = xy_dataset()
    model = KAN(width=[2, 2, 1], grid=5, k=3, seed=0)
    results = model.fit(dataset, opt="LBFGS", steps=50, progress=False)
    model.refine(10)
    results = model.fit(dataset, opt="LBFGS", steps=50, progress=False)
    assert results["test_loss"][-1] <= 1e-3
    with torch.no_grad():
        rmse = torch.sqrt(torch.mean((model(dataset["test_input"]) - dataset["test_label"]) ** 2)).item()
    assert math.isclose(rmse, results["test_loss"][-1], rel_tol=1e-4)


def test_history_cache_and_metrics() -> None:
    dataset = xy_dataset()
    model = KAN([2, 2, 1], seed=0)

    def mean_abs_pred():
        return model(dataset["test_input"]).abs().mean()

    results = model.fit(dataset, opt="Adam", lr=1e-2, steps=7, metrics=[mean_abs_pred], progress=False)
    assert all(len(results[key]) == 7 for key in ("train_loss", "test_loss", "reg", "mean_abs_pred"))
    assert results["train_loss"][-1] < results["train_loss"][0]
    assert model.cache_data is not None and torch.equal(model.cache_data, dataset["train_input"])
    assert torch.equal(model.cache_target, dataset["train_label"])


def test_dataset_without_test_split_and_batches() -> None:
    full = xy_dataset()
    dataset = {"train_input": full["train_input"], "train_label": full["train_label"]}
    model = KAN([2, 2, 1], seed=0)
    results = model.fit(dataset, opt="Adam", lr=1e-2, steps=5, batch=64, progress=False)
    assert len(results["train_loss"]) == 5 and results["test_loss"] == []


def test_lamb_regulariser_sparsifies() -> None:
    dataset = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]), n_var=3, seed=0)
    dense = KAN([3, 3, 1], seed=0).fit(dataset, steps=20, progress=False)
    model = KAN([3, 3, 1], seed=0)
    sparse = model.fit(dataset, steps=20, lamb=0.01, progress=False)
    assert dense["reg"][-1] == 0.0 and sparse["reg"][-1] > 0.0
    norms = model.forward_with_activations(dataset["train_input"])[1][0].abs().mean(0)  # (3, 3)
    # inputs 1 and 2 are irrelevant: their edges must end far weaker than input 0's strongest edge
    assert norms[:, 1:].max() < 0.1 * norms[:, 0].max()


def test_regulariser_value_by_hand() -> None:
    """Edges with known activations: phi_0 = x and phi_1 = 3x on x = +-0.5 (identity base, no
    spline), so the per-edge L1 norms are 0.5 and 1.5: L1 = 2, p = (1/4, 3/4),
    entropy = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.562335; with lamb_l1 = 1, lamb_entropy = 2 the
    regulariser is 3.124670, and lamb_coef adds the mean |coef| of each edge."""
    model = KAN([2, 1], seed=0, base_fun="identity", dtype=torch.float64)
    layer = model.layers[0]
    with torch.no_grad():
        layer.coef.zero_()
        layer.scale_base.copy_(torch.tensor([[1.0, 3.0]], dtype=torch.float64))
    x = torch.tensor([[0.5, -0.5], [-0.5, 0.5]], dtype=torch.float64)
    _, acts = model.forward_with_activations(x)
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert math.isclose(regularizer(acts, model.layers, 1.0, 2.0).item(), 2.0 + 2.0 * entropy, rel_tol=1e-9)
    with torch.no_grad():
        layer.coef.fill_(-0.2)
    _, acts = model.forward_with_activations(x)
    with_coef = regularizer(acts, model.layers, 0.0, 0.0, lamb_coef=1.0).item()
    l1_only = regularizer(acts, model.layers, 0.0, 0.0).item()
    assert l1_only == 0.0 and math.isclose(with_coef, 2 * 0.2, rel_tol=1e-9)


def test_grid_update_inside_fit_moves_knots_to_data() -> None:
    dataset = create_dataset(lambda x: x[:, [0]] ** 2, n_var=1, ranges=[0.2, 0.6], seed=0)
    model = KAN([1, 1], seed=0)
    model.fit(dataset, steps=3, progress=False)
    grid = model.layers[0].grid
    assert 0.19 < grid.min().item() and grid.max().item() < 0.61
    frozen = KAN([1, 1], seed=0)
    frozen.fit(dataset, steps=3, update_grid=False, progress=False)
    assert frozen.layers[0].grid.min().item() == -1.0


def test_nan_loss_stops_and_restores_last_finite_state() -> None:
    dataset = xy_dataset()
    model = KAN([2, 2, 1], seed=0)
    calls = {"n": 0}

    def loss_fn(pred, y):
        calls["n"] += pred.requires_grad  # count training evaluations, not test-loss ones
        loss = torch.mean((pred - y) ** 2)
        return loss * float("nan") if calls["n"] > 3 else loss

    with pytest.warns(RuntimeWarning, match="NaN/Inf"):
        results = model.fit(dataset, opt="Adam", lr=1e-2, steps=10, loss_fn=loss_fn, update_grid=False, progress=False)
    assert len(results["train_loss"]) == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert torch.isfinite(model(dataset["test_input"])).all()


@pytest.mark.parametrize(
    "mutate, err, match",
    [
        (lambda d: d.pop("train_label"), ValueError, "missing"),
        (lambda d: d.pop("test_label"), ValueError, "together"),
        (lambda d: d.__setitem__("train_label", d["train_label"][:10]), ValueError, "rows"),
        (lambda d: d.__setitem__("train_label", d["train_label"].flatten()), ValueError, "reshape"),
        (lambda d: d.__setitem__("train_input", d["train_input"][:, :1]), ValueError, "shape"),
        (lambda d: d["train_label"].__setitem__((0, 0), float("nan")), ValueError, "NaN"),
        (lambda d: d.__setitem__("train_input", d["train_input"].tolist()), TypeError, "torch.Tensor or a numeric"),
    ],
)
def test_bad_datasets(mutate, err, match) -> None:
    dataset = xy_dataset()
    mutate(dataset)
    with pytest.raises(err, match=match):
        KAN([2, 2, 1]).fit(dataset, steps=1, progress=False)


def test_bad_options() -> None:
    dataset = xy_dataset()
    with pytest.raises(ValueError, match="opt"):
        KAN([2, 1]).fit(dataset, opt="SGD", progress=False)
    with pytest.raises(ValueError, match="batch"):
        KAN([2, 1]).fit(dataset, batch=0, progress=False)


def test_classification_with_custom_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, 2, generator=gen) * 2 - 1
    y = (x[:, 0] * x[:, 1] > 0).long()
    dataset = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    model = KAN([2, 3, 2], seed=0)
    model.fit(dataset, steps=20, loss_fn=torch.nn.CrossEntropyLoss(), progress=False)
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.95


def test_best_of_seeds_keeps_lowest_training_loss() -> None:
    from kanlab.train import best_of_seeds

    dataset = xy_dataset()
    finals = {}

    def build(seed):
        return KAN([2, 2, 1], seed=seed)

    for seed in (0, 1, 2):
        finals[seed] = build(seed).fit(dataset, steps=3, progress=False)["train_loss"][-1]
    model, history, seed = best_of_seeds(build, dataset, [0, 1, 2], steps=3, progress=False)
    assert seed == min(finals, key=finals.get)
    assert history["train_loss"][-1] == finals[seed]
    assert torch.equal(model.cache_data, dataset["train_input"])
    with pytest.raises(ValueError, match="at least one"):
        best_of_seeds(build, dataset, [])


def test_fit_seeds_ranks_every_start() -> None:
    from kanlab.train import fit_seeds

    dataset = xy_dataset()
    runs = fit_seeds(lambda s: KAN([2, 2, 1], seed=s), dataset, [0, 1, 2], steps=3, progress=False)
    assert sorted(run[3] for run in runs) == [0, 1, 2]
    losses = [run[0] for run in runs]
    assert losses == sorted(losses)
    for loss, model, history, _ in runs:  # each run's loss is its own model's final training loss
        assert loss == history["train_loss"][-1]
        with torch.no_grad():
            rmse = torch.sqrt(torch.mean((model(dataset["train_input"]) - dataset["train_label"]) ** 2))
        assert rmse.item() == pytest.approx(loss, rel=1e-4)


def best_grid_of(rows):
    return min(rows, key=lambda r: r["test_loss"])["grid"]


def test_fit_grid_schedule_stops_when_test_loss_rises_and_restores_best() -> None:
    from kanlab.train import fit_grid_schedule

    # 40 noisy samples: a fine grid interpolates the noise and the test loss rises
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, generator=gen) * 2 - 1
    noise = 0.05 * torch.randn(40, 1, generator=gen)
    xt = torch.linspace(-1, 1, 400).unsqueeze(1)
    dataset = {"train_input": x, "train_label": torch.sin(3 * x) + noise,
               "test_input": xt, "test_label": torch.sin(3 * xt)}
    model = KAN([1, 1], grid=3, seed=0)
    rows = fit_grid_schedule(model, dataset, [3, 5, 30, 60, 100], steps=30, progress=False)
    tests = [r["test_loss"] for r in rows]
    assert len(rows) < 5  # stopped before the end of the schedule
    assert rows[-1]["grid"] > best_grid_of(rows)  # it stopped *after* the best grid, on a rise
    best = min(rows, key=lambda r: r["test_loss"])
    assert tests.index(best["test_loss"]) < len(tests) - 1
    assert model.grid == best["grid"] and model.config["grid"] == best["grid"]
    with torch.no_grad():
        rmse = torch.sqrt(torch.mean((model(xt) - dataset["test_label"]) ** 2)).item()
    assert math.isclose(rmse, best["test_loss"], rel_tol=1e-5)


def poisoned_mse(after_calls: int):
    """An MSE loss that returns NaN from its ``after_calls``-th call on (a step gone wrong)."""
    calls = [0]

    def loss_fn(pred, y):
        calls[0] += 1
        loss = torch.mean((pred - y) ** 2)
        return loss * math.nan if calls[0] > after_calls else loss

    return loss_fn


def test_nan_rollback_restores_the_last_good_state_exactly() -> None:
    """Adam evaluates the loss once per step. With NaN from call 11 on, step 10 starts from a NaN
    objective, so step 9 produced the bad state: fit must warn and restore the state before step
    9, i.e. exactly the model that 9 clean steps give (a test that passed without a rollback
    would not see this)."""
    full = xy_dataset()
    dataset = {"train_input": full["train_input"], "train_label": full["train_label"]}  # no test loss calls
    model = KAN([2, 1], seed=0)
    with pytest.warns(RuntimeWarning, match="NaN/Inf"):
        model.fit(dataset, opt="Adam", lr=0.1, steps=50, loss_fn=poisoned_mse(10), update_grid=False, progress=False)
    clean = KAN([2, 1], seed=0)
    clean.fit(dataset, opt="Adam", lr=0.1, steps=9, loss_fn=poisoned_mse(10**9), update_grid=False, progress=False)
    for name, value in clean.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_nan_inside_lbfgs_is_rolled_back() -> None:
    """LBFGS evaluates the loss several times per step: NaN from call 30 on must stop fit with the
    warning and leave finite parameters whose loss is one fit recorded."""
    dataset = xy_dataset()
    model = KAN([2, 1], seed=0)
    with pytest.warns(RuntimeWarning, match="NaN/Inf"):
        res = model.fit(dataset, opt="LBFGS", steps=50, loss_fn=poisoned_mse(30), update_grid=False, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    with torch.no_grad():
        loss = torch.mean((model(dataset["train_input"]) - dataset["train_label"]) ** 2).item()
    assert 0 < len(res["train_loss"]) < 50 and math.isfinite(loss)


def test_refine_after_fit_keeps_function_and_follows_dtype() -> None:
    dataset = create_dataset(lambda x: torch.sin(3 * x[:, [0]]) * x[:, [1]], n_var=2, seed=0)
    model = KAN([2, 5, 1], grid=3, seed=0)
    model.fit(dataset, steps=30, progress=False)
    x = dataset["train_input"]
    with torch.no_grad():
        before = model(x)
        model.refine(6)  # uses cache_data; some hidden activations lie outside the grid
        assert (model(x) - before).abs().max() < 1e-2 * before.abs().max()
    model.double()
    model.refine(12)  # the float32 cache follows the model's dtype
    assert model.grid == 12 and model.dtype == torch.float64


def test_option_edge_cases() -> None:
    dataset = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=200, test_num=0, seed=0)
    assert "test_input" not in dataset
    model = KAN([2, 1], seed=0)
    grid = model.layers[0].grid.clone()
    results = model.fit(dataset, steps=2, grid_update_num=0, progress=False)
    assert results["test_loss"] == [] and torch.equal(model.layers[0].grid, grid)
    with pytest.raises(ValueError, match="log"):
        model.fit(dataset, steps=1, log=0)
    with pytest.raises(ValueError, match="lr"):
        model.fit(dataset, steps=1, lr=-1.0)
    with pytest.raises(TypeError, match="metrics"):
        model.fit(dataset, steps=1, metrics=[3])


def test_custom_objective_replaces_the_data_loss() -> None:
    """fit(objective=...): any scalar of the model is minimised; grids adapt to train_input."""
    x = torch.rand(200, 1) * 0.4 + 0.2  # inside [0.2, 0.6]
    target = torch.sin(6 * x)
    model = KAN([1, 1], seed=0)

    def objective(m):
        return torch.mean((m(x) - target) ** 2)

    with torch.no_grad():
        before = float(objective(model))
    results = model.fit({"train_input": x}, steps=10, objective=objective, progress=False)
    assert len(results["train_loss"]) == 10 and results["test_loss"] == []
    assert results["train_loss"][-1] < 1e-3 * before  # the raw objective value, not its square root
    grid = model.layers[0].grid
    assert 0.19 < grid.min().item() and grid.max().item() < 0.61  # grid updates used train_input


def test_custom_objective_errors() -> None:
    model = KAN([1, 1], seed=0)
    x = torch.rand(20, 1)
    with pytest.raises(ValueError, match="not both"):
        model.fit({"train_input": x}, steps=1, objective=lambda m: m(x).sum(), loss_fn=lambda p, y: p.sum())
    with pytest.raises(ValueError, match="batch"):
        model.fit({"train_input": x}, steps=1, objective=lambda m: m(x).sum(), batch=5)
    with pytest.raises(ValueError, match="train_input"):
        model.fit({}, steps=1, objective=lambda m: m(x).sum())
    with pytest.raises(ValueError, match="scalar"):
        model.fit({"train_input": x}, steps=1, objective=lambda m: m(x), progress=False)


def test_grid_update_steps_is_pykans_schedule() -> None:
    from kanlab.train import grid_update_steps

    def pykan(num, start, stop, steps=200):  # pykan's condition, step by step
        freq = max(1, int(stop / max(num, 1)))
        return [s for s in range(steps) if num > 0 and start <= s < stop and s % freq == 0]

    for num, start, stop in [(10, -1, 50), (1, -1, 20), (3, 7, 50), (0, -1, 50), (10, 60, 50), (7, -1, 5)]:
        assert list(grid_update_steps(num, start, stop)) == pykan(num, start, stop)


def test_minibatch_fit_is_seeded_and_leaves_the_global_rng_alone() -> None:
    dataset = xy_dataset()
    rng = torch.random.get_rng_state()
    runs = [KAN([2, 1], seed=0).fit(dataset, opt="Adam", lr=1e-2, steps=6, batch=300, progress=False) for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]["test_loss"]) == 6
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_fit_grid_schedule_steps_per_grid_callback_and_time_budget() -> None:
    from kanlab.train import fit_grid_schedule

    dataset = xy_dataset()
    model = KAN([2, 1], grid=3, seed=0)
    seen = []
    rows = fit_grid_schedule(model, dataset, [3, 5], steps=[2, 3], stop_on_rise=None, on_grid=seen.append,
                             progress=False)
    assert [r["grid"] for r in rows] == [3, 5] and model.grid == 5 and seen == rows
    assert [len(r["history"]["train_loss"]) for r in rows] == [2, 3]
    assert rows[1]["test_loss"] == rows[1]["history"]["test_loss"][-1]
    assert fit_grid_schedule(model, dataset, [8, 10], steps=1, seconds=-1.0, progress=False) == []
    assert fit_grid_schedule(model, dataset, [], progress=False) == [] and model.grid == 5
    with pytest.raises(ValueError, match="one count per grid"):
        fit_grid_schedule(model, dataset, [6, 7], steps=[1], progress=False)


def test_fit_accepts_numpy_arrays_like_tensors() -> None:
    """A dataset of numpy arrays (float64 inputs, float labels) trains exactly like its tensors."""
    import numpy as np

    ds = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=64, test_num=16, seed=0)
    as_numpy = {k: v.double().numpy() for k, v in ds.items()}
    a, b = KAN([2, 2, 1], grid=3, seed=0), KAN([2, 2, 1], grid=3, seed=0)
    ra = a.fit(ds, steps=3, progress=False)
    rb = b.fit(as_numpy, steps=3, progress=False)
    assert ra["train_loss"] == rb["train_loss"] and isinstance(as_numpy["train_input"], np.ndarray)
    with pytest.raises(TypeError, match="numeric numpy array"):
        b.fit({"train_input": [[0.0, 1.0]], "train_label": [[1.0]]}, steps=1, progress=False)


def test_fit_warns_when_the_edges_outnumber_the_training_rows() -> None:
    """[10, 5, 1] at grid 3 has 55 edges x (6 + 2) = 440 free numbers: more than 353 rows (the
    mission's diabetes recipe) -> a warning naming both; 1000 rows -> none; masked edges don't count."""
    import warnings as _w

    from kanlab.train import effective_params

    model = KAN([10, 5, 1], grid=3, k=3, seed=0)
    assert effective_params(model) == 55 * 8
    small = {"train_input": torch.rand(353, 10), "train_label": torch.rand(353, 1)}
    with pytest.warns(UserWarning, match=r"440 trainable numbers on its edges for 353 training rows.*test_input"):
        model.fit(small, steps=1, progress=False)
    big = {"train_input": torch.rand(1000, 10), "train_label": torch.rand(1000, 1)}
    with _w.catch_warnings():
        _w.simplefilter("error")
        model.fit(big, steps=1, progress=False)
    for i in range(10):
        model.remove_edge(0, i, 0)
    assert effective_params(model) == 45 * 8



def test_history_entries_are_floats_with_pykans_item() -> None:
    """pykan's history holds tensors (``results['test_loss'][-1].item()``); kanlab's entries are
    floats (json, arithmetic) that have ``.item()`` too, every list included."""
    import json

    ds = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=32, test_num=16, seed=0)
    model = KAN([2, 1], grid=3, seed=0)

    def one() -> float:
        return 1.0

    results = model.fit(ds, steps=2, lamb=0.01, metrics=[one], progress=False)
    for key in ("train_loss", "test_loss", "reg", "one"):
        last = results[key][-1]
        assert isinstance(last, float) and type(last.item()) is float and last.item() == last
    assert results["one"][-1].item() == 1.0 and results["test_loss"][-1] + 1 > 1
    assert json.loads(json.dumps(results))["train_loss"] == [float(v) for v in results["train_loss"]]


def test_pykans_display_metrics_and_singularity_options() -> None:
    """display_metrics picks what the progress bar shows (pykan's option); an unknown name is
    refused; singularity_avoiding/y_th are accepted (kanlab's symbolic functions always avoid
    their singularities)."""
    from kanlab.train import _describe

    dataset = xy_dataset()
    model = KAN([2, 1], grid=3, seed=0)

    def mean_pred():
        return model(dataset["test_input"]).mean()

    results = model.fit(dataset, opt="Adam", steps=2, metrics=[mean_pred], display_metrics=["test_loss", "mean_pred"],
                        singularity_avoiding=True, y_th=10.0, progress=False)
    text = _describe(results, ["test_loss", "mean_pred"])
    assert text.startswith("test_loss: ") and "| mean_pred: " in text and "train_loss" not in text
    with pytest.raises(ValueError, match="display_metrics"):
        model.fit(dataset, steps=1, display_metrics=["accuracy"], progress=False)


def test_fit_warnings_point_at_the_callers_line() -> None:
    """However many kanlab frames lie between (the facade's history wrapper, fit), a warning names
    the user's file (kanlab.validation.user_stacklevel)."""
    model = KAN([2, 1], grid=3, k=3, seed=0).speed()
    x = torch.rand(50, 2)
    with pytest.warns(UserWarning, match="without the regulariser") as record:
        model.fit({"train_input": x, "train_label": x[:, :1]}, steps=1, lamb=0.01, progress=False)
    assert {r.filename for r in record if "regulariser" in str(r.message)} == {__file__}


def test_fit_save_fig_writes_pykans_training_frames(tmp_path) -> None:
    """pykan's fit(save_fig=True, img_folder=...) draws the diagram every save_fig_freq steps."""
    x = torch.rand(100, 2) * 2 - 1
    model = KAN([2, 2, 1], grid=3, k=3, seed=0)
    folder = tmp_path / "video"
    model.fit({"train_input": x, "train_label": x[:, :1] * x[:, 1:]}, steps=4, progress=False, save_fig=True,
              save_fig_freq=2, img_folder=str(folder), in_vars=["a", "b"], out_vars=["f"], beta=10)
    assert sorted(p.name for p in folder.iterdir()) == ["0.jpg", "2.jpg"]
    assert all(p.stat().st_size > 5_000 for p in folder.iterdir())


def test_fit_save_fig_draws_no_frames_of_tried_starts(tmp_path) -> None:
    x = torch.rand(100, 2) * 2 - 1
    model = KAN([2, 2, 1], grid=3, k=3, seed=0)
    model.fit({"train_input": x, "train_label": x[:, :1] * x[:, 1:]}, steps=21, progress=False, save_fig=True,
              save_fig_freq=10, img_folder=str(tmp_path))
    assert len(model.start_losses) > 1  # starts were tried
    assert sorted(p.name for p in tmp_path.iterdir()) == ["10.jpg", "20.jpg"]
