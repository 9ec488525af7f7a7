// The loss terms of SPEC §3 on hand-computed cases, the weighted sum of every method with and without PD,
// and the answer-only masking of batches.
#include "core/model/imagestore.h"
#include "core/model/safetensors.h"
#include "core/model/tokenizer.h"
#include "core/model/vlm.h"
#include "core/unlearn/batch.h"
#include "core/unlearn/losses.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

using namespace se::unlearn;
using se::model::Tokenizer;

namespace {
// One sequence of three positions over a vocabulary of three: position 0 is masked, positions 1 and 2 are
// answer positions with softmax [1/6, 2/6, 3/6]; labels 2 then 0.
torch::Tensor caseLogits()
{
    auto row = torch::log(torch::tensor({1.0f, 2.0f, 3.0f}));
    auto masked = torch::tensor({5.0f, -3.0f, 0.5f}); // anything: must not count
    return torch::stack({masked, row, row}).unsqueeze(0);
}
torch::Tensor caseLabels()
{
    return torch::tensor({kIgnore, int64_t(2), int64_t(0)}).unsqueeze(0);
}
double val(const torch::Tensor &t)
{
    return t.item<double>();
}
} // namespace

class TestLosses : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void nllAveragesAnswerTokensOnly()
    {
        // mean(-log 3/6, -log 1/6) = (ln 2 + ln 6) / 2
        QVERIFY(std::abs(val(answerNll(caseLogits(), caseLabels())) - (std::log(2.0) + std::log(6.0)) / 2) < 1e-5);
    }

    void nllIsMeanOverTokensOfTheBatch()
    {
        // Second sequence: one answer token with probability 1/6. Token mean = (ln2 + ln6 + ln6) / 3, not the
        // mean of the two sequence means.
        auto logits = torch::cat({caseLogits(), caseLogits()});
        auto labels = torch::cat({caseLabels(), torch::tensor({kIgnore, kIgnore, int64_t(0)}).unsqueeze(0)});
        QVERIFY(std::abs(val(answerNll(logits, labels)) - (std::log(2.0) + 2 * std::log(6.0)) / 3) < 1e-5);
    }

    void sequenceLogProbsSumAnswerTokens()
    {
        auto lp = sequenceLogProbs(caseLogits(), caseLabels());
        QCOMPARE(lp.size(0), int64_t(1));
        QVERIFY(std::abs(val(lp[0]) + std::log(2.0) + std::log(6.0)) < 1e-5);
    }

    void klOnAnswerPositions()
    {
        // ref uniform on answer positions; KL(u ‖ [1/6, 1/3, 1/2]) = (ln 2 + ln 1 + ln 2/3) / 3
        auto ref = torch::zeros({1, 3, 3});
        ref[0][0] = torch::tensor({9.0f, 0.0f, 0.0f}); // masked position differs wildly: must not count
        const double expected = (std::log(2.0) + std::log(2.0 / 3.0)) / 3.0;
        QVERIFY(std::abs(val(answerKl(ref, caseLogits(), caseLabels())) - expected) < 1e-5);
        QVERIFY(std::abs(val(answerKl(caseLogits(), caseLogits(), caseLabels()))) < 1e-6);
    }

    void npoHandComputed()
    {
        // β = 0.1, logπθ = [-2, -1], logπref = [-1, -1]: -(2/β)·mean(log σ(0.1), log σ(0))
        auto l = npoLoss(torch::tensor({-2.0f, -1.0f}), torch::tensor({-1.0f, -1.0f}), 0.1);
        const double expected = 20.0 * (std::log1p(std::exp(-0.1)) + std::log(2.0)) / 2.0;
        QVERIFY(std::abs(val(l) - expected) < 1e-4);
    }

    void dpoHandComputed()
    {
        // β = 0.1: preferred gains 1 over ref, dispreferred loses 1 → -log σ(0.2)
        auto l = dpoLoss(torch::tensor({-1.0f}), torch::tensor({-2.0f}), torch::tensor({-3.0f}), torch::tensor({-2.0f}),
                         0.1);
        QVERIFY(std::abs(val(l) - std::log1p(std::exp(-0.2))) < 1e-5);
    }

    void simnpoHandComputed()
    {
        // Two sequences over a vocabulary of three. Sequence 0 is caseLogits(): answer tokens 2 and 0 with
        // probabilities 3/6 and 1/6, so |y| = 2 and log πθ(y|x) / |y| = (log ½ + log ⅙) / 2. Sequence 1 has one answer
        // token of probability 2/6 (label 1 at position 1; position 2 masked): log ⅓.
        // β = 2.5, γ = 0.5: -(2/β)·mean over the two of log σ(-β·mean log p − γ).
        auto logits = torch::cat({caseLogits(), caseLogits()});
        auto labels = torch::cat({caseLabels(), torch::tensor({kIgnore, int64_t(1), kIgnore}).unsqueeze(0)});
        const double beta = 2.5, gamma = 0.5;
        const double m0 = (std::log(3.0 / 6) + std::log(1.0 / 6)) / 2, m1 = std::log(2.0 / 6);
        auto logSigmoid = [](double x) { return -std::log1p(std::exp(-x)); };
        const double expected = -(2 / beta) * (logSigmoid(-beta * m0 - gamma) + logSigmoid(-beta * m1 - gamma)) / 2;
        const double got = val(simnpoLoss(answerLogits(logits, labels), beta, gamma));
        QVERIFY2(std::abs(got - expected) < 1e-5, qPrintable(QString("%1 vs %2").arg(got).arg(expected)));
        // Length-normalised: the same per-token probability over a longer answer gives the same loss (NPO would not).
        auto one = torch::tensor({kIgnore, int64_t(0), kIgnore}).unsqueeze(0);
        auto two = torch::tensor({kIgnore, int64_t(0), int64_t(0)}).unsqueeze(0);
        QVERIFY(std::abs(val(simnpoLoss(answerLogits(caseLogits(), one), beta, 0)) -
                         val(simnpoLoss(answerLogits(caseLogits(), two), beta, 0))) < 1e-6);
        // Its row: β 2.5 and γ 0 by default, no reference model, retain weighted 1 (and PD 1 with PD on).
        const LossWeights w = defaultWeights(Method::SimNPO, true);
        QCOMPARE(w.beta, 2.5);
        QCOMPARE(w.gamma, 0.0);
        QCOMPARE(w.retain, 1.0);
        QCOMPARE(w.pd, 1.0);
        QVERIFY(!needsReference(Method::SimNPO));
        QVERIFY(readsWeight(Method::SimNPO, "gamma") && !readsWeight(Method::NPO, "gamma"));
    }

    void combinations_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<bool>("pd");
        QTest::addColumn<double>("pdWeight"); // < 0: the default
        QTest::addColumn<double>("expected");
        // Terms: forget_nll 2, retain_nll 3, kl 5, pd_nll 7, refusal_nll 11, npo 13, dpo 17, simnpo 19.
        QTest::newRow("ga") << "ga" << false << -1.0 << -2.0;
        QTest::newRow("ga+pd") << "ga" << true << -1.0 << -2.0 + 0.5 * 7;
        QTest::newRow("gd") << "gd" << false << -1.0 << -2.0 + 3;
        QTest::newRow("gd+pd") << "gd" << true << -1.0 << -2.0 + 0.5 * 3 + 0.5 * 7;
        QTest::newRow("kl") << "kl" << false << -1.0 << -2.0 + 5;
        QTest::newRow("kl+pd") << "kl" << true << -1.0 << -2.0 + 5 + 7;
        QTest::newRow("po") << "po" << false << -1.0 << 11.0 + 3;
        QTest::newRow("po+pd") << "po" << true << -1.0 << 11.0 + 3 + 7;
        QTest::newRow("po+pd w2.5") << "po" << true << 2.5 << 11.0 + 3 + 2.5 * 7;
        QTest::newRow("npo") << "npo" << false << -1.0 << 13.0 + 3;
        QTest::newRow("npo+pd") << "npo" << true << -1.0 << 13.0 + 3 + 7;
        QTest::newRow("dpo") << "dpo" << false << -1.0 << 17.0 + 3;
        QTest::newRow("dpo+pd") << "dpo" << true << -1.0 << 17.0 + 3 + 7;
        QTest::newRow("simnpo") << "simnpo" << false << -1.0 << 19.0 + 3;
        QTest::newRow("simnpo+pd") << "simnpo" << true << -1.0 << 19.0 + 3 + 7;
    }
    void combinations()
    {
        QFETCH(QString, method);
        QFETCH(bool, pd);
        QFETCH(double, pdWeight);
        QFETCH(double, expected);
        auto m = parseMethod(method.toStdString());
        QVERIFY(m.has_value());
        WeightOverrides o;
        if (pdWeight >= 0)
            o.pd = pdWeight;
        const LossWeights w = resolveWeights(*m, pd, o);
        LossTerms terms = {{"forget_nll", torch::tensor(2.0)},   {"retain_nll", torch::tensor(3.0)},
                           {"kl", torch::tensor(5.0)},           {"pd_nll", torch::tensor(7.0)},
                           {"refusal_nll", torch::tensor(11.0)}, {"npo", torch::tensor(13.0)},
                           {"dpo", torch::tensor(17.0)},         {"simnpo", torch::tensor(19.0)}};
        QCOMPARE(val(combineLosses(*m, w, pd, terms)), expected);
    }

    void missingTermIsAnError()
    {
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, combineLosses(Method::PO, defaultWeights(Method::PO, true), true,
                                                                   {{"refusal_nll", torch::tensor(1.0)},
                                                                    {"retain_nll", torch::tensor(1.0)}}));
    }

    void headOnAnswerPositionsEqualsFullForward()
    {
        // The training path (last layer and head on answer positions only) against the full forward.
        se::model::ModelCard card;
        card.imageSize = 16;
        card.visionStages = 2;
        card.visionWidth = 16;
        card.dModel = 32;
        card.layers = 2;
        card.heads = 2;
        card.maxSeq = 48;
        card.maxAnswerTokens = 8;
        auto m = se::model::makeVlm(card, 30, 3);
        auto ids = torch::randint(Tokenizer::SpecialCount, 30, {3, 30});
        ids.slice(1, 1, 17).fill_(int64_t(Tokenizer::Image));
        auto labels = torch::full({3, 30}, kIgnore, torch::kLong);
        const int starts[] = {22, 25, 20}, ends[] = {29, 27, 24}; // answers at different places, rows padded
        for (int b = 0; b < 3; ++b)
            labels[b].slice(0, starts[b], ends[b]).copy_(ids[b].slice(0, starts[b] + 1, ends[b] + 1));
        auto images = torch::rand({3, 3, 16, 16});
        const AnswerLogits fast = answerLogits(m, ids, images, labels);
        const AnswerLogits full = answerLogits(m->forward(ids, images), labels);
        QCOMPARE(fast.logits.sizes(), full.logits.sizes());
        QVERIFY(torch::allclose(fast.logits, full.logits, 1e-4, 1e-5));
        QVERIFY(fast.targets.equal(full.targets));
        QVERIFY(fast.rows.equal(full.rows));
        QVERIFY(torch::allclose(sequenceLogProbs(fast), sequenceLogProbs(full), 1e-4, 1e-4));
        // Gradients agree too.
        answerNll(fast).backward();
        auto g1 = m->layers.back()->fc1->linear->weight.grad().clone();
        m->zero_grad();
        answerNll(answerLogits(m->forward(ids, images), labels)).backward();
        QVERIFY(torch::allclose(g1, m->layers.back()->fc1->linear->weight.grad(), 1e-4, 1e-6));
    }

    void samplerCoversEachEpochAndBucketsByLength()
    {
        std::vector<Example> set;
        for (int i = 0; i < 96; ++i)
            set.push_back({"x.png", std::vector<int>(10 + (i * 37) % 50, 7), 5});
        auto padding = [&](Sampler &s) {
            long pad = 0;
            for (int b = 0; b < 12; ++b) {
                auto batch = s.next(8);
                size_t mx = 0;
                for (auto *e : batch)
                    mx = std::max(mx, e->ids.size());
                for (auto *e : batch)
                    pad += long(mx - e->ids.size());
            }
            return pad;
        };
        Sampler plain(set, 1, false), bucketed(set, 1, true);
        QVERIFY(padding(bucketed) * 3 < padding(plain));
        // One epoch = every example once; the same seed gives the same order.
        Sampler a(set, 5), b(set, 5);
        std::set<const Example *> seen;
        for (int i = 0; i < 12; ++i) {
            auto x = a.next(8), y = b.next(8);
            QCOMPARE(x, y);
            seen.insert(x.begin(), x.end());
        }
        QCOMPARE(seen.size(), set.size());
        QCOMPARE(a.epoch(), 0);
        a.next(8);
        QCOMPARE(a.epoch(), 1);
    }

    void methodNames()
    {
        for (Method m : allMethods())
            QCOMPARE(parseMethod(methodName(m)), std::optional<Method>(m));
        QCOMPARE(parseMethod("IDK"), std::optional<Method>(Method::PO));
        QCOMPARE(parseMethod("SimNPO"), std::optional<Method>(Method::SimNPO));
        QCOMPARE(methodNamesText(), std::string("ga, gd, kl, po, npo, dpo or simnpo"));
        QVERIFY(!parseMethod("sgd").has_value());
    }

    void batchLabelsMaskPromptImageAndPadding()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::string pack = dir.filePath("img.safetensors").toStdString();
        se::model::SafeTensors st;
        st.metadata["format"] = "safeeraser-images";
        st.tensors.emplace_back("a.png", torch::full({3, 16, 16}, 0.5f));
        se::model::writeSafeTensors(pack, st);
        se::model::ImageStore store(16);
        store.loadPacked(pack);

        const Tokenizer tok = Tokenizer::build({"what is it ? a red cup . no"});
        const int imageTokens = 4;
        auto e1 = makeExample(tok, imageTokens, 64, "a.png", "what is it ?", "a red cup .");
        auto e2 = makeExample(tok, imageTokens, 64, "a.png", "what is it ?", "no");
        // <bos> <image>×4 USER: what is it ? ASSISTANT: | a red cup . <eos>
        QCOMPARE(e1.answerStart, 1 + imageTokens + 1 + 4 + 1);
        QCOMPARE(int(e1.ids.size()), e1.answerStart + 4 + 1);
        QCOMPARE(e1.ids.back(), int(Tokenizer::Eos));
        auto b = collate({&e1, &e2}, store, torch::kCPU);
        QCOMPARE(b.ids.size(1), int64_t(e1.ids.size()));
        QCOMPARE(b.images.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
        QCOMPARE(b.answerTokens, int64_t(5 + 2));
        for (int row = 0; row < 2; ++row) {
            const auto &e = row == 0 ? e1 : e2;
            for (int t = 0; t < b.ids.size(1); ++t) {
                const int64_t label = b.labels[row][t].item<int64_t>();
                const bool supervised = t >= e.answerStart - 1 && t + 1 < int(e.ids.size());
                QCOMPARE(label, supervised ? int64_t(e.ids[t + 1]) : kIgnore);
                if (t >= int(e.ids.size()))
                    QCOMPARE(b.ids[row][t].item<int64_t>(), int64_t(Tokenizer::Pad));
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestLosses)
#include "test_losses.moc"
