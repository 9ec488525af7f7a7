#include "core/unlearn/methodlosses.h"

#include <stdexcept>
#include <string>

namespace se::unlearn {
namespace {

// GA, GD, KL: the NLL of the forget targets (ascended: the row's sign is -1).
torch::Tensor forgetNll(const LossWeights &, const ForgetBatch &b)
{
    return answerNll(b.policy());
}

// PO: the NLL of refusals to the forget questions.
torch::Tensor refusalNll(const LossWeights &, const ForgetBatch &b)
{
    return answerNll(b.refusalPolicy());
}

torch::Tensor npo(const LossWeights &w, const ForgetBatch &b)
{
    auto lp = sequenceLogProbs(b.policy());
    auto lpRef = sequenceLogProbs(b.reference());
    return npoLoss(lp, lpRef, w.beta);
}

torch::Tensor dpo(const LossWeights &w, const ForgetBatch &b)
{
    // In this order, which fixes the random draws a seed gives: the refusal batch is drawn before the forget batch is
    // formed, and the passes run model first, then reference.
    auto lpWin = sequenceLogProbs(b.refusalPolicy());
    auto lpLose = sequenceLogProbs(b.policy());
    auto refWin = sequenceLogProbs(b.refusalReference());
    auto refLose = sequenceLogProbs(b.reference());
    return dpoLoss(lpWin, refWin, lpLose, refLose, w.beta);
}

torch::Tensor simnpo(const LossWeights &w, const ForgetBatch &b)
{
    return simnpoLoss(b.policy(), w.beta, w.gamma);
}

} // namespace

torch::Tensor forgetLoss(Method m, const LossWeights &w, const ForgetBatch &b)
{
    switch (m) {
    case Method::GA:
    case Method::GD:
    case Method::KL:
        return forgetNll(w, b);
    case Method::PO:
        return refusalNll(w, b);
    case Method::NPO:
        return npo(w, b);
    case Method::DPO:
        return dpo(w, b);
    case Method::SimNPO:
        return simnpo(w, b);
    }
    throw std::logic_error(std::string("no forget loss for method ") + methodName(m));
}

} // namespace se::unlearn
