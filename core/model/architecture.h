// One model architecture = one entry: everything the engine asks of a kind of model — how its files are recognised,
// what they hold (facts for plans), how it loads, how it sees images, how a run of it trains and what the run writes
// (adapters or checkpoints, and the adapter hooks). Each entry lives in its own file (core/model/arch_*.cpp); the
// registry (registry.cpp) lists them, and nothing outside an entry names a concrete model class or compares an
// architecture's name. README "Extending" → "An architecture". Internal to the engine (LibTorch).
#pragma once

#include "core/model/registry.h"

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace se::model {

struct Architecture {
    std::string name;                    // what modelArchitecture() returns for its files ("llava")
    std::vector<std::string> modelTypes; // config.json's model_type values (folders) or the card's architecture (files)
    bool folder = false;                 // Hugging Face folders (true) or single checkpoint files
    bool writesAdapters = false;         // a run trains adapters and writes a PEFT folder, not a whole checkpoint
    bool choosesDtype = false;           // loads in a chosen dtype (autoDtype, --dtype); else float32 as stored
    bool checkpointsLayers = false;      // its network checkpoints activations per decoder layer
    // The tokens a training sequence holds, from the model's positions and its image tokens (LLaVA: SafeEraser's 512
    // text tokens with the image placeholder counted once).
    std::function<int(int positions, int imageTokens)> trainingTokens;
    LoraSpec defaultLora; // rank 0: full fine-tuning by default
    // What the files say, without loading weights (ModelFacts: shape, parameters, dtype, LoRA fan sums, summary).
    std::function<ModelFacts(const std::string &path)> describe;
    std::function<LoadedModel(const std::string &path, const LoadOptions &)> load;
    // Its image preprocessing, without the weights (pack-images --model).
    std::function<std::shared_ptr<ImageStore>(const std::string &path, const std::string &datasetRoot)> images;
    // Adapter folders (where writesAdapters): copy one's values into a loaded model of this kind; write the trained
    // adapters; fold an adapter into a new model folder.
    std::function<void(LoadedModel &, const std::string &dir)> applyAdapter;
    std::function<void(const LoadedModel &, const std::string &dir, const LoraSpec &,
                       const std::map<std::string, std::string> &metadata)>
        saveAdapter;
    std::function<MergeSummary(const std::string &model, const std::string &adapter, const std::string &outDir,
                               const std::function<void(const std::string &)> &log)>
        mergeAdapter;
};

const Architecture &builtinArchitecture(); // arch_builtin.cpp: the built-in model's checkpoint files
const Architecture &llavaArchitecture();   // arch_llava.cpp: LLaVA-1.5 Hugging Face folders
const Architecture &qwen2vlArchitecture(); // arch_qwen2vl.cpp: Qwen2-VL and Qwen2.5-VL Hugging Face folders

// Every entry, and lookups that throw naming the path, the architecture and the ones this build knows.
const std::vector<const Architecture *> &architectures();
const Architecture &architectureNamed(const std::string &name);
const Architecture &architectureOf(const std::string &path);
const Architecture &architectureOf(const LoadedModel &m);

// Helpers the entries share.
// A Hugging Face family's entry as far as LLaVA and Qwen2-VL agree: a folder, runs train adapters and write PEFT
// folders, a chosen dtype, checkpointed layers, SafeEraser's training length (512 text tokens with the image counted
// once) and its LoRA (r 32, α 256, dropout 0.05 on the seven projections of the language model).
Architecture hfFolderArchitecture(std::string name, std::vector<std::string> modelTypes);
// The adapter hooks (applyAdapter, saveAdapter, mergeAdapter) of a family whose network derives from HfVlmImpl
// (llava.h) and whose adapters are laid out by `layout`. `folderNaming`: adapter keys in the base folder's naming
// (LLaVA); else always in transformers ≥ 4.52's (Qwen2-VL, whose folders transformers 5 writes in the old one).
struct AdapterLayout;
void setAdapterHooks(Architecture &a, const AdapterLayout &layout, bool folderNaming);
// The entry's network in a loaded model; throws a logic error when the model holds another.
template <class Net> Net &networkOf(const LoadedModel &m)
{
    auto *net = dynamic_cast<Net *>(m.net.get());
    if (!net)
        throw std::logic_error(m.path + ": loaded as " + m.architecture + " but holds another network");
    return *net;
}
std::string parameterCount(int64_t n); // "7.06 B", "30.1 M"
// A Hugging Face folder's weights from the safetensors headers alone (mapped, not read): f.fileBytes and f.fileDtype
// (the dtype of the most bytes); with no weights yet, from config.json's `configDtype` and f.parameters.
void weightFileFacts(const std::string &folder, const std::string &configDtype, ModelFacts &f);
// generation_config.json's max_new_tokens, else `fallback`.
int generationLimit(const std::string &folder, int fallback);
// The memory plan's fan sums (in + out features) of the seven projections of a Llama / Qwen2 layer: width `hidden`,
// queries `q`, keys and values `kv`, MLP `intermediate`.
std::map<std::string, int64_t> projectionFanSums(int64_t hidden, int64_t q, int64_t kv, int64_t intermediate);
// The end of a folder's one-line summary: " · bfloat16 files · 14520 MiB".
std::string filesSummary(const std::string &configDtype, const ModelFacts &f);
// "N tensors mapped from the files, N converted, N copied; X GiB read in S s"
std::string loadSummary(const LoadReport &report);

} // namespace se::model
