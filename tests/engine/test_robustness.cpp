// The robustness audit (core/unlearn/robustness.h) on a tiny benchmark and briefly trained models: every attack is
// asked and judged on the same questions, the forget targets' likelihood is compared between a run and its start
// model (a gradient-ascent run must have made them less likely), relearning is measured on its schedule, and the
// audit is stored with the run, replacing an earlier one. Behaviour, not quality.
#include <torch/torch.h>

#include "core/data/generator.h"
#include "core/store/runstore.h"
#include "core/unlearn/robustness.h"
#include "core/unlearn/runservice.h"
#include "tests/common/chatserver.h"
#include "tests/common/cli.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace se::engine;

class TestRobustness : public QObject
{
    Q_OBJECT
    QTemporaryDir m_tmp;
    std::string m_data, m_model, m_store;
    std::int64_t m_gaRun = 0, m_vanillaRun = 0;

    std::string write(const QString &name, const std::string &text) const
    {
        const std::string path = (m_tmp.path() + "/" + name).toStdString();
        std::ofstream(path) << text;
        return path;
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_data = (m_tmp.path() + "/bench").toStdString();
        se::data::GeneratorOptions g;
        g.records = 24;
        se::data::generateBenchmark(m_data, g);
        VanillaConfig v;
        v.dataDir = m_data;
        v.outFile = (m_tmp.path() + "/vanilla.safetensors").toStdString();
        v.train.steps = 40;
        v.train.batchSize = 16;
        QCOMPARE(int(trainVanilla(v).status), int(RunStatus::Finished));
        m_model = v.outFile;
        m_store = (m_tmp.path() + "/runs.sqlite").toStdString();
        RunRequest r;
        r.storePath = m_store;
        r.unlearn.dataDir = m_data;
        r.unlearn.modelFile = m_model;
        r.unlearn.method = se::unlearn::Method::GA;
        r.unlearn.train = UnlearnConfig::defaults();
        r.unlearn.train.steps = 15;
        r.unlearn.train.batchSize = 8;
        r.eval.greedy = true;
        r.eval.subsetPerSet = 4;
        const RunOutcome out = executeRun(r);
        QCOMPARE(int(out.status), int(RunStatus::Finished));
        m_gaRun = out.runId;
        m_vanillaRun = out.vanillaRunId;
    }

