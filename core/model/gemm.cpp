#include "core/model/gemm.h"

#include <ATen/Parallel.h>
#include <atomic>
#include <vector>
#include <thread>
#include <chrono>
#include <cstdint>
#include <immintrin.h>
#include <type_traits>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <initializer_list>
#include <dlfcn.h>
#include <stdexcept>

namespace se::model {

namespace {

// oneDNN's C API (dnnl.h, "BLAS functions"): row-major C = alpha · op(A) · op(B) + beta · C; returns dnnl_success (0).
using SgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t,
                        float, float *, int64_t);
using IsaFn = int (*)();
using OmpGetFn = int (*)();
using OmpSetFn = void (*)(int);

struct Backend {
    SgemmFn sgemm = nullptr;
    OmpGetFn ompGet = nullptr;
    OmpSetFn ompSet = nullptr;
    std::string label;
};

std::string isaName(int isa)
{
    // dnnl_cpu_isa_t values of oneDNN 2.x are bit sets, each containing the ones below it (and avx2_vnni, say, is not
    // an AVX-512 set although its value is larger): test the bits.
    auto has = [isa](int bits) { return (isa & bits) == bits; };
    if (has(0xe7))
        return "avx512_core_bf16 or newer";
    if (has(0x67))
        return "avx512_core_vnni";
    if (has(0x27))
        return "avx512_core";
    if (has(0x7))
        return "avx2";
    return "isa " + std::to_string(isa);
}

const Backend &backend()
{
    static const Backend b = [] {
        Backend r;
        const char *env = std::getenv("SAFEERASER_GEMM");
        if (env && std::strcmp(env, "aten") == 0) {
            r.label = "LibTorch (SAFEERASER_GEMM=aten)";
            return r;
        }
        r.sgemm = reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
        r.ompGet = reinterpret_cast<OmpGetFn>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
        r.ompSet = reinterpret_cast<OmpSetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
        if (!r.sgemm) {
            r.label = "LibTorch (no oneDNN sgemm in this LibTorch)";
            return r;
        }
        auto isa = reinterpret_cast<IsaFn>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
        r.label = "oneDNN sgemm" + (isa ? " (" + isaName(isa()) + ")" : std::string());
        return r;
    }();
    return b;
}

std::atomic<int> g_threads{1};

// C[M, N] = op(A) · op(B), row-major, on the engine's number of OpenMP threads.
void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
           float *C, int64_t ldc)
{
    const Backend &b = backend();
    const int want = g_threads.load();
    // oneDNN runs on as many OpenMP threads as the calling thread's setting; LibTorch's own loops keep one.
    const int before = b.ompGet && b.ompSet ? b.ompGet() : want;
    if (before != want)
        b.ompSet(want);
    const int rc = b.sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    if (before != want)
        b.ompSet(before);
    if (rc != 0)
        throw std::runtime_error("oneDNN sgemm failed (status " + std::to_string(rc) + ") for a " + std::to_string(M) +
                                 "x" + std::to_string(K) + " by " + std::to_string(K) + "x" + std::to_string(N) +
                                 " product");
}

// y = x · wᵀ (+ b); saves x (as [M, in]) and w.
torch::Tensor linearForward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x, const torch::Tensor &w,
                            const torch::Tensor *b)
{
    const int64_t in = w.size(1), out = w.size(0);
    const auto x2 = x.reshape({-1, in}).contiguous();
    const auto wc = w.contiguous();
    const int64_t M = x2.size(0);
    auto y = torch::empty({M, out}, x.options());
    if (M > 0)
        sgemm('N', 'T', M, out, in, x2.data_ptr<float>(), in, wc.data_ptr<float>(), in, y.data_ptr<float>(), out);
    if (b)
        y.add_(*b);
    ctx->save_for_backward({x2, wc});
    auto shape = x.sizes().vec();
    shape.back() = out;
    return y.view(shape);
}

