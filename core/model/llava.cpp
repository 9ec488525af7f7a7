#include "core/model/llava.h"

#include "core/model/gemm.h"
#include "core/model/hfblocks.h"
#include "core/model/hfweights.h"
#include "core/model/registry.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace se::model {

namespace F = torch::nn::functional;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------- modules

HfLinearImpl::HfLinearImpl(int64_t in, int64_t out, bool withBias, const torch::TensorOptions &o)
{
    weight = register_parameter("weight", torch::empty({out, in}, o));
    if (withBias)
        bias = register_parameter("bias", torch::empty({out}, o));
}

void HfLinearImpl::keepOriginal()
{
    m_originalWeight = weight.detach().clone();
    m_originalBias = bias.defined() ? bias.detach().clone() : torch::Tensor();
}

torch::Tensor HfLinearImpl::forward(const torch::Tensor &x)
{
    if (!m_enabled && m_originalWeight.defined())
        return denseLinear(x, m_originalWeight, m_originalBias);
    auto y = denseLinear(x, weight, bias);
    if (!m_a.defined() || !m_enabled)
        return y;
    // The adapter runs in float32 whatever the base dtype (bf16 weights, float32 adapters and optimiser state).
    auto h = x.to(torch::kFloat);
    if (m_dropout > 0)
        h = F::dropout(h, F::DropoutFuncOptions().p(m_dropout).training(is_training()));
    auto d = torch::matmul(torch::matmul(h, m_a.t()), m_b.t()) * m_scaling;
    return y + d.to(y.scalar_type());
}

void HfLinearImpl::addAdapter(int rank, double scaling, double dropout)
{
    const int64_t in = weight.size(1), out = weight.size(0);
    auto o = torch::TensorOptions().dtype(torch::kFloat).device(weight.device());
    torch::NoGradGuard ng;
    // As PEFT: A Kaiming-uniform (a = √5), B zero, so the adapted model starts equal to the base model.
    auto a = torch::empty({rank, in}, o);
    torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
    m_a = register_parameter("lora_A", a);
    m_b = register_parameter("lora_B", torch::zeros({out, rank}, o));
    m_scaling = scaling;
    m_dropout = dropout;
}

std::vector<torch::Tensor> HfLinearImpl::adapterParameters() const
{
    if (!m_a.defined())
        return {};
    return {m_a, m_b};
}

torch::Tensor HfLinearImpl::mergedWeight() const
{
    torch::NoGradGuard ng;
    if (!m_a.defined())
        return weight.detach().clone();
    return (weight.detach().to(torch::kFloat) + torch::matmul(m_b, m_a) * m_scaling).to(weight.scalar_type());
}

// Named, not anonymous: LlavaImpl::Parts (declared in the header) holds these, and a type with internal linkage
// inside one with external linkage is an ODR hazard (GCC warns in a unity build).
namespace llava_parts {
using namespace hf;

struct ClipLayerImpl : torch::nn::Module {
    ClipLayerImpl(const LlavaConfig &c, const torch::TensorOptions &o)
        : heads(c.visionHeads), eps(c.visionEps), quick(c.visionAct == "quick_gelu")
    {
        const int d = c.visionHidden;
        auto attn = register_module("self_attn", Container());
        q = attn->register_module("q_proj", HfLinear(d, d, true, o));
        k = attn->register_module("k_proj", HfLinear(d, d, true, o));
        v = attn->register_module("v_proj", HfLinear(d, d, true, o));
        out = attn->register_module("out_proj", HfLinear(d, d, true, o));
        ln1 = register_module("layer_norm1", Params(std::vector<int64_t>{d}, true, o));
        auto mlp = register_module("mlp", Container());
        fc1 = mlp->register_module("fc1", HfLinear(d, c.visionIntermediate, true, o));
        fc2 = mlp->register_module("fc2", HfLinear(c.visionIntermediate, d, true, o));
        ln2 = register_module("layer_norm2", Params(std::vector<int64_t>{d}, true, o));
    }
    torch::Tensor forward(const torch::Tensor &x)
    {
        const int64_t B = x.size(0), T = x.size(1), D = x.size(2) / heads;
        auto h = layerNorm(x, ln1, eps);
        auto split = [&](const torch::Tensor &t) { return t.view({B, T, heads, D}).transpose(1, 2); };
        auto ctx = attend(split(q(h)), split(k(h)), split(v(h)), {}).transpose(1, 2).reshape({B, T, heads * D});
        auto y = x + out(ctx);
        auto m = fc1(layerNorm(y, ln2, eps));
        m = quick ? m * torch::sigmoid(1.702 * m) : F::gelu(m);
        return y + fc2(m);
    }
    int64_t heads;
    double eps;
    bool quick;
    HfLinear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr}, fc1{nullptr}, fc2{nullptr};
    Params ln1{nullptr}, ln2{nullptr};
};
TORCH_MODULE(ClipLayer);

} // namespace llava_parts
using namespace llava_parts;

