// Reading and writing safetensors files with the project's own code: an 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw
// little-endian tensor bytes. Checkpoints and packed image files use it; nothing is ever pickled.
// Every malformed file (truncated, bad header, overlapping or out-of-range offsets, unknown dtype) is an
// error naming the file and the reason.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

namespace se::model {

struct SafeTensors {
    std::vector<std::pair<std::string, torch::Tensor>> tensors; // file order
    std::map<std::string, std::string> metadata;

    const torch::Tensor *find(const std::string &name) const;
};

// Tensors are written from CPU copies, contiguous, in the given order. Writes to `file`.tmp and renames, so
// a crash never leaves a half-written file under the final name. Throws std::runtime_error on failure.
void writeSafeTensors(const std::string &file, const SafeTensors &content);
SafeTensors readSafeTensors(const std::string &file);
// Same as readSafeTensors on bytes in memory; `origin` names them in errors.
SafeTensors parseSafeTensors(const std::string &bytes, const std::string &origin);

} // namespace se::model
