"""Checkpoints: config + state + cached data in one file, written atomically, read as data only.

The file is a ``torch.save`` of plain containers (str, numbers, lists, tensors) and is read with
``torch.load(weights_only=True)``, so loading never unpickles arbitrary objects. Everything that
shapes the model is in it: the config (constructor options, ``fast`` and ``contraction``
included), every layer's grid size and the full ``state_dict()`` (symbolic function names and
``input_index`` included). Symbolic names are data too: they must be library names or expression
strings that :func:`kanlab.symbolic_lib.parse_expression` accepts (it calls nothing).

Loading checks the config against the stored tensors before building anything, so a crafted
config cannot make it allocate more than the file holds; any damaged, truncated, foreign or
inconsistent file raises ``ValueError`` naming the problem (``FileNotFoundError`` if it is missing).

Saving writes a new temporary file in the target folder (created with mode ``0o666``, so the
process umask applies as for any file, without touching the umask), fsyncs it, renames it over the
target and fsyncs the folder: an interrupted save never replaces a good checkpoint with a
half-written one.

Format versions: 2 (this one) stores names and input ids in the state; 1 (names in a separate
``symbolic_names`` list, no input ids, no ``fast``/``contraction``) is still read. A ``history``
entry (``auto_save``, ``ckpt_path``, ``state_id``, ``round``: :mod:`kanlab.history`) was added
within version 2; files without it load with the defaults (no versions).

pykan 0.2.x checkpoints (``path_config.yml``, ``path_state``, ``path_cache_data``) are read as
weights by :func:`load_pykan_checkpoint` (:mod:`kanlab.pykan_checkpoint` maps the layout);
:func:`load_checkpoint` switches to it when ``path`` names pykan's files.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

import torch

from . import pykan_checkpoint
from .bases_family import basis_size, check_basis_name
from .network import KANNetwork, _check_arity, _check_width
from .symbolic_layer import encode_names, name_table
from .validation import check_positive_int

FORMAT = "kanlab-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)

__all__ = ["save_checkpoint", "load_checkpoint", "load_pykan_checkpoint"]
# kanlab.history's options: the payload's "history" entry, their types and defaults
HISTORY_OPTIONS = {"auto_save": (bool, False), "ckpt_path": ((str, type(None)), None), "state_id": (int, 0),
                   "round": (int, 0)}


# --------------------------------------------------------------------------- writing
def save_checkpoint(model: KANNetwork, path: Union[str, os.PathLike]) -> None:
    """Write ``model`` (config, per-layer grid sizes, state, ``cache_data``/``cache_target``)."""
    payload: Dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(dict(model.config, grid=model.grid)),  # refine keeps them equal; layer.refine may not
        "grid_sizes": [layer.grid_size for layer in model.layers],
        "state": {k: v.detach() for k, v in model.state_dict().items()},
        "cache_data": model.cache_data,
        "cache_target": model.cache_target,
        "history": {name: getattr(model, name) for name in HISTORY_OPTIONS},
    }
    _write_atomic(os.fspath(path), lambda fh: torch.save(payload, fh))


def _write_atomic(path: str, write: Callable[[Any], None]) -> None:
    """Call ``write(fh)`` on a new file next to ``path``, make it durable, rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".kanlab-{secrets.token_hex(8)}.tmp")
    # O_EXCL: a fresh file of ours; mode 0o666 & ~umask, as open() gives any file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX). A no-op where folders cannot be opened
    (Windows: no ``os.O_DIRECTORY``) or the file system does not sync folders (EINVAL)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- reading