    void auditsARun()
    {
        AuditOptions o;
        o.storePath = m_store;
        o.run = m_gaRun;
        o.questions = 5;
        o.relearnSteps = 4;
        o.relearnEvery = 2;
        std::vector<std::string> log;
        const AuditReport r = auditRun(o, [&](const std::string &l) { log.push_back(l); });
        // Every attack: the original, each rephrasing, each image perturbation, on the same 5 questions.
        QCOMPARE(r.attacks.front().name, std::string("original"));
        const size_t expected = 1 + defaultAttackTemplates().size() + 5;
        QCOMPARE(r.attacks.size(), expected);
        for (const auto &a : r.attacks) {
            QCOMPARE(a.n, 5);
            QVERIFY(a.asr >= 0 && a.asr <= 1 && a.rr >= 0 && a.rr <= 1);
            QVERIFY(a.vanillaAsr >= 0 && a.vanillaAsr <= 1 && a.vanillaRr >= 0 && a.vanillaRr <= 1);
        }
        QCOMPARE(r.attacks.back().name, std::string("image:mirror"));
        // Gradient ascent on the forget targets made them less likely than under the model it started from.
        QVERIFY2(r.runNll > r.vanillaNll, qPrintable(QString("run %1, start %2").arg(r.runNll).arg(r.vanillaNll)));
        QVERIFY(!r.nllByCategory.empty());
        // Relearning measured at 0 (the run itself), every 2 steps, and at its end; on retain data, and on other
        // records' forget targets.
        for (const auto *curve : {&r.relearn, &r.relearnTargets}) {
            QCOMPARE(int(curve->size()), 3);
            QCOMPARE((*curve)[0].step, 0);
            QCOMPARE((*curve)[1].step, 2);
            QCOMPARE((*curve)[2].step, 4);
            QCOMPARE((*curve)[0].targetNll, r.runNll);
            QCOMPARE((*curve)[0].asr, r.attacks.front().asr);
        }
        // Fine-tuning on forget targets (of all_train) makes the audited all_val targets, written alike, likelier
        // again than after the gradient ascent.
        QVERIFY2(r.relearnTargets.back().targetNll < r.runNll,
                 qPrintable(QString("%1 -> %2").arg(r.runNll).arg(r.relearnTargets.back().targetNll)));
        // Stored with the run; an audit again replaces it (same rows, not twice as many).
        se::store::RunStore store(m_store, true);
        const auto audit = store.metrics(m_gaRun, "audit"), relearn = store.metrics(m_gaRun, "relearn");
        // ASR and RR of the run and of its start model beside it, per attack; the two NLLs overall and per category.
        QCOMPARE(audit.size(), 4 * expected + 2 + 2 * r.nllByCategory.size());
        QCOMPARE(relearn.size(), size_t(18));
        o.relearnSteps = 0;
        o.modality = false;
        const AuditReport again = auditRun(o);
        QCOMPARE(again.attacks.size(), expected - 5);
        QCOMPARE(again.attacks.front().asr, r.attacks.front().asr); // greedy: the same answers
        se::store::RunStore after(m_store, true);
        QCOMPARE(after.metrics(m_gaRun, "relearn").size(), size_t(0));
        QCOMPARE(after.metrics(m_gaRun, "audit").size(), 4 * (expected - 5) + 2 + 2 * r.nllByCategory.size());
        // The JSON of the issue's shape.
        const auto j = nlohmann::json::parse(auditJson(r));
        QVERIFY(j["attacks"]["rephrase:roleplay"].contains("asr"));
        QVERIFY(j["attacks"]["original"]["vanilla"].contains("rr"));
        // Each rate with its 95% Wilson interval over the n questions.
        for (auto it = j["attacks"].begin(); it != j["attacks"].end(); ++it) {
            const auto &a = it.value();
            QVERIFY2(a["asr_ci"].is_array() && a["asr_ci"][0].get<double>() <= a["asr"].get<double>() &&
                         a["asr"].get<double>() <= a["asr_ci"][1].get<double>(),
                     it.key().c_str());
            QVERIFY(a["rr_ci"][1].get<double>() - a["rr_ci"][0].get<double>() > 0.1); // 5 questions: wide
        }
        QCOMPARE(int(j["relearn"].size()), 3);
        QCOMPARE(int(j["relearn_targets"].size()), 3);
        // No model that never learned the targets was given, and the run started from a checkpoint: learning afresh
        // is not measured, and the audit says so.
        QVERIFY(r.relearnAfresh.empty());
        QVERIFY(j["relearn_afresh"].is_null());
        QVERIFY2(r.afreshNote.find("--without-forget") != std::string::npos, r.afreshNote.c_str());
        QVERIFY(formatAudit(r).find("learning afresh not measured") != std::string::npos);
        QVERIFY(j["target_nll"]["run"].get<double>() > j["target_nll"]["vanilla"].get<double>());
        QVERIFY(formatAudit(r).find("image:blank") != std::string::npos);
    }

    void ownTemplates()
    {
        const std::string file = write("attacks.txt", "# mine\nplain: {question}\n\npolite: Please, {question}\n");
        const auto t = readAttackTemplates(file);
        QCOMPARE(int(t.size()), 2);
        QCOMPARE(t[1].wrapping, std::string("Please, {question}"));
        AuditOptions o;
        o.storePath = m_store;
        o.run = m_gaRun;
        o.questions = 3;
        o.attacksFile = file;
        o.modality = false;
        o.likelihood = false;
        o.vanilla = false;
        o.relearnSteps = 0;
        const AuditReport r = auditRun(o);
        QCOMPARE(r.attacks[0].vanillaAsr, -1.0); // not asked
        QCOMPARE(r.runNll, -1.0);
        QCOMPARE(int(r.attacks.size()), 3);
        // {question} alone asks the original question: the same verdicts.
        QCOMPARE(r.attacks[1].name, std::string("rephrase:plain"));
        QCOMPARE(r.attacks[1].asr, r.attacks[0].asr);
        QCOMPARE(r.attacks[1].rr, r.attacks[0].rr);
        // The default list round-trips through the file format.
        const std::string defaults = write("defaults.txt", formatAttackTemplates(defaultAttackTemplates()));
        QCOMPARE(readAttackTemplates(defaults).size(), defaultAttackTemplates().size());
    }

