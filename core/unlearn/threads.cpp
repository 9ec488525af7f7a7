// The engine's threads and devices: OpenBLAS and LibTorch pools set once, glibc's allocator tuned for large
// activations, devices picked by name.
#include "core/unlearn/dataparallel.h"
#include "core/unlearn/enginecommon.h"
#include "core/model/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <dlfcn.h>
#include <malloc.h>
#include <mutex>
#include <thread>

namespace se::engine {

namespace {
std::once_flag g_threadsOnce;
bool g_threadsSet = false;
std::string g_threadsReport = "default threads";
using SetFn = void (*)(int);
SetFn g_setBlas = nullptr;         // openblas_set_num_threads, when OpenBLAS is the BLAS
std::atomic<int> g_blasThreads{0}; // what configureThreads set
std::atomic<int> g_generationThreads{1};
std::atomic<int> g_generating{0}; // generation scopes open (the probe may generate while a run does)
std::atomic<bool> g_generationThreadsSet{false};
std::atomic<int> g_largeModels{0}; // large models loaded on the CPU
std::mutex g_largeMutex;
int coreCount()
{
    return std::max(1u, std::thread::hardware_concurrency());
}
} // namespace

// While a large model is loaded: LibTorch's pool on every core (bfloat16 products run there, through oneDNN and the
// engine's own kernels), and OpenBLAS on one thread — what it still runs is the attention's small products, and its
// second thread spinning after them took a core from the next product (a 7B model's 649-token pass: 29 s with two
// OpenBLAS threads, 23 s with one).
void detail::largeModelLoaded(bool on)
{
    std::lock_guard<std::mutex> lock(g_largeMutex);
    ensureThreads();
    if (!(on ? g_largeModels++ == 0 : --g_largeModels == 0))
        return;
    const int all = std::max<int>(1, g_blasThreads > 0 ? g_blasThreads.load() : coreCount());
    torch::set_num_threads(on ? all : (g_setBlas ? 1 : all));
    if (g_setBlas && g_generating == 0)
        g_setBlas(on ? 1 : all);
}

bool detail::largeModelLoaded()
{
    return g_largeModels > 0;
}

void setGenerationThreads(int n)
{
    g_generationThreads = std::max(1, n);
    g_generationThreadsSet = true;
}

int generationThreads()
{
    return g_generationThreads;
}

detail::GenerationThreads::GenerationThreads(bool cpu) : m_on(cpu && g_setBlas)
{
    if (!m_on)
        return;
    ensureThreads();
    ++g_generating;
    // OpenBLAS keeps the one-thread rule; a large model's linear layers (oneDNN's sgemm for float32; bfloat16 runs on
    // LibTorch's pool, set when it loaded) use every core, unless --generation-threads says otherwise.
    const int one = std::min<int>(g_generationThreads, std::max<int>(1, g_blasThreads));
    g_setBlas(one);
    se::model::setGemmThreads(g_largeModels > 0 && !g_generationThreadsSet ? std::max<int>(1, g_blasThreads) : one);
}

detail::GenerationThreads::~GenerationThreads()
{
    if (m_on && --g_generating == 0) {
        g_setBlas(g_largeModels > 0 ? 1 : std::max<int>(1, g_blasThreads));
        se::model::setGemmThreads(std::max<int>(1, g_blasThreads));
    }
}

void detail::ensureThreads()
{
    std::call_once(g_threadsOnce, [] {
        if (!g_threadsSet)
            configureThreads(0);
    });
}

namespace {
// glibc's allocator returns every block over 128 kB to the kernel with munmap as soon as it is freed (and maps it
// afresh on the next request): a forward pass allocating and freeing activations, attention scores and KV-cache
// copies of megabytes each then spends as much time in page faults as in arithmetic. Keeping blocks up to 32 MB in
// the heap, and 1 GB of freed memory before trimming, was measured (bench_engine_llava, a 30 M-parameter LLaVA,
// 2 cores) to take batched greedy generation from 33-34 to 47-50 new tokens/s and system time from 24 s to 11 s,
// for 6% more peak memory. A user's own MALLOC_* settings win.
void configureAllocator()
{
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") ||
        std::getenv("MALLOC_TOP_PAD_"))
        return;
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
}
} // namespace

