#include "core/model/hfblocks.h"

#include "core/model/gemm.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

namespace se::model::hf {

namespace F = torch::nn::functional;

torch::Tensor layerNorm(const torch::Tensor &x, const Params &p, double eps)
{
    return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(p->weight).bias(p->bias).eps(eps));
}

torch::Tensor rmsNorm(const torch::Tensor &x, const Params &p, double eps)
{
    auto xf = x.to(torch::kFloat);
    xf = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return p->weight * xf.to(x.scalar_type());
}

torch::Tensor rotateHalf(const torch::Tensor &x)
{
    auto parts = x.chunk(2, -1);
    return torch::cat({-parts[1], parts[0]}, -1);
}

// Softmax attention over [B, H, Tq, D] · [B, H, Tk, D]; probabilities in float32 as transformers' eager path.
// On the CPU a bfloat16 model's products run in bfloat16 where the CPU multiplies it natively (AVX512-BF16, AMX:
// LibTorch hands contiguous bfloat16 batches to oneDNN, 180–230 GFLOP/s on two Xeon cores at a 649-token prompt's
// shape against 70–125 for float32 ones on OpenBLAS, whose pool a large model keeps at one thread), and in float32
// elsewhere (LibTorch 1.13's bfloat16 batched products without oneDNN are scalar loops). The scores are scaled,
// masked and normalised in float32 either way: a bfloat16 mask would round the most negative float to -inf and
// turn a padding row into NaN. A decoding step's few queries read the bfloat16 KV cache directly (gemm.h
// fewQueryAttention). The result comes back in the queries' dtype.
torch::Tensor attend(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v, const torch::Tensor &mask)
{
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    const bool cpuBf16 = q.scalar_type() == torch::kBFloat16 && q.device().is_cpu();
    if (cpuBf16 && q.size(2) <= 4 && !torch::GradMode::is_enabled())
        return fewQueryAttention(q.to(torch::kFloat), k, v, mask.defined() ? mask.to(torch::kFloat) : mask, scale)
            .to(q.scalar_type());
    if (cpuBf16 && cpuMultipliesBf16()) {
        // A few heads at a time: a 649-token prompt's float32 scores are 54 MB for 32 heads — over the allocator's
        // largest heap block (threads.cpp), so every layer would map and fault in fresh pages — and under 8 MB for
        // four, which also stay in cache between the products (82 → 52 ms per layer on two Xeon cores).
        const auto floatMask = mask.defined() ? mask.to(torch::kFloat).contiguous() : mask; // once, not per chunk
        const int64_t perHead = std::max<int64_t>(1, q.size(0) * q.size(2) * k.size(2) * 4);
        const int64_t heads = q.size(1), chunk = std::clamp<int64_t>((8 << 20) / perHead, 1, heads);
        std::vector<torch::Tensor> parts;
        for (int64_t h = 0; h < heads; h += chunk) {
            const int64_t n = std::min(chunk, heads - h);
            const auto raw =
                torch::matmul(q.narrow(1, h, n).contiguous(), k.narrow(1, h, n).contiguous().transpose(-2, -1));
            parts.push_back(torch::matmul(scaledMaskedSoftmax(raw, floatMask, scale), v.narrow(1, h, n).contiguous()));
        }
        return parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
    }
    auto wide = [&](const torch::Tensor &t) { return cpuBf16 ? t.to(torch::kFloat) : t; };
    const auto qk = wide(q), kk = wide(k), vv = wide(v);
    auto scores = torch::matmul(qk, kk.transpose(-2, -1)) * scale;
    if (mask.defined())
        scores = scores + mask.to(scores.scalar_type());
    auto p = torch::softmax(scores.to(torch::kFloat), -1).to(vv.scalar_type());
    return torch::matmul(p, vv).to(q.scalar_type());
}

DecoderLayerImpl::DecoderLayerImpl(const DecoderShape &s, const torch::TensorOptions &o)
    : heads(s.heads), kvHeads(s.kvHeads), headDim(s.headDim), eps(s.eps)
{
    const int d = s.hidden, qd = s.heads * s.headDim, kv = s.kvHeads * s.headDim;
    auto attn = register_module("self_attn", Container());
    q = attn->register_module("q_proj", HfLinear(d, qd, s.qkvBias, o));
    k = attn->register_module("k_proj", HfLinear(d, kv, s.qkvBias, o));
    v = attn->register_module("v_proj", HfLinear(d, kv, s.qkvBias, o));
    out = attn->register_module("o_proj", HfLinear(qd, d, false, o));
    auto mlp = register_module("mlp", Container());
    gate = mlp->register_module("gate_proj", HfLinear(d, s.intermediate, false, o));
    up = mlp->register_module("up_proj", HfLinear(d, s.intermediate, false, o));
    down = mlp->register_module("down_proj", HfLinear(s.intermediate, d, false, o));
    ln1 = register_module("input_layernorm", Params(std::vector<int64_t>{d}, false, o));
    ln2 = register_module("post_attention_layernorm", Params(std::vector<int64_t>{d}, false, o));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin,
                                        const torch::Tensor &mask, KvSlot *cache, int64_t reserve, int64_t queryFrom)
{
    const int64_t B = x.size(0), T = x.size(1);
    auto h = rmsNorm(x, ln1, eps);
    torch::Tensor xq = x, hq = h, cq = cos, sq = sin, m = mask;
    if (queryFrom > 0) {
        xq = x.slice(1, queryFrom);
        hq = h.slice(1, queryFrom);
        cq = cos.slice(2, queryFrom);
        sq = sin.slice(2, queryFrom);
        m = mask.slice(2, queryFrom);
    }
    const int64_t Tq = xq.size(1);
    auto qh = q(hq).view({B, Tq, heads, headDim}).transpose(1, 2);
    auto kh = k(h).view({B, T, kvHeads, headDim}).transpose(1, 2);
    auto vh = v(h).view({B, T, kvHeads, headDim}).transpose(1, 2);
    qh = qh * cq + rotateHalf(qh) * sq;
    kh = kh * cos + rotateHalf(kh) * sin;
    if (cache)
        std::tie(kh, vh) = cache->append(kh, vh, reserve);
    if (kvHeads != heads) { // grouped-query attention: each key/value head serves heads / kvHeads queries
        kh = kh.repeat_interleave(heads / kvHeads, 1);
        vh = vh.repeat_interleave(heads / kvHeads, 1);
    }
    auto ctx = attend(qh, kh, vh, m).transpose(1, 2).reshape({B, Tq, heads * headDim});
    auto y = xq + out(ctx);
    auto g = rmsNorm(y, ln2, eps);
    return y + down(siluMul(gate(g), up(g)));
}

