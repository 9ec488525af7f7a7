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

// Attention of a few queries (a decoding step) on the CPU: softmax(q·kᵀ·scale + mask)·v for float32 q [B, H, Tq, D]
// and float32 or bfloat16 k, v [B, H, Tk, D] (any stride over the positions: the KV cache's views), mask additive
// [1 or B, 1, Tq, Tk] or undefined; float32 out, sums in float32. The two products read each key and value row once,
// as stored (a bfloat16 cache is half the bytes of a float32 one: decoding reads all of it every step), on LibTorch's
// threads over (batch, head); LibTorch 1.13's bfloat16 batched products are scalar loops and need a copy of the
// transposed keys.
torch::Tensor fewQueryAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                                const torch::Tensor &mask, double scale);

// The elementwise steps around a bfloat16 model's products on a CPU with AVX512-BF16 (one pass each, in float32,
// over LibTorch's threads; the plain LibTorch ops where the CPU lacks it or gradients are wanted):
//   softmax(raw · scale + mask) over the last dimension, rounded to bfloat16 — raw bfloat16 [B, H, Tq, Tk], mask
//   additive float32 [1 or B, 1, Tq, Tk] or undefined (LibTorch's to/add/softmax/to: four passes and two float32
//   copies of the scores);
//   silu(g) · u for bfloat16 g, u of one shape, rounded as LibTorch's two ops round (silu to bfloat16, then the
//   product).
torch::Tensor scaledMaskedSoftmax(const torch::Tensor &raw, const torch::Tensor &mask, double scale);
torch::Tensor siluMul(const torch::Tensor &g, const torch::Tensor &u);

// The threads a CPU product may use (the engine's BLAS setting; 1 while generating); default 1.
void setGemmThreads(int n);

// How many of LibTorch's threads a loop of these kernels runs on (at::parallel_for over `items` items, one each):
// at most at::get_num_threads(). LibTorch built with OpenMP expands at::parallel_for into `#pragma omp parallel`
// in the calling source, so this file must be compiled with -fopenmp, or every such loop runs on one thread (as the
// decoding kernel did, unnoticed, until a test asked this).
int kernelThreads(int items);

// "oneDNN sgemm (avx512_core)", or "LibTorch (…)" with the reason oneDNN is not used: what denseLinear() uses for
// float32 on the CPU.
std::string gemmBackend();
bool oneDnnGemm(); // denseLinear() takes oneDNN for float32 CPU tensors

} // namespace se::model
