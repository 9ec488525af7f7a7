#include "core/model/vlm.h"

#include "core/model/gemm.h"
#include "core/model/tokenizer.h"

#include <cmath>
#include <tuple>
#include <map>
#include <stdexcept>

namespace se::model {

namespace F = torch::nn::functional;

LoraLinearImpl::LoraLinearImpl(int64_t in, int64_t out)
{
    linear = register_module("linear", torch::nn::Linear(in, out));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor &x)
{
    auto y = denseLinear(x, linear->weight, linear->bias);
    return loraActive() ? y + loraDelta(x) : y;
}

torch::Tensor LoraLinearImpl::loraDelta(const torch::Tensor &x) const
{
    auto h = m_dropout > 0 ? F::dropout(x, F::DropoutFuncOptions().p(m_dropout).training(is_training())) : x;
    return torch::matmul(torch::matmul(h, m_a.t()), m_b.t()) * m_scaling;
}

void LoraLinearImpl::enableLora(int rank, double alpha, double dropout)
{
    const auto &w = linear->weight;
    const int64_t in = w.size(1), out = w.size(0);
    auto opts = w.options().requires_grad(false);
    // As PEFT: A kaiming-uniform, B zero, so the adapted model starts equal to the base model.
    m_a = torch::empty({rank, in}, opts);
    torch::nn::init::kaiming_uniform_(m_a, std::sqrt(5.0));
    m_a.set_requires_grad(true);
    m_b = torch::zeros({out, rank}, opts).set_requires_grad(true);
    m_scaling = alpha / rank;
    m_dropout = dropout;
}

torch::Tensor LoraLinearImpl::mergedWeight() const
{
    torch::NoGradGuard ng;
    if (!m_a.defined())
        return linear->weight.detach();
    return linear->weight.detach() + torch::matmul(m_b, m_a) * m_scaling;
}

std::vector<torch::Tensor> LoraLinearImpl::loraParameters() const
{
    if (!m_a.defined())
        return {};
    return {m_a, m_b};
}

DecoderLayerImpl::DecoderLayerImpl(const ModelCard &card) : m_heads(card.heads), m_headDim(card.headDim())
{
    const int d = card.dModel;
    ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    q = register_module("q", LoraLinear(d, d));
    k = register_module("k", LoraLinear(d, d));
    v = register_module("v", LoraLinear(d, d));
    o = register_module("o", LoraLinear(d, d));
    ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    fc1 = register_module("fc1", LoraLinear(d, d * card.ffMult));
    fc2 = register_module("fc2", LoraLinear(d * card.ffMult, d));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor &x, const torch::Tensor &mask, KvSlot *cache,
                                        int64_t reserve, int64_t queryFrom)
{
    const int64_t B = x.size(0), T = x.size(1);
    auto h = ln1(x);
    // q, k and v as one product: a [N, d]·[d, 3d] GEMM runs about twice as fast as three [N, d]·[d, d] ones
    // on this CPU's OpenBLAS (tests/bench). The weights stay three modules (names, LoRA targets).
    auto w = torch::cat({q->linear->weight, k->linear->weight, v->linear->weight});
    auto b = torch::cat({q->linear->bias, k->linear->bias, v->linear->bias});
    auto qkv = denseLinear(h, w, b);
    auto parts = qkv.split(qkv.size(-1) / 3, -1);
    auto withLora = [&](torch::Tensor t, const LoraLinear &m) { return m->loraActive() ? t + m->loraDelta(h) : t; };
    auto split = [&](const torch::Tensor &t) { return t.view({B, T, m_heads, m_headDim}).transpose(1, 2); };
    auto qh = split(withLora(parts[0], q)), kh = split(withLora(parts[1], k)), vh = split(withLora(parts[2], v));
    torch::Tensor xq = x, m = mask;
    int64_t Tq = T;
    if (queryFrom > 0) {
        // Only the outputs from `queryFrom` on are wanted: keys and values stay whole, queries, the output
        // projection and the MLP run on the tail (the q columns computed for the head are a small waste next
        // to the saved attention rows and MLP).
        qh = qh.slice(2, queryFrom);
        xq = x.slice(1, queryFrom);
        m = mask.slice(2, queryFrom);
        Tq = T - queryFrom;
    }
    if (cache)
        std::tie(kh, vh) = cache->append(kh, vh, reserve);
    auto scores = torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(m_headDim)));
    scores = scores + m;
    auto attn = torch::softmax(scores, -1).to(vh.scalar_type());
    auto ctx = torch::matmul(attn, vh).transpose(1, 2).reshape({B, Tq, m_heads * m_headDim});
    auto y = xq + o(ctx);
    return y + fc2(F::gelu(fc1(ln2(y))));
}

