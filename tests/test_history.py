"""kanlab.history: pykan's versioned history (``KAN(auto_save=True)``), off by default.

Each test checks the files a history leaves (``history.txt`` in pykan's format, one kanlab
checkpoint per version) against the models that made them.
"""
import inspect

import pytest
import torch

from kanlab import KAN, create_dataset, symbolic, train
from kanlab import prune as prune_module
from kanlab.network import KANNetwork


@pytest.fixture(scope="module")
def data():
    return create_dataset(lambda x: torch.sin(x[:, [0]]) + x[:, [1]] ** 2, n_var=2, seed=0, train_num=128,
                          test_num=32)


def fit(model, data, **kwargs):
    return model.fit(data, opt="Adam", lr=1e-2, steps=2, progress=False, **kwargs)


def lines(folder):
    return (folder / "history.txt").read_text().splitlines()


def same_function(a, b, x) -> bool:
    return torch.equal(a(x), b(x))


@pytest.mark.parametrize("name, fn", [("fit", train.fit), ("refine", KANNetwork.refine),
                                      ("prune", prune_module.prune), ("fix_symbolic", symbolic.fix_symbolic)])
def test_versioned_methods_keep_their_signature_and_documentation(name, fn) -> None:
    method = getattr(KAN, name)
    assert method.__wrapped__ is fn
    params = list(inspect.signature(method).parameters.values())
    assert [p for p in params if p.name != "log_history"] == list(inspect.signature(fn).parameters.values())
    flag = inspect.signature(method).parameters["log_history"]
    assert flag.kind is inspect.Parameter.KEYWORD_ONLY and flag.default is True
    assert inspect.cleandoc(fn.__doc__) in method.__doc__ and "auto_save" in method.__doc__
    assert inspect.signature(KAN) == inspect.signature(KANNetwork)


