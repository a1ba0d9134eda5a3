// GRU forward and backward, both reset variants (see gru.cuh). Per step, reset_before: two cuBLAS
// GEMMs (z and r first, then (r * h) Whn, which must wait for r) and two fused kernels; reset_after:
// one GEMM for all three gates and one fused kernel.
#include "pyrnn_cuda/activations.cuh"
#include "pyrnn_cuda/check.cuh"
#include "pyrnn_cuda/gru.cuh"
#include "pyrnn_cuda/launch.cuh"

namespace pyrnn_cuda {

namespace {

template <typename T>
__device__ __forceinline__ T at(const T* p, idx i) {  // p[i], or 0 for a missing bias or state
  return p ? p[i] : T(0);
}

// Every kernel: one step, one thread per (n, j). a (N rows, row stride lda, 3H wide) this step's
// gate pre-activations [z,r,n] (x_t Wx plus what the GEMMs added), replaced by the activated gates;
// bi, br (3H)|null input and recurrent bias; hp (N rows, stride ldp)|null h_{t-1} (null: zeros).

// reset_before, part 1: a[z,r] holds x Wx + h_{t-1} Wh[:, :2H]: z, r, and rh = r * h_{t-1} (N rows,
// stride ldrh), the input of the Whn GEMM
template <typename T>
__global__ void gru_rb_forward_zr(idx N, idx H, T* a, idx lda, const T* bi, const T* hp, idx ldp, T* rh, idx ldrh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const T z = sigmoid(an[j] + at(bi, j));
    const T r = sigmoid(an[H + j] + at(bi, H + j));
    an[j] = z;
    an[H + j] = r;
    rh[n * ldrh + j] = r * at(hp, n * ldp + j);
  }
}

// reset_before, part 2: a[n] holds x Wxn + (r * h_{t-1}) Whn: n, and h (N rows, stride ldh), also
// into hT (N,H) when given (the last step)
template <typename T>
__global__ void gru_rb_forward_n(idx N, idx H, T* a, idx lda, const T* bi, const T* hp, idx ldp, T* h, idx ldh,
                                 T* hT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const T z = an[j];
    const T nn = tanh_(an[2 * H + j] + at(bi, 2 * H + j));
    an[2 * H + j] = nn;
    const T hj = (T(1) - z) * at(hp, n * ldp + j) + z * nn;
    h[n * ldh + j] = hj;
    if (hT) hT[k] = hj;
  }
}

// reset_after, everything in one pass. a holds x Wx; gh (N,3H)|null h_{t-1} Wh (null when h_{t-1}
// = 0); hn (N rows, stride ldhn)|null receives h_{t-1} Whn + b1n for the backward (training);
// h (N rows, stride ldh), hT (N,H)|null as above
template <typename T>
__global__ void gru_ra_forward(idx N, idx H, T* a, idx lda, const T* gh, const T* bi, const T* br, const T* hp,
                               idx ldp, T* hn, idx ldhn, T* h, idx ldh, T* hT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const idx g = n * 3 * H;  // gh's row
    const T z = sigmoid(an[j] + at(gh, g + j) + (at(bi, j) + at(br, j)));
    const T r = sigmoid(an[H + j] + at(gh, g + H + j) + (at(bi, H + j) + at(br, H + j)));
    const T hnj = at(gh, g + 2 * H + j) + at(br, 2 * H + j);
    const T nn = tanh_(an[2 * H + j] + at(bi, 2 * H + j) + r * hnj);  // r scales the recurrent part
    an[j] = z, an[H + j] = r, an[2 * H + j] = nn;
    if (hn) hn[n * ldhn + j] = hnj;
    const T hj = (T(1) - z) * at(hp, n * ldp + j) + z * nn;
    h[n * ldh + j] = hj;
    if (hT) hT[k] = hj;
  }
}

// Backward kernels. a (N rows, stride lda) activated [z,r,n]; hp as above; dhs (N rows, stride ldd)
// the output gradient of step t; dh (N,H) the gradient reaching h_t from step t+1, updated;
// d, dx, dr (N rows, stride lda) gradients of the pre-activations.

