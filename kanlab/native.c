/* kanlab's compiled loops; kanlab/native.py compiles this file on first use and documents it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define INLINE static inline __attribute__((always_inline))
/* the dense basis loop also in an AVX2 build, picked at load time where glibc's ifunc can */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__)
#define CLONES __attribute__((target_clones("avx2", "default")))
/* AVX2 at run time: the row loop writes each dense row once, by bit masks (on SSE2 the k + 1
   scattered stores per point after a memset were faster) */
#define WIDE_VECTORS __builtin_cpu_supports("avx2")
#else
#define CLONES
#define WIDE_VECTORS 0
#endif
/* Built with OpenMP (only where torch's own libgomp is in the process: the loops then run on its
   threads), the basis and weight passes split their rows or outputs over `threads` threads
   (torch.get_num_threads()) from PARALLEL_WORK output elements on (a parallel region costs a few
   microseconds); every element is computed by one thread as in the serial loop, so the numbers
   do not depend on the thread count. */
#define PARALLEL_WORK (1 << 16)
#ifdef _OPENMP
#include <omp.h>
#define PRAGMA(x) _Pragma(#x)
#define PARALLEL_IF(threads, work) \
    PRAGMA(omp parallel num_threads(threads) if ((threads) > 1 && (work) >= PARALLEL_WORK))
#define PARALLEL_FOR_IF(threads, work) \
    PRAGMA(omp parallel for num_threads(threads) if ((threads) > 1 && (work) >= PARALLEL_WORK) schedule(static))
#define THREAD_SHARE(N, lo, hi) do { const int64_t t_ = omp_get_thread_num(), n_ = omp_get_num_threads(); \
    lo = (N) * t_ / n_; hi = (N) * (t_ + 1) / n_; } while (0)
#define OPENMP 1
#else
#define PARALLEL_IF(threads, work)
#define PARALLEL_FOR_IF(threads, work)
#define THREAD_SHARE(N, lo, hi) do { lo = 0; hi = (N); } while (0)
#define OPENMP 0
#endif
/* whether this build splits its loops over threads */
int kanlab_openmp(void) { return OPENMP; }
/* the row-wise dense basis loop's reach: uniform pieces, enough inputs for its vector stages */
#define ROWS_FIT(per_interval, I) (!(per_interval) && (I) >= 8)
/* per-interval pieces row-wise (k = 3, S##_adapted_rows): its count costs NK per point and its
   row setup a few I, so it beat the point loop from 16 inputs and up to 34 knots (grid 27), as
   measured; on 8-13 inputs from grid 10, or on 16 at grid 35, the point loop was as fast */
#define ADAPTED_FIT(per_interval, I, NK) ((per_interval) && (I) >= 16 && (NK) <= 34)
#define KERNELS(S, T, F, U)                                                                         \
typedef U S##_bits __attribute__((may_alias));  /* T's bits */                                     \
typedef T S##_v4 __attribute__((vector_size(4 * sizeof(T))));  /* four T side by side */           \
/* the interval j of xv among the knots kn[0 .. NK-1] (searchsorted(right=True) - 1 of the point  \
   clamped to the knots, limited to 0 .. NK-2); *f its position in the interval (times the        \
   interval's inverse width *iw), *inside 1 for kn[0] <= xv < kn[NK-1]. A guess from NB equal    \
   buckets over the knots (tab[q]: the last knot at or below bucket q's start; tab NULL: uniform  \
   knots, bucket q is interval q) is kept only if the stored knots confirm it (kn[j] <= xc <      \
   kn[j + 1]: the last knot <= xc, exactly the search's answer); else, or with NB 0, a branch-    \
   free binary search. */                                                                         \
INLINE int64_t S##_locate(const T* kn, int64_t NK, const T* inv_width, T xv, const int64_t* tab, int64_t NB, \
        T scale, T* f, T* iw, T* inside) {                                                         \
    *inside = (xv >= kn[0] && xv < kn[NK - 1]) ? (T)1 : (T)0;                                     \
    T xc = xv;                                                                                     \
    if (xc < kn[0]) xc = kn[0]; else if (xc > kn[NK - 1]) xc = kn[NK - 1];                         \
    const T pos = NB ? (xc - kn[0]) * scale : (T)-1;  /* scale: NB / (kn[NK - 1] - kn[0]) */      \
    int64_t j = -1;                                                                                \
    if (pos >= 0 && pos < (T)NB) {                                                                 \
        const int64_t q = (int64_t)pos;                                                            \
        int64_t g = tab ? tab[q] : q;                                                              \
        if (g > NK - 2) g = NK - 2;                                                                \
        if (g > 0 && xc < kn[g]) --g;                                                              \
        for (int64_t step = 0; step < 3 && g < NK - 2 && xc >= kn[g + 1]; ++step) ++g;             \
        if (kn[g] <= xc && (g == NK - 2 || xc < kn[g + 1])) j = g;                                 \
    }                                                                                              \
    if (j < 0) {  /* a branch-free binary search */                                                \
        const T* at = kn;                                                                          \
        for (int64_t n = NK; n > 1;) {                                                             \
            const int64_t half = n / 2;                                                            \
            at = (at[half] <= xc) ? at + half : at;                                                \
            n -= half;                                                                             \
        }                                                                                          \
        j = (at - kn) - (*at <= xc ? 0 : 1);                                                       \
        if (j < 0) j = 0;                                                                          \
        if (j > NK - 2) j = NK - 2;                                                                \
    }                                                                                              \
    *iw = inv_width[j];                                                                            \
    *f = (xc - kn[j]) * *iw;                                                                       \
    return j;                                                                                      \
}                                                                                                  \
/* the bucket tables of S##_locate for I inputs' knots (I, NK): NB = 2 (NK - 1) buckets each; NULL  \
   (binary search, or arithmetic on uniform knots) when not per_interval or out of memory; and    \
   each input's scale NB / (last knot - first knot) */                                           \
