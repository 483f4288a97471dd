"""saveckpt/loadckpt and state_dict round trips; damaged files give clear errors."""
import os

import pytest
import torch

from kanlab import KAN, create_dataset


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
