"""Per-column standardisation ``(x - mean) / scale`` for torch tensors and numpy arrays.

One :class:`Standardizer` serves every caller: the estimators and ``kanlab compare`` (population
std, constant columns kept with scale 1), :func:`kanlab.datasets.standardize` (the same on numpy
splits) and :func:`kanlab.create_dataset`'s ``normalize_input``/``normalize_label`` (pykan's
sample std, ``ddof=1``, constant columns refused).
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch

from .validation import check_int

__all__ = ["Standardizer"]

Data = Union[torch.Tensor, np.ndarray]
_CONSTANT = ("scale_one", "raise")


class Standardizer:
    """Per-column ``(x - mean) / scale`` with the mean and standard deviation of ``x`` ``(n, d)``.

    ``Standardizer(x)`` fits at once (``Standardizer().fit(x)`` is the same). Works on torch
    tensors and numpy arrays:

    - tensors: ``mean`` and ``scale`` are ``(d,)`` tensors in ``x``'s dtype and on its device
      (integer tensors are fitted in the default float dtype); :meth:`transform` and
      :meth:`inverse` return tensors in the input's dtype and on its device.
    - arrays: ``mean`` and ``scale`` are ``(d,)`` float64 arrays (numpy accumulates in float64);
      :meth:`transform` and :meth:`inverse` compute in float64 and return the input's floating
      dtype (float64 for integer input).

    Statistics fitted on one kind may be applied to the other.

    Args:
        x: ``(n, d)`` with ``n >= 1``, or None to fit later.
        ddof: 0 for the population std (``sum / n``), 1 for the sample std (``sum / (n - 1)``,
            pykan's ``create_dataset``).
        constant: what to do with a constant column, one whose std is at most
            ``1e-12 * (1 + |mean|)`` (or undefined: ``n <= ddof``): ``"scale_one"`` keeps it with
            scale 1 (it is only centred), ``"raise"`` raises ``ValueError``.
    """

    #: a column's std at or below ``RELATIVE_TOL * (1 + |mean|)`` counts as constant
    RELATIVE_TOL = 1e-12

    def __init__(self, x: Optional[Data] = None, *, ddof: int = 0, constant: str = "scale_one") -> None:
        self.ddof = check_int("ddof", ddof, low=0, high=1)
        if constant not in _CONSTANT:
            raise ValueError(f"constant must be one of {_CONSTANT}, got {constant!r}")
        self.constant = constant
        self.mean: Optional[Data] = None
        self.scale: Optional[Data] = None
        if x is not None:
            self.fit(x)

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Data) -> "Standardizer":
        """Learn ``mean`` and ``scale`` ``(d,)`` from ``x`` ``(n, d)``, ``n >= 1``. Returns ``self``."""
        if not isinstance(x, torch.Tensor):
            x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"Standardizer needs a non-empty (n, d) tensor or array, got shape {tuple(x.shape)}")
        n = x.shape[0]
        if isinstance(x, torch.Tensor):
            if not x.is_floating_point():
                x = x.to(torch.get_default_dtype())
            mean = x.mean(0)
            std = x.std(0, correction=self.ddof) if n > self.ddof else torch.full_like(mean, float("nan"))
            constant = ~(std > self.RELATIVE_TOL * (1.0 + mean.abs()))  # NaN std counts as constant
            if self.constant == "raise":  # (no device sync otherwise)
                self._check_constant(constant.cpu().numpy(), n)
            scale = torch.where(constant, torch.ones_like(std), std)
        else:
            mean = x.mean(axis=0, dtype=np.float64)
            std = x.std(axis=0, dtype=np.float64, ddof=self.ddof) if n > self.ddof else np.full_like(mean, np.nan)
            constant = ~(std > self.RELATIVE_TOL * (1.0 + np.abs(mean)))
            self._check_constant(constant, n)
            scale = np.where(constant, 1.0, std)
        self.mean, self.scale = mean, scale
        return self

    def _check_constant(self, constant: np.ndarray, n: int) -> None:
        if self.constant != "raise" or not constant.any():
            return
        if n <= self.ddof:
            raise ValueError(f"cannot standardise {n} row(s) with ddof={self.ddof}: the std needs at least "
                             f"{self.ddof + 1}")
        raise ValueError(f"cannot standardise constant column(s) {np.flatnonzero(constant).tolist()} "
                         f"(std <= {self.RELATIVE_TOL:g} * (1 + |mean|))")

    def fit_transform(self, x: Data) -> Data:
        """:meth:`fit` on ``x`` ``(n, d)``, then return ``transform(x)`` ``(n, d)``."""
        return self.fit(x).transform(x)

    # ------------------------------------------------------------------ applying
    def transform(self, x: Data) -> Data:
        """``(m, d) -> (m, d)`` standardised: ``(x - mean) / scale`` (any shape ending in ``d``)."""
        if isinstance(x, torch.Tensor):
            x, mean, scale = self._torch_stats(x)
            return (x - mean) / scale
        x, mean, scale, dtype = self._numpy_stats(x)
        return ((x - mean) / scale).astype(dtype, copy=False)

    def inverse(self, z: Data) -> Data:
        """``(m, d) -> (m, d)`` back to the original units: ``z * scale + mean``."""
        if isinstance(z, torch.Tensor):
            z, mean, scale = self._torch_stats(z)
            return z * scale + mean
        z, mean, scale, dtype = self._numpy_stats(z)
        return (z * scale + mean).astype(dtype, copy=False)

    # ------------------------------------------------------------------ helpers
    def _fitted(self, x: Data) -> Tuple[Data, Data]:
        if self.mean is None or self.scale is None:
            raise RuntimeError("this Standardizer is not fitted yet: call fit(x) first")
        d = self.mean.shape[0]
        if x.ndim == 0 or x.shape[-1] != d:
            raise ValueError(f"expected data with {d} columns (shape (m, {d})), got shape {tuple(x.shape)}")
        return self.mean, self.scale

    def _torch_stats(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, scale = self._fitted(x)
        if x.is_floating_point():
            dtype = x.dtype
        else:
            dtype = mean.dtype if isinstance(mean, torch.Tensor) else torch.get_default_dtype()
            x = x.to(dtype)
        return (x, torch.as_tensor(mean, dtype=dtype, device=x.device),
                torch.as_tensor(scale, dtype=dtype, device=x.device))

    def _numpy_stats(self, x: Data) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.dtype]:
        x = np.asarray(x)
        mean, scale = self._fitted(x)
        if isinstance(mean, torch.Tensor):
            mean = mean.detach().cpu().numpy()
            scale = scale.detach().cpu().numpy()  # type: ignore[union-attr]
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
        return x, np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64), dtype

    def __repr__(self) -> str:
        d = None if self.mean is None else self.mean.shape[0]
        return f"Standardizer(ddof={self.ddof}, constant={self.constant!r}, n_features={d})"
