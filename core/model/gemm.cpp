#include "core/model/gemm.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

} // namespace

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
    if (!fast)
        return torch::nn::functional::linear(x, w, b);
    return b.defined() ? LinearFn::apply(x, w, b) : LinearNoBiasFn::apply(x, w);
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
