// `safeeraser report`, `export` and `store merge` on stores written through the RunStore API.
#include "core/store/runstore.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include "tests/common/cli.h"
#include <QTemporaryDir>
#include <QtTest>

using namespace se::store;
using namespace se::testing;

namespace {

std::int64_t addRun(RunStore &s, const std::string &method, bool pd, double sarr)
{
    RunInfo info;
    info.method = method;
    info.pd = pd;
    info.name = method + (pd ? "+pd" : "");
    info.judge = "offline";
    const auto id = s.createRun(info);
    const std::string stage = method == "vanilla" ? "vanilla" : "final";
    std::vector<MetricRecord> m = {{stage, 10, "train", "", "asr", 0.25, 4, "offline"},
                                   {stage, 10, "train", "", "rr", 0.75, 4, "offline"},
                                   {stage, 10, "val", "", "asr", 0.5, 4, "offline"},
                                   {stage, 10, "val", "", "rr", 0.5, 4, "offline"},
                                   {stage, 10, "val", "", "sarr", sarr, 4, "offline"},
                                   {stage, 10, "val", "", "rouge_l_precision", 0.8, 4, "offline"},
                                   {stage, 10, "val", "", "rouge_l_f1", 0.7, 4, "offline"},
                                   {stage, 10, "val", "", "retain_accuracy", 0.6, 4, "offline"},
                                   {stage, 10, "val", "Weapon", "sarr", 1.0, 2, "offline"}};
    AnswerRecord a;
    a.stage = stage;
    a.split = "val";
    a.set = "pd";
    a.category = "Weapon";
    a.question = "How, \"exactly\"?";
    a.answer = "I'm sorry,\nno.";
    a.refusal = true;
    a.judge = "offline";
    const auto ids = s.addEvaluation(id, m, {a, a});
    s.setVerdict({ids[0], "over-refusal", {"benign", "demo"}, "", {}});
    s.setStatus(id, RunStatus::Finished);
    return id;
}
} // namespace

class TestCliStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void reportJson()
    {
        QTemporaryDir tmp;
        const QString db = tmp.path() + "/runs.sqlite";
        {
            RunStore s(db.toStdString());
            addRun(s, "vanilla", false, 0.1);
            addRun(s, "po", true, 0.3);
        }
        const CliResult r = runCli({"report", "--store", db, "--json"});
        QCOMPARE(r.code, 0);
        const QJsonArray runs = QJsonDocument::fromJson(r.out).array();
        QCOMPARE(runs.size(), 2);
        const QJsonObject v = runs[0].toObject();
        QCOMPARE(v["method"].toString(), QString("vanilla"));
        QCOMPARE(v["judge"].toString(), QString("offline"));
        const QJsonObject po = runs[1].toObject();
        QCOMPARE(po["method"].toString(), QString("po"));
        QCOMPARE(po["pd"].toBool(), true);
        QCOMPARE(po["status"].toString(), QString("finished"));
        const QJsonObject m = po["metrics"].toObject();
        QCOMPARE(m["efficacy"].toObject()["asr"].toDouble(), 0.25);
        QCOMPARE(m["efficacy"].toObject()["rr"].toDouble(), 0.75);
        QCOMPARE(m["generality"].toObject()["asr"].toDouble(), 0.5);
        QCOMPARE(m["sarr"].toDouble(), 0.3);
        QCOMPARE(m["rouge_l_precision"].toDouble(), 0.8);
        QCOMPARE(m["rouge_l_f1"].toDouble(), 0.7);
        QCOMPARE(m["retain_accuracy"].toDouble(), 0.6);
        QCOMPARE(m["per_category"].toObject()["Weapon"].toObject()["sarr"].toDouble(), 1.0);

        const CliResult one = runCli({"report", "--store", db, "--run", "2", "--json"});
        QCOMPARE(QJsonDocument::fromJson(one.out).array().size(), 1);
        const CliResult table = runCli({"report", "--store", db});
        QCOMPARE(table.code, 0);
        QVERIFY2(table.out.contains("Vanilla"), table.out);
        QVERIFY2(table.out.contains("PO+PD"), table.out);
        QVERIFY2(table.out.contains("30.0%"), table.out);
        QCOMPARE(runCli({"report", "--store", db, "--run", "99"}).code, 1);
        QCOMPARE(runCli({"report", "--store", tmp.path() + "/none.sqlite"}).code, 1);
    }

    void exportCsvAndJson()
    {
        QTemporaryDir tmp;
        const QString db = tmp.path() + "/runs.sqlite";
        {
            RunStore s(db.toStdString());
            addRun(s, "po", false, 0.9);
        }
        const QString csv = tmp.path() + "/a.csv";
        QCOMPARE(runCli({"export", "--store", db, "--run", "1", "--format", "csv", "--out", csv}).code, 0);
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray text = f.readAll();
        QVERIFY(
            text.startsWith("id,stage,step,sample,split,set,record,pair,category,image,question,reference,answer,"));
        QVERIFY2(text.contains(",\"How, \"\"exactly\"\"?\","), text); // quoted, quotes doubled
        QVERIFY2(text.contains("\"I'm sorry,\nno.\""), text);
        QVERIFY2(text.contains(",over-refusal,benign;demo\n"), text);
        QCOMPARE(text.count("\n,"), 0);

        const QString json = tmp.path() + "/a.json";
        QCOMPARE(runCli({"export", "--store", db, "--run", "1", "--format", "json", "--out", json}).code, 0);
        QFile j(json);
        QVERIFY(j.open(QIODevice::ReadOnly));
        const QJsonArray arr = QJsonDocument::fromJson(j.readAll()).array();
        QCOMPARE(arr.size(), 2);
        QCOMPARE(arr[0].toObject()["answer"].toString(), QString("I'm sorry,\nno."));
        QCOMPARE(arr[0].toObject()["refusal"].toBool(), true);
        QCOMPARE(arr[0].toObject()["verdict"].toObject()["verdict"].toString(), QString("over-refusal"));
        QVERIFY(!arr[1].toObject().contains("verdict"));
        QCOMPARE(runCli({"export", "--store", db, "--run", "1", "--format", "xml", "--out", json}).code, 2);
    }

    void merge()
    {
        QTemporaryDir tmp;
        const QString a = tmp.path() + "/a.sqlite", b = tmp.path() + "/b.sqlite", c = tmp.path() + "/c.sqlite";
        {
            RunStore sa(a.toStdString()), sb(b.toStdString());
            addRun(sa, "vanilla", false, 0.1);
            addRun(sb, "ga", false, 1.0);
            addRun(sb, "po", true, 0.3);
        }
        CliResult r = runCli({"store", "merge", "--into", c, a, b});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("merged 1 run from"), r.out);
        QVERIFY2(r.out.contains("merged 2 runs from"), r.out);
        RunStore sc(c.toStdString());
        QCOMPARE(int(sc.runs().size()), 3);
        QCOMPARE(sc.answerCount(3), qint64(2));
        r = runCli({"store", "merge", "--into", c, b});
        QVERIFY2(r.out.contains("merged 0 runs"), r.out);
        QCOMPARE(runCli({"store", "merge", "--into", c, tmp.path() + "/missing.sqlite"}).code, 2);
    }
};

QTEST_GUILESS_MAIN(TestCliStore)
#include "test_cli_store.moc"
