// The model seam (ARCHITECTURE.md, "Models behind one interface"): what the engine needs from a multimodal
// causal language model, whatever its architecture — hidden states and the output head apart (training computes
// the head on answer positions only), a KV cache, parameter groups (vision / projector / language), LoRA adapters
// on modules named by the architecture, and a switch that turns every adapter off (the frozen reference of KL,
// NPO and DPO is the same weights with adapters off, not a second copy). The built-in model (vlm.h) and LLaVA
// (llava.h) implement it; core/model/registry.h creates one from its files. Internal to the engine (LibTorch).
#pragma once

#include <set>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

namespace se::model {

// Keys and values of every layer for the tokens seen so far, [B, kvHeads, T, headDim] each.
// One layer's cached keys and values: [B, heads, capacity, headDim] buffers, the first `used` positions filled.
// Appending writes in place (a decoding step copies one position, not the whole cache); the buffers grow by
// doubling when full, or are allocated at the cache's `reserve` when it is known.
struct KvSlot {
    torch::Tensor k, v;
    int64_t used = 0;
    // Writes k / v [B, H, T, D] after the filled positions; returns views of every position so far.
    std::pair<torch::Tensor, torch::Tensor> append(const torch::Tensor &k, const torch::Tensor &v, int64_t reserve);
};
struct KvCache {
    std::vector<KvSlot> layers;
    int64_t reserve = 0; // positions to allocate at first use (prompt + new tokens); 0: exactly what comes
    // Per row [B], added to the positions of the tokens after the cached ones, for a model whose positions are not
    // the token's index (Qwen2-VL's M-RoPE: an image's tokens take fewer positions than they are long); set by the
    // model at the prompt, undefined for the others. A caller that drops rows of the cache drops them here too.
    torch::Tensor positionDelta;
    int64_t length() const { return layers.empty() ? 0 : layers[0].used; }
    KvSlot *slot(size_t layer, size_t layers); // sized on first use
};

// The additive attention mask of T queries at absolute positions past… over past + T keys: causal, and padding keys
// (keyMask [B, past + T], true = real; undefined: all real) masked too, with `fill` (a large finite negative rather
// than -inf, so that a row of padding never turns into NaN). [1 or B, 1, T, past + T], float32.
torch::Tensor attentionMask(int64_t past, int64_t T, const torch::Tensor &keyMask, const torch::Device &device,
                            float fill);

// LoRA adapters: rank r, scaling alpha / r (alpha / sqrt(r) with rsLoRA), dropout on the adapter's input, on the
// modules whose names (the last part of their path, as PEFT's target_modules) are in `targets`.
struct LoraSpec {
    int rank = 0;
    double alpha = 16;
    double dropout = 0.05;
    bool rslora = false;
    std::set<std::string> targets;
    double scaling() const;
};

// A module that can carry an adapter; the model walks its modules for these.
class AdapterHost
{
public:
    virtual ~AdapterHost() = default;
    virtual void setAdapterEnabled(bool on) = 0;
    virtual std::vector<torch::Tensor> adapterParameters() const = 0;
};

class MultimodalLm : public torch::nn::Module
{
public:
    ~MultimodalLm() override = default;

    virtual std::string architecture() const = 0;
    // ids [B, T] int64. `pixels` [N, 3, H, W] (the model's preprocessing) replace, in order, the image placeholder
    // tokens of the ids (every image gives imageTokens() features); undefined when the ids hold none.
    // `positions` [B, T] (undefined: past … past+T-1); `keyMask` [B, past+T] bool, true = a real token
    // (undefined: all real). With `cache`, attends to and extends it. `outputFrom` (no cache): only positions
    // from there on are wanted, and the result is [B, T - outputFrom, d]. Returns the final normalised hidden states.
    virtual torch::Tensor hidden(const torch::Tensor &ids, const torch::Tensor &pixels, const torch::Tensor &positions,
                                 const torch::Tensor &keyMask, KvCache *cache, int64_t outputFrom) = 0;
    virtual torch::Tensor headLogits(const torch::Tensor &hidden) = 0; // [..., d] → [..., vocab]
    torch::Tensor logits(const torch::Tensor &ids, const torch::Tensor &pixels, const torch::Tensor &positions = {},
                         const torch::Tensor &keyMask = {}, KvCache *cache = nullptr)
    {
        return headLogits(hidden(ids, pixels, positions, keyMask, cache, 0));
    }

    virtual int64_t maxPositions() const = 0; // the longest sequence the model takes
    virtual int64_t imageTokens() const = 0;  // features (placeholder tokens) per image
    // A model that takes images of any size (its ImageStore's size is 0) gives an image of height × width (as its
    // preprocessing sized it) this many features; `pixels` then come as ImageStore::batch makes them, each image at
    // the top left and NaN around it. The others give imageTokens() for every image.
    virtual int64_t imageTokensFor(int64_t /*height*/, int64_t /*width*/) const { return imageTokens(); }
    virtual torch::ScalarType dtype() const = 0; // of the weights

    virtual std::vector<torch::Tensor> visionParameters() const = 0;
    virtual std::vector<torch::Tensor> projectorParameters() const = 0;
    virtual std::vector<torch::Tensor> languageParameters() const = 0;

    // Adds adapters on the named modules; throws naming an unknown target. The adapted model starts equal to
    // the base model (B = 0).
    virtual void addAdapters(const LoraSpec &spec) = 0;
    virtual std::vector<std::string> adapterTargetNames() const = 0; // what `targets` may hold
    std::vector<torch::Tensor> adapterParameters();
    void setAdaptersEnabled(bool on); // every adapter of the model at once
    int64_t parameterCount() const;
    // Activation (gradient) checkpointing per decoder layer: in training forwards with gradients on, each layer
    // keeps only its input and recomputes its activations during backward (with the random state of its
    // dropout restored), so activation memory is one layer's plus each layer's input, for about a third more
    // compute. Returns false when the model does not support it (then nothing changes).
    virtual bool setActivationCheckpointing(bool) { return false; }
};

// Turns every adapter of a model off for a scope (the frozen reference's forward), and back on after.
class AdaptersOff
{
public:
    explicit AdaptersOff(MultimodalLm &m) : m_model(m) { m_model.setAdaptersEnabled(false); }
    ~AdaptersOff() { m_model.setAdaptersEnabled(true); }
    AdaptersOff(const AdaptersOff &) = delete;
    AdaptersOff &operator=(const AdaptersOff &) = delete;

private:
    MultimodalLm &m_model;
};

// What folding an adapter folder into a model folder wrote (registry.h mergeAdapter).
struct MergeSummary {
    int merged = 0, replaced = 0; // LoRA-adapted weights, and weights replaced by saved modules (the projector)
    std::uint64_t bytes = 0;      // tensor bytes written
};

} // namespace se::model
