"""saveckpt/loadckpt and state_dict round trips; damaged files give clear errors.

The round-trip tests check a property, not a case: everything a model carries that shapes what it
computes or how it trains (every module's plain attributes, every state tensor, every parameter's
requires_grad) survives ``state_dict``/``load_state_dict`` (also through ``torch.load(weights_only=
True)``) and ``saveckpt``/``loadckpt``; an attribute added later without being saved fails them.
"""
import io
import json
import os
import stat
import tempfile
import time

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kanlab import KAN, create_dataset
from kanlab.checkpoint import load_pykan_checkpoint
from kanlab.symbolic import fix_symbolic


@pytest.fixture()
def trained():
    dataset = create_dataset(lambda x: torch.sin(x[:, [0]]) + x[:, [1]] ** 2, n_var=2, seed=0)
    model = KAN([2, 3, 1], grid=3, seed=0)
    model.fit(dataset, opt="Adam", lr=1e-2, steps=5, progress=False)
    return model, dataset


def assert_same_model(a: KAN, b: KAN, x: torch.Tensor) -> None:
    assert a.width == b.width and [l.grid_size for l in a.layers] == [l.grid_size for l in b.layers]
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(a(x), b(x))


def _plain(v: object) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(e) for e in v)
    return isinstance(v, dict) and all(isinstance(k, str) and _plain(e) for k, e in v.items())


def behaviour(model: KAN) -> tuple:
    """Every module's public plain attributes (the data caches and training provenance aside: a
    loaded model is never ``fresh``), every parameter's requires_grad, the input ids."""
    skip = ("cache_data", "cache_target", "fresh", "start_losses")
    attrs = {(name, key): value for name, mod in model.named_modules() for key, value in vars(mod).items()
             if not key.startswith("_") and key not in skip and _plain(value)}
    return attrs, {n: p.requires_grad for n, p in model.named_parameters()}, model.input_id


def assert_same_behaviour(a: KAN, b: KAN, x: torch.Tensor) -> None:
    assert_same_model(a, b, x)
    assert behaviour(a) == behaviour(b)


