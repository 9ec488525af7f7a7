// The engine's public face: plain structs and functions, no LibTorch, for the CLI and (from a QThread) the
// workbench. Vanilla training of the built-in model, unlearning runs (SPEC §3), answering a question about an
// image, packing images for builds without a decoder. Long calls take a progress callback (called on the
// calling thread) and a CancelToken checked between optimiser steps.
#pragma once

#include "core/util/defaults.h"
#include "core/store/records.h"
#include "core/unlearn/method.h"
#include "core/util/rendezvous.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace se::data {
struct Benchmark;
}

namespace se::engine {

using se::unlearn::Method;
class Assistant;

class CancelToken
{
public:
    void cancel() { m_cancel.store(true); }
    bool cancelled() const { return m_cancel.load(); }
    void setPaused(bool paused) { m_pause.store(paused); } // the run waits between steps while paused
    bool paused() const { return m_pause.load(); }
    // True while the run is waiting, paused, between two steps (the run sets it).
    bool holding() const { return m_holding.load(); }
    void setHolding(bool on) const { m_holding.store(on); }

private:
    std::atomic<bool> m_cancel{false}, m_pause{false};
    mutable std::atomic<bool> m_holding{false};
};

struct Progress {
    std::string phase; // "vanilla" or the method's name
    int step = 0;      // optimiser steps done
    int totalSteps = 0;
    int epoch = 0; // passes over the forget set (vanilla: over all training examples) begun, from 1
    std::vector<std::pair<std::string, double>> losses; // "total" first, then each term
    double lr = 0;
    double samplesPerSecond = 0;
    double elapsedSeconds = 0;
    double etaSeconds = 0;
    std::uint64_t memoryInUse = 0; // bytes: the GPU's memory in use (CUDA), or this process's resident memory (CPU)
};
using ProgressFn = std::function<void(const Progress &)>;

// Hyper-parameters every training run has.
struct TrainOptions {
    double lr = 5e-4;
    double weightDecay = 0.01;
    double warmupRatio = 0.06;
    double clipNorm = 1.0; // gradient-norm clip; 0 = off
    int batchSize = 32;
    int gradAccum = 1;
    int steps = 0;     // optimiser steps; 0 = from epochs
    double epochs = 0; // passes over the forget set (vanilla: over all examples) when steps = 0
    std::uint64_t seed = se::kDefaultSeed;
    std::string device = "auto"; // "auto" (CUDA when there), "cpu", "cuda", "cuda:N"
    bool bf16 = true;            // bf16 autocast on CUDA; CPU always float32
    int progressEvery = 10;      // steps between progress callbacks (the last step always reports)
    std::string imagesFile;      // a pack-images file to take images from instead of decoding
    // LoRA: rank 0 = full fine-tuning (vision encoder frozen, projector and decoder trained).
    int loraRank = 0;
    double loraAlpha = 16;
    double loraDropout = 0.05;
    std::vector<std::string> loraTargets = {"q", "k", "v", "o", "fc1", "fc2"}; // the projector trains in full
    // Before loading anything, a run checks planMemory(): one whose weights and trainable state cannot fit in the
    // device's free memory stops with the plan as the reason. false: try anyway.
    bool memoryCheck = true;
    // Activation checkpointing per decoder layer (models that support it: LLaVA): activations of one layer plus
    // each layer's input instead of every layer's, for about a third more compute per step.
    bool checkpointLayers = false;
};

struct VanillaConfig {
    std::string dataDir;
    std::string outFile;
    std::string cardFile; // empty: the built-in card (same as models/builtin-tiny.json)
    // Leave the forget targets out: a model that never learned them (unlearning's gold standard, retraining without
    // the forget set), the robustness audit's baseline for learning them afresh.
    bool withoutForget = false;
    TrainOptions train = defaults();
    static TrainOptions defaults(); // lr 2e-3, 1,500 steps of batch 32, warm-up 3%
};

struct UnlearnConfig {
    std::string dataDir;
    std::string modelFile; // the vanilla checkpoint, or a Hugging Face model folder (LLaVA-1.5)
    std::string outFile;   // built-in: a checkpoint file; Hugging Face model: a PEFT adapter folder
    // Hugging Face models: a PEFT adapter folder the run starts from (model + adapter, folded into the weights as it
    // loads; the frozen reference of KL / NPO / DPO is that model). What the run writes is one adapter relative to
    // modelFile, the two stacked (llava.h saveAdapterFolder), so --adapter, merge-adapter and PEFT need nothing else.
    std::string adapter;
    std::string systemPrompt; // LLaVA: a sentence before "USER:" (recorded with the run's chat template)
    Method method = Method::PO;
    bool pd = false;
    se::unlearn::WeightOverrides weights; // unset = SPEC §3 defaults for the method and PD
    TrainOptions train = defaults();
    // Every `checkpointEvery` steps (0: never) the current weights are written to curveCheckpointPath(outFile)
    // (overwritten each time) and onCheckpoint(step, file, live) is called on the calling thread, between steps,
    // with the model being trained (adapters on): evaluation curves hang off it without reloading anything.
    int checkpointEvery = 0;
    std::function<void(int step, const std::string &file, Assistant &live)> onCheckpoint;
    // Inputs already loaded, so that a run reads its benchmark and its base model once: the benchmark read from
    // dataDir, and the model loaded from modelFile (ModelOptions::datasetRoot = the benchmark's root). A given
    // model is trained in place; RunResult::model is the same object afterwards.
    std::shared_ptr<const se::data::Benchmark> benchmark;
    std::shared_ptr<Assistant> model;
    // Resuming an interrupted run: the weights to continue from (a `.step.safetensors` checkpoint of the same
    // run) and the step they were saved after. The frozen reference stays modelFile; the learning-rate schedule
    // continues where it stopped; AdamW's moment estimates and the data order start afresh.
    std::string resumeFrom;
    int resumeStep = 0;
    static TrainOptions defaults(); // lr 1e-3, 300 steps of batch 32, warm-up 6%
    // Named settings: "default" (the above) and "paper" (the official SafeEraser optimisation: lr 1e-4, 10 epochs,
    // cosine with 6% warm-up, weight decay 0.01, clipping 1.0, seed 233, effective batch 32 as micro-batch 4 ×
    // accumulation 8, activation checkpointing as its gradient_checkpointing; with Hugging Face models LoRA r 32,
    // alpha 256, dropout 0.05, 512-token sequences, loss on answer tokens — their defaults anyway). Throws
    // std::invalid_argument for another name.
    static TrainOptions preset(const std::string &name);
    static std::vector<std::string> presets();
};

// A Hugging Face model folder trains adapters and writes PEFT adapter folders; a built-in checkpoint file writes
// whole checkpoints. Curve checkpoints go to <outFile>.step (a folder) or <outFile>.step.safetensors.
bool writesAdapterFolders(const std::string &model);
std::string curveCheckpointPath(const std::string &outFile, const std::string &model);
// The provenance metadata a run wrote with its weights (a checkpoint file's, or an adapter folder's
// adapter_model.safetensors): "status", "steps", "method", …
std::map<std::string, std::string> savedModelMetadata(const std::string &path);

// What a model is, read from its small files (no weights loaded): for the workbench's model line.
struct ModelDescription {
    std::string architecture; // "se-tiny-vlm", "llava"
    std::string summary;      // one line for people
    bool adapters = false;    // runs on it train LoRA adapters and write PEFT adapter folders
    std::int64_t parameters = 0;
};
ModelDescription describeModel(const std::string &model); // throws naming the file and the reason

// The memory an unlearning run of `model` with these options needs on its device, planned before anything is
// loaded. Weights and the trainable state (float32 parameters, gradients and AdamW's two moments) are exact;
// activations are an estimate (every forward pass of a step is alive until its backward: forget, retain, PD, and
// DPO's second forget pass). `available`: free memory now (CPU: MemAvailable; CUDA: the driver's free memory;
// 0 when unknown).
struct MemoryPlan {
    std::string device;
    std::string dtype; // of the weights (Hugging Face models: as the load will choose, se::model::autoDtype)
    std::uint64_t weights = 0, reference = 0, trainable = 0, activations = 0, available = 0;
    std::int64_t trainableParameters = 0;
    int tokens = 0; // the longest sequence planned for (text + image tokens)
    int passes = 1; // forward passes per micro-step
    int microBatch = 1;
    bool checkpointed = false; // activation checkpointing per decoder layer
    std::uint64_t certain() const { return weights + reference + trainable; }
    std::uint64_t total() const { return certain() + activations; }
    bool fits() const { return available == 0 || certain() <= available; }      // false: it cannot run here
    bool comfortable() const { return available == 0 || total() <= available; } // false: it may not
    std::string describe() const;
};
MemoryPlan planMemory(const std::string &model, const TrainOptions &train, Method method = Method::PO, bool pd = false);
// Throws std::runtime_error with the plan when it does not fit (unless train.memoryCheck is false).
void checkMemory(const std::string &model, const TrainOptions &train, Method method, bool pd);

// A training returns Finished, Cancelled, Diverged or Failed: the store's status type (records.h), whose names
// (se::store::statusName) the CLI and the workbench print.
using RunStatus = se::store::RunStatus;

struct RunResult {
    RunStatus status = RunStatus::Failed;
    std::string message; // why it stopped when not finished
    int steps = 0;       // optimiser steps applied (the saved weights are after this many)
    double seconds = 0;
    std::vector<std::pair<std::string, double>> firstLosses, lastLosses; // of the first and the last step
    std::string outFile;                                                 // written unless Failed
    std::string device; // where it ran, e.g. "cpu (2 threads)", "cuda:0 bf16"
    int64_t parameters = 0;
    double medianStepSeconds = 0; // of the optimiser steps after the first (which pays for set-up); 0: none taken
    std::uint64_t peakMemory = 0; // bytes, since the training loop began: CUDA allocator peak, or peak resident (CPU)
    std::string peakMemoryWhat;   // which of the two
    std::shared_ptr<Assistant> model; // the trained model, live (adapters on), to evaluate without reloading
};

// Throws std::runtime_error for unusable input (no dataset, bad card, unreadable model or image); a run that
// starts and then stops returns its status: Cancelled, Diverged (NaN/inf loss or gradient) or Failed (an
// error inside a step, such as running out of memory), with the reason in `message`. In every case the
// weights of the last completed step are written to outFile, the status recorded in its metadata.
RunResult trainVanilla(const VanillaConfig &config, const ProgressFn &progress = {},
                       const CancelToken *cancel = nullptr);
RunResult unlearn(const UnlearnConfig &config, const ProgressFn &progress = {}, const CancelToken *cancel = nullptr);

struct AskOptions {
    bool greedy = false; // SPEC §4: sampling at temperature 1.0, top-p 0.9 by default
    double temperature = 1.0;
    double topP = 0.9;
    std::uint64_t seed = se::kDefaultSeed;
    int maxNewTokens = 0; // 0 = the model card's max_answer_tokens
};

// Called while a model's weights load, on the loading thread, about ten times a second: bytes read and in all.
// Returning false cancels the load (the constructor then throws LoadCancelledError).
using LoadProgressFn = std::function<bool(std::uint64_t done, std::uint64_t total)>;
struct LoadCancelledError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// How to load a model for answering: pre-decoded images, the device, LLaVA's optional system sentence and the
// weights' dtype ("auto": see se::model::autoDtype — float32 on the CPU unless it does not fit or the model is
// large and the CPU multiplies bfloat16 natively, bfloat16 on CUDA; "float32", "bfloat16", "float16").
struct ModelOptions {
    std::string imagesFile;
    std::string device = "auto";
    std::string systemPrompt;
    std::string dtype = "auto";
    std::string adapter;     // a PEFT adapter folder to apply (Hugging Face models)
    std::string datasetRoot; // the benchmark's folder, so absolute image paths find their key in imagesFile
    // A load is planned before any weight is read and refused, naming what would fit, when the weights and the
    // working memory (workingBytes; 0: one answer's) exceed the device's free memory. false: try anyway.
    bool memoryCheck = true;
    std::uint64_t workingBytes = 0;
    LoadProgressFn loadProgress;
};

// What loading `model` with these options will take, before anything is read: "about 13.6 GiB on cpu: weights 12.6
// GiB (bfloat16, mapped from the files) + working 1.0 GiB; 22.8 GiB free", whether it fits, and the dtype it picks.
struct LoadPlanSummary {
    std::string text, dtype, reason;
    bool fits = true;
    std::uint64_t need = 0, available = 0, weights = 0;
};
LoadPlanSummary planModelLoad(const std::string &model, const ModelOptions &options);

// A loaded model that answers questions about images: a built-in checkpoint file or a Hugging Face folder of a
// supported architecture (LLaVA-1.5), through the model seam.
class Assistant
{
public:
    // Throws std::runtime_error naming the file and reason when the model is unusable.
    Assistant(const std::string &model, const std::string &imagesFile = {}, const std::string &device = "auto");
    Assistant(const std::string &model, const ModelOptions &options);
    ~Assistant();
    Assistant(const Assistant &) = delete;
    Assistant &operator=(const Assistant &) = delete;