struct LlavaImpl::Parts {
    Params patch{nullptr}, position{nullptr}, preLn{nullptr}, embed{nullptr}, norm{nullptr};
    torch::Tensor classEmbedding;
    std::vector<ClipLayer> visionLayers;
    HfLinear proj1{nullptr}, proj2{nullptr}, lmHead{nullptr};
    std::vector<hf::DecoderLayer> layers;
    torch::Tensor invFreq; // float32 [headDim / 2]
};

LlavaImpl::LlavaImpl(const LlavaConfig &c, const torch::TensorOptions &o)
    : m(std::make_shared<Parts>()), m_config(c), m_dtype(o.dtype().toScalarType())
{
    auto model = register_module("model", Container());
    auto tower = model->register_module("vision_tower", Container());
    auto vm = tower->register_module("vision_model", Container());
    auto emb = vm->register_module("embeddings", Container());
    const int vh = c.visionHidden, side = c.imageSize / c.patchSize;
    m->classEmbedding = emb->register_parameter("class_embedding", torch::empty({vh}, o));
    m->patch = emb->register_module("patch_embedding",
                                    Params(std::vector<int64_t>{vh, 3, c.patchSize, c.patchSize}, false, o));
    m->position =
        emb->register_module("position_embedding", Params(std::vector<int64_t>{side * side + 1, vh}, false, o));
    m->preLn = vm->register_module("pre_layrnorm", Params(std::vector<int64_t>{vh}, true, o));
    auto enc = vm->register_module("encoder", Container());
    torch::nn::ModuleList vlayers;
    for (int i = 0; i < c.visionLayersUsed(); ++i) {
        m->visionLayers.push_back(ClipLayer(c, o));
        vlayers->push_back(m->visionLayers.back());
    }
    enc->register_module("layers", vlayers);
    auto proj = model->register_module("multi_modal_projector", Container());
    m->proj1 = proj->register_module("linear_1", HfLinear(vh, c.hidden, true, o));
    m->proj2 = proj->register_module("linear_2", HfLinear(c.hidden, c.hidden, true, o));
    auto lm = model->register_module("language_model", Container());
    m->embed = lm->register_module("embed_tokens", Params(std::vector<int64_t>{c.vocab, c.hidden}, false, o));
    torch::nn::ModuleList layers;
    const hf::DecoderShape decoderShape{c.hidden, c.intermediate, c.heads, c.kvHeads, c.headDim(), c.rmsEps, false};
    for (int i = 0; i < c.layers; ++i) {
        m->layers.push_back(hf::DecoderLayer(decoderShape, o));
        layers->push_back(m->layers.back());
    }
    lm->register_module("layers", layers);
    m->norm = lm->register_module("norm", Params(std::vector<int64_t>{c.hidden}, false, o));
    if (!c.tieEmbeddings)
        m->lmHead = register_module("lm_head", HfLinear(c.hidden, c.vocab, false, o));
    const int64_t D = c.headDim();
    m->invFreq = 1.0 / torch::pow(c.ropeTheta, torch::arange(0, D, 2, torch::kDouble) / double(D));
    m->invFreq = register_buffer("rope_inv_freq", m->invFreq.to(torch::kFloat).to(o.device()));
}

