"""Optional compiled loops (issue 15): the small-layer basis, and a small network's whole fit pass.

On small networks a loss-and-gradient evaluation is dominated by the hidden layers' dense basis
and its slopes (:meth:`~kanlab.localbasis.LocalBasis.dense_pair`): some twenty tensor operations,
each a few microseconds of dispatch on a few thousand numbers. This module does the same work in
one C loop over the points: locate each point among the stored knots (a branch-free binary
search: the interval ``searchsorted(right=True) - 1`` gives), evaluate the ``k + 1`` non-zero
pieces and their slopes by Horner's rule from the plan's polynomial tables (the eager path's
operations in the same order, without fused multiply-adds), and write them into the basis-major
layout. ``python -m benchmarks.workflow`` times a ``[2, 5, 1]`` closure with and without it.

:func:`mse` goes further for ``fit``'s evaluations of plain small networks (:mod:`kanlab.fused`
decides when): the forward of every layer from the same local values, the nodes (sums and
products), the mean squared error, the KAN paper's L1 + entropy regulariser, the backward and the
chain rule into each layer's ``coef``, ``scale_spline`` and ``scale_base``, in one C call
(:func:`prepare_mse` converts the arguments once; :class:`MSECall` evaluates). :func:`lbfgs`
runs a whole step of :class:`kanlab.optim.LBFGS` on such a call in C, so ``fit``'s ~25
evaluations per step cost no Python at all.

The C source (``native.c`` beside this module) is compiled on first use with the system C compiler (``cc``, as
``torch.compile`` does on CPU) into a per-user cache (``$KANLAB_CACHE`` or
``~/.cache/kanlab``, keyed by the source's hash; written atomically, so concurrent processes
are safe) and loaded with :mod:`ctypes`. Where torch runs on GNU OpenMP (its ``libgomp`` is the
process's one OpenMP runtime) the build uses OpenMP too, so the basis and weight passes split their rows over torch's
own threads (:func:`parallel`); else, or when the compiler lacks OpenMP, a serial build. No
compiler, a failed build or ``KANLAB_NATIVE=0``:
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
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch

__all__ = ["library", "available", "parallel", "applies", "basis_applies", "disabled", "basis", "rows_loop", "deboor",
           "scatter_products", "weights_apply", "basis_major", "basis_major_grad", "SplineLayer", "mse", "MSECall",
           "prepare_mse", "lbfgs", "MAX_LAYERS"]

# the C source, compiled on first use (part of the package: pyproject's package-data)
_SOURCE = (Path(__file__).with_name("native.c")).read_text()

# no fused multiply-adds: the same roundings as the eager path's separate operations on every CPU;
# -fno-trapping-math lets selects vectorise (no floating-point exception flags are read)
_FLAGS = ["-O3", "-fPIC", "-shared", "-fno-fast-math", "-ffp-contract=off", "-fno-trapping-math"]
_LIB: Optional[ctypes.CDLL] = None
_TRIED = False
_OFF = 0  # depth of disabled() blocks
_CPU = torch.device("cpu")  # the loops' buffers are on the CPU whatever torch's default device is


def _cache_dir() -> Path:
    return Path(os.environ.get("KANLAB_CACHE") or Path.home() / ".cache" / "kanlab")


def _openmp_flags() -> List[str]:
    """``["-fopenmp"]`` where torch runs on GNU OpenMP (its ``libgomp`` is in this process and no
    other OpenMP runtime, so the loops' parallel regions run on torch's own threads); else none,
    as a second OpenMP runtime beside torch's (Intel's ``libiomp5``, LLVM's ``libomp``) would
    oversubscribe the cores."""
    try:
        with open("/proc/self/maps") as maps:
            names = {line.rsplit("/", 1)[-1].split(".so")[0] for line in maps if ".so" in line}
    except OSError:  # no /proc (macOS, Windows)
        return []
    return ["-fopenmp"] if "libgomp" in names and not names & {"libiomp5", "libomp"} else []


def _compiled(flags: List[str]) -> Optional[Path]:
    """The C loop compiled with ``flags`` (once per source version and flags), or ``None``."""
    tag = hashlib.sha256((_SOURCE + " ".join(flags)).encode()).hexdigest()[:16]
    folder = _cache_dir()
    target = folder / f"kanlab_basis_{tag}.so"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src = Path(tmp) / "basis.c"
            src.write_text(_SOURCE)
            built = Path(tmp) / target.name
            cc = os.environ.get("CC", "cc")
            done = subprocess.run([cc, *flags, "-o", str(built), str(src)], capture_output=True, text=True,
                                  timeout=120)
            if done.returncode != 0:
                return None
            os.replace(built, target)  # atomic: a concurrent process sees the old state or the whole file
    return target


def _build() -> Optional[ctypes.CDLL]:
    """Compile and load the C loop, with OpenMP where :func:`_openmp_flags` allows and the compiler
    can (else serial); ``None`` when no build succeeds."""
    parallel = _openmp_flags()
    target = (parallel and _compiled(_FLAGS + parallel)) or _compiled(_FLAGS)
    if target is None:
        return None
    lib = ctypes.CDLL(str(target))
    i64, ptr, c_int = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
    signatures = {  # name: (argument types, result type) of kanlab_<name>_f64 and kanlab_<name>_f32
        "dense_pair": ([ptr, i64, i64, ptr, i64, ptr, ptr, *[i64] * 8, ptr], None),
        "rows_loop": ([ptr, i64, i64, i64], c_int),
        "mse": ([i64, i64, *[ptr] * 11, i64, i64], c_int),
        "scatter_products": ([ptr, ptr, ptr, *[i64] * 4, ptr], None),
        "deboor": ([ptr, i64, i64, ptr, i64, i64, i64, ptr], c_int),
        "basis_major": ([ptr, ptr, ptr, *[i64] * 4, ptr], None),
        "basis_major_grad": ([ptr, ptr, ptr, *[i64] * 5, ptr, ptr], None),
    }
    for name, (argtypes, restype) in signatures.items():
        for suffix in ("f64", "f32"):
            fn = getattr(lib, f"kanlab_{name}_{suffix}")
            fn.argtypes, fn.restype = argtypes, restype
    lib.kanlab_lbfgs.argtypes = [i64, i64, i64, *[ptr] * 9, ptr, ptr, i64, ptr, ptr, ptr, i64, *[ptr] * 10]
    lib.kanlab_lbfgs.restype = ctypes.c_int
    lib.kanlab_openmp.argtypes = []
    lib.kanlab_openmp.restype = ctypes.c_int
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


def _loop(name: str, dtype: torch.dtype) -> ctypes._CFuncPtr:
    """The compiled ``kanlab_<name>_f64`` or ``_f32`` for ``dtype`` (the caller has checked
    :func:`applies` or :func:`weights_apply`)."""
    lib = library()
    assert lib is not None, f"{name} called without the compiled loop: check applies() first"
    return getattr(lib, f"kanlab_{name}_{'f64' if dtype == torch.float64 else 'f32'}")


def parallel() -> bool:
    """Whether the built loops split the basis and weight passes over ``torch.get_num_threads()``
    threads (an OpenMP build, on torch's own GNU OpenMP runtime; the numbers are the same on any
    thread count)."""
    lib = library()
    return lib is not None and bool(lib.kanlab_openmp())


def available() -> bool:
    """Whether the compiled loop is in use on this machine (see the module docstring)."""
    return library() is not None


@torch._dynamo.assume_constant_result
def _threads() -> int:
    """torch's CPU thread count (``torch.set_num_threads``): what the loops may split over, and a
    constant for a compiled graph (no graph break)."""
    return torch.get_num_threads()


def _cpu_float(t: torch.Tensor) -> bool:
    """A float32/float64 CPU tensor, outside :func:`disabled`."""
    return not _OFF and t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def _eager() -> bool:
    """Outside ``torch.compile`` and ``torch.jit.trace``, with the library built."""
    return not torch.compiler.is_compiling() and not torch.jit.is_tracing() and available()


def _plain_matrix(x: torch.Tensor) -> bool:
    """A :func:`_cpu_float` matrix with no graph being recorded through it (the loop's output is
    a constant, so a basis that must be differentiable in ``x``, e.g. inside a ``create_graph``
    backward, stays on the eager path)."""
    return _cpu_float(x) and x.dim() == 2 and not (x.requires_grad and torch.is_grad_enabled())


def applies(x: torch.Tensor) -> bool:
    """Whether the C loops can take ``x`` eagerly: :func:`_plain_matrix`, :func:`_eager`, outside
    ``torch.func`` transforms."""
    return _plain_matrix(x) and _eager() and not torch._C._functorch.is_functorch_wrapped_tensor(x)


@torch._dynamo.assume_constant_result
def _available_when_traced() -> bool:
    """:func:`available` as a constant of a ``torch.compile`` graph (decided when it is traced)."""
    return available()


def basis_applies(x: torch.Tensor) -> bool:
    """Whether :func:`basis` can take ``x``: eagerly (:func:`applies`) or inside a ``torch.compile``
    graph, where the loop runs as the opaque operator ``kanlab::dense_basis`` (inductor's own code
    for the basis gathers each point's knot, which it does not vectorise)."""
    if torch.compiler.is_compiling():
        return _plain_matrix(x) and _available_when_traced()
    return applies(x)


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
          per_interval: bool, k: int, n_basis: int, rows: int, values: bool = True, slopes: bool = True,
          row_loop: int = -1) -> torch.Tensor:
    """The C loop: ``x`` ``(batch, in)``; ``knots`` ``(in, n_knots)``; ``inv_width`` ``(in,
    n_knots - 1)``; ``pieces`` ``(k + 1, k + 1)`` (one matrix for every interval) or ``(in *
    (n_knots - 1), (k + 1)^2)`` (``per_interval``), ``[d][m]`` the power ``d`` coefficient of
    function ``m``. Returns ``(batch, planes, rows, in)``: the basis values (plane 0, when
    ``values``) and slopes (the next plane, when ``slopes``) in rows ``0 .. n_basis - 1``; rows from
    ``n_basis`` on are left uninitialised (the caller's base function goes there). In ``x``'s
    dtype, contiguous. ``row_loop``: :func:`rows_loop`'s verdict on these knots when the caller
    has it (1 or 0), -1 to let the loop test it (~40 us on 784 inputs). Inside a ``torch.compile``
    trace (:func:`basis_applies`) the same loop as the operator ``kanlab::dense_basis``."""
    if torch.compiler.is_compiling():
        return torch.ops.kanlab.dense_basis(x, knots, inv_width, pieces, per_interval, k, n_basis, rows, values, slopes)
    return _dense_pair(x, knots, inv_width, pieces, per_interval, k, n_basis, rows, values, slopes, row_loop)


