#include "core/unlearn/batch.h"

#include "core/unlearn/losses.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace se::unlearn {

namespace {
Example fitted(se::model::ChatTokens c, int maxSeq, const std::string &imageFile, const std::string &question)
{
    if (c.answerStart >= maxSeq)
        throw std::runtime_error("question too long for the model (" + std::to_string(c.answerStart) +
                                 " prompt tokens, max_seq " + std::to_string(maxSeq) + "): " + question);
    if (static_cast<int>(c.ids.size()) > maxSeq)
        c.ids.resize(maxSeq); // a long answer loses its tail (and <eos>); the prompt always fits
    return {imageFile, std::move(c.ids), c.answerStart};
}
} // namespace

Example makeExample(const se::model::Tokenizer &tok, int imageTokens, int maxSeq, const std::string &imageFile,
                    const std::string &question, const std::string &answer)
{
    return fitted(se::model::chatExample(tok, imageTokens, question, answer), maxSeq, imageFile, question);
}

Example makeExample(const se::model::ChatFormat &chat, int imageTokens, int maxSeq, const std::string &imageFile,
                    const std::string &question, const std::string &answer)
{
    return fitted(chat.example(question, answer, imageTokens), maxSeq, imageFile, question);
}

Batch collate(const std::vector<const Example *> &examples, se::model::ImageStore &images, const torch::Device &device,
              int64_t padId)
{
    if (examples.empty())
        throw std::runtime_error("empty batch");
    const int64_t B = static_cast<int64_t>(examples.size());
    int64_t T = 0;
    for (auto *e : examples)
        T = std::max<int64_t>(T, static_cast<int64_t>(e->ids.size()));
    auto ids = torch::full({B, T}, padId, torch::kLong);
    auto labels = torch::full({B, T}, kIgnore, torch::kLong);
    auto pi = ids.accessor<int64_t, 2>();
    auto pl = labels.accessor<int64_t, 2>();
    int64_t answerTokens = 0;
    std::vector<std::string> files;
    files.reserve(examples.size());
    for (int64_t b = 0; b < B; ++b) {
        const auto &e = *examples[b];
        const int64_t n = static_cast<int64_t>(e.ids.size());
        for (int64_t t = 0; t < n; ++t)
            pi[b][t] = e.ids[t];
        // Position t predicts token t+1: supervised when t+1 is an answer token.
        for (int64_t t = std::max<int64_t>(e.answerStart - 1, 0); t + 1 < n; ++t) {
            pl[b][t] = e.ids[t + 1];
            ++answerTokens;
        }
        files.push_back(e.imageFile);
    }
    Batch out;
    out.ids = ids.to(device);
    out.labels = labels.to(device);
    out.images = images.batch(files).to(device);
    out.answerTokens = answerTokens;
    return out;
}

Sampler::Sampler(const std::vector<Example> &set, std::uint64_t seed, bool bucket)
    : m_set(set), m_bucket(bucket), m_rng(seed)
{
    if (set.empty())
        throw std::runtime_error("cannot sample from an empty set");
    m_order.resize(set.size());
    std::iota(m_order.begin(), m_order.end(), 0);
    m_pos = m_order.size(); // arranged on the first next(), when the batch size is known
    m_epoch = -1;
}

void Sampler::arrange(int batch)
{
    std::shuffle(m_order.begin(), m_order.end(), m_rng);
    if (!m_bucket || batch < 2 || m_order.size() < 2 * size_t(batch))
        return;
    const size_t window = size_t(batch) * 8;
    for (size_t w = 0; w < m_order.size(); w += window) {
        auto end = m_order.begin() + std::min(m_order.size(), w + window);
        std::stable_sort(m_order.begin() + w, end,
                         [&](size_t a, size_t b) { return m_set[a].ids.size() < m_set[b].ids.size(); });
    }
    std::vector<std::vector<size_t>> batches;
    for (size_t i = 0; i < m_order.size(); i += batch)
        batches.emplace_back(m_order.begin() + i, m_order.begin() + std::min(m_order.size(), i + batch));
    std::shuffle(batches.begin(), batches.end(), m_rng);
    m_order.clear();
    for (const auto &b : batches)
        m_order.insert(m_order.end(), b.begin(), b.end());
}

std::vector<const Example *> Sampler::next(int batch)
{
    std::vector<const Example *> out;
    out.reserve(batch);
    while (static_cast<int>(out.size()) < batch) {
        if (m_pos == m_order.size()) {
            arrange(batch);
            m_pos = 0;
            ++m_epoch;
        }
        out.push_back(&m_set[m_order[m_pos++]]);
    }
    return out;
}

} // namespace se::unlearn
