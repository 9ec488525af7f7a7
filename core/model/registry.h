// Models from their files, by architecture (ARCHITECTURE.md, "Models behind one interface"; as llama.cpp keys its
// loaders by the file's architecture): a built-in checkpoint file (its card names "se-tiny-vlm"), or a Hugging
// Face folder whose config.json says `model_type` "llava". Each architecture is one entry of the registry
// (core/model/architecture.h, one file each: arch_builtin.cpp, arch_llava.cpp) that supplies its facts, its network,
// its chat format (tokenizer and template), its image preprocessing and its adapters; the functions below dispatch to
// the entry, and the engine takes the LoadedModel and names no concrete model class. Internal to the engine (LibTorch).
#pragma once

#include "core/model/chatformat.h"
#include "core/model/checkpoint.h"
#include "core/model/hfweights.h"
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
    std::optional<torch::ScalarType> dtype; // unset: autoDtype() (LLaVA)
    std::string systemPrompt;               // LLaVA: a sentence before "USER:" (empty: none)
    std::string imagesFile;                 // pre-decoded images (pack-images) instead of decoding files
    std::string datasetRoot;                // so absolute image paths under it find their packed key
    std::string adapterDir;                 // a PEFT adapter folder folded into the weights (Hugging Face models)
    // Before any weight is read, the load is planned (planLoad) and refused when it cannot fit, with the need, the
    // free memory and what would fit. false: try anyway.
    bool memoryCheck = true;
    // What the caller will need beside the weights (activations, KV cache of its batches); 0: one answer's.
    std::uint64_t workingBytes = 0;
    LoadProgressFn progress; // while the weights load (bytes); returning false cancels (LoadCancelled)
};

struct Architecture; // core/model/architecture.h: one entry per kind of model

struct LoadedModel {
    std::string path;                   // the file or folder it came from
    std::string architecture;           // "se-tiny-vlm", "llava"
    const Architecture *arch = nullptr; // its entry (set by loadModel)
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
    std::string summary;            // one line for people: "LLaVA-1.5 · Llama 32 × 4096 · CLIP 336 px …"
    int64_t parameters = 0;         // of what is loaded
    std::uint64_t fileBytes = 0;    // weights on disk
    bool adapters = false;          // runs train adapters and write adapter folders (the architecture's writesAdapters)
    bool choosesDtype = false;      // loads in a chosen dtype (autoDtype, --dtype); else float32 as stored
    int trainingTokens = 0;         // the tokens a training sequence holds (the architecture's rule)
    bool checkpointsLayers = false; // its network checkpoints activations per decoder layer (--checkpoint-layers)
    LoraSpec defaultLora;           // the LoRA a run uses by default (rank 0: full fine-tuning)
    int layers = 0, hidden = 0, intermediate = 0, heads = 0, imageTokens = 0, maxSeq = 0; // the language model's shape
    int kvHeads = 0, vocab = 0;
    std::string fileDtype;   // the weights' dtype in the files ("BF16"; the most bytes when mixed)
    int maxAnswerTokens = 0; // the default generation limit
    int64_t projectorParameters = 0;
    std::map<std::string, int64_t> loraFanSum; // per layer, for each adapter target: in + out features
};
ModelFacts describeModel(const std::string &path);

// The memory a loaded model needs beyond its weights to answer `batch` prompts of `promptTokens` with up to
// `newTokens` each: the KV cache (allocated for prompt and answer), the prompt's activations and attention scores,
// the vision tower's, and the logits. `dtypeBytes`: 4 for float32, 2 for bf16 / f16.
std::uint64_t inferenceBytes(const ModelFacts &f, int dtypeBytes, int batch, int promptTokens, int newTokens);

