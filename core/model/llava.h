// LLaVA-1.5 (SPEC §8) as transformers computes it: a CLIP ViT vision tower whose hidden state
// `vision_feature_layer` (−2: the output of the second-to-last layer) gives the image features ("default":
// CLS dropped), a projector linear → GELU (erf) → linear, and a Llama decoder (RMSNorm in float32, rotary
// embeddings in the rotate-half convention, SwiGLU, grouped-query attention, untied lm_head). Module and
// parameter names are transformers' (≥ 4.52 naming), so LoRA targets and adapter keys read as PEFT's.
// Loaded from a Hugging Face folder by loadLlava(); the vision layers after the feature layer and
// post_layernorm are never used, so they are not loaded. Internal to the engine (LibTorch).
#pragma once

#include "core/model/hfweights.h"
#include "core/model/mmmodel.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::model {

struct LlavaConfig {
    // vision tower (CLIP ViT)
    int visionHidden = 1024, visionIntermediate = 4096, visionLayers = 24, visionHeads = 16;
    int imageSize = 336, patchSize = 14;
    double visionEps = 1e-5;
    std::string visionAct = "quick_gelu";
    int featureLayer = -2;
    std::string selectStrategy = "default"; // "default" (CLS dropped) or "full"
    std::string projectorAct = "gelu";
    // language model (Llama)
    int hidden = 4096, intermediate = 11008, layers = 32, heads = 32, kvHeads = 32, vocab = 32064;
    int maxPositions = 4096;
    double rmsEps = 1e-5, ropeTheta = 10000;
    bool tieEmbeddings = false;
    int imageTokenId = 32000, padTokenId = 32001, bosTokenId = 1, eosTokenId = 2;
    std::string torchDtype; // as config.json says ("float16", …), informational

    int visionLayersUsed() const; // layers computed to reach the feature layer
    int imageFeatures() const;    // per image: (image_size / patch)² (+1 with "full")
    int headDim() const { return hidden / heads; }
    int64_t parameterCount() const; // of what is loaded
    // Parses config.json; throws naming the file and the field for anything missing, out of range or unsupported.
    static LlavaConfig fromJson(const std::string &json, const std::string &origin);
};

// A linear layer with transformers' parameter names ("weight", "bias") and an optional LoRA adapter
// y = W x + b + s · B A dropout(x); the adapter's A and B are registered as "lora_A" / "lora_B" so that its
// parameters are named like PEFT's, and stay float32 whatever the base weights' dtype.
class HfLinearImpl : public torch::nn::Module, public AdapterHost
{
public:
    HfLinearImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions &options);
    torch::Tensor forward(const torch::Tensor &x);
    void addAdapter(int rank, double scaling, double dropout);
    bool hasAdapter() const { return m_a.defined(); }
    void setAdapterEnabled(bool on) override { m_enabled = on; }
    std::vector<torch::Tensor> adapterParameters() const override;
    torch::Tensor adapterA() const { return m_a; }
    torch::Tensor adapterB() const { return m_b; }
    double adapterScaling() const { return m_scaling; }
    torch::Tensor mergedWeight() const; // W + s · B A (a copy, in W's dtype)
    // For a module trained in full while adapters train elsewhere (PEFT's modules_to_save): keeps a frozen copy
    // of the current weights, which the forward uses while adapters are switched off (the frozen reference).
    void keepOriginal();

    torch::Tensor weight, bias;

private:
    torch::Tensor m_a, m_b, m_originalWeight, m_originalBias;
    double m_scaling = 0, m_dropout = 0;
    bool m_enabled = true;
};
TORCH_MODULE(HfLinear);

// An adapter folded into a model's weights as it was loaded (W ← W + s·B·A, its saved projector copied in): the
// starting point of a run from "model + adapter". Kept, so that what a run trains on top of it is written as one
// PEFT adapter relative to the model folder: the two stacked, rank r₁ + r₂ (saveAdapterFolder).
struct FoldedAdapter {
    std::string dir;
    int64_t rank = 0;                                                    // the largest of its modules' ranks
    std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> lora; // module → (A [r, in], s·B [out, r]), float32
    bool replacedProjector = false;                                      // it saved the projector (modules_to_save)
};

// How an architecture's PEFT adapter folders are laid out: the files' naming against this program's, the modules
// trained in full beside the adapters and saved whole (PEFT's modules_to_save), and target_modules as a regular
// expression that names the language model's projections only.
struct AdapterLayout {
    std::function<std::string(const std::string &)> legacyName;    // this program's name → transformers 4's
    std::function<std::string(const std::string &)> canonicalName; // either naming → this program's
    std::string savedPrefix;                                       // "model.multi_modal_projector."
    std::string modulesToSave;                                     // "multi_modal_projector"
    std::set<std::string> savedLeaves;                             // "linear_1", "linear_2": never in the regex
    // target_modules for the alternatives "q_proj|k_proj|…"
    std::function<std::string(const std::string &alternatives)> targetRegex;
};

// A Hugging Face model made of HfLinear layers that carries PEFT adapters (LLaVA, Qwen2-VL): what the adapter
// functions below work on.
class HfVlmImpl : public MultimodalLm
{
public:
    // Every linear layer by its full name ("model.language_model.layers.0.self_attn.q_proj").
    std::vector<std::pair<std::string, HfLinear>> linears() const;
    virtual const AdapterLayout &adapterLayout() const = 0;
    // The language model's parameters (`model.language_model.…`, `lm_head`), adapters left out.
    std::vector<torch::Tensor> languageParameters() const override;
    // The adapter folded in at load (foldAdapterFolder), if any.
    std::shared_ptr<const FoldedAdapter> folded;

protected:
    // Throws for a rank below 1 or a target adapterTargetNames() does not hold, naming `family` and the known ones.
    void checkAdapterSpec(const LoraSpec &spec, const std::string &family, const std::string &note = {}) const;
};

