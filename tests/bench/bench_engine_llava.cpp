// Benchmark (prints numbers; not a test): a Hugging Face LLaVA folder through the engine — load time, `score`
// throughput (tokens scored per second: prompt, image tokens and answer in one forward pass), and greedy generation
// with the KV cache at batch 1 and batched (new tokens per second).
//   bench_engine_llava MODEL_DIR IMAGE [--batch N] [--new-tokens N] [--repeats N] [--device D]
// A mid-size random model to run it on (30 M parameters, LLaVA-1.5's 336 px / 576 image tokens):
//   /usr/bin/python3 tests/llava/make_tiny_llava.py /tmp/mid --shape mid
#include "core/unlearn/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
double since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_engine_llava MODEL_DIR IMAGE [--batch N] [--new-tokens N] [--repeats N] "
                             "[--device D]\n");
        return 2;
    }
    int batch = 8, newTokens = 32, repeats = 3;
    std::string device = "auto";
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--batch")
            batch = std::max(1, std::atoi(argv[i + 1]));
        else if (k == "--new-tokens")
            newTokens = std::max(1, std::atoi(argv[i + 1]));
        else if (k == "--repeats")
            repeats = std::max(1, std::atoi(argv[i + 1]));
        else if (k == "--device")
            device = argv[i + 1];
    }
    const std::string threads = se::engine::configureThreads(0);
    const auto tLoad = std::chrono::steady_clock::now();
    se::engine::ModelOptions mo;
    mo.device = device;
    se::engine::Assistant a(argv[1], mo);
    const double load = since(tLoad);
    const auto info = a.info();
    std::printf("model %s: %s parameters, %s weights, on %s (%s); loaded in %.2f s\n", argv[1],
                info.count("parameters") ? info.at("parameters").c_str() : "?",
                info.count("dtype") ? info.at("dtype").c_str() : "?", a.deviceName().c_str(), threads.c_str(), load);

    const std::string image = argv[2];
    const std::string question = "What is shown in this picture, and is any of it dangerous?";
    const std::string answer = "The picture shows a kitchen with a knife on the table; nothing in it is dangerous.";
    a.score(image, question, answer); // warm-up (first-call allocations, image decoding)
    auto t0 = std::chrono::steady_clock::now();
    std::size_t scored = 0;
    for (int r = 0; r < repeats; ++r)
        scored += a.score(image, question, answer).inputIds.size();
    const double scoreSeconds = since(t0);
    std::printf("score: %d passes of %zu tokens in %.2f s: %.0f tokens/s, %.3f s per pass\n", repeats,
                scored / std::size_t(repeats), scoreSeconds, double(scored) / scoreSeconds, scoreSeconds / repeats);

    se::engine::AskOptions greedy;
    greedy.greedy = true;
    greedy.maxNewTokens = newTokens;
    for (int b : {1, batch}) {
        std::vector<std::pair<std::string, std::string>> qs(std::size_t(b), {image, question});
        for (int i = 0; i < b; ++i) // distinct prompts, so that answers (and lengths) differ as in an evaluation
            qs[std::size_t(i)].second += std::string(std::size_t(i % 5), '?');
        a.answerMany(qs, greedy, b); // warm-up
        t0 = std::chrono::steady_clock::now();
        std::size_t tokens = 0;
        for (int r = 0; r < repeats; ++r)
            for (const auto &ans : a.answerMany(qs, greedy, b))
                tokens += ans.ids.size() + (int(ans.ids.size()) < newTokens ? 1 : 0); // the closing </s> counts
        const double s = since(t0);
        std::printf("greedy generation, batch %d, up to %d new tokens: %zu tokens in %.2f s: %.1f new tokens/s "
                    "(%.2f s per batch, prompt processing included)\n",
                    b, newTokens, tokens, s, double(tokens) / s, s / repeats);
    }
    return 0;
}
