/* kanlab's compiled loops; kanlab/native.py compiles this file on first use and documents it. */
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
