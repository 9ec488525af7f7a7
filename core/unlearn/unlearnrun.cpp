// An unlearning run (SPEC §3): the run's inputs checked and loaded once, its trainable weights chosen, one micro-step
// as the method's table row asks, the training loop, and what the run writes. Each job has its function below.
#include "core/model/architecture.h"
#include "core/unlearn/enginecommon.h"
#include "core/util/profile.h"

#include "core/data/pathguard.h"
#include "core/model/checkpoint.h"
#include "core/unlearn/losses.h"
#include "core/unlearn/methodlosses.h"
#include "core/unlearn/dataparallel.h"
#include "core/unlearn/trainer.h"

#include <algorithm>
#include <optional>
#include <random>
#include <set>

namespace se::engine {

using namespace se::model;
using namespace se::unlearn;
using namespace se::engine::detail;

namespace {

// Which LoRA a run uses: the architecture's default (defaultLora), overridden by what the options set. The
// built-in model trains in full unless a rank is given; Hugging Face models always train adapters (SafeEraser's
// r 32, α 256 unless a rank is given).
LoraSpec loraFor(const LoadedModel &lm, const TrainOptions &t)
{
    LoraSpec spec = defaultLora(lm);
    const TrainOptions d;
    if (t.loraRank > 0) {
        spec.rank = t.loraRank;
        spec.alpha = t.loraAlpha;
        spec.dropout = t.loraDropout;
    }
    if (t.loraTargets != d.loraTargets || !writesAdapters(lm)) // the built-in names are the option's default
        spec.targets = std::set<std::string>(t.loraTargets.begin(), t.loraTargets.end());
    return spec;
}

// What a run works on, resolved once from its configuration.
struct UnlearnRun {
    explicit UnlearnRun(const UnlearnConfig &config) : c(config), method(config.method), row(methodInfo(config.method))
    {
    }
    const UnlearnConfig &c;
    const Method method;
    const MethodInfo &row;
    LossWeights w;
    std::shared_ptr<const se::data::Benchmark> benchmark;
    std::shared_ptr<Assistant> live; // the model being trained (adapters on)
    LoadedModel *lm = nullptr;
    MultimodalLm *net = nullptr;
    torch::Device device{torch::kCPU};
    bool adapters = false; // a Hugging Face model: adapters trained, adapter folders written
    bool bf16 = false, useRetain = false, useKl = false, lora = false, checkpointed = false;
    // An example of this model: its image's tokens, and the training length that leaves (the architecture's rule;
    // LLaVA: SafeEraser's 512 text tokens).
    Example example(const std::string &imageFile, const std::string &question, const std::string &answer) const
    {
        const int n = se::model::imageTokensOf(*lm, imageFile);
        return makeExample(*lm->chat, n, se::model::trainingTokens(*lm, n), imageFile, question, answer);
    }
    LoraSpec spec;
    std::vector<Example> forget, retain, pd;
    Vlm ref{nullptr}; // the built-in model's frozen copy, for methods with a reference
    std::vector<torch::Tensor> params;
};

void checkOutputs(const UnlearnConfig &c)
{
    if (c.outFile.empty())
        throw std::runtime_error("no output file given");
    for (const std::string &out : {c.outFile, curveCheckpointPath(c.outFile, c.modelFile)})
        se::data::refuseWritingOverInputs("the output", out,
                                          {{"model", c.modelFile},
                                           {"start adapter", c.adapter},
                                           {"benchmark folder", c.dataDir},
                                           {"image pack", c.train.imagesFile}});
    // A checkpoint replaces only a checkpoint; an adapter folder replaces nothing but a folder (or nothing).
    if (writesAdapterFolders(c.modelFile)) {
        const std::string kind = se::data::existingKind(c.outFile);
        if (!kind.empty() && kind != "a folder")
            throw std::runtime_error("the output " + c.outFile + " is " + kind +
                                     ", not an adapter folder; refusing to replace it — choose another path");
    } else {
        se::data::refuseReplacingAnotherKind("the output", c.outFile, "safetensors");
    }
}

// One read of the benchmark and one load of the model per run: the caller's, when it passed them.
void openInputs(UnlearnRun &u)
{
    const UnlearnConfig &c = u.c;
    u.benchmark = c.benchmark;
    if (u.benchmark)
        checkTrainable(*u.benchmark, c.dataDir);
    else
        u.benchmark = std::make_shared<const se::data::Benchmark>(loadBenchmark(c.dataDir));
    u.live = c.model;
    if (!u.live) {
        checkMemory(c.modelFile, c.train, c.method, c.pd);
        ModelOptions mo;
        mo.imagesFile = c.train.imagesFile;
        mo.device = c.train.device;
        mo.systemPrompt = c.systemPrompt;
        mo.datasetRoot = u.benchmark->root;
        mo.adapter = c.adapter;
        u.live = std::make_shared<Assistant>(c.modelFile, mo);
    }
    u.lm = &u.live->impl().model;
    u.net = u.lm->net.get();
    u.device = u.live->impl().device;
    u.adapters = writesAdapters(*u.lm);
    // bf16 autocast for a float32 model on CUDA; a model that chooses its dtype is loaded in bf16 there already.
    u.bf16 = u.device.is_cuda() && c.train.bf16 && !architectureOf(*u.lm).choosesDtype;
}

// The method's weights and the data it needs: refusals, retain samples, prompt-decouple samples.
void checkData(UnlearnRun &u)
{
    const UnlearnConfig &c = u.c;
    const se::data::Benchmark &bench = *u.benchmark;
    u.w = resolveWeights(u.method, c.pd, c.weights);
    if (needsRefusals(u.method) && bench.refusals.empty())
        throw std::runtime_error(c.dataDir + ": prompt.json has no \"idk\" refusals, which " + methodName(u.method) +
                                 " trains towards");
    u.useRetain = u.w.retain != 0 && u.row.retain;
    u.useKl = u.row.kl && u.w.kl != 0;
    if ((u.useRetain || u.useKl) && bench.train.retain.empty())
        throw std::runtime_error(c.dataDir + ": no retain samples in all_train.json, which " + methodName(u.method) +
                                 " needs");
    if (c.pd && bench.train.pd.empty())
        throw std::runtime_error(c.dataDir +
                                 ": no prompt-decouple samples (SDImage_path + sd_response) in all_train.json");
}

void buildSets(UnlearnRun &u)
{
    const auto &train = u.benchmark->train;
    auto toSet = [&](const std::vector<se::data::Sample> &set) {
        std::vector<Example> out;
        out.reserve(set.size());
        for (const auto &s : set)
            out.push_back(u.example(s.imageFile, s.question, s.answer));
        return out;
    };
    u.forget = toSet(train.forget);
    if (u.useRetain || u.useKl)
        u.retain = toSet(train.retain);
    if (u.c.pd)
        u.pd = toSet(train.pd);
    if (!u.adapters) // the built-in model's images are small: decode them all once, up front
        for (const auto *set : {&u.forget, &u.retain, &u.pd})
            warmImages(*u.lm->images, *set);
}

// Continue from the weights of an interrupted run (the built-in model's LoRA already folded in), with the
// reference still the model unlearning started from.
void resumeWeights(UnlearnRun &u)
{
    const UnlearnConfig &c = u.c;
    if (u.adapters) {
        applyAdapterValues(*u.lm, c.resumeFrom);
        return;
    }
    const Checkpoint resumed = loadCheckpoint(c.resumeFrom, u.device);
    auto src = resumed.model->named_parameters();
    torch::NoGradGuard noGrad;
    for (auto &p : u.lm->builtin->model->named_parameters()) {
        if (p.key().find("lora") != std::string::npos)
            continue;
        const torch::Tensor *t = src.find(p.key());
        if (!t || t->sizes() != p.value().sizes())
            throw std::runtime_error(c.resumeFrom + ": does not match " + c.modelFile + " (parameter " + p.key() +
                                     "); it is not a checkpoint of this run");
        p.value().copy_(*t);
    }
}

// The frozen reference, the adapters, and the trainable parameters. As the paper, the vision encoder stays frozen;
// adapters on the language model with the projector trained in full, or full fine-tuning of projector and
// language model.
void prepareWeights(UnlearnRun &u)
{
    MultimodalLm &net = *u.net;
    u.spec = loraFor(*u.lm, u.c.train);
    u.lora = u.adapters || u.spec.rank > 0;
    // KL / NPO / DPO's reference: for the built-in model a copy (its default trains in full); for adapter runs
    // the same weights with the adapters (and the projector's training) switched off.
    if (needsReference(u.method) && !u.adapters) {
        u.ref = cloneVlm(u.lm->builtin->model);
        u.ref->eval();
        for (auto &p : u.ref->parameters())
            p.set_requires_grad(false);
    }
    for (auto &p : net.parameters())
        p.set_requires_grad(false);
    if (u.lora)
        net.addAdapters(u.spec);
    u.checkpointed = u.c.train.checkpointLayers && net.setActivationCheckpointing(true);
    if (!u.c.resumeFrom.empty())
        resumeWeights(u);
    if (u.lora) {
        u.params = net.adapterParameters();
        const auto &t = u.spec.targets;
        if (!t.count("projector") && !t.count("linear_1") && !t.count("linear_2"))
            for (auto &p : net.projectorParameters())
                u.params.push_back(p);
    } else {
        u.params = net.projectorParameters();
        for (auto &p : net.languageParameters())
            u.params.push_back(p);
    }
    for (auto &p : u.params)
        p.set_requires_grad(true);
    net.train();
}

std::vector<const Example *> pointers(const std::vector<Example> &v)
{
    std::vector<const Example *> p;
    p.reserve(v.size());
    for (const auto &e : v)
        p.push_back(&e);
    return p;
}

// One micro-step: the method's forget term (methodlosses.cpp) and the retain, KL and PD terms its row asks for.
class UnlearnStep
{
public:
    explicit UnlearnStep(UnlearnRun &u)
        : u(u), forgetSampler(u.forget, u.c.train.seed + 1), refusalRng(u.c.train.seed + 4), B(u.c.train.batchSize),
          cursor(u.c.train.gradAccum)
    {
        if (!u.retain.empty())
            retainSampler = std::make_unique<Sampler>(u.retain, u.c.train.seed + 2);
        if (!u.pd.empty())
            pdSampler = std::make_unique<Sampler>(u.pd, u.c.train.seed + 3);
    }

