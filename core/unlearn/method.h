// The unlearning methods of SPEC §3 and the weights of their loss terms. Plain C++, no LibTorch, so the CLI and
// the UI can name methods and show default weights without the engine.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace se::unlearn {

enum class Method { GA, GD, KL, PO, NPO, DPO };

const char *methodName(Method m);                           // "ga", "gd", "kl", "po", "npo", "dpo"
std::optional<Method> parseMethod(const std::string &name); // case-insensitive
const std::vector<Method> &allMethods();
bool needsReference(Method m); // KL, NPO, DPO keep a frozen copy of the model
bool needsRefusals(Method m);  // PO, DPO train towards prompt.json refusals

// Weights of the terms. What each method adds up (L_PD only with PD on):
//   GA  = -forget·NLL(forget)                       + pd·L_PD
//   GD  = -forget·NLL(forget) + retain·NLL(retain)  + pd·L_PD
//   KL  = -forget·NLL(forget) + kl·KL(ref‖θ)        + pd·L_PD
//   PO  =  forget·NLL(forget→refusal) + retain·NLL(retain) + pd·L_PD
//   NPO =  forget·L_NPO(β)    + retain·NLL(retain)  + pd·L_PD
//   DPO =  forget·L_DPO(β)    + retain·NLL(retain)  + pd·L_PD
struct LossWeights {
    double forget = 1.0;
    double retain = 0.0;
    double kl = 0.0;
    double pd = 0.0;
    double beta = 0.1; // NPO and DPO
};

// The official code's weights (SPEC §3): GA+PD = -L_f + 0.5·L_PD; GD+PD = -L_f + 0.5·L_r + 0.5·L_PD;
// KL+PD = -L_f + KL + L_PD; PO+PD = L_PO + L_PD. NPO and DPO (beyond the paper) weigh retain and PD by 1.
LossWeights defaultWeights(Method m, bool pd);

// Overrides applied on top of the defaults; an unset one keeps its default.
struct WeightOverrides {
    std::optional<double> forget, retain, kl, pd, beta;
};
LossWeights resolveWeights(Method m, bool pd, const WeightOverrides &o);

} // namespace se::unlearn
