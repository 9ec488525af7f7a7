// The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
// `model.safetensors.index.json`, each memory-mapped (never read whole: a 7B checkpoint is 14 GB). A pickle
// checkpoint (`pytorch_model.bin`) is refused with a message saying how to convert it — nothing from a file is
// ever executed. Errors name the file and the reason: a missing shard, a tensor missing or of the wrong shape
// (name, expected, got), a truncated file, an unsupported dtype.
#pragma once

#include "core/model/safetensors.h"
#include "core/model/smallfile.h"

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::model {

// Called about ten times a second while weights load, on the loading thread: bytes done and in all. Returning
// false stops the load, which then throws LoadCancelled.
using LoadProgressFn = std::function<bool(std::uint64_t done, std::uint64_t total)>;
struct LoadCancelled : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What HfWeights::loadInto did: how many tensors share the file's bytes, how many were converted or copied.
struct LoadReport {
    int shared = 0, converted = 0, copied = 0;
    std::uint64_t bytes = 0; // read from the files
    double seconds = 0;
};

class HfWeights
{
public:
    explicit HfWeights(const std::string &folder);

    const std::string &folder() const { return m_folder; }
    bool has(const std::string &name) const { return m_where.count(name) != 0; }
    std::vector<std::string> names() const;
    const TensorEntry &entry(const std::string &name) const; // throws naming the tensor when absent
    // The tensor `name`, checked against `shape`, converted to `dtype` on `device` (a copy). Float dtypes only
    // (F32, F16, BF16); NaN or infinite values are refused.
    torch::Tensor load(const std::string &name, const std::vector<int64_t> &shape, torch::ScalarType dtype,
                       const torch::Device &device) const;
    // Copies the tensor `name` into `dst` (same checks; shape from dst).
    void loadInto(const std::string &name, torch::Tensor &dst) const;

    // One tensor of the files going into one parameter of a model.
    struct Wanted {
        std::string name;       // in the file
        torch::Tensor param;    // of the shape and dtype the model runs in (on the CPU, its memory never touched)
        bool ownMemory = false; // it will change (it trains, an adapter folds into it): never the file's bytes
    };
    // Puts the tensors into the parameters (set_data), on `device`: where the file holds a parameter in its dtype
    // and `device` is the CPU, the parameter *is* the mapped bytes (no copy; the mapping lives as long as the
    // tensor); the others are converted or moved one tensor at a time, in parallel over tensors, and the file's pages
    // of each released once it is converted, so the resident memory of a load stays near the weights' bytes. Every
    // tensor is checked first (present, float dtype, shape) and its values read once, in parallel on `threads`
    // threads (0: every core) with no temporary: NaN or infinity is an error naming the file and the tensor. On an
    // error or a cancel no parameter has changed.
    LoadReport loadInto(std::vector<Wanted> wanted, const torch::Device &device, const LoadProgressFn &progress = {},
                        int threads = 0) const;
    std::string fileOf(const std::string &name) const;
    // The tensor as stored, sharing the mapping (no copy; the tensor keeps the mapping alive).
    torch::Tensor mapped(const std::string &name) const;
    std::uint64_t totalBytes() const;

private:
    std::string m_folder;
    std::vector<std::shared_ptr<MappedSafeTensors>> m_files;
    std::map<std::string, size_t> m_where; // tensor name → index into m_files
};

// "[4096, 11008]"
std::string shapeString(const std::vector<int64_t> &shape);

} // namespace se::model
