#include "core/model/mmmodel.h"

#include <algorithm>
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

std::pair<torch::Tensor, torch::Tensor> KvSlot::append(const torch::Tensor &nk, const torch::Tensor &nv,
                                                       int64_t reserve)
{
    const int64_t need = used + nk.size(2);
    if (!k.defined() || k.size(2) < need) {
        const int64_t capacity = std::max({need, reserve, k.defined() ? 2 * k.size(2) : int64_t(0)});
        auto grow = [&](torch::Tensor &buffer, const torch::Tensor &x) {
            auto bigger = torch::empty({x.size(0), x.size(1), capacity, x.size(3)}, x.options());
            if (used > 0)
                bigger.slice(2, 0, used).copy_(buffer.slice(2, 0, used));
            buffer = bigger;
        };
        grow(k, nk);
        grow(v, nv);
    }
    k.slice(2, used, need).copy_(nk);
    v.slice(2, used, need).copy_(nv);
    used = need;
    return {k.slice(2, 0, need), v.slice(2, 0, need)};
}

KvSlot *KvCache::slot(size_t layer, size_t count)
{
    if (layers.size() != count)
        layers.resize(count);
    return &layers[layer];
}

torch::Tensor attentionMask(int64_t past, int64_t T, const torch::Tensor &keyMask, const torch::Device &device,
                            float fill)
{
    auto opts = torch::TensorOptions().device(device);
    auto qi = torch::arange(past, past + T, opts.dtype(torch::kLong)).unsqueeze(1);
    auto kj = torch::arange(0, past + T, opts.dtype(torch::kLong)).unsqueeze(0);
    auto allowed = (kj <= qi).unsqueeze(0).unsqueeze(0); // [1, 1, T, Tk]
    if (keyMask.defined())
        allowed = allowed.logical_and(keyMask.to(torch::kBool).unsqueeze(1).unsqueeze(1));
    return torch::zeros(allowed.sizes(), opts.dtype(torch::kFloat)).masked_fill(allowed.logical_not(), fill);
}

int64_t MultimodalLm::parameterCount() const
{
    int64_t n = 0;
    for (const auto &p : parameters())
        n += p.numel();
    return n;
}

} // namespace se::model
