// The optimiser loop: a short run lowers its loss, the same seed gives the same weights, the schedule has its
// warm-up and cosine shape, cancellation stops within one step, and a NaN loss or a non-finite gradient stops
// the run with the weights of the last good step.
#include "tests/common/tinycard.h"
#include "core/model/tokenizer.h"
#include "core/model/vlm.h"
#include "core/unlearn/trainer.h"

#include <QtTest>
#include <atomic>
#include <type_traits>

using namespace se::model;
using namespace se::unlearn;
using se::engine::CancelToken;
using se::engine::RunStatus;
// One run-status type: what a training returns is what the store records (issue 11).
static_assert(std::is_same_v<se::engine::RunStatus, se::store::RunStatus>);

namespace {
ModelCard tinyCard()
{
    return se::testing::tinyCard(1, 40, 8);
}
constexpr int kVocab = 30;

struct Data {
    torch::Tensor ids, labels, images;
};
// Eight sequences: <bos> <image>×16 USER: w ASSISTANT: answer(4) <eos>, answer depending on the image.
Data data()
{
    torch::manual_seed(123);
    const int B = 8, img = tinyCard().imageTokens();
    std::vector<int64_t> rows;
    auto labels = torch::full({B, img + 9}, kIgnore, torch::kLong);
    auto ids = torch::zeros({B, img + 9}, torch::kLong);
    for (int b = 0; b < B; ++b) {
        std::vector<int64_t> r = {Tokenizer::Bos};
        r.insert(r.end(), img, Tokenizer::Image);
        r.push_back(Tokenizer::User);
        r.push_back(10);
        r.push_back(Tokenizer::Assistant);
        for (int k = 0; k < 4; ++k)
            r.push_back(11 + (b + k) % 15);
        r.push_back(Tokenizer::Eos);
        for (size_t t = 0; t < r.size(); ++t) {
            ids[b][t] = r[t];
            if (t + 1 < r.size() && int(t) >= img + 3)
                labels[b][t] = r[t + 1];
        }
    }
    auto images = torch::zeros({B, 3, 16, 16});
    for (int b = 0; b < B; ++b)
        images[b].fill_(b / 8.0);
    return {ids, labels, images};
}

LoopSettings settings(int steps)
{
    LoopSettings s;
    s.phase = "test";
    s.lr = 3e-3;
    s.totalSteps = steps;
    s.warmupRatio = 0.1;
    s.samplesPerMicroStep = 8;
    s.progressEvery = 1;
    return s;
}

std::vector<torch::Tensor> snapshot(const Vlm &m)
{
    std::vector<torch::Tensor> out;
    for (const auto &p : m->parameters())
        out.push_back(p.detach().clone());
    return out;
}
bool sameWeights(const std::vector<torch::Tensor> &a, const std::vector<torch::Tensor> &b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!a[i].equal(b[i]))
            return false;
    return true;
}
} // namespace