// dX = dY · w, dW = dYᵀ · X, db = Σ dY — each only when asked for.
torch::autograd::tensor_list linearBackward(torch::autograd::AutogradContext *ctx, const torch::Tensor &gradY,
                                            bool bias)
{
    const auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &w = saved[1];
    const int64_t in = w.size(1), out = w.size(0), M = x2.size(0);
    const auto gy = gradY.reshape({M, out}).contiguous();
    torch::autograd::tensor_list g(bias ? 3 : 2);
    if (ctx->needs_input_grad(0)) {
        auto gx = M > 0 ? torch::empty({M, in}, gy.options()) : torch::zeros({M, in}, gy.options());
        if (M > 0)
            sgemm('N', 'N', M, in, out, gy.data_ptr<float>(), out, w.data_ptr<float>(), in, gx.data_ptr<float>(), in);
        auto shape = gradY.sizes().vec();
        shape.back() = in;
        g[0] = gx.view(shape);
    }
    if (ctx->needs_input_grad(1)) {
        auto gw = M > 0 ? torch::empty({out, in}, gy.options()) : torch::zeros({out, in}, gy.options());
        if (M > 0)
            sgemm('T', 'N', out, in, M, gy.data_ptr<float>(), out, x2.data_ptr<float>(), in, gw.data_ptr<float>(), in);
        g[1] = gw;
    }
    if (bias && ctx->needs_input_grad(2))
        g[2] = gy.sum(0);
    return g;
}

class LinearFn : public torch::autograd::Function<LinearFn>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x, const torch::Tensor &w,
                                 const torch::Tensor &b)
    {
        return linearForward(ctx, x, w, &b);
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list grads)
    {
        return linearBackward(ctx, grads[0], true);
    }
};

class LinearNoBiasFn : public torch::autograd::Function<LinearNoBiasFn>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x, const torch::Tensor &w)
    {
        return linearForward(ctx, x, w, nullptr);
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list grads)
    {
        return linearBackward(ctx, grads[0], false);
    }
};

// Decoding multiplies one row (or a few) by each weight matrix, which streams the matrix from memory once: the speed
// of a large model's decoding is the speed of reading its weights. LibTorch 1.13's bfloat16 product (oneDNN) reads
// them at about half the machine's streaming rate at one row (README, "A 7B model on the CPU"); this kernel reads each
// weight row once for all of x's rows, four weight rows at a time, with AVX512-BF16's dot product (bfloat16 pairs
// summed into float32, as oneDNN's kernels do), and splits the rows of w over LibTorch's threads.
// Measured on two cores (a 4096 → 11008 product): 28.4 against 20.7 GB/s at one row, 26.7 against 19.6 at two; from
// three rows oneDNN's product is as fast or faster (17.2 against 20.7 GB/s at three), so it keeps those.
constexpr int64_t kMaxGemvRows = 2;

// Rows of y[R, N] from `from` to `to` (four weight rows at a time, each read once for all R rows of x).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized" // GCC 12's masked loads start from an "undefined" vector
template <int R, int J = R == 1 ? 8 : 4> // J weight rows at a time: eight streams in flight for one row of x
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void
gemvBf16Rows(const std::uint16_t *x, const std::uint16_t *w, int64_t K, int64_t from, int64_t to, float *y, int64_t N)
{
    const int64_t full = K / 32 * 32;
    const __mmask32 tail = K == full ? 0 : (__mmask32(1) << (K - full)) - 1;
    int64_t n = from;
    for (; n + J <= to; n += J) {
        __m512 acc[J][R];
        for (int j = 0; j < J; ++j)
            for (int r = 0; r < R; ++r)
                acc[j][r] = _mm512_setzero_ps();
        const std::uint16_t *w0 = w + n * K;
        int64_t k = 0;
        for (; k < full; k += 32) {
            __m512i wv[J];
            for (int j = 0; j < J; ++j)
                wv[j] = _mm512_loadu_si512(w0 + j * K + k);
            for (int r = 0; r < R; ++r) {
                const __m512i xv = _mm512_loadu_si512(x + r * K + k);
                for (int j = 0; j < J; ++j)
                    acc[j][r] = _mm512_dpbf16_ps(acc[j][r], (__m512bh)xv, (__m512bh)wv[j]);
            }
        }
        if (k < K) {
            __m512i wv[J];
            for (int j = 0; j < J; ++j)
                wv[j] = _mm512_maskz_loadu_epi16(tail, w0 + j * K + k);
            for (int r = 0; r < R; ++r) {
                const __m512i xv = _mm512_maskz_loadu_epi16(tail, x + r * K + k);
                for (int j = 0; j < J; ++j)
                    acc[j][r] = _mm512_dpbf16_ps(acc[j][r], (__m512bh)xv, (__m512bh)wv[j]);
            }
        }
        for (int j = 0; j < J; ++j)
            for (int r = 0; r < R; ++r)
                y[r * N + n + j] = _mm512_reduce_add_ps(acc[j][r]);
    }
    for (; n < to; ++n)
        for (int r = 0; r < R; ++r) {
            __m512 acc = _mm512_setzero_ps();
            for (int64_t k = 0; k < K; k += 32) {
                const __mmask32 m = k < full ? ~__mmask32(0) : tail;
                acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_maskz_loadu_epi16(m, x + r * K + k),
                                       (__m512bh)_mm512_maskz_loadu_epi16(m, w + n * K + k));
            }
            y[r * N + n] = _mm512_reduce_add_ps(acc);
        }
}