    // Rank r of a data-parallel group draws the other ranks' micro-batches without computing them (MicroCursor).
    StepOutput operator()(int step, int micro)
    {
        for (int k = cursor.skipBefore(step, micro); k > 0; --k)
            skip();
        return compute();
    }

private:
    // What compute() draws, in the same amounts from the same samplers and generators, and nothing computed.
    void skip()
    {
        const auto fb = forgetSampler.next(B);
        if (needsRefusals(u.method)) {
            const auto &refusals = u.benchmark->refusals;
            for (std::size_t i = 0; i < fb.size(); ++i)
                (void)std::uniform_int_distribution<size_t>(0, refusals.size() - 1)(refusalRng);
        }
        if (u.row.retain && u.useRetain)
            retainSampler->next(B);
        if (u.row.kl && u.useKl)
            retainSampler->next(B);
        if (u.c.pd)
            pdSampler->next(B);
    }

    StepOutput compute()
    {
        StepOutput o;
        o.terms.emplace_back(u.row.forgetTerm, forgetTerm(forgetSampler.next(B)));
        if (u.row.retain)
            o.terms.emplace_back("retain_nll",
                                 u.useRetain ? answerNll(policy(batchOf(retainSampler->next(B)))) : zero());
        if (u.row.kl)
            o.terms.emplace_back("kl", u.useKl ? klTerm() : zero());
        if (u.c.pd)
            o.terms.emplace_back("pd_nll", answerNll(policy(batchOf(pdSampler->next(B)))));
        o.total = combineLosses(u.method, u.w, u.c.pd, o.terms);
        return o;
    }