def via_state_dict(model: KAN) -> KAN:
    """A fresh model of the same config that loaded ``model``'s state through torch.save/torch.load."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = KAN(**model.config)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return fresh


def via_checkpoint(model: KAN, folder) -> KAN:
    model.saveckpt(os.path.join(folder, "roundtrip.ckpt"))
    return KAN.loadckpt(os.path.join(folder, "roundtrip.ckpt"))


NAMES = ["sin", "x^2", "exp", "tanh", "0", "x", "1/x", "1/(1+exp(-x))", "x*exp(-x)", "gaussian", "arctan(2*x) - x"]
HIDDEN = st.one_of(st.integers(1, 3), st.tuples(st.integers(0, 2), st.just(1)).map(list))


@st.composite
def symbolic_models(draw) -> KAN:
    """A small random KAN (multiplication nodes too) with a random subset of symbolic edges."""
    width = [draw(st.integers(1, 3))] + draw(st.lists(HIDDEN, max_size=2)) + [draw(st.integers(1, 2))]
    model = KAN(width, grid=draw(st.integers(1, 4)), k=draw(st.integers(1, 3)), seed=draw(st.integers(0, 999)),
                fast=draw(st.booleans()))
    for l in range(model.depth):
        for j in range(model.n_sub(l + 1)):
            for i in range(model.width[l]):
                if draw(st.booleans()):
                    params = draw(st.tuples(*[st.floats(-2, 2, allow_nan=False)] * 4))
                    fix_symbolic(model, l, i, j, draw(st.sampled_from(NAMES)), fit_params_bool=False, verbose=False,
                                 params=params)
    return model


@settings(max_examples=25, derandomize=True, deadline=None, database=None)
@given(symbolic_models())
def test_symbolic_edges_survive_state_dict_and_checkpoints(model) -> None:
    x = torch.rand(16, model.width[0], generator=torch.Generator().manual_seed(0)) * 2 - 1
    with tempfile.TemporaryDirectory() as folder:
        for loaded in (via_state_dict(model), via_checkpoint(model, folder)):
            assert_same_behaviour(model, loaded, x)
            assert [s.names for s in loaded.symbolic] == [s.names for s in model.symbolic]


def test_active_edges_without_names_are_refused_loudly() -> None:
    model = KAN([2, 2], seed=0)
    model.fix_symbolic(0, 0, 1, "sin", fit_params_bool=False, verbose=False)
    state = model.state_dict()
    stripped = {k: v for k, v in state.items() if not k.endswith("_extra_state")}
    for strict in (True, False):
        with pytest.raises(RuntimeError, match="1 symbolic edges but the state dict has no function names"):
            KAN([2, 2]).load_state_dict(stripped, strict=strict)
    wrong = dict(state, **{"symbolic.0._extra_state": model.symbolic[0].get_extra_state()[:0]})
    with pytest.raises(RuntimeError, match="not UTF-8 JSON"):
        KAN([2, 2]).load_state_dict(wrong)
    other = KAN([2, 2], seed=0)
    other.fix_symbolic(0, 1, 0, "sin", fit_params_bool=False, verbose=False)  # names an inactive edge
    with pytest.raises(RuntimeError, match="1 active symbolic edges have no function name"):
        KAN([2, 2]).load_state_dict(dict(state, **{"symbolic.0._extra_state": other.symbolic[0].get_extra_state()}))


def test_everything_that_shapes_behaviour_roundtrips_after_pruning() -> None:
    ds = create_dataset(lambda x: torch.sin(x[:, [0]]) + x[:, [2]] ** 2, n_var=3, seed=0, train_num=64)
    model = KAN([3, [2, 1], 1], grid=3, seed=0, fast=False, contraction="sparse", sp_trainable=False, grid_eps=0.5)
    model.fit(ds, opt="Adam", lr=1e-2, steps=3, progress=False)
    model.refine(5)
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    small = model.prune_input(active_inputs=[0, 2])
    assert small.input_id == [0, 2] and not small.layers[0].fast and small.layers[0].contraction == "sparse"
    x = ds["test_input"][:, [0, 2]]
    with tempfile.TemporaryDirectory() as folder:
        for loaded in (via_state_dict(small), via_checkpoint(small, folder)):
            assert_same_behaviour(small, loaded, x)
            assert loaded.input_id == [0, 2]
            assert loaded.prune_input(active_inputs=[1]).input_id == [2]  # ids compose across prunes


def _version_1(model: KAN) -> dict:
    """What kanlab's checkpoint format 1 stored for ``model`` (names beside the state, no input ids)."""
    config = {k: v for k, v in model.config.items() if k not in ("fast", "contraction")}
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("_extra_state") and k != "input_index"}
    return {"format": "kanlab-checkpoint", "version": 1, "config": json.dumps(config),
            "grid_sizes": [layer.grid_size for layer in model.layers], "state": state,
            "cache_data": model.cache_data, "cache_target": model.cache_target,
            "symbolic_names": [[n for row in s.names for n in row] for s in model.symbolic]}


def test_version_1_checkpoints_still_load(trained, tmp_path) -> None:
    model, dataset = trained
    model.fix_symbolic(0, 1, 2, "x^2", verbose=False)
    model.fix_symbolic(1, 0, 0, "x*exp(-x)", fit_params_bool=False, verbose=False)
    torch.save(_version_1(model), tmp_path / "v1")
    loaded = KAN.loadckpt(tmp_path / "v1")
    assert_same_behaviour(model, loaded, dataset["test_input"])
    pre_symbolic = _version_1(KAN([2, 2], seed=0))
    del pre_symbolic["symbolic_names"]
    pre_symbolic["state"] = {k: v for k, v in pre_symbolic["state"].items() if not k.startswith("symbolic.")}
    torch.save(pre_symbolic, tmp_path / "v1-old")
    assert KAN.loadckpt(tmp_path / "v1-old").symbolic[0].n_active == 0


MALICIOUS = [
    "__import__('os').system('touch {marker}')",
    "open('{marker}', 'w')",
    "x.__class__.__base__.__subclasses__()",
    "(lambda: __import__('os').system('touch {marker}'))()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "sin(x).func",
    "exp(x=__import__('os'))",
    "x if open('{marker}', 'w') else x",
    "{{}}",
    "x[0]",
    "1e999*x",
    "10**10**10",
    "x" * 500,
]