#pragma GCC diagnostic pop

using GemvFn = void (*)(const std::uint16_t *, const std::uint16_t *, int64_t, int64_t, int64_t, float *, int64_t);
const GemvFn kGemv[kMaxGemvRows] = {gemvBf16Rows<1>, gemvBf16Rows<2>};

bool bf16DotProducts()
{
    static const bool yes =
        __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
        !(std::getenv("SAFEERASER_GEMM") && std::strcmp(std::getenv("SAFEERASER_GEMM"), "aten") == 0);
    return yes;
}

// y = x · wᵀ (+ b) for bfloat16 x of at most kMaxGemvRows rows (after flattening) and bfloat16 w, no gradients.
torch::Tensor gemvBf16(const torch::Tensor &x, const torch::Tensor &w, const torch::Tensor &b)
{
    const int64_t K = w.size(1), N = w.size(0);
    const auto x2 = x.reshape({-1, K}).contiguous();
    const auto wc = w.contiguous();
    const int64_t rows = x2.size(0);
    auto y = torch::empty({rows, N}, x.options().dtype(torch::kFloat));
    const auto *xp = reinterpret_cast<const std::uint16_t *>(x2.data_ptr());
    const auto *wp = reinterpret_cast<const std::uint16_t *>(wc.data_ptr());
    float *yp = y.data_ptr<float>();
    const GemvFn fn = kGemv[rows - 1];
    // On LibTorch's intra-op pool, one slice of weight rows per thread: the pool's threads stay awake between the
    // products of a step, and threads of another pool would compete with them for the cores.
    const int64_t blocks = (N + 7) / 8; // slices start at multiples of 8 rows
    const int64_t grain = std::max<int64_t>(64, (blocks + at::get_num_threads() - 1) / at::get_num_threads());
    at::parallel_for(0, blocks, grain,
                     [&](int64_t from, int64_t to) { fn(xp, wp, K, from * 8, std::min(N, to * 8), yp, N); });
    if (b.defined())
        y.add_(b.to(torch::kFloat));
    auto shape = x.sizes().vec();
    shape.back() = N;
    return y.to(torch::kBFloat16).view(shape);
}

// Σ a[i]·b[i] and y += w·x over float32 a, y and float32 or bfloat16 b, x; with AVX-512 where the CPU has it, 16
// lanes summed at the end otherwise (the compiler vectorises independent lanes without reordering a sum).
float bf16At(const std::uint16_t *p, int64_t i)
{
    const std::uint32_t bits = std::uint32_t(p[i]) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

template <typename T> float dotLanes(const float *a, const T *b, int64_t n)
{
    float lane[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; ++l) {
            if constexpr (std::is_same_v<T, float>)
                lane[l] += a[i + l] * b[i + l];
            else
                lane[l] += a[i + l] * bf16At(b, i + l);
        }
    float s = 0;
    for (; i < n; ++i) {
        if constexpr (std::is_same_v<T, float>)
            s += a[i] * b[i];
        else
            s += a[i] * bf16At(b, i);
    }
    for (float l : lane)
        s += l;
    return s;
}

template <typename T> void axpyLanes(float *y, float w, const T *x, int64_t n)
{
    for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, float>)
            y[i] += w * x[i];
        else
            y[i] += w * bf16At(x, i);
    }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized" // GCC 12's conversions start from an "undefined" vector
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) float dotBf16Avx512(const float *a, const std::uint16_t *b, int64_t n)
{
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 bv = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(b + i))), 16));
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), bv, acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; ++i)
        s += a[i] * bf16At(b, i);
    return s;
}

