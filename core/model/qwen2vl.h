// Qwen2-VL and Qwen2.5-VL (SPEC §10), images only, as transformers computes them: a vision tower over 14-pixel
// patches of an image of any size (multiples of 28 as Qwen2VlImageProcessor resizes it; Conv3d patch embedding with
// the frame repeated, 2-D rotary embedding, attention within each image — Qwen2.5-VL's within 4 × 4 windows of merged
// cells but in its full-attention blocks — LayerNorm / quick-GELU blocks (2-VL) or RMSNorm / SwiGLU (2.5-VL)), a
// PatchMerger of 2 × 2 patches into one language-model token, and a Qwen2 decoder (q / k / v with bias) whose rotary
// positions are M-RoPE's three axes (get_rope_index). Module and parameter names are transformers' ≥ 4.52 ones
// (`model.visual.…`, `model.language_model.…`, `lm_head`), so LoRA targets and adapter keys read as PEFT's; the hub's
// older files (`visual.…`, `model.…`) load too. Internal to the engine (LibTorch).
#pragma once

#include "core/model/hfweights.h"
#include "core/model/llava.h"
#include "core/model/mmmodel.h"

#include <cstdint>
#include <memory>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::model {

struct Qwen2VlConfig {
    std::string modelType = "qwen2_vl"; // or "qwen2_5_vl"
    bool v25() const { return modelType == "qwen2_5_vl"; }
    // vision tower
    int visionDepth = 32, visionDim = 1280, visionHeads = 16, visionMlp = 5120, visionOut = 3584;
    int patchSize = 14, temporalPatch = 2, mergeSize = 2, windowSize = 112;
    std::vector<int> fullAttentionBlocks; // Qwen2.5-VL: blocks that attend over the whole image
    std::string visionAct = "quick_gelu";
    double visionRopeTheta = 10000;
    // language model (Qwen2)
    int hidden = 3584, intermediate = 18944, layers = 28, heads = 28, kvHeads = 4, headDim = 128, vocab = 152064;
    int maxPositions = 32768;
    double rmsEps = 1e-6, ropeTheta = 1000000;
    std::vector<int> mropeSection{16, 24, 24};
    bool tieEmbeddings = false;
    int imageTokenId = 151655, visionStartId = 151652, visionEndId = 151653;
    std::string torchDtype;

    int64_t parameterCount() const;
    // Language-model tokens of an image that the processor resized to height × width.
    int64_t imageTokensFor(int64_t height, int64_t width) const
    {
        const int64_t f = int64_t(patchSize) * mergeSize;
        return (height / f) * (width / f);
    }
    // config.json in transformers 5's layout (text_config, rope_parameters) or the hub's older one (the text model's
    // fields at the top, rope_scaling {"type": "mrope"}); throws naming the file and the field.
    static Qwen2VlConfig fromJson(const std::string &json, const std::string &origin);
};

const AdapterLayout &qwen2VlAdapterLayout();

class Qwen2VlImpl : public HfVlmImpl
{
public:
    Qwen2VlImpl(const Qwen2VlConfig &config, const torch::TensorOptions &options);

    torch::Tensor hidden(const torch::Tensor &ids, const torch::Tensor &pixels, const torch::Tensor &positions,
                         const torch::Tensor &keyMask, KvCache *cache, int64_t outputFrom) override;
    torch::Tensor headLogits(const torch::Tensor &hidden) override;
    // [sum of the images' tokens, hidden]: the merger's output for every image of `pixels` (ImageStore::batch's
    // NaN-padded [N, 3, H, W]), image after image.
    torch::Tensor imageFeatures(const torch::Tensor &pixels);
    // The 3-D positions [3, B, T] of get_rope_index for `ids` (real tokens where keyMask is true; undefined: all),
    // the images' grids (merged cells, rows × columns) in order; `delta` receives, per row, the largest position + 1
    // less the row's real tokens.
    torch::Tensor ropeIndex(const torch::Tensor &ids, const torch::Tensor &keyMask,
                            const std::vector<std::pair<int64_t, int64_t>> &grids, torch::Tensor *delta) const;

    std::string architecture() const override { return "qwen2-vl"; }
    int64_t maxPositions() const override { return m_config.maxPositions; }
    int64_t imageTokens() const override; // of a 640 × 480 picture (plans; prompts use imageTokensFor)
    int64_t imageTokensFor(int64_t height, int64_t width) const override
    {
        return m_config.imageTokensFor(height, width);
    }
    torch::ScalarType dtype() const override { return m_dtype; }
    std::vector<torch::Tensor> visionParameters() const override;
    std::vector<torch::Tensor> projectorParameters() const override; // the merger's two linears
    void
    addAdapters(const LoraSpec &spec) override; // the language model's projections; the merger kept for the reference
    std::vector<std::string> adapterTargetNames() const override;
    bool setActivationCheckpointing(bool on) override
    {
        m_checkpoint = on;
        return true;
    }

    const Qwen2VlConfig &config() const { return m_config; }
    const AdapterLayout &adapterLayout() const override { return qwen2VlAdapterLayout(); }

private:
    struct Parts;
    std::shared_ptr<Parts> m;
    Qwen2VlConfig m_config;
    torch::ScalarType m_dtype;
    bool m_checkpoint = false;
};
TORCH_MODULE(Qwen2Vl);

// The file name of a parameter in the hub's older naming (`model.language_model.x` → `model.x`, `model.visual.x` →
// `visual.x`), and back to this program's from either.
std::string qwen2VlLegacyName(const std::string &name);
std::string qwen2VlCanonicalName(const std::string &name);

// Loads a Qwen2-VL / Qwen2.5-VL folder's weights (either naming) into a model of `dtype` on `device`; `naming`
// receives "transformers-5" or "transformers-4". The merger, which trains, gets its own memory.
Qwen2Vl loadQwen2Vl(const std::string &folder, const Qwen2VlConfig &config, torch::ScalarType dtype,
                    const torch::Device &device, std::string *naming = nullptr, const LoadProgressFn &progress = {},
                    LoadReport *report = nullptr);

} // namespace se::model
