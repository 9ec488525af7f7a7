// The matrix products of the models' linear layers on the CPU (issue 15). LibTorch's CPU products go to OpenBLAS;
// LibTorch also carries oneDNN, whose sgemm is compiled at run time for the CPU it finds (AVX-512 where there is
// some) and measured here twice as fast for these shapes (tests/bench/bench_engine, SAFEERASER_GEMM=aten against the
// default). So a float32 linear layer
// on the CPU runs on oneDNN's sgemm, with its own backward (dX = dY·W, dW = dYᵀ·X, db = Σ dY: only what is asked
// for). Anything else — CUDA, bf16, a LibTorch without an exported dnnl_sgemm (pip wheels link oneDNN statically),
// or SAFEERASER_GEMM=aten in the environment — takes torch::nn::functional::linear.
// Internal to the engine (LibTorch).
#pragma once

#include <string>
#include <torch/torch.h>

namespace se::model {

// y = x · wᵀ + b over the last dimension of x ([..., in] → [..., out]); b may be undefined.
torch::Tensor denseLinear(const torch::Tensor &x, const torch::Tensor &w, const torch::Tensor &b = {});

// The threads a CPU product may use (the engine's BLAS setting; 1 while generating); default 1.
void setGemmThreads(int n);

// "oneDNN sgemm (avx512_core)", or "LibTorch (…)" with the reason oneDNN is not used: what denseLinear() uses for
// float32 on the CPU.
std::string gemmBackend();
bool oneDnnGemm(); // denseLinear() takes oneDNN for float32 CPU tensors

} // namespace se::model