// What loading a model will take, decided before any weight is read: the dtype it computes in, the bytes of its
// weights in it, the working memory, and the free memory of the device.
struct LoadPlan {
    std::string path;
    torch::Device device = torch::kCPU;
    torch::ScalarType dtype = torch::kFloat;
    std::string fileDtype;  // "BF16", …
    bool zeroCopy = false;  // the weights are the files' bytes (CPU, same dtype): nothing copied
    bool automatic = false; // the dtype was chosen by autoDtype()
    std::string why;        // why this dtype, when chosen automatically
    std::uint64_t weights = 0, working = 0, available = 0;
    std::uint64_t need() const { return weights + working; }
    bool fits() const { return available == 0 || need() <= available; }
    std::string
    describe() const; // "weights 12.6 GiB (bfloat16, mapped from the files) + working 0.9 GiB; 22.8 GiB free"
};
LoadPlan planLoad(const std::string &path, const LoadOptions &options);
// The plan's refusal: what it needs, what is free, and the options that would fit (another dtype, a GPU).
std::string doesNotFit(const LoadPlan &plan, const LoadOptions &options);

// The dtype a model computes in when none is asked for. CUDA: bfloat16. CPU: float32 unless it would not fit the free
// memory, or the model is large (over 1 B parameters), its files hold bfloat16 and the CPU multiplies bfloat16 natively
// (AVX512-BF16, AMX): then bfloat16 — measured on an AVX512-BF16 EPYC with LibTorch 1.13: 210 against 190 GFLOP/s per
// core for a 600×4096 by 4096×4096 product, and 19.2 against 9.7 GB/s of weights streamed in a one-token product on
// two cores, with no copy at load. A float16 file computes in float16 only where LibTorch's CPU kernels multiply it.
torch::ScalarType autoDtype(const torch::Device &device, const std::string &fileDtype, std::int64_t parameters,
                            std::uint64_t working, std::uint64_t available, std::string *why = nullptr);
bool cpuMultipliesBf16();                   // AVX512-BF16 or AMX-BF16
bool cpuMultipliesHalf();                   // this LibTorch has float16 matrix products on the CPU (1.13 has none)
const char *dtypeName(torch::ScalarType t); // "float32", "bfloat16", "float16"

// The architecture of the model at `path` without loading its weights; throws naming the file and the reason.
std::string modelArchitecture(const std::string &path);
LoadedModel loadModel(const std::string &path, const LoadOptions &options = {});
// The images as the model at `path` takes them (its preprocessing), without loading its weights.
std::shared_ptr<ImageStore> modelImages(const std::string &path, const std::string &datasetRoot = {});
// Whether what a run of this model produces is an adapter folder (true) or a whole checkpoint file.
bool writesAdapters(const LoadedModel &m);
// The tokens a training sequence of this model holds (LLaVA: SafeEraser's 512 text tokens + the image's, less one),
// for an image of `imageTokens` (-1: the model's fixed count).
int trainingTokens(const LoadedModel &m, int imageTokens = -1);
// The image tokens `imageFile` takes in this model's prompts: the model's fixed count, or (a model that takes any
// size) what its preprocessing makes of this picture's size (read from its header where it can be).
int imageTokensOf(const LoadedModel &m, const std::string &imageFile);
// The adapter targets and LoRA setting a run uses by default on this architecture (SPEC §8: SafeEraser's for LLaVA).
LoraSpec defaultLora(const LoadedModel &m);
LoraSpec defaultLora(const std::string &architecture);
// Copies an adapter folder's values into a model of the same kind (resuming a run into adapters it has added).
void applyAdapterValues(LoadedModel &m, const std::string &dir);
// Writes the trained adapters (and the projector trained beside them) of an adapter-writing model as a PEFT folder.
void saveAdapters(const LoadedModel &m, const std::string &dir, const LoraSpec &spec,
                  const std::map<std::string, std::string> &metadata);
// Writes `model` (a Hugging Face folder) with the adapter folded in as a new folder (the architecture's mergeAdapter).
MergeSummary mergeAdapter(const std::string &model, const std::string &adapter, const std::string &outDir,
                          const std::function<void(const std::string &)> &log = {});
std::vector<std::string> knownArchitectures();

} // namespace se::model
