#include "core/model/qwen2vl.h"

#include "core/model/gemm.h"
#include "core/model/hfblocks.h"
#include "core/model/imagestore.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace se::model {

namespace F = torch::nn::functional;

// Named, not anonymous: Qwen2VlImpl::Parts (declared in the header) holds these (see llava.cpp's llava_parts).
namespace qwen2vl_parts {

using hf::Container;
using hf::Params;

torch::Tensor activation(const torch::Tensor &x, const std::string &act)
{
    if (act == "quick_gelu")
        return x * torch::sigmoid(1.702 * x);
    if (act == "silu")
        return F::silu(x);
    return F::gelu(x);
}

// One vision block: x + attn(norm1 x), then x + mlp(norm2 x). Qwen2-VL: LayerNorm and fc2(act(fc1 x));
// Qwen2.5-VL: RMSNorm and down(silu(gate x) · up x), every linear with bias.
struct VisionBlockImpl : torch::nn::Module {
    VisionBlockImpl(const Qwen2VlConfig &c, const torch::TensorOptions &o)
        : heads(c.visionHeads), rms(c.v25()), act(c.visionAct)
    {
        const int d = c.visionDim;
        norm1 = register_module("norm1", Params(std::vector<int64_t>{d}, !rms, o));
        norm2 = register_module("norm2", Params(std::vector<int64_t>{d}, !rms, o));
        auto attn = register_module("attn", Container());
        qkv = attn->register_module("qkv", HfLinear(d, 3 * d, true, o));
        proj = attn->register_module("proj", HfLinear(d, d, true, o));
        auto mlp = register_module("mlp", Container());
        if (rms) {
            gate = mlp->register_module("gate_proj", HfLinear(d, c.visionMlp, true, o));
            up = mlp->register_module("up_proj", HfLinear(d, c.visionMlp, true, o));
            down = mlp->register_module("down_proj", HfLinear(c.visionMlp, d, true, o));
        } else {
            fc1 = mlp->register_module("fc1", HfLinear(d, c.visionMlp, true, o));
            fc2 = mlp->register_module("fc2", HfLinear(c.visionMlp, d, true, o));
        }
    }
    torch::Tensor norm(const torch::Tensor &x, const Params &p) const
    {
        return rms ? hf::rmsNorm(x, p, 1e-6) : hf::layerNorm(x, p, 1e-6);
    }
    // x [S, d]; cos / sin [S, 1, headDim] float32; segments: lengths of the runs of rows that attend to each other.
    torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin,
                          const std::vector<int64_t> &segments)
    {
        const int64_t S = x.size(0), D = x.size(1) / heads;
        auto parts = qkv(norm(x, norm1)).view({S, 3, heads, D}).unbind(1); // each [S, heads, D]
        // Rotated in float32, as transformers' apply_rotary_pos_emb_vision.
        auto rotate = [&](const torch::Tensor &t) {
            const auto f = t.to(torch::kFloat);
            return (f * cos + hf::rotateHalf(f) * sin).to(t.scalar_type());
        };
        const auto q = rotate(parts[0]).transpose(0, 1), k = rotate(parts[1]).transpose(0, 1),
                   v = parts[2].transpose(0, 1); // [heads, S, D]
        std::vector<torch::Tensor> outs;
        int64_t at = 0;
        for (const int64_t n : segments) {
            auto slice = [&](const torch::Tensor &t) { return t.narrow(1, at, n).unsqueeze(0); };
            outs.push_back(hf::attend(slice(q), slice(k), slice(v), {}).squeeze(0).transpose(0, 1).reshape({n, -1}));
            at += n;
        }
        auto y = x + proj(outs.size() == 1 ? outs[0] : torch::cat(outs, 0));
        auto h = norm(y, norm2);
        return y + (rms ? down(siluMul(gate(h), up(h))) : fc2(activation(fc1(h), act)));
    }
    int64_t heads;
    bool rms;
    std::string act;
    Params norm1{nullptr}, norm2{nullptr};
    HfLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(VisionBlock);

// One image's patches [gh · gw, 3 · T · P · P] from its pixels [3, H, W]: the frame repeated over the temporal patch,
// rows in 2 × 2 merge groups, within a row channel, frame, y, x (transformers' Qwen2VLImageProcessor).
torch::Tensor patchesOf(const torch::Tensor &image, int P, int M, int T)
{
    const int64_t H = image.size(1), W = image.size(2), gh = H / P, gw = W / P;
    auto x = image.unsqueeze(0).expand({T, 3, H, W});  // [T, 3, H, W]
    x = x.reshape({T, 3, gh / M, M, P, gw / M, M, P}); // t c bh mh y bw mw x
    x = x.permute({2, 5, 3, 6, 1, 0, 4, 7});           // bh bw mh mw c t y x
    return x.reshape({gh * gw, int64_t(3) * T * P * P}).contiguous();
}

} // namespace qwen2vl_parts
using namespace qwen2vl_parts;

