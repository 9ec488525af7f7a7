#include "core/model/mmmodel.h"

#include <cmath>

namespace se::model {

double LoraSpec::scaling() const
{
    return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank;
}

std::vector<torch::Tensor> MultimodalLm::adapterParameters()
{
    std::vector<torch::Tensor> out;
    for (const auto &m : modules(/*include_self=*/false))
        if (auto *h = dynamic_cast<AdapterHost *>(m.get()))
            for (auto &t : h->adapterParameters())
                out.push_back(t);
    return out;
}

void MultimodalLm::setAdaptersEnabled(bool on)
{
    for (const auto &m : modules(/*include_self=*/false))
        if (auto *h = dynamic_cast<AdapterHost *>(m.get()))
            h->setAdapterEnabled(on);
}

int64_t MultimodalLm::parameterCount() const
{
    int64_t n = 0;
    for (const auto &p : parameters())
        n += p.numel();
    return n;
}

} // namespace se::model
