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
chain rule into each layer's ``coef``, ``scale_spline`` and ``scale_base``, in one C call.

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
from typing import Iterator, NamedTuple, Optional, Sequence, Tuple

import torch

__all__ = ["library", "available", "applies", "disabled", "basis", "SplineLayer", "mse", "MAX_LAYERS"]

_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define INLINE static inline __attribute__((always_inline))
#define KERNELS(S, T, F)                                                                          \
/* the interval j of xv among the knots kn[0 .. NK-1] (searchsorted(right=True) - 1 of the point  \
   clamped to the knots, by a branch-free search, limited to 0 .. NK-2); *f its position in the   \
   interval (times the interval's inverse width *iw), *inside 1 for kn[0] <= xv < kn[NK-1] */     \
INLINE int64_t S##_locate(const T* kn, int64_t NK, const T* inv_width, T xv, T* f, T* iw, T* inside) { \
    *inside = (xv >= kn[0] && xv < kn[NK - 1]) ? (T)1 : (T)0;                                     \
    T xc = xv;                                                                                     \
    if (xc < kn[0]) xc = kn[0]; else if (xc > kn[NK - 1]) xc = kn[NK - 1];                         \
    const T* at = kn;                                                                              \
    for (int64_t n = NK; n > 1;) {                                                                 \
        const int64_t half = n / 2;                                                                \
        at = (at[half] <= xc) ? at + half : at;                                                    \
        n -= half;                                                                                 \
    }                                                                                              \
    int64_t j = (at - kn) - (*at <= xc ? 0 : 1);                                                   \
    if (j < 0) j = 0;                                                                              \
    if (j > NK - 2) j = NK - 2;                                                                    \
    *iw = inv_width[j];                                                                            \
    *f = (xc - kn[j]) * *iw;                                                                       \
    return j;                                                                                      \
}                                                                                                  \
/* the k + 1 pieces P[d][m] at f by Horner's rule, as the eager path (a NaN f stays NaN):          \
   v[m] the value of B_{j-k+m}, s[m] its slope in f */                                             \