// Which of OpenBLAS's kernel sets runs ("Haswell kernels"): it picks them by CPU, or as OPENBLAS_CORETYPE says, and
// the sums (so a run's exact numbers) depend on it.
static std::string blasKernels()
{
    using CoreName = char *(*)();
    auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    const char *name = fn ? fn() : nullptr;
    return name ? std::string(name) + " kernels" : std::string();
}

std::string configureThreads(int threads)
{
    g_threadsSet = true;
    static std::once_flag allocatorOnce;
    std::call_once(allocatorOnce, configureAllocator);
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    const int n = threads > 0 ? threads : cores;
    // Measured on the 2-core development machine (tests/bench/bench_engine.cpp, builtin-tiny, batch 32): the
    // step is matrix products, which OpenBLAS (Debian's libblas.so.3) parallelises well on its own pool, while
    // LibTorch's OpenMP threads spin and collapse as soon as anything else wants a core (2.5-3x slower under
    // a parallel build), and both pools wide at once oversubscribe (about 2-3x slower). So: all cores to
    // OpenBLAS, one LibTorch intra-op thread.
    auto setBlas = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (setBlas) {
        g_setBlas = setBlas;
        g_blasThreads = n;
        setBlas(n);
        se::model::setGemmThreads(n);
        torch::set_num_threads(1);
        const int gen = std::min<int>(n, g_generationThreads);
        const std::string kernels = blasKernels();
        g_threadsReport = "OpenBLAS " + std::to_string(n) + " thread" + (n == 1 ? "" : "s") +
                          (gen < n ? " (" + std::to_string(gen) + " while generating)" : std::string()) +
                          (kernels.empty() ? std::string() : ", " + kernels) + ", LibTorch 1 intra-op thread" +
                          (se::model::oneDnnGemm() ? ", linear layers on " + se::model::gemmBackend() : std::string());
        return g_threadsReport;
    }
    // Another BLAS (MKL in a pip LibTorch, say) runs on LibTorch's threads.
    torch::set_num_threads(n);
    se::model::setGemmThreads(n);
    g_threadsReport = "LibTorch " + std::to_string(n) + " thread" + (n == 1 ? "" : "s") + " (no OpenBLAS found)";
    return g_threadsReport;
}

std::vector<std::string> availableDevices()
{
    std::vector<std::string> out{"auto", "cpu"};
    if (torch::cuda::is_available())
        for (int i = 0; i < int(torch::cuda::device_count()); ++i)
            out.push_back("cuda:" + std::to_string(i));
    return out;
}

torch::Device detail::pickDevice(const std::string &name)
{
    // A data-parallel rank takes the GPU of its local rank (torchrun's LOCAL_RANK, Slurm's SLURM_LOCALID) where
    // "auto" or "cuda" leaves the choice open: NCCL wants one GPU per rank.
    auto gpu = [] {
        const auto *dp = se::unlearn::DataParallel::current();
        const int count = int(torch::cuda::device_count());
        return torch::Device(torch::kCUDA,
                             static_cast<c10::DeviceIndex>(dp && count > 0 ? dp->rendezvous().localRank % count : 0));
    };
    if (name.empty() || name == "auto")
        return torch::cuda::is_available() ? gpu() : torch::Device(torch::kCPU);
    if (name == "cpu")
        return torch::kCPU;
    if (name.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            throw std::runtime_error("device '" + name + "' asked for, but this LibTorch has no usable CUDA");
        return name == "cuda" ? gpu() : torch::Device(name);
    }
    throw std::runtime_error("unknown device '" + name + "' (auto, cpu, cuda, cuda:N)");
}

std::string detail::deviceLabel(const torch::Device &d, bool bf16)
{
    if (d.is_cuda())
        return d.str() + (bf16 ? " bf16 autocast" : " float32");
    return "cpu float32 (" + g_threadsReport + ")";
}

} // namespace se::engine
