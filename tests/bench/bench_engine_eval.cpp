// Benchmark (prints numbers; not a test): evaluation throughput — answers generated and judged per second by the
// built-in model on a benchmark, with the paper's sampling (temperature 1.0, top-p 0.9) and greedy.
//   bench_engine_eval MODEL.safetensors BENCHMARK_DIR [--questions N] [--batch N]
// (MODEL: a vanilla checkpoint, e.g. from `safeeraser train-vanilla`; BENCHMARK_DIR: its benchmark.)
#include "core/metrics/evaluation.h"
#include "core/unlearn/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_engine_eval MODEL.safetensors BENCHMARK_DIR [--questions N] [--batch N]\n");
        return 2;
    }
    int limit = 600, batch = 64;
    for (int i = 3; i + 1 < argc; i += 2)
        if (std::string(argv[i]) == "--questions")
            limit = std::atoi(argv[i + 1]);
        else if (std::string(argv[i]) == "--batch")
            batch = std::max(1, std::atoi(argv[i + 1]));
    const auto bench = se::data::readBenchmark(argv[2]);
    se::engine::Assistant assistant(argv[1]);
    std::printf("device: %s, %s\n", assistant.deviceName().c_str(), se::engine::configureThreads(0).c_str());
    for (bool greedy : {false, true}) {
        se::metrics::EvalOptions o;
        o.greedy = greedy;
        o.train = false;
        auto items = se::metrics::planEvaluation(bench, o);
        if (int(items.size()) > limit)
            items.resize(std::size_t(limit));
        std::vector<std::pair<std::string, std::string>> qs;
        for (const auto &it : items)
            qs.emplace_back(it.sample->imageFile, it.sample->question);
        se::engine::AskOptions ask;
        ask.greedy = greedy;
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> answers;
        std::size_t tokens = 0;
        for (auto &a : assistant.answerMany(qs, ask, batch)) {
            tokens += a.ids.size();
            answers.push_back(std::move(a.text));
        }
        const double gen = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        se::metrics::OfflineJudgeAdapter judge;
        const auto t1 = std::chrono::steady_clock::now();
        const auto result = se::metrics::scoreEvaluation(items, answers, judge, "final", 0);
        const double judged = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        std::printf(
            "%s, batch %d: %zu answers (%zu tokens) generated in %.2f s (%.0f answers/s, %.0f tokens/s), judged "
            "offline in %.1f ms (%.0f answers/s)\n",
            greedy ? "greedy" : "sampling T=1.0 top-p 0.9", batch, answers.size(), tokens, gen, answers.size() / gen,
            tokens / gen, judged * 1000, answers.size() / std::max(judged, 1e-9));
        (void)result;
    }
    return 0;
}