def test_default_model_writes_nothing(data, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = KAN([2, 3, 1], grid=3, seed=0)
    fit(model, data)
    model.refine(5)
    model.fix_symbolic(0, 0, 0, "sin", verbose=False, log_history=False)
    model = model.prune_node(active_neurons_id=[[0, 1]])
    assert model.log_history("by hand") is None
    assert (model.auto_save, model.ckpt_path, model.round, model.state_id) == (False, None, 0, 0)
    assert list(tmp_path.iterdir()) == []


def test_every_change_saves_the_next_version(data, tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder)
    assert lines(folder) == ["### Round 0 ###", "init => 0.0"] and (folder / "0.0.ckpt").is_file()
    x = data["test_input"]
    fit(model, data)
    model.refine(6)
    model.update_grid_from_samples(x)  # pykan does not log grid updates
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.remove_edge(0, 1, 2, log_history=False)
    small = model.prune_node(active_neurons_id=[[0, 1]])
    assert lines(folder)[2:] == ["0.0 => fit => 0.1", "0.1 => refine => 0.2", "0.2 => fix_symbolic => 0.3",
                                 "0.3 => prune_node => 0.4"]
    assert (model.state_id, small.state_id, small.round, small.ckpt_path) == (3, 4, 0, str(folder))
    version = KAN.loadckpt(folder / "0.4.ckpt")  # the returned (pruned) model is the version
    assert version.width == [2, 2, 1] and same_function(version, small, x)
    assert (version.auto_save, version.ckpt_path, version.round, version.state_id) == (True, str(folder), 0, 4)
    assert KAN.loadckpt(folder / "0.2.ckpt").grid == 6


def test_each_state_changing_method_is_logged_under_its_name(data, tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder)
    fit(model, data)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    model.unfix_symbolic(0, 0, 0)
    model.auto_symbolic(lib=["x", "sin"], verbose=False, r2_threshold=0.0)
    model.unfix_symbolic_all()
    model.remove_edge(0, 1, 2)
    model.remove_node(1, 2)
    model.prune_edge(threshold=0.0)
    model = model.prune_input(active_inputs=[0, 1])
    model = model.prune(node_th=0.0, edge_th=0.0)
    names = [line.split(" => ")[1] for line in lines(folder)[2:]]
    assert names == ["fit", "fix_symbolic", "unfix_symbolic", "auto_symbolic", "unfix_symbolic_all", "remove_edge",
                     "remove_node", "prune_edge", "prune_input", "prune"]
    assert model.state_id == len(names) and (folder / f"0.{len(names)}.ckpt").is_file()


def test_nested_versioned_calls_save_one_version(data, tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder)
    model.fit_grid_schedule(data, [3, 5], steps=1, stop_on_rise=None, opt="Adam", lr=1e-2, progress=False)
    assert lines(folder)[2:] == ["0.0 => fit_grid_schedule => 0.1"]  # its refine and fits inside: no versions
    assert KAN.loadckpt(folder / "0.1.ckpt").grid == 5


def test_rewind_restores_a_version_in_place_and_starts_a_round(data, tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder)
    x = data["test_input"]
    fit(model, data)
    after_fit = model(x)
    model.refine(6)
    model.attribute()
    assert model.rewind("0.1") is model  # pykan's `model = model.rewind('0.1')` works too
    assert model.grid == 3 and torch.equal(model(x), after_fit) and model.scores is None  # stale scores dropped
    assert (model.round, model.state_id, model.auto_save) == (1, 1, True)
    assert lines(folder)[-2:] == ["### Round 1 ###", "0.1 => rewind => 1.1"]
    assert same_function(KAN.loadckpt(folder / "1.1.ckpt"), model, x)
    fit(model, data)  # the parameters are the model's own: training works after the swap
    assert not torch.equal(model(x), after_fit)
    assert lines(folder)[-1] == "1.1 => fit => 1.2"
    model.rewind("0.2")
    assert model.grid == 6 and lines(folder)[-2:] == ["### Round 2 ###", "0.2 => rewind => 2.2"]


def test_checkout_returns_the_version_and_never_overwrites_one(data, tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder)
    x = data["test_input"]
    fit(model, data)
    model.refine(6)
    fit(model, data)
    before, recorded = model(x), (folder / "0.2.ckpt").read_bytes()
    old = model.checkout("0.1")
    assert old is not model and old.grid == 3 and (old.round, old.state_id) == (0, 1)
    assert torch.equal(model(x), before) and (model.round, model.state_id, model.grid) == (0, 3, 6)
    old.fix_symbolic(0, 0, 0, "sin", verbose=False)  # 0.2 is taken: a new round
    assert lines(folder)[-2:] == ["### Round 1 ###", "0.1 => fix_symbolic => 1.2"]
    assert (folder / "0.2.ckpt").read_bytes() == recorded and (old.round, old.state_id) == (1, 2)
    copy = model.copy()  # shares the folder: the second to reach 0.4 branches
    assert copy.log_history("by hand") == "0.4" and model.log_history("by hand") == "2.4"


def test_bad_version_ids_name_the_available_ones(data, tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder)
    fit(model, data)
    with pytest.raises(ValueError, match=r"no version '7\.1' .* available: 0\.0, 0\.1$"):
        model.rewind("7.1")
    with pytest.raises(ValueError, match="must be a string 'round.state_id'"):
        model.checkout(0.1)
    with pytest.raises(ValueError, match="method_name"):
        model.log_history("two\nlines")
    with pytest.raises(ValueError, match=r"KAN\(\.\.\., auto_save=True"):
        KAN([2, 1]).rewind("0.0")
    assert model.round == 0 and model.state_id == 1


def test_history_options_round_trip_through_checkpoints(tmp_path) -> None:
    folder = tmp_path / "model"
    model = KAN([2, 1], seed=0, auto_save=True, ckpt_path=folder, round=2, state_id=5)
    assert lines(folder) == ["### Round 2 ###", "init => 2.5"] and (folder / "2.5.ckpt").is_file()
    model.saveckpt(tmp_path / "c")
    loaded = KAN.loadckpt(tmp_path / "c")
    assert (loaded.auto_save, loaded.ckpt_path, loaded.round, loaded.state_id) == (True, str(folder), 2, 5)
    payload = torch.load(tmp_path / "c", weights_only=True)
    del payload["history"]  # written before histories existed
    torch.save(payload, tmp_path / "old")
    old = KAN.loadckpt(tmp_path / "old")
    assert (old.auto_save, old.ckpt_path, old.round, old.state_id) == (False, None, 0, 0)
    payload["history"] = {"state_id": True}
    torch.save(payload, tmp_path / "bad")
    with pytest.raises(ValueError, match="history entry state_id"):
        KAN.loadckpt(tmp_path / "bad")
    with pytest.raises(ValueError, match="round must be a non-negative int"):
        KAN([2, 1], round=-1)


def test_a_new_history_replaces_the_old_one_and_first_init_false_writes_nothing(data, tmp_path) -> None:
    folder = tmp_path / "model"
    fit(KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=folder), data)
    quiet = KAN([2, 3, 1], seed=0, auto_save=True, ckpt_path=tmp_path / "other", first_init=False, state_id=4)
    assert quiet.state_id == 4 and not (tmp_path / "other").exists()
    model = KAN([2, 3, 1], grid=3, seed=1, auto_save=True, ckpt_path=folder)  # pykan: a new history.txt
    fit(model, data)
    assert lines(folder) == ["### Round 0 ###", "init => 0.0", "0.0 => fit => 0.1"]  # no branch for stale files
    assert same_function(KAN.loadckpt(folder / "0.1.ckpt"), model, data["test_input"])


def test_history_prints_pykans_lines(data, tmp_path, capsys) -> None:
    model = KAN([2, 3, 1], grid=3, seed=0, auto_save=True, ckpt_path=tmp_path / "m")
    fit(model, data)
    model.history()
    assert capsys.readouterr().out.splitlines() == ["### Round 0 ###", "init => 0.0", "0.0 => fit => 0.1"]
    model.history(k=1)
    assert capsys.readouterr().out.splitlines() == ["0.0 => fit => 0.1"]
    with pytest.raises(ValueError, match="k must be"):
        model.history(k=0)
