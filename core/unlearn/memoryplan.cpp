// What a run will need before it starts (the memory plan and its check), a model's description from its small files,
// and merging an adapter into its base model.
#include "core/unlearn/enginecommon.h"

#include "core/unlearn/trainer.h"

#include <chrono>
#include <iomanip>
#include <set>
#include <sstream>

namespace se::engine {

using namespace se::model;
using namespace se::unlearn;
using namespace se::engine::detail;

ModelDescription describeModel(const std::string &model)
{
    const auto f = se::model::describeModel(model);
    return {f.architecture, f.summary, f.adapters, f.parameters};
}

namespace {
std::uint64_t availableMemory(const torch::Device &device)
{
    return deviceMemory(device).free;
}

} // namespace

std::string MemoryPlan::describe() const
{
    std::ostringstream os;
    os << "about " << gib(total()) << " on " << device << ": weights " << gib(weights);
    if (!dtype.empty())
        os << " (" << dtype << ")";
    if (reference)
        os << " + frozen reference " << gib(reference);
    os << " + trainable " << gib(trainable) << " (" << std::fixed << std::setprecision(1)
       << double(trainableParameters) / 1e6 << " M parameters, gradients and AdamW moments in float32)"
       << " + activations ≈ " << gib(activations) << " (estimate: " << passes << " pass" << (passes == 1 ? "" : "es")
       << " × micro-batch " << microBatch << " × " << tokens << " tokens"
       << (checkpointed ? ", activation checkpointing" : "") << ")";
    if (available)
        os << "; " << gib(available) << " free";
    return os.str();
}

MemoryPlan planMemory(const std::string &model, const TrainOptions &train, Method method, bool pd)
{
    return plainErrors([&] {
        const auto f = se::model::describeModel(model);
        const torch::Device device = pickDevice(train.device);
        MemoryPlan p;
        p.device = device.str();
        const LoraSpec &d = f.defaultLora;
        const bool lora = d.rank > 0 || train.loraRank > 0;
        if (lora) {
            const int rank = train.loraRank > 0 ? train.loraRank : d.rank;
            std::set<std::string> targets = d.targets;
            if (train.loraTargets != TrainOptions().loraTargets || d.rank == 0)
                targets = std::set<std::string>(train.loraTargets.begin(), train.loraTargets.end());
            int64_t fan = 0;
            for (const auto &t : targets)
                if (auto it = f.loraFanSum.find(t); it != f.loraFanSum.end())
                    fan += it->second;
            p.trainableParameters = int64_t(rank) * fan * f.layers + f.projectorParameters;
        } else {
            p.trainableParameters = f.parameters; // full fine-tuning (the built-in model's default)
        }
        p.trainable = std::uint64_t(p.trainableParameters) * 16;
        // The dtype the weights will load in (se::model::autoDtype, as the run's load decides it).
        int weightBytes = 4;
        if (f.choosesDtype) {
            LoadOptions lo;
            lo.device = device;
            lo.workingBytes = p.trainable; // and activations, which depend on the dtype: see fits()
            const LoadPlan lp = planLoad(model, lo);
            weightBytes = lp.dtype == torch::kFloat ? 4 : 2;
            p.dtype = dtypeName(lp.dtype);
        }
        p.weights = std::uint64_t(f.parameters) * std::uint64_t(weightBytes);
        if (!lora && needsReference(method)) // a frozen copy beside the weights that train
            p.reference = p.weights;
        p.tokens = f.trainingTokens; // the architecture's rule (LLaVA: SafeEraser's 512 text tokens)
        const MethodInfo &info = methodInfo(method);
        p.passes = info.forgetPasses + ((info.retain || info.kl) ? 1 : 0) + (pd ? 1 : 0);
        // Saved for backward per token and layer: about 16 hidden-sized and 6 MLP-sized tensors in the weights'
        // dtype (LoRA's dropout inputs included), and attention scores and probabilities (2 × heads × tokens,
        // float32). Calibrated on the CPU: a 30 M-parameter LLaVA (make_tiny_llava.py --shape mid), PO at
        // micro-batch 1 with 610-token sequences, peaked 1.1 GB above its weights; this formula gives 1.0 GB.
        const std::uint64_t perToken = std::uint64_t(weightBytes) * (16ull * f.hidden + 6ull * f.intermediate) +
                                       8ull * f.heads * std::uint64_t(p.tokens);
        const std::uint64_t sequences = std::uint64_t(train.batchSize) * std::uint64_t(p.passes);
        // With checkpointing (LLaVA): every layer's input, plus one layer's activations being recomputed.
        p.checkpointed = train.checkpointLayers && f.checkpointsLayers;
        const std::uint64_t perSequence =
            p.checkpointed
                ? std::uint64_t(p.tokens) * (std::uint64_t(weightBytes) * f.hidden * std::uint64_t(f.layers) + perToken)
                : perToken * std::uint64_t(p.tokens) * std::uint64_t(f.layers);
        p.activations = perSequence * sequences;
        p.microBatch = train.batchSize;
        p.available = availableMemory(device);
        return p;
    });
}

void checkMemory(const std::string &model, const TrainOptions &train, Method method, bool pd)
{
    if (!train.memoryCheck)
        return;
    const MemoryPlan p = planMemory(model, train, method, pd);
    if (!p.fits())
        throw std::runtime_error(model + " does not fit: the run needs " + p.describe() +
                                 ". Use a smaller model, another device, or turn the memory check off to try anyway");
}

std::string mergeAdapter(const std::string &model, const std::string &adapter, const std::string &outDir,
                         const std::function<void(const std::string &)> &log)
{
    return plainErrors([&] {
        const auto t0 = std::chrono::steady_clock::now();
        const MergeSummary m = se::model::mergeAdapter(model, adapter, outDir, log);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::ostringstream os;
        os << "wrote " << outDir << ": " << m.merged << " adapted weights merged, " << m.replaced
           << " replaced by the adapter's saved modules, " << std::fixed << std::setprecision(1)
           << double(m.bytes) / (1 << 20) << " MiB of tensors in " << s << " s";
        return os.str();
    });
}

} // namespace se::engine
