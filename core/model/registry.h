// Models from their files, by architecture (ARCHITECTURE.md, "Models behind one interface"; as llama.cpp keys its
// loaders by the file's architecture): a built-in checkpoint file (its card names "se-tiny-vlm"), or a Hugging
// Face folder whose config.json says `model_type` "llava". Each architecture supplies its network, its chat
// format (tokenizer and template) and its image preprocessing; the engine takes the LoadedModel and names no
// concrete model class. Internal to the engine (LibTorch).
#pragma once

#include "core/model/chatformat.h"
#include "core/model/checkpoint.h"
#include "core/model/imagestore.h"
#include "core/model/mmmodel.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace se::model {

struct LoadOptions {
    torch::Device device = torch::kCPU;
    std::optional<torch::ScalarType> dtype; // default: float32 on the CPU, bfloat16 on CUDA (LLaVA)
    std::string systemPrompt;               // LLaVA: a sentence before "USER:" (empty: none)
    std::string imagesFile;                 // pre-decoded images (pack-images) instead of decoding files
    std::string datasetRoot;                // so absolute image paths under it find their packed key
    std::string adapterDir;                 // a PEFT adapter folder folded into the weights (Hugging Face models)
};

struct LoadedModel {
    std::string path;         // the file or folder it came from
    std::string architecture; // "se-tiny-vlm", "llava"
    std::shared_ptr<MultimodalLm> net;
    std::shared_ptr<ChatFormat> chat;
    std::shared_ptr<ImageStore> images;      // the model's preprocessing, cached
    int maxAnswerTokens = 64;                // the default generation limit
    std::map<std::string, std::string> info; // provenance (built-in: the checkpoint's metadata) and load facts
    std::optional<Checkpoint> builtin;       // the built-in model's card and tokenizer (to save a checkpoint)
};

// What a model is, from its small files alone (config.json, a checkpoint's card), without loading weights: the
// workbench's model line and a run's memory plan.
struct ModelFacts {
    std::string path, architecture;
    std::string summary;         // one line for people: "LLaVA-1.5 · Llama 32 × 4096 · CLIP 336 px …"
    int64_t parameters = 0;      // of what is loaded
    std::uint64_t fileBytes = 0; // weights on disk
    bool adapters = false;       // runs train adapters and write adapter folders
    int layers = 0, hidden = 0, intermediate = 0, heads = 0, imageTokens = 0, maxSeq = 0; // the language model's shape
    int64_t projectorParameters = 0;
    std::map<std::string, int64_t> loraFanSum; // per layer, for each adapter target: in + out features
};
ModelFacts describeModel(const std::string &path);

// The architecture of the model at `path` without loading its weights; throws naming the file and the reason.
std::string modelArchitecture(const std::string &path);
bool isModelFolder(const std::string &path);
LoadedModel loadModel(const std::string &path, const LoadOptions &options = {});
// Whether what a run of this model produces is an adapter folder (true) or a whole checkpoint file.
bool writesAdapters(const LoadedModel &m);
// The adapter targets and LoRA setting a run uses by default on this architecture (SPEC §8: SafeEraser's for LLaVA).
LoraSpec defaultLora(const LoadedModel &m);
LoraSpec defaultLora(const std::string &architecture);
// Copies an adapter folder's values into a model of the same kind (resuming a run into adapters it has added).
void applyAdapterValues(LoadedModel &m, const std::string &dir);
// Writes the trained adapters (and the projector trained beside them) of an adapter-writing model as a PEFT folder.
void saveAdapters(const LoadedModel &m, const std::string &dir, const LoraSpec &spec,
                  const std::map<std::string, std::string> &metadata);
// Writes `model` (a Hugging Face folder) with the adapter folded in as a new folder (mergeLlavaAdapter).
MergeSummary mergeAdapter(const std::string &model, const std::string &adapter, const std::string &outDir,
                          const std::function<void(const std::string &)> &log = {});
std::vector<std::string> knownArchitectures();

} // namespace se::model
