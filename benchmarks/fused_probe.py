"""How far the small-network ``fit`` closure is from the hardware (issue 15): a C++ floor.

``benchmarks.workflow``'s floor (``FloorKAN``) is the network written as a handful of eager torch
operations. This script JIT-compiles (``torch.utils.cpp_extension.load_inline``: needs a C++
compiler and ninja; ~30 s the first time, cached under ``~/.cache/torch_extensions``) the same
network's whole closure -- forward, MSE and backward of ``[2, 5, 1]`` with uniform cubic
B-splines and a SiLU base, packed weights -- as one C++ pass over the points, checks it against
autograd, and times one loss-and-gradient evaluation on 1000 points beside kanlab (with its
compiled basis loop, :mod:`kanlab.native`, and without: ``KANLAB_NATIVE=0``'s path) and the eager
floor. kanlab does not use this C++; since issue 15's second round ``fit`` evaluates such networks
in one C pass of its own (:mod:`kanlab.fused`), the first row.

    python -m benchmarks.fused_probe          # prints the table, BENCHMARKS.md section
"""
from __future__ import annotations

import argparse
import time

import torch

from kanlab import KAN, native

from .common import machine, write_section
from .workflow import FloorKAN, closure_time, median_seconds, mission_data

SECTION = "## The small-network closure against a C++ floor (issue 15)"

CPP = r"""
#include <torch/extension.h>
#include <cmath>
#include <vector>

template <typename T> static inline T sigmoid(T v) { return T(1) / (T(1) + std::exp(-v)); }

// FloorKAN [in, hidden, 1] (uniform cubic B-splines on [-1, 1] with `grid` intervals, SiLU base,
// packed weights w_l ((grid + 4) * in_l, out_l), input-major rows): MSE loss and its gradients.
std::vector<torch::Tensor> floor_closure(torch::Tensor x, torch::Tensor y, torch::Tensor w1, torch::Tensor w2, int64_t grid) {
  auto g1 = torch::zeros_like(w1), g2 = torch::zeros_like(w2);
  double loss = 0;
  const int64_t N = x.size(0), IN = x.size(1), HID = w1.size(1), P = grid + 4;
  auto X = x.accessor<double, 2>(); auto Y = y.accessor<double, 2>();
  auto W1 = w1.accessor<double, 2>(); auto W2 = w2.accessor<double, 2>();
  auto G1 = g1.accessor<double, 2>(); auto G2 = g2.accessor<double, 2>();
  std::vector<double> f1(IN * 5), h(HID), f2(HID * 5), d2(HID * 5);
  std::vector<int64_t> j1(IN), j2(HID);
  auto basis = [&](double v, int64_t* j, double* val, double* der) {
    const double c = std::min(std::max(v, -1.0), 1.0 - 1e-6), s = (c + 1) * (grid / 2.0);
    const double jf = std::floor(s), u = s - jf, u2 = u * u, u3 = u2 * u;
    const double ds = (v >= -1.0 && v <= 1.0 - 1e-6) ? grid / 2.0 : 0.0;  // clamp's gradient
    *j = (int64_t)jf;
    val[0] = (1 - u) * (1 - u) * (1 - u) / 6; val[1] = (3 * u3 - 6 * u2 + 4) / 6;
    val[2] = (-3 * u3 + 3 * u2 + 3 * u + 1) / 6; val[3] = u3 / 6;
    if (der) {
      der[0] = -0.5 * (1 - u) * (1 - u) * ds; der[1] = (1.5 * u2 - 2 * u) * ds;
      der[2] = (-1.5 * u2 + u + 0.5) * ds; der[3] = 0.5 * u2 * ds;
    }
    const double sg = 1 / (1 + std::exp(-v));
    val[4] = v * sg;
    if (der) der[4] = sg * (1 + v * (1 - sg));
  };
  for (int64_t b = 0; b < N; ++b) {
    for (int64_t i = 0; i < IN; ++i) basis(X[b][i], &j1[i], &f1[i * 5], nullptr);
    double out = 0;
    for (int64_t o = 0; o < HID; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < IN; ++i) {
        for (int r = 0; r < 4; ++r) acc += f1[i * 5 + r] * W1[i * P + j1[i] + r][o];
        acc += f1[i * 5 + 4] * W1[i * P + P - 1][o];
      }
      h[o] = acc;
      basis(acc, &j2[o], &f2[o * 5], &d2[o * 5]);
      for (int r = 0; r < 4; ++r) out += f2[o * 5 + r] * W2[o * P + j2[o] + r][0];
      out += f2[o * 5 + 4] * W2[o * P + P - 1][0];
    }
    const double e = out - Y[b][0];
    loss += e * e;
    const double go = 2 * e / N;
    for (int64_t o = 0; o < HID; ++o) {
      double gh = 0;
      for (int r = 0; r < 4; ++r) {
        G2[o * P + j2[o] + r][0] += go * f2[o * 5 + r];
        gh += go * d2[o * 5 + r] * W2[o * P + j2[o] + r][0];
      }
      G2[o * P + P - 1][0] += go * f2[o * 5 + 4];
      gh += go * d2[o * 5 + 4] * W2[o * P + P - 1][0];
      for (int64_t i = 0; i < IN; ++i) {
        for (int r = 0; r < 4; ++r) G1[i * P + j1[i] + r][o] += gh * f1[i * 5 + r];
        G1[i * P + P - 1][o] += gh * f1[i * 5 + 4];
      }
    }
  }
  return {torch::tensor(loss / N, x.options()), g1, g2};
}
"""


