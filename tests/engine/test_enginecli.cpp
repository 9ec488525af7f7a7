// End to end through the CLI on a tiny generated benchmark (make-benchmark --records 24): train-vanilla, ask,
// every unlearning method with and without PD, pack-images and --images, and the exit statuses of bad input.
// Short runs: this checks that the commands work together, not what the model learns (see the README's
// measured figures for that).
#include "core/unlearn/method.h"

#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <csignal>
#include <unistd.h>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

namespace {
struct Result {
    int code;
    QByteArray out, err;
};
Result runCli(const QStringList &args)
{
    QProcess p;
    p.start(QStringLiteral(SE_CLI_PATH), args);
    if (!p.waitForFinished(300000))
        return {-1, {}, "timeout"};
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(),
            p.readAllStandardError()};
}
} // namespace

class TestEngineCli : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_data, m_vanilla;

    QString path(const char *name) const { return m_dir.filePath(name); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = path("bench");
        m_vanilla = path("vanilla.safetensors");
        const Result g = runCli({"make-benchmark", "--out", m_data, "--records", "24", "--image-size", "64"});
        QVERIFY2(g.code == 0, g.err);
        const Result t = runCli({"train-vanilla", "--data", m_data, "--out", m_vanilla, "--steps", "30", "--batch",
                                 "16", "--threads", "2"});
        QVERIFY2(t.code == 0, t.err);
        QVERIFY2(t.err.contains("[vanilla] step 30/30"), t.err);
        QVERIFY(t.out.contains("finished after 30 steps"));
        QVERIFY(QFileInfo(m_vanilla).size() > 100000);
    }

    void noCommandWritesOverItsInputs()
    {
        // Found by probing: `export --out STORE` replaced the store with CSV, `run --out STORE` renamed a checkpoint
        // over the open database. Every command that writes refuses its own inputs — also through a symlink, a
        // hard link, the store's WAL file or a folder holding an input — before it writes anything.
        const QString store = path("guard.sqlite");
        const Result e = runCli({"evaluate", "--store", store, "--data", m_data, "--model", m_vanilla, "--subset", "1",
                                 "--greedy", "--quiet"});
        QVERIFY2(e.code == 0, e.err);
        const QByteArray before = [&] {
            QFile f(store);
            f.open(QIODevice::ReadOnly);
            return f.readAll();
        }();
        QVERIFY(!before.isEmpty());
        QVERIFY(QFile::link(store, path("store-link.sqlite")));
        QVERIFY(::link(store.toLocal8Bit().constData(), path("store-hard.sqlite").toLocal8Bit().constData()) == 0);
        QVERIFY(QFile::link(m_vanilla, path("vanilla-link.safetensors")));
        const QString split = m_data + "/all_val.json";
        const QByteArray splitBefore = [&] {
            QFile f(split);
            f.open(QIODevice::ReadOnly);
            return f.readAll();
        }();
        struct Case {
            QStringList args;
            const char *says;
        };
        const QList<Case> cases = {
            {{"export", "--store", store, "--run", "1", "--out", store}, "is the run store"},
            {{"export", "--store", store, "--run", "1", "--out", path("store-link.sqlite")}, "is the run store"},
            {{"export", "--store", store, "--run", "1", "--out", path("store-hard.sqlite")}, "is the run store"},
            {{"export", "--store", store, "--run", "1", "--out", store + "-wal"}, "-wal file of the run store"},
            {{"run", "--store", store, "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1",
              "--out", store},
             "is the run store"},
            {{"run", "--store", store, "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1",
              "--out", path("vanilla-link.safetensors")},
             "is the model"},
            {{"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1", "--out", m_vanilla},
             "is the model"},
            {{"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1", "--out", split},
             "is a file of the benchmark folder"},
            {{"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1", "--out",
              m_dir.path()},
             "is a folder holding the"},
            {{"train-vanilla", "--data", m_data, "--steps", "1", "--out", split}, "is a file of the benchmark folder"},
            {{"pack-images", "--data", m_data, "--out", m_data + "/prompt.json"}, "is a file of the benchmark folder"},
            {{"store", "merge", "--into", store, path("store-link.sqlite")}, "is the target store"},
            // The run's own files, and files of another kind: a split, the run's model, the store, a device.
            {{"export", "--store", store, "--run", "1", "--format", "csv", "--out", split}, "file of the benchmark"},
            {{"export", "--store", store, "--run", "1", "--format", "json", "--out", m_vanilla}, "start model"},
            {{"export", "--store", store, "--run", "1", "--out", "/dev/full"}, "is a character device"},
            {{"export", "--store", store, "--run", "1", "--out", path("other.db")}, "is a SQLite database"},
            {{"train-vanilla", "--data", m_data, "--steps", "1", "--out", store}, "is a SQLite database"},
            {{"pack-images", "--data", m_data, "--out", store}, "is a SQLite database"},
            {{"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1", "--out", store},
             "is a SQLite database"},
        };
        QVERIFY(QFile::copy(store, path("other.db"))); // a database that is no input of the export
        for (const Case &c : cases) {
            const Result r = runCli(c.args);
            QVERIFY2(r.code != 0 && r.err.contains(c.says), qPrintable(c.args.join(' ') + "\n" + r.err));
        }
        const QByteArray after = [&] {
            QFile f(store);
            f.open(QIODevice::ReadOnly);
            return f.readAll();
        }();
        QCOMPARE(after.left(16), QByteArray("SQLite format 3\0", 16));
        const QByteArray splitAfter = [&] {
            QFile f(split);
            f.open(QIODevice::ReadOnly);
            return f.readAll();
        }();
        QCOMPARE(splitAfter, splitBefore);
        QVERIFY(QFileInfo(m_vanilla).size() > 100000);
        QVERIFY(!QFileInfo::exists("/dev/full.partial"));
        // A new file inside an input folder is fine.
        const Result ok = runCli({"export", "--store", store, "--run", "1", "--out", m_data + "/answers.csv"});
        QVERIFY2(ok.code == 0, ok.err);
        QVERIFY(QFile::remove(m_data + "/answers.csv"));
    }

    void askPrintsTheAnswerAlone()
    {
        const QString image = m_data + "/SD/train_00000_sd.png";
        QVERIFY(QFileInfo::exists(image));
        const Result a = runCli(
            {"ask", "--model", m_vanilla, "--image", image, "--question", "What is in the picture?", "--greedy"});
        QVERIFY2(a.code == 0, a.err);
        QVERIFY(a.out.endsWith("\n"));
        QCOMPARE(a.out.count('\n'), 1);
        QVERIFY(a.out.trimmed().size() > 0);
        // Greedy is deterministic; sampling is fixed by its seed.
        QCOMPARE(
            runCli({"ask", "--model", m_vanilla, "--image", image, "--question", "What is in the picture?", "--greedy"})
                .out,
            a.out);
        const QStringList sampled = {"ask",        "--model",     m_vanilla, "--image", image,
                                     "--question", "What is it?", "--seed",  "4"};
        QCOMPARE(runCli(sampled).out, runCli(sampled).out);
    }

    void everyMethodRuns_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<bool>("pd");
        for (const std::string &name : se::unlearn::methodNames()) { // every row of the method table
            const QString m = QString::fromStdString(name);
            QTest::newRow(qPrintable(m)) << m << false;
            QTest::newRow(qPrintable(m + "+pd")) << m << true;
        }
    }
    void everyMethodRuns()
    {
        QFETCH(QString, method);
        QFETCH(bool, pd);
        const QString out = path("u.safetensors");
        QStringList args = {"unlearn", "--data", m_data,    "--model", m_vanilla, "--method", method,
                            "--steps", "2",      "--batch", "4",       "--out",   out};
        if (pd)
            args << "--pd";
        const Result r = runCli(args);
        QVERIFY2(r.code == 0, r.err);
        QVERIFY2(r.out.contains("finished after 2 steps"), r.out);
        QVERIFY2(r.err.contains(pd ? "pd_nll" : "total"), r.err);
        QVERIFY(QFileInfo(out).size() > 100000);
    }

    void loraRun()
    {
        const Result r = runCli({"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "po", "--pd", "--steps",
                                 "2", "--batch", "4", "--lora-rank", "4", "--out", path("lora.safetensors")});
        QVERIFY2(r.code == 0, r.err);
        // The report gives the step time (the steps after the first) and the peak memory since training began.
        const QRegularExpression step("median step ([0-9.]+) s, peak resident memory ([0-9.]+) GiB");
        const auto m = step.match(QString::fromUtf8(r.out));
        QVERIFY2(m.hasMatch(), r.out.constData());
        QVERIFY(m.captured(1).toDouble() > 0 && m.captured(2).toDouble() > 0.01);
        const Result a = runCli({"ask", "--model", path("lora.safetensors"), "--image",
                                 m_data + "/SD/train_00000_sd.png", "--question", "What is it?", "--greedy"});
        QVERIFY2(a.code == 0, a.err);
    }

    void packedImagesGiveTheSameAnswers()
    {
        const QString pack = path("images.safetensors");
        const Result p = runCli({"pack-images", "--data", m_data, "--out", pack});
        QVERIFY2(p.code == 0, p.err);
        QVERIFY2(p.out.contains("48 images"), p.out);
        const QString image = m_data + "/SD/train_00001_sd.png";
        const QStringList ask = {"ask", "--model",    m_vanilla,        "--image",
                                 image, "--question", "What is shown?", "--greedy"};
        const Result decoded = runCli(ask);
        const Result packed = runCli(QStringList(ask) << "--images" << pack);
        QVERIFY2(packed.code == 0, packed.err);
        QCOMPARE(packed.out, decoded.out);
        const Result u = runCli({"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "1",
                                 "--batch", "4", "--images", pack, "--out", path("g.safetensors")});
        QVERIFY2(u.code == 0, u.err);
    }

    void errors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown method") << QStringList{"unlearn",  "--data", "D",     "--model", "M",
                                                       "--method", "sgd",    "--out", "o"}
                                        << 2 << "method";
        QTest::newRow("missing --model") << QStringList{"ask", "--image", "x.png", "--question", "q"} << 2 << "--model";
        QTest::newRow("model is not a checkpoint")
            << QStringList{"ask", "--model", "BENCH/all_train.json", "--image", "x.png", "--question", "q"} << 1
            << "not a valid safetensors file";
        QTest::newRow("missing model") << QStringList{"ask",        "--model", "NOPE.safetensors", "--image", "x.png",
                                                      "--question", "q"}
                                       << 1 << "cannot open";
        QTest::newRow("missing image") << QStringList{"ask",        "--model", "VANILLA", "--image", "BENCH/none.png",
                                                      "--question", "q"}
                                       << 1 << "none.png";
        QTest::newRow("no dataset") << QStringList{"train-vanilla", "--data", "NOPE", "--out", "x.safetensors"} << 1
                                    << "NOPE";
        QTest::newRow("pd weight without pd")
            << QStringList{"unlearn", "--data",      "BENCH", "--model", "VANILLA", "--method",
                           "po",      "--pd-weight", "2",     "--out",   "o"}
            << 1 << "--pd-weight needs --pd";
    }
    void errors()
    {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        for (auto &a : args) {
            a.replace("BENCH", m_data);
            a.replace("VANILLA", m_vanilla);
            a.replace("NOPE", path("nope"));
        }
        message.replace("NOPE", path("nope"));
        const Result r = runCli(args);
        QCOMPARE(r.code, code);
        QVERIFY2(r.err.contains(message.toUtf8()), r.err);
        QVERIFY2(!r.err.contains("frame #"), r.err); // no LibTorch backtraces for users
    }

    void reproduceSideBySideGivesTheSameTable()
    {
        // reproduce --jobs 2 runs the sweep as two `run` processes at a time, each in its own store under
        // <store>.parts/, and merges them in order: the same table, ids included, as one run after another; every
        // run's log and weights stay in the parts folder. --profile prints where the time went.
        QByteArray tables[2];
        for (int jobs : {1, 2}) {
            const QString store = path(jobs == 1 ? "seq.sqlite" : "par.sqlite");
            const Result r = runCli({"reproduce", "--store", store, "--data", m_data, "--model", m_vanilla, "--methods",
                                     "ga,po", "--steps", "4", "--eval-every", "2", "--subset", "3", "--jobs",
                                     QString::number(jobs), "--profile"});
            QVERIFY2(r.code == 0, r.err);
            QVERIFY2(r.err.contains("evaluate vanilla: generate"), r.err); // the profile's table
            tables[jobs - 1] = r.out.left(r.out.indexOf("reproduce: "));
            QVERIFY(r.out.contains("reproduce: 4 runs in"));
            if (jobs == 2) {
                QVERIFY2(r.err.contains("[reproduce] po+pd finished"), r.err);
                for (const char *part : {"ga", "ga+pd", "po", "po+pd"}) {
                    const QString base = store + ".parts/" + part + ".sqlite";
                    QFile log(base + ".log"); // with the run's own profile
                    QVERIFY(log.open(QIODevice::ReadOnly));
                    QVERIFY(log.readAll().contains("evaluate final: generate"));
                    QVERIFY(QFileInfo(base + ".json").size() > 0);
                }
            }
        }
        QVERIFY(tables[0].contains("PO+PD"));
        QCOMPARE(tables[1], tables[0]);
        // Not a number: a usage error, before anything runs.
        QCOMPARE(runCli({"reproduce", "--store", path("x.sqlite"), "--data", m_data, "--jobs", "0"}).code, 2);
    }

    void reproduceSideBySideStopsOnCtrlC()
    {
        // Ctrl-C (SIGINT to reproduce alone: its runs have their own process group) asks each running run to stop,
        // starts no more, merges what ran, and exits 130 (it used to wait for ever for the runs it would not start).
        // Sent as soon as the first run is reported started. The longest runs start first (startOrder: PO+PD, then
        // GA+PD, then PO and GA), so the two short ones are the runs that must never start.
        const QString store = path("stopped.sqlite");
        QProcess p;
        p.start(QStringLiteral(SE_CLI_PATH), {"reproduce", "--store", store, "--data", m_data, "--model", m_vanilla,
                                              "--methods", "ga,po", "--steps", "400", "--subset", "3", "--jobs", "2"});
        QByteArray err;
        while (!err.contains("[reproduce] ga+pd started") && p.state() != QProcess::NotRunning) {
            p.waitForReadyRead(1000);
            err += p.readAllStandardError();
        }
        QVERIFY2(err.contains("[reproduce] po+pd started (log"), err);
        QVERIFY2(err.contains("[reproduce] ga+pd started (log"), err);
        QVERIFY2(err.indexOf("po+pd started") < err.indexOf("ga+pd started"), err);
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(300000));
        err += p.readAllStandardError();
        QCOMPARE(p.exitCode(), 130);
        QVERIFY2(!err.contains("[reproduce] po started") && !err.contains("[reproduce] ga started"), err);
        QVERIFY2(err.contains("[reproduce] po+pd ended with status"), err); // each run's end is reported
        const QByteArray out = p.readAllStandardOutput(); // the store's table, with what ran merged (if it began)
        QVERIFY2(out.contains("Vanilla") && !out.contains("PO "), out);
    }
};

QTEST_GUILESS_MAIN(TestEngineCli)
#include "test_enginecli.moc"
