"""An optional compiled loop for the small-layer basis (issue 15): values, slopes, one pass.

On small networks a loss-and-gradient evaluation is dominated by the hidden layers' dense basis
and its slopes (:meth:`~kanlab.localbasis.LocalBasis.dense_pair`): some twenty tensor operations,
each a few microseconds of dispatch on a few thousand numbers. This module does the same work in
one C loop over the points: locate each point among the stored knots (a branch-free binary
search: the interval ``searchsorted(right=True) - 1`` gives), evaluate the ``k + 1`` non-zero
pieces and their slopes by Horner's rule from the plan's polynomial tables (the eager path's
operations in the same order, without fused multiply-adds), and write them into the basis-major
layout. ``python -m benchmarks.workflow`` times a ``[2, 5, 1]`` closure with and without it.

The C source below is compiled on first use with the system C compiler (``cc``, as
``torch.compile`` does on CPU) into a per-user cache (``$KANLAB_CACHE`` or
``~/.cache/kanlab``, keyed by the source's hash; written atomically, so concurrent processes
are safe) and loaded with :mod:`ctypes`. No compiler, a failed build or ``KANLAB_NATIVE=0``:
:func:`library` returns ``None`` and everything runs on the eager path, with the same results to
rounding. Only float32/float64 CPU tensors outside ``torch.compile``, ``torch.jit.trace`` and
``torch.func`` transforms, with no graph recorded through them, take this loop (:func:`applies`).
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Optional

import torch

__all__ = ["library", "available", "applies", "disabled", "basis"]

_SOURCE = r"""
#include <stdint.h>
#define DENSE_PAIR(NAME, T)                                                                       \
static inline __attribute__((always_inline)) void NAME##_body(                                    \
          const T* x, int64_t B, int64_t I, const T* knots, int64_t NK, const T* inv_width,     \
          const T* pieces, int64_t per_interval, int64_t k, int64_t nb, int64_t rows,            \
          int64_t values, int64_t slopes, T* out) {                                               \
    const int64_t NI = NK - 1, K1 = k + 1, planes = values + slopes;                              \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        for (int64_t i = 0; i < I; ++i) {                                                          \
            const T* kn = knots + i * NK;                                                          \
            const T xv = x[b * I + i];                                                             \
            const T inside = (xv >= kn[0] && xv < kn[NK - 1]) ? (T)1 : (T)0;                       \
            T xc = xv;                                                                             \
            if (xc < kn[0]) xc = kn[0]; else if (xc > kn[NK - 1]) xc = kn[NK - 1];                 \
            /* the last knot <= xc, searchsorted(right=True) - 1, by a branch-free search */     \
            const T* at = kn;                                                                      \
            for (int64_t n = NK; n > 1;) {                                                         \
                const int64_t half = n / 2;                                                        \
                at = (at[half] <= xc) ? at + half : at;                                            \
                n -= half;                                                                         \
            }                                                                                      \
            int64_t j = (at - kn) - (*at <= xc ? 0 : 1);                                           \
            if (j < 0) j = 0;                                                                      \
            if (j > NI - 1) j = NI - 1;                                                            \
            const T iw = inv_width[i * NI + j];                                                   \
            const T f = (xc - kn[j]) * iw;                                                        \
            const T* P = pieces + (per_interval ? (i * NI + j) * K1 * K1 : 0);                    \
            T* vrow = out + (b * planes * rows) * I + i;                                          \
            T* srow = out + ((b * planes + values) * rows) * I + i;                               \
            for (int64_t n = 0; n < nb; ++n) {                                                     \
                if (values) vrow[n * I] = 0;                                                       \
                if (slopes) srow[n * I] = 0;                                                       \
            }                                                                                      \
            for (int64_t m = 0; m < K1; ++m) {                                                     \
                const int64_t n = j - k + m;                                                       \
                if (n < 0 || n >= nb) continue;                                                    \
                T v = P[k * K1 + m], s = 0;  /* Horner as the eager path (a NaN f stays NaN) */   \
                for (int64_t d = k - 1; d >= 0; --d) v = P[d * K1 + m] + v * f;                    \
                for (int64_t d = k - 1; d >= 0; --d) s = (T)(d + 1) * P[(d + 1) * K1 + m] + s * f; \
                if (values) vrow[n * I] = v * inside;                                              \
                if (slopes) srow[n * I] = s * (inside * iw);                                       \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* the cubic case with k a constant: its Horner loops unroll */                                   \
void NAME(const T* x, int64_t B, int64_t I, const T* knots, int64_t NK, const T* inv_width,     \
          const T* pieces, int64_t per_interval, int64_t k, int64_t nb, int64_t rows,            \
          int64_t values, int64_t slopes, T* out) {                                               \
    if (k == 3) NAME##_body(x, B, I, knots, NK, inv_width, pieces, per_interval, 3, nb, rows, values, slopes, out); \
    else NAME##_body(x, B, I, knots, NK, inv_width, pieces, per_interval, k, nb, rows, values, slopes, out); \
}
DENSE_PAIR(kanlab_dense_pair_f64, double)
DENSE_PAIR(kanlab_dense_pair_f32, float)
"""

# no fused multiply-adds: the same roundings as the eager path's separate operations on every CPU
_FLAGS = ["-O3", "-fPIC", "-shared", "-fno-fast-math", "-ffp-contract=off"]
_LIB: Optional[ctypes.CDLL] = None
_TRIED = False
_OFF = 0  # depth of disabled() blocks


def _cache_dir() -> Path:
    return Path(os.environ.get("KANLAB_CACHE") or Path.home() / ".cache" / "kanlab")


def _build() -> Optional[ctypes.CDLL]:
    """Compile (once per source version) and load the C loop; ``None`` when that fails."""
    tag = hashlib.sha256((_SOURCE + " ".join(_FLAGS)).encode()).hexdigest()[:16]
    folder = _cache_dir()
    target = folder / f"kanlab_basis_{tag}.so"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src = Path(tmp) / "basis.c"
            src.write_text(_SOURCE)
            built = Path(tmp) / target.name
            cc = os.environ.get("CC", "cc")
            done = subprocess.run([cc, *_FLAGS, "-o", str(built), str(src)], capture_output=True, text=True,
                                  timeout=120)
            if done.returncode != 0:
                return None
            os.replace(built, target)  # atomic: a concurrent process sees the old state or the whole file
    lib = ctypes.CDLL(str(target))
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for name in ("kanlab_dense_pair_f64", "kanlab_dense_pair_f32"):
        getattr(lib, name).argtypes = [ptr, i64, i64, ptr, i64, ptr, ptr, i64, i64, i64, i64, i64, i64, ptr]
        getattr(lib, name).restype = None
    return lib


def library() -> Optional[ctypes.CDLL]:
    """The loaded C loop, built on the first call; ``None`` when disabled (``KANLAB_NATIVE=0``)
    or when no compiler could build it (then the eager path runs)."""
    global _LIB, _TRIED
    if os.environ.get("KANLAB_NATIVE", "1") == "0":
        return None
    if not _TRIED:
        _TRIED = True
        try:
            _LIB = _build()
        except (OSError, subprocess.SubprocessError):
            _LIB = None
    return _LIB


def available() -> bool:
    """Whether the compiled loop is in use on this machine (see the module docstring)."""
    return library() is not None


def applies(x: torch.Tensor) -> bool:
    """Whether :func:`basis` can take ``x``: a plain float32/float64 CPU tensor, eager, and
    no graph being recorded through it (the loop's output is a constant, so a basis that must be
    differentiable in ``x``, e.g. inside a ``create_graph`` backward, stays on the eager path)."""
    return (not _OFF and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.dim() == 2
            and not (x.requires_grad and torch.is_grad_enabled())
            and not torch.compiler.is_compiling() and not torch.jit.is_tracing()
            and not torch._C._functorch.is_functorch_wrapped_tensor(x) and available())


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the block on the eager path, as on a machine without a C compiler (benchmarks and
    tests compare the two)."""
    global _OFF
    _OFF += 1
    try:
        yield
    finally:
        _OFF -= 1


def basis(x: torch.Tensor, knots: torch.Tensor, inv_width: torch.Tensor, pieces: torch.Tensor,
          per_interval: bool, k: int, n_basis: int, rows: int, values: bool = True, slopes: bool = True) -> torch.Tensor:
    """The C loop: ``x`` ``(batch, in)``; ``knots`` ``(in, n_knots)``; ``inv_width`` ``(in,
    n_knots - 1)``; ``pieces`` ``(k + 1, k + 1)`` (one matrix for every interval) or ``(in *
    (n_knots - 1), (k + 1)^2)`` (``per_interval``), ``[d][m]`` the power ``d`` coefficient of
    function ``m``. Returns ``(batch, planes, rows, in)``: the basis values (plane 0, when
    ``values``) and slopes (the next plane, when ``slopes``) in rows ``0 .. n_basis - 1``; rows from
    ``n_basis`` on are left uninitialised (the caller's base function goes there). In ``x``'s
    dtype, contiguous."""
    lib = library()
    assert lib is not None, "basis called without the compiled loop: check applies(x) first"
    x = x.detach().contiguous()
    args = [t.detach().to(x.dtype).contiguous() for t in (knots, inv_width, pieces)]
    out = torch.empty(x.shape[0], int(values) + int(slopes), rows, x.shape[1], dtype=x.dtype)
    fn = lib.kanlab_dense_pair_f64 if x.dtype == torch.float64 else lib.kanlab_dense_pair_f32
    fn(x.data_ptr(), x.shape[0], x.shape[1], args[0].data_ptr(), knots.shape[1], args[1].data_ptr(),
       args[2].data_ptr(), int(per_interval), k, n_basis, rows, int(values), int(slopes), out.data_ptr())
    return out