INLINE int64_t* S##_buckets(const T* knots, int64_t I, int64_t NK, int64_t per_interval, int64_t* NB, T* scale) { \
    *NB = per_interval ? 2 * (NK - 1) : NK - 1;                                                    \
    for (int64_t i = 0; i < I; ++i) scale[i] = (T)*NB / (knots[i * NK + NK - 1] - knots[i * NK]); \
    if (!per_interval) return NULL;                                                                \
    int64_t* tab = (int64_t*)malloc(sizeof(int64_t) * I * *NB);                                    \
    if (!tab) { *NB = 0; return NULL; }                                                            \
    for (int64_t i = 0; i < I; ++i) {                                                              \
        const T* kn = knots + i * NK;                                                              \
        const T width = (kn[NK - 1] - kn[0]) / (T)*NB;                                             \
        for (int64_t q = 0, at = 0; q < *NB; ++q) {                                                \
            const T start = kn[0] + (T)q * width;                                                  \
            while (at + 1 < NK - 1 && kn[at + 1] <= start) ++at;                                   \
            tab[i * *NB + q] = at;                                                                 \
        }                                                                                          \
    }                                                                                              \
    return tab;                                                                                    \
}                                                                                                  \
/* the k + 1 pieces P[d][m] at f by Horner's rule, as the eager path (a NaN f stays NaN):          \
   v[m] the value of B_{j-k+m}, s[m] its slope in f */                                             \
INLINE void S##_horner(const T* P, int64_t k, T f, T* v, T* s) {                                    \
    const int64_t K1 = k + 1;                                                                      \
    for (int64_t m = 0; m < K1; ++m) {                                                             \
        T a = P[k * K1 + m], b = 0;                                                                \
        for (int64_t d = k - 1; d >= 0; --d) a = P[d * K1 + m] + a * f;                           \
        v[m] = a;                                                                                  \
        if (!s) continue;  /* values only */                                                       \
        for (int64_t d = k - 1; d >= 0; --d) b = (T)(d + 1) * P[(d + 1) * K1 + m] + b * f;         \
        s[m] = b;                                                                                  \
    }                                                                                              \
}                                                                                                  \
INLINE void S##_dense_body(const T* x, int64_t B, int64_t I, const T* knots, int64_t NK,          \
        const T* inv_width, const T* pieces, int64_t per_interval, int64_t k, int64_t nb,          \
        int64_t rows, int64_t values, int64_t slopes, T* out) {                                    \
    const int64_t NI = NK - 1, K1 = k + 1, planes = values + slopes;                               \
    T v[k + 1], s[k + 1];                                                                          \
    int64_t NB;                                                                                    \
    T scale[I];                                                                                    \
    int64_t* tab = S##_buckets(knots, I, NK, per_interval, &NB, scale);                            \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        if (values) memset(out + (b * planes * rows) * I, 0, sizeof(T) * nb * I);                  \
        if (slopes) memset(out + ((b * planes + values) * rows) * I, 0, sizeof(T) * nb * I);       \
        for (int64_t i = 0; i < I; ++i) {                                                          \
            T f, iw, inside;                                                                       \
            const int64_t j = S##_locate(knots + i * NK, NK, inv_width + i * NI, x[b * I + i],      \
                                         tab ? tab + i * NB : NULL, NB, scale[i], &f, &iw, &inside); \
            S##_horner(pieces + (per_interval ? (i * NI + j) * K1 * K1 : 0), k, f, v, slopes ? s : NULL); \
            T* vrow = out + (b * planes * rows) * I + i;                                           \
            T* srow = out + ((b * planes + values) * rows) * I + i;                                \
            for (int64_t m = 0; m < K1; ++m) {                                                     \
                const int64_t n = j - k + m;                                                       \
                if (n < 0 || n >= nb) continue;                                                    \
                if (values) vrow[n * I] = v[m] * inside;                                           \
                if (slopes) srow[n * I] = s[m] * (inside * iw);                                    \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    free(tab);                                                                                     \
}                                                                                                  \
/* S##_dense_rows' first guess of the interval of xc (clamped into the knots, lo the first):       \
   floor((xc - lo) scale), 0 for NaN, at most last (NK - 2) */                                     \
INLINE U S##_guess(T xc, T lo, T scale, U last) {                                                  \
    const T pos = (xc - lo) * scale;                                                               \
    const U q = (U)(int32_t)(pos >= 0 ? pos : (T)0);                                               \
    return q < last ? q : last;                                                                    \
}                                                                                                  \
/* whether S##_guess is within one of every point's interval, for each input's knots (uniform      \
   pieces, scale (NK - 1) / (last knot - first)): the guess is monotone in xc (correctly rounded   \
   subtraction and product), so on interval g = [kn[g], kn[g + 1]) it lies between its values at   \
   the two ends, which must be g - 1 .. g + 1 (empty intervals hold no point). */                  \
INLINE int S##_guess_close(const T* knots, int64_t I, int64_t NK, const T* scale) {                \
    const U last = (U)(NK - 2);                                                                    \
    for (int64_t i = 0; i < I; ++i) {                                                              \
        const T* kn = knots + i * NK;                                                              \
        for (int64_t g = 0; g < NK - 1; ++g) {                                                     \
            if (!(kn[g] < kn[g + 1])) continue;                                                    \
            if ((int64_t)S##_guess(kn[g], kn[0], scale[i], last) < g - 1) return 0;                \
            if ((int64_t)S##_guess(nextafter##F(kn[g + 1], -INFINITY), kn[0], scale[i], last) > g + 1) return 0; \
        }                                                                                          \
    }                                                                                              \
    return 1;                                                                                      \
}                                                                                                  \
/* S##_horner for k = 3 over I points at f = FP, in vectorisable loops: the values times IN into   \
   V (4, I), with slopes the slopes times SC into SL (4, I) */                                     \
INLINE void S##_cubic_rows(const T* restrict P, int64_t I, const T* restrict FP, const T* restrict IN, \
        const T* restrict SC, int64_t slopes, T* restrict V, T* restrict SL) {                     \
    for (int64_t m = 0; m < 4; ++m) {                                                              \
        const T p0 = P[m], p1 = P[4 + m], p2 = P[8 + m], p3 = P[12 + m];                           \
        T* restrict v = V + m * I;                                                                 \
        for (int64_t i = 0; i < I; ++i) v[i] = (p0 + (p1 + (p2 + p3 * FP[i]) * FP[i]) * FP[i]) * IN[i]; \
        if (!slopes) continue;                                                                     \
        const T q1 = (T)1 * p1, q2 = (T)2 * p2, q3 = (T)3 * p3;                                    \
        T* restrict s = SL + m * I;                                                                \
        for (int64_t i = 0; i < I; ++i) s[i] = (q1 + (q2 + (q3 + (T)0 * FP[i]) * FP[i]) * FP[i]) * SC[i]; \
    }                                                                                              \
}                                                                                                  \
/* one plane of a row-wise loop's output for one row, o (nb, I): row n holds piece n - j + k of V  \
   (k + 1, I) at the inputs whose interval Q[i] = j has it, else zero. With AVX2 (wide) and k = 3  \
   each row is written once, element i taken from the four pieces by bit masks (their exact bits); \
   else zeros, then the k + 1 stores. */                                                           \
