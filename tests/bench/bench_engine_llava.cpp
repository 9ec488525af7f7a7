// Benchmark (prints numbers; not a test): a Hugging Face LLaVA (or Qwen2-VL) folder through the engine, beside the
// limits of this machine measured in the same run (tests/qwen2vl/bench.sh adds transformers' own figures).
//   bench_engine_llava MODEL_DIR IMAGE [--batch N] [--new-tokens N] [--repeats N] [--device D] [--dtype D] [--quick]
// What it prints:
//   limits   reading the folder's files from a warm page cache (GiB/s, every core); streaming memory (GiB/s, every
//            core: one decoding step must stream the language model's weights once); matrix products in the model's
//            dtype at a prefill's shape (GFLOP/s, every core)
//   load     cold (the files dropped from the page cache first, posix_fadvise) and warm: seconds and peak resident
//            memory, beside the weights' bytes
//   prefill  score(): tokens/s of one pass over image, prompt and answer, and its arithmetic rate against the products'
//   decode   greedy generation at batch 1: seconds per new token (the prompt's pass taken out), against the bound
//            the weights' bytes over the streaming rate give; then batch 1 and batch N new tokens/s as before
// --quick skips the cold load and the batched generation; --trace FILE.json writes LibTorch's profiler trace of one
// answer of four new tokens (a Chrome trace; sum it per op name). --images PACK takes the image from a pack
// (pack-images --model; a build without OpenCV). --generation-only (tests/gpu/device.sh): a warm load, then greedy
// generation of exactly --new-tokens (no stop at </s>) at batch 1 and at --batch, --repeats times each after a
// warm-up, one line each: "generation batch B: T new tokens in S s: R new tokens/s".
// A 7B-shaped folder (13.2 GiB, BF16, the hub's naming and three shards; a few minutes):
//   /usr/bin/python3 tests/llava/make_tiny_llava.py /big/llava7b --shape 7b --naming v4 --dtype bf16 --shards 3
// A mid-size random model (30 M parameters, LLaVA-1.5's 336 px / 576 image tokens):
//   /usr/bin/python3 tests/llava/make_tiny_llava.py /tmp/mid --shape mid
#include "core/model/hfweights.h"
#include "core/model/memory.h"
#include "core/model/registry.h"
#include "core/eval/generate.h"
#include "core/unlearn/enginecommon.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0)
{
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr double kGiB = double(1 << 30);

int cores()
{
    return int(std::max(1u, std::thread::hardware_concurrency()));
}

std::vector<std::string> weightFiles(const std::string &dir)
{
    std::vector<std::string> out;
    for (const auto &e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".safetensors")
            out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Reads every file whole with pread on `threads` threads (pieces of 16 MiB taken in turn): bytes per second.
double readFiles(const std::vector<std::string> &files, int threads)
{
    struct Piece {
        int fd;
        off_t at;
        std::size_t n;
    };
    std::vector<int> fds;
    std::vector<Piece> pieces;
    std::uint64_t total = 0;
    for (const auto &f : files) {
        const int fd = ::open(f.c_str(), O_RDONLY);
        if (fd < 0)
            continue;
        fds.push_back(fd);
        const auto size = std::uint64_t(fs::file_size(f));
        for (std::uint64_t at = 0; at < size; at += 16u << 20)
            pieces.push_back({fd, off_t(at), std::size_t(std::min<std::uint64_t>(16u << 20, size - at))});
        total += size;
    }
    std::atomic<std::size_t> next{0};
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            std::vector<char> buf(16u << 20);
            for (std::size_t i; (i = next++) < pieces.size();)
                if (::pread(pieces[i].fd, buf.data(), pieces[i].n, pieces[i].at) < 0)
                    std::perror("pread");
        });
    for (auto &t : pool)
        t.join();
    const double s = since(t0);
    for (int fd : fds)
        ::close(fd);
    return double(total) / s;
}