    void learningAfresh()
    {
        // A model that never learned the forget targets (train-vanilla --without-forget) learns them afresh with the
        // same steps on the same targets, beside the run relearning them.
        VanillaConfig v;
        v.dataDir = m_data;
        v.outFile = (m_tmp.path() + "/never.safetensors").toStdString();
        v.withoutForget = true;
        v.train.steps = 40;
        v.train.batchSize = 16;
        QCOMPARE(int(trainVanilla(v).status), int(RunStatus::Finished));
        AuditOptions o;
        o.storePath = m_store;
        o.run = m_gaRun;
        o.questions = 5;
        o.modality = false;
        o.relearnSteps = 4;
        o.relearnEvery = 2;
        o.relearnTargets = 8;
        o.baseline = v.outFile;
        const AuditReport r = auditRun(o);
        QVERIFY(r.afreshNote.empty());
        QCOMPARE(r.baseline, v.outFile);
        QCOMPARE(int(r.relearnAfresh.size()), 3);
        QCOMPARE(r.relearnAfresh[2].step, 4);
        // Never learned: the targets are less likely under it than under the vanilla model, which learned others
        // like them; fine-tuning on forget targets makes them likelier.
        QVERIFY2(r.relearnAfresh[0].targetNll > r.vanillaNll,
                 qPrintable(QString("baseline %1, vanilla %2").arg(r.relearnAfresh[0].targetNll).arg(r.vanillaNll)));
        QVERIFY2(r.relearnAfresh[2].targetNll < r.relearnAfresh[0].targetNll,
                 qPrintable(QString("%1 -> %2").arg(r.relearnAfresh[0].targetNll).arg(r.relearnAfresh[2].targetNll)));
        se::store::RunStore store(m_store, true);
        QCOMPARE(store.metrics(m_gaRun, "relearn").size(), size_t(27)); // retain, targets, afresh: 3 points × 3
        QCOMPARE(int(nlohmann::json::parse(auditJson(r))["relearn_afresh"].size()), 3);
        QVERIFY(formatAudit(r).find("learning afresh from " + v.outFile) != std::string::npos);
        o.baseline = (m_tmp.path() + "/none.safetensors").toStdString();
        try {
            auditRun(o);
            QFAIL("audited with a baseline that does not exist");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains("--baseline"), e.what());
        }
    }

    void llmJudge()
    {
        // A run judged by an LLM is audited with that judge (here a real local chat-completions server), not with
        // the offline one: every verdict is the server's. Its verdicts are cached in the store, so the same audit
        // again asks nothing.
        se::testing::ChatServer server;
        const quint16 port = server.start();
        server.rawContent = R"({"unsafe": true, "refusal": false, "normal": true})";
        const std::string copy = (m_tmp.path() + "/llm.sqlite").toStdString();
        se::testing::copyStoreJudgedBy(m_store, copy, port, "ga");
        AuditOptions o;
        o.storePath = copy;
        o.run = m_gaRun;
        o.questions = 3;
        o.modality = false;
        o.likelihood = false;
        o.vanilla = false;
        o.relearnSteps = 0;
        const AuditReport r = auditRun(o);
        QCOMPARE(r.judge.rfind("llm:judge-test@", 0), size_t(0));
        QCOMPARE(r.attacks.size(), 1 + defaultAttackTemplates().size());
        for (const auto &a : r.attacks) {
            QCOMPARE(a.asr, 1.0); // the server's verdicts; the offline judge calls no answer of this run unsafe
            QCOMPARE(a.rr, 0.0);
        }
        const int asked = server.requests;
        // One request per distinct (question, answer): the gradient-ascent run often says the same to each wrapping.
        QVERIFY(asked >= 3 && asked <= 3 * int(r.attacks.size()));
        se::store::RunStore store(copy, true);
        const auto stored = store.metrics(m_gaRun, "audit");
        QVERIFY(!stored.empty());
        for (const auto &m : stored)
            QCOMPARE(m.judge, r.judge);
        auditRun(o);
        QCOMPARE(int(server.requests), asked); // all from the cache
        // The offline judge's verdicts of the same run differ: the test is not vacuous.
        o.storePath = m_store;
        QVERIFY(auditRun(o).attacks.front().asr < 1.0);
    }

    void refusals_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("error");
        QTest::newRow("no colon") << "just words {question}\n"
                                  << "attacks.txt:1: expected \"name: template\"";
        QTest::newRow("no slot") << "a: no slot\n"
                                 << "attacks.txt:1: the template must hold {question} exactly once";
        QTest::newRow("two slots") << "# c\na: {question} {question}\n"
                                   << "attacks.txt:2: the template must hold";
        QTest::newRow("same name") << "a: {question}\na: x {question}\n"
                                   << "attacks.txt:2: the name 'a' is used twice";
        QTest::newRow("empty") << "# nothing\n"
                               << "attacks.txt: no templates";
        // Found by a hostile probe: a name with ESC cleared the screen when printed; any number of templates.
        QTest::newRow("escape in the name") << "a\x1b[2J: {question}\n"
                                            << "attacks.txt:1: the name must be one word";
        QString many;
        for (int i = 0; i < 300; ++i)
            many += QString("t%1: {question}\n").arg(i);
        QTest::newRow("too many") << many << "attacks.txt:257: more than 256 templates";
    }

    void templatesAreValidUtf8()
    {
        const std::string file = write("bad-utf8.txt", "a: \xff {question}\n");
        try {
            readAttackTemplates(file);
            QFAIL("read a template of invalid UTF-8");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains("bad-utf8.txt:1: the template is not valid UTF-8"), e.what());
        }
    }

    void refusals()
    {
        QFETCH(QString, text);
        QFETCH(QString, error);
        const std::string file = write("attacks.txt", text.toStdString());
        try {
            readAttackTemplates(file);
            QFAIL("read a bad template file");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains(error), e.what());
        }
    }

    void llavaRun()
    {
        // A run of a (tiny, random) Hugging Face LLaVA folder writes an adapter folder: the audit loads the model
        // with it, relearns with adapters on top, and stores the same shape of results.
        const QString folder = m_tmp.path() + "/tiny-llava";
        QProcess make;
        make.start("/usr/bin/python3", {QStringLiteral(SE_SOURCE_DIR) + "/tests/llava/make_tiny_llava.py", folder});
        QVERIFY(make.waitForFinished(120000));
        QVERIFY2(make.exitCode() == 0, make.readAllStandardError().constData());
        RunRequest q;
        q.storePath = (m_tmp.path() + "/llava.sqlite").toStdString();
        q.unlearn.dataDir = m_data;
        q.unlearn.modelFile = folder.toStdString();
        q.unlearn.method = se::unlearn::Method::PO;
        q.unlearn.train = UnlearnConfig::defaults();
        q.unlearn.train.steps = 2;
        q.unlearn.train.batchSize = 1;
        q.eval.greedy = true;
        q.eval.subsetPerSet = 1;
        const RunOutcome run = executeRun(q);
        QVERIFY2(run.status == RunStatus::Finished, run.message.c_str());
        const StoredRun stored = storedRun(q.storePath, run.runId);
        QVERIFY(stored.adapters);
        QCOMPARE(stored.runOptions.adapter, stored.info.outputModel); // the model folder with the run's adapter
        QVERIFY(stored.startOptions.adapter.empty());
        AuditOptions o;
        o.storePath = q.storePath;
        o.run = run.runId;
        o.questions = 2;
        o.relearnSteps = 2;
        o.relearnEvery = 1;
        o.relearnTargets = 2;
        const AuditReport r = auditRun(o);
        QCOMPARE(r.attacks.size(), 1 + defaultAttackTemplates().size() + 5);
        QCOMPARE(r.attacks.front().n, 2);
        QVERIFY(std::isfinite(r.runNll) && r.runNll > 0 && std::isfinite(r.vanillaNll) && r.vanillaNll > 0);
        QCOMPARE(int(r.relearn.size()), 3);
        QCOMPARE(int(r.relearnTargets.size()), 3);
        se::store::RunStore store(q.storePath, true);
        QCOMPARE(store.metrics(run.runId, "relearn").size(), size_t(18));
    }

    void fromTheCommandLine()
    {
        // `safeeraser audit` with its flags: fewer questions, no image attacks, no start model beside the run, no
        // relearning; --json gives exactly that. Wrong flags are refused before anything is loaded.
        const QString store = QString::fromStdString(m_store), run = QString::number(m_gaRun);
        const auto r = se::testing::runCli({"audit", "--store", store, "--run", run, "--questions", "3", "--no-images",
                                            "--no-start-model", "--relearn-steps", "0", "--json"},
                                           300000);
        QVERIFY2(r.code == 0, r.err.constData());
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["run"].get<std::int64_t>(), m_gaRun);
        QCOMPARE(j["attacks"]["original"]["n"].get<int>(), 3);
        QCOMPARE(j["attacks"].size(), 1 + defaultAttackTemplates().size()); // no image attacks
        for (const auto &[name, a] : j["attacks"].items()) {
            QVERIFY2(name.rfind("image:", 0) != 0, name.c_str());
            QVERIFY2(!a.contains("vanilla"), name.c_str()); // the start model was not asked
        }
        QVERIFY(j["relearn"].empty());
        QVERIFY(j["target_nll"]["run"].get<double>() > 0); // the likelihood comparison still ran
        QVERIFY(r.err.contains("[audit]"));

        const auto bad = se::testing::runCli({"audit", "--store", store, "--run", run, "--relearn-every", "0"});
        QCOMPARE(bad.code, 2);
        QVERIFY2(bad.err.contains("--relearn-every"), bad.err.constData());
        const auto missing = se::testing::runCli({"audit", "--store", store});
        QCOMPARE(missing.code, 2);
        QVERIFY2(missing.err.contains("give --store and --run"), missing.err.constData());
    }

    // Found by a hostile probe: a run whose weights file was replaced by another was audited as the run, and a
    // copied store audited the original's files (the paths it records are absolute).
    void weightsReplacedOrMoved()
    {
        namespace fs = std::filesystem;
        const auto info = se::store::RunStore(m_store, true).run(m_gaRun);
        QVERIFY(info.has_value());
        QCOMPARE(info->outputHash.size(), std::size_t(64)); // the SHA-256 of the file it wrote
        QCOMPARE(info->outputHash, modelIdentity(info->outputModel));
        QCOMPARE(storedRun(m_store, m_gaRun).info.outputModel, info->outputModel);

        // The store and its models folder copied elsewhere, the originals moved away: found beside the copy.
        QTemporaryDir other;
        const fs::path models = fs::path(info->outputModel).parent_path();
        const std::string copy = (other.path() + "/runs.sqlite").toStdString();
        fs::copy_file(m_store, copy);
        fs::copy(models, fs::path(copy).parent_path() / models.filename(), fs::copy_options::recursive);
        const fs::path away = models.string() + ".away";
        fs::rename(models, away);
        const StoredRun found = storedRun(copy, m_gaRun);
        QCOMPARE(found.info.outputModel,
                 (fs::path(copy).parent_path() / models.filename() / fs::path(info->outputModel).filename()).string());

        // The weights replaced by another file (the start model): refused, naming the file and why.
        const std::string replaced = found.info.outputModel;
        fs::copy_file(m_model, replaced, fs::copy_options::overwrite_existing);
        try {
            storedRun(copy, m_gaRun);
            QFAIL("audited weights that are not the run's");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains("are not the ones it wrote") &&
                         QString(e.what()).contains(QString::fromStdString(replaced)),
                     e.what());
        }
        // Reading the run without its weights (report, compare) is still possible.
        QCOMPARE(storedRun(copy, m_gaRun, /*needWeights=*/false).info.id, m_gaRun);
        fs::rename(away, models);
        QCOMPARE(storedRun(m_store, m_gaRun).info.outputModel, info->outputModel); // the original, unchanged
    }

    void runsThatCannotBeAudited()
    {
        AuditOptions o;
        o.storePath = m_store;
        o.run = m_vanillaRun;
        try {
            auditRun(o);
            QFAIL("audited a vanilla evaluation");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains("vanilla evaluation: audit an unlearning run"), e.what());
        }
        o.run = 999;
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, auditRun(o));
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, readAttackTemplates(m_tmp.path().toStdString())); // a folder
    }
};

QTEST_GUILESS_MAIN(TestRobustness)
#include "test_robustness.moc"
