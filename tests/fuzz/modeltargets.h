// Fuzz targets over the model files a user hands the program (scripts/fuzz.sh; these link LibTorch): a safetensors
// image, a LLaVA config.json, a model.safetensors.index.json. Same contract as targets.h: return, or throw
// std::runtime_error; anything else is a finding.
#pragma once

#include "tests/fuzz/targets.h"

namespace se::fuzz {

int safetensorsFile(const std::uint8_t *data, std::size_t size);
int llavaConfig(const std::uint8_t *data, std::size_t size);
int qwen2VlConfig(const std::uint8_t *data, std::size_t size);
int shardIndex(const std::uint8_t *data, std::size_t size); // beside one small shard holding tensor "w"
const std::vector<Target> &modelTargets();

} // namespace se::fuzz
