// Generation: the KV-cache path gives the same tokens as recomputing the whole sequence, batched rows of
// different prompt lengths give what each row alone gives, sampling is fixed by its seed, and generation
// stops at <eos> or the length limit.
#include "tests/common/tinycard.h"
#include "core/eval/generate.h"
#include "core/model/tokenizer.h"
#include "core/model/vlm.h"

#include <QtTest>
#include <algorithm>
#include <map>
#include <set>

using namespace se::model;
using se::eval::GenerateOptions;

namespace {
ModelCard tinyCard()
{
    return se::testing::tinyCard(2, 64, 20);
}
constexpr int kVocab = 40;

std::vector<int> prompt(int words, int offset)
{
    std::vector<int> ids = {Tokenizer::Bos};
    ids.insert(ids.end(), tinyCard().imageTokens(), Tokenizer::Image);
    ids.push_back(Tokenizer::User);
    for (int i = 0; i < words; ++i)
        ids.push_back(Tokenizer::SpecialCount + (i * 7 + offset) % (kVocab - Tokenizer::SpecialCount));
    ids.push_back(Tokenizer::Assistant);
    return ids;
}

// A random model never says <eos> on purpose; scale the head so some rows end early and some do not.
Vlm model(uint64_t seed)
{
    auto m = makeVlm(tinyCard(), kVocab, seed);
    torch::NoGradGuard ng;
    m->tokEmb->weight.mul_(40.0); // sharper logits: greedy ties are then impossible in practice
    m->eval();
    return m;
}
} // namespace

