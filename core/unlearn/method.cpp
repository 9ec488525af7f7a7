#include "core/unlearn/method.h"

#include <algorithm>
#include <cctype>

namespace se::unlearn {

const char *methodName(Method m)
{
    switch (m) {
    case Method::GA:
        return "ga";
    case Method::GD:
        return "gd";
    case Method::KL:
        return "kl";
    case Method::PO:
        return "po";
    case Method::NPO:
        return "npo";
    case Method::DPO:
        return "dpo";
    }
    return "?";
}

const std::vector<Method> &allMethods()
{
    static const std::vector<Method> all = {Method::GA, Method::GD, Method::KL, Method::PO, Method::NPO, Method::DPO};
    return all;
}

std::optional<Method> parseMethod(const std::string &name)
{
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    if (n == "idk") // the official code's name for PO
        n = "po";
    for (Method m : allMethods())
        if (n == methodName(m))
            return m;
    return std::nullopt;
}

bool needsReference(Method m)
{
    return m == Method::KL || m == Method::NPO || m == Method::DPO;
}
bool needsRefusals(Method m)
{
    return m == Method::PO || m == Method::DPO;
}

LossWeights defaultWeights(Method m, bool pd)
{
    LossWeights w;
    switch (m) {
    case Method::GA:
        w.pd = pd ? 0.5 : 0.0;
        break;
    case Method::GD:
        w.retain = pd ? 0.5 : 1.0;
        w.pd = pd ? 0.5 : 0.0;
        break;
    case Method::KL:
        w.kl = 1.0;
        w.pd = pd ? 1.0 : 0.0;
        break;
    case Method::PO:
    case Method::NPO:
    case Method::DPO:
        w.retain = 1.0;
        w.pd = pd ? 1.0 : 0.0;
        break;
    }
    return w;
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
    return w;
}

} // namespace se::unlearn