const AdapterLayout &llavaAdapterLayout();

class LlavaImpl : public HfVlmImpl
{
public:
    LlavaImpl(const LlavaConfig &config, const torch::TensorOptions &options);

    torch::Tensor hidden(const torch::Tensor &ids, const torch::Tensor &pixels, const torch::Tensor &positions,
                         const torch::Tensor &keyMask, KvCache *cache, int64_t outputFrom) override;
    torch::Tensor headLogits(const torch::Tensor &hidden) override;
    torch::Tensor imageFeatures(const torch::Tensor &pixels); // [N, features, hidden] after the projector

    std::string architecture() const override { return "llava"; }
    int64_t maxPositions() const override { return m_config.maxPositions; }
    int64_t imageTokens() const override { return m_config.imageFeatures(); }
    torch::ScalarType dtype() const override { return m_dtype; }
    std::vector<torch::Tensor> visionParameters() const override;
    std::vector<torch::Tensor> projectorParameters() const override;
    void addAdapters(const LoraSpec &spec) override; // also keeps the projector's original weights (see keepOriginal)
    std::vector<std::string> adapterTargetNames() const override;
    bool setActivationCheckpointing(bool on) override
    {
        m_checkpoint = on;
        return true;
    }

    const LlavaConfig &config() const { return m_config; }
    const AdapterLayout &adapterLayout() const override { return llavaAdapterLayout(); }

private:
    struct Parts;
    std::shared_ptr<Parts> m;
    LlavaConfig m_config;
    torch::ScalarType m_dtype;
    bool m_checkpoint = false;
};
TORCH_MODULE(Llava);

// Loads a Hugging Face LLaVA folder's weights (either naming: transformers ≤ 4.51 `language_model.model.…`,
// ≥ 4.52 `model.language_model.…`) into a model of `dtype` on `device`. `naming` receives "transformers-4" or
// "transformers-5".
// The parameters share the files' mapped bytes where the file holds them in `dtype` and `device` is the CPU (the
// projector, which trains, gets its own copy); see HfWeights::loadInto.
Llava loadLlava(const std::string &folder, const LlavaConfig &config, torch::ScalarType dtype,
                const torch::Device &device, std::string *naming = nullptr, const LoadProgressFn &progress = {},
                LoadReport *report = nullptr);

// The file name of a parameter in transformers ≤ 4.51 naming ("model.language_model.x" → "language_model.model.x"),
// and back to this program's (≥ 4.52) naming from either.
std::string llavaLegacyName(const std::string &name);
std::string llavaCanonicalName(const std::string &name);

// PEFT adapters of a LLaVA model (SPEC §8; a Qwen2-VL model's alike, by its AdapterLayout): `adapter_config.json`
// (peft_type LORA, r, lora_alpha, lora_dropout, target_modules as SafeEraser's regex over the language model, bias
// "none", task_type CAUSAL_LM, base_model_name_or_path, modules_to_save: the projector, use_rslora) and
// `adapter_model.safetensors` with `base_model.model.<module>.lora_A.weight` [r, in], `….lora_B.weight` [out, r] and
// the projector's full weights as `base_model.model.<module>.weight` / `.bias`, module names in the base folder's
// naming
// ("transformers-4" or "transformers-5"). Written to temporary names and renamed, so no reader sees half a folder.
void saveAdapterFolder(const HfVlmImpl &model, const std::string &dir, const LoraSpec &spec,
                       const std::string &baseModel, const std::string &naming,
                       const std::map<std::string, std::string> &metadata = {});
// When the model has a folded adapter (a run from model + adapter), the folder is written stacked: per module
// A = [A₁; A₂], B = [s₁·B₁, s₂·B₂] (zeros where one of them has no adapter), r = lora_alpha = r₁ + r₂, so that
// PEFT, merge-adapter and --adapter applied to the model folder alone give the run's model.
//
// Folds an adapter folder into a loaded model's weights (W ← W + s·B·A computed in float32, stored in W's dtype;
// the saved projector copied in) and records it in model.folded; throws naming the file and the key for anything
// that does not fit the model. Evaluating base + adapter this way costs nothing per token.
void foldAdapterFolder(HfVlmImpl &model, const std::string &dir);
// Copies an adapter folder's values into the adapters a run has added (resuming from a curve checkpoint). With a
// folded adapter the folder is the stacked one above, and the run's own part is taken from it.
void loadAdapterFolder(HfVlmImpl &model, const std::string &dir);

// Writes <baseDir> with the adapter folded in (W + scaling·B·A; the saved projector weights replacing the base's)
// as a new Hugging Face folder that transformers loads without PEFT: the same shards, tensor names, dtypes and
// index, the other files copied. Streams one tensor at a time (a 7B folder is never whole in memory). Refuses an
// existing non-empty folder or an input as `outDir`; writes <outDir>.partial and renames it when done.
MergeSummary mergeAdapterFolder(const AdapterLayout &layout, const std::string &baseDir, const std::string &adapterDir,
                                const std::string &outDir, const std::function<void(const std::string &)> &log = {});

} // namespace se::model