def _dense_pair(x: torch.Tensor, knots: torch.Tensor, inv_width: torch.Tensor, pieces: torch.Tensor,
                per_interval: bool, k: int, n_basis: int, rows: int, values: bool, slopes: bool,
                row_loop: int = -1) -> torch.Tensor:
    """:func:`basis`'s loop, called directly (no dispatcher) outside compiled graphs."""
    x = x.detach().contiguous()
    args = [t.detach().to(x.dtype).contiguous() for t in (knots, inv_width, pieces)]
    out = torch.empty(x.shape[0], int(values) + int(slopes), rows, x.shape[1], dtype=x.dtype, device=_CPU)
    fn = _loop("dense_pair", x.dtype)
    fn(x.data_ptr(), x.shape[0], x.shape[1], args[0].data_ptr(), knots.shape[1], args[1].data_ptr(),
       args[2].data_ptr(), int(per_interval), k, n_basis, rows, int(values), int(slopes), row_loop,
       _threads(), out.data_ptr())
    return out


def rows_loop(knots: torch.Tensor, per_interval: bool) -> bool:
    """Whether :func:`basis` on these knots ``(in, n_knots)`` runs a row-wise vectorised loop
    rather than the point-wise one (both give the same numbers): on uniform pieces over at least 8
    inputs where each input's arithmetic interval guess is within one of the stored knots'
    interval (which the loop then corrects exactly), or, for cubic splines, on per-interval
    (adapted) pieces over at least 16 inputs with at most 34 knots. Plans cache it per dtype and
    pass it to :func:`basis`."""
    lib = library()
    if lib is None:
        return False
    kn = knots.detach().contiguous()
    fn = lib.kanlab_rows_loop_f64 if kn.dtype == torch.float64 else lib.kanlab_rows_loop_f32
    return bool(fn(kn.data_ptr(), kn.shape[0], kn.shape[1], int(per_interval)))


