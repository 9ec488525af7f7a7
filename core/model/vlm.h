// The built-in multimodal model (SPEC §5): a conv image encoder whose last feature map becomes the image
// tokens, a two-layer projector into the token space (as LLaVA's), and a small causal pre-norm decoder with
// learned positions and a KV cache. Every linear layer of the projector and decoder can carry a LoRA adapter.
// Internal to the engine (LibTorch); the UI and CLI use core/unlearn/engine.h.
#pragma once

#include "core/model/mmmodel.h"
#include "core/model/modelcard.h"

#include <set>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::model {

// A linear layer with an optional low-rank adapter: y = W x + b + (alpha / r) · B A dropout(x).
// The adapter tensors are not registered parameters, so named_parameters() (and so a checkpoint) always
// holds the plain weights; mergedWeight() is W with the adapter folded in.
class LoraLinearImpl : public torch::nn::Module, public AdapterHost
{
public:
    LoraLinearImpl(int64_t in, int64_t out);
    torch::Tensor forward(const torch::Tensor &x);
    torch::Tensor loraDelta(const torch::Tensor &x) const; // the adapter's term alone (needs hasLora())
    void enableLora(int rank, double alpha, double dropout);
    bool hasLora() const { return m_a.defined(); }
    bool loraActive() const { return m_a.defined() && m_enabled; } // present and not switched off
    void setAdapterEnabled(bool on) override { m_enabled = on; }
    std::vector<torch::Tensor> adapterParameters() const override { return loraParameters(); }
    torch::Tensor mergedWeight() const; // W + scaling · B A without changing anything
    std::vector<torch::Tensor> loraParameters() const;

    torch::nn::Linear linear{nullptr};

private:
    torch::Tensor m_a, m_b;
    double m_scaling = 0, m_dropout = 0;
    bool m_enabled = true;
};
TORCH_MODULE(LoraLinear);

class DecoderLayerImpl : public torch::nn::Module
{
public:
    explicit DecoderLayerImpl(const ModelCard &card);
    // `mask` is additive, broadcastable to [B, heads, T, Tk]; `cache` the layer's keys and values (null: none;
    // `reserve` positions allocated at its first use). With queryFrom > 0 (no cache), returns only the outputs of
    // positions queryFrom… [B, T - queryFrom, d].
    torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &mask, KvSlot *cache, int64_t reserve = 0,
                          int64_t queryFrom = 0);

    torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
    LoraLinear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, fc1{nullptr}, fc2{nullptr};

private:
    int m_heads, m_headDim;
};
TORCH_MODULE(DecoderLayer);

class VlmImpl : public MultimodalLm
{
public:
    VlmImpl(const ModelCard &card, int vocabSize);

    // ids [B, T] (int64). `images` [B, 3, S, S] replaces the <image> tokens of each row (exactly
    // card.imageTokens() per row) with the projected image features; undefined when the ids hold none.
    // `positions` [B, T] (undefined: past … past+T-1); `keyMask` [B, past+T] bool, true = a real token
    // (undefined: all real). With `cache`, attends to and extends it. Returns logits [B, T, vocab].
    torch::Tensor forward(const torch::Tensor &ids, const torch::Tensor &images, const torch::Tensor &positions = {},
                          const torch::Tensor &keyMask = {}, KvCache *cache = nullptr);
    // forward() in two halves: the final normalised hidden states [B, T, d], and the output head on any
    // [..., d] — training applies the head to answer positions only (most positions are image and prompt).
    // `outputFrom` (training, no cache): only positions from there on are wanted — the last layer computes its
    // queries, output projection and MLP for those alone, and the result is [B, T - outputFrom, d].
    torch::Tensor hidden(const torch::Tensor &ids, const torch::Tensor &images, const torch::Tensor &positions = {},
                         const torch::Tensor &keyMask = {}, KvCache *cache = nullptr, int64_t outputFrom = 0) override;
    torch::Tensor headLogits(const torch::Tensor &hidden) override;
    torch::Tensor encodeImages(const torch::Tensor &images); // [B, N, dModel]

    // Adapters on the named decoder linears ("q", "k", "v", "o", "fc1", "fc2") and, with "projector", on
    // the projector. Throws on an unknown target name.
    void enableLora(int rank, double alpha, double dropout, const std::set<std::string> &targets);
    // named_parameters() with every adapter folded into its weight (a copy; the model is unchanged).
    std::vector<std::pair<std::string, torch::Tensor>> mergedParameters() const;
    std::vector<torch::Tensor> loraParameters() const;
    std::vector<torch::Tensor> visionParameters() const override;
    std::vector<torch::Tensor> projectorParameters() const override;
    std::vector<torch::Tensor> decoderParameters() const;

    // The model seam (mmmodel.h).
    std::string architecture() const override { return m_card.architecture; }
    int64_t maxPositions() const override { return m_card.maxSeq; }
    int64_t imageTokens() const override { return m_card.imageTokens(); }
    torch::ScalarType dtype() const override { return torch::kFloat; }
    std::vector<torch::Tensor> languageParameters() const override { return decoderParameters(); }
    void addAdapters(const LoraSpec &spec) override { enableLora(spec.rank, spec.alpha, spec.dropout, spec.targets); }
    std::vector<std::string> adapterTargetNames() const override;

    const ModelCard &card() const { return m_card; }
    int vocabSize() const { return m_vocab; }

    torch::nn::Sequential vision{nullptr};
    LoraLinear proj1{nullptr}, proj2{nullptr};
    torch::nn::Embedding tokEmb{nullptr}, posEmb{nullptr};
    std::vector<DecoderLayer> layers;
    torch::nn::LayerNorm lnF{nullptr};
    torch::nn::Linear head{nullptr}; // only when the card does not tie embeddings

private:
    ModelCard m_card;
    int m_vocab;
};
TORCH_MODULE(Vlm);

// A fresh model with deterministic weights for `seed`.
Vlm makeVlm(const ModelCard &card, int vocabSize, std::uint64_t seed);
// A deep copy on the same device (the frozen reference of KL / NPO / DPO).
Vlm cloneVlm(const Vlm &model);
int64_t parameterCount(const Vlm &model);

} // namespace se::model