VlmImpl::VlmImpl(const ModelCard &card, int vocabSize) : m_card(card), m_vocab(vocabSize)
{
    card.validate();
    if (vocabSize < 8)
        throw std::runtime_error("model: vocabulary of " + std::to_string(vocabSize) + " tokens is too small");
    torch::nn::Sequential seq;
    int in = 3;
    for (int s = 0; s < card.visionStages; ++s) {
        const int out = card.visionWidth >> (card.visionStages - 1 - s);
        seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
        seq->push_back(torch::nn::GELU());
        in = out;
    }
    vision = register_module("vision", seq);
    proj1 = register_module("proj1", LoraLinear(card.visionWidth, card.dModel));
    proj2 = register_module("proj2", LoraLinear(card.dModel, card.dModel));
    tokEmb = register_module("tok_emb", torch::nn::Embedding(vocabSize, card.dModel));
    posEmb = register_module("pos_emb", torch::nn::Embedding(card.maxSeq, card.dModel));
    torch::nn::ModuleList list;
    for (int l = 0; l < card.layers; ++l) {
        layers.push_back(DecoderLayer(card));
        list->push_back(layers.back());
    }
    register_module("layers", list); // parameter names "layers.N.…", as Hugging Face's

    lnF = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({card.dModel})));
    if (!card.tieEmbeddings)
        head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(card.dModel, vocabSize).bias(false)));

    // GPT-2 initialisation: small normal weights, residual outputs scaled down with depth.
    torch::NoGradGuard ng;
    const double resid = 0.02 / std::sqrt(2.0 * card.layers);
    for (auto &p : named_parameters()) {
        const auto &name = p.key();
        auto &t = p.value();
        if (name.rfind("vision.", 0) == 0)
            continue; // convs keep their default (Kaiming) init
        if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
            t.zero_();
        else if (name.find("ln") != std::string::npos)
            t.fill_(1.0);
        else if (name.find(".o.") != std::string::npos || name.find(".fc2.") != std::string::npos)
            t.normal_(0, resid);
        else
            t.normal_(0, 0.02);
    }
}

torch::Tensor VlmImpl::encodeImages(const torch::Tensor &images)
{
    auto f = vision->forward(images); // [B, C, s, s]
    // LibTorch 1.13's CPU convolution backward returns zero or garbage weight gradients when the incoming
    // gradient is not contiguous (as it is after the transpose below): hand it a contiguous one.
    if (f.requires_grad())
        f.register_hook([](torch::Tensor g) { return g.contiguous(); });
    f = f.flatten(2).transpose(1, 2); // [B, s*s, C]
    return proj2(F::gelu(proj1(f)));
}

torch::Tensor VlmImpl::hidden(const torch::Tensor &ids, const torch::Tensor &images, const torch::Tensor &positions,
                              const torch::Tensor &keyMask, KvCache *cache, int64_t outputFrom)
{
    if (outputFrom < 0 || outputFrom >= ids.size(1) || (outputFrom > 0 && cache))
        throw std::runtime_error("model: output start " + std::to_string(outputFrom) + " out of range");
    const int64_t B = ids.size(0), T = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    if (past + T > m_card.maxSeq && !positions.defined())
        throw std::runtime_error("model: sequence of " + std::to_string(past + T) + " tokens exceeds max_seq " +
                                 std::to_string(m_card.maxSeq));
    auto x = tokEmb(ids);
    if (images.defined()) {
        auto feats = encodeImages(images).to(x.scalar_type());
        auto where = (ids == static_cast<int64_t>(Tokenizer::Image)).unsqueeze(-1).expand_as(x);
        x = x.masked_scatter(where, feats);
    }
    torch::Tensor pos = positions;
    if (!pos.defined())
        pos = torch::arange(past, past + T, ids.options()).unsqueeze(0).expand({B, T});
    else if (pos.max().item<int64_t>() >= m_card.maxSeq)
        throw std::runtime_error("model: position exceeds max_seq " + std::to_string(m_card.maxSeq));
    x = x + posEmb(pos);

    // Additive mask: causal over absolute indices, plus padding keys (-1e9 rather than -inf: see attentionMask).
    auto mask = attentionMask(past, T, keyMask, ids.device(), -1e9f);
    for (size_t l = 0; l < layers.size(); ++l)
        x = layers[l]->forward(x, mask, cache ? cache->slot(l, layers.size()) : nullptr, cache ? cache->reserve : 0,
                               l + 1 == layers.size() ? outputFrom : 0);
    return lnF(x);
}