def load_checkpoint(
    path: Union[str, os.PathLike],
    base_fun: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    map_location: Union[str, torch.device, None] = None,
    cls: Optional[Type[KANNetwork]] = None,
) -> KANNetwork:
    """Rebuild a model from :func:`save_checkpoint`'s file, as an instance of ``cls`` (default
    :class:`~kanlab.network.KANNetwork`; ``KAN.loadckpt`` passes :class:`~kanlab.model.KAN`).

    ``base_fun`` is required when the model was built with a custom callable (callables are not
    stored). Where ``path`` is not a file but pykan's ``path_config.yml`` and ``path_state`` exist,
    it reads those (:func:`load_pykan_checkpoint`). Raises ``FileNotFoundError`` for a missing file
    and ``ValueError`` naming the problem for a corrupt, truncated, foreign, crafted or mismatched
    checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        if pykan_checkpoint.is_pykan_checkpoint(path):
            return load_pykan_checkpoint(path, base_fun=base_fun, map_location=map_location, cls=cls)
        hint = f"; did you mean {path + '.ckpt'!r}?" if os.path.isfile(path + ".ckpt") else ""
        raise FileNotFoundError(f"no checkpoint at {path!r} (nor pykan's {path + '_config.yml'!r}){hint}")
    try:
        payload = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as err:  # zip/pickle/EOF errors all mean the same thing to the user
        raise ValueError(f"checkpoint {path!r} is corrupt or truncated and cannot be read ({err})") from err
    try:
        return _build(payload, base_fun, map_location, cls or KANNetwork)
    except ValueError as err:
        raise ValueError(f"checkpoint {path!r}: {err}") from err


def load_pykan_checkpoint(
    path: Union[str, os.PathLike],
    base_fun: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    map_location: Union[str, torch.device, None] = None,
    cls: Optional[Type[KANNetwork]] = None,
) -> KANNetwork:
    """A pykan 0.2.x model saved by pykan's ``saveckpt(path)`` as an instance of ``cls`` (default
    :class:`~kanlab.network.KANNetwork`), computing the same function: splines, grids, scales,
    masks, symbolic edges, multiplication nodes and the cached data (see
    :mod:`kanlab.pykan_checkpoint`; ``base_fun`` is unused, pykan cannot save a custom one readably).
    Raises ``FileNotFoundError`` without pykan's files, ``ImportError`` without PyYAML and
    ``ValueError`` naming what kanlab cannot represent or what is damaged.
    """
    path = os.fspath(path)
    if not pykan_checkpoint.is_pykan_checkpoint(path):
        raise FileNotFoundError(f"no pykan checkpoint at {path!r} (pykan writes {path}_config.yml and {path}_state)")
    try:
        entries = pykan_checkpoint.read_pykan_checkpoint(path, map_location)
        payload = dict(entries, format=FORMAT, version=VERSION, config=json.dumps(entries["config"]))
        return _build(payload, base_fun, map_location, cls or KANNetwork)
    except ValueError as err:
        raise ValueError(f"pykan checkpoint {path!r}: {err}") from err


def _build(payload: Any, base_fun: Optional[Callable], map_location: Union[str, torch.device, None],
           cls: Type[KANNetwork]) -> KANNetwork:
    """The ``cls`` model ``payload`` describes; ``ValueError`` for anything that does not fit."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("not a kanlab checkpoint (written by KAN.saveckpt)")
    version = payload.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ValueError(f"format version {version!r}; this kanlab reads versions {list(READABLE_VERSIONS)}")
    config, state, grid_sizes = _entries(payload)
    if version == 1:
        _upgrade_v1(payload, state)
        config["grid"] = grid_sizes[0]  # version 1 kept config["grid"] as it was, even after layer.refine
    _check_sizes(config, state, grid_sizes)
    build = dict(config)  # the seed only shapes the (overwritten) initial values: leave the global RNG alone
    build["seed"] = 0 if config.get("seed") is None else config["seed"]
    if config.get("base_fun") == "custom":
        if base_fun is None:
            raise ValueError("it was saved with a custom base_fun; pass it as base_fun=...")
        build["base_fun"] = base_fun
    try:
        model = cls(**build, device=map_location or "cpu", dtype=state["layers.0.coef"].dtype)
    except (TypeError, ValueError, RuntimeError, ArithmeticError) as err:
        raise ValueError(f"invalid config: {err}") from err
    model.config["seed"] = config.get("seed")
    expected = model.state_dict()
    for key, value in state.items():
        if key in expected and value.dtype != expected[key].dtype:
            raise ValueError(f"state entry {key} has dtype {value.dtype}, the model needs {expected[key].dtype}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(f"state does not match its config or is damaged: {err}") from err
    if [layer.grid_size for layer in model.layers] != grid_sizes:
        raise ValueError(f"stored grid sizes {grid_sizes} disagree with its state")
    if not all(bool(torch.isfinite(v).all()) for v in model.state_dict().values() if v.is_floating_point()):
        raise ValueError("it holds NaN or Inf parameters")
    model.remember_data(payload.get("cache_data"), payload.get("cache_target"))  # ValueError unless (n, width[0]) floats
    _restore_history(model, payload.get("history"))
    return model


def _restore_history(model: KANNetwork, history: Any) -> None:
    """Set :data:`HISTORY_OPTIONS` from the payload's ``history`` entry (defaults without one)."""
    history = {} if history is None else history
    if not isinstance(history, dict) or set(history) - set(HISTORY_OPTIONS):
        raise ValueError(f"the history entry must map some of {list(HISTORY_OPTIONS)} to values, got {history!r:.100}")
    for name, (kind, default) in HISTORY_OPTIONS.items():
        value = history.get(name, default)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            raise ValueError(f"history entry {name} has the wrong type or sign: {value!r:.100}")
        setattr(model, name, value)


def _entries(payload: Dict[Any, Any]) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor], List[int]]:
    """``(config, state, grid_sizes)`` of ``payload``, each of the right type; every tensor in the
    payload (state and caches) must be a plain tensor no larger than the bytes stored for it."""
    try:
        config = json.loads(payload["config"])
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"missing or damaged config ({type(err).__name__}: {err})") from err
    state, grid_sizes = payload.get("state"), payload.get("grid_sizes")
    if not isinstance(config, dict):
        raise ValueError(f"the config must be a JSON object, got {type(config).__name__}")
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise ValueError("the state must map names to tensors")
    if not (isinstance(grid_sizes, list) and grid_sizes and all(type(g) is int and g > 0 for g in grid_sizes)):
        raise ValueError(f"grid_sizes must be a non-empty list of positive ints, got {grid_sizes!r:.100}")
    tensors = dict(state, cache_data=payload.get("cache_data"), cache_target=payload.get("cache_target"))
    for key, t in tensors.items():
        if t is None and key.startswith("cache_"):
            continue
        if not isinstance(t, torch.Tensor) or t.layout != torch.strided:
            raise ValueError(f"{key} is not a dense tensor (got {type(t).__name__})")
        if t.numel() * t.element_size() > t.untyped_storage().nbytes():
            raise ValueError(f"{key} claims shape {tuple(t.shape)} over only {t.untyped_storage().nbytes()} stored bytes")
    return config, state, grid_sizes