torch::Tensor LlavaImpl::imageFeatures(const torch::Tensor &pixels)
{
    const auto &c = m_config;
    auto x =
        F::conv2d(pixels.to(m_dtype), m->patch->weight, F::Conv2dFuncOptions().stride(c.patchSize)); // [N, C, s, s]
    x = x.flatten(2).transpose(1, 2);                                                                // [N, s², C]
    const int64_t N = x.size(0);
    x = torch::cat({m->classEmbedding.view({1, 1, -1}).expand({N, 1, x.size(2)}), x}, 1);
    x = x + m->position->weight.unsqueeze(0);
    x = layerNorm(x, m->preLn, c.visionEps);
    for (auto &l : m->visionLayers)
        x = l->forward(x);
    if (c.selectStrategy == "default")
        x = x.slice(1, 1);
    return m->proj2(F::gelu(m->proj1(x)));
}

torch::Tensor LlavaImpl::hidden(const torch::Tensor &ids, const torch::Tensor &pixels, const torch::Tensor &positions,
                                const torch::Tensor &keyMask, KvCache *cache, int64_t outputFrom)
{
    const auto &c = m_config;
    const int64_t B = ids.size(0), T = ids.size(1);
    const int64_t past = checkForward("llava", T, outputFrom, cache, c.maxPositions);
    auto x = F::embedding(ids, m->embed->weight);
    const auto isImage = ids == static_cast<int64_t>(c.imageTokenId);
    const int64_t placeholders = isImage.sum().item<int64_t>();
    const int64_t features = pixels.defined() ? pixels.size(0) * c.imageFeatures() : 0;
    if (placeholders != features)
        throw std::runtime_error("llava: the prompt holds " + std::to_string(placeholders) + " image tokens but " +
                                 std::to_string(pixels.defined() ? pixels.size(0) : 0) + " image(s) give " +
                                 std::to_string(features) + " features");
    if (features > 0) {
        auto f = imageFeatures(pixels).to(x.scalar_type()).reshape({-1, c.hidden});
        x = x.masked_scatter(isImage.unsqueeze(-1).expand_as(x), f);
    }
    torch::Tensor pos = positions;
    if (!pos.defined())
        pos = torch::arange(past, past + T, ids.options()).unsqueeze(0).expand({B, T});
    // Rotary angles in float32, then cast to the activations' dtype, as transformers does.
    const auto [cos, sin] =
        rotaryTables(pos.to(torch::kFloat).unsqueeze(-1) * m->invFreq.view({1, 1, -1}), x.scalar_type());

    // Additive mask: causal over absolute indices, plus padding keys; the most negative finite value rather
    // than -inf, so a row of padding never turns into NaN.
    auto mask = attentionMask(past, T, keyMask, ids.device(), std::numeric_limits<float>::lowest());
    const bool recompute = m_checkpoint && is_training() && torch::GradMode::is_enabled() && !cache;
    x = runDecoderLayers(m->layers, x, cos, sin, mask, cache, outputFrom, recompute);
    return rmsNorm(x, m->norm, c.rmsEps);
}

torch::Tensor LlavaImpl::headLogits(const torch::Tensor &h)
{
    return m_config.tieEmbeddings ? denseLinear(h, m->embed->weight) : m->lmHead(h);
}

std::vector<torch::Tensor> LlavaImpl::visionParameters() const
{
    return named_children()["model"]->named_children()["vision_tower"]->parameters();
}

std::vector<torch::Tensor> LlavaImpl::projectorParameters() const
{
    return {m->proj1->weight, m->proj1->bias, m->proj2->weight, m->proj2->bias};
}

std::vector<torch::Tensor> HfVlmImpl::languageParameters() const
{
    std::vector<torch::Tensor> out;
    for (const auto &p : named_parameters())
        if ((p.key().rfind("model.language_model.", 0) == 0 || p.key().rfind("lm_head.", 0) == 0) &&
            p.key().find("lora_") == std::string::npos)
            out.push_back(p.value());
    return out;
}

std::vector<std::string> LlavaImpl::adapterTargetNames() const
{
    return {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "linear_1", "linear_2"};
}

