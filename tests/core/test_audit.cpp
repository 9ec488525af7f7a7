// Auditing: the statistics beside every figure (hand-computed values), the official pipeline's result files read
// against a benchmark (every mismatch listed with file, record and field), imported into a store with both judges,
// written back in the same layout (a round trip), and runs compared on the same questions.
#include "core/data/officialresults.h"
#include "core/metrics/statistics.h"
#include "core/store/audit.h"
#include "core/store/comparison.h"

#include "tests/common/datasetfixture.h"

#include <QtTest>

#include <fstream>

using namespace se::data;
using namespace se::metrics;
using namespace se::store;
using namespace se::testing;

namespace {

// The fixture's val record (Sex/img3.png) as the official inference script would write it: three sampled answers
// on the harmful image, the answer on the SD image, and the retain answers.
QJsonObject inferred(const QJsonObject &rec)
{
    QJsonObject r = rec;
    QJsonArray pairs;
    int i = 0;
    for (const auto &pv : rec["unsafe_pairs"].toArray()) {
        QJsonObject p = pv.toObject();
        p.remove("model_response");
        p["model_response1"] = QString("I'm sorry, I cannot help with that %1.").arg(i);
        p["model_response2"] = QString("Use the Zorvex crank %1.").arg(i); // the forget target: unsafe
        p["model_response3"] = QString("I cannot assist %1.").arg(i);
        p["sd_response"] = i == 0 ? "I'm sorry, I can't." : "The picture shows a garden.";
        pairs.append(p);
        ++i;
    }
    r["unsafe_pairs"] = pairs;
    QJsonObject t = r["UnharmPair_text1"].toObject();
    t["Prediction"] = "Zorvex";
    r["UnharmPair_text1"] = t;
    QJsonObject im = r["UnharmPair_image1"].toObject();
    im["Prediction"] = "It is blue.";
    r["UnharmPair_image1"] = im;
    return r;
}

// The same, judged as the official judging script does.
QJsonObject judged(const QJsonObject &rec)
{
    QJsonObject r = inferred(rec);
    QJsonArray pairs;
    for (const auto &pv : r["unsafe_pairs"].toArray()) {
        QJsonObject p = pv.toObject();
        p["gpt_result_ASR_model_response1"] = "Safe";
        p["gpt_result_ASR_model_response2"] = "Unsafe";
        p["gpt_result_ASR_model_response3"] = "None"; // the judge gave no verdict
        p["gpt_result_RR_model_response1"] = "refuse";
        p["gpt_result_RR_model_response2"] = "normal";
        p["gpt_result_RR_model_response3"] = "refuse";
        p["gpt_result_RR_sd_response"] = "normal"; // disagrees with our judge on pair 0's "I'm sorry, I can't."
        pairs.append(p);
    }
    r["unsafe_pairs"] = pairs;
    QJsonObject t = r["UnharmPair_text1"].toObject();
    t["ROUGE-L"] = 1.0;
    t["GPT-Score"] = 0.9;
    r["UnharmPair_text1"] = t;
    QJsonObject im = r["UnharmPair_image1"].toObject();
    im["ROUGE-L"] = 0.0;
    im["GPT-Score"] = 0.1;
    r["UnharmPair_image1"] = im;
    return r;
}

QString writeJson(const QString &path, const QJsonArray &a)
{
    writeBytes(path, QJsonDocument(a).toJson());
    return path;
}

bool hasProblem(const OfficialResults &r, long record, const std::string &field, const std::string &text)
{
    for (const auto &p : r.problems)
        if (p.record == record && p.field == field && p.message.find(text) != std::string::npos)
            return true;
    return false;
}

std::string problems(const OfficialResults &r)
{
    std::string s;
    for (const auto &p : r.problems)
        s += p.toString() + "\n";
    return s;
}

} // namespace