    struct Answer {
        std::string text;
        std::vector<int> ids; // generated ids, without the closing end of sequence
    };
    std::string ask(const std::string &imageFile, const std::string &question, const AskOptions &options = {});
    // Answers in batches of `batch` questions (left-padded; greedy answers match ask() up to float rounding).
    std::vector<std::string> askMany(const std::vector<std::pair<std::string, std::string>> &imageAndQuestion,
                                     const AskOptions &options = {}, int batch = 32);
    std::vector<Answer> answerMany(const std::vector<std::pair<std::string, std::string>> &imageAndQuestion,
                                   const AskOptions &options = {}, int batch = 32);

    // The log-likelihood of `answer` (and the closing end of sequence) given the image and the question.
    struct Score {
        std::string prompt;           // the prompt as text
        std::vector<int> inputIds;    // every id fed to the model, the image placeholder expanded
        int answerStart = 0;          // index of the first answer token in inputIds
        std::vector<double> logprobs; // log p of inputIds[answerStart…]
        double sumLogprob = 0, meanNll = 0;
    };
    Score score(const std::string &imageFile, const std::string &question, const std::string &answer);

    std::map<std::string, std::string> info() const; // provenance metadata (built-in) or load facts (LLaVA)
    // The largest batch up to `wanted` (halving) whose generation — KV cache and activations for a prompt of the image
    // and a question and up to `newTokens` more (0: the model's limit) — fits in the memory the load left; at least 1.
    int fitBatch(int wanted, int newTokens = 0) const;
    std::string deviceName() const;
    std::string architecture() const;
    std::string promptText(const std::string &question) const;