struct Qwen2VlImpl::Parts {
    Params patch{nullptr}, mergerNorm{nullptr}, embed{nullptr}, norm{nullptr};
    std::vector<VisionBlock> blocks;
    HfLinear merger1{nullptr}, merger2{nullptr}, lmHead{nullptr};
    std::vector<hf::DecoderLayer> layers;
    torch::Tensor invFreq, visionInvFreq; // float32
};

Qwen2VlImpl::Qwen2VlImpl(const Qwen2VlConfig &c, const torch::TensorOptions &o)
    : m(std::make_shared<Parts>()), m_config(c), m_dtype(o.dtype().toScalarType())
{
    auto model = register_module("model", Container());
    auto visual = model->register_module("visual", Container());
    auto pe = visual->register_module("patch_embed", Container());
    m->patch = pe->register_module(
        "proj", Params(std::vector<int64_t>{c.visionDim, 3, c.temporalPatch, c.patchSize, c.patchSize}, false, o));
    torch::nn::ModuleList blocks;
    for (int i = 0; i < c.visionDepth; ++i) {
        m->blocks.push_back(VisionBlock(c, o));
        blocks->push_back(m->blocks.back());
    }
    visual->register_module("blocks", blocks);
    auto merger = visual->register_module("merger", Container());
    const int merged = c.visionDim * c.mergeSize * c.mergeSize;
    m->mergerNorm = merger->register_module("ln_q", Params(std::vector<int64_t>{c.visionDim}, !c.v25(), o));
    auto mlp = merger->register_module("mlp", Container());
    m->merger1 = mlp->register_module("0", HfLinear(merged, merged, true, o));
    m->merger2 = mlp->register_module("2", HfLinear(merged, c.visionOut, true, o));

    auto lm = model->register_module("language_model", Container());
    m->embed = lm->register_module("embed_tokens", Params(std::vector<int64_t>{c.vocab, c.hidden}, false, o));
    torch::nn::ModuleList layers;
    const hf::DecoderShape shape{c.hidden, c.intermediate, c.heads, c.kvHeads, c.headDim, c.rmsEps, true};
    for (int i = 0; i < c.layers; ++i) {
        m->layers.push_back(hf::DecoderLayer(shape, o));
        layers->push_back(m->layers.back());
    }
    lm->register_module("layers", layers);
    m->norm = lm->register_module("norm", Params(std::vector<int64_t>{c.hidden}, false, o));
    if (!c.tieEmbeddings)
        m->lmHead = register_module("lm_head", HfLinear(c.hidden, c.vocab, false, o));
    auto inv = [&](double theta, int64_t dim) {
        return (1.0 / torch::pow(theta, torch::arange(0, dim, 2, torch::kDouble) / double(dim))).to(torch::kFloat);
    };
    m->invFreq = register_buffer("rope_inv_freq", inv(c.ropeTheta, c.headDim).to(o.device()));
    m->visionInvFreq =
        register_buffer("vision_rope_inv_freq", inv(c.visionRopeTheta, c.visionDim / c.visionHeads / 2).to(o.device()));
}

int64_t Qwen2VlImpl::imageTokens() const
{
    return m_config.imageTokensFor(476, 644); // 640 × 480 as smart_resize makes it
}