// reset_before, part 1: dz, dn, and dh := the total gradient on h_t (kept for part 2)
template <typename T>
__global__ void gru_rb_backward_zn(idx N, idx H, const T* a, idx lda, const T* hp, idx ldp, const T* dhs, idx ldd,
                                   T* d, T* dh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* an = a + n * lda;
    T* dn = d + n * lda;
    const T z = an[j], nn = an[2 * H + j];
    const T dht = dh[k] + dhs[n * ldd + j];
    dn[j] = dht * (nn - at(hp, n * ldp + j)) * z * (T(1) - z);
    dn[2 * H + j] = dht * z * (T(1) - nn * nn);
    dh[k] = dht;
  }
}

// reset_before, part 2: drh (N,H) = dn Whn^T, the gradient of r * h_{t-1}: dr, and dh := the part of
// the gradient on h_{t-1} that does not pass through Wh[:, :2H] (the GEMM after adds that)
template <typename T>
__global__ void gru_rb_backward_r(idx N, idx H, const T* a, idx lda, const T* hp, idx ldp, const T* drh, T* d, T* dh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* an = a + n * lda;
    const T z = an[j], rr = an[H + j];
    d[n * lda + H + j] = drh[k] * at(hp, n * ldp + j) * rr * (T(1) - rr);
    dh[k] = dh[k] * (T(1) - z) + drh[k] * rr;
  }
}

// reset_after: hn (N rows, stride ldhn) the saved h_{t-1} Whn + b1n; dx gradient of x Wx + b0, dr of
// h Wh + b1 (they differ in the n block: r scales it); dh := dht (1 - z) (the GEMM after adds dr Wh^T)
template <typename T>
__global__ void gru_ra_backward(idx N, idx H, const T* a, idx lda, const T* hn, idx ldhn, const T* hp, idx ldp,
                                const T* dhs, idx ldd, T* dx, T* dr, T* dh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* an = a + n * lda;
    const T z = an[j], rr = an[H + j], nn = an[2 * H + j];
    const T dht = dh[k] + dhs[n * ldd + j];
    const T daz = dht * (nn - at(hp, n * ldp + j)) * z * (T(1) - z);
    const T dan = dht * z * (T(1) - nn * nn);
    const T dar = dan * hn[n * ldhn + j] * rr * (T(1) - rr);
    T* xn = dx + n * lda;
    T* rn = dr + n * lda;
    xn[j] = daz, xn[H + j] = dar, xn[2 * H + j] = dan;
    rn[j] = daz, rn[H + j] = dar, rn[2 * H + j] = dan * rr;  // n sees h only through r
    dh[k] = dht * (T(1) - z);
  }
}

}  // namespace

template <typename T>
void gru_forward(const Session& s, idx N, idx Tn, idx D, idx H, bool reset_after, const T* xs, const T* Wx,
                 const T* Wh, const T* b, const T* h0, T* hs, T* hT, T* gates, T* extra, T* scratch) {
  const idx G = 3 * H;
  const bool train = extra != nullptr;
  if (N == 0) return;
  if (Tn == 0) return copy_rows_or_zero(s, hT, h0, N, H, H);  // no step: the state passes through
  const T* bi = b;
  const T* br = (b && reset_after) ? b + G : nullptr;
  // Input projections of all steps in one GEMM into `gates`, activated in place per step.
  gemm<T>(s, false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), gates, G);
  const idx ldg = Tn * G, ld = Tn * H;
  const unsigned grid = grid_for(N * H);
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;  // null: h_{-1} = 0, nothing to add
    const idx ldp = t ? ld : H;
    T* a = gates + t * G;
    T* hT_ = t == Tn - 1 ? hT : nullptr;
    if (!reset_after) {
      // z and r first (they need only h); then r * h meets Whn, a second GEMM that must wait for r
      if (hp) gemm<T>(s, false, false, N, 2 * H, H, T(1), hp, ldp, Wh, G, T(1), a, ldg);
      T* rh = train ? extra + t * H : scratch;
      const idx ldrh = train ? ld : H;
      gru_rb_forward_zr<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, bi, hp, ldp, rh, ldrh);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_forward_zr");
      if (hp) gemm<T>(s, false, false, N, H, H, T(1), rh, ldrh, Wh + 2 * H, G, T(1), a + 2 * H, ldg);
      gru_rb_forward_n<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, bi, hp, ldp, hs + t * H, ld, hT_);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_forward_n");
    } else {
      // one recurrent GEMM for all three gates, into scratch: r scales its n part afterwards
      if (hp) gemm<T>(s, false, false, N, G, H, T(1), hp, ldp, Wh, G, T(0), scratch, G);
      gru_ra_forward<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, hp ? scratch : nullptr, bi, br, hp, ldp,
                                                         train ? extra + t * H : nullptr, ld, hs + t * H, ld, hT_);
      PYRNN_CUDA_CHECK_LAUNCH("gru_ra_forward");
    }
  }
}

