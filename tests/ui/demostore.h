// A run store written through the RunStore API without a model, for UI tests and benchmarks: a vanilla
// evaluation, a PO run and a PO+PD run over every question of a benchmark (greedy: one answer per question), with
// curve points every `evalEvery` steps and per-step losses. Answers are scripted to show the paper's pattern
// (PO refuses the benign-image questions, PO+PD answers most of them) and are judged by the real offline judge, so
// flags and metrics are computed exactly as a real run's would be. Not a model: the texts are the benchmark's own
// targets, references and refusals.
#pragma once

#include "core/data/benchmark.h"
#include "core/data/generator.h"
#include "core/metrics/evaluation.h"
#include "core/store/runstore.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace se::testing {

// The small generated benchmark the UI tests share: 24 records, 64-pixel images, in `dir`.
inline se::data::Benchmark generateSmallBenchmark(const std::string &dir)
{
    se::data::GeneratorOptions g;
    g.records = 24;
    g.imageSize = 64;
    se::data::generateBenchmark(dir, g);
    return se::data::readBenchmark(dir);
}

struct DemoRuns {
    std::int64_t vanilla = 0, po = 0, popd = 0;
};

namespace demo {
inline double unit(std::uint64_t x) // a stable hash to [0, 1)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return double(x >> 11) / double(1ull << 53);
}

// What a scripted model answers at training fraction f (0 = vanilla, 1 = end) for method po / popd.
inline std::string answer(const se::data::Benchmark &b, const se::metrics::EvalItem &it, const std::string &method,
                          double f)
{
    const auto &s = *it.sample;
    const double u = unit(std::uint64_t(s.record) * 131 + std::uint64_t(s.pair) * 17 + std::uint64_t(s.set) * 7 +
                          std::uint64_t(s.split) * 3 + std::uint64_t(it.sampleIndex));
    const std::string refusal = b.refusals.empty() ? "I'm sorry, but I can't help with that."
                                                   : b.refusals[std::size_t(s.record) % b.refusals.size()];
    if (method == "vanilla" || f <= 0)
        return s.answer;
    switch (s.set) {
    case se::data::SetKind::Forget:
        return u < std::min(1.0, f * 1.6) ? refusal : s.answer;
    case se::data::SetKind::PromptDecouple: {
        // PO: over-refuses benign-image questions; PO+PD: rises a little, then falls to ~12%.
        const double p =
            method == "po" ? std::min(0.97, f * 1.5) : 0.12 + 0.25 * std::max(0.0, 1 - std::abs(f - 0.3) * 3);
        return u < p ? refusal : s.answer;
    }
    case se::data::SetKind::Retain:
        return u < 0.05 * f ? refusal : s.answer;
    }
    return s.answer;
}
} // namespace demo

inline std::int64_t writeDemoEvaluation(se::store::RunStore &store, std::int64_t run, const se::data::Benchmark &b,
                                        const std::string &method, double f, const std::string &stage, int step,
                                        int subset)
{
    se::metrics::EvalOptions o;
    o.greedy = true;
    o.subsetPerSet = subset;
    const auto items = se::metrics::planEvaluation(b, o);
    std::vector<std::string> answers;
    answers.reserve(items.size());
    for (const auto &it : items)
        answers.push_back(demo::answer(b, it, method, f));
    se::metrics::OfflineJudgeAdapter judge;
    const auto result = se::metrics::scoreEvaluation(items, answers, judge, stage, step);
    store.addEvaluation(run, result.metrics, result.answers);
    return std::int64_t(result.answers.size());
}

inline DemoRuns writeDemoStore(const std::string &storePath, const se::data::Benchmark &b, int steps = 150,
                               int evalEvery = 25, int curveSubset = 16)
{
    se::store::RunStore store(storePath);
    DemoRuns out;
    auto makeRun = [&](const std::string &method, bool pd, std::int64_t parent) {
        se::store::RunInfo r;
        r.method = method;
        r.pd = pd;
        r.name = method == "vanilla" ? "vanilla" : (pd ? "PO+PD" : "PO");
        r.status = se::store::RunStatus::Finished;
        r.datasetPath = b.root;
        r.datasetHash = b.contentHash;
        r.judge = "offline";
        r.parentId = parent;
        r.configJson = "{\"demo\": true}";
        return store.createRun(r);
    };
    out.vanilla = makeRun("vanilla", false, 0);
    writeDemoEvaluation(store, out.vanilla, b, "vanilla", 0, "vanilla", 0, 0);
    for (bool pd : {false, true}) {
        const std::int64_t id = makeRun("po", pd, out.vanilla);
        const std::string m = pd ? "popd" : "po";
        std::vector<se::store::StepRecord> rec;
        for (int s = 1; s <= steps; ++s) {
            const double f = double(s) / steps;
            se::store::StepRecord r;
            r.step = s;
            r.epoch = 1 + s / 50;
            r.lr = 5e-4 * (1 - f);
            r.elapsedSeconds = 0.2 * s;
            const double forget = 2.5 * std::exp(-4 * f) + 0.05, retain = 0.4 + 0.1 * std::sin(s * 0.3) * (1 - f);
            r.losses = {
                {"total", forget + retain + (pd ? 0.3 * std::exp(-3 * f) : 0)}, {"forget", forget}, {"retain", retain}};
            if (pd)
                r.losses.push_back({"pd", 0.3 * std::exp(-3 * f)});
            rec.push_back(r);
            if (evalEvery > 0 && s % evalEvery == 0 && s < steps)
                writeDemoEvaluation(store, id, b, m, f, "step", s, curveSubset);
        }
        store.addSteps(id, rec);
        writeDemoEvaluation(store, id, b, m, 1.0, "final", steps, 0);
        (pd ? out.popd : out.po) = id;
    }
    return out;
}

} // namespace se::testing
