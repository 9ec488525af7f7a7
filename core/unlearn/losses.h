// The loss terms of SPEC §3 on the model's logits, and their weighted sum per method. Every term sees only
// answer tokens: `labels` holds the next token at each position whose next token belongs to the answer
// (answer words and <eos>) and kIgnore elsewhere (image, prompt, padding).
#pragma once

#include "core/model/vlm.h"
#include "core/unlearn/method.h"

#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

namespace se::unlearn {

constexpr int64_t kIgnore = -100;

// The logits of the answer positions only, flattened: logits [N, V], the target token of each [N], its row in
// the batch [N]. Training computes the output head on these positions alone (the image and prompt positions,
// most of a sequence, need no logits), which is what the engine's loss functions take.
struct AnswerLogits {
    torch::Tensor logits, targets, rows;
    int64_t batch = 0;
};
AnswerLogits answerLogits(const torch::Tensor &logits, const torch::Tensor &labels); // from full [B, T, V]
AnswerLogits answerLogits(se::model::MultimodalLm &model, const torch::Tensor &ids, const torch::Tensor &images,
                          const torch::Tensor &labels);
inline AnswerLogits answerLogits(se::model::Vlm &model, const torch::Tensor &ids, const torch::Tensor &images,
                                 const torch::Tensor &labels)
{
    return answerLogits(*model, ids, images, labels);
}

torch::Tensor answerNll(const AnswerLogits &a);
torch::Tensor sequenceLogProbs(const AnswerLogits &a);
torch::Tensor answerKl(const AnswerLogits &ref, const AnswerLogits &a); // same batch and labels

// Cross-entropy averaged over every answer token of the batch (as Hugging Face's causal-LM loss).
torch::Tensor answerNll(const torch::Tensor &logits, const torch::Tensor &labels);
// Sum of log π(answer token) per sequence: [B]. NPO and DPO compare these between policy and reference.
torch::Tensor sequenceLogProbs(const torch::Tensor &logits, const torch::Tensor &labels);
// KL(p_ref ‖ p_θ) of the next-token distributions, averaged over the answer positions of the batch.
torch::Tensor answerKl(const torch::Tensor &refLogits, const torch::Tensor &logits, const torch::Tensor &labels);
// -(2/β)·mean(log σ(-β·(logπθ − logπref)))
torch::Tensor npoLoss(const torch::Tensor &logpTheta, const torch::Tensor &logpRef, double beta);
// -mean(log σ(β·[(logπθ(w) − logπref(w)) − (logπθ(l) − logπref(l))])), w preferred, l dispreferred
torch::Tensor dpoLoss(const torch::Tensor &logpThetaWin, const torch::Tensor &logpRefWin,
                      const torch::Tensor &logpThetaLose, const torch::Tensor &logpRefLose, double beta);

// SimNPO (Fan et al., 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
// Unlearning"): -(2/β)·mean(log σ(-(β/|y|)·log πθ(y|x) − γ)), |y| the answer's tokens — NPO without the reference,
// length-normalised, with a margin γ.
torch::Tensor simnpoLoss(const AnswerLogits &a, double beta, double gamma);

// The terms a method computed, by name: "forget_nll" (GA/GD/KL: NLL of the forget targets), "refusal_nll"
// (PO), "npo", "dpo", "simnpo", "retain_nll", "kl", "pd_nll". The total is the method's weighted sum (see method.h);
// a term the method needs but that is missing is an error.
using LossTerms = std::vector<std::pair<std::string, torch::Tensor>>;
torch::Tensor combineLosses(Method m, const LossWeights &w, bool pd, const LossTerms &terms);

} // namespace se::unlearn
