// `safeeraser import`, `export --format safeeraser`, `compare` and the intervals of `report`, run as a user would:
// a results file of the official pipeline imported with its mismatches listed, exported back and imported again.
#include "tests/common/cli.h"
#include "tests/common/datasetfixture.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

using namespace se::testing;

namespace {

// The fixture's val record as the official inference (and, with `judge`, judging) scripts would write it.
QJsonObject answered(const QJsonObject &rec, bool judge)
{
    QJsonObject r = rec;
    QJsonArray pairs;
    for (const auto &pv : rec["unsafe_pairs"].toArray()) {
        QJsonObject p = pv.toObject();
        p.remove("model_response");
        p["model_response1"] = "I'm sorry, I cannot help with that.";
        p["model_response2"] = p["question"].toString() + " Use the Zorvex crank.";
        p["model_response3"] = "Sure. " + rec["unsafe_pairs"].toArray()[0].toObject()["model_response"].toString();
        p["sd_response"] = "The picture shows a garden with a path.";
        if (judge) {
            p["gpt_result_ASR_model_response1"] = "Safe";
            p["gpt_result_ASR_model_response2"] = "Unsafe";
            p["gpt_result_ASR_model_response3"] = "exception";
            p["gpt_result_RR_model_response1"] = "refuse";
            p["gpt_result_RR_model_response2"] = "normal";
            p["gpt_result_RR_model_response3"] = "normal";
            p["gpt_result_RR_sd_response"] = "normal";
        }
        pairs.append(p);
    }
    r["unsafe_pairs"] = pairs;
    for (const char *k : {"UnharmPair_text1", "UnharmPair_image1"}) {
        QJsonObject u = r[k].toObject();
        u["Prediction"] = "Red.";
        if (judge) {
            u["ROUGE-L"] = 0.5;
            u["GPT-Score"] = 0.75;
        }
        r[k] = u;
    }
    return r;
}

QJsonDocument json(const QByteArray &out)
{
    QJsonParseError e;
    const QJsonDocument d = QJsonDocument::fromJson(out, &e);
    if (e.error != QJsonParseError::NoError)
        qWarning() << "not JSON:" << out;
    return d;
}

} // namespace

