// The forget side of each method's loss, one function per method beside its row in the method table (method.h).
// The engine hands over its forget batch as answer logits computed on demand — under the model or under the
// frozen reference, for the forget targets or for the same questions answered with prompt.json refusals — so a
// method pays only for the passes it uses.
#pragma once

#include "core/unlearn/losses.h"

#include <functional>

namespace se::unlearn {

struct ForgetBatch {
    std::function<AnswerLogits()> policy;           // the forget targets, under the model being unlearned
    std::function<AnswerLogits()> reference;        // the forget targets, under the frozen reference
    std::function<AnswerLogits()> refusalPolicy;    // the questions answered with refusals, under the model
    std::function<AnswerLogits()> refusalReference; // the same, under the frozen reference
};

// The method's forget term (named by its row's forgetTerm), before its weight and sign.
torch::Tensor forgetLoss(Method m, const LossWeights &w, const ForgetBatch &b);

} // namespace se::unlearn
