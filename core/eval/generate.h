// Answer generation for any model of the seam (mmmodel.h): batched, greedy or sampled (temperature, top-p, seed), with
// the KV cache or (for checking and benchmarking) by recomputing the whole sequence each token. Prompts are left-padded
// so every row's next token sits in the last column. Sampling draws on the CPU from one std::mt19937_64, so a seed
// gives the same answers on every device and LibTorch version.
#pragma once

#include "core/util/defaults.h"
#include "core/model/mmmodel.h"
#include "core/model/tokenizer.h"
#include "core/model/vlm.h"

#include <cstdint>
#include <functional>
#include <torch/torch.h>
#include <vector>

namespace se::eval {

struct GenerateOptions {
    int maxNewTokens = 64;
    bool greedy = true;
    double temperature = 1.0;
    double topP = 0.9;
    std::uint64_t seed = se::kDefaultSeed;
    bool useCache = true;
    int eosId = se::model::Tokenizer::Eos; // the model's end of sequence (ChatFormat::eosId)
    int alsoStopsAt = -1;                  // a second one (ChatFormat::alsoStopsAt; -1: none)
    int padId = se::model::Tokenizer::Pad; // the id left padding uses (ChatFormat::padId)
    // Called after each step's tokens are chosen (0: the prompt's pass), for timing (bench_engine_llava).
    std::function<void(int step)> onStep;
};

// `images` [B, 3, S, S] on the model's device; `prompts` chat-formatted prompt ids (se::model::chatPrompt).
// Returns the new tokens of each row, up to and without <eos>.
std::vector<std::vector<int>> generate(se::model::MultimodalLm &model, const torch::Tensor &images,
                                       const std::vector<std::vector<int>> &prompts, const GenerateOptions &options);
inline std::vector<std::vector<int>> generate(se::model::Vlm &model, const torch::Tensor &images,
                                              const std::vector<std::vector<int>> &prompts,
                                              const GenerateOptions &options)
{
    return generate(*model, images, prompts, options);
}

// The log-probability of every answer token (ids[answerStart…], the closing end-of-sequence included) given
// everything before it, for one (image, prompt + answer) sequence: `pixels` [1, 3, H, W] on the model's device.
std::vector<double> answerLogProbs(se::model::MultimodalLm &model, const torch::Tensor &pixels,
                                   const std::vector<int> &ids, int answerStart);

// Picks the next token from one row of logits (float, CPU): argmax, or top-p sampling at a temperature.
int pickToken(const float *logits, int vocab, const GenerateOptions &options, std::uint64_t &rngState);

} // namespace se::eval
