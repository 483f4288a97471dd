"""Fuzzing ``KAN.loadckpt``: whatever the file holds, loading gives a working model or ``ValueError``,
never another exception type and never a side effect (crafted symbolic names must not run code).

Deterministic (``derandomize=True``) and fast: each example is one small file load.
"""
import io
import json
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kanlab import KAN

FUZZ = settings(derandomize=True, deadline=None, database=None)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A folder and the bytes of a small checkpoint with symbolic edges, a pruned input and caches."""
    folder = tmp_path_factory.mktemp("fuzz")
    model = KAN([3, [1, 1], 1], grid=3, seed=0)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    model.fix_symbolic(0, 1, 2, "x*exp(-x)", fit_params_bool=False, verbose=False)
    model.cache_data, model.cache_target = torch.rand(4, 3), torch.rand(4, 1)
    model = model.prune_input(active_inputs=[0, 2])
    model.saveckpt(folder / "base.ckpt")
    return folder, (folder / "base.ckpt").read_bytes()


def outcome(folder, data: bytes) -> str:
    """Load ``data`` as a checkpoint: ``"ok"`` (and the model works) or ``"ValueError"``. Any other
    exception fails the test, and so does the marker file a crafted name would create."""
    path = folder / "fuzzed.ckpt"
    path.write_bytes(data)
    try:
        model = KAN.loadckpt(path)
    except ValueError:
        return "ValueError"
    finally:
        assert not (folder / "pwned").exists(), "loading ran code from the checkpoint"
    assert torch.isfinite(model(torch.rand(5, model.width[0]))).all()
    return "ok"


def payload_of(data: bytes) -> dict:
    return torch.load(io.BytesIO(data), weights_only=True)


def bytes_of(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_the_unchanged_file_loads(base) -> None:
    folder, data = base
    assert outcome(folder, data) == "ok"


@settings(FUZZ, max_examples=60)
@given(st.data())
def test_byte_flips(base, data) -> None:
    folder, good = base
    flipped = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        flipped[data.draw(st.integers(0, len(good) - 1))] ^= data.draw(st.integers(1, 255))
    assert outcome(folder, bytes(flipped)) in ("ok", "ValueError")


@settings(FUZZ, max_examples=30)
@given(st.data())
def test_truncations(base, data) -> None:
    folder, good = base
    assert outcome(folder, good[: data.draw(st.integers(0, len(good) - 1))]) == "ValueError"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TENSORS = st.sampled_from([
    torch.zeros(()), torch.ones(3, dtype=torch.int64), torch.zeros(2, 2, dtype=torch.complex64),
    torch.tensor([math.nan]), torch.zeros(0), torch.zeros(1).expand(10 ** 6, 10 ** 6), torch.zeros(3, 2, 8),
    torch.ones(2, 2, dtype=torch.float64), torch.tensor([5, -1]), torch.tensor([1, 1]),
    torch.zeros(4, dtype=torch.uint8), torch.zeros(3, 1).to_sparse(),
])
ANY_VALUE = JSON_VALUES | TENSORS | st.binary(max_size=16)


@settings(FUZZ, max_examples=80)
@given(st.data())
def test_type_swapped_fields(base, data) -> None:
    folder, good = base
    payload = payload_of(good)
    where = data.draw(st.sampled_from(["top", "state", "config"]))
    if where == "config":
        config = json.loads(payload["config"])
        config[data.draw(st.sampled_from(sorted(config)))] = data.draw(JSON_VALUES)
        payload["config"] = json.dumps(config)
    else:
        table = payload if where == "top" else payload["state"]
        table[data.draw(st.sampled_from(sorted(table)))] = data.draw(ANY_VALUE)
    assert outcome(folder, bytes_of(payload)) in ("ok", "ValueError")


WIDTH_ENTRIES = st.one_of(st.integers(-3, 4), st.sampled_from([0, 10 ** 6, 10 ** 12, -(10 ** 9)]),
                          st.text(max_size=3), st.lists(st.integers(-2, 10 ** 9), max_size=3), st.none())


@settings(FUZZ, max_examples=60)
@given(width=st.lists(WIDTH_ENTRIES, max_size=4), arity=st.one_of(st.integers(-2, 10 ** 12), JSON_VALUES),
       k=st.one_of(st.integers(-1, 10 ** 9), st.text(max_size=2)), grid=st.integers(-1, 10 ** 9))
def test_crafted_configs(base, width, arity, k, grid) -> None:
    folder, good = base
    payload = payload_of(good)
    config = json.loads(payload["config"])
    crafted = dict(config, width=width, mult_arity=arity, k=k, grid=grid)
    payload["config"] = json.dumps(crafted)
    expected = ("ok", "ValueError") if crafted["width"] == config["width"] else ("ValueError",)
    assert outcome(folder, bytes_of(payload)) in expected


CRAFTED_NAMES = [
    "__import__('os').system('touch {marker}')", "open('{marker}', 'w')", "x.__class__", "lambda: 0",
    "(lambda: open('{marker}', 'w'))()", "sin(x).func", "exp(x=1)", "{{}}", "x[0]", "10**10**10", "1/0",
    "getattr(x, 'y')", "eval('1')", "f'{{x}}'", "x if open('{marker}', 'w') else x", "(y := 1)",
]


@settings(FUZZ, max_examples=80)
@given(st.data())
def test_crafted_symbolic_names(base, data) -> None:
    folder, good = base
    name = data.draw(st.sampled_from(CRAFTED_NAMES).map(lambda s: s.format(marker=folder / "pwned"))
                     | st.text(st.characters(codec="utf-8"), max_size=40))
    payload = payload_of(good)
    table = json.loads(bytes(payload["state"]["symbolic.0._extra_state"].tolist()))
    table[name] = table.pop("sin")  # the edge that was sin now names the drawn string
    payload["state"]["symbolic.0._extra_state"] = torch.tensor(list(json.dumps(table).encode()), dtype=torch.uint8)
    assert outcome(folder, bytes_of(payload)) in ("ok", "ValueError")


@settings(FUZZ, max_examples=40)
@given(raw=st.binary(max_size=64) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_crafted_name_tables(base, raw) -> None:
    folder, good = base
    payload = payload_of(good)
    payload["state"]["symbolic.0._extra_state"] = torch.tensor(list(raw), dtype=torch.uint8)
    assert outcome(folder, bytes_of(payload)) == "ValueError"  # the active edges lose their names