namespace {
// One decoder layer under activation checkpointing: the forward runs without building a graph and keeps the
// layer's input (and the shared rotary tables and mask); the backward recomputes the layer with gradients on — the
// device's random state (LoRA dropout) set back to what the forward saw — and back-propagates through it, which
// accumulates the gradients of the layer's trainable parameters and gives the input's.
struct LayerCheckpoint : torch::autograd::Function<LayerCheckpoint> {
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                                 const torch::Tensor &cos, const torch::Tensor &sin, const torch::Tensor &mask,
                                 int64_t layer, int64_t queryFrom)
    {
        auto gen = at::globalContext().defaultGenerator(x.device());
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            ctx->saved_data["rng"] = gen.get_state();
        }
        ctx->saved_data["layer"] = layer;
        ctx->saved_data["from"] = queryFrom;
        ctx->save_for_backward({x, cos, sin, mask});
        return reinterpret_cast<DecoderLayerImpl *>(layer)->forward(x, cos, sin, mask, nullptr, 0, queryFrom);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        auto *layer = reinterpret_cast<DecoderLayerImpl *>(ctx->saved_data["layer"].toInt());
        auto x = saved[0].detach().requires_grad_(true);
        auto gen = at::globalContext().defaultGenerator(x.device());
        torch::Tensor now;
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            now = gen.get_state();
            gen.set_state(ctx->saved_data["rng"].toTensor());
        }
        torch::Tensor y;
        {
            torch::AutoGradMode on(true);
            y = layer->forward(x, saved[1], saved[2], saved[3], nullptr, 0, ctx->saved_data["from"].toInt());
        }
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(now);
        }
        torch::autograd::backward({y}, {grads[0]});
        return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

} // namespace

int64_t checkForward(const char *family, int64_t T, int64_t outputFrom, const KvCache *cache, int64_t maxPositions)
{
    if (outputFrom < 0 || outputFrom >= T || (outputFrom > 0 && cache))
        throw std::runtime_error(std::string(family) + ": output start " + std::to_string(outputFrom) +
                                 " out of range");
    const int64_t past = cache ? cache->length() : 0;
    if (past + T > maxPositions)
        throw std::runtime_error(std::string(family) + ": a sequence of " + std::to_string(past + T) +
                                 " tokens is longer than the model's max_position_embeddings (" +
                                 std::to_string(maxPositions) + ")");
    return past;
}

std::pair<torch::Tensor, torch::Tensor> rotaryTables(const torch::Tensor &angles, torch::ScalarType dtype)
{
    const auto full = torch::cat({angles, angles}, -1).unsqueeze(1); // [B, 1, T, D]
    return {full.cos().to(dtype), full.sin().to(dtype)};
}

bool canonicalNaming(const HfWeights &weights, const std::string &canonical, const std::string &legacy,
                     const std::string &family)
{
    if (weights.has(canonical))
        return true;
    if (weights.has(legacy))
        return false;
    throw std::runtime_error(weights.folder() + ": tensor '" + canonical + "' (or '" + legacy +
                             "') is missing: not a " + family + " checkpoint");
}

LoadReport loadWeights(torch::nn::Module &model, const HfWeights &weights, bool canonical,
                       const std::function<std::string(const std::string &)> &legacyName, const std::string &ownPrefix,
                       const torch::Device &device, const LoadProgressFn &progress)
{
    std::vector<HfWeights::Wanted> wanted;
    for (auto &p : model.named_parameters())
        wanted.push_back({canonical ? p.key() : legacyName(p.key()), p.value(), p.key().rfind(ownPrefix, 0) == 0});
    const LoadReport r = weights.loadInto(std::move(wanted), device, progress);
    model.to(device); // the buffers (rotary frequencies)
    model.eval();
    return r;
}

torch::Tensor runDecoderLayers(const std::vector<DecoderLayer> &layers, torch::Tensor x, const torch::Tensor &cos,
                               const torch::Tensor &sin, const torch::Tensor &mask, KvCache *cache, int64_t outputFrom,
                               bool recompute)
{
    if (recompute && !x.requires_grad()) // the layers' own parameters still need their gradients
        x = x.detach().requires_grad_(true);
    for (size_t l = 0; l < layers.size(); ++l) {
        const int64_t from = l + 1 == layers.size() ? outputFrom : 0;
        if (recompute)
            x = LayerCheckpoint::apply(x, cos, sin, mask, reinterpret_cast<int64_t>(layers[l].get()), from);
        else
            x = layers[l].ptr()->forward(x, cos, sin, mask, cache ? cache->slot(l, layers.size()) : nullptr,
                                         cache ? cache->reserve : 0, from);
    }
    return x;
}

} // namespace se::model::hf
