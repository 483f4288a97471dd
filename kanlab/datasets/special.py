"""The 15 special functions of the KAN paper's Table 1, computed with ``scipy.special``.

Each target maps ``(batch, 2)`` to ``(batch, 1)``; the two columns are the paper's ``x`` and ``y``.

Definitions (the paper writes ``f(x, y)`` after scipy's argument order):

- ``ellipj``: ``sn(u=x | m=y)``, the first output of ``scipy.special.ellipj``.
- ``ellipkinc`` / ``ellipeinc``: incomplete elliptic integrals ``F(phi=x | m=y)``, ``E(phi=x | m=y)``.
- ``jv``, ``yv``, ``kv``, ``iv``: Bessel functions of order ``v=x`` at argument ``y``.
- ``lpmv_m{0,1,2}``: associated Legendre function ``P_v^m(z)`` of degree ``v=x`` at ``z=y``.
- ``sph_harm_m{m}_n{n}``: the real part of the spherical harmonic ``Y_n^m`` with azimuth ``x`` and
  polar angle ``y``, i.e. the paper-era ``scipy.special.sph_harm(m, n, x, y)``; this scipy spells
  it ``sph_harm_y(n, m, theta=y, phi=x)`` (polar first). For ``m = 0`` the value is real; for
  ``m > 0`` the real part keeps the dependence on both inputs (``|Y|`` would ignore ``x``).

Sampling ranges: the paper does not state them. The default is ``x, y ~ U[0, 1]`` (the reading of
the KANbeFair reproduction), except for ``yv`` and ``kv`` whose argument ``y`` is drawn from
``[1, 2]``: both diverge as ``y -> 0``, so on ``[0, 1]`` an RMSE would mostly measure the few
samples next to the pole. Pass ``ranges`` to ``special_dataset`` to choose others.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .core import create_dataset

__all__ = ["SPECIAL_FUNCTIONS", "special_dataset", "special_function"]

Target = Callable[[torch.Tensor], torch.Tensor]
Ranges = List[Tuple[float, float]]

UNIT: Ranges = [(0.0, 1.0), (0.0, 1.0)]
AWAY_FROM_POLE: Ranges = [(0.0, 1.0), (1.0, 2.0)]


def _sp() -> Any:
    """``scipy.special``, imported on first use (``import kanlab`` does not need scipy)."""
    try:
        import scipy.special
    except ImportError as err:  # pragma: no cover - scipy ships with the dev/bench extras
        raise ImportError("the special functions need scipy >= 1.15: pip install 'scipy>=1.15'") from err
    if not hasattr(scipy.special, "sph_harm_y"):
        raise ImportError(f"the special functions need scipy >= 1.15 (sph_harm_y), found {scipy.__version__}")
    return scipy.special


def _from_numpy(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Target:
    """Wrap ``fn(x, y)`` on float64 numpy arrays as a torch target ``(batch, 2) -> (batch, 1)``."""

    def target(inputs: torch.Tensor) -> torch.Tensor:
        if inputs.ndim != 2 or inputs.shape[1] != 2:
            raise ValueError(f"special functions take inputs of shape (batch, 2), got {tuple(inputs.shape)}")
        xy = inputs.detach().cpu().to(torch.float64).numpy()
        out = np.asarray(fn(xy[:, 0], xy[:, 1]), dtype=np.float64)
        return torch.from_numpy(out).reshape(-1, 1).to(device=inputs.device, dtype=inputs.dtype)

    return target


def _lpmv(m: int) -> Target:
    return _from_numpy(lambda x, y: _sp().lpmv(m, x, y))


def _sph_harm(m: int, n: int) -> Target:
    return _from_numpy(lambda x, y: np.real(_sp().sph_harm_y(n, m, y, x)))


# name -> (target, sampling ranges, the paper's label in Table 1)
SPECIAL_FUNCTIONS: Dict[str, Tuple[Target, Ranges, str]] = {
    "ellipj": (_from_numpy(lambda x, y: _sp().ellipj(x, y)[0]), UNIT, "ellipj(x,y)"),
    "ellipkinc": (_from_numpy(lambda x, y: _sp().ellipkinc(x, y)), UNIT, "ellipkinc(x,y)"),
    "ellipeinc": (_from_numpy(lambda x, y: _sp().ellipeinc(x, y)), UNIT, "ellipeinc(x,y)"),
    "jv": (_from_numpy(lambda x, y: _sp().jv(x, y)), UNIT, "jv(x,y)"),
    "yv": (_from_numpy(lambda x, y: _sp().yv(x, y)), AWAY_FROM_POLE, "yv(x,y)"),
    "kv": (_from_numpy(lambda x, y: _sp().kv(x, y)), AWAY_FROM_POLE, "kv(x,y)"),
    "iv": (_from_numpy(lambda x, y: _sp().iv(x, y)), UNIT, "iv(x,y)"),
    "lpmv_m0": (_lpmv(0), UNIT, "lpmv(0,x,y)"),
    "lpmv_m1": (_lpmv(1), UNIT, "lpmv(1,x,y)"),
    "lpmv_m2": (_lpmv(2), UNIT, "lpmv(2,x,y)"),
    "sph_harm_m0_n1": (_sph_harm(0, 1), UNIT, "sph_harm(0,1,x,y)"),
    "sph_harm_m1_n1": (_sph_harm(1, 1), UNIT, "sph_harm(1,1,x,y)"),
    "sph_harm_m0_n2": (_sph_harm(0, 2), UNIT, "sph_harm(0,2,x,y)"),
    "sph_harm_m1_n2": (_sph_harm(1, 2), UNIT, "sph_harm(1,2,x,y)"),
    "sph_harm_m2_n2": (_sph_harm(2, 2), UNIT, "sph_harm(2,2,x,y)"),
}


def special_function(name: str) -> Tuple[Target, Ranges, str]:
    """``(target, ranges, paper label)`` for ``name``, one of ``SPECIAL_FUNCTIONS``' keys.
    The target maps ``(batch, 2)`` to ``(batch, 1)`` in the input's dtype."""
    if name not in SPECIAL_FUNCTIONS:
        raise ValueError(f"unknown special function {name!r}; accepted: {', '.join(SPECIAL_FUNCTIONS)}")
    fn, ranges, label = SPECIAL_FUNCTIONS[name]
    return fn, list(ranges), label


def special_dataset(
    name: str,
    train_num: int = 1000,
    test_num: int = 1000,
    seed: int = 0,
    ranges: Optional[Sequence[Sequence[float]]] = None,
    device: Union[str, torch.device] = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dict[str, torch.Tensor]:
    """pykan's dataset dict for a special function: ``train_input`` ``(train_num, 2)``,
    ``train_label`` ``(train_num, 1)`` and likewise for the test split, inputs uniform on the
    function's ranges (or ``ranges``: one ``(lo, hi)`` pair for both variables or one per variable).
    Labels are computed in float64 from the stored inputs, then cast to ``dtype`` (float32 or float64).
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    fn, default, _ = special_function(name)
    return create_dataset(fn, n_var=2, ranges=default if ranges is None else ranges, train_num=train_num,
                          test_num=test_num, seed=seed, device=device, dtype=dtype)
