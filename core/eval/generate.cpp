#include "core/eval/generate.h"

#include "core/model/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace se::eval {

using se::model::Tokenizer;

int pickToken(const float *logits, int vocab, const GenerateOptions &o, std::uint64_t &rngState)
{
    if (o.greedy || o.temperature <= 0)
        return static_cast<int>(std::max_element(logits, logits + vocab) - logits);
    const float mx = *std::max_element(logits, logits + vocab);
    std::vector<double> p(vocab);
    double sum = 0;
    for (int i = 0; i < vocab; ++i)
        sum += p[i] = std::exp((logits[i] - mx) / o.temperature);
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    // Nucleus: the smallest prefix of the sorted distribution whose mass reaches top-p (at least one token).
    double kept = 0;
    int n = 0;
    while (n < vocab && (n == 0 || kept < o.topP * sum))
        kept += p[order[n++]];
    std::mt19937_64 rng(rngState);
    rngState = rng();
    const double u = std::uniform_real_distribution<double>(0.0, kept)(rng);
    double acc = 0;
    for (int i = 0; i < n; ++i) {
        acc += p[order[i]];
        if (u < acc)
            return order[i];
    }
    return order[n - 1];
}

std::vector<std::vector<int>> generate(se::model::MultimodalLm &model, const torch::Tensor &images,
                                       const std::vector<std::vector<int>> &prompts, const GenerateOptions &o)
{
    const int64_t B = static_cast<int64_t>(prompts.size());
    if (B == 0)
        return {};
    if (images.size(0) != B)
        throw std::runtime_error("generate: images and prompts differ in count");
    torch::NoGradGuard ng;
    const bool wasTraining = model.is_training();
    model.eval();
    const auto device = images.device();
    const int64_t maxSeq = model.maxPositions();
    int64_t P = 0;
    for (const auto &p : prompts)
        P = std::max<int64_t>(P, static_cast<int64_t>(p.size()));
    const int maxNew = static_cast<int>(std::min<int64_t>(o.maxNewTokens, maxSeq - P));
    const int64_t pad = o.padId;
    if (maxNew <= 0)
        throw std::runtime_error("generate: prompt of " + std::to_string(P) + " tokens leaves no room (max_seq " +
                                 std::to_string(maxSeq) + ")");

    // Left padding: ids, real-token mask, and positions counting real tokens only.
    auto ids = torch::full({B, P}, pad, torch::kLong);
    auto mask = torch::zeros({B, P}, torch::kBool);
    for (int64_t b = 0; b < B; ++b) {
        const int64_t n = static_cast<int64_t>(prompts[b].size()), off = P - n;
        for (int64_t t = 0; t < n; ++t)
            ids[b][off + t] = prompts[b][t];
        mask.slice(1, off, P).select(0, b).fill_(true);
    }
    ids = ids.to(device);
    mask = mask.to(device);
    auto positions = (mask.to(torch::kLong).cumsum(1) - 1).clamp_min(0);

    std::vector<std::vector<int>> out(B);
    std::vector<bool> done(B, false);
    // The rows still generating, by their index in `prompts`: finished rows are dropped from the batch (the cache,
    // the mask, the positions) once a quarter of it has finished, so that short answers do not pay for the longest
    // one. Each row's arithmetic does not depend on the others, and the sampling stream is drawn for the active rows
    // in the same order either way, so the answers are the same as without dropping.
    std::vector<int64_t> rows(static_cast<std::size_t>(B));
    for (int64_t b = 0; b < B; ++b)
        rows[static_cast<std::size_t>(b)] = b;
    std::uint64_t rngState = o.seed;
    se::model::KvCache cache;
    cache.reserve = P + maxNew; // one allocation per layer, written in place at every step
    // The output head on the last position only: over a whole 620-token prompt it would be [B, P, vocab] (5 GB of
    // float32 for 64 LLaVA prompts) to keep one row of each.
    auto lastLogits = [&](const torch::Tensor &x, const torch::Tensor &pixels, const torch::Tensor &pos,
                          se::model::KvCache *c) {
        auto h = model.hidden(x, pixels, pos, mask, c, 0);
        return model.headLogits(h.slice(1, h.size(1) - 1));
    };
    torch::Tensor logits = lastLogits(ids, images, positions, o.useCache ? &cache : nullptr);
    torch::Tensor allIds = ids, allPos = positions, pixels = images;
    for (int step = 0; step < maxNew; ++step) {
        auto last = logits.select(1, logits.size(1) - 1).to(torch::kFloat).to(torch::kCPU).contiguous();
        const int V = static_cast<int>(last.size(1));
        const float *data = last.data_ptr<float>();
        const int64_t active = static_cast<int64_t>(rows.size());
        auto next = torch::full({active, 1}, pad, torch::kLong);
        auto *nextData = next.data_ptr<int64_t>();
        int64_t finished = 0;
        for (int64_t i = 0; i < active; ++i) {
            const auto b = static_cast<std::size_t>(rows[static_cast<std::size_t>(i)]);
            if (done[b]) {
                ++finished;
                continue;
            }
            const int t = pickToken(data + i * V, V, o, rngState);
            if (t == o.eosId || (o.alsoStopsAt >= 0 && t == o.alsoStopsAt)) {
                done[b] = true;
                ++finished;
            } else {
                out[b].push_back(t);
            }
            nextData[i] = t;
        }
        if (o.onStep)
            o.onStep(step);
        if (finished == active || step + 1 == maxNew)
            break;
        if (finished * 4 >= active) {
            std::vector<int64_t> keepIdx, keepRows;
            for (int64_t i = 0; i < active; ++i)
                if (!done[static_cast<std::size_t>(rows[static_cast<std::size_t>(i)])]) {
                    keepIdx.push_back(i);
                    keepRows.push_back(rows[static_cast<std::size_t>(i)]);
                }
            const auto keepCpu = torch::tensor(keepIdx, torch::kLong);
            const auto keep = keepCpu.to(device);
            for (auto &slot : cache.layers)
                if (slot.k.defined()) {
                    slot.k = slot.k.index_select(0, keep);
                    slot.v = slot.v.index_select(0, keep);
                }
            if (cache.positionDelta.defined())
                cache.positionDelta = cache.positionDelta.index_select(0, keep);
            mask = mask.index_select(0, keep);
            allPos = allPos.index_select(0, keep);
            allIds = allIds.index_select(0, keep);
            if (pixels.defined() && !o.useCache)
                pixels = pixels.index_select(0, keep);
            next = next.index_select(0, keepCpu);
            rows = std::move(keepRows);
        }
        next = next.to(device);
        auto nextPos = allPos.select(1, allPos.size(1) - 1).unsqueeze(1) + 1;
        mask = torch::cat({mask, torch::ones({mask.size(0), 1}, mask.options())}, 1);
        allPos = torch::cat({allPos, nextPos}, 1);
        allIds = torch::cat({allIds, next}, 1);
        if (o.useCache)
            logits = lastLogits(next, {}, nextPos, &cache);
        else
            logits = lastLogits(allIds, pixels, allPos, nullptr);
    }
    if (wasTraining)
        model.train();
    return out;
}

