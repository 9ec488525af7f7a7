// The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
// `model.safetensors.index.json`, each memory-mapped (never read whole: a 7B checkpoint is 14 GB). A pickle
// checkpoint (`pytorch_model.bin`) is refused with a message saying how to convert it — nothing from a file is
// ever executed. Errors name the file and the reason: a missing shard, a tensor missing or of the wrong shape
// (name, expected, got), a truncated file, an unsupported dtype.
#pragma once

#include "core/model/safetensors.h"
#include "core/model/smallfile.h"

#include <map>
#include <memory>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::model {

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
    std::string fileOf(const std::string &name) const;
    std::uint64_t totalBytes() const;

private:
    std::string m_folder;
    std::vector<std::unique_ptr<MappedSafeTensors>> m_files;
    std::map<std::string, size_t> m_where; // tensor name → index into m_files
};

// "[4096, 11008]"
std::string shapeString(const std::vector<int64_t> &shape);

} // namespace se::model
