"""pykan 0.2.x checkpoints read as weights, in kanlab's layout.

pykan's ``model.saveckpt(path)`` writes three files: ``path_config.yml`` (constructor options and
each layer's symbolic function names), ``path_state`` (``torch.save`` of the ``state_dict``) and
``path_cache_data``. They are read as data only: the YAML with ``yaml.safe_load`` (PyYAML, an
optional dependency), the tensors with ``torch.load(weights_only=True)``. pykan's layout maps onto
kanlab's per layer ``l``:

==================================================  ==========================================
pykan                                               kanlab
==================================================  ==========================================
``act_fun.l.coef`` ``(in, out, G + k)``             ``layers.l.coef`` ``(out, in, G + k)``
``act_fun.l.grid`` ``(in, G + 2k + 1)``             ``layers.l.knots`` (the same)
``act_fun.l.scale_base``, ``scale_sp``, ``mask``    ``layers.l.scale_base``, ``scale_spline``,
``(in, out)``                                       ``mask`` ``(out, in)``
``symbolic_fun.l.mask``, ``affine`` ``(out, in, 4)``  ``symbolic.l.active``, ``affine`` (the same)
``symbolic.funs_name.l`` in the YAML                the symbolic layer's names
==================================================  ==========================================

pykan's per-node affine (``node_scale``, ``node_bias``, ``subnode_scale``, ``subnode_bias``) has
no kanlab equivalent: it must be the identity (it is unless built with ``affine_trainable=True``
and trained), else ``ValueError``. Symbolic edges saved with ``symbolic_enabled=False`` (pykan
then ignores them) are refused too, as are function names kanlab's library lacks. pykan's
history options (``auto_save``, ``ckpt_path``, ``state_id``, ``round``) are not taken over: the
imported model writes no versions unless asked. :func:`kanlab.checkpoint.load_pykan_checkpoint`
builds the model; ``KAN.loadckpt(path)`` calls it when ``path`` names pykan's files.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

import torch

from .network import _check_width
from .symbolic_layer import encode_names, name_table

CONFIG, STATE, CACHE = "_config.yml", "_state", "_cache_data"
BASE_FUNS = ("silu", "identity", "zero")
# pykan's per-node affine parameters and the value that makes each the identity
NODE_AFFINE = (("node_scale", 1.0), ("node_bias", 0.0), ("subnode_scale", 1.0), ("subnode_bias", 0.0))

__all__ = ["is_pykan_checkpoint", "read_pykan_checkpoint"]


def is_pykan_checkpoint(path: Union[str, os.PathLike]) -> bool:
    """Whether pykan's ``path_config.yml`` and ``path_state`` exist."""
    path = os.fspath(path)
    return os.path.isfile(path + CONFIG) and os.path.isfile(path + STATE)


def read_pykan_checkpoint(path: Union[str, os.PathLike],
                          map_location: Union[str, torch.device, None] = None) -> Dict[str, Any]:
    """pykan's checkpoint at ``path`` as kanlab's checkpoint entries: ``{"config": dict (kanlab's
    constructor options), "grid_sizes": [G_l], "state": kanlab's state dict, "cache_data": tensor
    or None, "cache_target": None}``. ``ValueError`` for anything kanlab cannot represent."""
    path = os.fspath(path)
    yaml = _yaml()
    with open(path + CONFIG, encoding="utf-8") as fh:
        try:
            config = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ValueError(f"{path + CONFIG} is not plain YAML ({err}); pykan writes Python objects there for a "
                             "custom base_fun, which cannot be read safely") from err
    if not isinstance(config, dict):
        raise ValueError(f"{path + CONFIG} must hold a mapping of pykan's options, got {type(config).__name__}")
    state = _load_tensors(path + STATE, map_location)
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise ValueError(f"{path + STATE} must hold pykan's state dict (names to tensors)")
    cache = _load_tensors(path + CACHE, map_location) if os.path.isfile(path + CACHE) else None
    if cache is not None and not isinstance(cache, torch.Tensor):
        raise ValueError(f"{path + CACHE} must hold a tensor or None, got {type(cache).__name__}")
    kan_config, kan_state = _convert(config, dict(state))
    k = kan_config["k"]
    grid_sizes = [int(kan_state[f"layers.{l}.coef"].shape[2]) - k for l in range(len(kan_config["width"]) - 1)]
    return {"config": dict(kan_config, grid=grid_sizes[0]), "grid_sizes": grid_sizes, "state": kan_state,
            "cache_data": cache, "cache_target": None}


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as err:
        raise ImportError("reading pykan checkpoints needs PyYAML: pip install pyyaml") from err
    return yaml