std::vector<double> answerLogProbs(se::model::MultimodalLm &model, const torch::Tensor &pixels,
                                   const std::vector<int> &ids, int answerStart)
{
    const int64_t T = static_cast<int64_t>(ids.size());
    if (answerStart < 1 || answerStart >= T)
        throw std::runtime_error("score: the answer must follow a prompt and hold at least one token");
    if (T > model.maxPositions())
        throw std::runtime_error("score: " + std::to_string(T) + " tokens exceed the model's " +
                                 std::to_string(model.maxPositions()) + " positions");
    torch::NoGradGuard ng;
    const bool wasTraining = model.is_training();
    model.eval();
    std::vector<int64_t> ids64(ids.begin(), ids.end());
    auto input = torch::tensor(ids64, torch::kLong).unsqueeze(0).to(pixels.device());
    // Position t predicts token t+1: only the positions answerStart-1 … T-2 need the output head.
    auto h = model.hidden(input, pixels, {}, {}, nullptr, answerStart - 1).slice(1, 0, T - answerStart);
    auto logp = torch::log_softmax(model.headLogits(h).to(torch::kFloat), -1).squeeze(0).to(torch::kCPU); // [n, V]
    if (wasTraining)
        model.train();
    std::vector<double> out;
    out.reserve(static_cast<size_t>(T - answerStart));
    for (int64_t t = answerStart; t < T; ++t)
        out.push_back(logp[t - answerStart][ids[static_cast<size_t>(t)]].item<double>());
    return out;
}

} // namespace se::eval