__attribute__((target("avx512f"))) void axpyBf16Avx512(float *y, float w, const std::uint16_t *x, int64_t n)
{
    const __m512 wv = _mm512_set1_ps(w);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 xv = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(x + i))), 16));
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(wv, xv, _mm512_loadu_ps(y + i)));
    }
    for (; i < n; ++i)
        y[i] += w * bf16At(x, i);
}
#pragma GCC diagnostic pop

template <typename T>
torch::Tensor fewQueries(const torch::Tensor &qc, const torch::Tensor &k, const torch::Tensor &v,
                         const torch::Tensor &mask, double scale)
{
    const int64_t B = qc.size(0), H = qc.size(1), Tq = qc.size(2), D = qc.size(3), Tk = k.size(2);
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    auto scores = torch::empty({B, H, Tq, Tk}, qc.options());
    const float *qp = qc.data_ptr<float>();
    const T *kp = reinterpret_cast<const T *>(k.data_ptr()), *vp = reinterpret_cast<const T *>(v.data_ptr());
    float *sp = scores.data_ptr<float>();
    at::parallel_for(0, B * H, 1, [&](int64_t from, int64_t to) {
        for (int64_t bh = from; bh < to; ++bh) {
            const T *kb = kp + (bh / H) * k.stride(0) + (bh % H) * k.stride(1);
            for (int64_t i = 0; i < Tq; ++i) {
                const float *qi = qp + (bh * Tq + i) * D;
                float *si = sp + (bh * Tq + i) * Tk;
                for (int64_t t = 0; t < Tk; ++t) {
                    const T *kt = kb + t * k.stride(2);
                    float d;
                    if constexpr (std::is_same_v<T, std::uint16_t>)
                        d = avx512 ? dotBf16Avx512(qi, kt, D) : dotLanes(qi, kt, D);
                    else
                        d = dotLanes(qi, kt, D);
                    si[t] = d * float(scale);
                }
            }
        }
    });
    if (mask.defined())
        scores.add_(mask);
    const auto p = torch::softmax(scores, -1).contiguous();
    auto out = torch::zeros({B, H, Tq, D}, qc.options());
    const float *pp = p.data_ptr<float>();
    float *op = out.data_ptr<float>();
    at::parallel_for(0, B * H, 1, [&](int64_t from, int64_t to) {
        for (int64_t bh = from; bh < to; ++bh) {
            const T *vb = vp + (bh / H) * v.stride(0) + (bh % H) * v.stride(1);
            for (int64_t i = 0; i < Tq; ++i) {
                const float *pi = pp + (bh * Tq + i) * Tk;
                float *oi = op + (bh * Tq + i) * D;
                for (int64_t t = 0; t < Tk; ++t) {
                    const T *vt = vb + t * v.stride(2);
                    if constexpr (std::is_same_v<T, std::uint16_t>) {
                        if (avx512)
                            axpyBf16Avx512(oi, pi[t], vt, D);
                        else
                            axpyLanes(oi, pi[t], vt, D);
                    } else {
                        axpyLanes(oi, pi[t], vt, D);
                    }
                }
            }
        }
    });
    return out;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define SE_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// e^x in float32 lanes: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor polynomial of degree 6 (relative error
// under 1e-7), times 2^n; below -104 the result is 0, above 88.7 it is e^88.7.
SE_AVX512_BF16 inline __m512 expLanes(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.7f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f})
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    return _mm512_scalef_ps(p, n);
}

SE_AVX512_BF16 inline __m512 loadBf16(const std::uint16_t *p, __mmask16 m)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