    struct Impl; // the loaded model (engine.cpp); opaque here
    explicit Assistant(std::unique_ptr<Impl> impl);
    Impl &impl() { return *m; }

private:
    std::vector<Answer> answerManyImpl(const std::vector<std::pair<std::string, std::string>> &imageAndQuestion,
                                       const AskOptions &options, int batch);
    std::unique_ptr<Impl> m;
};

// A quick greedy check of a model on a benchmark split — not SPEC §4's metrics (those come with the
// evaluation issue), but enough to see what a run did: the share of forget questions answered with a
// refusal (the offline judge's detector, so it agrees with the metrics' RR) or with the exact forget target, of PD
// questions answered with the exact sd_response or refused, and of retain questions answered exactly.
struct QuickEval {
    int forget = 0, pd = 0, retain = 0;
    double forgetRefused = 0, forgetTarget = 0, pdRefused = 0, pdExact = 0, retainExact = 0;
};
QuickEval quickEval(const std::string &modelFile, const std::string &dataDir, bool valSplit,
                    const std::string &imagesFile = {}, int limit = 0);
// The same with every model option: a Hugging Face folder with an adapter applied, its device, system prompt…
QuickEval quickEval(const std::string &modelFile, const std::string &dataDir, bool valSplit,
                    const ModelOptions &options, int limit);

// Folds a PEFT adapter folder (what a run on a Hugging Face model writes) into the model folder it was trained on,
// writing `outDir`: a Hugging Face folder transformers and vLLM load without PEFT (same shards, names and dtypes).
// Streams tensor by tensor; `log` hears each shard as it is written. Refuses an existing non-empty `outDir` and
// writing over an input. Returns a one-line summary.
std::string mergeAdapter(const std::string &model, const std::string &adapter, const std::string &outDir,
                         const std::function<void(const std::string &)> &log = {});

// Writes every image of the benchmark (both splits, harmful and SD) decoded at size×size into a safetensors
// file keyed by path relative to the dataset folder. Returns the number of images written.
// `model`: packed as that model takes them (its preprocessing, its size; LLaVA needs this), else resized to
// size × size. `images`: these files (keyed by the path as given) instead of a benchmark's.
int packImages(const std::string &dataDir, const std::string &outFile, int size = 32, const std::string &model = {},
               const std::vector<std::string> &images = {});

// Applies the thread settings measured best for this engine: LibTorch's intra-op threads (OpenMP) and
// OpenBLAS's own pool must not both run wide (that oversubscribes and was measured 2-3x slower). With
// OpenBLAS present: `threads` OpenBLAS threads and one LibTorch thread; otherwise `threads` LibTorch threads.
// threads = 0 means all cores. Called by the engine with 0 unless called before. Returns what it set.
std::string configureThreads(int threads = 0);
// OpenBLAS threads while generating answers on the CPU (default 1, at most configureThreads' count): measured on two
// cores, one thread generates nearly as fast and spends a third of the kernel time (README, "Where the time goes").
void setGenerationThreads(int threads);
int generationThreads();

// Data-parallel training (README "On a cluster"): joins the c10d process group (Gloo) that the environment describes
// (torchrun's RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT, or a Slurm job step's SLURM_PROCID /
// SLURM_STEP_NUM_TASKS and its first node; se::dist::rendezvousFromEnvironment). Afterwards trainVanilla(), unlearn()
// and executeRun() train data-parallel: each rank computes its share of every step's micro-batches, the gradients
// are averaged, and every rank applies the same update. Rank 0 alone evaluates and writes; executeRun() on another
// rank trains its share and writes nothing (no store, no weights). A collective that gets no answer within
// `timeoutSeconds` fails the run with the reason; ranks waiting for rank 0's evaluations wait up to
// `patienceSeconds`. One process (no such variables): nothing happens. Throws std::runtime_error when a variable is
// wrong or the group cannot be formed.
se::dist::Rendezvous joinDataParallel(int timeoutSeconds = 600, int patienceSeconds = 86400);
void leaveDataParallel();
// Since joining: the collectives (all-reduces, broadcasts) and the time in them, the training steps and their time,
// and the bytes of one step's gradient all-reduce.
struct DataParallelStats {
    double collectiveSeconds = 0, stepSeconds = 0;
    long long collectives = 0, gradientBytes = 0;
    int steps = 0;
    std::string backend; // what moved the gradients: "Gloo", or "NCCL" for a CUDA model where LibTorch has it
};
DataParallelStats dataParallelStats();
// The collectives this build has: "Gloo, NCCL" (a LibTorch with CUDA and NCCL), "Gloo", or "" (none: no
// data-parallel training).
std::string dataParallelBackends();

// The devices this build can train on: "auto" and "cpu" always, "cuda:0" … when LibTorch sees CUDA GPUs.
std::vector<std::string> availableDevices();

} // namespace se::engine