INLINE void S##_rows_store(const T* restrict V, const U* restrict Q, int64_t I, int64_t k, int64_t nb, \
        int wide, T* restrict o) {                                                                 \
    if (k == 3 && wide) {                                                                          \
        const S##_bits* restrict sb = (const S##_bits*)V;                                          \
        for (int64_t n = 0; n < nb; ++n) {                                                         \
            S##_bits* restrict on = (S##_bits*)(o + n * I);                                        \
            for (int64_t i = 0; i < I; ++i) {                                                      \
                const U m = (U)n + 3 - Q[i];                                                       \
                on[i] = (sb[i] & -(U)(m == 0)) | (sb[I + i] & -(U)(m == 1))                        \
                      | (sb[2 * I + i] & -(U)(m == 2)) | (sb[3 * I + i] & -(U)(m == 3));           \
            }                                                                                      \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    memset(o, 0, sizeof(T) * nb * I);                                                              \
    for (int64_t i = 0; i < I; ++i) {                                                              \
        const int64_t j = (int64_t)Q[i];                                                           \
        _Pragma("GCC unroll 8")                                                                    \
        for (int64_t m = 0; m <= k; ++m) {                                                         \
            const int64_t n = j - k + m;                                                           \
            T sink;                                                                                \
            *(((n >= 0) & (n < nb)) ? o + n * I + i : &sink) = V[m * I + i];                       \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* S##_dense_body for uniform pieces P (k + 1, k + 1) when S##_guess_close: the same intervals     \
   (the guess corrected by one against the stored knots), the same operations in the same order,   \
   so the same numbers; but one stage at a time over a row's I inputs, each a plain loop the       \
   compiler vectorises but for the interval's loads and the stores of the k + 1 values. lo, hi,    \
   scale: each input's first and last knot and the guess's scale. Scratch: W (4 + 2 (k + 1), I),   \
   Q (I). */                                                                                       \
INLINE void S##_dense_rows(const T* restrict x, int64_t B, int64_t I, int64_t NK, const T* restrict knots, \
        const T* restrict inv_width, const T* restrict lo, const T* restrict hi, const T* restrict scale, \
        const T* restrict P, int64_t k, int64_t nb, int64_t rows, int64_t values, int64_t slopes,  \
        T* restrict W, U* restrict Q, T* restrict out) {                                           \
    const int64_t K1 = k + 1, planes = values + slopes;                                            \
    T *restrict XC = W, *restrict IN = W + I, *restrict FP = W + 2 * I, *restrict KQ = W + 3 * I;  \
    T *restrict V = W + 4 * I, *restrict SL = V + K1 * I;                                          \
    const U last = (U)(NK - 2);                                                                    \
    const int wide = WIDE_VECTORS;                                                                 \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        const T* restrict xr = x + b * I;                                                          \
        for (int64_t i = 0; i < I; ++i) {  /* inside, clamp (NaN stays), guess; loads first */     \
            const T xv = xr[i], a = lo[i], z = hi[i];                                              \
            IN[i] = ((xv >= a) & (xv < z)) ? (T)1 : (T)0;                                          \
            T xc = xv < a ? a : xv;                                                                \
            xc = xc > z ? z : xc;                                                                  \
            XC[i] = xc;                                                                            \
            Q[i] = S##_guess(xc, a, scale[i], last);                                               \
        }                                                                                          \
        for (int64_t i = 0; i < I; ++i) {  /* the interval (the last knot at or below xc), its knot */ \
            const T* kn = knots + i * NK;      /* and inverse width: loads, no branch */           \
            const T xc = XC[i];                                                                    \
            const U q = Q[i], up = (xc >= kn[q + 1]) & (q < last), down = (xc < kn[q]) & (q > 0);  \
            const U j = q + up - down;                                                             \
            Q[i] = j;                                                                              \
            KQ[i] = kn[j];                                                                         \
            FP[i] = inv_width[i * (NK - 1) + j];                                                   \
        }                                                                                          \
        for (int64_t i = 0; i < I; ++i) {  /* f; XC becomes the slopes' factor inside * iw */      \
            const T iw = FP[i];                                                                    \
            FP[i] = (XC[i] - KQ[i]) * iw;                                                          \
            XC[i] = IN[i] * iw;                                                                    \
        }                                                                                          \
        if (k == 3) S##_cubic_rows(P, I, FP, IN, XC, slopes, V, SL);                               \
        else for (int64_t i = 0; i < I; ++i) {  /* Horner's rule, S##_horner */                    \
            T v[k + 1], s[k + 1];                                                                  \
            S##_horner(P, k, FP[i], v, slopes ? s : NULL);                                         \
            for (int64_t m = 0; m < K1; ++m) {                                                     \
                V[m * I + i] = v[m] * IN[i];                                                       \
                if (slopes) SL[m * I + i] = s[m] * XC[i];                                          \
            }                                                                                      \
        }                                                                                          \
        for (int64_t pl = 0; pl < planes; ++pl)  /* rows j - k .. j that exist; others zero */     \
            S##_rows_store((values && pl == 0) ? V : SL, Q, I, k, nb, wide, out + (b * planes + pl) * rows * I); \
    }                                                                                              \
}                                                                                                  \
/* S##_dense_body for k = 3 on per-interval pieces P (I (NK - 1), 16), row-wise: a point's interval \
   is the count of its input's inner knots kn[1 .. NK - 2] at or below the clamped point (the last \
   knot at or below it, limited to 0 .. NK - 2: S##_locate's answer), counted over a row's inputs  \
   knot by knot; then Horner's rule on the interval's pieces, the four pieces side by side in a    \
   point's loop, in S##_horner's order: the point loop's numbers. KT (NK, I): the knots, input-    \
   minor. Scratch: W (18, I), Q (I). */                                                            \
INLINE void S##_adapted_rows(const T* restrict x, int64_t B, int64_t I, int64_t NK, const T* restrict knots, \
        const T* restrict inv_width, const T* restrict KT, const T* restrict P, int64_t nb, int64_t rows, \
        int64_t values, int64_t slopes, T* restrict W, U* restrict Q, T* restrict out) {           \
    const int64_t NI = NK - 1, planes = values + slopes;                                           \
    T *restrict XC = W, *restrict IN = W + I, *restrict V = W + 2 * I, *restrict SL = W + 6 * I;   \
    T *restrict VT = W + 10 * I, *restrict ST = W + 14 * I;                                        \
    const T *restrict lo = KT, *restrict hi = KT + NI * I;                                         \
    const int wide = WIDE_VECTORS;                                                                 \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        const T* restrict xr = x + b * I;                                                          \
        for (int64_t i = 0; i < I; ++i) {  /* inside, clamp (NaN stays), interval 0 */             \
            const T xv = xr[i], a = lo[i], z = hi[i];                                              \
            IN[i] = ((xv >= a) & (xv < z)) ? (T)1 : (T)0;                                          \
            T xc = xv < a ? a : xv;                                                                \
            xc = xc > z ? z : xc;                                                                  \
            XC[i] = xc;                                                                            \
            Q[i] = 0;                                                                              \
        }                                                                                          \
        for (int64_t g = 1; g < NI; ++g) {  /* knot g at or below xc: interval g at least (NaN: no) */ \
            const T* restrict kg = KT + g * I;                                                     \
            for (int64_t i = 0; i < I; ++i) Q[i] += (U)(XC[i] >= kg[i]);                           \
        }                                                                                          \
        for (int64_t i = 0; i < I; ++i) {  /* Horner's rule on the point's pieces P[d][m], m a lane */ \
            const int64_t j = (int64_t)Q[i];                                                       \
            const T* p = P + (i * NI + j) * 16;                                                    \
            const T iw = inv_width[i * NI + j], in = IN[i], sc = in * iw;                          \
            const T f = (XC[i] - knots[i * NK + j]) * iw;                                          \
            S##_v4 c0, c1, c2, c3;                                                                 \
            memcpy(&c0, p, sizeof c0);                                                             \
            memcpy(&c1, p + 4, sizeof c1);                                                         \
            memcpy(&c2, p + 8, sizeof c2);                                                         \
            memcpy(&c3, p + 12, sizeof c3);                                                        \
            const S##_v4 v = (c0 + (c1 + (c2 + c3 * f) * f) * f) * in;                             \
            memcpy(VT + 4 * i, &v, sizeof v);                                                      \
            if (!slopes) continue;                                                                 \
            const S##_v4 s = ((T)1 * c1 + ((T)2 * c2 + ((T)3 * c3 + (T)0 * f) * f) * f) * sc;      \
            memcpy(ST + 4 * i, &s, sizeof s);                                                      \
        }                                                                                          \
        for (int64_t m = 0; m < 4; ++m)  /* piece-major for the stores */                          \
            for (int64_t i = 0; i < I; ++i) {                                                      \
                V[m * I + i] = VT[4 * i + m];                                                      \
                if (slopes) SL[m * I + i] = ST[4 * i + m];                                         \
            }                                                                                      \
        for (int64_t pl = 0; pl < planes; ++pl)                                                    \
            S##_rows_store((values && pl == 0) ? V : SL, Q, I, 3, nb, wide, out + (b * planes + pl) * rows * I); \
    }                                                                                              \
}                                                                                                  \
/* each input's first and last knot and S##_guess's scale into lo, hi, scale (I); whether          \
   S##_guess_close (when check) */                                                                 \
INLINE int S##_rows_setup(const T* knots, int64_t I, int64_t NK, T* lo, T* hi, T* scale, int check) { \
    for (int64_t i = 0; i < I; ++i) {                                                              \
        lo[i] = knots[i * NK];                                                                     \
        hi[i] = knots[i * NK + NK - 1];                                                            \
        scale[i] = (T)(NK - 1) / (hi[i] - lo[i]);                                                  \
    }                                                                                              \
    return !check || S##_guess_close(knots, I, NK, scale);                                         \
}                                                                                                  \
/* whether kanlab_dense_pair_##S takes a row-wise loop on these knots (plans cache it):            \
   S##_adapted_rows on per-interval pieces (when k = 3), S##_dense_rows on uniform ones */         \