SE_AVX512_BF16 inline void storeBf16(std::uint16_t *p, __m512 v, __mmask16 m)
{
    _mm256_mask_storeu_epi16(p, m, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
}

inline __mmask16 lanes(int64_t left)
{
    return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

SE_AVX512_BF16 void softmaxRowsBf16(const std::uint16_t *raw, const float *mask, int64_t maskBatchStride,
                                    std::uint16_t *out, int64_t H, int64_t Tq, int64_t Tk, float scale, int64_t from,
                                    int64_t to)
{
    std::vector<float> s(static_cast<std::size_t>(Tk));
    const __m512 sv = _mm512_set1_ps(scale);
    for (int64_t row = from; row < to; ++row) {
        const std::uint16_t *x = raw + row * Tk;
        const float *m = mask ? mask + (row / (H * Tq)) * maskBatchStride + (row % Tq) * Tk : nullptr;
        __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        for (int64_t t = 0; t < Tk; t += 16) {
            const __mmask16 k = lanes(Tk - t);
            __m512 v = _mm512_mul_ps(loadBf16(x + t, k), sv);
            if (m)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, m + t));
            _mm512_mask_storeu_ps(s.data() + t, k, v);
            mx = _mm512_mask_max_ps(mx, k, mx, v);
        }
        const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 sum = _mm512_setzero_ps();
        for (int64_t t = 0; t < Tk; t += 16) {
            const __mmask16 k = lanes(Tk - t);
            const __m512 e = expLanes(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s.data() + t), top));
            _mm512_mask_storeu_ps(s.data() + t, k, e);
            sum = _mm512_mask_add_ps(sum, k, sum, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        std::uint16_t *o = out + row * Tk;
        for (int64_t t = 0; t < Tk; t += 16) {
            const __mmask16 k = lanes(Tk - t);
            storeBf16(o + t, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s.data() + t), inv), k);
        }
    }
}

SE_AVX512_BF16 void siluMulBf16(const std::uint16_t *g, const std::uint16_t *u, std::uint16_t *out, int64_t from,
                                int64_t to)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = from; i < to; i += 16) {
        const __mmask16 k = lanes(to - i);
        const __m512 x = loadBf16(g + i, k);
        const __m512 silu = _mm512_div_ps(x, _mm512_add_ps(one, expLanes(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        // silu's result rounded to bfloat16 first, as LibTorch's two ops do
        const __m512 rounded = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(silu))), 16));
        storeBf16(out + i, _mm512_mul_ps(rounded, loadBf16(u + i, k)), k);
    }
}
#undef SE_AVX512_BF16
#pragma GCC diagnostic pop

bool fusedBf16(std::initializer_list<const torch::Tensor *> ts)
{
    static const bool cpu = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
                            __builtin_cpu_supports("avx512vl");
    if (!cpu)
        return false;
    for (const torch::Tensor *t : ts)
        if (t->defined() && (!t->device().is_cpu() || t->scalar_type() != torch::kBFloat16 ||
                             (torch::GradMode::is_enabled() && t->requires_grad())))
            return false;
    return true;
}

} // namespace

torch::Tensor scaledMaskedSoftmax(const torch::Tensor &raw, const torch::Tensor &mask, double scale)
{
    const bool maskOk =
        !mask.defined() || (mask.device().is_cpu() && mask.dim() == 4 && mask.size(1) == 1 &&
                            (mask.size(0) == 1 || mask.size(0) == raw.size(0)) && mask.size(2) == raw.size(2) &&
                            mask.size(3) == raw.size(3) && !(torch::GradMode::is_enabled() && mask.requires_grad()));
    if (raw.dim() != 4 || !maskOk || !fusedBf16({&raw})) {
        auto s = raw.to(torch::kFloat) * scale;
        if (mask.defined())
            s = s + mask.to(torch::kFloat);
        return torch::softmax(s, -1).to(raw.scalar_type());
    }
    const auto x = raw.contiguous();
    const auto m = mask.defined() ? mask.to(torch::kFloat).contiguous() : mask;
    auto out = torch::empty_like(x);
    const int64_t H = x.size(1), Tq = x.size(2), Tk = x.size(3), rows = x.numel() / std::max<int64_t>(1, Tk);
    const auto *xp = reinterpret_cast<const std::uint16_t *>(x.data_ptr());
    auto *op = reinterpret_cast<std::uint16_t *>(out.data_ptr());
    const float *mp = m.defined() ? m.data_ptr<float>() : nullptr;
    const int64_t maskBatchStride = m.defined() && m.size(0) > 1 ? Tq * Tk : 0;
    at::parallel_for(0, rows, 16, [&](int64_t from, int64_t to) {
        softmaxRowsBf16(xp, mp, maskBatchStride, op, H, Tq, Tk, float(scale), from, to);
    });
    return out;
}