def _load_tensors(path: str, map_location: Union[str, torch.device, None]) -> Any:
    try:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as err:  # zip/pickle/EOF errors all mean the same thing to the user
        raise ValueError(f"{path} is corrupt, truncated or holds more than tensors ({err})") from err


def _convert(config: Dict[str, Any], state: Dict[str, torch.Tensor]) -> tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """pykan's ``(config, state)`` as kanlab's; consumes ``state`` and refuses what is left over."""
    try:
        nodes, _, spec = _check_width(config.get("width"))
    except (TypeError, ValueError) as err:
        raise ValueError(f"pykan's width: {err}") from err
    depth = len(nodes) - 1
    base_fun = config.get("base_fun_name", "silu")
    if base_fun not in BASE_FUNS:
        raise ValueError(f"base_fun_name {base_fun!r} is not one of {list(BASE_FUNS)}")
    for l in range(depth):
        for name, identity in NODE_AFFINE:
            value = state.pop(f"{name}_{l}", None)
            if value is not None and not bool((value == identity).all()):
                raise ValueError(f"{name}_{l} is not {identity} everywhere: pykan's per-node affine "
                                 "(affine_trainable=True) has no kanlab equivalent")
    out: Dict[str, torch.Tensor] = {}
    for l in range(depth):
        act, sym = f"act_fun.{l}.", f"symbolic_fun.{l}."
        out[f"layers.{l}.coef"] = _take(state, act + "coef", 3).permute(1, 0, 2).contiguous()
        out[f"layers.{l}.knots"] = _take(state, act + "grid", 2)
        for theirs, ours in (("scale_base", "scale_base"), ("scale_sp", "scale_spline"), ("mask", "mask")):
            out[f"layers.{l}.{ours}"] = _take(state, act + theirs, 2).t().contiguous()
        active = _take(state, sym + "mask", 2)
        if not config.get("symbolic_enabled", True) and bool(active.any()):
            raise ValueError(f"layer {l} has symbolic edges but symbolic_enabled is False (pykan ignores them, "
                             "kanlab cannot): fix or unfix them in pykan and save again")
        out[f"symbolic.{l}.active"] = active
        out[f"symbolic.{l}.affine"] = _take(state, sym + "affine", 3)
        names = _names(config.get(f"symbolic.funs_name.{l}"), tuple(active.shape), l)
        out[f"symbolic.{l}._extra_state"] = encode_names(name_table(names, active))
    if state:
        raise ValueError(f"pykan state entries kanlab does not know: {sorted(state)[:8]}")
    kan_config = {
        "width": spec, "mult_arity": config.get("mult_arity", 2), "k": config.get("k"), "base_fun": base_fun,
        "grid_eps": config.get("grid_eps", 0.02), "grid_range": config.get("grid_range", [-1.0, 1.0]),
        "sp_trainable": config.get("sp_trainable", True), "sb_trainable": config.get("sb_trainable", True),
    }
    if not isinstance(kan_config["k"], int) or isinstance(kan_config["k"], bool) or kan_config["k"] < 1:
        raise ValueError(f"pykan's k must be a positive int, got {kan_config['k']!r}")
    return kan_config, out


def _take(state: Dict[str, torch.Tensor], key: str, ndim: int) -> torch.Tensor:
    value: Optional[torch.Tensor] = state.pop(key, None)
    if value is None or value.ndim != ndim:
        got = "missing" if value is None else f"of shape {tuple(value.shape)}"
        raise ValueError(f"pykan state entry {key} must be a {ndim}-D tensor, it is {got}")
    return value


def _names(names: Any, shape: tuple, l: int) -> List[List[str]]:
    """pykan's ``symbolic.funs_name.l``: ``out`` lists of ``in`` function names."""
    out_dim, in_dim = shape
    if not (isinstance(names, list) and len(names) == out_dim
            and all(isinstance(row, list) and len(row) == in_dim and all(isinstance(n, str) for n in row)
                    for row in names)):
        raise ValueError(f"symbolic.funs_name.{l} must be {out_dim} lists of {in_dim} function names")
    return names