class TestTrainer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(1); }

    void shortRunLowersLoss()
    {
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const Data d = data();
        auto step = [&](int, int) {
            StepOutput o;
            o.total = answerNll(m->forward(d.ids, d.images), d.labels);
            return o;
        };
        auto r = runTrainingLoop(m->parameters(), settings(60), step, {}, nullptr);
        QCOMPARE(r.status, RunStatus::Finished);
        QCOMPARE(r.steps, 60);
        const double first = r.firstLosses.front().second, last = r.lastLosses.front().second;
        QVERIFY2(last < 0.5 * first, qPrintable(QString("first %1 last %2").arg(first).arg(last)));
    }

    void sameSeedSameWeights()
    {
        auto run = [](uint64_t seed) {
            auto m = makeVlm(tinyCard(), kVocab, seed);
            const Data d = data();
            auto step = [&](int, int) {
                StepOutput o;
                o.total = answerNll(m->forward(d.ids, d.images), d.labels);
                return o;
            };
            runTrainingLoop(m->parameters(), settings(5), step, {}, nullptr);
            return snapshot(m);
        };
        QVERIFY(sameWeights(run(42), run(42)));
        QVERIFY(!sameWeights(run(42), run(43)));
    }

    void gradientAccumulationAveragesMicroBatches()
    {
        // Two micro-batches of the same data accumulate to the gradient of one: same weights after a step.
        const Data d = data();
        auto runWith = [&](int accum) {
            auto m = makeVlm(tinyCard(), kVocab, 9);
            auto s = settings(3);
            s.gradAccum = accum;
            auto step = [&](int, int) {
                StepOutput o;
                o.total = answerNll(m->forward(d.ids, d.images), d.labels);
                return o;
            };
            runTrainingLoop(m->parameters(), s, step, {}, nullptr);
            return snapshot(m);
        };
        auto a = runWith(1), b = runWith(2);
        for (size_t i = 0; i < a.size(); ++i)
            QVERIFY(torch::allclose(a[i], b[i], 1e-4, 1e-5));
    }

    void schedule()
    {
        // 100 steps, 10% warm-up: rises to the peak, then cosine down towards zero.
        QVERIFY(scheduledLr(1.0, 0, 100, 0.1) < 0.2);
        QVERIFY(scheduledLr(1.0, 5, 100, 0.1) < scheduledLr(1.0, 9, 100, 0.1));
        QCOMPARE(scheduledLr(1.0, 10, 100, 0.1), 1.0);
        QVERIFY(std::abs(scheduledLr(1.0, 55, 100, 0.1) - 0.5) < 1e-9);
        QVERIFY(scheduledLr(1.0, 99, 100, 0.1) < 0.01);
    }

    void cancellationStopsWithinOneStep()
    {
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const Data d = data();
        CancelToken cancel;
        int calls = 0;
        auto step = [&](int s, int) {
            ++calls;
            if (s == 3)
                cancel.cancel(); // asked for during step 4: that step finishes, no fifth begins
            StepOutput o;
            o.total = answerNll(m->forward(d.ids, d.images), d.labels);
            return o;
        };
        auto r = runTrainingLoop(m->parameters(), settings(50), step, {}, &cancel);
        QCOMPARE(r.status, RunStatus::Cancelled);
        QCOMPARE(r.steps, 4);
        QCOMPARE(calls, 4);
    }

    void everyExitOfAStepReturns_data()
    {
        QTest::addColumn<QString>("where");
        QTest::newRow("progress callback") << "progress";
        QTest::newRow("after-step hook") << "after";
        QTest::newRow("after-step hook, cancelled") << "cancelled";
        QTest::newRow("micro-step") << "micro";
    }
    void everyExitOfAStepReturns()
    {
        // The loop used to let an exception from the progress callback or the after-step hook (a curve evaluation
        // that saw a cancel) escape, so its caller never saved the last good weights. Now every exit returns a
        // status with the steps applied, and the weights are those of the last completed step.
        QFETCH(QString, where);
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const Data d = data();
        CancelToken cancel;
        std::vector<torch::Tensor> afterTwo;
        auto step = [&](int s, int) {
            if (where == "micro" && s == 2)
                throw std::runtime_error("bad batch");
            StepOutput o;
            o.total = answerNll(m->forward(d.ids, d.images), d.labels);
            return o;
        };
        se::engine::ProgressFn progress = [&](const se::engine::Progress &p) {
            if (p.step == 2)
                afterTwo = snapshot(m);
            if (where == "progress" && p.step == 2)
                throw std::runtime_error("progress sink broke");
        };
        auto after = [&](int steps) {
            if (steps == 2 && where == "cancelled")
                cancel.cancel();
            if (steps == 2 && (where == "after" || where == "cancelled"))
                throw std::runtime_error("evaluation stopped");
        };
        const auto r = runTrainingLoop(m->parameters(), settings(10), step, progress, &cancel, after);
        QCOMPARE(r.steps, 2);
        QVERIFY(sameWeights(snapshot(m), afterTwo));
        if (where == "cancelled") {
            QCOMPARE(r.status, RunStatus::Cancelled);
            QCOMPARE(QString::fromStdString(r.message), QString("cancelled after step 2"));
        } else {
            QCOMPARE(r.status, RunStatus::Failed);
            const char *says = where == "progress" ? "after step 2: progress sink broke"
                               : where == "after"  ? "after step 2: evaluation stopped"
                                                   : "step 3: bad batch; keeping the weights of step 2";
            QVERIFY2(QString::fromStdString(r.message).contains(says), r.message.c_str());
        }
    }

    void pauseHoldsBetweenSteps()
    {
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const Data d = data();
        CancelToken token;
        token.setPaused(true);
        std::atomic<bool> reached{false};
        std::thread resume([&] {
            // Once the loop holds at the pause (not after a guess at how long that takes): cancel. A paused run that is
            // cancelled stops without another step.
            const auto give = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (!token.holding() && std::chrono::steady_clock::now() < give)
                std::this_thread::yield();
            reached = token.holding();
            token.cancel();
        });
        int calls = 0;
        auto step = [&](int, int) {
            ++calls;
            StepOutput o;
            o.total = answerNll(m->forward(d.ids, d.images), d.labels);
            return o;
        };
        auto r = runTrainingLoop(m->parameters(), settings(10), step, {}, &token);
        resume.join();
        QVERIFY(reached); // the pause was reached, so the cancel path below is the paused one
        QVERIFY(!token.holding());
        QCOMPARE(r.status, RunStatus::Cancelled);
        QCOMPARE(calls, 0);
    }

    void nanLossKeepsLastGoodWeights_data()
    {
        QTest::addColumn<bool>("viaGradient");
        QTest::newRow("NaN loss") << false;
        QTest::newRow("infinite gradient") << true;
    }
    void nanLossKeepsLastGoodWeights()
    {
        QFETCH(bool, viaGradient);
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const Data d = data();
        std::vector<torch::Tensor> beforeBad;
        auto step = [&](int s, int) {
            StepOutput o;
            auto loss = answerNll(m->forward(d.ids, d.images), d.labels);
            if (s == 3) {
                beforeBad = snapshot(m); // the weights after three good steps
                if (viaGradient) {
                    // Finite value (0), infinite gradient: d/dx sqrt(x) at 0.
                    auto p = m->tokEmb->weight;
                    loss = loss + (p - p.detach()).sum().sqrt() * 1.0;
                } else {
                    loss = loss * std::numeric_limits<double>::quiet_NaN();
                }
            }
            o.total = loss;
            o.terms.emplace_back("nll", loss);
            return o;
        };
        auto r = runTrainingLoop(m->parameters(), settings(10), step, {}, nullptr);
        QCOMPARE(r.status, RunStatus::Diverged);
        QCOMPARE(r.steps, 3);
        QVERIFY2(r.message.find("step 4") != std::string::npos, r.message.c_str());
        QVERIFY(sameWeights(snapshot(m), beforeBad));
    }

    void errorInAStepFailsKeepingWeights()
    {
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const Data d = data();
        std::vector<torch::Tensor> beforeBad;
        auto step = [&](int s, int) {
            if (s == 2) {
                beforeBad = snapshot(m);
                // A shape error inside LibTorch, as a bad batch or an out-of-memory would raise.
                m->forward(d.ids, d.images.slice(0, 0, 2));
            }
            StepOutput o;
            o.total = answerNll(m->forward(d.ids, d.images), d.labels);
            return o;
        };
        auto r = runTrainingLoop(m->parameters(), settings(10), step, {}, nullptr);
        QCOMPARE(r.status, RunStatus::Failed);
        QCOMPARE(r.steps, 2);
        QVERIFY2(r.message.find("step 3") != std::string::npos, r.message.c_str());
        QVERIFY2(r.message.find("frame #") == std::string::npos, r.message.c_str());
        QVERIFY(sameWeights(snapshot(m), beforeBad));
    }

    void loraTrainsOnlyAdapters()
    {
        auto m = makeVlm(tinyCard(), kVocab, 1);
        const auto before = snapshot(m);
        for (auto &p : m->parameters())
            p.set_requires_grad(false);
        m->enableLora(4, 8, 0.0, {"q", "v", "fc1"});
        auto params = m->loraParameters();
        QCOMPARE(params.size(), size_t(6)); // A and B on three linears of one layer
        const Data d = data();
        auto step = [&](int, int) {
            StepOutput o;
            o.total = answerNll(m->forward(d.ids, d.images), d.labels);
            return o;
        };
        auto r = runTrainingLoop(params, settings(10), step, {}, nullptr);
        QCOMPARE(r.status, RunStatus::Finished);
        QVERIFY(sameWeights(snapshot(m), before)); // base weights untouched
        QVERIFY(r.lastLosses.front().second < r.firstLosses.front().second);
        auto merged = m->mergedParameters();
        bool changed = false;
        for (size_t i = 0; i < merged.size(); ++i)
            changed = changed || !merged[i].second.equal(before[i]);
        QVERIFY(changed);
    }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "test_trainer.moc"