template <typename T>
void gru_backward(const Session& s, idx N, idx Tn, idx D, idx H, bool reset_after, const T* xs, const T* Wx,
                  const T* Wh, const T* h0, const T* hs, const T* gates, const T* extra, const T* dhs, const T* dhT,
                  T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dAx, T* dAh, T* drh, T* hprev) {
  const idx G = 3 * H;
  copy_rows_or_zero(s, dh0, dhT, N, H, H);  // dh0 doubles as the running gradient on h_t
  const idx ldg = Tn * G, ld = Tn * H;
  const unsigned grid = grid_for(N * H);
  for (idx t = Tn - 1; N > 0 && t >= 0; --t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? ld : H;
    const T* a = gates + t * G;
    if (!reset_after) {
      gru_rb_backward_zn<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, hp, ldp, dhs + t * H, ld, dAx + t * G,
                                                             dh0);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_backward_zn");
      // gradient of r * h_{t-1}: drh = dn Whn^T
      gemm<T>(s, false, true, N, H, H, T(1), dAx + t * G + 2 * H, ldg, Wh + 2 * H, G, T(0), drh, H);
      gru_rb_backward_r<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, hp, ldp, drh, dAx + t * G, dh0);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_backward_r");
      // on to h_{t-1}: + [dz, dr] Wh[:, :2H]^T
      gemm<T>(s, false, true, N, H, 2 * H, T(1), dAx + t * G, ldg, Wh, G, T(1), dh0, H);
    } else {
      gru_ra_backward<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, extra + t * H, ld, hp, ldp, dhs + t * H, ld,
                                                          dAx + t * G, dAh + t * G, dh0);
      PYRNN_CUDA_CHECK_LAUNCH("gru_ra_backward");
      // on to h_{t-1}: + dAh_t Wh^T
      gemm<T>(s, false, true, N, H, G, T(1), dAh + t * G, ldg, Wh, G, T(1), dh0, H);
    }
  }
  // Weight and input gradients: one large GEMM each over all N*T rows (K = 0 gives zeros).
  gemm<T>(s, false, true, N * Tn, D, G, T(1), dAx, G, Wx, G, T(0), dxs, D);
  gemm<T>(s, true, false, D, G, N * Tn, T(1), xs, D, dAx, G, T(0), dWx, G);
  states_before_each_step(s, N, Tn, H, h0, hs, hprev);
  if (reset_after) {
    gemm<T>(s, true, false, H, G, N * Tn, T(1), hprev, H, dAh, G, T(0), dWh, G);
  } else {
    // z and r multiply h_{t-1} by Wh; n multiplies r * h_{t-1} (saved as `extra`) by Whn
    gemm<T>(s, true, false, H, 2 * H, N * Tn, T(1), hprev, H, dAx, G, T(0), dWh, G);
    gemm<T>(s, true, false, H, H, N * Tn, T(1), extra, H, dAx + 2 * H, G, T(0), dWh + 2 * H, G);
  }
  if (db) {
    column_sums(s, N * Tn, G, dAx, G, db);
    if (reset_after) column_sums(s, N * Tn, G, dAh, G, db + G);
  }
}

#define PYRNN_INSTANTIATE(T)                                                                                     \
  template void gru_forward<T>(const Session&, idx, idx, idx, idx, bool, const T*, const T*, const T*, const T*, \
                               const T*, T*, T*, T*, T*, T*);                                                    \
  template void gru_backward<T>(const Session&, idx, idx, idx, idx, bool, const T*, const T*, const T*, const T*, \
                                const T*, const T*, const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, T*, T*, \
                                T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