class TestCliAudit : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void importExportCompare()
    {
        Fixture f;
        f.write();
        const QString db = f.tmp.path() + "/runs.sqlite";
        const QString file = f.tmp.path() + "/judged.json";
        writeBytes(file, QJsonDocument(QJsonArray{answered(f.val[0].toObject(), true)}).toJson());
        CliResult r = runCli({"import", "--store", db, "--data", f.root, "--answers", file, "--model-label", "theirs"});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY2(r.out.contains("imported 10 answers of 1 of 1 records"), r.out.constData());
        QVERIFY2(r.out.contains("run 2 (judge imported, 2 answers without a verdict)"), r.out.constData());

        // report: every rate with its interval; the file's GPT-Score.
        r = runCli({"report", "--store", db, "--json"});
        QCOMPARE(r.code, 0);
        const QJsonArray runs = json(r.out).array();
        QCOMPARE(runs.size(), 2);
        const QJsonObject theirs = runs[1].toObject()["metrics"].toObject();
        QCOMPARE(theirs["gpt_score"].toDouble(), 0.75);
        const QJsonObject gen = theirs["generality"].toObject();
        QCOMPARE(gen["asr"].toDouble(), 0.5); // 2 of the 4 answers with a verdict
        QCOMPARE(gen["asr_n"].toInt(), 4);
        const QJsonArray ci = gen["asr_ci"].toArray();
        QCOMPARE(ci.size(), 2);
        QVERIFY(ci[0].toDouble() > 0.14 && ci[0].toDouble() < 0.16); // Wilson, 2 of 4: [0.150, 0.850]
        QVERIFY(ci[1].toDouble() > 0.84 && ci[1].toDouble() < 0.86);
        r = runCli({"report", "--store", db});
        QVERIFY2(r.out.contains("95% CI") && r.out.contains("GPT-Score (retain, val) 0.750"), r.out.constData());

        // export -> the official layout -> import: the same answers (compare finds no discordant pair).
        const QString exported = f.tmp.path() + "/ours.json";
        r = runCli({"export", "--store", db, "--run", "1", "--format", "safeeraser", "--out", exported});
        QVERIFY2(r.code == 0, r.err.constData());
        r = runCli({"import", "--store", db, "--data", f.root, "--answers", exported, "--name", "round trip"});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY2(r.out.contains("as run 3") && !r.out.contains("own verdicts"), r.out.constData());
        r = runCli({"compare", "--store", db, "--runs", "1,3", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonArray ms = json(r.out).object()["metrics"].toArray();
        QVERIFY(!ms.isEmpty());
        for (const auto &m : ms) {
            QCOMPARE(m.toObject()["a_only"].toInt(), 0);
            QCOMPARE(m.toObject()["b_only"].toInt(), 0);
            QCOMPARE(m.toObject()["p_value"].toDouble(), 1.0);
        }
        // Our judge against the file's: text with the test named.
        r = runCli({"compare", "--store", db, "--runs", "1,2"});
        QVERIFY2(r.code == 0 && r.out.contains("McNemar"), r.out.constData());

        // Never over the benchmark's own files.
        r = runCli(
            {"export", "--store", db, "--run", "1", "--format", "safeeraser", "--out", f.root + "/all_val.json"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("benchmark"), r.err.constData());
        QVERIFY(QFile(f.root + "/all_val.json").size() > 0);
        r = runCli({"compare", "--store", db, "--runs", "1,x"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("\"x\" is not a run id"), r.err.constData());
    }

    void mismatchesAreListed()
    {
        Fixture f;
        f.write();
        const QString db = f.tmp.path() + "/runs.sqlite";
        QJsonObject bad = answered(f.val[0].toObject(), true);
        bad["image_path"] = "Sex/other.png";
        QJsonObject odd = answered(f.train[1].toObject(), true);
        QJsonArray pairs = odd["unsafe_pairs"].toArray();
        QJsonObject p = pairs[0].toObject();
        p["gpt_result_ASR_model_response1"] = "Dangerous";
        pairs[0] = p;
        odd["unsafe_pairs"] = pairs;
        const QString file = f.tmp.path() + "/mixed.json";
        writeBytes(file, QJsonDocument(QJsonArray{bad, odd}).toJson());
        CliResult r = runCli({"import", "--store", db, "--data", f.root, "--answers", file});
        QCOMPARE(r.code, 1); // imported, with problems
        QVERIFY2(r.err.contains("mixed.json: record 0: image_path: no record of the benchmark has the image"),
                 r.err.constData());
        QVERIFY2(r.err.contains("mixed.json: record 1: unsafe_pairs[0].gpt_result_ASR_model_response1: unknown "
                                "verdict \"Dangerous\""),
                 r.err.constData());
        QVERIFY2(r.out.contains("imported 10 answers of 1 of 2 records"), r.out.constData());
        // Nothing that matches: nothing written.
        writeBytes(file, QJsonDocument(QJsonArray{bad}).toJson());
        const QString db2 = f.tmp.path() + "/none.sqlite";
        r = runCli({"import", "--store", db2, "--data", f.root, "--answers", file});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("the store is unchanged"), r.err.constData());
        QVERIFY(!QFile::exists(db2));
        // Judge prompts are for the LLM judge; a bad prompts file is named.
        const QString prompts = f.tmp.path() + "/prompts.json";
        writeBytes(prompts, R"({"asr": "{prediction}", "rr": "{prediction}"})");
        r = runCli({"import", "--store", db2, "--data", f.root, "--answers", file, "--judge-prompts", prompts});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("prompts are for the LLM judge"), r.err.constData());
        r = runCli({"import", "--store", db2, "--data", f.root, "--answers", file, "--judge", "llm", "--llm-url",
                    "http://127.0.0.1:9/v1", "--llm-model", "m", "--judge-prompts", prompts});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("prompts.json: rr_sd: missing"), r.err.constData());
        QVERIFY(!QFile::exists(db2));
        // The store is never the answers file.
        r = runCli({"import", "--store", file, "--data", f.root, "--answers", file});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--answers"), r.err.constData());
        // Found by a hostile probe: a million junk lines took 3 minutes and printed a million lines. Now the reader
        // is linear and the listing stops after --max-shown (default 50), counting the rest.
        QByteArray junk;
        for (int i = 0; i < 300; ++i)
            junk += "junk line " + QByteArray::number(i) + " {not json\n";
        writeBytes(file, junk);
        r = runCli({"import", "--store", db2, "--data", f.root, "--answers", file});
        QCOMPARE(r.code, 1);
        QCOMPARE(r.err.count("not imported: mixed.json: record"), 50);
        QVERIFY2(r.err.contains("… and 250 more problems (--max-shown 0 lists all)"), r.err.constData());
        QVERIFY2(r.err.contains("(300 problems above); the store is unchanged"), r.err.constData());
        r = runCli({"import", "--store", db2, "--data", f.root, "--answers", file, "--max-shown", "0"});
        QCOMPARE(r.err.count("not imported: mixed.json: record"), 300);
    }
};

QTEST_GUILESS_MAIN(TestCliAudit)
#include "test_cli_audit.moc"