torch::Tensor siluMul(const torch::Tensor &g, const torch::Tensor &u)
{
    if (g.sizes() != u.sizes() || !fusedBf16({&g, &u}))
        return torch::silu(g) * u;
    const auto gc = g.contiguous(), uc = u.contiguous();
    auto out = torch::empty_like(gc);
    const auto *gp = reinterpret_cast<const std::uint16_t *>(gc.data_ptr());
    const auto *up = reinterpret_cast<const std::uint16_t *>(uc.data_ptr());
    auto *op = reinterpret_cast<std::uint16_t *>(out.data_ptr());
    at::parallel_for(0, gc.numel(), 1 << 14, [&](int64_t from, int64_t to) { siluMulBf16(gp, up, op, from, to); });
    return out;
}

torch::Tensor fewQueryAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                                const torch::Tensor &mask, double scale)
{
    const auto qc = q.to(torch::kFloat).contiguous();
    auto kc = k.stride(3) == 1 ? k : k.contiguous(), vc = v.stride(3) == 1 ? v : v.contiguous();
    if (kc.scalar_type() == torch::kBFloat16 && vc.scalar_type() == torch::kBFloat16)
        return fewQueries<std::uint16_t>(qc, kc, vc, mask, scale);
    return fewQueries<float>(qc, kc.to(torch::kFloat), vc.to(torch::kFloat), mask, scale);
}

bool oneDnnGemm()
{
    return backend().sgemm != nullptr;
}

torch::Tensor denseLinear(const torch::Tensor &x, const torch::Tensor &w, const torch::Tensor &b)
{
    const bool fast = oneDnnGemm() && x.device().is_cpu() && w.device().is_cpu() && x.scalar_type() == torch::kFloat &&
                      w.scalar_type() == torch::kFloat &&
                      (!b.defined() || (b.scalar_type() == torch::kFloat && b.device().is_cpu())) && w.dim() == 2 &&
                      x.dim() >= 1 && x.size(-1) == w.size(1);
    if (!fast) {
        const bool gemv = x.scalar_type() == torch::kBFloat16 && w.scalar_type() == torch::kBFloat16 &&
                          x.device().is_cpu() && w.device().is_cpu() && w.dim() == 2 && x.dim() >= 1 &&
                          x.size(-1) == w.size(1) && x.numel() > 0 && x.numel() / w.size(1) <= kMaxGemvRows &&
                          !(torch::GradMode::is_enabled() &&
                            (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()))) &&
                          bf16DotProducts();
        if (gemv)
            return gemvBf16(x, w, b);
        // oneDNN's bfloat16 product of LibTorch 1.13 is 15-35% slower when the rows are not a multiple of 16
        // (4096 × 4096 weights, two cores: 649 rows 60-64 ms, 656 rows 54 ms, 629 rows 68-75 ms, 640 rows 50-51 ms),
        // so the rows are padded with zeros to the next multiple of 16 and the padding cut off again.
        const bool pad = x.scalar_type() == torch::kBFloat16 && x.device().is_cpu() && w.dim() == 2 && x.dim() >= 2 &&
                         x.size(-1) == w.size(1);
        const int64_t rows = pad ? x.numel() / std::max<int64_t>(1, w.size(1)) : 0;
        if (pad && rows > kMaxGemvRows && rows % 16) {
            const int64_t K = w.size(1);
            auto x2 = x.reshape({rows, K});
            auto padded = torch::cat({x2, torch::zeros({16 - rows % 16, K}, x.options())});
            auto shape = x.sizes().vec();
            shape.back() = w.size(0);
            return torch::nn::functional::linear(padded, w, b).narrow(0, 0, rows).reshape(shape);
        }
        return torch::nn::functional::linear(x, w, b);
    }
    return b.defined() ? LinearFn::apply(x, w, b) : LinearNoBiasFn::apply(x, w);
}

int kernelThreads(int items)
{
    std::vector<std::atomic<int>> seen(std::max(1, at::get_num_threads()));
    at::parallel_for(0, items, 1, [&](int64_t, int64_t) {
        seen[std::min<std::size_t>(std::size_t(at::get_thread_num()), seen.size() - 1)] = 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // so that one thread cannot take every item
    });
    int n = 0;
    for (const auto &s : seen)
        n += s.load();
    return n;
}

void setGemmThreads(int n)
{
    g_threads = n < 1 ? 1 : n;
}

std::string gemmBackend()
{
    return backend().label;
}

} // namespace se::model
