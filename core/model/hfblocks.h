// The building blocks Hugging Face decoder models share, with transformers' module and parameter names (so LoRA
// targets and adapter keys read as PEFT's): a module that only groups others, a parameter-only module (norms,
// embeddings), LayerNorm and RMSNorm as transformers computes them, softmax attention, and the pre-norm decoder layer
// of Llama and Qwen2 (RMSNorm, rotary embeddings in the rotate-half convention given as cos / sin tables, grouped-query
// attention, SwiGLU; Qwen2's q / k / v with bias) with activation checkpointing. LLaVA (llava.cpp) and Qwen2-VL
// (qwen2vl.cpp) are made of these. Internal to the engine (LibTorch).
#pragma once

#include "core/model/llava.h"
#include "core/model/mmmodel.h"

#include <cstdint>
#include <functional>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

namespace se::model::hf {

struct ContainerImpl : torch::nn::Module {
    using torch::nn::Module::register_module;
};
TORCH_MODULE(Container);

// A parameter-only module: "weight" (and "bias"), as transformers names norms and embeddings.
struct ParamsImpl : torch::nn::Module {
    ParamsImpl(std::vector<int64_t> shape, bool withBias, const torch::TensorOptions &o)
    {
        weight = register_parameter("weight", torch::empty(shape, o));
        if (withBias)
            bias = register_parameter("bias", torch::empty({shape[0]}, o));
    }
    torch::Tensor weight, bias;
};
TORCH_MODULE(Params);

torch::Tensor layerNorm(const torch::Tensor &x, const Params &p, double eps);
// transformers' RMSNorm: normalised in float32, cast back, then times the weight.
torch::Tensor rmsNorm(const torch::Tensor &x, const Params &p, double eps);
torch::Tensor rotateHalf(const torch::Tensor &x); // cat(-x₂, x₁) over the last dimension

// Softmax attention over [B, H, Tq, D] · [B, H, Tk, D] with an additive mask (undefined: none), scale D^-½;
// probabilities in float32 as transformers' eager path. The result comes back in the queries' dtype.
torch::Tensor attend(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v, const torch::Tensor &mask);

struct DecoderShape {
    int hidden = 0, intermediate = 0, heads = 0, kvHeads = 0, headDim = 0;
    double eps = 1e-6;
    bool qkvBias = false; // Qwen2: q_proj, k_proj, v_proj with bias
};

class DecoderLayerImpl : public torch::nn::Module
{
public:
    DecoderLayerImpl(const DecoderShape &s, const torch::TensorOptions &o);
    // cos / sin [B, 1, T, headDim]; mask additive [B or 1, 1, Tq, Tk]; queryFrom: outputs wanted from there on.
    torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin,
                          const torch::Tensor &mask, KvSlot *cache, int64_t reserve, int64_t queryFrom);

    int64_t heads, kvHeads, headDim;
    double eps;
    HfLinear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
    Params ln1{nullptr}, ln2{nullptr};
};
TORCH_MODULE(DecoderLayer);

// A forward's arguments checked (outputFrom within the sequence and not with a cache, the sequence within the model's
// positions), `family` naming the model in the message; returns the cached positions.
int64_t checkForward(const char *family, int64_t T, int64_t outputFrom, const KvCache *cache, int64_t maxPositions);
// cos and sin [B, 1, T, D] of rotary angles [B, T, D / 2] (computed in float32), the halves repeated, in `dtype` — as
// transformers casts them to the activations' dtype.
std::pair<torch::Tensor, torch::Tensor> rotaryTables(const torch::Tensor &angles, torch::ScalarType dtype);

// Which naming a Hugging Face folder's weights use: true for `canonical` (this program's, transformers ≥ 4.52's), false
// for `legacy`; throws naming the folder and `family` when it holds neither tensor.
bool canonicalNaming(const HfWeights &weights, const std::string &canonical, const std::string &legacy,
                     const std::string &family);
// Puts the folder's weights into `model` (built on the CPU, its memory never touched) on `device`: each parameter from
// its name in the file (`legacyName` of it where the folder uses the older naming); those under `ownPrefix` (they
// train) in memory of their own, never the file's. Then the model's buffers go to `device` and it is put in eval mode.
LoadReport loadWeights(torch::nn::Module &model, const HfWeights &weights, bool canonical,
                       const std::function<std::string(const std::string &)> &legacyName, const std::string &ownPrefix,
                       const torch::Device &device, const LoadProgressFn &progress);

// Runs the layers in order: with `recompute`, each under activation checkpointing (its input kept, its activations
// recomputed in backward with the random state of its dropout restored); else with `cache` when given. Only the last
// layer honours `outputFrom`.
torch::Tensor runDecoderLayers(const std::vector<DecoderLayer> &layers, torch::Tensor x, const torch::Tensor &cos,
                               const torch::Tensor &sin, const torch::Tensor &mask, KvCache *cache, int64_t outputFrom,
                               bool recompute);

} // namespace se::model::hf