int kanlab_rows_loop_##S(const T* knots, int64_t I, int64_t NK, int64_t per_interval) {            \
    if (ADAPTED_FIT(per_interval, I, NK)) return 1;                                                \
    if (!ROWS_FIT(per_interval, I)) return 0;                                                      \
    T* W = (T*)malloc(sizeof(T) * 3 * I);                                                          \
    const int close = W && S##_rows_setup(knots, I, NK, W, W + I, W + 2 * I, 1);                   \
    free(W);                                                                                       \
    return close;                                                                                  \
}                                                                                                  \
/* the dense basis and slopes, basis-major (batch, planes, rows, in); the cubic case with k a      \
   constant, so that its loops unroll; uniform pieces over at least 8 inputs by S##_dense_rows     \
   when S##_guess_close (row_loop -1: test it here; 1 or 0: the caller's cached                    \
   kanlab_rows_loop_##S), per-interval ones by S##_adapted_rows given their knots input-minor      \
   KT (NK, I; else NULL), else S##_dense_body */                                                   \
CLONES static void S##_dense_block(const T* x, int64_t B, int64_t I, const T* knots, int64_t NK,   \
        const T* inv_width, const T* pieces, int64_t per_interval, int64_t k, int64_t nb,          \
        int64_t rows, int64_t values, int64_t slopes, int64_t row_loop, const T* KT, T* out) {     \
    if (ROWS_FIT(per_interval, I) && row_loop != 0) {                                              \
        T* W = (T*)malloc(sizeof(T) * I * (7 + 2 * (k + 1)));                                      \
        U* Q = (U*)malloc(sizeof(U) * I);                                                          \
        T *scale = W, *lo = W + I, *hi = W + 2 * I, *scratch = W + 3 * I;                          \
        const int close = W && Q && S##_rows_setup(knots, I, NK, lo, hi, scale, row_loop < 0);     \
        if (close && k == 3) S##_dense_rows(x, B, I, NK, knots, inv_width, lo, hi, scale, pieces, 3, nb, rows, values, slopes, scratch, Q, out); \
        else if (close) S##_dense_rows(x, B, I, NK, knots, inv_width, lo, hi, scale, pieces, k, nb, rows, values, slopes, scratch, Q, out); \
        free(W);                                                                                   \
        free(Q);                                                                                   \
        if (close) return;                                                                         \
    }                                                                                              \
    if (KT) {                                                                                      \
        T* W = (T*)malloc(sizeof(T) * I * 18);                                                     \
        U* Q = (U*)malloc(sizeof(U) * I);                                                          \
        const int done = W && Q;                                                                   \
        if (done) S##_adapted_rows(x, B, I, NK, knots, inv_width, KT, pieces, nb, rows, values, slopes, W, Q, out); \
        free(W);                                                                                   \
        free(Q);                                                                                   \
        if (done) return;                                                                          \
    }                                                                                              \
    if (k == 3) S##_dense_body(x, B, I, knots, NK, inv_width, pieces, per_interval, 3, nb, rows, values, slopes, out); \
    else S##_dense_body(x, B, I, knots, NK, inv_width, pieces, per_interval, k, nb, rows, values, slopes, out); \
}                                                                                                  \
/* S##_dense_block, the rows split over up to `threads` threads (the adapted row loop's knots      \
   transposed once for all of them) */                                                             \
