"""Datasets: pykan's ``create_dataset`` and readers for the data folder (never downloads).

The data folder is, in order: the ``folder`` argument, the ``KANLAB_DATA`` environment variable,
``../shared/data`` next to the current directory or next to this checkout.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..preprocessing import Standardizer
from ..validation import check_int

__all__ = ["create_dataset", "data_folder", "read_idx", "load_mnist"]


def create_dataset(
    f: Callable[[torch.Tensor], torch.Tensor],
    n_var: int = 2,
    f_mode: str = "col",
    ranges: Union[Sequence[float], Sequence[Sequence[float]]] = (-1.0, 1.0),
    train_num: int = 1000,
    test_num: int = 1000,
    normalize_input: bool = False,
    normalize_label: bool = False,
    device: Union[str, torch.device] = "cpu",
    seed: int = 0,
    dtype: Optional[torch.dtype] = None,
) -> Dict[str, torch.Tensor]:
    """Sample ``f`` on a box, pykan's format: ``{train,test}_{input,label}`` (pykan's arguments, in
    its order).

    ``f`` maps ``(n, n_var)`` to ``(n, n_out)`` or ``(n,)``, e.g.
    ``lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)`` (``f_mode="col"``);
    with ``f_mode="row"`` it is given the transposed ``(n_var, n)``, as pykan's. ``ranges`` is one
    ``(lo, hi)`` for every variable or one pair per variable. Inputs are uniform on the box
    (drawn with a private generator, so ``seed`` fixes them without touching global RNG state).
    Normalisation uses the training split's mean and standard deviation for both splits.
    ``dtype``: the tensors' float type; ``None`` (default) follows ``torch.get_default_dtype()``
    as pykan's does, so a model built after ``torch.set_default_dtype(torch.float64)`` takes
    the dataset as it is.
    """
    if dtype is None:
        dtype = torch.get_default_dtype()
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating point torch.dtype or None (the default dtype), got {dtype!r}")
    if not callable(f):
        raise TypeError(f"f must be a callable mapping (n, n_var) to (n, n_out), got {type(f).__name__}")
    if f_mode not in ("col", "row"):
        hint = " (pykan's third argument; pass ranges=... by name)" if not isinstance(f_mode, str) else ""
        raise ValueError(f"f_mode must be 'col' (f takes (n, n_var)) or 'row' (f takes (n_var, n)), got {f_mode!r}{hint}")
    n_var = check_int("n_var", n_var, low=1)
    train_num = check_int("train_num", train_num, low=1)
    test_num = check_int("test_num", test_num, low=0, note="0: no test split")
    box = np.asarray(ranges, dtype=np.float64)
    if box.shape == (2,):
        box = np.tile(box, (n_var, 1))
    if box.shape != (n_var, 2) or not np.all(box[:, 0] < box[:, 1]):
        raise ValueError(f"ranges must be (lo, hi) or {n_var} pairs (lo, hi) with lo < hi, got {ranges!r}")
    gen = torch.Generator().manual_seed(seed)
    lo = torch.tensor(box[:, 0], dtype=dtype, device="cpu")
    span = torch.tensor(box[:, 1] - box[:, 0], dtype=dtype, device="cpu")

    def sample(n: int) -> Tuple[torch.Tensor, torch.Tensor]:
        x = lo + span * torch.rand(n, n_var, generator=gen, dtype=dtype, device="cpu")
        y = f(x) if f_mode == "col" else f(x.T)
        if not isinstance(y, torch.Tensor):
            y = torch.as_tensor(y, dtype=dtype, device="cpu")
        y = y.unsqueeze(-1) if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[0] != n:
            raise ValueError(f"f returned shape {tuple(y.shape)} for {n} inputs; it must map (n, n_var) -> (n, n_out)")
        return x, y.to(dtype)

    out = {}
    out["train_input"], out["train_label"] = sample(train_num)
    if test_num > 0:
        out["test_input"], out["test_label"] = sample(test_num)
    for norm, kind in ((normalize_input, "input"), (normalize_label, "label")):
        if norm:
            try:  # pykan's normalisation: the sample std (ddof=1)
                scaler = Standardizer(out[f"train_{kind}"], ddof=1, constant="raise")
            except ValueError as err:
                raise ValueError(f"cannot normalize the {kind}s: a column is constant or there is one sample") from err
            for split in ("train", "test"):
                if f"{split}_{kind}" in out:
                    out[f"{split}_{kind}"] = scaler.transform(out[f"{split}_{kind}"])
    return {k: v.to(device) for k, v in out.items()}


def data_folder(folder: Optional[Union[str, os.PathLike]] = None) -> Path:
    """Resolve the data folder (argument, ``KANLAB_DATA``, ``../shared/data``) or explain."""
    hint = ("pass folder=..., set KANLAB_DATA, or put the files in ../shared/data "
            "(e.g. mnist/train-images-idx3-ubyte.gz); kanlab never downloads data")
    for given, what in ((folder, "folder"), (os.environ.get("KANLAB_DATA") or None, "KANLAB_DATA")):
        if given is not None:
            if not Path(given).is_dir():
                raise FileNotFoundError(f"data {what} {str(given)!r} is not a directory: {hint}")
            return Path(given)
    here = Path(__file__).resolve().parents  # .../<checkout>/kanlab/datasets/core.py
    beside_checkout = [here[3] / "shared" / "data"] if len(here) > 3 else []
    for cand in [Path.cwd().parent / "shared" / "data"] + beside_checkout:
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"no data folder found: {hint}")


def read_idx(path: Union[str, os.PathLike]) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array of its stated shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {tuple(dims)}, found {data.size} values")
    return data.reshape(tuple(dims))


def need_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a ``FileNotFoundError`` saying where to put it."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what}: {path} not found; put the file there (or pass folder=... / set KANLAB_DATA to a "
            f"folder holding {path.parent.name}/{path.name}); kanlab never downloads data"
        )
    return path


def load_mnist(
    folder: Optional[Union[str, os.PathLike]] = None, name: str = "mnist"
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST (or ``name='fashion-mnist'``) as ``(train_x, train_y, test_x, test_y)``.

    Images are float32 ``(n, 28, 28)`` scaled to ``[0, 1]``; labels int64 ``(n,)``. ``folder`` is
    the data folder (holding ``mnist/``) or the dataset's own folder (holding the IDX files).
    """
    base = data_folder(folder)
    own = base / "train-images-idx3-ubyte.gz"
    root = base if folder is not None and own.is_file() else base / name
    parts = []
    for split in ("train", "t10k"):
        images = read_idx(need_file(root / f"{split}-images-idx3-ubyte.gz", f"{name} IDX files"))
        labels = read_idx(need_file(root / f"{split}-labels-idx1-ubyte.gz", f"{name} IDX files"))
        parts += [torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))]
    return parts[0], parts[1], parts[2], parts[3]
