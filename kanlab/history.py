"""pykan's versioned history (``auto_save``), opt-in.

With ``KAN(..., auto_save=True, ckpt_path="./model")`` a model keeps pykan's history of versions in
``ckpt_path``. The constructor saves version ``round.state_id`` (``0.0``); every state-changing
facade method wrapped by :func:`versioned` (``fit``, ``refine``, ``prune*``, ``fix_symbolic``,
``auto_symbolic``, ``remove_edge``, ...) saves the next version ``round.(state_id + 1)`` when it
returns and appends pykan's line ``0.0 => fit => 0.1`` to ``ckpt_path/history.txt``. A version is
one kanlab checkpoint written atomically by :func:`kanlab.checkpoint.save_checkpoint`,
``ckpt_path/0.1.ckpt``, which ``KAN.loadckpt`` reads. A method that returns a new model (``prune``,
``prune_node``, ``prune_input``) saves the returned model, which inherits the history.

- :func:`rewind` loads a version *in place* (shapes may differ: a refined or pruned version comes
  back as it was) and starts a new round as pykan does: ``rewind('0.1')`` at round 0 writes
  ``### Round 1 ###`` and the version as ``1.1``; state ids continue in the new round. It returns
  the model, so ``model.rewind('0.1')`` and pykan's ``model = model.rewind('0.1')`` both work.
- :func:`checkout` returns the version as a new model and leaves the model unchanged (pykan's).
- Versions recorded in ``history.txt`` are never overwritten: a model whose next id is already
  recorded (a checked-out version, a loaded checkpoint, a copy) continues in a new round, and
  its line names where it came from (``0.1 => fit => 1.2``). A constructor with
  ``first_init=True`` starts a new ``history.txt`` (pykan's), so stale files of an earlier run in
  the same folder are overwritten as the new run reaches their ids.
- Nested versioned calls (``fit_grid_schedule`` refining) save one version, for the outer call.

kanlab's default is ``auto_save=False``: nothing is written, and a wrapped method costs one
attribute check more than the bare function.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import os
import re
from typing import Any, Callable, List, Optional, TypeVar, Union

from . import checkpoint
from .distributed import is_main
from .network import KANNetwork
from .validation import check_int

HISTORY_FILE = "history.txt"
SUFFIX = ".ckpt"

Net = TypeVar("Net", bound=KANNetwork)
_F = TypeVar("_F", bound=Callable[..., Any])

# set during a versioned call: calls nested in it (any model) save no version of their own
_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("kanlab_history_active", default=False)
_ROUND_LINE = re.compile(r"^### Round (\d+) ###\s*$")
_NEW_ID = re.compile(r"=>\s*(\d+)\.(\d+)\s*$")
# what a version replaces on rewind; the rest of the model's attributes (hooks, compile state) stays
_STATE = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set")
# settings of the session, not of a version: kept by rewind
_SESSION = ("training", "save_act", "auto_save", "ckpt_path")

_NOTE = """
With ``auto_save=True`` (see :mod:`kanlab.history`) a version of the model (the returned one when a
new model is returned) is saved afterwards; ``log_history=False`` skips it (pykan's flag)."""


def versioned(fn: _F) -> _F:
    """``fn(model, ...)`` as a facade method that saves a version after it when ``model.auto_save``.

    The method's signature and documentation are ``fn``'s plus a keyword ``log_history=True``
    (pykan's flag; ``False`` saves no version). With ``auto_save=False`` it calls ``fn`` directly.
    """
    @functools.wraps(fn)
    def method(model: KANNetwork, *args: Any, log_history: bool = True, **kwargs: Any) -> Any:
        if not model.auto_save or not log_history or _ACTIVE.get() or not is_main():  # rank 0 writes
            return fn(model, *args, **kwargs)
        token = _ACTIVE.set(True)
        try:
            result = fn(model, *args, **kwargs)
        finally:
            _ACTIVE.reset(token)
        target = model
        if isinstance(result, KANNetwork) and result is not model:  # prune & co. return a new model
            target = result
            target.auto_save, target.ckpt_path = model.auto_save, model.ckpt_path
            target.round, target.state_id = model.round, model.state_id
        _log(target, fn.__name__)
        return result

    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    at = len(params) - (bool(params) and params[-1].kind is inspect.Parameter.VAR_KEYWORD)
    flag = inspect.Parameter("log_history", inspect.Parameter.KEYWORD_ONLY, default=True, annotation="bool")
    method.__signature__ = signature.replace(parameters=params[:at] + [flag] + params[at:])  # type: ignore[attr-defined]
    method.__doc__ = inspect.cleandoc(fn.__doc__ or "") + "\n" + _NOTE
    return method  # type: ignore[return-value]


def versioned_init(init: _F) -> _F:
    """The constructor ``init`` followed by :func:`start` when the model is built with
    ``auto_save=True`` (and pykan's ``first_init=True``, the default); under ``torchrun`` on
    rank 0 only, as every version saved afterwards."""
    @functools.wraps(init)
    def __init__(model: KANNetwork, *args: Any, **kwargs: Any) -> None:
        init(model, *args, **kwargs)
        if model.auto_save and kwargs.get("first_init", True) and is_main():  # rank 0 writes
            start(model)

    return __init__  # type: ignore[return-value]


def start(model: KANNetwork) -> None:
    """Start a history: create ``ckpt_path``, write a new ``history.txt`` (``### Round r ###``,
    ``init => r.s``) and save version ``r.s`` (``0.0`` by default)."""
    folder = _folder(model)
    os.makedirs(folder, exist_ok=True)
    first = f"{model.round}.{model.state_id}"
    checkpoint.save_checkpoint(model, _path(folder, first))
    with open(os.path.join(folder, HISTORY_FILE), "w", encoding="utf-8") as fh:
        fh.write(f"### Round {model.round} ###\ninit => {first}\n")


def log_history(model: KANNetwork, method_name: str) -> Optional[str]:
    """pykan's ``log_history``: with ``auto_save``, save ``model`` as its next version and log
    ``"r.s => method_name => r.(s + 1)"``; returns the new id (``None`` when ``auto_save`` is off).
    Versioned methods call it; call it after changing a model by hand."""
    if not isinstance(method_name, str) or not method_name or "\n" in method_name:
        raise ValueError(f"method_name must be a one-line string naming the change, got {method_name!r}")
    if not model.auto_save:
        return None
    return _log(model, method_name)


def _log(model: KANNetwork, method_name: str) -> str:
    folder = _folder(model)
    recorded, rounds = _read(folder)
    old, state_id = f"{model.round}.{model.state_id}", model.state_id + 1
    new_round, header = model.round, ""
    if not rounds:  # auto_save switched on by hand: the file starts here
        header = f"### Round {new_round} ###\n"
    elif f"{model.round}.{state_id}" in recorded:  # never overwrite a recorded version: branch
        new_round = max(rounds) + 1
        header = f"### Round {new_round} ###\n"
    new = f"{new_round}.{state_id}"
    previous = (model.round, model.state_id)
    model.round, model.state_id = new_round, state_id  # the file stores the version's own id
    try:
        os.makedirs(folder, exist_ok=True)
        checkpoint.save_checkpoint(model, _path(folder, new))
    except BaseException:
        model.round, model.state_id = previous
        raise
    _append(folder, f"{header}{old} => {method_name} => {new}\n")
    return new


def rewind(model: Net, model_id: str) -> Net:
    """Go back to version ``model_id`` (``'round.state_id'``, e.g. ``'0.1'``) in place: the
    model becomes that version (its shapes, symbolic edges, cached data), keeping its device,
    training mode, ``save_act`` and history settings. A new round starts, as in pykan: the
    version is saved again as ``r.state_id`` with ``r`` one past the last round, after
    ``### Round r ###`` and ``model_id => rewind => r.state_id`` in ``history.txt``; later
    versions continue from there. Returns the model (pykan: ``model = model.rewind('0.1')``).
    Parameters are new objects: create optimisers after it (as after ``refine``)."""
    version = _load(model, model_id)
    folder = _folder(model)
    new_round = max(_read(folder)[1]) + 1
    _become(model, version)
    model.round, model.state_id = new_round, int(model_id.rpartition(".")[2])
    new = f"{new_round}.{model.state_id}"
    checkpoint.save_checkpoint(model, _path(folder, new))
    _append(folder, f"### Round {new_round} ###\n{model_id} => rewind => {new}\n")
    return model


def checkout(model: Net, model_id: str) -> Net:
    """Version ``model_id`` (``'round.state_id'``) as a new model of ``model``'s class, on its
    device; ``model`` itself is unchanged (pykan's). The copy keeps the version's id: changing
    it with ``auto_save`` on continues in a new round (recorded versions are never overwritten)."""
    return _load(model, model_id)


def versions(model: KANNetwork) -> List[str]:
    """The version ids recorded in ``ckpt_path/history.txt``, oldest first."""
    return _read(_folder(model))[0]


def history(model: KANNetwork, k: Union[int, str] = "all") -> None:
    """pykan's ``history``: print the last ``k`` lines of ``history.txt`` (``'all'``: every line)."""
    if k != "all":
        check_int("k", k, low=1, note="or 'all'")
    path = os.path.join(_folder(model), HISTORY_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no history at {path!r}: build the model with KAN(..., auto_save=True)")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    print("\n".join(lines if k == "all" else lines[-int(k):]))


# --------------------------------------------------------------------------- helpers
def _folder(model: KANNetwork) -> str:
    if model.ckpt_path is None:
        raise ValueError("the model has no ckpt_path: build it with KAN(..., auto_save=True, ckpt_path='./model') "
                         "to keep versions")
    return model.ckpt_path


def _path(folder: str, model_id: str) -> str:
    return os.path.join(folder, model_id + SUFFIX)


def _append(folder: str, text: str) -> None:
    with open(os.path.join(folder, HISTORY_FILE), "a", encoding="utf-8") as fh:
        fh.write(text)


def _read(folder: str) -> tuple[List[str], List[int]]:
    """``(recorded version ids, round numbers)`` of ``folder``'s ``history.txt`` (empty without one)."""
    path = os.path.join(folder, HISTORY_FILE)
    if not os.path.isfile(path):
        return [], []
    ids: List[str] = []
    rounds: List[int] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            header, new = _ROUND_LINE.match(line), _NEW_ID.search(line)
            if header:
                rounds.append(int(header.group(1)))
            elif new:
                ids.append(f"{int(new.group(1))}.{int(new.group(2))}")
                rounds.append(int(new.group(1)))
    return ids, rounds


def _load(model: Net, model_id: str) -> Net:
    """The recorded version ``model_id`` of ``model``'s history, as ``type(model)`` on its device."""
    folder = _folder(model)
    recorded = _read(folder)[0]
    if not isinstance(model_id, str):
        raise ValueError(f"model_id must be a string 'round.state_id' such as '0.1' (a number cannot tell "
                         f"0.1 from 0.10), got {model_id!r}")
    if model_id not in recorded:
        raise ValueError(f"no version {model_id!r} in {os.path.join(folder, HISTORY_FILE)}; "
                         f"available: {', '.join(recorded) or 'none'}")
    base_fun = model.layers[0].base_fun if model.config.get("base_fun") == "custom" else None
    return checkpoint.load_checkpoint(_path(folder, model_id), base_fun=base_fun, map_location=model.device,
                                      cls=type(model))


def _become(model: KANNetwork, other: KANNetwork) -> None:
    """Make ``model`` hold ``other``'s state in place: its modules, parameters, buffers and public
    attributes (width, config, caches; attributes ``other`` lacks, such as stale attribution
    scores, are dropped), keeping ``model``'s hooks and its session settings (:data:`_SESSION`)."""
    kept = {key: model.__dict__[key] for key in _SESSION if key in model.__dict__}
    for key in [k for k in model.__dict__ if not k.startswith("_") and k not in other.__dict__]:
        del model.__dict__[key]
    model.__dict__.update({k: v for k, v in other.__dict__.items() if not k.startswith("_") or k in _STATE})
    model.__dict__.update(kept)
    model.train(kept.get("training", True))