torch::Tensor Qwen2VlImpl::imageFeatures(const torch::Tensor &pixels)
{
    const auto &c = m_config;
    const int P = c.patchSize, M = c.mergeSize, unit = M * M;
    const auto device = m->patch->weight.device();
    std::vector<torch::Tensor> patches;
    std::vector<std::pair<int64_t, int64_t>> grids; // patches: rows × columns
    for (int64_t n = 0; n < pixels.size(0); ++n) {
        const auto [h, w] = imageExtent(pixels[n]);
        if (h == 0 || w == 0 || h % (P * M) != 0 || w % (P * M) != 0)
            throw std::runtime_error("qwen2-vl: image " + std::to_string(n) + " is " + std::to_string(w) + "x" +
                                     std::to_string(h) + " pixels, not multiples of " + std::to_string(P * M) +
                                     " as the image processor makes them");
        patches.push_back(patchesOf(pixels[n].narrow(1, 0, h).narrow(2, 0, w), P, M, c.temporalPatch));
        grids.emplace_back(h / P, w / P);
    }
    // The Conv3d whose kernel is its stride is a product with the kernel flattened (channel, frame, y, x).
    auto x = denseLinear(torch::cat(patches, 0).to(device).to(m_dtype), m->patch->weight.reshape({c.visionDim, -1}));
    const int64_t S = x.size(0);

    // Rotary angles per patch: [row · inv | column · inv], rows and columns in merge-group order.
    std::vector<int64_t> rows, cols, segments;
    rows.reserve(S);
    cols.reserve(S);
    for (const auto &[gh, gw] : grids) {
        for (int64_t bh = 0; bh < gh / M; ++bh)
            for (int64_t bw = 0; bw < gw / M; ++bw)
                for (int64_t mh = 0; mh < M; ++mh)
                    for (int64_t mw = 0; mw < M; ++mw) {
                        rows.push_back(bh * M + mh);
                        cols.push_back(bw * M + mw);
                    }
        segments.push_back(gh * gw);
    }
    auto angle = [&](const std::vector<int64_t> &v) {
        return torch::tensor(v, torch::kLong).to(device).to(torch::kFloat).unsqueeze(1) * m->visionInvFreq.unsqueeze(0);
    };
    auto freqs = torch::cat({angle(rows), angle(cols)}, 1);

    // Qwen2.5-VL: merged cells regrouped window by window (windows of windowSize pixels, the grid padded at the
    // bottom and right to whole windows — a whole extra one where it divides, as transformers' `ws - n % ws`), rows
    // moved in units of one merged cell; windowed blocks attend within a window.
    std::vector<int64_t> windowOrder, windows;
    if (c.v25()) {
        const int64_t ws = c.windowSize / P / M;
        int64_t base = 0;
        for (const auto &[gh, gw] : grids) {
            const int64_t lh = gh / M, lw = gw / M, padH = ws - lh % ws, padW = ws - lw % ws;
            const int64_t nh = (lh + padH) / ws, nw = (lw + padW) / ws;
            for (int64_t wy = 0; wy < nh; ++wy)
                for (int64_t wx = 0; wx < nw; ++wx) {
                    int64_t cells = 0;
                    for (int64_t y = wy * ws; y < std::min(lh, (wy + 1) * ws); ++y)
                        for (int64_t xx = wx * ws; xx < std::min(lw, (wx + 1) * ws); ++xx, ++cells)
                            windowOrder.push_back(base + y * lw + xx);
                    if (cells > 0)
                        windows.push_back(cells * unit);
                }
            base += lh * lw;
        }
        const auto order = torch::tensor(windowOrder, torch::kLong).to(device);
        x = x.view({S / unit, unit, -1}).index_select(0, order).reshape({S, -1});
        freqs = freqs.view({S / unit, unit, -1}).index_select(0, order).reshape({S, -1});
    }
    const auto emb = torch::cat({freqs, freqs}, 1).unsqueeze(1); // [S, 1, headDim]
    const auto cos = emb.cos(), sin = emb.sin();
    for (int j = 0; j < c.visionDepth; ++j) {
        const bool full = !c.v25() || std::count(c.fullAttentionBlocks.begin(), c.fullAttentionBlocks.end(), j);
        x = m->blocks[size_t(j)]->forward(x, cos, sin, full ? segments : windows);
    }
    const auto normed = c.v25() ? hf::rmsNorm(x, m->mergerNorm, 1e-6) : hf::layerNorm(x, m->mergerNorm, 1e-6);
    auto out = m->merger2(F::gelu(m->merger1(normed.reshape({S / unit, -1}))));
    if (c.v25()) // back to the images' own order
        out = out.index_select(0, torch::argsort(torch::tensor(windowOrder, torch::kLong)).to(device));
    return out;
}