torch::Tensor VlmImpl::headLogits(const torch::Tensor &hidden)
{
    return denseLinear(hidden, m_card.tieEmbeddings ? tokEmb->weight : head->weight);
}

torch::Tensor VlmImpl::forward(const torch::Tensor &ids, const torch::Tensor &images, const torch::Tensor &positions,
                               const torch::Tensor &keyMask, KvCache *cache)
{
    return headLogits(hidden(ids, images, positions, keyMask, cache));
}

void VlmImpl::enableLora(int rank, double alpha, double dropout, const std::set<std::string> &targets)
{
    static const std::set<std::string> known = {"q", "k", "v", "o", "fc1", "fc2", "projector"};
    for (const auto &t : targets)
        if (!known.count(t))
            throw std::runtime_error("LoRA: unknown target module '" + t +
                                     "' (known: q, k, v, o, fc1, fc2, projector)");
    if (rank < 1)
        throw std::runtime_error("LoRA: rank must be at least 1");
    for (auto &l : layers) {
        if (targets.count("q"))
            l->q->enableLora(rank, alpha, dropout);
        if (targets.count("k"))
            l->k->enableLora(rank, alpha, dropout);
        if (targets.count("v"))
            l->v->enableLora(rank, alpha, dropout);
        if (targets.count("o"))
            l->o->enableLora(rank, alpha, dropout);
        if (targets.count("fc1"))
            l->fc1->enableLora(rank, alpha, dropout);
        if (targets.count("fc2"))
            l->fc2->enableLora(rank, alpha, dropout);
    }
    if (targets.count("projector")) {
        proj1->enableLora(rank, alpha, dropout);
        proj2->enableLora(rank, alpha, dropout);
    }
}

std::vector<std::string> VlmImpl::adapterTargetNames() const
{
    return {"q", "k", "v", "o", "fc1", "fc2", "projector"};
}

std::vector<std::pair<std::string, torch::Tensor>> VlmImpl::mergedParameters() const
{
    std::map<std::string, torch::Tensor> merged;
    auto add = [&](const std::string &prefix, const LoraLinear &m) {
        if (m->hasLora())
            merged[prefix + ".linear.weight"] = m->mergedWeight();
    };
    add("proj1", proj1);
    add("proj2", proj2);
    for (size_t i = 0; i < layers.size(); ++i) {
        const std::string p = "layers." + std::to_string(i) + ".";
        const auto &l = layers[i];
        add(p + "q", l->q);
        add(p + "k", l->k);
        add(p + "v", l->v);
        add(p + "o", l->o);
        add(p + "fc1", l->fc1);
        add(p + "fc2", l->fc2);
    }
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto &p : named_parameters()) {
        auto it = merged.find(p.key());
        out.emplace_back(p.key(), it != merged.end() ? it->second : p.value().detach());
    }
    return out;
}

std::vector<torch::Tensor> VlmImpl::loraParameters() const
{
    std::vector<torch::Tensor> out;
    auto add = [&](const LoraLinear &m) {
        for (auto &t : m->loraParameters())
            out.push_back(t);
    };
    add(proj1);
    add(proj2);
    for (const auto &l : layers)
        for (const auto *m : {&l->q, &l->k, &l->v, &l->o, &l->fc1, &l->fc2})
            add(*m);
    return out;
}

std::vector<torch::Tensor> VlmImpl::visionParameters() const
{
    return vision->parameters();
}

std::vector<torch::Tensor> VlmImpl::projectorParameters() const
{
    auto a = proj1->parameters(), b = proj2->parameters();
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::vector<torch::Tensor> VlmImpl::decoderParameters() const
{
    std::vector<torch::Tensor> out;
    for (const auto &p : named_parameters())
        if (p.key().rfind("vision.", 0) != 0 && p.key().rfind("proj", 0) != 0)
            out.push_back(p.value());
    return out;
}

Vlm makeVlm(const ModelCard &card, int vocabSize, std::uint64_t seed)
{
    torch::manual_seed(seed);
    return Vlm(card, vocabSize);
}

Vlm cloneVlm(const Vlm &model)
{
    Vlm copy(model->card(), model->vocabSize());
    torch::NoGradGuard ng;
    auto src = model->named_parameters();
    copy->to(src.begin()->value().device());
    auto dst = copy->named_parameters();
    for (auto &p : dst)
        p.value().copy_(src[p.key()]);
    copy->train(model->is_training());
    return copy;
}

int64_t parameterCount(const Vlm &model)
{
    int64_t n = 0;
    for (const auto &p : model->parameters())
        n += p.numel();
    return n;
}

} // namespace se::model