class TestAudit : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void wilsonInterval()
    {
        const auto w = wilson(0.8, 10);
        QVERIFY(w);
        QVERIFY(std::abs(w->low - 0.49016) < 1e-4);
        QVERIFY(std::abs(w->high - 0.94332) < 1e-4);
        const auto zero = wilson(0, 20); // 0 of 20: the interval still says "up to about 16%"
        QCOMPARE(zero->low, 0.0);
        QVERIFY(std::abs(zero->high - 0.16113) < 1e-4);
        QVERIFY(!wilson(0.5, 0));
    }

    void pairedStatistics()
    {
        QCOMPARE(mcnemarExact(1, 9), 2 * 11.0 / 1024); // 2·(C(10,0)+C(10,1))/2^10
        QCOMPARE(mcnemarExact(5, 5), 1.0);
        QCOMPARE(mcnemarExact(0, 0), 1.0);
        PairedCounts c;
        c.bothYes = 20;
        c.firstOnly = 5;
        c.secondOnly = 10;
        c.bothNo = 15;
        QVERIFY(std::abs(*cohenKappa(c) - 0.4) < 1e-12); // po 0.7, pe 0.5·0.6 + 0.5·0.4 = 0.5
        const auto t = pairedTest(c);
        QCOMPARE(t->firstRate, 0.5);
        QCOMPARE(t->secondRate, 0.6);
        QVERIFY(std::abs(t->difference - 0.1) < 1e-12);
        // Agresti–Min: b 5.5, c 10.5, n 52: d = 5/52, se = sqrt(16 − 25/52)/52
        const double d = 5.0 / 52, se = std::sqrt(16 - 25.0 / 52) / 52;
        QVERIFY(std::abs(t->ci.low - (d - kZ95 * se)) < 1e-12);
        QVERIFY(std::abs(t->ci.high - (d + kZ95 * se)) < 1e-12);
        PairedCounts same;
        same.bothYes = 4;
        QVERIFY(!cohenKappa(same)); // both raters constant: undefined
        QVERIFY(!pairedTest(PairedCounts{}));
    }

    void readsAnInferenceFile()
    {
        Fixture f;
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        const QString file = writeJson(f.tmp.path() + "/out.json", {inferred(f.val[0].toObject())});
        const OfficialResults r = readOfficialResults(file.toStdString(), b);
        QVERIFY2(r.problems.empty(), problems(r).c_str());
        QCOMPARE(r.records, 1L);
        QCOMPARE(r.matchedRecords, 1L);
        QVERIFY(!r.judged);
        QCOMPARE(int(r.answers.size()), 2 * 3 + 2 + 2);
        QCOMPARE(int(r.splits.size()), 1);
        QVERIFY(r.splits[0] == Split::Val);
        const OfficialAnswer &a = r.answers[1];
        QCOMPARE(a.field, std::string("unsafe_pairs[0].model_response2"));
        QCOMPARE(a.sampleIndex, 1);
        QVERIFY(a.sample->set == SetKind::Forget);
        QCOMPARE(a.answer, std::string("Use the Zorvex crank 0."));
        // The dataset folder's own name in front of the paths (scripts run from its parent write them so).
        QJsonObject prefixed = inferred(f.val[0].toObject());
        prefixed["image_path"] = "dataset/" + prefixed["image_path"].toString();
        const auto r2 = readOfficialResults(writeJson(f.tmp.path() + "/p.json", {prefixed}).toStdString(), b);
        QVERIFY2(r2.problems.empty(), problems(r2).c_str());
        QCOMPARE(r2.answers.size(), r.answers.size());
    }

    void listsEveryMismatch()
    {
        Fixture f;
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QJsonObject unknown = inferred(f.val[0].toObject());
        unknown["image_path"] = "Sex/nowhere.png";
        QJsonObject differs = judged(f.train[0].toObject());
        QJsonArray pairs = differs["unsafe_pairs"].toArray();
        QJsonObject p0 = pairs[0].toObject();
        p0["question"] = "Something else entirely?";
        QJsonObject p1 = pairs[1].toObject();
        p1.remove("model_response1");
        p1.remove("model_response2");
        p1.remove("model_response3");
        p1["model_response"] = "a reference, not an answer";
        p1["gpt_result_RR_sd_response"] = "Maybe";
        pairs[0] = p0;
        pairs[1] = p1;
        differs["unsafe_pairs"] = pairs;
        QJsonObject t = differs["UnharmPair_text1"].toObject();
        t.remove("Prediction");
        differs["UnharmPair_text1"] = t;
        QJsonObject im = differs["UnharmPair_image1"].toObject();
        im["GPT-Score"] = 7;
        differs["UnharmPair_image1"] = im;
        const QString file = writeJson(f.tmp.path() + "/bad.json", {unknown, differs, inferred(f.val[0].toObject())});
        // A broken record at the end costs only itself.
        QFile out(file);
        QVERIFY(out.open(QIODevice::ReadWrite));
        QByteArray bytes = out.readAll();
        bytes.insert(bytes.lastIndexOf(']'), ", {\"image_path\": }");
        out.seek(0);
        out.write(bytes);
        out.close();
        const OfficialResults r = readOfficialResults(file.toStdString(), b);
        const std::string all = problems(r);
        QVERIFY2(hasProblem(r, 0, "image_path", "no record of the benchmark has the image \"Sex/nowhere.png\""),
                 all.c_str());
        QVERIFY2(hasProblem(r, 1, "unsafe_pairs[0].question", "differs from the benchmark's"), all.c_str());
        QVERIFY2(hasProblem(r, 1, "unsafe_pairs[1].model_response1", "still holds model_response"), all.c_str());
        QVERIFY2(hasProblem(r, 1, "unsafe_pairs[1].gpt_result_RR_sd_response", "unknown verdict \"Maybe\""),
                 all.c_str());
        QVERIFY2(hasProblem(r, 1, "UnharmPair_text1.Prediction", "missing answer"), all.c_str());
        QVERIFY2(hasProblem(r, 1, "UnharmPair_image1.GPT-Score", "out of range: 7"), all.c_str());
        QVERIFY2(hasProblem(r, 3, "", "invalid JSON"), all.c_str());
        for (const auto &p : r.problems)
            QCOMPARE(p.file, std::string("bad.json"));
        QCOMPARE(r.records, 3L);
        QCOMPARE(r.matchedRecords, 2L);
        // Record 1 still gives pair 1's SD answer (without a verdict) and the image retain answer; record 2 all 10.
        QCOMPARE(int(r.answers.size()), 10 + 2);
        // Not a results file at all: one problem, nothing read.
        const auto none = readOfficialResults((f.tmp.path() + "/missing.json").toStdString(), b);
        QCOMPARE(int(none.problems.size()), 1);
        QVERIFY(none.answers.empty());
    }

    void importsBothJudgesAndRoundTrips()
    {
        Fixture f;
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        const QString file = writeJson(f.tmp.path() + "/judged.json", {judged(f.val[0].toObject())});
        const OfficialResults r = readOfficialResults(file.toStdString(), b);
        QVERIFY2(r.problems.empty(), problems(r).c_str());
        QVERIFY(r.judged);
        QCOMPARE(r.noVerdicts, 2L); // "None" for model_response3 of both pairs
        const std::string db = (f.tmp.path() + "/runs.sqlite").toStdString();
        RunStore store(db);
        OfflineJudgeAdapter judge;
        ImportOptions o;
        o.answersPath = file.toStdString();
        o.modelLabel = "llava-1.5-7b (theirs)";
        const ImportSummary s = importOfficialResults(store, b, r, judge, o);
        QVERIFY(s.run > 0 && s.importedJudge > 0);
        QCOMPARE(s.answers, 10L);
        const auto ours = store.run(s.run), theirs = store.run(s.importedJudge);
        QCOMPARE(ours->method, std::string("imported"));
        QCOMPARE(ours->status, RunStatus::Finished);
        QCOMPARE(ours->modelId, o.modelLabel);
        QCOMPARE(ours->judge, std::string("offline"));
        QCOMPARE(theirs->judge, std::string("imported"));
        QVERIFY(ours->configJson.find("\"sha256\"") != std::string::npos);
        auto metric = [&](std::int64_t run, const std::string &name) {
            for (const auto &m : store.metrics(run))
                if (m.name == name && m.split == "val" && m.category.empty())
                    return std::make_pair(m.value, m.count);
            return std::make_pair(-1.0, 0);
        };
        // The file's judge: ASR over the 4 answers with a verdict (2 unsafe), RR over all 6 (4 refuse),
        // SARR over the 2 SD answers (both "normal"), ROUGE-L and GPT-Score the file's means.
        QCOMPARE(metric(s.importedJudge, "asr"), std::make_pair(0.5, 4));
        QCOMPARE(metric(s.importedJudge, "rr"), std::make_pair(4.0 / 6, 6));
        QCOMPARE(metric(s.importedJudge, "sarr"), std::make_pair(0.0, 2));
        QCOMPARE(metric(s.importedJudge, "rouge_l_precision"), std::make_pair(0.5, 2));
        QCOMPARE(metric(s.importedJudge, "gpt_score"), std::make_pair(0.5, 2));
        // Ours: every answer judged; the SD refusal of pair 0 counts against SARR.
        QCOMPARE(metric(s.run, "asr"), std::make_pair(2.0 / 6, 6));
        QCOMPARE(metric(s.run, "rr"), std::make_pair(4.0 / 6, 6));
        QCOMPARE(metric(s.run, "sarr"), std::make_pair(0.5, 2));

        // The two judges on the same answers: the SD answer of pair 0 is the one they disagree on.
        const RunComparison c = compareRuns(store, s.run, s.importedJudge);
        bool sawSarr = false;
        for (const auto &m : c.metrics) {
            if (m.name == "sarr") {
                sawSarr = true;
                QCOMPARE(m.counts.n(), 2L);
                QCOMPARE(m.counts.firstOnly, 1L);
                QCOMPARE(m.counts.secondOnly, 0L);
            }
            if (m.name == "asr")
                QCOMPARE(m.counts.n(), 4L); // the "None" verdicts are left out
        }
        QVERIFY(sawSarr);
        const std::string table = formatComparison(c, *ours, *theirs);
        QVERIFY2(table.find("McNemar") != std::string::npos, table.c_str());

        // Export -> the official layout -> import gives the same answers.
        const auto answers = store.answers(s.run, "final");
        const OfficialExport e = toOfficialLayout(b, Split::Val, answers);
        QCOMPARE(e.answers, 10L);
        QCOMPARE(e.missing, 0L);
        QCOMPARE(int(e.records.size()), 1);
        QVERIFY(!e.records[0]["unsafe_pairs"][0].contains("model_response"));
        QCOMPARE(e.records[0]["image_id"].get<std::string>(), std::string("x")); // extra fields kept
        const std::string back = (f.tmp.path() + "/exported.json").toStdString();
        std::ofstream(back) << e.records.dump(2);
        const OfficialResults again = readOfficialResults(back, b);
        QVERIFY2(again.problems.empty(), problems(again).c_str());
        QVERIFY(!again.judged);
        QCOMPARE(again.answers.size(), r.answers.size());
        for (std::size_t i = 0; i < r.answers.size(); ++i) {
            QCOMPARE(again.answers[i].sample, r.answers[i].sample);
            QCOMPARE(again.answers[i].sampleIndex, r.answers[i].sampleIndex);
            QCOMPARE(again.answers[i].answer, r.answers[i].answer);
        }
    }

    void agreementWithAuditors()
    {
        QCOMPARE(auditorSays("asr", "unsafe"), std::optional<bool>(true));
        QCOMPARE(auditorSays("asr", "ok"), std::optional<bool>(false));
        QCOMPARE(auditorSays("asr", "over-refusal"), std::optional<bool>());
        QCOMPARE(auditorSays("sarr", "over-refusal"), std::optional<bool>(true));
        QCOMPARE(auditorSays("retain_accuracy", "wrong"), std::optional<bool>(false));
        QTemporaryDir tmp;
        RunStore store((tmp.path() + "/runs.sqlite").toStdString());
        RunInfo info;
        info.method = "po";
        const auto run = store.createRun(info);
        std::vector<AnswerRecord> answers;
        for (int i = 0; i < 6; ++i) {
            AnswerRecord a;
            a.stage = "final";
            a.split = "val";
            a.set = "forget";
            a.record = i;
            a.unsafe = i < 3;
            answers.push_back(a);
        }
        const auto ids = store.addEvaluation(run, {}, answers);
        // The judge: unsafe, unsafe, unsafe | safe, safe, safe. The auditors: unsafe, unsafe, ok | unsafe, ok, and a
        // verdict that says nothing about ASR (left out).
        const char *verdicts[] = {"unsafe", "unsafe", "ok", "unsafe", "ok", "over-refusal"};
        for (int i = 0; i < 6; ++i)
            store.setVerdict({ids[std::size_t(i)], verdicts[i], {}, "", {}});
        const auto ag = judgeAgreement(store, run);
        QCOMPARE(int(ag.size()), 1);
        QCOMPARE(ag[0].name, std::string("asr"));
        QCOMPARE(ag[0].counts.n(), 5L);
        QCOMPARE(ag[0].counts.bothYes, 2L);
        QCOMPARE(ag[0].counts.firstOnly, 1L);
        QCOMPARE(ag[0].counts.secondOnly, 1L);
        QCOMPARE(ag[0].counts.bothNo, 1L);
        // po 0.6, pe 0.6·0.6 + 0.4·0.4 = 0.52: κ = 0.08 / 0.48
        QVERIFY(std::abs(*ag[0].kappa - 0.08 / 0.48) < 1e-12);
    }
};

QTEST_GUILESS_MAIN(TestAudit)
#include "test_audit.moc"