@pytest.mark.parametrize("name", MALICIOUS)
def test_crafted_names_never_run_code(tmp_path, name) -> None:
    marker = tmp_path / "pwned"
    name = name.format(marker=marker)
    model = KAN([1, 1], seed=0)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    v2 = torch.load(io.BytesIO(_saved(model)), weights_only=True)
    v2["state"]["symbolic.0._extra_state"] = torch.tensor(list(json.dumps({name: [0]}).encode()), dtype=torch.uint8)
    v1 = _version_1(model)
    v1["symbolic_names"] = [[name]]
    for i, payload in enumerate((v2, v1)):
        torch.save(payload, tmp_path / f"crafted{i}")
        with pytest.raises(ValueError, match="unknown symbolic function"):
            KAN.loadckpt(tmp_path / f"crafted{i}")
    with pytest.raises(RuntimeError, match="unknown symbolic function"):
        KAN([1, 1]).load_state_dict(v2["state"])
    with pytest.raises(ValueError, match="unknown symbolic function"):
        model.fix_symbolic(0, 0, 0, name, fit_params_bool=False, verbose=False)
    assert not marker.exists()


def test_registered_and_expression_names_travel_as_data(tmp_path) -> None:
    from kanlab.symbolic_lib import _library, add_symbolic

    model = KAN([2, 1], seed=0)
    add_symbolic("test_cube", lambda t: t ** 3, lambda e: e ** 3, 3)
    try:
        model.fix_symbolic(0, 0, 0, "test_cube", fit_params_bool=False, verbose=False)
        model.fix_symbolic(0, 1, 0, "x*exp(-x) + erf(x)/2", fit_params_bool=False, verbose=False)
        state = model.state_dict()
        x = torch.rand(5, 2)
        assert torch.equal(via_state_dict(model)(x), model(x))
    finally:
        del _library()["test_cube"]
    with pytest.raises(RuntimeError, match="unknown symbolic function 'test_cube'"):  # not registered here
        KAN([2, 1]).load_state_dict(state)