void kanlab_dense_pair_##S(const T* x, int64_t B, int64_t I, const T* knots, int64_t NK,           \
        const T* inv_width, const T* pieces, int64_t per_interval, int64_t k, int64_t nb,          \
        int64_t rows, int64_t values, int64_t slopes, int64_t row_loop, int64_t threads, T* out) { \
    const int64_t step = (values + slopes) * rows * I;  /* one row's output */                     \
    const int adapted = ADAPTED_FIT(per_interval, I, NK) && k == 3 && row_loop != 0;               \
    T* KT = adapted ? (T*)malloc(sizeof(T) * NK * I) : NULL;  /* NULL: the point loop */           \
    for (int64_t i = 0; KT && i < I; ++i)                                                          \
        for (int64_t g = 0; g < NK; ++g) KT[g * I + i] = knots[i * NK + g];                        \
    PARALLEL_IF((int)threads, B > 1 ? B * step : 0)                                                \
    {                                                                                              \
        int64_t b0, b1;                                                                            \
        THREAD_SHARE(B, b0, b1);                                                                   \
        if (b1 > b0) S##_dense_block(x + b0 * I, b1 - b0, I, knots, NK, inv_width, pieces, per_interval, k, nb, \
                                     rows, values, slopes, row_loop, KT, out + b0 * step);         \
    }                                                                                              \
    free(KT);                                                                                      \
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
    int64_t NB = 0;                                                                                \
    T scale[I];                                                                                    \
    int64_t* tab = kept ? NULL : S##_buckets(knots, I, NK, per_interval, &NB, scale);              \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        for (int64_t i = 0; !kept && i < I; ++i) {  /* kept: J .. bs hold this x's values */      \
            const int64_t p = b * I + i;                                                           \
            const T xv = x[p];                                                                     \
            T f, iw, inside;                                                                       \
            const int64_t j = S##_locate(knots + i * NK, NK, inv_width + i * NI, xv, tab ? tab + i * NB : NULL, NB, \
                                         scale[i], &f, &iw, &inside);                              \
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
    free(tab);                                                                                     \
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
   memory. backward 0: the loss and R only (no gradients written). */                              \
int kanlab_mse_##S(int64_t L, int64_t B, const int64_t* dims, const int64_t* meta, const int64_t* arity, \
        void* const* ptrs, const T* x, const T* target, const T* reg, T* loss, T* reg_out,          \
        int64_t* keep_J, T* keep_local, int64_t kept, int64_t backward) {                         \
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
    if (!backward) { free(buf); free(J_all); return 0; }                                           \
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
}                                                                                                  \
/* The exact B-spline basis by de Boor's triangular scheme, as kanlab.splines.bspline_basis_local  \
   computes it (the same operations in the same order): x (B, I), the knots padded by k on each   \
   side (I, NP), out (B, I, nb) written whole. Returns 1 (nothing written past the first NaN) when \
   an x is NaN, whose span the caller's searchsorted decides. */                                  \
