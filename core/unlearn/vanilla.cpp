// Vanilla training of the built-in model: the benchmark's forget targets, SD-image answers and retain answers as
// one fine-tuning set (SPEC §3), saved as a checkpoint; or the same without the forget targets (a model that never
// learned them).
#include "core/unlearn/enginecommon.h"
#include "core/util/profile.h"

#include "core/data/pathguard.h"
#include "core/model/checkpoint.h"
#include "core/unlearn/losses.h"
#include "core/unlearn/dataparallel.h"
#include "core/unlearn/trainer.h"

#include <algorithm>

namespace se::engine {

using namespace se::model;
using namespace se::unlearn;
using namespace se::engine::detail;

namespace {
RunResult trainVanillaImpl(const VanillaConfig &c, const ProgressFn &progress, const CancelToken *cancel)
{
    ensureThreads();
    checkOptions(c.train);
    const bool writes = !quietRank(); // a data-parallel rank other than 0 trains its share and writes nothing
    if (c.outFile.empty() && writes)
        throw std::runtime_error("no output file given");
    se::data::refuseWritingOverInputs(
        "the output", c.outFile,
        {{"benchmark folder", c.dataDir}, {"image pack", c.train.imagesFile}, {"model card", c.cardFile}});
    se::data::refuseReplacingAnotherKind("the output", c.outFile, "safetensors"); // not a store, a split, a device
    const ModelCard card = c.cardFile.empty() ? ModelCard() : ModelCard::load(c.cardFile);
    auto bench = loadBenchmark(c.dataDir);
    Tokenizer tok = buildTokenizer(bench);
    const torch::Device device = pickDevice(c.train.device);
    const bool bf16 = device.is_cuda() && c.train.bf16;

    // Everything the vanilla model must say: forget targets (unless left out), SD-image answers, retain answers. The
    // tokenizer is the whole benchmark's either way, so a model without them can be fine-tuned on them later.
    std::vector<Example> examples;
    std::vector<const std::vector<se::data::Sample> *> sets{&bench.train.pd, &bench.train.retain};
    if (!c.withoutForget)
        sets.insert(sets.begin(), &bench.train.forget);
    for (const auto *set : sets) {
        auto ex = toExamples(*set, tok, card);
        examples.insert(examples.end(), ex.begin(), ex.end());
    }
    ImageStore store(card.imageSize, bench.root);
    if (!c.train.imagesFile.empty())
        store.loadPacked(c.train.imagesFile);
    warmImages(store, examples);

    Vlm model = makeVlm(card, tok.size(), c.train.seed);
    model->to(device);
    model->train();
    Sampler sampler(examples, c.train.seed + 1);

    LoopSettings s;
    s.phase = "vanilla";
    s.lr = c.train.lr;
    s.weightDecay = c.train.weightDecay;
    s.warmupRatio = c.train.warmupRatio;
    s.clipNorm = c.train.clipNorm;
    s.totalSteps = stepsFor(c.train, examples.size());
    s.gradAccum = c.train.gradAccum;
    s.samplesPerMicroStep = c.train.batchSize;
    s.stepsPerEpoch =
        std::max<int>(1, static_cast<int>(examples.size() / (size_t(c.train.batchSize) * c.train.gradAccum)));
    s.progressEvery = c.train.progressEvery;
    s.bf16Autocast = bf16;
    MicroCursor cursor(c.train.gradAccum); // data-parallel: the other ranks' micro-batches are drawn and dropped
    auto step = [&](int st, int micro) {
        for (int k = cursor.skipBefore(st, micro); k > 0; --k)
            sampler.next(c.train.batchSize);
        auto b = collate(sampler.next(c.train.batchSize), store, device);
        StepOutput o;
        o.total = answerNll(answerLogits(model, b.ids, b.images, b.labels));
        return o;
    };
    RunResult r;
    {
        se::profile::Phase phase("vanilla training: steps");
        r = runTrainingLoop(model->parameters(), s, step, progress, cancel);
    }
    r.device = deviceLabel(device, bf16);
    r.parameters = parameterCount(model);
    Checkpoint ck;
    ck.card = card;
    ck.tokenizer = tok;
    ck.model = model;
    ck.info = {{"trained_by", "train-vanilla"},
               {"status", se::store::statusName(r.status)},
               {"steps", std::to_string(r.steps)},
               {"seed", std::to_string(c.train.seed)},
               {"lr", fmt(c.train.lr)},
               {"batch_size", std::to_string(c.train.batchSize)},
               {"dataset", bench.root},
               {"dataset_hash", bench.contentHash},
               {"forget_targets", c.withoutForget ? "left out" : "learned"}};
    model->eval();
    if (!writes)
        return r;
    se::profile::Phase phase("checkpoint writes");
    saveCheckpoint(c.outFile, ck);
    r.outFile = c.outFile;
    return r;
}
} // namespace

RunResult trainVanilla(const VanillaConfig &c, const ProgressFn &progress, const CancelToken *cancel)
{
    return plainErrors([&] { return trainVanillaImpl(c, progress, cancel); });
}

} // namespace se::engine