def _saved(model: KAN) -> bytes:
    """The bytes of ``model``'s checkpoint file."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.ckpt")
        model.saveckpt(path)
        with open(path, "rb") as fh:
            return fh.read()


def _crafted(payload: dict, **config) -> dict:
    out = dict(payload, config=json.dumps(dict(json.loads(payload["config"]), **config)))
    out["state"] = dict(payload["state"])
    return out


@pytest.mark.parametrize("change", [
    lambda p: _crafted(p, width=[10 ** 6, 10 ** 6]),
    lambda p: _crafted(p, width=[2, 10 ** 9, 1]),
    lambda p: _crafted(p, width=[2, [0, 10 ** 9], 1]),
    lambda p: _crafted(p, mult_arity=10 ** 12),
    lambda p: _crafted(p, width=[2, -3, 1]),
    lambda p: _crafted(p, width="[2, 3, 1]"),
    lambda p: _crafted(p, k=10 ** 9),
    lambda p: _crafted(p, grid=10 ** 9),
    lambda p: _crafted(p, seed=10 ** 30),
    lambda p: dict(p, grid_sizes=[10 ** 9, 10 ** 9]),
    # a stride-0 view claims 10^5 x 10^5 x 8 coefficients over one stored number
    lambda p: dict(_crafted(p, width=[10 ** 5, [0, 1], 1]), state=dict(
        p["state"], **{"layers.0.coef": torch.zeros(1).expand(2 * 10 ** 5, 10 ** 5, 8)})),
])
def test_crafted_sizes_are_refused_before_allocating(tmp_path, change) -> None:
    model = KAN([2, [1, 1], 1], grid=5, seed=0)
    payload = change(torch.load(io.BytesIO(_saved(model)), weights_only=True))
    torch.save(payload, tmp_path / "crafted")
    start = time.perf_counter()
    with pytest.raises(ValueError):
        KAN.loadckpt(tmp_path / "crafted")
    assert time.perf_counter() - start < 5.0


def test_save_leaves_the_umask_alone_and_syncs_the_folder(trained, tmp_path, monkeypatch) -> None:
    model, _ = trained
    old = os.umask(0o027)
    try:
        def no_umask(*args):
            raise AssertionError("save_checkpoint changed the process umask")

        synced = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
            real_fsync(fd)

        def replace(*args):
            synced.append("replace")
            real_replace(*args)

        monkeypatch.setattr(os, "umask", no_umask)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        model.saveckpt(tmp_path / "m")
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o640  # 0o666 & ~0o027: the umask applied by open
    assert synced == (["file", "replace", "folder"] if hasattr(os, "O_DIRECTORY") else ["file", "replace"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_saveckpt_roundtrip_after_refine(trained, tmp_path) -> None:
    model, dataset = trained
    model.refine(grid_factor=2)
    path = tmp_path / "sub" / "model.ckpt"
    model.saveckpt(str(path))
    loaded = KAN.loadckpt(str(path))
    assert_same_model(model, loaded, dataset["test_input"])
    assert torch.equal(loaded.cache_data, model.cache_data)
    assert torch.equal(loaded.cache_target, model.cache_target)
    assert loaded.config == model.config and loaded.grid == 6


def test_state_dict_roundtrip_into_fresh_model_after_refine(trained, tmp_path) -> None:
    model, dataset = trained
    model.refine(10)
    torch.save(model.state_dict(), tmp_path / "state.pt")
    fresh = KAN([2, 3, 1], grid=3)
    fresh.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert_same_model(model, fresh, dataset["test_input"])


def test_float64_roundtrip(tmp_path) -> None:
    model = KAN([2, 2], dtype=torch.float64, seed=1)
    model.saveckpt(tmp_path / "m")
    loaded = KAN.loadckpt(tmp_path / "m")
    assert loaded.dtype == torch.float64
    assert_same_model(model, loaded, torch.rand(5, 2, dtype=torch.float64))


def test_custom_base_fun_needs_it_on_load(tmp_path) -> None:
    model = KAN([2, 2], base_fun=torch.tanh, seed=0)
    model.saveckpt(tmp_path / "m")
    with pytest.raises(ValueError, match="custom base_fun"):
        KAN.loadckpt(tmp_path / "m")
    loaded = KAN.loadckpt(tmp_path / "m", base_fun=torch.tanh)
    assert_same_model(model, loaded, torch.rand(5, 2))


def test_missing_truncated_corrupt_and_foreign_files(trained, tmp_path) -> None:
    model, _ = trained
    with pytest.raises(FileNotFoundError):
        KAN.loadckpt(tmp_path / "nope")
    path = tmp_path / "m"
    model.saveckpt(path)
    data = path.read_bytes()
    (tmp_path / "trunc").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        KAN.loadckpt(tmp_path / "trunc")
    (tmp_path / "garbage").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        KAN.loadckpt(tmp_path / "garbage")
    torch.save({"weights": torch.ones(3)}, tmp_path / "foreign")
    with pytest.raises(ValueError, match="not a kanlab checkpoint"):
        KAN.loadckpt(tmp_path / "foreign")


def test_mismatched_state_is_named(trained, tmp_path) -> None:
    model, _ = trained
    model.saveckpt(tmp_path / "m")
    payload = torch.load(tmp_path / "m", weights_only=True)
    payload["state"]["layers.1.scale_base"] = torch.ones(7, 7)
    torch.save(payload, tmp_path / "bad")
    with pytest.raises(ValueError, match="does not match"):
        KAN.loadckpt(tmp_path / "bad")


def test_arbitrary_pickles_are_refused(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": "kanlab-checkpoint", "evil": Evil()}, tmp_path / "evil")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        KAN.loadckpt(tmp_path / "evil")


def test_failed_save_keeps_previous_file(trained, tmp_path, monkeypatch) -> None:
    model, _ = trained
    path = tmp_path / "m"
    model.saveckpt(path)
    good = path.read_bytes()

    def broken_save(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        model.saveckpt(path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary file left behind


def test_checkpoint_file_mode_follows_umask(trained, tmp_path) -> None:
    model, _ = trained
    model.saveckpt(tmp_path / "m")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.__setitem__("config", "[1, 2]"),
        lambda p: p.__setitem__("state", [1, 2]),
        lambda p: p.__setitem__("grid_sizes", 5),
        lambda p: p["state"].__setitem__("layers.0.coef", 3),
        lambda p: p.__setitem__("cache_data", "x"),
        lambda p: p["state"]["layers.0.coef"].fill_(float("nan")),
    ],
)
def test_damaged_entries_raise_value_error(trained, tmp_path, damage) -> None:
    model, _ = trained
    model.saveckpt(tmp_path / "m")
    payload = torch.load(tmp_path / "m", weights_only=True)
    damage(payload)
    torch.save(payload, tmp_path / "bad")
    with pytest.raises(ValueError):
        KAN.loadckpt(tmp_path / "bad")


# --------------------------------------------------------------------------- pykan's checkpoints
@pytest.fixture(scope="module")
def pykan_models():
    """Two small trained pykan models with a symbolic edge: plain and with multiplication nodes."""
    kan = pytest.importorskip("kan")
    pytest.importorskip("yaml")
    data = create_dataset(lambda x: torch.sin(x[:, [0]]) * x[:, [1]], n_var=2, seed=0, train_num=100, test_num=50)
    models = {}
    for name, width in (("plain", [2, 3, 1]), ("mult", [2, [3, 2], 1])):
        model = kan.KAN(width=width, grid=3, k=3, seed=0, auto_save=False)
        model.fit(data, opt="LBFGS", steps=2, update_grid=True)  # adapted, non-uniform grids
        model(data["train_input"])
        model.fix_symbolic(0, 0, 0, "sin", verbose=False)
        models[name] = model
    return models


@pytest.mark.parametrize("name", ["plain", "mult"])
def test_pykan_checkpoint_imports_the_same_function(pykan_models, name, tmp_path) -> None:
    theirs = pykan_models[name]
    theirs.saveckpt(str(tmp_path / "p"))
    ours = KAN.loadckpt(tmp_path / "p")  # detects pykan's p_config.yml / p_state
    assert torch.equal(ours.cache_data, theirs.cache_data)  # before pykan's forward replaces it
    x = torch.rand(300, 2, generator=torch.Generator().manual_seed(0)) * 3 - 1.5  # beyond the grids too
    torch.testing.assert_close(ours(x), theirs(x).detach(), rtol=1e-5, atol=1e-5)
    assert isinstance(ours, KAN) and ours.symbolic[0].names[0][0] == "sin" and not ours.auto_save
    assert ours.mult_width == [0, theirs.width[1][1], 0]
    again = load_pykan_checkpoint(tmp_path / "p")  # the explicit form, same model
    assert type(again).__name__ == "KANNetwork" and torch.equal(again(x), ours(x))


def test_pykan_features_kanlab_lacks_are_refused(pykan_models, tmp_path) -> None:
    model = pykan_models["plain"]
    scale = model.node_scale[0].data.clone()
    model.node_scale[0].data.fill_(2.0)  # pykan's per-node affine
    try:
        model.saveckpt(str(tmp_path / "affine"))
    finally:
        model.node_scale[0].data.copy_(scale)
    with pytest.raises(ValueError, match="node_scale_0 is not 1.0 everywhere: pykan's per-node affine"):
        KAN.loadckpt(tmp_path / "affine")
    model.saveckpt(str(tmp_path / "off"))
    config = (tmp_path / "off_config.yml").read_text().replace("symbolic_enabled: true", "symbolic_enabled: false")
    (tmp_path / "off_config.yml").write_text(config)
    with pytest.raises(ValueError, match="symbolic edges but symbolic_enabled is False"):
        KAN.loadckpt(tmp_path / "off")


def test_pykan_config_is_read_as_plain_data(tmp_path) -> None:
    pytest.importorskip("yaml")
    (tmp_path / "p_config.yml").write_text("width: !!python/name:builtins.print\n")  # a pickled object
    torch.save({}, tmp_path / "p_state")
    with pytest.raises(ValueError, match="is not plain YAML"):
        KAN.loadckpt(tmp_path / "p")
    (tmp_path / "p_config.yml").write_text("width: [2, 1]\nk: 3\n")
    with pytest.raises(ValueError, match="act_fun.0.coef must be a 3-D tensor, it is missing"):
        KAN.loadckpt(tmp_path / "p")
    with pytest.raises(FileNotFoundError, match="nor pykan's"):
        KAN.loadckpt(tmp_path / "q")