def _upgrade_v1(payload: Dict[Any, Any], state: Dict[str, torch.Tensor]) -> None:
    """Version 1 kept symbolic names as row-major string lists beside the state: move them into
    the state as the symbolic layers' extra state (input ids and fast/contraction take defaults)."""
    names = payload.get("symbolic_names")
    if names is None:  # written before symbolic edges existed
        return
    if not (isinstance(names, list) and all(isinstance(row, list) and all(isinstance(n, str) for n in row)
                                            for row in names)):
        raise ValueError("damaged symbolic_names entry (must be lists of strings)")
    for l, row in enumerate(names):
        active = state.get(f"symbolic.{l}.active")
        if not (isinstance(active, torch.Tensor) and active.ndim == 2 and active.numel() == len(row)):
            raise ValueError(f"symbolic_names[{l}] does not match symbolic.{l}.active")
        n_in = active.shape[1]
        grid = [row[j * n_in:(j + 1) * n_in] for j in range(active.shape[0])]
        state[f"symbolic.{l}._extra_state"] = encode_names(name_table(grid, active))


def _check_sizes(config: Dict[str, Any], state: Dict[str, torch.Tensor], grid_sizes: List[int]) -> None:
    """Check the config's sizes against the stored coefficients ``layers.{l}.coef`` ``(n_sub(l + 1),
    width[l], n_basis)`` (``grid_sizes[l] + k`` for B-splines, see
    :func:`~kanlab.bases_family.basis_size`; and its ``grid`` against ``grid_sizes[0]``) before anything is
    built, so building allocates no more than the file holds."""
    try:
        nodes, mult, _ = _check_width(config.get("width"))
        check_positive_int("k", config.get("k"))
        basis = check_basis_name(config.get("basis", "bspline"), allow_auto=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"invalid config: {err}") from err
    depth, k = len(nodes) - 1, config["k"]
    basis = "bspline" if basis == "auto" else basis  # an unfitted "auto" model has B-spline layers
    if len(grid_sizes) != depth:
        raise ValueError(f"it lists {len(grid_sizes)} layer grids for a {depth}-layer width {config['width']}")
    if config.get("grid") != grid_sizes[0]:
        raise ValueError(f"config grid {config.get('grid')!r:.40} disagrees with layer 0's stored grid {grid_sizes[0]}")
    coefs = [state.get(f"layers.{l}.coef") for l in range(depth)]
    for l, (coef, grid) in enumerate(zip(coefs, grid_sizes)):
        if not (isinstance(coef, torch.Tensor) and coef.ndim == 3 and coef.shape[1] == nodes[l]
                and coef.shape[0] >= nodes[l + 1] and coef.shape[2] == basis_size(basis, grid, k)):
            shape = tuple(coef.shape) if isinstance(coef, torch.Tensor) else None
            raise ValueError(f"config width {nodes[l]} -> {nodes[l + 1]}, grid {grid}, k {k}, basis {basis} of layer {l} does "
                             f"not match its stored coefficients layers.{l}.coef of shape {shape}")
    try:
        arity = _check_arity(config.get("mult_arity", 2), mult)
    except (TypeError, ValueError) as err:
        raise ValueError(f"invalid config: {err}") from err
    n_sub = [nodes[l] - mult[l] + sum(arity[l]) for l in range(1, depth + 1)]
    if n_sub != [int(c.shape[0]) for c in coefs]:
        raise ValueError(f"config sub-node counts {n_sub} (width and mult_arity) do not match the stored "
                         f"coefficients {[tuple(c.shape) for c in coefs]}")