torch::Tensor Qwen2VlImpl::ropeIndex(const torch::Tensor &ids, const torch::Tensor &keyMask,
                                     const std::vector<std::pair<int64_t, int64_t>> &grids, torch::Tensor *delta) const
{
    const int64_t B = ids.size(0), T = ids.size(1);
    const auto idsCpu = ids.to(torch::kCPU).contiguous();
    const auto maskCpu = keyMask.defined() ? keyMask.to(torch::kCPU).to(torch::kBool).contiguous() : keyMask;
    const bool *real = maskCpu.defined() ? maskCpu.data_ptr<bool>() : nullptr;
    auto pos = torch::zeros({3, B, T}, torch::kLong);
    auto deltas = torch::zeros({B}, torch::kLong);
    auto p = pos.accessor<int64_t, 3>();
    const auto id = idsCpu.accessor<int64_t, 2>();
    size_t image = 0;
    for (int64_t b = 0; b < B; ++b) {
        int64_t next = 0, count = 0, top = -1;
        for (int64_t t = 0; t < T;) {
            if (real && !real[b * T + t]) {
                ++t;
                continue;
            }
            if (id[b][t] != m_config.imageTokenId) {
                for (int a = 0; a < 3; ++a)
                    p[a][b][t] = next;
                top = std::max(top, next);
                ++next;
                ++count;
                ++t;
                continue;
            }
            if (image >= grids.size())
                throw std::runtime_error("qwen2-vl: the prompt holds more image tokens than the images give");
            const auto [rowsOf, colsOf] = grids[image++];
            for (int64_t r = 0; r < rowsOf; ++r)
                for (int64_t col = 0; col < colsOf; ++col, ++t, ++count) {
                    if (t >= T || id[b][t] != m_config.imageTokenId)
                        throw std::runtime_error("qwen2-vl: an image's run of tokens is shorter than its " +
                                                 std::to_string(rowsOf * colsOf) + " features");
                    p[0][b][t] = next;
                    p[1][b][t] = next + r;
                    p[2][b][t] = next + col;
                }
            top = std::max(top, next + std::max(rowsOf, colsOf) - 1);
            next += std::max(rowsOf, colsOf);
        }
        deltas[b] = top + 1 - count;
    }
    if (delta)
        *delta = deltas.to(ids.device());
    return pos.to(ids.device());
}

torch::Tensor Qwen2VlImpl::hidden(const torch::Tensor &ids, const torch::Tensor &pixels, const torch::Tensor &positions,
                                  const torch::Tensor &keyMask, KvCache *cache, int64_t outputFrom)
{
    const auto &c = m_config;
    const int64_t B = ids.size(0), T = ids.size(1);
    const int64_t past = hf::checkForward("qwen2-vl", T, outputFrom, cache, c.maxPositions);
    auto x = F::embedding(ids, m->embed->weight);
    const auto isImage = ids == static_cast<int64_t>(c.imageTokenId);
    const int64_t placeholders = isImage.sum().item<int64_t>();
    std::vector<std::pair<int64_t, int64_t>> grids; // merged cells per image
    int64_t features = 0;
    if (pixels.defined())
        for (int64_t n = 0; n < pixels.size(0); ++n) {
            const auto [h, w] = imageExtent(pixels[n]);
            const int64_t f = int64_t(c.patchSize) * c.mergeSize;
            grids.emplace_back(h / f, w / f);
            features += (h / f) * (w / f);
        }
    if (placeholders != features)
        throw std::runtime_error("qwen2-vl: the prompt holds " + std::to_string(placeholders) + " image tokens but " +
                                 std::to_string(grids.size()) + " image(s) give " + std::to_string(features) +
                                 " features");
    if (features > 0)
        x = x.masked_scatter(isImage.unsqueeze(-1).expand_as(x), imageFeatures(pixels).to(x.scalar_type()));

    // M-RoPE positions [3, B, T]: the prompt's from get_rope_index (the offset of later tokens kept in the cache);
    // tokens after cached ones at their index plus that offset on all three axes.
    torch::Tensor pos3;
    if (past > 0) {
        torch::Tensor pos =
            positions.defined() ? positions : torch::arange(past, past + T, ids.options()).unsqueeze(0).expand({B, T});
        if (cache->positionDelta.defined())
            pos = pos + cache->positionDelta.unsqueeze(1);
        pos3 = pos.unsqueeze(0).expand({3, B, T});
    } else {
        torch::Tensor delta;
        pos3 = ropeIndex(ids, keyMask, grids, &delta);
        if (cache)
            cache->positionDelta = delta;
    }
    // Frequencies per axis (float32), then the head's channels taken from the axes by mrope_section.
    auto freqs = pos3.to(torch::kFloat).unsqueeze(-1) * m->invFreq.view({1, 1, 1, -1}); // [3, B, T, D/2]
    std::vector<torch::Tensor> chunks;
    int64_t at = 0;
    for (size_t i = 0; i < c.mropeSection.size(); ++i) {
        chunks.push_back(freqs[int64_t(i % 3)].narrow(-1, at, c.mropeSection[i]));
        at += c.mropeSection[i];
    }
    const auto [cos, sin] = hf::rotaryTables(torch::cat(chunks, -1), x.scalar_type());
    auto mask = attentionMask(past, T, keyMask, ids.device(), std::numeric_limits<float>::lowest());
    const bool recompute = m_checkpoint && is_training() && torch::GradMode::is_enabled() && !cache;
    x = hf::runDecoderLayers(m->layers, x, cos, sin, mask, cache, outputFrom, recompute);
    return hf::rmsNorm(x, m->norm, c.rmsEps);
}