class TestGeneration : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void cacheEqualsUncached_data()
    {
        QTest::addColumn<bool>("greedy");
        QTest::addColumn<int>("seed");
        QTest::newRow("greedy 1") << true << 1;
        QTest::newRow("greedy 2") << true << 2;
        QTest::newRow("sampled 3") << false << 3;
        QTest::newRow("sampled 4") << false << 4;
    }
    void cacheEqualsUncached()
    {
        QFETCH(bool, greedy);
        QFETCH(int, seed);
        auto m = model(seed);
        torch::manual_seed(seed);
        auto images = torch::rand({3, 3, 16, 16});
        std::vector<std::vector<int>> prompts = {prompt(3, 1), prompt(9, 2), prompt(5, 3)};
        GenerateOptions o;
        o.greedy = greedy;
        o.maxNewTokens = 20;
        o.seed = 99;
        o.useCache = true;
        const auto cached = se::eval::generate(m, images, prompts, o);
        o.useCache = false;
        const auto uncached = se::eval::generate(m, images, prompts, o);
        QCOMPARE(cached, uncached);
        QVERIFY(!cached[0].empty());
    }

    void batchedRowsMatchSingleRows()
    {
        auto m = model(7);
        torch::manual_seed(7);
        auto images = torch::rand({3, 3, 16, 16});
        std::vector<std::vector<int>> prompts = {prompt(2, 1), prompt(11, 5), prompt(6, 2)};
        GenerateOptions o;
        o.maxNewTokens = 15;
        const auto batched = se::eval::generate(m, images, prompts, o);
        for (int i = 0; i < 3; ++i) {
            const auto single = se::eval::generate(m, images.slice(0, i, i + 1), {prompts[i]}, o);
            QCOMPARE(single[0], batched[i]);
        }
    }

    // Rows that have finished leave the batch (generate() drops them once a quarter has finished); the others go on
    // as before. <eos> here is a token the rows say at different steps, so rows end at different times.
    void finishedRowsLeaveTheBatch()
    {
        // Strong position embeddings: what the model says next depends on where it is, so rows of different
        // prompt lengths say different tokens at each step.
        auto m = makeVlm(tinyCard(), kVocab, 13);
        {
            torch::NoGradGuard ng;
            m->posEmb->weight.mul_(30.0);
        }
        m->eval();
        torch::manual_seed(13);
        auto images = torch::rand({8, 3, 16, 16});
        std::vector<std::vector<int>> prompts;
        for (int i = 0; i < 8; ++i)
            prompts.push_back(prompt(2 + i, i + 1));
        GenerateOptions o;
        o.maxNewTokens = 15;
        o.eosId = -1; // nobody stops
        const auto free = se::eval::generate(m, images, prompts, o);
        // The token whose first use falls on the most different steps across the rows (never, for some, counts).
        std::map<int, std::set<long>> firstAt;
        for (const auto &row : free)
            for (int t : row)
                firstAt[t];
        for (auto &[t, steps] : firstAt)
            for (const auto &row : free)
                steps.insert(std::find(row.begin(), row.end(), t) - row.begin());
        o.eosId = std::max_element(firstAt.begin(), firstAt.end(), [](const auto &a, const auto &b) {
                      return a.second.size() < b.second.size();
                  })->first;
        const auto batched = se::eval::generate(m, images, prompts, o);
        std::set<std::size_t> lengths;
        int ended = 0;
        for (int i = 0; i < 8; ++i) {
            const auto &f = free[std::size_t(i)];
            const std::vector<int> expected(f.begin(), std::find(f.begin(), f.end(), o.eosId));
            QCOMPARE(batched[std::size_t(i)], expected);
            QCOMPARE(se::eval::generate(m, images.slice(0, i, i + 1), {prompts[std::size_t(i)]}, o)[0], expected);
            ended += expected.size() < f.size();
            lengths.insert(expected.size());
        }
        QVERIFY2(ended >= 2 && lengths.size() >= 3, "rows should end at different steps");
    }

    void samplingIsFixedBySeed()
    {
        auto m = model(11);
        auto images = torch::rand({2, 3, 16, 16});
        std::vector<std::vector<int>> prompts = {prompt(4, 1), prompt(4, 2)};
        GenerateOptions o;
        o.greedy = false;
        o.temperature = 3.0; // flat enough that different seeds differ
        o.topP = 1.0;
        o.seed = 5;
        const auto a = se::eval::generate(m, images, prompts, o);
        const auto b = se::eval::generate(m, images, prompts, o);
        QCOMPARE(a, b);
        o.seed = 6;
        QVERIFY(se::eval::generate(m, images, prompts, o) != a);
    }

    void topPKeepsTheNucleus()
    {
        // p ∝ [0.5, 0.3, 0.15, 0.05]: top-p 0.7 may only pick the first two.
        const float logits[] = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
        GenerateOptions o;
        o.greedy = false;
        o.topP = 0.7;
        std::uint64_t state = 1;
        std::set<int> seen;
        for (int i = 0; i < 400; ++i)
            seen.insert(se::eval::pickToken(logits, 4, o, state));
        QCOMPARE(seen, (std::set<int>{0, 1}));
        o.greedy = true;
        QCOMPARE(se::eval::pickToken(logits, 4, o, state), 0);
    }

    void stopsAtEosAndAtTheLimit()
    {
        auto m = makeVlm(tinyCard(), kVocab, 3);
        {
            // Make <eos> overwhelmingly likely after any token: every row stops at once.
            torch::NoGradGuard ng;
            m->tokEmb->weight[Tokenizer::Eos].copy_(m->lnF->bias.detach() * 0 + 1.0);
            m->lnF->weight.zero_();
            m->lnF->bias.fill_(1.0);
        }
        auto images = torch::rand({2, 3, 16, 16});
        GenerateOptions o;
        o.maxNewTokens = 10;
        auto out = se::eval::generate(m, images, {prompt(3, 1), prompt(5, 1)}, o);
        QVERIFY(out[0].empty() && out[1].empty());

        auto r = model(5);
        o.maxNewTokens = 4;
        for (const auto &row : se::eval::generate(r, images, {prompt(3, 1), prompt(5, 1)}, o))
            QVERIFY(row.size() <= 4);
    }
};

QTEST_GUILESS_MAIN(TestGeneration)
#include "test_generation.moc"