int kanlab_deboor_##S(const T* x, int64_t B, int64_t I, const T* padded, int64_t NP, int64_t k,     \
        int64_t nb, T* out) {                                                                      \
    const int64_t NK = NP - 2 * k;  /* the unpadded knots */                                        \
    T left[k + 1], right[k + 1], v[k + 2], temp[k + 1];                                            \
    memset(out, 0, sizeof(T) * B * I * nb);                                                        \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        for (int64_t i = 0; i < I; ++i) {                                                          \
            const T xv = x[b * I + i];                                                             \
            if (xv != xv) return 1;                                                                \
            const T* kn = padded + i * NP;                                                         \
            int64_t lo = 0, hi = NP;  /* the first knot > xv (searchsorted, right=True) */          \
            while (lo < hi) { const int64_t mid = (lo + hi) / 2; if (kn[mid] <= xv) lo = mid + 1; else hi = mid; } \
            int64_t span = lo - 1;                                                                 \
            const T inside = (span >= k && span <= NK + k - 2) ? (T)1 : (T)0;                      \
            if (span < k) span = k;                                                                \
            if (span > NK + k - 2) span = NK + k - 2;                                              \
            T xe = xv > kn[k] ? xv : kn[k];  /* torch.maximum, then torch.minimum */               \
            xe = xe < kn[NK + k - 1] ? xe : kn[NK + k - 1];                                        \
            for (int64_t q = 0; q < k; ++q) { left[q] = xe - kn[span - q]; right[q] = kn[span + 1 + q] - xe; } \
            v[0] = 1;                                                                              \
            for (int64_t p = 1; p <= k; ++p) {                                                     \
                for (int64_t m = 0; m < p; ++m) temp[m] = v[m] / (right[m] + left[p - 1 - m]);      \
                v[0] = right[0] * temp[0] + (T)0;                                                  \
                for (int64_t m = 1; m < p; ++m) v[m] = right[m] * temp[m] + left[p - m] * temp[m - 1]; \
                v[p] = (T)0 + left[0] * temp[p - 1];                                               \
            }                                                                                      \
            for (int64_t m = 0; m <= k; ++m) {                                                     \
                const int64_t n = span - 2 * k + m;                                                \
                if (n >= 0 && n < nb) out[(b * I + i) * nb + n] = v[m] * inside;                   \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    return 0;                                                                                      \
}                                                                                                  \
/* out (n_rows, O) = sum over r of vals[r] gy[r / P] placed at row rows[r] (r < B P): index_add of \
   the products, in index_add's order, without the products tensor */                             \
void kanlab_scatter_products_##S(const int64_t* rows, const T* vals, const T* gy, int64_t B, int64_t P, \
        int64_t O, int64_t n_rows, T* out) {                                                       \
    memset(out, 0, sizeof(T) * n_rows * O);                                                        \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        const T* g = gy + b * O;                                                                   \
        for (int64_t p = 0; p < P; ++p) {                                                          \
            const T v = vals[b * P + p];                                                           \
            T* row = out + rows[b * P + p] * O;                                                    \
            for (int64_t o = 0; o < O; ++o) row[o] += v * g[o];                                    \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
/* a layer's weight basis-major, W (O, R, I) with W[o][n][i] = coef[o][i][n] s[o][i] (n < N) and,  \
   when wb, W[o][N][i] = wb[o][i] (R = N + 1; else R = N): kanlab.kernels.basis_major_weight on    \
   the CPU, one pass by blocks of 16 inputs (torch's product, transpose and cat: three), the       \
   outputs split over up to `threads` threads */                                                   \
void kanlab_basis_major_##S(const T* restrict coef, const T* restrict s, const T* restrict wb, int64_t O, \
        int64_t I, int64_t N, int64_t threads, T* restrict W) {                                    \
    const int64_t R = N + (wb != NULL);                                                            \
    PARALLEL_FOR_IF((int)threads, O * R * I)                                                       \
    for (int64_t o = 0; o < O; ++o) {                                                              \
        const T* c = coef + o * I * N;                                                             \
        const T* so = s + o * I;                                                                   \
        T* w = W + o * R * I;                                                                      \
        for (int64_t i0 = 0; i0 < I; i0 += 16) {                                                   \
            const int64_t i1 = i0 + 16 < I ? i0 + 16 : I;                                          \
            for (int64_t n = 0; n < N; ++n)                                                        \
                for (int64_t i = i0; i < i1; ++i) w[n * I + i] = c[i * N + n] * so[i];             \
        }                                                                                          \
        if (wb) memcpy(w + N * I, wb + o * I, sizeof(T) * I);                                      \
    }                                                                                              \
}                                                                                                  \
/* the gradients of kanlab_basis_major's coef and s from G (O, R, I), W's gradient: gcoef (O, I, N) \
   = G[o][n][i] s[o][i], gs (O, I) = sum over n of G[o][n][i] coef[o][i][n] (in order of n); the   \
   outputs split over up to `threads` threads */                                                   \
void kanlab_basis_major_grad_##S(const T* restrict G, const T* restrict coef, const T* restrict s, \
        int64_t O, int64_t I, int64_t N, int64_t R, int64_t threads, T* restrict gcoef, T* restrict gs) { \
    PARALLEL_FOR_IF((int)threads, O * R * I)                                                       \
    for (int64_t o = 0; o < O; ++o) {                                                              \
        const T* g = G + o * R * I;                                                                \
        for (int64_t i = 0; i < I; ++i) {                                                          \
            const int64_t e = o * I + i;                                                           \
            T acc = 0;                                                                             \
            for (int64_t n = 0; n < N; ++n) {                                                      \
                const T gv = g[n * I + i];                                                         \
                gcoef[e * N + n] = gv * s[e];                                                      \
                acc += gv * coef[e * N + n];                                                       \
            }                                                                                      \
            gs[e] = acc;                                                                           \
        }                                                                                          \
    }                                                                                              \
}

KERNELS(f64, double, , uint64_t)
KERNELS(f32, float, f, uint32_t)  /* expf, logf, fabsf: float32 throughout, as the eager path */

/* ---- L-BFGS over a kanlab_mse network's parameters: the two-loop recursion with torch's
   strong-Wolfe line search (torch.optim.lbfgs._strong_wolfe, the same steps and constants), in
   double precision, the parameters written in their own type for each evaluation. */
typedef struct {
    int64_t L, B; const int64_t *dims, *meta, *arity; void* const* ptrs; const void *x, *target, *reg;
    void *loss, *reg_out; int64_t* keep_J; void* keep_local; int64_t kept;
    int64_t nseg; void* const* seg_param; void* const* seg_grad; const int64_t* seg_n;
    const double *x0, *d; double penalty; int64_t dbl;  /* dbl: the parameters are float64 */
} Problem;
#define EVALUATE(S, T)                                                                            \
/* the parameters set to x0 + t d, in their own type */                                           \
static void S##_place(Problem* P, double t) {                                                     \
    for (int64_t s = 0, off = 0; s < P->nseg; off += P->seg_n[s], ++s) {                           \
        T* p = (T*)P->seg_param[s];                                                                \
        for (int64_t i = 0; i < P->seg_n[s]; ++i) p[i] = (T)(P->x0[off + i] + t * P->d[off + i]);  \
    }                                                                                              \
}                                                                                                  \
/* x0 (n): the parameters now */                                                                  \
static void S##_read(Problem* P, double* x0) {                                                    \
    for (int64_t s = 0, off = 0; s < P->nseg; off += P->seg_n[s], ++s) {                           \
        const T* p = (const T*)P->seg_param[s];                                                    \
        for (int64_t i = 0; i < P->seg_n[s]; ++i) x0[off + i] = (double)p[i];                      \
    }                                                                                              \
}                                                                                                  \
/* the objective and its gradient g at x0 + t d (the parameters stay there: the step places them  \
   at the accepted point afterwards); a non-finite value or gradient gives the penalty and a zero \
   gradient (the search backs off) */                                                             \
