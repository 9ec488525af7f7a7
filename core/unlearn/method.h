// The unlearning methods of SPEC §3 as data: one row per method says everything the CLI, the launcher, the run
// configuration, the run service and the engine need to know about it — its name, label and help, the loss terms
// it adds up, whether it needs the frozen reference or retain data, which weights it reads and their defaults. The
// loss of a method's forget side lives in one function beside it (forgetLoss(), core/unlearn/methodlosses.cpp).
// Plain C++, no LibTorch, so the CLI and the UI can name methods and show default weights without the engine.
// Adding a method is one row here and one case there.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace se::unlearn {

enum class Method { GA, GD, KL, PO, NPO, DPO, SimNPO };

// Weights of the terms. What each method adds up (L_PD only with PD on), as its row says:
//   GA     = -forget·NLL(forget)                       + pd·L_PD
//   GD     = -forget·NLL(forget) + retain·NLL(retain)  + pd·L_PD
//   KL     = -forget·NLL(forget) + kl·KL(ref‖θ)        + pd·L_PD
//   PO     =  forget·NLL(forget→refusal) + retain·NLL(retain) + pd·L_PD
//   NPO    =  forget·L_NPO(β)    + retain·NLL(retain)  + pd·L_PD
//   DPO    =  forget·L_DPO(β)    + retain·NLL(retain)  + pd·L_PD
//   SimNPO =  forget·L_SimNPO(β, γ) + retain·NLL(retain) + pd·L_PD
struct LossWeights {
    double forget = 1.0;
    double retain = 0.0;
    double kl = 0.0;
    double pd = 0.0;
    double beta = 0.1;  // NPO, DPO, SimNPO
    double gamma = 0.0; // SimNPO's margin
};

struct MethodInfo {
    Method method;
    const char *name;       // as the CLI and run configurations name it: "ga", …, "simnpo"
    const char *label;      // as tables and the launcher show it: "GA", …, "SimNPO"
    const char *help;       // one line: what it optimises
    const char *forgetTerm; // the name of its forget term among the loss terms (see losses.h)
    double forgetSign;      // -1: the forget term is ascended (GA, GD, KL); +1: descended
    bool retain;            // adds retain·NLL(retain)
    bool kl;                // adds kl·KL(ref‖θ) on retain batches
    bool reference;         // keeps a frozen copy of the model before unlearning
    bool refusals;          // trains towards prompt.json's refusals
    int forgetPasses;       // forward passes of the model per forget example (DPO: preferred and dispreferred)
    std::vector<std::string> weights;     // the weights it reads besides pd: "forget", "retain", "kl", "beta", "gamma"
    LossWeights defaults, defaultsWithPd; // SPEC §3: the official code's weights
};

const std::vector<MethodInfo> &methodTable(); // in the order menus show them
const MethodInfo &methodInfo(Method m);
const char *methodName(Method m);                           // "ga", "gd", "kl", "po", "npo", "dpo", "simnpo"
std::optional<Method> parseMethod(const std::string &name); // case-insensitive; "idk" (the official code) is PO
const std::vector<Method> &allMethods();
std::vector<std::string> methodNames();                // every name, in the table's order
std::string methodNamesText();                         // "ga, gd, kl, po, npo, dpo or simnpo" (for help and errors)
bool needsReference(Method m);                         // KL, NPO, DPO keep a frozen copy of the model
bool needsRefusals(Method m);                          // PO, DPO train towards prompt.json refusals
bool readsWeight(Method m, const std::string &weight); // "pd" is read by every method with PD on
// How a run of this method is shown: "PO+PD", "SimNPO"; a name that is not a method ("vanilla", "imported") in
// capitals.
std::string runLabel(const std::string &method, bool pd);

// The official code's weights (SPEC §3): GA+PD = -L_f + 0.5·L_PD; GD+PD = -L_f + 0.5·L_r + 0.5·L_PD;
// KL+PD = -L_f + KL + L_PD; PO+PD = L_PO + L_PD. NPO, DPO and SimNPO (beyond the paper) weigh retain and PD by 1.
LossWeights defaultWeights(Method m, bool pd);

// Overrides applied on top of the defaults; an unset one keeps its default.
struct WeightOverrides {
    std::optional<double> forget, retain, kl, pd, beta, gamma;
};
LossWeights resolveWeights(Method m, bool pd, const WeightOverrides &o);

} // namespace se::unlearn
