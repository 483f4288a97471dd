"""Checkpoints: config + state + cached data in one file, written atomically, read safely.

The file is a ``torch.save`` of plain containers (str, numbers, lists, tensors) and is read with
``torch.load(weights_only=True)``, so loading never unpickles arbitrary objects. Saving writes a
temporary file in the target folder and renames it over the target, so an interrupted save never
replaces a good checkpoint with a half-written one.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Union

import torch

if TYPE_CHECKING:  # pragma: no cover
    from .model import KAN

FORMAT = "kanlab-checkpoint"
VERSION = 1

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(model: "KAN", path: Union[str, os.PathLike]) -> None:
    """Write ``model`` (config, per-layer grid sizes, state, ``cache_data``/``cache_target``)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    payload: Dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(model.config),
        "grid_sizes": [layer.grid_size for layer in model.layers],
        "state": {k: v.detach() for k, v in model.state_dict().items()},
        "cache_data": model.cache_data,
        "cache_target": model.cache_target,
        # symbolic edges: affine params and active masks are in the state; their function names
        # are stored as plain strings (library names or sympy expression strings)
        "symbolic_names": [sym.names_flat() for sym in model.symbolic],
    }
    fd, tmp = tempfile.mkstemp(prefix=".kanlab-", suffix=".tmp", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make checkpoints private to their writer
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(
    path: Union[str, os.PathLike],
    base_fun: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    map_location: Union[str, torch.device, None] = None,
) -> "KAN":
    """Rebuild a :class:`~kanlab.model.KAN` from :func:`save_checkpoint`'s file.

    ``base_fun`` is required when the model was built with a custom callable (callables are not
    stored). Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the problem
    for a corrupt, truncated, foreign or mismatched checkpoint.
    """
    from .model import KAN

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        payload = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as err:  # zip/pickle/EOF errors all mean the same thing to the user
        raise ValueError(f"checkpoint {path!r} is corrupt or truncated and cannot be read ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a kanlab checkpoint (written by KAN.saveckpt)")
    if payload.get("version") != VERSION:
        raise ValueError(f"checkpoint {path!r} has format version {payload.get('version')}, this kanlab reads {VERSION}")
    try:
        config = json.loads(payload["config"])
        state, grid_sizes = payload["state"], [int(g) for g in payload["grid_sizes"]]
        if not isinstance(config, dict) or not isinstance(state, dict):
            raise TypeError("config and state must be mappings")
        if not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError("state holds non-tensor entries")
        for key in ("cache_data", "cache_target"):
            if payload.get(key) is not None and not isinstance(payload[key], torch.Tensor):
                raise TypeError(f"{key} is not a tensor")
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path!r} is missing or has a damaged entry: {err}") from err
    if config.get("base_fun") == "custom":
        if base_fun is None:
            raise ValueError(f"checkpoint {path!r} was saved with a custom base_fun; pass it as base_fun=...")
        config["base_fun"] = base_fun
    coef = state.get("layers.0.coef")
    dtype = coef.dtype if coef is not None else None
    try:
        model = KAN(**config, device=map_location or "cpu", dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path!r} has an invalid config: {err}") from err
    if len(grid_sizes) != len(model.layers):
        raise ValueError(
            f"checkpoint {path!r} lists {len(grid_sizes)} layer grids for a {len(model.layers)}-layer model"
        )
    try:
        # checkpoints written before symbolic edges existed lack the symbolic.* entries
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("symbolic.")]
        if missing or unexpected:
            raise RuntimeError(f"missing keys {missing}, unexpected keys {unexpected}")
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path!r} state does not match its config: {err}") from err
    names = payload.get("symbolic_names")
    if names is not None:
        if not (isinstance(names, list) and len(names) == len(model.symbolic)
                and all(isinstance(row, list) and all(isinstance(n, str) for n in row) for row in names)):
            raise ValueError(f"checkpoint {path!r} has a damaged symbolic_names entry")
        for sym, row in zip(model.symbolic, names):
            sym.load_names(row)
    if [layer.grid_size for layer in model.layers] != list(grid_sizes):
        raise ValueError(f"checkpoint {path!r}: stored grid sizes {grid_sizes} disagree with its state")
    if not all(bool(torch.isfinite(v).all()) for v in model.state_dict().values() if v.is_floating_point()):
        raise ValueError(f"checkpoint {path!r} holds NaN or Inf parameters")
    model.cache_data = payload.get("cache_data")
    model.cache_target = payload.get("cache_target")
    return model