INLINE void S##_horner(const T* P, int64_t k, T f, T* v, T* s) {                                    \
    const int64_t K1 = k + 1;                                                                      \
    for (int64_t m = 0; m < K1; ++m) {                                                             \
        T a = P[k * K1 + m], b = 0;                                                                \
        for (int64_t d = k - 1; d >= 0; --d) a = P[d * K1 + m] + a * f;                           \
        for (int64_t d = k - 1; d >= 0; --d) b = (T)(d + 1) * P[(d + 1) * K1 + m] + b * f;         \
        v[m] = a;                                                                                  \
        s[m] = b;                                                                                  \
    }                                                                                              \
}                                                                                                  \
INLINE void S##_dense_body(const T* x, int64_t B, int64_t I, const T* knots, int64_t NK,          \
        const T* inv_width, const T* pieces, int64_t per_interval, int64_t k, int64_t nb,          \
        int64_t rows, int64_t values, int64_t slopes, T* out) {                                    \
    const int64_t NI = NK - 1, K1 = k + 1, planes = values + slopes;                               \
    T v[k + 1], s[k + 1];                                                                          \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        for (int64_t i = 0; i < I; ++i) {                                                          \
            T f, iw, inside;                                                                       \
            const int64_t j = S##_locate(knots + i * NK, NK, inv_width + i * NI, x[b * I + i], &f, &iw, &inside); \
            S##_horner(pieces + (per_interval ? (i * NI + j) * K1 * K1 : 0), k, f, v, s);         \
            T* vrow = out + (b * planes * rows) * I + i;                                           \
            T* srow = out + ((b * planes + values) * rows) * I + i;                                \
            for (int64_t n = 0; n < nb; ++n) {                                                     \
                if (values) vrow[n * I] = 0;                                                       \
                if (slopes) srow[n * I] = 0;                                                       \
            }                                                                                      \
            for (int64_t m = 0; m < K1; ++m) {                                                     \
                const int64_t n = j - k + m;                                                       \
                if (n < 0 || n >= nb) continue;                                                    \
                if (values) vrow[n * I] = v[m] * inside;                                           \
                if (slopes) srow[n * I] = s[m] * (inside * iw);                                    \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* the dense basis and slopes, basis-major (batch, planes, rows, in); the cubic case with k a      \
   constant, so that its Horner loops unroll */                                                    \
void kanlab_dense_pair_##S(const T* x, int64_t B, int64_t I, const T* knots, int64_t NK,          \
        const T* inv_width, const T* pieces, int64_t per_interval, int64_t k, int64_t nb,          \
        int64_t rows, int64_t values, int64_t slopes, T* out) {                                    \
    if (k == 3) S##_dense_body(x, B, I, knots, NK, inv_width, pieces, per_interval, 3, nb, rows, values, slopes, out); \
    else S##_dense_body(x, B, I, knots, NK, inv_width, pieces, per_interval, k, nb, rows, values, slopes, out); \
}                                                                                                  \
/* One layer's forward y (B, O) from x (B, I), keeping per point and input the interval j and the  \
   k + 1 values and slopes (V, S: (B, I, k + 1)) and the base's value and slope (bv, bs). wp: the  \
   spline weights (O, I, NP) with k zeros before and after each edge's n_basis (so B_{j-k+m} is    \
   wp[.., j + m], no bounds test), wb (O, I) the base's (base 0: none, 1: SiLU, 2: identity). */   \
INLINE void S##_layer_forward(const T* x, int64_t B, int64_t I, int64_t O, const int64_t* meta,   \
        void* const* ptr, int64_t k, const T* wp, const T* wb, int64_t* J, T* V, T* Sl, T* bv,    \
        T* bs, T* E, int64_t kept, T* y) {                                                         \
    const int64_t NK = meta[0], per_interval = meta[1], base = meta[4];                           \
    const int64_t NI = NK - 1, K1 = k + 1, NP = meta[3] + 2 * k;                                   \
    const T *knots = (const T*)ptr[0], *inv_width = (const T*)ptr[1], *pieces = (const T*)ptr[2]; \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        for (int64_t i = 0; !kept && i < I; ++i) {  /* kept: J .. bs hold this x's values */      \
            const int64_t p = b * I + i;                                                           \
            const T xv = x[p];                                                                     \
            T f, iw, inside;                                                                       \
            const int64_t j = S##_locate(knots + i * NK, NK, inv_width + i * NI, xv, &f, &iw, &inside); \
            S##_horner(pieces + (per_interval ? (i * NI + j) * K1 * K1 : 0), k, f, V + p * K1, Sl + p * K1); \
            for (int64_t m = 0; m < K1; ++m) {                                                     \
                V[p * K1 + m] *= inside;                                                           \
                Sl[p * K1 + m] *= inside * iw;                                                     \
            }                                                                                      \
            J[p] = j;                                                                              \
            if (base == 1) {                                                                       \
                const T sg = (T)1 / ((T)1 + exp##F(-xv));                                             \
                bv[p] = xv * sg;                                                                   \
                bs[p] = sg * ((T)1 + xv * ((T)1 - sg));                                            \
            } else {                                                                               \
                bv[p] = base == 2 ? xv : (T)0;                                                     \
                bs[p] = base == 2 ? (T)1 : (T)0;                                                   \
            }                                                                                      \
        }                                                                                          \
        for (int64_t o = 0; o < O; ++o) {                                                          \
            T acc = 0;                                                                             \
            for (int64_t i = 0; i < I; ++i) {                                                      \
                const int64_t p = b * I + i;                                                       \
                const T* wr = wp + (o * I + i) * NP + J[p];                                        \
                T edge = 0;                                                                        \
                for (int64_t m = 0; m < K1; ++m) edge += V[p * K1 + m] * wr[m];                    \
                if (base) edge += bv[p] * wb[o * I + i];                                           \
                if (E) E[(b * O + o) * I + i] = edge;                                              \
                acc += edge;                                                                       \
            }                                                                                      \
            y[b * O + o] = acc;                                                                    \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* One layer's backward from gy (B, O): the padded weights' gradient gp and the base weights' gb  \
   (accumulated) and, when gx is not NULL, the input's gradient gx (B, I). */                     \
INLINE void S##_layer_backward(const T* gy, int64_t B, int64_t I, int64_t O, const int64_t* meta, \
        int64_t k, const T* wp, const T* wb, const int64_t* J, const T* V, const T* Sl,           \
        const T* bv, const T* bs, const T* E, const T* gE, T* gp, T* gb, T* gx) {                 \
    const int64_t base = meta[4], K1 = k + 1, NP = meta[3] + 2 * k;                                \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        if (gx) for (int64_t i = 0; i < I; ++i) gx[b * I + i] = 0;                                 \
        for (int64_t o = 0; o < O; ++o) {                                                          \
            const T gn = gy[b * O + o];                                                            \
            for (int64_t i = 0; i < I; ++i) {                                                      \
                const int64_t p = b * I + i, at = (o * I + i) * NP + J[p];                         \
                T go = gn;  /* the node's gradient, plus the regulariser's on |edge| */           \
                if (E) {                                                                           \
                    const T e = E[(b * O + o) * I + i];                                            \
                    go += e > 0 ? gE[o * I + i] : (e < 0 ? -gE[o * I + i] : (T)0);                 \
                }                                                                                  \
                T acc = 0;                                                                         \
                for (int64_t m = 0; m < K1; ++m) {                                                 \
                    gp[at + m] += go * V[p * K1 + m];                                              \
                    acc += Sl[p * K1 + m] * wp[at + m];                                            \
                }                                                                                  \
                if (base) {                                                                        \
                    gb[o * I + i] += go * bv[p];                                                   \
                    acc += bs[p] * wb[o * I + i];                                                  \
                }                                                                                  \
                if (gx) gx[p] += go * acc;                                                         \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* Nodes from sub-nodes sub (B, O): the first W - n_mult pass through, then n_mult products of   \
   ar[0], ar[1], .. consecutive sub-nodes; act (B, W). */                                          \
INLINE void S##_nodes_forward(const T* sub, int64_t B, int64_t O, int64_t W, int64_t n_mult,      \
        const int64_t* ar, T* act) {                                                               \
    const int64_t n_sum = W - n_mult;                                                              \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        const T* s = sub + b * O;                                                                  \
        for (int64_t j = 0; j < n_sum; ++j) act[b * W + j] = s[j];                                 \
        for (int64_t q = 0, at = n_sum; q < n_mult; at += ar[q], ++q) {                            \
            T prod = s[at];                                                                        \
            for (int64_t r = 1; r < ar[q]; ++r) prod *= s[at + r];                                 \
            act[b * W + n_sum + q] = prod;                                                         \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* Their backward: the sub-nodes' gradient gsub (B, O) from the nodes' gact (B, W); a factor's    \
   gradient is the node's times the product of the other factors. */                              \
INLINE void S##_nodes_backward(const T* gact, const T* sub, int64_t B, int64_t O, int64_t W,      \
        int64_t n_mult, const int64_t* ar, T* gsub) {                                              \
    const int64_t n_sum = W - n_mult;                                                              \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        const T* s = sub + b * O;                                                                  \
        for (int64_t j = 0; j < n_sum; ++j) gsub[b * O + j] = gact[b * W + j];                     \
        for (int64_t q = 0, at = n_sum; q < n_mult; at += ar[q], ++q) {                            \
            for (int64_t f = 0; f < ar[q]; ++f) {                                                  \
                T others = gact[b * W + n_sum + q];                                                \
                for (int64_t r = 0; r < ar[q]; ++r) if (r != f) others *= s[at + r];               \
                gsub[b * O + at + f] = others;                                                     \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* A stack of L KAN layers on x (B, dims[0]) and the mean squared error against target (B,        \
   dims[L]): the loss into *loss and the gradients of every layer's parameters. Layer l's edge    \
   (o, i) is scale_base[o,i] mask[o,i] base(x_i) + coef[o,i,:] . B(x_i) scale_spline[o,i]        \
   mask[o,i]; its O sub-nodes sum their edges, and its dims[l + 1] nodes are the first           \
   dims[l + 1] - n_mult sub-nodes followed by n_mult products of consecutive sub-nodes (arity   \
   from the arity array, layer after layer). meta per layer: n_knots, per_interval, k, n_basis,  \
   base, O, n_mult; ptrs per layer: knots, inv_width, pieces, coef, scale_spline, scale_base,    \
   mask, and the gradients of coef, scale_spline, scale_base (scale_base and its gradient NULL    \
   without a base). With reg = (lamb, lamb_l1, lamb_entropy), lamb > 0, the gradients are those  \
   of loss + lamb * R, R the KAN paper's sparsity term (per layer lamb_l1 sum A + lamb_entropy   \
   entropy(A / sum A), A[o, i] the mean |edge| over the batch), and R goes into *reg_out.        \
   keep_J, keep_local (or NULL): the caller's buffers for layer 0's intervals (B dims[0]) and     \
   local values (V, S, base value and slope: (2 (k + 1) + 2) B dims[0]); kept: they hold this x's \
   already (computed on an earlier call), else they are filled. Returns 0, or 1 when out of      \
   memory. */                                                                                      \
int kanlab_mse_##S(int64_t L, int64_t B, const int64_t* dims, const int64_t* meta, const int64_t* arity, \
        void* const* ptrs, const T* x, const T* target, const T* reg, T* loss, T* reg_out,          \
        int64_t* keep_J, T* keep_local, int64_t kept) {                                           \
    const T lamb = reg[0];                                                                         \
    int64_t size = 0, points = 0, widest = 0, most_sub = 0;                                        \
    for (int64_t l = 0; l < L; ++l) {                                                              \
        const int64_t* m = meta + 7 * l;                                                           \
        const int64_t I = dims[l], O = m[5], k = m[2], NP = m[3] + 2 * k;                          \
        size += B * O + B * I * (2 * (k + 1) + 2) + 2 * O * I * NP + 2 * O * I;                    \
        if (m[6]) size += B * dims[l + 1];                                                         \
        if (lamb > 0) size += B * O * I + O * I;                                                   \
        points += B * I;                                                                           \
        if (I > widest) widest = I;                                                                \
        if (dims[l + 1] > widest) widest = dims[l + 1];                                            \
        if (O > most_sub) most_sub = O;                                                            \
    }                                                                                              \
    T* buf = (T*)malloc(sizeof(T) * (size + 2 * B * widest + B * most_sub + B * dims[L]));         \
    int64_t* J_all = (int64_t*)malloc(sizeof(int64_t) * points);                                  \
    if (!buf || !J_all) { free(buf); free(J_all); return 1; }                                      \
    T *act[65], *sub[64], *V[64], *Sl[64], *bv[64], *bs[64], *wp[64], *gp[64], *wb[64], *gb[64];   \
    T *E[64], *gE[64];                                                                             \
    int64_t* J[64]; const int64_t* ar[64];                                                         \
    T* at = buf; int64_t* jat = J_all; const int64_t* arat = arity;                                \
    act[0] = (T*)x;                                                                                \
    for (int64_t l = 0; l < L; ++l) {                                                              \
        const int64_t* m = meta + 7 * l;                                                           \
        const int64_t I = dims[l], O = m[5], k = m[2], nb = m[3];                                  \
        const int64_t n = B * I, K1 = k + 1, NP = nb + 2 * k;                                      \
        sub[l] = at; at += B * O;                                                                  \
        if (m[6]) { act[l + 1] = at; at += B * dims[l + 1]; } else act[l + 1] = sub[l];            \
        ar[l] = arat; arat += m[6];                                                                \
        V[l] = at; at += n * K1; Sl[l] = at; at += n * K1; bv[l] = at; at += n; bs[l] = at; at += n; \
        wp[l] = at; at += O * I * NP; gp[l] = at; at += O * I * NP; wb[l] = at; at += O * I;       \
        gb[l] = at; at += O * I;                                                                   \
        E[l] = gE[l] = NULL;                                                                       \
        if (lamb > 0) { E[l] = at; at += B * O * I; gE[l] = at; at += O * I; }                     \
        J[l] = jat; jat += n;                                                                      \
        if (l == 0 && keep_J) {  /* the caller's buffers for the input layer's local values */    \
            J[0] = keep_J; V[0] = keep_local; Sl[0] = V[0] + n * K1; bv[0] = Sl[0] + n * K1;      \
            bs[0] = bv[0] + n;                                                                     \
        }                                                                                          \
        void* const* ptr = ptrs + 10 * l;                                                          \
        const T *coef = (const T*)ptr[3], *ssp = (const T*)ptr[4], *sb = (const T*)ptr[5], *mask = (const T*)ptr[6]; \
        memset(wp[l], 0, sizeof(T) * 2 * (O * I * NP + O * I));  /* wp, gp, wb, gb */             \
        for (int64_t e = 0; e < O * I; ++e) {                                                      \
            const T s = ssp[e] * mask[e];                                                          \
            for (int64_t q = 0; q < nb; ++q) wp[l][e * NP + k + q] = coef[e * nb + q] * s;         \
            if (sb) wb[l][e] = sb[e] * mask[e];                                                    \
        }                                                                                          \
    }                                                                                              \
    for (int64_t l = 0; l < L; ++l) {                                                              \
        const int64_t* m = meta + 7 * l;                                                           \
        const int64_t I = dims[l], O = m[5], W = dims[l + 1], k = m[2];                            \
        if (k == 3) S##_layer_forward(act[l], B, I, O, m, ptrs + 10 * l, 3, wp[l], wb[l], J[l], V[l], Sl[l], bv[l], bs[l], E[l], l == 0 && kept, sub[l]); \
        else S##_layer_forward(act[l], B, I, O, m, ptrs + 10 * l, k, wp[l], wb[l], J[l], V[l], Sl[l], bv[l], bs[l], E[l], l == 0 && kept, sub[l]); \
        if (m[6]) S##_nodes_forward(sub[l], B, O, W, m[6], ar[l], act[l + 1]);                    \
    }                                                                                              \
    T* gx_a = at; at += B * widest; T* gx_b = at; at += B * widest; T* gsub = at; at += B * most_sub; \
    T* gout = at;                                                                                  \
    const int64_t n_out = B * dims[L];                                                             \
    T sum = 0;                                                                                     \
    for (int64_t p = 0; p < n_out; ++p) {                                                          \
        const T e = act[L][p] - target[p];                                                         \
        sum += e * e;                                                                              \
        gout[p] = (T)2 * e / (T)n_out;                                                             \
    }                                                                                              \
    *loss = sum / (T)n_out;                                                                        \
    *reg_out = 0;                                                                                  \
    for (int64_t l = 0; lamb > 0 && l < L; ++l) {  /* R and its gradient in each edge's A */       \
        const int64_t OI = dims[l] * meta[7 * l + 5];                                              \
        T* A = gE[l];                                                                              \
        T total = 0, entropy = 0, mean_h = 0;                                                      \
        for (int64_t e = 0; e < OI; ++e) {                                                         \
            T a = 0;                                                                               \
            for (int64_t b = 0; b < B; ++b) a += fabs##F(E[l][b * OI + e]);                        \
            A[e] = a / (T)B;                                                                       \
            total += A[e];                                                                         \
        }                                                                                          \
        const T norm = total + (T)1e-12;                                                           \
        for (int64_t e = 0; e < OI; ++e) {                                                         \
            const T q = A[e] / norm;                                                               \
            entropy -= q * log##F(q + (T)1e-12);                                                   \
            A[e] = -(log##F(q + (T)1e-12) + q / (q + (T)1e-12));  /* dH/dq, kept in A */           \
            mean_h += A[e] * q;                                                                    \
        }                                                                                          \
        *reg_out += reg[1] * total + reg[2] * entropy;                                             \
        for (int64_t e = 0; e < OI; ++e)  /* lamb dR/dA / B: each row's share of d|edge| */       \
            A[e] = lamb * (reg[1] + reg[2] * (A[e] - mean_h) / norm) / (T)B;                      \
    }                                                                                              \
    T* gy = gout;  /* the gradient in layer l's nodes */                                           \
    for (int64_t l = L - 1; l >= 0; --l) {                                                         \
        const int64_t* m = meta + 7 * l;                                                           \
        const int64_t I = dims[l], O = m[5], W = dims[l + 1], k = m[2];                            \
        T* gs = gy;                                                                                \
        if (m[6]) { S##_nodes_backward(gy, sub[l], B, O, W, m[6], ar[l], gsub); gs = gsub; }       \
        T* gx = l ? (gy == gx_a ? gx_b : gx_a) : NULL;                                             \
        if (k == 3) S##_layer_backward(gs, B, I, O, m, 3, wp[l], wb[l], J[l], V[l], Sl[l], bv[l], bs[l], E[l], gE[l], gp[l], gb[l], gx); \
        else S##_layer_backward(gs, B, I, O, m, k, wp[l], wb[l], J[l], V[l], Sl[l], bv[l], bs[l], E[l], gE[l], gp[l], gb[l], gx); \
        gy = gx;                                                                                   \
    }                                                                                              \
    for (int64_t l = 0; l < L; ++l) {  /* the chain rule into the parameters */                    \
        const int64_t* m = meta + 7 * l;                                                           \
        const int64_t OI = dims[l] * m[5], k = m[2], nb = m[3], NP = nb + 2 * k;                   \
        void* const* ptr = ptrs + 10 * l;                                                          \
        const T *coef = (const T*)ptr[3], *ssp = (const T*)ptr[4], *mask = (const T*)ptr[6];       \
        T *g_coef = (T*)ptr[7], *g_ssp = (T*)ptr[8], *g_sb = (T*)ptr[9];                           \
        for (int64_t e = 0; e < OI; ++e) {                                                         \
            const T s = ssp[e] * mask[e];                                                          \
            T acc = 0;                                                                             \
            for (int64_t q = 0; q < nb; ++q) {                                                     \
                const T g = gp[l][e * NP + k + q];                                                 \
                g_coef[e * nb + q] = g * s;                                                        \
                acc += g * coef[e * nb + q];                                                       \
            }                                                                                      \
            g_ssp[e] = acc * mask[e];                                                              \
            if (g_sb) g_sb[e] = gb[l][e] * mask[e];                                                \
        }                                                                                          \
    }                                                                                              \
    free(buf); free(J_all);                                                                        \
    return 0;                                                                                      \
}
KERNELS(f64, double, )
KERNELS(f32, float, f)  /* expf, logf, fabsf: float32 throughout, as the eager path */
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
    for name in ("kanlab_mse_f64", "kanlab_mse_f32"):
        getattr(lib, name).argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i64]
        getattr(lib, name).restype = ctypes.c_int
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
    return torch.empty(n, dtype=torch.int64), torch.empty((2 * (k + 1) + 2) * n, dtype=x.dtype), False


def _keep_args(keep: Optional[Tuple[torch.Tensor, torch.Tensor, bool]], x: torch.Tensor, k: int) -> tuple:
    if keep is None:
        return None, None, 0
    index, local, filled = keep
    n = x.shape[0] * x.shape[1]
    if (index.dtype != torch.int64 or local.dtype != x.dtype or index.numel() != n
            or local.numel() != (2 * (k + 1) + 2) * n or not index.is_contiguous() or not local.is_contiguous()):
        raise ValueError("keep buffers do not fit this x and k: make them with keep_buffers(x, k)")
    return index.data_ptr(), local.data_ptr(), int(filled)


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
    lib = library()
    if lib is None or not 0 < len(layers) <= MAX_LAYERS:
        raise ValueError(f"mse needs the compiled loop and 1 .. {MAX_LAYERS} layers")
    dtype = x.dtype
    x, target = _plain(x, dtype), _plain(target, dtype)
    dims, meta, arity, alive, ptrs, grads = [x.shape[1]], [], [], [], [], []
    for layer in layers:
        tensors = [_plain(t, dtype) for t in (layer.knots, layer.inv_width, layer.pieces, layer.coef,
                                               layer.scale_spline)]
        coef = tensors[3]
        out_dim, in_dim, n_basis = coef.shape
        if in_dim != dims[-1] or layer.knots.shape[0] != in_dim:
            raise ValueError(f"layer shapes do not chain: coef {tuple(coef.shape)} after width {dims[-1]}")
        base = None if layer.scale_base is None else _plain(layer.scale_base, dtype)
        grad = (torch.empty_like(coef), torch.empty(out_dim, in_dim, dtype=dtype),
                None if base is None else torch.empty(out_dim, in_dim, dtype=dtype))
        tensors += [base, _plain(layer.mask, dtype), *grad]
        n_mult = len(layer.mult_arity)
        if any(a < 1 for a in layer.mult_arity) or sum(layer.mult_arity) > out_dim:
            raise ValueError(f"mult_arity {layer.mult_arity} does not fit {out_dim} sub-nodes")
        dims.append(out_dim - sum(layer.mult_arity) + n_mult)
        meta += [layer.knots.shape[1], int(layer.per_interval), layer.k, n_basis,
                 0 if base is None else BASE_CODES[layer.base], out_dim, n_mult]
        arity += [int(a) for a in layer.mult_arity]
        alive += tensors  # referenced until the call returns
        ptrs += [None if t is None else t.data_ptr() for t in tensors]
        grads.append(grad)
    if target.shape != (x.shape[0], dims[-1]):
        raise ValueError(f"target must have shape {(x.shape[0], dims[-1])}, got {tuple(target.shape)}")
    loss, reg = torch.empty((), dtype=dtype), torch.empty((), dtype=dtype)
    double = dtype == torch.float64
    fn = lib.kanlab_mse_f64 if double else lib.kanlab_mse_f32
    weights = ((ctypes.c_double if double else ctypes.c_float) * 3)(lamb, lamb_l1, lamb_entropy)
    failed = fn(len(layers), x.shape[0], (ctypes.c_int64 * len(dims))(*dims), (ctypes.c_int64 * len(meta))(*meta),
                (ctypes.c_int64 * max(1, len(arity)))(*arity), (ctypes.c_void_p * len(ptrs))(*ptrs), x.data_ptr(), target.data_ptr(), weights, loss.data_ptr(),
                reg.data_ptr(), *_keep_args(keep, x, layers[0].k))
    if failed:
        raise MemoryError("kanlab's compiled closure could not allocate its work buffers")
    return loss, reg, grads
