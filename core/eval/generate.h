// Answer generation for the built-in model: batched, greedy or sampled (temperature, top-p, seed), with the
// KV cache or (for checking and benchmarking) by recomputing the whole sequence each token. Prompts are
// left-padded so every row's next token sits in the last column. Sampling draws on the CPU from one
// std::mt19937_64, so a seed gives the same answers on every device and LibTorch version.
#pragma once

#include "core/model/vlm.h"

#include <cstdint>
#include <torch/torch.h>
#include <vector>

namespace se::eval {

struct GenerateOptions {
    int maxNewTokens = 64;
    bool greedy = true;
    double temperature = 1.0;
    double topP = 0.9;
    std::uint64_t seed = 233;
    bool useCache = true;
};

// `images` [B, 3, S, S] on the model's device; `prompts` chat-formatted prompt ids (se::model::chatPrompt).
// Returns the new tokens of each row, up to and without <eos>.
std::vector<std::vector<int>> generate(se::model::Vlm &model, const torch::Tensor &images,
                                       const std::vector<std::vector<int>> &prompts, const GenerateOptions &options);

// Picks the next token from one row of logits (float, CPU): argmax, or top-p sampling at a temperature.
int pickToken(const float *logits, int vocab, const GenerateOptions &options, std::uint64_t &rngState);

} // namespace se::eval