static int S##_evaluate(Problem* P, double t, double* f, double* g) {                             \
    S##_place(P, t);                                                                               \
    if (kanlab_mse_##S(P->L, P->B, P->dims, P->meta, P->arity, P->ptrs, (const T*)P->x,             \
                       (const T*)P->target, (const T*)P->reg, (T*)P->loss, (T*)P->reg_out,          \
                       P->keep_J, (T*)P->keep_local, P->kept, 1)) return 1;                        \
    const T value = *(T*)P->loss + ((const T*)P->reg)[0] * *(T*)P->reg_out;                        \
    int finite = isfinite((double)value);                                                          \
    int64_t off = 0;                                                                               \
    for (int64_t s = 0; s < P->nseg; off += P->seg_n[s], ++s) {                                    \
        const T* gs = (const T*)P->seg_grad[s];                                                    \
        for (int64_t i = 0; i < P->seg_n[s]; ++i) {                                                \
            g[off + i] = gs ? (double)gs[i] : 0.0;                                                 \
            finite &= isfinite(g[off + i]);                                                        \
        }                                                                                          \
    }                                                                                              \
    *f = finite ? (double)value : P->penalty;                                                      \
    if (!finite) memset(g, 0, sizeof(double) * off);                                               \
    return 0;                                                                                      \
}
EVALUATE(f64, double)
EVALUATE(f32, float)

static int evaluate(Problem* P, double t, double* f, double* g) {
    return P->dbl ? f64_evaluate(P, t, f, g) : f32_evaluate(P, t, f, g);
}
static void place(Problem* P, double t) { if (P->dbl) f64_place(P, t); else f32_place(P, t); }
static void read_params(Problem* P, double* x0) { if (P->dbl) f64_read(P, x0); else f32_read(P, x0); }
static double dot(const double* a, const double* b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}
static double abs_max(const double* a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}
/* Python's max(a, b) and min(a, b) (the first argument unless the second is strictly beyond it) */
static double py_max(double a, double b) { return b > a ? b : a; }
static double py_min(double a, double b) { return b < a ? b : a; }
/* torch's _cubic_interpolate: the minimiser of the cubic through (x1, f1, g1), (x2, f2, g2) within
   [lo, hi] (bounded) or between x1 and x2 */
static double cubic(double x1, double f1, double g1, double x2, double f2, double g2, int bounded, double lo, double hi) {
    const double xmin = bounded ? lo : (x1 <= x2 ? x1 : x2), xmax = bounded ? hi : (x1 <= x2 ? x2 : x1);
    const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2), d2_square = d1 * d1 - g1 * g2;
    if (!(d2_square >= 0)) return (xmin + xmax) / 2.0;
    const double d2 = sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, xmin), xmax);
}
/* torch's _strong_wolfe (c1 1e-4, c2 0.9, tolerance_change 1e-9, 25 evaluations) from step *t along
   d at loss f, gradient g (n), slope gtd: the accepted step, its loss and gradient (g_out);
   work: 4 n. Returns 1 when an evaluation could not allocate. */
static int strong_wolfe(Problem* P, int64_t n, const double* d, double* t_io, double f, const double* g, double gtd,
                        double* f_out, double* g_out, int64_t* evals, double* work) {
    const double c1 = 1e-4, c2 = 0.9, tolerance_change = 1e-9;
    const int64_t max_ls = 25;
    double *g_new = work, *g_prev = work + n, *bg[2] = {work + 2 * n, work + 3 * n};
    double t = *t_io, f_new, br[2] = {0, 0}, bf[2] = {0, 0}, bgtd[2] = {0, 0};
    const double d_norm = abs_max(d, n);
    if (evaluate(P, t, &f_new, g_new)) return 1;
    int64_t ls_evals = 1, ls_iter = 0, done = 0;
    double gtd_new = dot(g_new, d, n), t_prev = 0, f_prev = f, gtd_prev = gtd;
    memcpy(g_prev, g, sizeof(double) * n);
    while (ls_iter < max_ls) {
        const int64_t armijo_fails = f_new > f + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev);
        if (!armijo_fails && fabs(gtd_new) <= -c2 * gtd) {  /* the strong Wolfe conditions hold */
            br[0] = br[1] = t; bf[0] = bf[1] = f_new; memcpy(bg[0], g_new, sizeof(double) * n); done = 1;
            break;
        }
        if (armijo_fails || gtd_new >= 0) {  /* a bracket [t_prev, t] */
            br[0] = t_prev; br[1] = t; bf[0] = f_prev; bf[1] = f_new; bgtd[0] = gtd_prev; bgtd[1] = gtd_new;
            memcpy(bg[0], g_prev, sizeof(double) * n); memcpy(bg[1], g_new, sizeof(double) * n);
            break;
        }
        const double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, tmp = t;
        t = cubic(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, 1, min_step, max_step);
        t_prev = tmp; f_prev = f_new; gtd_prev = gtd_new;
        memcpy(g_prev, g_new, sizeof(double) * n);
        if (evaluate(P, t, &f_new, g_new)) return 1;
        ls_evals++; ls_iter++;
        gtd_new = dot(g_new, d, n);
    }
    if (ls_iter == max_ls) {
        br[0] = 0; br[1] = t; bf[0] = f; bf[1] = f_new;
        memcpy(bg[0], g, sizeof(double) * n); memcpy(bg[1], g_new, sizeof(double) * n);
    }
    int64_t low = bf[0] <= bf[1] ? 0 : 1, high = 1 - low, insuf_progress = 0;
    while (!done && ls_iter < max_ls) {
        if (fabs(br[1] - br[0]) * d_norm < tolerance_change) break;
        t = cubic(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], 0, 0, 0);
        const double b_max = py_max(br[0], br[1]), b_min = py_min(br[0], br[1]), eps = 0.1 * (b_max - b_min);
        if (py_min(b_max - t, t - b_min) < eps) {
            if (insuf_progress || t >= b_max || t <= b_min) {
                t = fabs(t - b_max) < fabs(t - b_min) ? b_max - eps : b_min + eps;
                insuf_progress = 0;
            } else insuf_progress = 1;
        } else insuf_progress = 0;
        if (evaluate(P, t, &f_new, g_new)) return 1;
        ls_evals++; ls_iter++;
        gtd_new = dot(g_new, d, n);
        if (f_new > f + c1 * t * gtd || f_new >= bf[low]) {
            br[high] = t; bf[high] = f_new; bgtd[high] = gtd_new;
            memcpy(bg[high], g_new, sizeof(double) * n);
            low = bf[0] <= bf[1] ? 0 : 1; high = 1 - low;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd) done = 1;
            else if (gtd_new * (br[high] - br[low]) >= 0) {
                br[high] = br[low]; bf[high] = bf[low]; bgtd[high] = bgtd[low];
                memcpy(bg[high], bg[low], sizeof(double) * n);
            }
            br[low] = t; bf[low] = f_new; bgtd[low] = gtd_new;
            memcpy(bg[low], g_new, sizeof(double) * n);
        }
    }
    *t_io = br[low]; *f_out = bf[low];
    memcpy(g_out, bg[low], sizeof(double) * n);
    *evals += ls_evals;
    return 0;
}
/* One step of kanlab.optim.LBFGS (its Python loop after the first evaluation, which the caller
   made: loss in num[0], its gradient in grad) on the network of kanlab_mse (its arguments as
   there). The parameters are nseg segments (seg_param, seg_n; seg_grad: kanlab_mse's gradient
   buffer of each, NULL for a parameter the network does not use), n values in all. State (double,
   kept across steps): d, prev_grad (n), the curvature pairs ys, ss (history x n, a ring) and rhos
   (history); st = [iterations so far, pairs, oldest pair, has d and prev_grad]; num = [loss, t,
   h_diag, lr, tolerance_grad, tolerance_change, tolerance_ys, penalty]; lim = [max_iter, max_eval,
   history]. On return grad holds the last accepted gradient, num[0..2] the loss, t and h_diag,
   *evals this step's evaluations (the first included); the loss and reg outputs hold the last
   evaluation's values and the gradient buffers its gradient. Returns 0, or 1 when out of memory. */