    Batch batchOf(const std::vector<const Example *> &examples)
    {
        return collate(examples, *u.lm->images, u.device, u.lm->chat->padId());
    }
    AnswerLogits policy(const Batch &b) { return answerLogits(*u.net, b.ids, b.images, b.labels); }
    // The reference's answer logits: the copy, or this model with its adapters off.
    AnswerLogits reference(const Batch &b)
    {
        torch::NoGradGuard ng;
        if (u.ref)
            return answerLogits(u.ref, b.ids, b.images, b.labels);
        AdaptersOff off(*u.net);
        return answerLogits(*u.net, b.ids, b.images, b.labels);
    }
    torch::Tensor zero() const { return torch::zeros({}, torch::TensorOptions().device(u.device)); }

    // The same questions and images, answered with a random prompt.json refusal (the official `idk` set-up).
    std::vector<Example> refusalsFor(const std::vector<const Example *> &fb)
    {
        const auto &refusals = u.benchmark->refusals;
        const auto &samples = u.benchmark->train.forget;
        std::vector<Example> out;
        out.reserve(fb.size());
        for (const auto *e : fb) {
            const auto &sample = samples[static_cast<size_t>(e - u.forget.data())];
            const auto &refusal = refusals[std::uniform_int_distribution<size_t>(0, refusals.size() - 1)(refusalRng)];
            out.push_back(u.example(e->imageFile, sample.question, refusal));
        }
        return out;
    }