@torch.library.custom_op("kanlab::dense_basis", mutates_args=(), device_types="cpu")
def _dense_pair_op(x: torch.Tensor, knots: torch.Tensor, inv_width: torch.Tensor, pieces: torch.Tensor,
                   per_interval: bool, k: int, n_basis: int, rows: int, values: bool, slopes: bool) -> torch.Tensor:
    """:func:`basis`'s loop as an operator, which compiled graphs call as one opaque step."""
    return _dense_pair(x, knots, inv_width, pieces, per_interval, k, n_basis, rows, values, slopes)


@_dense_pair_op.register_fake
def _(x: torch.Tensor, knots: torch.Tensor, inv_width: torch.Tensor, pieces: torch.Tensor, per_interval: bool,
      k: int, n_basis: int, rows: int, values: bool, slopes: bool) -> torch.Tensor:
    return x.new_empty(x.shape[0], int(values) + int(slopes), rows, x.shape[1])


def deboor(x: torch.Tensor, padded: torch.Tensor, k: int) -> Optional[torch.Tensor]:
    """:func:`kanlab.splines.bspline_basis_local` by the C loop: ``x`` ``(batch, in)``, the knots
    padded by ``k`` on each side (:func:`kanlab.splines.extend_grid`) ``(in, n_knots + 2k)`` of
    ``x``'s dtype. Returns ``(batch, in, n_knots - k - 1)``, the same operations in the same order
    (equal to the tensor version bit for bit), or ``None`` when an ``x`` is NaN (its span is
    searchsorted's business: the caller's tensor path)."""
    x, padded = x.detach().contiguous(), padded.detach().to(x.dtype).contiguous()
    n_basis = padded.shape[1] - 3 * k - 1
    out = torch.empty(x.shape[0], x.shape[1], n_basis, dtype=x.dtype, device=_CPU)
    fn = _loop("deboor", x.dtype)
    if fn(x.data_ptr(), x.shape[0], x.shape[1], padded.data_ptr(), padded.shape[1], k, n_basis, out.data_ptr()):
        return None
    return out


