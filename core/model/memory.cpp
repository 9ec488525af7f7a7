#include "core/model/memory.h"

#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <unistd.h>
#ifdef SE_HAVE_CUDA_ALLOCATOR
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace se::model {

namespace {

// What the cgroup (v2) this process runs in still allows, or 0 without a limit.
std::uint64_t cgroupRoom()
{
    std::ifstream self("/proc/self/cgroup");
    std::string line, path;
    while (std::getline(self, line))
        if (line.rfind("0::", 0) == 0)
            path = line.substr(3);
    if (path.empty())
        return 0;
    const std::string dir = "/sys/fs/cgroup" + path;
    std::ifstream maxIn(dir + "/memory.max"), curIn(dir + "/memory.current");
    std::string max;
    std::uint64_t current = 0;
    if (!(maxIn >> max) || max == "max" || !(curIn >> current))
        return 0;
    std::uint64_t limit = 0;
    try {
        limit = std::stoull(max);
    } catch (...) {
        return 0;
    }
    // The cgroup's page cache counts against its limit but is reclaimed first: add its inactive file pages back.
    std::uint64_t reclaimable = 0;
    std::ifstream stat(dir + "/memory.stat");
    std::string key;
    std::uint64_t value = 0;
    while (stat >> key >> value)
        if (key == "inactive_file")
            reclaimable = value;
    const std::uint64_t used = current > reclaimable ? current - reclaimable : 0;
    return limit > used ? limit - used : 1;
}

std::uint64_t statusField(const char *name)
{
    std::ifstream in("/proc/self/status");
    std::string key, unit;
    std::uint64_t kb = 0;
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name, 0) == 0) {
            std::istringstream is(line.substr(std::string(name).size()));
            if (is >> kb)
                return kb * 1024;
        }
    return 0;
}

} // namespace

std::uint64_t memoryLimit()
{
    const char *v = std::getenv("SAFEERASER_MEMORY_LIMIT");
    if (!v || !*v)
        return 0;
    char *end = nullptr;
    const double n = std::strtod(v, &end);
    if (!(n > 0) || end == v)
        return 0;
    const std::string unit(end);
    const double scale = unit.empty() || unit == "B"    ? 1.0
                         : unit == "K" || unit == "KiB" ? 1024.0
                         : unit == "M" || unit == "MiB" ? 1048576.0
                         : unit == "G" || unit == "GiB" ? 1073741824.0
                                                        : 0.0;
    return scale > 0 ? std::uint64_t(n * scale) : 0;
}

DeviceMemory deviceMemory(const torch::Device &device)
{
    DeviceMemory m;
    if (device.is_cuda()) {
        using MemGetInfo = int (*)(std::size_t *, std::size_t *);
        auto fn = reinterpret_cast<MemGetInfo>(dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
        std::size_t free = 0, total = 0;
        if (fn && fn(&free, &total) == 0) {
            m.free = free;
            m.used = total - free;
        }
        return m;
    }
    {
        std::ifstream in("/proc/meminfo");
        std::string key, unit;
        std::uint64_t kb = 0;
        while (in >> key >> kb >> unit)
            if (key == "MemAvailable:") {
                m.free = kb * 1024;
                break;
            }
    }
    const std::uint64_t room = cgroupRoom();
    if (room && (!m.free || room < m.free))
        m.free = room;
    const std::uint64_t limit = memoryLimit();
    if (limit && (!m.free || limit < m.free))
        m.free = limit;
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    if (statm >> size >> resident)
        m.used = resident * std::uint64_t(sysconf(_SC_PAGESIZE));
    return m;
}

std::uint64_t peakResidentBytes()
{
    return statusField("VmHWM:");
}

std::uint64_t peakMemory(const torch::Device &device, std::string *what)
{
    if (device.is_cuda()) {
        if (what)
            *what = "CUDA allocator peak";
#ifdef SE_HAVE_CUDA_ALLOCATOR
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
        return std::uint64_t(stats.allocated_bytes[0].peak); // [0]: the aggregate of the pools, in every version
#else
        return 0;
#endif
    }
    if (what)
        *what = "peak resident memory";
    return peakResidentBytes();
}

void resetPeakMemory(const torch::Device &device)
{
    if (device.is_cuda()) {
#ifdef SE_HAVE_CUDA_ALLOCATOR
        c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#endif
        return;
    }
    std::ofstream("/proc/self/clear_refs") << "5"; // resets VmHWM to the current resident memory (Linux ≥ 4.0)
}

std::string gib(std::uint64_t bytes)
{
    std::ostringstream os;
    os << std::fixed << std::setprecision(bytes < (std::uint64_t(1) << 30) ? 2 : 1) << double(bytes) / double(1 << 30)
       << " GiB";
    return os.str();
}

} // namespace se::model