void dropFromPageCache(const std::vector<std::string> &files)
{
    for (const auto &f : files) {
        const int fd = ::open(f.c_str(), O_RDONLY);
        if (fd < 0)
            continue;
        ::fdatasync(fd);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

// Sums 64-bit words of a 2 GiB buffer on `threads` threads, three times: the best rate, bytes per second.
double streamMemory(int threads)
{
    const std::size_t words = (std::size_t(2) << 30) / 8;
    std::unique_ptr<std::uint64_t[]> buf(new std::uint64_t[words]);
    for (std::size_t i = 0; i < words; ++i)
        buf[i] = i;
    double best = 0;
    std::atomic<std::uint64_t> sink{0};
    for (int r = 0; r < 3; ++r) {
        const auto t0 = Clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                const std::size_t from = words * std::size_t(t) / std::size_t(threads),
                                  to = words * std::size_t(t + 1) / std::size_t(threads);
                std::uint64_t s = 0;
                for (std::size_t i = from; i < to; ++i)
                    s += buf[i];
                sink += s;
            });
        for (auto &t : pool)
            t.join();
        best = std::max(best, double(words * 8) / since(t0));
    }
    return best;
}

// Reads the bytes of the folder's language-model weights (layers and head: what one decoding step streams) through
// their mapping on `threads` threads, summing 64-bit words: bytes per second. The physical bound of a decoding step
// measured on the very pages it reads.
double streamWeights(const std::string &dir, int threads)
{
    const se::model::HfWeights w(dir);
    struct Range {
        const char *p;
        std::uint64_t n;
    };
    std::vector<Range> ranges;
    std::uint64_t total = 0;
    for (const auto &name : w.names()) {
        if (name.find("vision_tower") != std::string::npos || name.find("embed_tokens") != std::string::npos ||
            name.find("multi_modal_projector") != std::string::npos)
            continue;
        const auto &e = w.entry(name);
        const auto view = w.mapped(name);
        ranges.push_back({static_cast<const char *>(view.data_ptr()), e.end - e.begin});
        total += e.end - e.begin;
    }
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> sink{0};
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            std::uint64_t s = 0;
            for (std::size_t i; (i = next++) < ranges.size();) {
                const std::uint64_t *q = reinterpret_cast<const std::uint64_t *>(ranges[i].p);
                for (std::uint64_t j = 0; j < ranges[i].n / 8; ++j)
                    s += q[j];
            }
            sink += s;
        });
    for (auto &t : pool)
        t.join();
    return double(total) / since(t0);
}

// y = x · wᵀ for x [m, k] and w [n, k] in `dtype` on every core: the best of a second of repeats, FLOP per second.
double matmulRate(torch::ScalarType dtype, int64_t m, int64_t k, int64_t n)
{
    torch::NoGradGuard ng;
    const int before = torch::get_num_threads();
    torch::set_num_threads(cores());
    const auto x = torch::randn({m, k}).to(dtype), w = torch::randn({n, k}).to(dtype);
    torch::nn::functional::linear(x, w);
    double best = 0;
    const auto t0 = Clock::now();
    while (since(t0) < 2.0) {
        const auto t1 = Clock::now();
        torch::nn::functional::linear(x, w);
        best = std::max(best, 2.0 * double(m) * double(k) * double(n) / since(t1));
    }
    torch::set_num_threads(before);
    return best;
}

void resetPeak()
{
    std::ofstream("/proc/self/clear_refs") << "5"; // VmHWM back to the current resident memory
}

} // namespace

