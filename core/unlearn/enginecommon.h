// What the engine's job files (threads, vanilla, unlearnrun, assistant, quickeval, memoryplan) share: the device and
// thread set-up, the benchmark and option checks, and LibTorch's errors made plain. Internal to se_engine.
#pragma once

#include "core/data/benchmark.h"
#include "core/model/imagestore.h"
#include "core/model/registry.h"
#include "core/model/tokenizer.h"
#include "core/unlearn/batch.h"
#include "core/unlearn/engine.h"

#include <stdexcept>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::engine {

struct Assistant::Impl {
    se::model::LoadedModel model;
    torch::Device device{torch::kCPU};
    se::model::ModelFacts facts;
    int dtypeBytes = 4;
    std::uint64_t room = 0;  // the free memory the load planned for beside the weights (0: unknown)
    bool largeModel = false; // counted in detail::LargeModelThreads
    ~Impl();
};

namespace detail {

// threads.cpp: the thread set-up (configureThreads(0) unless the caller chose), devices by name, the run's device line.
void ensureThreads();
// While one lives, OpenBLAS runs generationThreads() threads (on the CPU; nothing on a GPU or another BLAS): token
// by token generation multiplies small matrices, between which wide OpenBLAS pools spin in sched_yield.
class GenerationThreads
{
public:
    explicit GenerationThreads(bool cpu);
    ~GenerationThreads();
    GenerationThreads(const GenerationThreads &) = delete;
    GenerationThreads &operator=(const GenerationThreads &) = delete;

private:
    bool m_on;
};
// A model of at least kLargeModelBytes of weights on the CPU: while one is loaded, LibTorch's intra-op pool (which
// runs bfloat16 products, through oneDNN) and generation use every core. For the small models the one-thread
// rules above were measured on; a 7B model's products are large enough to keep every core busy (a one-token bfloat16
// product over 4096×11008 weights: 12.5 GB/s of weights on one core, 19.2 on two), and so are a 120 M-parameter
// model's (tests/qwen2vl/bench.sh, 0.46 GiB of float32: 0.037 s per new token on one core, 0.024 on two).
constexpr std::uint64_t kLargeModelBytes = 1ull << 28;
void largeModelLoaded(bool on);
bool largeModelLoaded();
torch::Device pickDevice(const std::string &name);
std::string deviceLabel(const torch::Device &d, bool bf16);

// enginecommon.cpp
void checkTrainable(const se::data::Benchmark &b, const std::string &dir);
se::data::Benchmark loadBenchmark(const std::string &dir); // checked trainable
se::model::Tokenizer buildTokenizer(const se::data::Benchmark &b);
std::vector<se::unlearn::Example> toExamples(const std::vector<se::data::Sample> &set, const se::model::Tokenizer &tok,
                                             const se::model::ModelCard &card);
void warmImages(se::model::ImageStore &store, const std::vector<se::unlearn::Example> &set);
int stepsFor(const TrainOptions &t, size_t setSize);
void checkOptions(const TrainOptions &t);
std::string fmt(double v);

// LibTorch's errors carry a C++ backtrace in what(); users get the message alone.
template <typename F> auto plainErrors(F &&f) -> decltype(f())
{
    try {
        return f();
    } catch (const c10::Error &e) {
        throw std::runtime_error(e.what_without_backtrace());
    }
}

} // namespace detail
} // namespace se::engine