std::vector<std::pair<std::string, HfLinear>> HfVlmImpl::linears() const
{
    std::vector<std::pair<std::string, HfLinear>> out;
    for (const auto &item : named_modules()) {
        if (auto lin = std::dynamic_pointer_cast<HfLinearImpl>(item.value()))
            out.emplace_back(item.key(), HfLinear(lin));
    }
    return out;
}

void HfVlmImpl::checkAdapterSpec(const LoraSpec &spec, const std::string &family, const std::string &note) const
{
    if (spec.rank < 1)
        throw std::runtime_error("LoRA: rank must be at least 1");
    const auto known = adapterTargetNames();
    for (const auto &t : spec.targets)
        if (std::find(known.begin(), known.end(), t) == known.end()) {
            std::string list;
            for (const auto &k : known)
                list += (list.empty() ? "" : ", ") + k;
            throw std::runtime_error("LoRA: unknown target module '" + t + "' for " + family + " (known: " + list +
                                     note + ")");
        }
}

void LlavaImpl::addAdapters(const LoraSpec &spec)
{
    checkAdapterSpec(spec, "LLaVA");
    if (folded && folded->replacedProjector && (spec.targets.count("linear_1") || spec.targets.count("linear_2")))
        throw std::runtime_error("LoRA: " + folded->dir +
                                 " saved the projector in full; a run from it trains the "
                                 "projector in full too (drop linear_1 / linear_2 from the targets)");
    // As SafeEraser's regex: the adapters go on the language model's modules (and the projector's only
    // when named); the vision tower never gets one.
    for (auto &[name, lin] : linears()) {
        if (name.find("vision_tower") != std::string::npos || name == "lm_head")
            continue;
        const std::string leaf = name.substr(name.rfind('.') + 1);
        if (spec.targets.count(leaf))
            lin->addAdapter(spec.rank, spec.scaling(), spec.dropout);
    }
    // The projector trains in full beside the adapters (unless it carries adapters itself): its original
    // weights serve the adapters-off reference.
    if (!spec.targets.count("linear_1"))
        m->proj1->keepOriginal();
    if (!spec.targets.count("linear_2"))
        m->proj2->keepOriginal();
}

// ---------------------------------------------------------------------------------------------- loading

namespace {
// The two namings' prefixes: transformers >= 4.52 / 5.x, and <= 4.51.
const std::pair<const char *, const char *> kNamings[] = {{"model.vision_tower.", "vision_tower."},
                                                          {"model.multi_modal_projector.", "multi_modal_projector."},
                                                          {"model.language_model.", "language_model.model."},
                                                          {"lm_head.", "language_model.lm_head."}};

// `name` with its prefix `from` (first or second of a pair) replaced by the pair's other; unchanged if none matches.
std::string renamePrefix(const std::string &name, bool fromCanonical)
{
    for (const auto &pair : kNamings) {
        const std::string from = fromCanonical ? pair.first : pair.second,
                          to = fromCanonical ? pair.second : pair.first;
        if (name.rfind(from, 0) == 0)
            return to + name.substr(from.size());
    }
    return name;
}
} // namespace

std::string llavaLegacyName(const std::string &name)
{
    return renamePrefix(name, true);
}
std::string llavaCanonicalName(const std::string &name)
{
    return renamePrefix(name, false);
}

Llava loadLlava(const std::string &folder, const LlavaConfig &config, torch::ScalarType dtype,
                const torch::Device &device, std::string *naming, const LoadProgressFn &progress, LoadReport *report)
{
    const HfWeights weights(folder);
    const bool v5 = canonicalNaming(weights, "model.language_model.embed_tokens.weight",
                                    "language_model.model.embed_tokens.weight", "LLaVA");
    if (naming)
        *naming = v5 ? "transformers-5" : "transformers-4";
    // Built on the CPU with memory never touched (the parameters take the file's bytes, or their converted copies
    // made on `device`, as they load), so a load never holds the weights twice. The projector trains in full beside
    // the adapters: its own memory, never the file's.
    Llava model(config, torch::TensorOptions().dtype(dtype).device(torch::kCPU));
    const LoadReport r =
        loadWeights(*model, weights, v5, llavaLegacyName, "model.multi_modal_projector.", device, progress);
    if (report)
        *report = r;
    return model;
}

} // namespace se::model
