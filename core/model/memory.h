// Memory of the devices a model runs on, and the figures a plan is made of: free and used memory of the CPU (the
// kernel's MemAvailable, within the cgroup's limit when the process runs under one) or of a CUDA device, the process's
// resident and peak resident memory, and sizes for people ("13.2 GiB"). Internal to the engine (LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <torch/torch.h>

namespace se::model {

// Memory of a device, 0 where unknown. CUDA: the driver's free and in-use memory of the current device (through the
// CUDA runtime this process has loaded, found with dlsym: no CUDA headers needed). CPU: MemAvailable (less, under a
// cgroup whose limit leaves less), and this process's resident memory.
struct DeviceMemory {
    std::uint64_t free = 0, used = 0;
};
DeviceMemory deviceMemory(const torch::Device &device);
// SAFEERASER_MEMORY_LIMIT ("12G", "512M", bytes): the most CPU memory plans may count on, to leave room for other
// programs (and for tests); 0 when unset or unreadable.
std::uint64_t memoryLimit();

std::uint64_t peakResidentBytes(); // this process's VmHWM (0 where unknown)

// The most memory a device has held for tensors since the last resetPeakMemory(device): on CUDA the caching
// allocator's peak of allocated bytes (what PyTorch's torch.cuda.max_memory_allocated() reports; 0 in a build whose
// LibTorch has no CUDA), on the CPU this process's peak resident memory (VmHWM, which the kernel resets with
// /proc/self/clear_refs). `what` (optional) says which of the two it is.
std::uint64_t peakMemory(const torch::Device &device, std::string *what = nullptr);
void resetPeakMemory(const torch::Device &device);

// "13.2 GiB" (two decimals under one GiB: "0.45 GiB").
std::string gib(std::uint64_t bytes);

} // namespace se::model
