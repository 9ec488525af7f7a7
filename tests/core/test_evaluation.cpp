// Evaluation plans and metrics on hand-made answers: ASR, RR, SARR, retain ROUGE-L and accuracy, per category.
#include "core/metrics/evaluation.h"
#include "tests/common/datasetfixture.h"

#include <set>

using namespace se::metrics;
using namespace se::testing;

class TestEvaluation : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void plan()
    {
        Fixture f;
        f.write();
        const auto b = se::data::readBenchmark(f.root.toStdString());
        EvalOptions o;
        // train: 6 forget + 6 pd (3 samples each) + 6 retain; val: 2 + 2 (3 samples) + 2
        QCOMPARE(int(planEvaluation(b, o).size()), 6 * 3 + 6 * 3 + 6 + 2 * 3 + 2 * 3 + 2);
        o.greedy = true;
        QCOMPARE(int(planEvaluation(b, o).size()), 6 + 6 + 6 + 2 + 2 + 2);
        o.train = false;
        QCOMPARE(int(planEvaluation(b, o).size()), 6);
        // A subset is fixed by the seed, and another seed picks another subset.
        o.train = true;
        o.subsetPerSet = 2;
        const auto a1 = planEvaluation(b, o), a2 = planEvaluation(b, o);
        QCOMPARE(int(a1.size()), 2 * 3 * 2);
        for (std::size_t i = 0; i < a1.size(); ++i)
            QCOMPARE(a1[i].sample, a2[i].sample);
        bool differs = false;
        for (std::uint64_t seed = 1; seed < 20 && !differs; ++seed) {
            EvalOptions other = o;
            other.seed = seed;
            const auto c = planEvaluation(b, other);
            for (std::size_t i = 0; i < c.size(); ++i)
                differs |= c[i].sample != a1[i].sample;
        }
        QVERIFY(differs);
        // Each sample of a question has its own generation seed; the same question keeps its seed.
        o.greedy = false;
        o.subsetPerSet = 0;
        const auto s = planEvaluation(b, o);
        QVERIFY(s[0].seed != s[1].seed);
        QCOMPARE(s[0].seed, planEvaluation(b, o)[0].seed);
    }

    void metrics()
    {
        Fixture f;
        f.write();
        const auto b = se::data::readBenchmark(f.root.toStdString());
        EvalOptions o;
        o.greedy = true;
        o.train = false; // val: 1 record (Sex) with 2 forget, 2 pd, 2 retain
        const auto items = planEvaluation(b, o);
        QCOMPARE(int(items.size()), 6);
        std::vector<std::string> answers;
        for (const auto &it : items) {
            const auto &s = *it.sample;
            if (s.set == se::data::SetKind::Forget)
                answers.push_back(s.pair == 0 ? s.answer : "I'm sorry, I can't help with that.");
            else if (s.set == se::data::SetKind::PromptDecouple)
                answers.push_back(s.pair == 0 ? s.answer : "I cannot assist with this request.");
            else
                answers.push_back(s.pair == 0 ? s.answer : "blue blue blue");
        }
        OfflineJudgeAdapter judge;
        const EvalResult r = scoreEvaluation(items, answers, judge, "final", 7);
        QCOMPARE(int(r.answers.size()), 6);
        QCOMPARE(r.metric(names::asr), 0.5);
        QCOMPARE(r.metric(names::rr), 0.5);
        QCOMPARE(r.metric(names::sarr), 0.5);
        QCOMPARE(r.metric(names::pdRefusal), 0.5);
        QCOMPARE(r.metric(names::retainAccuracy), 0.5);
        QCOMPARE(r.metric(names::rougeP), 0.5); // 1.0 and 0.0
        QCOMPARE(r.metric(names::asr, "val", "Sex"), 0.5);
        QCOMPARE(r.metric(names::asr, "train"), -1.0); // not evaluated
        for (const auto &m : r.metrics) {
            QCOMPARE(QString::fromStdString(m.judge), QString("offline"));
            QCOMPARE(QString::fromStdString(m.stage), QString("final"));
            QCOMPARE(m.step, 7);
        }
        const auto &first = r.answers[0];
        QCOMPARE(QString::fromStdString(first.set), QString("forget"));
        QVERIFY(first.unsafe && !first.refusal);
        QCOMPARE(first.rougeRecall, 1.0);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 scoreEvaluation(items, std::vector<std::string>(2), judge, "final", 0));
    }

    void metricTable()
    {
        // Every row is computed: the metrics of one judged answer per set name each row (and nothing else).
        std::vector<se::store::AnswerRecord> answers(3);
        answers[0].set = "forget";
        answers[1].set = "pd";
        answers[2].set = "retain";
        answers[2].gptScore = 0.5;
        for (auto &a : answers)
            a.split = "val";
        std::set<std::string> computed;
        for (const auto &m : metricsOf(answers, "final", 0, "offline"))
            computed.insert(m.name);
        std::set<std::string> rows;
        for (const auto &m : se::metrics::metricTable()) {
            rows.insert(m.name);
            QVERIFY2(m.rate() != (m.score != nullptr), m.name); // a rate or a mean, not both
            QCOMPARE(findMetric(m.name), &m);
        }
        QCOMPARE(computed, rows);
        QVERIFY(!findMetric("no such metric"));
        // How people see them: titles, headers and values from the row.
        const auto *asr = findMetric(names::asr);
        QCOMPARE(asr->title("train"), std::string("ASR efficacy (forget, train) — lower is better"));
        QCOMPARE(asr->header("val"), std::string("Generality ASR"));
        QCOMPARE(asr->format(0.125), std::string("12.5%"));
        QCOMPARE(asr->format(-1), std::string("-"));
        QCOMPARE(findMetric(names::gptScore)->format(0.8311), std::string("0.831"));
        QCOMPARE(findMetric(names::gptScore)->title("val"), std::string("GPT-Score (retain, val; LLM judge)"));
        // The results table's and report's columns: efficacy (train) first, then the val figures, in table order.
        std::vector<std::string> headers;
        for (const auto &c : tabledMetrics())
            headers.push_back(c.metric->header(c.split));
        const std::vector<std::string> expected{"Efficacy ASR",  "Efficacy RR", "Generality ASR",
                                                "Generality RR", "SARR",        "ROUGE-L P",
                                                "ROUGE-L F1",    "Retain acc.", "GPT-Score"};
        QCOMPARE(headers, expected);
        // The rates are the rows with a verdict to count.
        for (const auto &m : binaryMetrics())
            QVERIFY(m.rate());
    }
};

QTEST_GUILESS_MAIN(TestEvaluation)
#include "test_evaluation.moc"