torch::Tensor Qwen2VlImpl::headLogits(const torch::Tensor &h)
{
    return m_config.tieEmbeddings ? denseLinear(h, m->embed->weight) : m->lmHead(h);
}

std::vector<torch::Tensor> Qwen2VlImpl::visionParameters() const
{
    std::vector<torch::Tensor> out;
    for (const auto &p : named_parameters())
        if (p.key().rfind("model.visual.", 0) == 0 && p.key().rfind("model.visual.merger.", 0) != 0)
            out.push_back(p.value());
    return out;
}

std::vector<torch::Tensor> Qwen2VlImpl::projectorParameters() const
{
    return {m->merger1->weight, m->merger1->bias, m->merger2->weight, m->merger2->bias};
}

std::vector<std::string> Qwen2VlImpl::adapterTargetNames() const
{
    return {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
}

void Qwen2VlImpl::addAdapters(const LoraSpec &spec)
{
    checkAdapterSpec(spec, "Qwen2-VL", "; the vision tower takes none");
    // The language model's projections only: Qwen2.5-VL's vision MLP has gate_proj / up_proj / down_proj too.
    for (auto &[name, lin] : linears()) {
        if (name.rfind("model.language_model.", 0) != 0)
            continue;
        if (spec.targets.count(name.substr(name.rfind('.') + 1)))
            lin->addAdapter(spec.rank, spec.scaling(), spec.dropout);
    }
    // The merger's two linears train in full beside the adapters (as LLaVA's projector; its norm stays frozen): their
    // original weights serve the adapters-off reference.
    m->merger1->keepOriginal();
    m->merger2->keepOriginal();
}

// ---------------------------------------------------------------------------------------------- loading

std::string qwen2VlLegacyName(const std::string &name)
{
    if (name.rfind("model.language_model.", 0) == 0)
        return "model." + name.substr(21);
    if (name.rfind("model.visual.", 0) == 0)
        return name.substr(6);
    return name;
}

std::string qwen2VlCanonicalName(const std::string &name)
{
    if (name.rfind("visual.", 0) == 0)
        return "model." + name;
    if (name.rfind("model.", 0) == 0 && name.rfind("model.language_model.", 0) != 0 &&
        name.rfind("model.visual.", 0) != 0)
        return "model.language_model." + name.substr(6);
    return name;
}

const AdapterLayout &qwen2VlAdapterLayout()
{
    static const AdapterLayout layout{
        qwen2VlLegacyName,
        qwen2VlCanonicalName,
        "model.visual.merger.mlp.",
        "merger.mlp",
        {},
        // The language model's projections only: Qwen2.5-VL's vision MLP has gate_proj / up_proj / down_proj too,
        // so a plain list would put adapters on the vision tower when PEFT loads it (either naming matches).
        [](const std::string &alternatives) { return "^(?!.*visual).*\\.(" + alternatives + ")$"; }};
    return layout;
}

Qwen2Vl loadQwen2Vl(const std::string &folder, const Qwen2VlConfig &config, torch::ScalarType dtype,
                    const torch::Device &device, std::string *naming, const LoadProgressFn &progress,
                    LoadReport *report)
{
    const HfWeights weights(folder);
    const bool v5 = hf::canonicalNaming(weights, "model.language_model.embed_tokens.weight",
                                        "model.embed_tokens.weight", "Qwen2-VL");
    if (naming)
        *naming = v5 ? "transformers-5" : "transformers-4";
    Qwen2Vl model(config, torch::TensorOptions().dtype(dtype).device(torch::kCPU));
    // the merger trains: its own memory
    const LoadReport r =
        hf::loadWeights(*model, weights, v5, qwen2VlLegacyName, "model.visual.merger.", device, progress);
    if (report)
        *report = r;
    return model;
}

} // namespace se::model