def scatter_products(rows: torch.Tensor, vals: torch.Tensor, gy: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``out[rows[b, p]] += vals[b, p] * gy[b]`` into zeros ``(n_rows, out)``: ``rows``, ``vals``
    ``(batch, P)`` (int64, float), ``gy`` ``(batch, out)``; ``index_add`` of the products (in its
    order, so to the same bits) without building the ``(batch * P, out)`` products. CPU,
    float32/float64, the compiled library available (the caller checks)."""
    rows, vals, gy = rows.contiguous(), vals.detach().contiguous(), gy.detach().to(vals.dtype).contiguous()
    out = torch.empty(n_rows, gy.shape[1], dtype=vals.dtype, device=_CPU)
    fn = _loop("scatter_products", vals.dtype)
    fn(rows.data_ptr(), vals.data_ptr(), gy.data_ptr(), vals.shape[0], vals.shape[1], gy.shape[1], n_rows,
       out.data_ptr())
    return out


def weights_apply(weight: torch.Tensor) -> bool:
    """Whether :func:`basis_major` can build a layer's weight from ``weight`` (and factors like it):
    a float32/float64 CPU tensor, eagerly (not in ``torch.compile``, ``torch.jit.trace`` or
    ``torch.func`` transforms), outside :func:`disabled`, with the library built. The caller's
    ``autograd.Function`` carries the gradient."""
    return _cpu_float(weight) and _eager() and not torch._C._are_functorch_transforms_active()


def basis_major(weight: torch.Tensor, scale: torch.Tensor, base_weight: Optional[torch.Tensor]) -> torch.Tensor:
    """``(out, n [+ 1], in)``: ``weight`` ``(out, in, n)`` times ``scale`` ``(out, in)`` per edge,
    basis-major, and ``base_weight`` ``(out, in)`` (when given) as the last row, in one pass
    (:func:`kanlab.kernels.basis_major_weight`; the caller checks :func:`weights_apply`)."""
    weight, scale = _plain(weight, weight.dtype), _plain(scale, weight.dtype)
    base = None if base_weight is None else _plain(base_weight, weight.dtype)
    out_dim, in_dim, n = weight.shape
    w = torch.empty(out_dim, n + (base is not None), in_dim, dtype=weight.dtype, device=_CPU)
    fn = _loop("basis_major", weight.dtype)
    fn(weight.data_ptr(), scale.data_ptr(), None if base is None else base.data_ptr(), out_dim, in_dim, n,
       _threads(), w.data_ptr())
    return w


def basis_major_grad(g: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The gradients of :func:`basis_major`'s ``weight`` ``(out, in, n)`` and ``scale`` ``(out,
    in)`` from its output's gradient ``g`` ``(out, rows, in)`` (the base row's is ``g[:, n]``)."""
    g, weight, scale = _plain(g, weight.dtype), _plain(weight, weight.dtype), _plain(scale, weight.dtype)
    out_dim, in_dim, n = weight.shape
    g_weight, g_scale = torch.empty_like(weight), torch.empty_like(scale)
    fn = _loop("basis_major_grad", weight.dtype)
    fn(g.data_ptr(), weight.data_ptr(), scale.data_ptr(), out_dim, in_dim, n, g.shape[1], _threads(),
       g_weight.data_ptr(), g_scale.data_ptr())
    return g_weight, g_scale


#: the most layers :func:`mse` takes (the C loop's fixed tables)
MAX_LAYERS = 64
#: base function codes of the C loop: none, SiLU, identity
BASE_CODES = {None: 0, "silu": 1, "identity": 2}


class SplineLayer(NamedTuple):
    """One KAN layer for :func:`mse`: its plan's ``knots`` ``(in, n_knots)``, ``inv_width`` ``(in,
    n_knots - 1)`` and ``pieces`` (as :func:`basis` takes them), and the layer's parameters: edge
    ``(o, i)`` is ``scale_base[o, i] mask[o, i] base(x_i) + scale_spline[o, i] mask[o, i]
    sum_n coef[o, i, n] B_n(x_i)``; ``coef`` ``(out, in, n_basis)``, the others ``(out, in)``;
    ``base``: a :data:`BASE_CODES` name, ``scale_base`` ``None`` for no base. The ``out``
    sub-nodes sum their edges; the layer's nodes are the first ``out - sum(mult_arity)``
    sub-nodes, then one product per entry of ``mult_arity`` of that many consecutive sub-nodes
    (pykan's multiplication nodes; ``()``: every node a sum)."""

    knots: torch.Tensor
    inv_width: torch.Tensor
    pieces: torch.Tensor
    per_interval: bool
    k: int
    coef: torch.Tensor
    scale_spline: torch.Tensor
    scale_base: Optional[torch.Tensor]
    mask: torch.Tensor
    base: Optional[str]
    mult_arity: Tuple[int, ...] = ()


def _plain(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` as a contiguous ``dtype`` tensor (itself when it already is one: the loop only reads
    its memory, so a parameter needs no ``detach``)."""
    return t if t.dtype == dtype and t.is_contiguous() else t.detach().to(dtype).contiguous()


def keep_buffers(x: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    """Empty ``keep`` buffers for :func:`mse`'s first layer on ``x`` with spline order ``k``."""
    n = x.shape[0] * x.shape[1]
    local = torch.empty((2 * (k + 1) + 2) * n, dtype=x.dtype, device=_CPU)
    return torch.empty(n, dtype=torch.int64, device=_CPU), local, False


def _keep_args(keep: Optional[Tuple[torch.Tensor, torch.Tensor, bool]], x: torch.Tensor, k: int) -> tuple:
    if keep is None:
        return None, None, 0
    index, local, filled = keep
    n = x.shape[0] * x.shape[1]
    if (index.dtype != torch.int64 or local.dtype != x.dtype or index.numel() != n
            or local.numel() != (2 * (k + 1) + 2) * n or not index.is_contiguous() or not local.is_contiguous()):
        raise ValueError("keep buffers do not fit this x and k: make them with keep_buffers(x, k)")
    return index.data_ptr(), local.data_ptr(), int(filled)


def _check_layer(layer: SplineLayer, in_dim: int) -> None:
    """``ValueError`` unless every tensor of ``layer`` has the shape the C loop will index with
    (it reads raw memory: a wrong shape would read past a buffer, not raise)."""
    out_dim, n_in, n_basis = layer.coef.shape
    n_int, k1 = layer.knots.shape[1] - 1, layer.k + 1
    pieces = (n_in * n_int, k1 * k1) if layer.per_interval else (k1, k1)
    edge = (out_dim, n_in)
    expected = {  # name: (got, want)
        "coef inputs": (n_in, in_dim), "knots rows": (layer.knots.shape[0], n_in), "n_basis": (n_basis, n_int - layer.k),
        "inv_width": (tuple(layer.inv_width.shape), (n_in, n_int)), "pieces": (tuple(layer.pieces.shape), pieces),
        "scale_spline": (tuple(layer.scale_spline.shape), edge), "mask": (tuple(layer.mask.shape), edge),
    }
    if layer.scale_base is not None:
        expected["scale_base"] = (tuple(layer.scale_base.shape), edge)
    wrong = {name: got for name, (got, want) in expected.items() if got != want}
    if wrong:
        raise ValueError(f"layer tensors do not fit together (after width {in_dim}): {wrong}")


class MSECall:
    """A prepared :func:`mse` evaluation of one network on one batch: :meth:`run` evaluates at the
    parameters' current values (the loop reads their memory on every call), writing ``loss``,
    ``reg`` (0-d) and ``grads`` (per layer ``(coef, scale_spline, scale_base or None)``), the
    same tensors every time; :func:`lbfgs` runs a whole optimiser step on it."""

    def __init__(self, double: bool, args: tuple, kept: bool, keeps: bool, gradients: bool, alive: list,
                 grads: list, loss: torch.Tensor, reg: torch.Tensor, params: list) -> None:
        # kept: the keep buffers hold this x's values already; keeps: there are keep buffers
        self.double, self.args, self.kept, self.keeps, self.gradients = double, args, kept, keeps, gradients
        self._alive, self.grads, self.loss, self.reg = alive, grads, loss, reg
        self.params = params  # per layer (coef, scale_spline, scale_base or None), the tensors read

    def run(self) -> None:
        """Evaluate (after the first call the first layer's kept values are reused)."""
        fn = _loop("mse", torch.float64 if self.double else torch.float32)
        if fn(*self.args, int(self.kept), int(self.gradients)):
            raise MemoryError("kanlab's compiled closure could not allocate its work buffers")
        self.kept = self.keeps  # the keep buffers (if any) are filled now


def prepare_mse(x: torch.Tensor, target: torch.Tensor, layers: Sequence[SplineLayer], lamb: float = 0.0,
                lamb_l1: float = 1.0, lamb_entropy: float = 2.0,
                keep: Optional[Tuple[torch.Tensor, torch.Tensor, bool]] = None, gradients: bool = True) -> MSECall:
    """:func:`mse`'s arguments checked and converted once, as an :class:`MSECall`; without
    ``gradients`` it computes the loss and ``R`` only (``grads`` stay unwritten)."""
    lib = library()
    if lib is None or not 0 < len(layers) <= MAX_LAYERS:
        raise ValueError(f"mse needs the compiled loop and 1 .. {MAX_LAYERS} layers")
    dtype = x.dtype
    if x.dim() != 2 or x.device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        raise ValueError(f"x must be a (batch, in) float32/float64 CPU tensor, got {tuple(x.shape)} {dtype} on {x.device}")
    x, target = _plain(x, dtype), _plain(target, dtype)
    dims, meta, arity, alive, ptrs, grads, params = [x.shape[1]], [], [], [x, target], [], [], []
    for layer in layers:
        tensors = [_plain(t, dtype) for t in (layer.knots, layer.inv_width, layer.pieces, layer.coef,
                                               layer.scale_spline)]
        coef = tensors[3]
        out_dim, in_dim, n_basis = coef.shape
        _check_layer(layer, dims[-1])
        base = None if layer.scale_base is None else _plain(layer.scale_base, dtype)
        grad = (torch.empty_like(coef), torch.empty(out_dim, in_dim, dtype=dtype, device=_CPU),
                None if base is None else torch.empty(out_dim, in_dim, dtype=dtype, device=_CPU))
        tensors += [base, _plain(layer.mask, dtype), *grad]
        n_mult = len(layer.mult_arity)
        if any(a < 1 for a in layer.mult_arity) or sum(layer.mult_arity) > out_dim:
            raise ValueError(f"mult_arity {layer.mult_arity} does not fit {out_dim} sub-nodes")
        dims.append(out_dim - sum(layer.mult_arity) + n_mult)
        meta += [layer.knots.shape[1], int(layer.per_interval), layer.k, n_basis,
                 0 if base is None else BASE_CODES[layer.base], out_dim, n_mult]
        arity += [int(a) for a in layer.mult_arity]
        alive += tensors  # referenced as long as the call
        ptrs += [None if t is None else t.data_ptr() for t in tensors]
        grads.append(grad)
        params.append((tensors[3], tensors[4], base))
    if target.shape != (x.shape[0], dims[-1]):
        raise ValueError(f"target must have shape {(x.shape[0], dims[-1])}, got {tuple(target.shape)}")
    loss, reg = torch.empty((), dtype=dtype, device=_CPU), torch.empty((), dtype=dtype, device=_CPU)
    double = dtype == torch.float64
    weights = ((ctypes.c_double if double else ctypes.c_float) * 3)(lamb, lamb_l1, lamb_entropy)
    args = (len(layers), x.shape[0], (ctypes.c_int64 * len(dims))(*dims), (ctypes.c_int64 * len(meta))(*meta),
            (ctypes.c_int64 * max(1, len(arity)))(*arity), (ctypes.c_void_p * len(ptrs))(*ptrs), x.data_ptr(),
            target.data_ptr(), weights, loss.data_ptr(), reg.data_ptr(), *_keep_args(keep, x, layers[0].k))
    if keep is not None:
        alive += [keep[0], keep[1]]
    return MSECall(double, args[:-1], bool(args[-1]), keep is not None, gradients, alive, grads, loss, reg, params)


def mse(x: torch.Tensor, target: torch.Tensor, layers: Sequence[SplineLayer], lamb: float = 0.0,
        lamb_l1: float = 1.0, lamb_entropy: float = 2.0,
        keep: Optional[Tuple[torch.Tensor, torch.Tensor, bool]] = None) -> Tuple[torch.Tensor, torch.Tensor, list]:
    """The C loop's whole small network: ``loss = mean((net(x) - target)^2)``, the KAN paper's
    sparsity term ``R`` (:func:`kanlab.regularizers.regularizer`: per layer ``lamb_l1 * sum(A) +
    lamb_entropy * entropy(A / sum(A))``, ``A`` each edge's mean ``|phi|`` over the batch; only
    computed for ``lamb > 0``, else 0) and the gradients of ``loss + lamb * R`` in every layer's
    ``coef``, ``scale_spline`` and ``scale_base``, in one pass over the points (forward, loss,
    backward; nothing recorded for autograd). ``x`` ``(batch, width[0])``, ``target`` ``(batch,
    width[-1])``, CPU, float32/64. Layer ``l`` sums its edges (:class:`SplineLayer`) at its
    nodes; the basis as :func:`basis` (zero outside the knots, no slope there). ``keep``: buffers
    for the first layer's local values, ``(int64 (batch * width[0],), (2 (k + 1) + 2) * batch *
    width[0] values of x's dtype, filled)``: with ``filled`` the loop reads them instead of
    evaluating the first layer's basis (they must come from this ``x`` and this layer's knots),
    else it fills them (:func:`kanlab.fused` keeps them across a full-batch fit's evaluations).
    Returns ``loss`` and ``R`` (0-d) and per layer ``(grad coef, grad scale_spline, grad
    scale_base or None)``."""
    call = prepare_mse(x, target, layers, lamb, lamb_l1, lamb_entropy, keep)
    call.run()
    return call.loss, call.reg, call.grads


def lbfgs(call: MSECall, params: Sequence[torch.Tensor], grad: torch.Tensor, state: dict, max_iter: int,
          max_eval: int) -> int:
    """One step of :class:`kanlab.optim.LBFGS` (strong-Wolfe line search) after its first
    evaluation, in C, evaluating ``call``'s network: ``params`` the optimiser's (contiguous, of
    the network's dtype; one that ``call`` does not read has a zero gradient), ``grad`` (float64,
    flat) the first evaluation's gradient. ``state`` (float64 unless named): ``d``, ``prev_grad``
    ``(n,)``, the curvature pairs ``ys``, ``ss`` ``(history, n)`` (a ring) and ``rhos``
    ``(history,)``, ``ints`` (int64: iterations so far, pairs, oldest pair, whether ``d`` and
    ``prev_grad`` are set) and ``nums`` (the first evaluation's loss, t, h_diag, lr, tolerance_grad,
    tolerance_change, tolerance_ys, the penalty for a non-finite evaluation), updated in place
    (``nums[0]`` the accepted loss). The parameters end at the accepted point and ``call``'s
    ``loss``/``reg``/``grads`` hold the last evaluation's values (as after the Python loop).
    Returns the number of evaluations (the first included)."""
    lib = library()
    assert lib is not None
    grad_of = {id(p): g for layer_p, layer_g in zip(call.params, call.grads) for p, g in zip(layer_p, layer_g)
               if p is not None}
    segs = [grad_of.get(id(p)) if p.requires_grad else None for p in params]
    n, history = grad.numel(), state["ys"].shape[0]
    shapes = {"grad": (grad, (n,)), "d": (state["d"], (n,)), "prev_grad": (state["prev_grad"], (n,)),
              "ys": (state["ys"], (history, n)), "ss": (state["ss"], (history, n)), "rhos": (state["rhos"], (history,)),
              "nums": (state["nums"], (8,))}
    wrong = [name for name, (t, shape) in shapes.items()
             if t.dtype != torch.float64 or tuple(t.shape) != shape or not t.is_contiguous()]
    if wrong or sum(p.numel() for p in params) != n or state["ints"].dtype != torch.int64 or state["ints"].numel() != 4:
        raise ValueError(f"lbfgs state does not fit {n} parameters (C reads raw memory): {wrong or 'counts'}")
    lim = (ctypes.c_int64 * 3)(max_iter, max_eval, history)
    evals = ctypes.c_int64(0)
    count = len(params)
    failed = lib.kanlab_lbfgs(
        int(call.double), *call.args, count, (ctypes.c_void_p * count)(*[p.data_ptr() for p in params]),
        (ctypes.c_void_p * count)(*[None if g is None else g.data_ptr() for g in segs]),
        (ctypes.c_int64 * count)(*[p.numel() for p in params]), n, grad.data_ptr(), state["d"].data_ptr(),
        state["prev_grad"].data_ptr(), state["ys"].data_ptr(), state["ss"].data_ptr(), state["rhos"].data_ptr(),
        state["ints"].data_ptr(), state["nums"].data_ptr(), lim, ctypes.byref(evals))
    if failed:
        raise MemoryError("kanlab's compiled L-BFGS step could not allocate its work buffers")
    return evals.value