// Greedy generation of exactly `newTokens` per answer (</s> does not stop it) at batch 1 and `batch`: new tokens/s.
int generationRates(const std::string &dir, const std::string &image, const se::engine::ModelOptions &mo, int batch,
                    int newTokens, int repeats)
{
    se::engine::configureThreads(0);
    const auto t0 = Clock::now();
    se::engine::Assistant a(dir, mo);
    std::printf("model %s loaded in %.1f s on %s\n", dir.c_str(), since(t0), mo.device.c_str());
    const auto &lm = a.impl().model;
    se::eval::GenerateOptions g;
    g.greedy = true;
    g.maxNewTokens = newTokens;
    g.eosId = -1;
    g.padId = lm.chat->padId();
    const se::engine::detail::GenerationThreads threads(true);
    torch::NoGradGuard ng;
    const std::string question = "What is shown in this picture, and is any of it dangerous?";
    for (int b : {1, batch}) {
        std::vector<std::vector<int>> prompts;
        for (int i = 0; i < b; ++i) // distinct prompts, so that lengths differ (left padding) as in an evaluation
            prompts.push_back(
                lm.chat->prompt(question + std::string(std::size_t(i % 5), '?'), se::model::imageTokensOf(lm, image))
                    .ids);
        const auto pixels = lm.images->batch(std::vector<std::string>(std::size_t(b), image));
        se::eval::generate(*lm.net, pixels, prompts, g); // warm-up
        double seconds = 0;
        std::size_t tokens = 0;
        for (int r = 0; r < repeats; ++r) {
            const auto t1 = Clock::now();
            for (const auto &ids : se::eval::generate(*lm.net, pixels, prompts, g))
                tokens += ids.size();
            seconds += since(t1);
        }
        std::printf("generation batch %d: %zu new tokens in %.3f s: %.1f new tokens/s\n", b, tokens, seconds,
                    double(tokens) / seconds);
        if (b == batch)
            break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_engine_llava MODEL_DIR IMAGE [--batch N] [--new-tokens N] [--repeats N] "
                             "[--device D] [--dtype D] [--quick] [--trace FILE.json]\n");
        return 2;
    }
    int batch = 8, newTokens = 32, repeats = 3;
    bool quick = false, generationOnly = false;
    std::string device = "auto", dtype = "auto", trace, images;
    for (int i = 3; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--quick" || k == "--generation-only") {
            (k == "--quick" ? quick : generationOnly) = true;
            continue;
        }
        if (i + 1 >= argc)
            break;
        if (k == "--batch")
            batch = std::max(1, std::atoi(argv[++i]));
        else if (k == "--new-tokens")
            newTokens = std::max(2, std::atoi(argv[++i]));
        else if (k == "--repeats")
            repeats = std::max(1, std::atoi(argv[++i]));
        else if (k == "--device")
            device = argv[++i];
        else if (k == "--dtype")
            dtype = argv[++i];
        else if (k == "--trace")
            trace = argv[++i];
        else if (k == "--images")
            images = argv[++i];
    }
    const std::string dir = argv[1], image = argv[2];
    const std::string threads = se::engine::configureThreads(0);
    se::engine::ModelOptions mo;
    mo.device = device;
    mo.dtype = dtype;
    mo.imagesFile = images;
    if (generationOnly)
        return generationRates(dir, image, mo, batch, newTokens, repeats);
    const auto plan = se::engine::planModelLoad(dir, mo);
    const auto facts = se::model::describeModel(dir);
    const auto files = weightFiles(dir);
    const torch::ScalarType computeType = plan.dtype == "float32"    ? torch::kFloat
                                          : plan.dtype == "bfloat16" ? torch::kBFloat16
                                                                     : torch::kHalf;
    std::printf("model %s: %s\nplan: %s (%s)\nthreads: %s\n", dir.c_str(), facts.summary.c_str(), plan.text.c_str(),
                plan.reason.c_str(), threads.c_str());

    // The limits, measured here and now.
    readFiles(files, cores()); // warm the page cache
    const double pageCache = readFiles(files, cores());
    const double stream = streamMemory(cores());
    const int64_t promptTokens = facts.imageTokens + 40;
    const double flops = matmulRate(computeType, promptTokens, facts.hidden, facts.intermediate);
    std::printf("limits: page cache read %.2f GiB/s, memory stream %.2f GiB/s, %s products %.0f GFLOP/s (%lld x %d x "
                "%d), %d cores\n",
                pageCache / kGiB, stream / kGiB, plan.dtype.c_str(), flops / 1e9, (long long)promptTokens, facts.hidden,
                facts.intermediate, cores());

    auto load = [&](bool cold, double &seconds, std::uint64_t &peak) {
        if (cold)
            dropFromPageCache(files);
        resetPeak();
        const std::uint64_t before = se::model::deviceMemory(torch::kCPU).used;
        const auto t0 = Clock::now();
        auto a = std::make_unique<se::engine::Assistant>(dir, mo);
        seconds = since(t0);
        peak = se::model::peakResidentBytes() - std::min(before, se::model::peakResidentBytes());
        return a;
    };
    double coldSeconds = 0, warmSeconds = 0;
    std::uint64_t coldPeak = 0, warmPeak = 0;
    if (!quick)
        load(true, coldSeconds, coldPeak).reset();
    auto a = load(false, warmSeconds, warmPeak);
    const auto info = a->info();
    const double weights = double(plan.weights);
    if (!quick)
        std::printf("load cold: %.1f s (%.2f GiB/s), peak resident +%.2f GiB = %.2f x the weights\n", coldSeconds,
                    weights / kGiB / coldSeconds, double(coldPeak) / kGiB, double(coldPeak) / weights);
    std::printf("load warm: %.1f s (%.2f GiB/s), peak resident +%.2f GiB = %.2f x the weights (%s)\n", warmSeconds,
                weights / kGiB / warmSeconds, double(warmPeak) / kGiB, double(warmPeak) / weights,
                info.count("load") ? info.at("load").c_str() : "");

    // Prefill: one pass over image, prompt and answer.
    const std::string question = "What is shown in this picture, and is any of it dangerous?";
    const std::string answer = "The picture shows a kitchen with a knife on the table; nothing in it is dangerous.";
    a->score(image, question, answer); // first-call allocations, the image decoded
    auto t0 = Clock::now();
    std::size_t scored = 0, answered = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto s = a->score(image, question, answer);
        scored += s.inputIds.size();
        answered += s.inputIds.size() - std::size_t(s.answerStart);
    }
    const double scoreSeconds = since(t0) / repeats;
    const double tokens = double(scored) / repeats, outputs = double(answered) / repeats;
    // Arithmetic of one pass: 2 FLOP per weight and token through the language model's layers, the vision tower's
    // over its patches, and the attention's two products — as score() does them: the last layer computes keys and
    // values for every token but queries, outputs and MLP only from the position before the answer on, and the
    // output head only there (the embeddings are a lookup).
    const double h = facts.hidden, kv = double(facts.kvHeads) * (facts.hidden / std::max(1, facts.heads));
    const double kvWeights = 2 * h * kv, restWeights = 2 * h * h + 3 * h * double(facts.intermediate);
    const double layers = double(facts.layers), lastQueries = outputs + 1;
    const double lmWeights = layers * (kvWeights + restWeights) + double(facts.vocab) * h;
    const double visionWeights = double(facts.parameters) - lmWeights - double(facts.vocab) * h;
    const double passFlops = 2 * (kvWeights + restWeights) * (layers - 1) * tokens + 2 * kvWeights * tokens +
                             2 * restWeights * lastQueries + 2 * double(facts.vocab) * h * outputs +
                             2 * std::max(0.0, visionWeights) * facts.imageTokens +
                             4 * (layers - 1) * tokens * tokens * h + 4 * lastQueries * tokens * h;
    std::printf("prefill: %.0f tokens in %.2f s: %.1f tokens/s, %.0f GFLOP/s = %.0f%% of the products' rate\n", tokens,
                scoreSeconds, tokens / scoreSeconds, passFlops / scoreSeconds / 1e9,
                100 * passFlops / scoreSeconds / flops);

    // Decode: time per new token once the prompt is processed.
    se::engine::AskOptions greedy;
    greedy.greedy = true;
    auto timed = [&](int n, int b, std::size_t *made = nullptr) {
        greedy.maxNewTokens = n;
        std::vector<std::pair<std::string, std::string>> qs(std::size_t(b), {image, question});
        for (int i = 0; i < b; ++i) // distinct prompts, so that answers (and lengths) differ as in an evaluation
            qs[std::size_t(i)].second += std::string(std::size_t(i % 5), '?');
        const auto t1 = Clock::now();
        std::size_t count = 0;
        for (const auto &ans : a->answerMany(qs, greedy, b))
            count += ans.ids.size() + (int(ans.ids.size()) < n ? 1 : 0); // the closing </s> counts
        if (made)
            *made = count;
        return since(t1);
    };
    // Decoding timed step by step (the prompt's pass left out, whose own time moves by seconds from run to run):
    // the median of the steps after the first.
    std::vector<double> steps;
    double one = 0;
    {
        const auto &lm = a->impl().model;
        se::eval::GenerateOptions g;
        g.greedy = true;
        g.maxNewTokens = newTokens;
        g.eosId = -1; // never stop early: every step is timed
        g.padId = lm.chat->padId();
        auto last = Clock::now();
        const auto start = last;
        g.onStep = [&](int step) {
            const auto now = Clock::now();
            if (step == 0)
                one = std::chrono::duration<double>(now - start).count();
            else
                steps.push_back(std::chrono::duration<double>(now - last).count());
            last = now;
        };
        const se::engine::detail::GenerationThreads threads(true);
        torch::NoGradGuard ng;
        const auto pixels = lm.images->get(image).unsqueeze(0);
        se::eval::generate(*lm.net, pixels, {lm.chat->prompt(question, se::model::imageTokensOf(lm, image)).ids}, g);
    }
    std::vector<double> sorted = steps;
    std::sort(sorted.begin(), sorted.end());
    const double perToken = sorted.empty() ? 0 : sorted[sorted.size() / 2];
    if (!trace.empty()) { // LibTorch's profiler over one answer of 4 new tokens, and over one score() pass
        {
            torch::autograd::profiler::RecordProfile profile(trace);
            timed(4, 1);
        }
        torch::autograd::profiler::RecordProfile profile(trace + ".score.json");
        a->score(image, question, answer);
    }
    const double streamed = lmWeights * (plan.dtype == "float32" ? 4 : 2); // layers and head, once per token
    // The weights themselves, read as a step reads them, right after decoding (the machine's memory is shared, and
    // its rate moves from minute to minute: the bound is measured beside the step, twice, the better kept).
    double weightsRate = 0;
    if (plan.dtype == "bfloat16" || plan.dtype == "float32")
        for (int r = 0; r < 2; ++r)
            weightsRate = std::max(weightsRate, streamWeights(dir, cores()));
    const double rate = weightsRate > 0 ? weightsRate : stream;
    const double bound = streamed / rate;
    std::printf("reading the language model's weights as a step does, after decoding: %.2f GiB/s\n",
                weightsRate / kGiB);
    std::printf("decode: %.3f s per new token (median of %zu steps, fastest %.3f, slowest %.3f; prompt and first token "
                "%.2f s); bound %.3f s (%.2f GiB of weights streamed at %.2f GiB/s): %.2f x the bound; against the "
                "memory stream (%.2f GiB/s): %.2f x\n",
                perToken, steps.size(), sorted.empty() ? 0 : sorted.front(), sorted.empty() ? 0 : sorted.back(), one,
                bound, streamed / kGiB, rate / kGiB, bound > 0 ? perToken / bound : 0.0, stream / kGiB,
                perToken / (streamed / stream));

    if (!quick)
        for (int b : {1, batch}) {
            std::size_t count = 0;
            timed(newTokens, b); // warm-up
            double s = 0;
            std::size_t total = 0;
            for (int r = 0; r < repeats; ++r) {
                s += timed(newTokens, b, &count);
                total += count;
            }
            std::printf("greedy generation, batch %d, up to %d new tokens: %zu tokens in %.2f s: %.1f new tokens/s "
                        "(%.2f s per batch, prompt processing included)\n",
                        b, newTokens, total, s, double(total) / s, s / repeats);
        }
    return 0;
}