def build() -> object:
    """The compiled module (compiled once per machine, then loaded from torch's extension cache)."""
    from torch.utils.cpp_extension import load_inline

    return load_inline(name="kanlab_fused_probe", cpp_sources=[CPP], functions=["floor_closure"],
                       extra_cflags=["-O3"], verbose=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="closure evaluations timed (median)")
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    ext = build()
    print(f"compiled or loaded the C++ probe in {time.perf_counter() - start:.1f} s")
    data = mission_data()
    x, y = data["train_input"], data["train_label"]

    floor = FloorKAN([2, 5, 1], 5).double()
    xd, yd = x.double(), y.double()
    loss = torch.mean((floor(xd) - yd) ** 2)
    grads = torch.autograd.grad(loss, list(floor.w))
    w1, w2 = (w.detach() for w in floor.w)
    c_loss, c_g1, c_g2 = ext.floor_closure(xd, yd, w1, w2, 5)
    torch.testing.assert_close(c_loss, loss.detach(), atol=1e-12, rtol=1e-10)
    for got, want in zip((c_g1, c_g2), grads):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)

    model = KAN([2, 5, 1], grid=5, k=3, seed=0)
    fit_ms = 1e3 * closure_time(model, x, y, args.repeats, whole=True)
    native_ms = 1e3 * closure_time(model, x, y, args.repeats)
    with native.disabled():  # the path kanlab takes without a C compiler
        eager_ms = 1e3 * closure_time(model, x, y, args.repeats)
    floor_ms = 1e3 * closure_time(FloorKAN([2, 5, 1], 5), x, y, args.repeats)
    c_ms = 1e3 * median_seconds(lambda: ext.floor_closure(xd, yd, w1, w2, 5), args.repeats)
    rows = [("kanlab fit's evaluation (kanlab.fused: the whole network in kanlab's C loop)", fit_ms),
            (f"kanlab model(x) + autograd (compiled basis loop: {native.available()})", native_ms),
            ("kanlab, eager basis", eager_ms),
            ("floor: eager closed-form cubic + matmul (workflow.py)", floor_ms),
            ("C++ whole closure (FloorKAN's network, float64)", c_ms)]
    table = ["| one closure of [2, 5, 1] on 1000 points, G=5 | ms | / C++ whole closure |", "|---|---|---|"]
    table += [f"| {name} | {ms:.3f} | {ms / c_ms:.0f}x |" for name, ms in rows]
    print("\n".join(table))
    if args.out:
        header = (f"Command: `python -m benchmarks.fused_probe`  \nMachine: {machine()}. Medians of {args.repeats} "
                  "evaluations, one process, uniform grid G=5. The C++ closure is checked against autograd "
                  "before timing; kanlab does not use it (its own C pass is the first row).")
        write_section(args.out, SECTION, SECTION + "\n\n" + header + "\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