int kanlab_lbfgs(int64_t dbl, int64_t L, int64_t B, const int64_t* dims, const int64_t* meta, const int64_t* arity,
        void* const* ptrs, const void* x, const void* target, const void* reg, void* loss_out, void* reg_out,
        int64_t* keep_J, void* keep_local, int64_t nseg, void* const* seg_param, void* const* seg_grad,
        const int64_t* seg_n, int64_t n, double* grad, double* d, double* prev_grad, double* ys, double* ss,
        double* rhos, int64_t* st, double* num, const int64_t* lim, int64_t* evals) {
    Problem P = {L, B, dims, meta, arity, ptrs, x, target, reg, loss_out, reg_out, keep_J, keep_local,
                 keep_J != NULL, nseg, seg_param, seg_grad, seg_n, NULL, NULL, num[7], dbl};
    double *work = (double*)malloc(sizeof(double) * 7 * (n > 0 ? n : 1));
    if (!work) return 1;
    double *x0 = work + 4 * n, *y = work + 5 * n, *s = work + 6 * n, alphas[lim[2] > 0 ? lim[2] : 1];
    double loss = num[0], t = num[1], h_diag = num[2];
    const double lr = num[3], tol_grad = num[4], tol_change = num[5], tol_ys = num[6];
    const int64_t max_iter = lim[0], max_eval = lim[1], history = lim[2];
    int64_t n_iter = 0, failed = 0;
    *evals = 1;
    P.x0 = x0; P.d = d;
    while (n_iter < max_iter) {
        n_iter++; st[0]++;
        if (st[0] == 1 || !st[3]) {
            for (int64_t i = 0; i < n; ++i) d[i] = -grad[i];
            st[1] = st[2] = 0; h_diag = 1.0;
        } else {
            for (int64_t i = 0; i < n; ++i) { y[i] = grad[i] - prev_grad[i]; s[i] = d[i] * t; }
            const double yts = dot(y, s, n);
            if (yts > tol_ys) {
                int64_t slot;
                if (st[1] == history) { slot = st[2]; st[2] = (st[2] + 1) % history; }
                else slot = (st[2] + st[1]++) % history;
                memcpy(ys + slot * n, y, sizeof(double) * n); memcpy(ss + slot * n, s, sizeof(double) * n);
                rhos[slot] = 1.0 / yts;
                const double yy = dot(y, y, n);
                if (yy > 0) h_diag = yts / yy;
            }
            double* q = d;  /* the two-loop recursion, newest pair first, in place in d */
            for (int64_t i = 0; i < n; ++i) q[i] = -grad[i];
            for (int64_t j = st[1] - 1; j >= 0; --j) {
                const int64_t slot = (st[2] + j) % history;
                alphas[j] = dot(ss + slot * n, q, n) * rhos[slot];
                for (int64_t i = 0; i < n; ++i) q[i] += ys[slot * n + i] * -alphas[j];
            }
            for (int64_t i = 0; i < n; ++i) d[i] = q[i] * h_diag;
            for (int64_t j = 0; j < st[1]; ++j) {
                const int64_t slot = (st[2] + j) % history;
                const double beta = dot(ys + slot * n, d, n) * rhos[slot];
                for (int64_t i = 0; i < n; ++i) d[i] += ss[slot * n + i] * (alphas[j] - beta);
            }
        }
        memcpy(prev_grad, grad, sizeof(double) * n);
        st[3] = 1;
        const double prev_loss = loss;
        if (st[0] == 1) {
            double total = 0;
            for (int64_t i = 0; i < n; ++i) total += fabs(grad[i]);
            t = (1.0 / total < 1.0 ? 1.0 / total : 1.0) * lr;
        } else t = lr;
        const double gtd = dot(grad, d, n);
        if (gtd > -tol_change) break;
        read_params(&P, x0);
        if ((failed = strong_wolfe(&P, n, d, &t, loss, grad, gtd, &loss, grad, evals, work))) {
            place(&P, 0.0);  /* back where the iteration started */
            break;
        }
        place(&P, t);
        if (*evals >= max_eval || abs_max(grad, n) <= tol_grad) break;
        if (abs_max(d, n) * fabs(t) <= tol_change || fabs(loss - prev_loss) < tol_change) break;
    }
    num[0] = loss; num[1] = t; num[2] = h_diag;
    free(work);
    return failed;
}