    // The forget batch as the method asks for it: each batch built once, when first used.
    torch::Tensor forgetTerm(const std::vector<const Example *> &fb)
    {
        std::optional<Batch> forgetBatch, refusalBatch;
        auto forgetB = [&]() -> const Batch & {
            if (!forgetBatch)
                forgetBatch = batchOf(fb);
            return *forgetBatch;
        };
        auto refusalB = [&]() -> const Batch & {
            if (!refusalBatch)
                refusalBatch = batchOf(pointers(refusalsFor(fb)));
            return *refusalBatch;
        };
        ForgetBatch f;
        f.policy = [&] { return policy(forgetB()); };
        f.reference = [&] { return reference(forgetB()); };
        f.refusalPolicy = [&] { return policy(refusalB()); };
        f.refusalReference = [&] { return reference(refusalB()); };
        return forgetLoss(u.method, u.w, f);
    }

    torch::Tensor klTerm()
    {
        const Batch b = batchOf(retainSampler->next(B));
        const AnswerLogits refLogits = reference(b);
        return answerKl(refLogits, policy(b));
    }

    UnlearnRun &u;
    Sampler forgetSampler;
    std::unique_ptr<Sampler> retainSampler, pdSampler;
    std::mt19937_64 refusalRng;
    const int B;
    MicroCursor cursor;
};

LoopSettings loopSettings(const UnlearnRun &u)
{
    const TrainOptions &t = u.c.train;
    LoopSettings s;
    s.phase = std::string(methodName(u.method)) + (u.c.pd ? "+pd" : "");
    s.lr = t.lr;
    s.weightDecay = t.weightDecay;
    s.warmupRatio = t.warmupRatio;
    s.clipNorm = t.clipNorm;
    s.totalSteps = stepsFor(t, u.forget.size());
    s.gradAccum = t.gradAccum;
    // Samples/s counts every example the policy model sees: forget (twice for DPO), retain, PD.
    s.samplesPerMicroStep = t.batchSize * (u.row.forgetPasses + ((u.useRetain || u.useKl) ? 1 : 0) + (u.c.pd ? 1 : 0));
    s.stepsPerEpoch = std::max<int>(1, static_cast<int>(u.forget.size() / (size_t(t.batchSize) * t.gradAccum)));
    s.progressEvery = t.progressEvery;
    s.bf16Autocast = u.bf16;
    s.startStep = u.c.resumeFrom.empty() ? 0 : std::clamp(u.c.resumeStep, 0, s.totalSteps);
    s.meetEvery = u.c.checkpointEvery;
    return s;
}

// The provenance a run's weights carry.
std::map<std::string, std::string> runMetadata(const UnlearnRun &u, const char *status, int steps)
{
    const UnlearnConfig &c = u.c;
    const LossWeights &w = u.w;
    return {{"trained_by", "unlearn"},
            {"status", status},
            {"method", methodName(u.method)},
            {"pd", c.pd ? "true" : "false"},
            {"weights", "forget=" + fmt(w.forget) + " retain=" + fmt(w.retain) + " kl=" + fmt(w.kl) +
                            " pd=" + fmt(w.pd) + " beta=" + fmt(w.beta) + " gamma=" + fmt(w.gamma)},
            {"steps", std::to_string(steps)},
            {"seed", std::to_string(c.train.seed)},
            {"lr", fmt(c.train.lr)},
            {"lora_rank", std::to_string(u.lora ? u.spec.rank : 0)},
            {"chat_template", u.lm->chat->name()},
            {"base_model", c.modelFile},
            {"start_adapter", c.adapter},
            {"dataset", u.benchmark->root},
            {"dataset_hash", u.benchmark->contentHash}};
}

// What a run writes: the built-in model's checkpoint file, or an adapter folder (PEFT) for Hugging Face models.
void saveWeights(const UnlearnRun &u, const std::string &path, std::map<std::string, std::string> meta)
{
    if (u.adapters) {
        saveAdapters(*u.lm, path, u.spec, meta);
        return;
    }
    Checkpoint out;
    out.card = u.lm->builtin->card;
    out.tokenizer = u.lm->builtin->tokenizer;
    out.model = u.lm->builtin->model;
    out.info = std::move(meta);
    saveCheckpoint(path, out);
}

RunResult unlearnImpl(const UnlearnConfig &c, const ProgressFn &progress, const CancelToken *cancel)
{
    ensureThreads();
    checkOptions(c.train);
    const bool writes = !quietRank(); // a data-parallel rank other than 0 trains its share and writes nothing
    if (writes)
        checkOutputs(c);
    UnlearnRun u(c);
    {
        se::profile::Phase phase("unlearn: inputs and weights");
        openInputs(u);
        checkData(u);
        buildSets(u);
        prepareWeights(u);
    }
    // LoRA dropout; each data-parallel rank draws its own masks.
    torch::manual_seed(c.train.seed + (DataParallel::current() ? 1000003ULL * DataParallel::current()->rank() : 0));
    UnlearnStep step(u);
    const LoopSettings s = loopSettings(u);
    std::function<void(int)> afterStep;
    if (c.checkpointEvery > 0 && c.onCheckpoint && writes)
        afterStep = [&](int steps) {
            if (steps % c.checkpointEvery != 0 || steps == s.totalSteps)
                return;
            const std::string file = curveCheckpointPath(c.outFile, c.modelFile);
            {
                se::profile::Phase phase("checkpoint writes");
                saveWeights(u, file, runMetadata(u, "running", steps));
            }
            c.onCheckpoint(steps, file, *u.live);
            u.net->train(); // evaluation switched the model to eval mode and back; make sure of it
        };
    RunResult r;
    {
        se::profile::Phase phase("unlearn: steps");
        r = runTrainingLoop(
            u.params, s, [&](int st, int micro) { return step(st, micro); }, progress, cancel, afterStep);
    }
    MultimodalLm &net = *u.net;
    r.device = deviceLabel(u.device, u.bf16) +
               (u.adapters ? std::string(" (") + (net.dtype() == torch::kFloat ? "float32" : "bfloat16") +
                                 " weights, float32 adapters)"
                           : std::string());
    r.parameters = net.parameterCount();
    if (u.checkpointed) {
        r.device += ", activation checkpointing";
        net.setActivationCheckpointing(false);
    }
    net.eval();
    auto meta = runMetadata(u, se::store::statusName(r.status), r.steps);
    if (!r.message.empty())
        meta["stop_reason"] = r.message;
    r.model = u.live;
    if (!writes)
        return r;
    se::profile::Phase phase("checkpoint writes");
    saveWeights(u, c.outFile, meta);
    r.outFile = c.outFile;
    return r;
}

} // namespace

RunResult unlearn(const UnlearnConfig &c, const ProgressFn &progress, const CancelToken *cancel)
{
    return plainErrors([&] { return unlearnImpl(c, progress, cancel); });
}

} // namespace se::engine
