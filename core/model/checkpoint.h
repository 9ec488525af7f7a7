// Checkpoints of the built-in model: one safetensors file holding the weights (float32) with the model card,
// the tokenizer and free-form provenance (who trained it, how) in __metadata__, so a checkpoint needs
// nothing beside it. Loading checks everything and names the file and the reason on any mismatch.
#pragma once

#include "core/model/modelcard.h"
#include "core/model/tokenizer.h"
#include "core/model/vlm.h"

#include <map>
#include <string>

namespace se::model {

struct Checkpoint {
    ModelCard card;
    Tokenizer tokenizer;
    Vlm model{nullptr};
    std::map<std::string, std::string> info; // provenance metadata (everything but card and tokenizer)
};

// Saves the weights with any LoRA adapters folded in (the model itself is unchanged). `info` keys must not be the
// reserved ones.
void saveCheckpoint(const std::string &file, const Checkpoint &ckpt);
Checkpoint loadCheckpoint(const std::string &file, const torch::Device &device = torch::kCPU);

} // namespace se::model
