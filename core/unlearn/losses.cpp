#include "core/unlearn/losses.h"

#include <stdexcept>

namespace se::unlearn {

namespace F = torch::nn::functional;

namespace {
// logits [B, T, V] and labels [B, T] → log-probs [B, T, V] in float32 (bf16 logits lose too much here).
torch::Tensor logProbs(const torch::Tensor &logits)
{
    return torch::log_softmax(logits.to(torch::kFloat), -1);
}
} // namespace

namespace {
torch::Tensor answerIndex(const torch::Tensor &labels)
{
    return (labels.reshape({-1}) != kIgnore).nonzero().squeeze(1);
}
} // namespace

AnswerLogits answerLogits(const torch::Tensor &logits, const torch::Tensor &labels)
{
    const auto idx = answerIndex(labels);
    AnswerLogits a;
    a.logits = logits.reshape({-1, logits.size(-1)}).index_select(0, idx);
    a.targets = labels.reshape({-1}).index_select(0, idx);
    a.rows = idx.div(labels.size(1), "floor");
    a.batch = labels.size(0);
    return a;
}

AnswerLogits answerLogits(se::model::MultimodalLm &model, const torch::Tensor &ids, const torch::Tensor &images,
                          const torch::Tensor &labels)
{
    // The first supervised position of the batch: nothing before it needs an output.
    const auto supervised = (labels != kIgnore).any(0);
    const auto firstT = supervised.any().item<bool>() ? supervised.to(torch::kLong).argmax().item<int64_t>() : 0;
    const int64_t T = labels.size(1);
    auto h = model.hidden(ids, images, {}, {}, nullptr, firstT); // [B, T - firstT, d]
    auto tail = labels.slice(1, firstT);
    const auto idx = (tail.reshape({-1}) != kIgnore).nonzero().squeeze(1);
    AnswerLogits a;
    a.logits = model.headLogits(h.reshape({-1, h.size(-1)}).index_select(0, idx));
    a.targets = tail.reshape({-1}).index_select(0, idx);
    a.rows = idx.div(T - firstT, "floor");
    a.batch = labels.size(0);
    return a;
}

torch::Tensor answerNll(const AnswerLogits &a)
{
    if (a.targets.numel() == 0)
        return a.logits.sum() * 0.0; // no answer token: nothing to learn, but keep the graph
    return F::cross_entropy(a.logits.to(torch::kFloat), a.targets,
                            F::CrossEntropyFuncOptions().reduction(torch::kMean));
}

torch::Tensor sequenceLogProbs(const AnswerLogits &a)
{
    auto tok = logProbs(a.logits).gather(-1, a.targets.unsqueeze(-1)).squeeze(-1);
    return torch::zeros({a.batch}, tok.options()).index_add(0, a.rows, tok);
}

torch::Tensor answerKl(const AnswerLogits &ref, const AnswerLogits &a)
{
    auto lpRef = logProbs(ref.logits), lp = logProbs(a.logits);
    auto perPos = (lpRef.exp() * (lpRef - lp)).sum(-1);
    return perPos.numel() ? perPos.mean() : perPos.sum();
}

torch::Tensor answerNll(const torch::Tensor &logits, const torch::Tensor &labels)
{
    return answerNll(answerLogits(logits, labels));
}

torch::Tensor sequenceLogProbs(const torch::Tensor &logits, const torch::Tensor &labels)
{
    return sequenceLogProbs(answerLogits(logits, labels));
}

torch::Tensor answerKl(const torch::Tensor &refLogits, const torch::Tensor &logits, const torch::Tensor &labels)
{
    return answerKl(answerLogits(refLogits, labels), answerLogits(logits, labels));
}

torch::Tensor npoLoss(const torch::Tensor &logpTheta, const torch::Tensor &logpRef, double beta)
{
    return -(2.0 / beta) * F::logsigmoid(-beta * (logpTheta - logpRef)).mean();
}

torch::Tensor dpoLoss(const torch::Tensor &logpThetaWin, const torch::Tensor &logpRefWin,
                      const torch::Tensor &logpThetaLose, const torch::Tensor &logpRefLose, double beta)
{
    return -F::logsigmoid(beta * ((logpThetaWin - logpRefWin) - (logpThetaLose - logpRefLose))).mean();
}

torch::Tensor simnpoLoss(const AnswerLogits &a, double beta, double gamma)
{
    // Per sequence: the mean log-probability of its answer tokens (sum / |y|).
    auto tok = logProbs(a.logits).gather(-1, a.targets.unsqueeze(-1)).squeeze(-1);
    auto sum = torch::zeros({a.batch}, tok.options()).index_add(0, a.rows, tok);
    auto len = torch::zeros({a.batch}, tok.options()).index_add(0, a.rows, torch::ones_like(tok));
    auto present = len > 0; // a sequence whose answer was cut away has no term
    auto meanLp = sum.index({present}) / len.index({present});
    return -(2.0 / beta) * F::logsigmoid(-beta * meanLp - gamma).mean();
}

torch::Tensor combineLosses(Method m, const LossWeights &w, bool pd, const LossTerms &terms)
{
    auto term = [&](const char *name) -> torch::Tensor {
        for (const auto &t : terms)
            if (t.first == name)
                return t.second;
        throw std::runtime_error(std::string("loss term '") + name + "' is missing for method " + methodName(m));
    };
    // The method's row says what it adds up (method.h).
    const MethodInfo &info = methodInfo(m);
    torch::Tensor total = info.forgetSign < 0 ? -w.forget * term(info.forgetTerm) : w.forget * term(info.forgetTerm);
    if (info.retain)
        total = total + w.retain * term("retain_nll");
    if (info.kl)
        total = total + w.kl * term("kl");
    if (pd)
        total = total + w.pd * term("pd_nll");
    return total;
}

} // namespace se::unlearn
