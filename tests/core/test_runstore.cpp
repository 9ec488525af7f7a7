// The SQLite run store: runs and statuses, steps, evaluations, verdicts, the judge cache, migrations, a newer
// schema refused, crash recovery (a writer killed mid-transaction), and merging stores.
#include "core/store/runstore.h"

#include <sqlite3.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
#include <map>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thread>

using namespace se::store;

namespace {

AnswerRecord answer(const std::string &set, const std::string &category, int record, bool refusal)
{
    AnswerRecord a;
    a.stage = "final";
    a.split = "val";
    a.set = set;
    a.record = record;
    a.category = category;
    a.image = "Violence/x.png";
    a.question = "q" + std::to_string(record);
    a.reference = "ref";
    a.answer = refusal ? "I'm sorry." : "Sure, here it is.";
    a.refusal = refusal;
    a.judge = "offline";
    a.rougeF1 = 0.25;
    return a;
}

std::string integrity(const std::string &path)
{
    sqlite3 *db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt *st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
    std::string out = sqlite3_step(st) == SQLITE_ROW ? reinterpret_cast<const char *>(sqlite3_column_text(st, 0)) : "?";
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

// Child mode: create a running run and write evaluations in a loop until killed.
int childWriter(const char *path)
{
    RunStore store(path);
    RunInfo info;
    info.name = "doomed";
    info.method = "po";
    const auto id = store.createRun(info);
    store.setStatus(id, RunStatus::Running);
    std::vector<AnswerRecord> batch;
    for (int i = 0; i < 2000; ++i)
        batch.push_back(answer("forget", "Weapon", i, i % 2));
    for (int step = 0;; ++step) {
        store.addSteps(id, {{step, 1, 1e-4, 0.1 * step, {{"total", 1.0 / (step + 1)}}}});
        store.addEvaluation(id, {{"step", step, "val", "", "rr", 0.5, 2000, "offline"}}, batch);
    }
}

// Child mode: the disk fills up (RLIMIT_FSIZE) while a large evaluation is written; exits 3 with the store's error.
int childDiskFull(const char *path, std::int64_t run)
{
    RunStore store(path);
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = 3u << 20; // no file of this process may grow past 3 MB
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, SIG_IGN); // the write fails with EFBIG instead of killing us
    std::vector<AnswerRecord> batch;
    for (int i = 0; i < 20000; ++i) {
        AnswerRecord a = answer("forget", "Weapon", i, true);
        a.answer = std::string(400, char('a' + i % 26));
        batch.push_back(a);
    }
    try {
        store.addEvaluation(run, {{"final", 9, "val", "", "rr", 0.5, 20000, "offline"}}, batch);
    } catch (const StoreError &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 3;
    }
    return 0;
}

// Child mode: `runs` runs of 500 answers each, written while another process writes the same store.
int childRuns(const char *path, int runs)
{
    RunStore store(path);
    std::vector<AnswerRecord> batch;
    for (int i = 0; i < 500; ++i)
        batch.push_back(answer("retain", "Sex", i, false));
    for (int k = 0; k < runs; ++k) {
        RunInfo info;
        info.method = "ga";
        info.name = "child " + std::to_string(::getpid()) + " run " + std::to_string(k);
        const auto id = store.createRun(info);
        store.addSteps(id, {{1, 1, 1e-4, 0.1, {{"total", 1.0}}}});
        store.addEvaluation(id, {{"final", 1, "val", "", "rr", 0.5, 500, "offline"}}, batch);
        store.setStatus(id, RunStatus::Finished);
    }
    return 0;
}

} // namespace

class TestRunStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void runsStepsEvaluations()
    {
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/runs.sqlite").toStdString();
        RunStore store(path);
        QCOMPARE(store.schemaVersion(), kSchemaVersion);
        RunInfo info;
        info.name = "po+pd";
        info.method = "po";
        info.pd = true;
        info.configJson = R"({"lr": 0.0005})";
        info.datasetHash = "abc";
        const auto id = store.createRun(info);
        QVERIFY(id > 0);
        auto r = store.run(id);
        QVERIFY(r);
        QCOMPARE(r->status, RunStatus::Queued);
        QVERIFY(r->pd);
        QCOMPARE(QString::fromStdString(r->configJson), QString(R"({"lr": 0.0005})"));
        QVERIFY(!r->createdAt.empty());

        store.setStatus(id, RunStatus::Running);
        QVERIFY(!store.run(id)->startedAt.empty());
        QVERIFY(store.run(id)->finishedAt.empty());
        store.addSteps(id, {{1, 1, 1e-4, 0.5, {{"total", 2.5}, {"forget", 1.5}}}, {2, 1, 2e-4, 1.0, {{"total", 2.0}}}});
        const auto steps = store.steps(id);
        QCOMPARE(int(steps.size()), 2);
        QCOMPARE(QString::fromStdString(steps[0].losses[1].first), QString("forget"));
        QCOMPARE(steps[0].losses[1].second, 1.5);

        const auto ids = store.addEvaluation(
            id,
            {{"final", 10, "val", "", "sarr", 0.25, 4, "offline"},
             {"final", 10, "val", "Weapon", "sarr", 0.5, 2, "offline"}},
            {answer("pd", "Weapon", 0, true), answer("pd", "Violence", 1, false), answer("forget", "Weapon", 2, true)});
        QCOMPARE(int(ids.size()), 3);
        QCOMPARE(store.answerCount(id), qint64(3));
        QCOMPARE(int(store.answers(id, "final", "pd").size()), 2);
        QCOMPARE(int(store.answers(id, "", "", "Weapon").size()), 2);
        const auto a = store.answers(id, "final", "pd", "Weapon");
        QCOMPARE(int(a.size()), 1);
        QVERIFY(a[0].refusal);
        QCOMPARE(a[0].rougeF1, 0.25);
        const auto m = store.metrics(id, "final");
        QCOMPARE(int(m.size()), 2);
        QCOMPARE(QString::fromStdString(m[1].category), QString("Weapon"));
        QCOMPARE(QString::fromStdString(m[1].judge), QString("offline"));

        store.setStatus(id, RunStatus::Finished);
        QCOMPARE(store.run(id)->status, RunStatus::Finished);
        QVERIFY(!store.run(id)->finishedAt.empty());

        store.setVerdict({ids[0], "over-refusal", {"benign", "check"}, "refuses a garden", {}});
        auto v = store.verdict(ids[0]);
        QVERIFY(v);
        QCOMPARE(QString::fromStdString(v->verdict), QString("over-refusal"));
        QCOMPARE(int(v->tags.size()), 2);
        store.setVerdict({ids[0], "ok", {}, "", {}}); // replaces
        QCOMPARE(QString::fromStdString(store.verdict(ids[0])->verdict), QString("ok"));
        store.clearVerdict(ids[0]);
        QVERIFY(!store.verdict(ids[0]));

        store.cacheJudgement("llm:gpt", "k1", R"({"unsafe": true})");
        QCOMPARE(QString::fromStdString(*store.cachedJudgement("llm:gpt", "k1")), QString(R"({"unsafe": true})"));
        QVERIFY(!store.cachedJudgement("llm:other", "k1"));

        store.deleteRun(id);
        QVERIFY(!store.run(id));
        QCOMPARE(store.answerCount(id), qint64(0)); // cascaded
    }

    void walMode()
    {
        QTemporaryDir tmp;
        RunStore store((tmp.path() + "/w.sqlite").toStdString());
        auto st = store.statement("PRAGMA journal_mode");
        QVERIFY(st.step());
        QCOMPARE(st.text(0), std::string("wal"));
    }

    void badFiles()
    {
        QTemporaryDir tmp;
        const QString notDb = tmp.path() + "/not.sqlite";
        QFile f(notDb);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray(4096, 'x'));
        f.close();
        try {
            RunStore s(notDb.toStdString());
            QFAIL("opened a file that is not a database");
        } catch (const StoreError &e) {
            QVERIFY2(QString(e.what()).contains("not a database"), e.what());
            QVERIFY2(QString(e.what()).contains(notDb), e.what());
        }
        // Special files are refused by what they are, at once (a FIFO used to block the open until killed).
        const QString fifo = tmp.path() + "/fifo";
        QVERIFY(::mkfifo(fifo.toLocal8Bit().constData(), 0600) == 0);
        for (const QString &special : {fifo, tmp.path(), QString("/dev/null")}) {
            try {
                RunStore s(special.toStdString());
                QFAIL(qPrintable("opened " + special));
            } catch (const StoreError &e) {
                QVERIFY2(QString(e.what()).contains(special) &&
                             (QString(e.what()).contains("a FIFO") || QString(e.what()).contains("a folder") ||
                              QString(e.what()).contains("a character device")),
                         e.what());
            }
        }
        // Another application's SQLite database is not adopted: no tables added, its journal mode kept.
        const QString foreign = tmp.path() + "/other.db";
        {
            sqlite3 *db = nullptr;
            QCOMPARE(sqlite3_open(foreign.toLocal8Bit().constData(), &db), SQLITE_OK);
            QCOMPARE(sqlite3_exec(db, "CREATE TABLE notes (x TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
            sqlite3_close(db);
        }
        try {
            RunStore s(foreign.toStdString());
            QFAIL("adopted another application's database");
        } catch (const StoreError &e) {
            QVERIFY2(QString(e.what()).contains("another kind (tables notes)"), e.what());
        }
        {
            sqlite3 *db = nullptr;
            QCOMPARE(sqlite3_open(foreign.toLocal8Bit().constData(), &db), SQLITE_OK);
            sqlite3_stmt *q = nullptr;
            sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, nullptr);
            QCOMPARE(sqlite3_step(q), SQLITE_ROW);
            QCOMPARE(sqlite3_column_int(q, 0), 1);
            sqlite3_finalize(q);
            sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, nullptr);
            QCOMPARE(sqlite3_step(q), SQLITE_ROW);
            QCOMPARE(QByteArray(reinterpret_cast<const char *>(sqlite3_column_text(q, 0))), QByteArray("delete"));
            sqlite3_finalize(q);
            sqlite3_close(db);
        }
        // A store from a newer program is refused, and left untouched.
        const std::string newer = (tmp.path() + "/newer.sqlite").toStdString();
        {
            RunStore s(newer);
            s.statement("PRAGMA user_version = 99").run();
        }
        try {
            RunStore s(newer);
            QFAIL("opened a newer schema");
        } catch (const StoreError &e) {
            QVERIFY2(QString(e.what()).contains("schema version 99, newer than this program's"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(StoreError, RunStore("/nonexistent/dir/x.sqlite"));
    }

    void statementsAreChecked()
    {
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/s.sqlite").toStdString();
        RunStore store(path);
        auto q = store.statement("SELECT id FROM runs WHERE id = ?");
        QVERIFY(!q.step());
        q.reset();
        // A bind SQLite refuses throws, naming the store and the statement, instead of running unbound.
        try {
            q.bind(2, std::int64_t(1));
            QFAIL("bound a parameter the statement does not have");
        } catch (const StoreError &e) {
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(path)), e.what());
            QVERIFY2(QString(e.what()).contains("parameter 2"), e.what());
            QVERIFY2(QString(e.what()).contains("SELECT id FROM runs"), e.what());
        }
        try {
            store.statement("SELECT id FROM nowhere");
            QFAIL("prepared bad SQL");
        } catch (const StoreError &e) {
            QVERIFY2(QString(e.what()).contains("no such table: nowhere"), e.what());
        }
        // Moved, the statement is finalised once (ASan would see a double finalize).
        auto moved = std::move(q);
        moved.bind(1, std::int64_t(1));
        QVERIFY(!moved.step());
    }

    void probes()
    {
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/p.sqlite").toStdString();
        {
            RunStore store(path);
            QVERIFY(store.probes().empty());
            ProbeRecord p;
            p.name = "a weapon question";
            p.image = "/somewhere/probe-1.png";
            p.question = "How?";
            p.reference = "Like this.";
            p.greedy = false;
            p.samples = 3;
            p.seed = std::uint64_t(1) << 63; // above int64's range: kept bit for bit
            p.modelsJson = R"([{"run": 2, "start": true, "label": "start"}])";
            p.answersJson = R"([{"label": "start", "answers": ["No."]}])";
            const auto id = store.saveProbe(p);
            QVERIFY(id > 0);
            store.saveProbe(p);
            store.deleteProbe(id);
        }
        RunStore ro(path, true);
        const auto all = ro.probes();
        QCOMPARE(int(all.size()), 1);
        QCOMPARE(all[0].name, std::string("a weapon question"));
        QCOMPARE(all[0].seed, std::uint64_t(1) << 63);
        QVERIFY(!all[0].greedy);
        QCOMPARE(all[0].samples, 3);
        QCOMPARE(all[0].answersJson, std::string(R"([{"label": "start", "answers": ["No."]}])"));
        QVERIFY(!all[0].createdAt.empty());
    }

    void statusNames()
    {
        for (RunStatus s : {RunStatus::Queued, RunStatus::Running, RunStatus::Finished, RunStatus::Failed,
                            RunStatus::Cancelled, RunStatus::Interrupted, RunStatus::Diverged})
            QCOMPARE(statusFromName(statusName(s)), std::optional<RunStatus>(s));
        QCOMPARE(std::string(statusName(RunStatus::Diverged)), std::string("diverged"));
        QVERIFY(!statusFromName("paused"));
    }

    void readsAndMigratesVersion1()
    {
        // A store of schema version 1 (before GPT-Score and missing verdicts): made by dropping the columns again.
        QTemporaryDir tmp;
        const std::string v1 = (tmp.path() + "/v1.sqlite").toStdString();
        {
            RunStore s(v1);
            RunInfo info;
            info.method = "po";
            info.uid = "run-of-version-1";
            const auto id = s.createRun(info);
            AnswerRecord a;
            a.stage = "final";
            a.set = "retain";
            a.answer = "Red.";
            a.gptScore = 0.5;
            const auto ids = s.addEvaluation(id, {}, {a});
            s.setVerdict({ids[0], "ok", {}, "", {}});
            for (const char *sql :
                 {"ALTER TABLE answers DROP COLUMN gpt_score", "ALTER TABLE answers DROP COLUMN no_verdict",
                  "DROP TABLE probes", "ALTER TABLE runs DROP COLUMN output_hash", "PRAGMA user_version = 1"})
                s.statement(sql).run();
        }
        {
            RunStore ro(v1, true); // read as it is: no migration without write access
            QCOMPARE(ro.schemaVersion(), 1);
            QVERIFY(ro.probes().empty()); // version 3's table is not there: none
            const auto answers = ro.answers(ro.runs().at(0).id);
            QCOMPARE(int(answers.size()), 1);
            QCOMPARE(answers[0].answer, std::string("Red."));
            QCOMPARE(answers[0].gptScore, -1.0);
            QCOMPARE(answers[0].noVerdict, 0);
            QCOMPARE(ro.runs().at(0).outputHash, std::string()); // version 4's column: unknown
        }
        {
            // Merged into a current store, its answers and verdicts come along.
            const std::string target = (tmp.path() + "/new.sqlite").toStdString();
            RunStore t(target);
            QCOMPARE(t.mergeFrom(v1), 1);
            const auto answers = t.answers(t.runs().at(0).id);
            QCOMPARE(int(answers.size()), 1);
            QCOMPARE(answers[0].gptScore, -1.0);
            QVERIFY(t.verdict(answers[0].id));
        }
        RunStore rw(v1); // a writer migrates
        QCOMPARE(rw.schemaVersion(), kSchemaVersion);
        AnswerRecord b;
        b.stage = "final";
        b.set = "retain";
        b.gptScore = 0.25;
        const auto run = rw.runs().at(0).id;
        rw.addEvaluation(run, {}, {b});
        QCOMPARE(rw.answers(run).back().gptScore, 0.25);
        rw.setOutputHash(run, "abc123");
        QCOMPARE(rw.run(run)->outputHash, std::string("abc123"));
        // A current store's weights identity survives a merge.
        const std::string target2 = (tmp.path() + "/new2.sqlite").toStdString();
        RunStore t2(target2);
        QCOMPARE(t2.mergeFrom(v1), 1);
        QCOMPARE(t2.runs().at(0).outputHash, std::string("abc123"));
        auto again = *t2.run(t2.runs().at(0).id);
        again.name = "renamed";
        t2.updateRun(again); // updateRun keeps it
        QCOMPARE(t2.run(again.id)->outputHash, std::string("abc123"));
    }

    void migratesOldSchema()
    {
        // An empty database is schema version 0: opening migrates it to the current version. (One with another
        // application's tables is refused: badFiles.)
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/old.sqlite").toStdString();
        sqlite3 *db = nullptr;
        sqlite3_open(path.c_str(), &db);
        sqlite3_exec(db, "PRAGMA user_version = 0; VACUUM", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        RunStore s(path);
        QCOMPARE(s.schemaVersion(), kSchemaVersion);
        RunInfo info;
        info.method = "ga";
        QVERIFY(s.createRun(info) > 0);
        try {
            RunStore ro(path, true);
            QCOMPARE(int(ro.runs().size()), 1);
        } catch (const StoreError &e) {
            QFAIL(e.what());
        }
    }

    void killedWriterLeavesSoundStore()
    {
        QTemporaryDir tmp;
        const QString path = tmp.path() + "/crash.sqlite";
        QProcess child;
        child.start(QCoreApplication::applicationFilePath(), {"--child-writer", path});
        QVERIFY(child.waitForStarted());
        // Wait until it has written a few evaluations, then kill it mid-stream.
        bool ready = false;
        for (int i = 0; i < 600 && !ready; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            try {
                RunStore peek(path.toStdString(), true);
                const auto runs = peek.runs();
                ready = !runs.empty() && peek.answerCount(runs[0].id) >= 6000;
            } catch (const StoreError &) {
            }
        }
        QVERIFY(ready);
        ::kill(pid_t(child.processId()), SIGKILL);
        QVERIFY(child.waitForFinished());
        QCOMPARE(integrity(path.toStdString()), std::string("ok"));
        RunStore store(path.toStdString());
        const auto runs = store.runs();
        QCOMPARE(int(runs.size()), 1);
        QCOMPARE(runs[0].status, RunStatus::Interrupted);
        QVERIFY(!runs[0].message.empty());
        // Whole evaluations only: one transaction each.
        QCOMPARE(store.answerCount(runs[0].id) % 2000, qint64(0));
        QCOMPARE(integrity(path.toStdString()), std::string("ok"));
    }

    void diskFullDuringAnEvaluation()
    {
        // The disk fills while an evaluation is written: a clear error, the store passes integrity_check, and the
        // evaluation written before is intact (each evaluation is one transaction).
        QTemporaryDir tmp;
        const QString path = tmp.path() + "/full.sqlite";
        std::int64_t id = 0;
        {
            RunStore s(path.toStdString());
            RunInfo info;
            info.method = "po";
            id = s.createRun(info);
            std::vector<AnswerRecord> first;
            for (int i = 0; i < 100; ++i)
                first.push_back(answer("forget", "Weapon", i, true));
            s.addEvaluation(id, {{"step", 1, "val", "", "rr", 1.0, 100, "offline"}}, first);
        }
        QProcess child;
        child.start(QCoreApplication::applicationFilePath(), {"--child-disk-full", path, QString::number(id)});
        QVERIFY(child.waitForFinished(60000));
        QCOMPARE(child.exitCode(), 3);
        const QString err = QString::fromUtf8(child.readAllStandardError());
        QVERIFY2(err.contains(path) &&
                     (err.contains("full", Qt::CaseInsensitive) || err.contains("I/O", Qt::CaseInsensitive)),
                 qPrintable(err));
        QCOMPARE(integrity(path.toStdString()), std::string("ok"));
        RunStore s(path.toStdString());
        QCOMPARE(s.answerCount(id), qint64(100));
        QCOMPARE(int(s.metrics(id).size()), 1);
    }

    void twoProcessesWriteOneStore()
    {
        QTemporaryDir tmp;
        const QString path = tmp.path() + "/shared.sqlite";
        {
            RunStore s(path.toStdString());
        } // created and migrated once
        QProcess a, b;
        a.start(QCoreApplication::applicationFilePath(), {"--child-runs", path, "20"});
        b.start(QCoreApplication::applicationFilePath(), {"--child-runs", path, "20"});
        QVERIFY(a.waitForFinished(120000) && b.waitForFinished(120000));
        QVERIFY2(a.exitCode() == 0 && b.exitCode() == 0,
                 (a.readAllStandardError() + b.readAllStandardError()).constData());
        QCOMPARE(integrity(path.toStdString()), std::string("ok"));
        RunStore s(path.toStdString(), true);
        const auto runs = s.runs();
        QCOMPARE(int(runs.size()), 40);
        for (const auto &r : runs) {
            QCOMPARE(r.status, RunStatus::Finished);
            QCOMPARE(s.answerCount(r.id), qint64(500));
        }
    }

    void readOnlyStoreRefusesWritesClearly()
    {
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/ro.sqlite").toStdString();
        std::int64_t id = 0;
        {
            RunStore s(path);
            RunInfo info;
            info.method = "po";
            id = s.createRun(info);
        }
        RunStore ro(path, true);
        QCOMPARE(int(ro.runs().size()), 1); // reads work
        try {
            ro.setStatus(id, RunStatus::Failed, "x");
            QFAIL("a read-only store took a write");
        } catch (const StoreError &e) {
            QVERIFY2(QString(e.what()).contains("readonly", Qt::CaseInsensitive), e.what());
        }
        QCOMPARE(RunStore(path, true).run(id)->status, RunStatus::Queued);
    }

    void runsOfAGoneProcessAreInterrupted()
    {
        // Found by probing: a run killed during its vanilla evaluation (status queued) stayed queued for ever, and a
        // killed running run showed as running in `report` (a read-only open) until a writer opened the store.
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/gone.sqlite").toStdString();
        std::int64_t queued = 0, running = 0;
        {
            RunStore s(path);
            RunInfo info;
            info.method = "po";
            queued = s.createRun(info);
            running = s.createRun(info);
            s.setStatus(running, RunStatus::Running);
        }
        const pid_t dead = ::fork(); // a process that has ended (and been reaped)
        if (dead == 0)
            ::_exit(0);
        QVERIFY(dead > 0);
        ::waitpid(dead, nullptr, 0);
        auto sql = [&](const std::string &statement) {
            sqlite3 *db = nullptr;
            sqlite3_open(path.c_str(), &db);
            std::string out;
            sqlite3_exec(
                db, statement.c_str(),
                [](void *o, int, char **v, char **) {
                    *static_cast<std::string *>(o) += std::string(v[0] ? v[0] : "") + ";";
                    return 0;
                },
                &out, nullptr);
            sqlite3_close(db);
            return out;
        };
        sql("UPDATE runs SET owner_pid = " + std::to_string(dead));
        {
            RunStore reader(path, true);
            QCOMPARE(reader.run(queued)->status, RunStatus::Interrupted);
            QCOMPARE(reader.run(running)->status, RunStatus::Interrupted);
            QVERIFY(!reader.run(queued)->message.empty());
        }
        QCOMPARE(sql("SELECT status FROM runs ORDER BY id"),
                 std::string("queued;running;")); // the reader wrote nothing
        {
            RunStore writer(path);
        }
        QCOMPARE(sql("SELECT status FROM runs ORDER BY id"), std::string("interrupted;interrupted;"));
    }

    void mergingTheSameStoreTwiceKeepsLineage()
    {
        // Merge a server store, add a run there, merge again: the new run's parent is the server's vanilla
        // evaluation merged the first time — matched by uid, not by the server's id (which here is another run).
        QTemporaryDir tmp;
        const std::string pa = (tmp.path() + "/a.sqlite").toStdString(), pb = (tmp.path() + "/b.sqlite").toStdString();
        RunStore a(pa), b(pb);
        RunInfo info;
        info.method = "vanilla";
        info.name = "local vanilla";
        a.createRun(info);
        a.createRun(info); // a's ids 1 and 2 are unrelated to b's
        info.name = "server vanilla";
        const auto vb = b.createRun(info);
        info.method = "po";
        info.name = "po 1";
        info.parentId = vb;
        b.createRun(info);
        QCOMPARE(a.mergeFrom(pb), 2);
        info.name = "po 2";
        b.createRun(info);
        QCOMPARE(a.mergeFrom(pb), 1);
        std::map<std::string, RunInfo> byName;
        for (const auto &r : a.runs())
            byName[r.name] = r;
        const auto serverVanilla = byName.at("server vanilla").id;
        QCOMPARE(byName.at("po 1").parentId, serverVanilla);
        QCOMPARE(byName.at("po 2").parentId, serverVanilla);
        QCOMPARE(a.mergeFrom(pb), 0); // nothing new
    }

    void runningRunOfLiveProcessStaysRunning()
    {
        QTemporaryDir tmp;
        const std::string path = (tmp.path() + "/live.sqlite").toStdString();
        RunStore a(path);
        RunInfo info;
        info.method = "po";
        const auto id = a.createRun(info);
        a.setStatus(id, RunStatus::Running);
        RunStore b(path); // this process is alive: not interrupted
        QCOMPARE(b.run(id)->status, RunStatus::Running);
    }

    void merge()
    {
        QTemporaryDir tmp;
        const std::string pa = (tmp.path() + "/a.sqlite").toStdString(), pb = (tmp.path() + "/b.sqlite").toStdString();
        RunStore a(pa), b(pb);
        RunInfo info;
        info.method = "vanilla";
        info.name = "vanilla";
        a.createRun(info); // a already has a run, so ids collide
        const auto vb = b.createRun(info);
        info.method = "po";
        info.name = "po on server";
        info.parentId = vb;
        const auto rb = b.createRun(info);
        b.addSteps(rb, {{1, 1, 1e-4, 0.1, {{"total", 1.0}}}});
        const auto ids = b.addEvaluation(rb, {{"final", 1, "val", "", "rr", 1.0, 2, "offline"}},
                                         {answer("forget", "Sex", 0, true), answer("forget", "Sex", 1, true)});
        b.setVerdict({ids[1], "ok", {"t"}, "", {}});
        QCOMPARE(a.mergeFrom(pb), 2);
        const auto runs = a.runs();
        QCOMPARE(int(runs.size()), 3);
        const RunInfo &po = runs[2];
        QCOMPARE(QString::fromStdString(po.name), QString("po on server"));
        QCOMPARE(po.parentId, runs[1].id);
        QCOMPARE(int(a.steps(po.id).size()), 1);
        QCOMPARE(int(a.metrics(po.id).size()), 1);
        const auto merged = a.answers(po.id);
        QCOMPARE(int(merged.size()), 2);
        QVERIFY(!a.verdict(merged[0].id));
        QCOMPARE(QString::fromStdString(a.verdict(merged[1].id)->verdict), QString("ok"));
        QCOMPARE(a.mergeFrom(pb), 0); // already there
        QCOMPARE(int(a.runs().size()), 3);
    }
};

int main(int argc, char **argv)
{
    if (argc == 3 && std::string(argv[1]) == "--child-writer")
        return childWriter(argv[2]);
    if (argc == 4 && std::string(argv[1]) == "--child-disk-full")
        return childDiskFull(argv[2], std::atoll(argv[3]));
    if (argc == 4 && std::string(argv[1]) == "--child-runs")
        return childRuns(argv[2], std::atoi(argv[3]));
    QCoreApplication app(argc, argv);
    TestRunStore t;
    return QTest::qExec(&t, argc, argv);
}
#include "test_runstore.moc"
