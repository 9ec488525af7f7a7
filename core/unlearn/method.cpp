#include "core/unlearn/method.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace se::unlearn {

namespace {
LossWeights weights(double forget, double retain, double kl, double pd, double beta = 0.1, double gamma = 0.0)
{
    LossWeights w;
    w.forget = forget;
    w.retain = retain;
    w.kl = kl;
    w.pd = pd;
    w.beta = beta;
    w.gamma = gamma;
    return w;
}
} // namespace

const std::vector<MethodInfo> &methodTable()
{
    // clang-format off
    static const std::vector<MethodInfo> table = {
        {Method::GA, "ga", "GA", "gradient ascent on the forget targets",
         "forget_nll", -1, false, false, false, false, 1, {"forget"},
         weights(1, 0, 0, 0), weights(1, 0, 0, 0.5)},
        {Method::GD, "gd", "GD", "gradient difference: ascent on forget, descent on retain",
         "forget_nll", -1, true, false, false, false, 1, {"forget", "retain"},
         weights(1, 1, 0, 0), weights(1, 0.5, 0, 0.5)},
        {Method::KL, "kl", "KL", "ascent on forget, KL to the frozen model on retain",
         "forget_nll", -1, false, true, true, false, 1, {"forget", "kl"},
         weights(1, 0, 1, 0), weights(1, 0, 1, 1)},
        {Method::PO, "po", "PO", "preference optimisation: forget questions answered with refusals, plus retain",
         "refusal_nll", 1, true, false, false, true, 1, {"forget", "retain"},
         weights(1, 1, 0, 0), weights(1, 1, 0, 1)},
        {Method::NPO, "npo", "NPO", "negative preference optimisation against the frozen model (β), plus retain",
         "npo", 1, true, false, true, false, 1, {"forget", "retain", "beta"},
         weights(1, 1, 0, 0), weights(1, 1, 0, 1)},
        {Method::DPO, "dpo", "DPO", "refusal preferred over the forget target, against the frozen model (β), "
                                    "plus retain",
         "dpo", 1, true, false, true, true, 2, {"forget", "retain", "beta"},
         weights(1, 1, 0, 0), weights(1, 1, 0, 1)},
        {Method::SimNPO, "simnpo", "SimNPO", "NPO without a reference model, length-normalised, with margin γ "
                                             "(β, γ), plus retain",
         "simnpo", 1, true, false, false, false, 1, {"forget", "retain", "beta", "gamma"},
         weights(1, 1, 0, 0, 2.5, 0), weights(1, 1, 0, 1, 2.5, 0)},
    };
    // clang-format on
    return table;
}

const MethodInfo &methodInfo(Method m)
{
    for (const auto &i : methodTable())
        if (i.method == m)
            return i;
    throw std::logic_error("method without a row in the method table");
}

const char *methodName(Method m)
{
    return methodInfo(m).name;
}

const std::vector<Method> &allMethods()
{
    static const std::vector<Method> all = [] {
        std::vector<Method> v;
        for (const auto &i : methodTable())
            v.push_back(i.method);
        return v;
    }();
    return all;
}

std::vector<std::string> methodNames()
{
    std::vector<std::string> v;
    for (const auto &i : methodTable())
        v.push_back(i.name);
    return v;
}

std::string methodNamesText()
{
    std::string s;
    const auto &t = methodTable();
    for (std::size_t k = 0; k < t.size(); ++k)
        s += (k == 0 ? "" : k + 1 == t.size() ? " or " : ", ") + std::string(t[k].name);
    return s;
}

std::optional<Method> parseMethod(const std::string &name)
{
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    if (n == "idk") // the official code's name for PO
        n = "po";
    for (const auto &i : methodTable())
        if (n == i.name)
            return i.method;
    return std::nullopt;
}

bool needsReference(Method m)
{
    return methodInfo(m).reference;
}
bool needsRefusals(Method m)
{
    return methodInfo(m).refusals;
}
bool readsWeight(Method m, const std::string &weight)
{
    const auto &w = methodInfo(m).weights;
    return weight == "pd" || std::find(w.begin(), w.end(), weight) != w.end();
}

std::string runLabel(const std::string &method, bool pd)
{
    std::string label = method;
    if (const auto m = parseMethod(method); m && method != "idk")
        label = methodInfo(*m).label;
    else
        std::transform(label.begin(), label.end(), label.begin(), [](unsigned char c) { return std::toupper(c); });
    return label + (pd ? "+PD" : "");
}

LossWeights defaultWeights(Method m, bool pd)
{
    return pd ? methodInfo(m).defaultsWithPd : methodInfo(m).defaults;
}

LossWeights resolveWeights(Method m, bool pd, const WeightOverrides &o)
{
    LossWeights w = defaultWeights(m, pd);
    if (o.forget)
        w.forget = *o.forget;
    if (o.retain)
        w.retain = *o.retain;
    if (o.kl)
        w.kl = *o.kl;
    if (o.pd && pd)
        w.pd = *o.pd;
    if (o.beta)
        w.beta = *o.beta;
    if (o.gamma)
        w.gamma = *o.gamma;
    return w;
}

} // namespace se::unlearn
