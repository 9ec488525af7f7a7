// Data-parallel training through the CLI (issue 12): two processes on loopback, joined through torchrun's variables
// (a TCPStore at rank 0, Gloo), against one process with the same global batch (micro-batches × accumulation) and
// seed — vanilla training and an unlearning run whose steps draw from every sampler (DPO+PD: forget, refusals,
// retain, PD; the reference model) with curve evaluations on rank 0. And the failures: a rank that dies mid-run, a
// rank that never comes, wrong variables. On a machine with two GPUs and a LibTorch with NCCL, the same comparison
// on CUDA over NCCL (skipped elsewhere, saying why).
#include "core/model/checkpoint.h"
#include "core/store/runstore.h"
#include "core/unlearn/engine.h"
#include "tests/common/cli.h"

#include <QFileInfo>
#include <QProcess>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QtTest>
#include <chrono>
#include <csignal>

namespace {
using Result = se::testing::CliResult;
using se::testing::finishCli;
using se::testing::startCli;

quint16 freePort()
{
    QTcpServer s;
    s.listen(QHostAddress::LocalHost, 0);
    return s.serverPort();
}

Result runCli(const QStringList &args, const QMap<QString, QString> &vars = {})
{
    return se::testing::runCli(args, 300000, vars);
}

QMap<QString, QString> rankEnv(int rank, int world, quint16 port)
{
    return {{"RANK", QString::number(rank)},
            {"WORLD_SIZE", QString::number(world)},
            {"LOCAL_RANK", QString::number(rank)},
            {"MASTER_ADDR", "127.0.0.1"},
            {"MASTER_PORT", QString::number(port)}};
}

// Runs `args` as ranks 0 and 1 of a two-process group; `perRank` adds arguments to one rank's command.
std::pair<Result, Result> twoRanks(const QStringList &args, const std::function<QStringList(int)> &perRank = {})
{
    const quint16 port = freePort();
    QProcess p0, p1;
    startCli(p0, args + (perRank ? perRank(0) : QStringList()), rankEnv(0, 2, port));
    startCli(p1, args + (perRank ? perRank(1) : QStringList()), rankEnv(1, 2, port));
    Result r1 = finishCli(p1, 300000);
    Result r0 = finishCli(p0, 300000);
    return {r0, r1};
}

// The largest absolute difference between two built-in checkpoints' parameters, and the largest parameter change
// from `base` (so a tolerance can be read against how far training moved the weights).
struct Diff {
    double maxAbs = 0, moved = 0;
};
Diff compare(const QString &a, const QString &b, const QString &base)
{
    auto ca = se::model::loadCheckpoint(a.toStdString());
    auto cb = se::model::loadCheckpoint(b.toStdString());
    auto c0 = se::model::loadCheckpoint(base.toStdString());
    auto pa = ca.model->named_parameters(), pb = cb.model->named_parameters(), p0 = c0.model->named_parameters();
    Diff d;
    for (const auto &item : pa) {
        const auto &x = item.value();
        const auto &y = pb[item.key()];
        d.maxAbs = std::max(d.maxAbs, (x - y).abs().max().item<double>());
        if (p0.contains(item.key()))
            d.moved = std::max(d.moved, (x - p0[item.key()]).abs().max().item<double>());
    }
    return d;
}
} // namespace

class TestDataParallel : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_data, m_vanilla;

    QString path(const QString &name) const { return m_dir.filePath(name); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = path("bench");
        m_vanilla = path("vanilla.safetensors");
        const Result g = runCli({"make-benchmark", "--out", m_data, "--records", "24", "--image-size", "64"});
        QVERIFY2(g.code == 0, g.err);
        const Result t = runCli({"train-vanilla", "--data", m_data, "--out", m_vanilla, "--steps", "30", "--batch",
                                 "16", "--threads", "1"});
        QVERIFY2(t.code == 0, t.err);
    }

    // Two ranks with micro-batch 4 each = one process with micro-batch 4 × accumulation 2, to float rounding.
    void vanillaTrainingTwoRanksIsOneProcess()
    {
        const QStringList common = {"train-vanilla", "--data", m_data,   "--steps", "8", "--batch", "4",
                                    "--threads",     "1",      "--seed", "7"};
        const Result one = runCli(common + QStringList{"--out", path("v-one.safetensors"), "--grad-accum", "2"});
        QVERIFY2(one.code == 0, one.err);
        const auto [r0, r1] = twoRanks(common, [&](int rank) {
            return QStringList{"--out", path(rank == 0 ? "v-two.safetensors" : "v-rank1.safetensors")};
        });
        QVERIFY2(r0.code == 0, r0.err);
        QVERIFY2(r1.code == 0, r1.err);
        QVERIFY2(r0.err.contains("[data-parallel] rank 0 of 2 (torchrun, master 127.0.0.1:"), r0.err);
        QVERIFY2(r0.err.contains("data-parallel: 2 ranks, 8 steps"), r0.err);
        QVERIFY2(r1.err.contains("[vanilla rank 1/2] step 8/8"), r1.err);
        QVERIFY(r0.out.contains("finished after 8 steps"));
        QVERIFY2(r1.out.isEmpty(), r1.out); // rank 0 reports and writes
        QVERIFY(!QFileInfo::exists(path("v-rank1.safetensors")));
        // Against a run with half the global batch, to show the comparison can tell training runs apart.
        const Diff same = compare(path("v-one.safetensors"), path("v-two.safetensors"), path("v-one.safetensors"));
        const Result other = runCli({"train-vanilla", "--data", m_data, "--steps", "8", "--batch", "4", "--threads",
                                     "1", "--seed", "7", "--grad-accum", "1", "--out", path("v-half.safetensors")});
        QVERIFY2(other.code == 0, other.err);
        const Diff half = compare(path("v-one.safetensors"), path("v-half.safetensors"), path("v-one.safetensors"));
        qInfo("vanilla, 8 steps: two ranks vs one process max |Δw| = %.3g; half the batch instead: %.3g", same.maxAbs,
              half.maxAbs);
        QVERIFY2(same.maxAbs < 1e-5, qPrintable(QString::number(same.maxAbs)));
        QVERIFY(half.maxAbs > 1e-3); // the comparison can tell a different batch apart
    }

    // An unlearning run, DPO+PD (every sampler, refusals, the frozen reference), with curve evaluations that rank 0
    // makes while rank 1 waits: the same weights as one process with accumulation 2; rank 1 writes no store.
    void unlearningRunTwoRanksIsOneProcess()
    {
        const QStringList common = {
            "run",          "--data", m_data,           "--model", m_vanilla,   "--method", "dpo",      "--pd",
            "--steps",      "6",      "--batch",        "2",       "--threads", "1",        "--subset", "1",
            "--eval-every", "3",      "--curve-subset", "1",       "--greedy"};
        const Result one = runCli(common + QStringList{"--store", path("one.sqlite"), "--out",
                                                       path("dpo-one.safetensors"), "--grad-accum", "2"});
        QVERIFY2(one.code == 0, one.err);
        const auto [r0, r1] = twoRanks(common, [&](int rank) {
            return QStringList{"--store", path(rank == 0 ? "two.sqlite" : "rank1.sqlite"), "--out",
                               path(rank == 0 ? "dpo-two.safetensors" : "dpo-rank1.safetensors")};
        });
        QVERIFY2(r0.code == 0, r0.err);
        QVERIFY2(r1.code == 0, r1.err);
        QCOMPARE(r0.out.trimmed(), one.out.trimmed()); // the run's id, printed by rank 0 alone
        QVERIFY2(r1.out.isEmpty(), r1.out);
        QVERIFY2(r0.err.contains("evaluation at step 3"), r0.err);
        QVERIFY2(!r1.err.contains("evaluation at step"), r1.err);
        QVERIFY2(r1.err.contains("[run rank 1/2] step 6/6"), r1.err);
        for (const char *f : {"rank1.sqlite", "dpo-rank1.safetensors", "dpo-rank1.safetensors.step.safetensors"})
            QVERIFY2(!QFileInfo::exists(path(f)), f);
        const Diff d = compare(path("dpo-one.safetensors"), path("dpo-two.safetensors"), m_vanilla);
        qInfo("DPO+PD, 6 steps: two ranks vs one process max |Δw| = %.3g (training moved weights by up to %.3g)",
              d.maxAbs, d.moved);
        QVERIFY(d.moved > 1e-3);
        QVERIFY2(d.maxAbs < 1e-5, qPrintable(QString::number(d.maxAbs)));
        // The stored step losses agree too (each rank's means, averaged over the ranks), and the curve points are
        // there.
        se::store::RunStore a(path("one.sqlite").toStdString(), true), b(path("two.sqlite").toStdString(), true);
        const auto id = one.out.trimmed().toLongLong();
        const auto sa = a.steps(id), sb = b.steps(id);
        QCOMPARE(sb.size(), sa.size());
        QVERIFY(sa.size() >= 2); // the first and the last step at least
        for (std::size_t i = 0; i < sa.size(); ++i)
            for (std::size_t k = 0; k < sa[i].losses.size(); ++k)
                QVERIFY(std::abs(sa[i].losses[k].second - sb[i].losses[k].second) < 1e-5);
        QCOMPARE(b.run(id)->status, se::store::RunStatus::Finished);
    }

    // unlearn trains data-parallel under a launcher's rank variables too (it once ran alone as "rank 0 of 2" and
    // wrote its output): two ranks = one process with accumulation 2; rank 1 writes nothing.
    void unlearnTwoRanksIsOneProcess()
    {
        const QStringList common = {"unlearn", "--data",  m_data, "--model", m_vanilla, "--method",  "npo",
                                    "--pd",    "--steps", "5",    "--batch", "2",       "--threads", "1"};
        const Result one = runCli(common + QStringList{"--out", path("npo-one.safetensors"), "--grad-accum", "2"});
        QVERIFY2(one.code == 0, one.err);
        const auto [r0, r1] = twoRanks(common, [&](int rank) {
            return QStringList{"--out", path(rank == 0 ? "npo-two.safetensors" : "npo-rank1.safetensors")};
        });
        QVERIFY2(r0.code == 0, r0.err);
        QVERIFY2(r1.code == 0, r1.err);
        QVERIFY2(r0.err.contains("[data-parallel] rank 0 of 2 (torchrun"), r0.err);
        QVERIFY2(r0.err.contains("data-parallel: 2 ranks, 5 steps"), r0.err);
        QVERIFY2(r1.err.contains("rank 1/2] step 5/5"), r1.err);
        QVERIFY2(r0.out.contains("unlearn: finished after 5 steps"), r0.out);
        QVERIFY2(r1.out.isEmpty(), r1.out);
        QVERIFY(!QFileInfo::exists(path("npo-rank1.safetensors")));
        const Diff d = compare(path("npo-one.safetensors"), path("npo-two.safetensors"), m_vanilla);
        qInfo("NPO+PD unlearn, 5 steps: two ranks vs one process max |Δw| = %.3g (moved up to %.3g)", d.maxAbs,
              d.moved);
        QVERIFY(d.moved > 1e-3);
        QVERIFY2(d.maxAbs < 1e-5, qPrintable(QString::number(d.maxAbs)));
    }

    // As rank 0 of 2 without a partner, unlearn waits for it, fails after --dist-timeout and writes nothing.
    void unlearnAloneAsARankFails()
    {
        const Result r = runCli({"unlearn", "--data", m_data, "--model", m_vanilla, "--method", "ga", "--steps", "2",
                                 "--out", path("alone.safetensors"), "--dist-timeout", "3"},
                                rankEnv(0, 2, freePort()));
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot join the data-parallel group as rank 0 of 2"), r.err);
        QVERIFY(!QFileInfo::exists(path("alone.safetensors")));
    }

    // A CUDA model's gradients over NCCL (one GPU per rank, by LOCAL_RANK): two ranks = one process with
    // accumulation 2, float32 (no autocast) so that only the order of the sums differs.
    void ncclTwoGpusIsOneProcess()
    {
        if (se::engine::dataParallelBackends().find("NCCL") == std::string::npos)
            QSKIP("this build's LibTorch has no NCCL (a CUDA LibTorch does: ./test.sh --libtorch2)");
        if (torch::cuda::device_count() < 2)
            QSKIP("NCCL needs a GPU per rank: this machine has fewer than two");
        const QStringList common = {"unlearn",  "--data", m_data,     "--model", m_vanilla,
                                    "--method", "dpo",    "--pd",     "--steps", "5",
                                    "--batch",  "2",      "--device", "cuda",    "--no-bf16"};
        const Result one = runCli(common + QStringList{"--out", path("nccl-one.safetensors"), "--grad-accum", "2"});
        QVERIFY2(one.code == 0, one.err);
        const auto [r0, r1] = twoRanks(common, [&](int rank) {
            return QStringList{"--out", path(rank == 0 ? "nccl-two.safetensors" : "nccl-rank1.safetensors")};
        });
        QVERIFY2(r0.code == 0, r0.err);
        QVERIFY2(r1.code == 0, r1.err);
        QVERIFY2(r0.err.contains("per step over NCCL"), r0.err);
        const Diff d = compare(path("nccl-one.safetensors"), path("nccl-two.safetensors"), m_vanilla);
        qInfo("DPO+PD on two GPUs over NCCL: max |Δw| = %.3g against one process (moved up to %.3g)", d.maxAbs,
              d.moved);
        QVERIFY(d.moved > 1e-3);
        QVERIFY2(d.maxAbs < 1e-4, qPrintable(QString::number(d.maxAbs)));
    }

    // A rank that dies mid-run: rank 0 fails at once with the reason, and the store records it.
    void aRankThatDiesFailsTheRun()
    {
        const quint16 port = freePort();
        // No curve points (--eval-every 0): rank 0 is then in a step's all-reduce when rank 1 goes, never in the
        // meeting after a curve evaluation (aRankThatFailsBeforeTraining has that one).
        const QStringList args = {"run",     "--data",   m_data,         "--model", m_vanilla,   "--method", "gd",
                                  "--steps", "100000",   "--batch",      "2",       "--threads", "1",        "--subset",
                                  "1",       "--greedy", "--eval-every", "0"};
        QProcess p0, p1;
        startCli(p0, args + QStringList{"--store", path("dies.sqlite")}, rankEnv(0, 2, port));
        startCli(p1, args + QStringList{"--store", path("dies1.sqlite")}, rankEnv(1, 2, port));
        // Wait until rank 1 trains, then kill it.
        QByteArray err1;
        const auto t0 = std::chrono::steady_clock::now();
        while (!err1.contains("step 10/") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
            p1.waitForReadyRead(1000);
            err1 += p1.readAllStandardError();
        }
        QVERIFY2(err1.contains("step 10/"), err1);
        ::kill(pid_t(p1.processId()), SIGKILL);
        p1.waitForFinished();
        const auto killed = std::chrono::steady_clock::now();
        const Result r0 = finishCli(p0, 120000);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
        qInfo("rank 0 ended %.1f s after rank 1 was killed", secs);
        QCOMPARE(r0.code, 1);
        const QByteArray end = r0.err.right(2000); // LibTorch 2.x's Gloo says more than 1.13's
        QVERIFY2(end.contains("data-parallel all-reduce"), end);
        QVERIFY2(end.contains("another rank stopped"), end);
        QVERIFY(secs < 60);
        se::store::RunStore store(path("dies.sqlite").toStdString(), true);
        const auto run = store.run(r0.out.trimmed().toLongLong());
        QVERIFY(run);
        QCOMPARE(run->status, se::store::RunStatus::Failed);
        QVERIFY2(QString::fromStdString(run->message).contains("data-parallel all-reduce"), run->message.c_str());
    }

    // A rank that fails before training (here: its model cannot be read) while rank 0 evaluates the vanilla model:
    // rank 0 does not wait for it (the meeting's patience is a day), it fails at once with the reason.
    void aRankThatFailsBeforeTraining()
    {
        const QStringList args = {"run",     "--data", m_data,      "--method", "gd",       "--steps", "5",
                                  "--batch", "2",      "--threads", "1",        "--subset", "1",       "--greedy"};
        const auto t0 = std::chrono::steady_clock::now();
        const auto [r0, r1] = twoRanks(args, [&](int rank) {
            return QStringList{"--store", path(rank == 0 ? "early.sqlite" : "early1.sqlite"), "--model",
                               rank == 0 ? m_vanilla : path("no-such-model.safetensors")};
        });
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QCOMPARE(r1.code, 1);
        QVERIFY2(r1.err.contains("no-such-model.safetensors"), r1.err);
        QCOMPARE(r0.code, 1);
        QVERIFY2(r0.err.contains("data-parallel ranks did not meet before training"), r0.err);
        QVERIFY(secs < 120);
        se::store::RunStore store(path("early.sqlite").toStdString(), true);
        const auto run = store.run(r0.out.trimmed().toLongLong());
        QVERIFY(run);
        QCOMPARE(run->status, se::store::RunStatus::Failed);
        QVERIFY2(QString::fromStdString(run->message).contains("did not meet before training"), run->message.c_str());
    }

    // A rank that never comes: the others give up after --dist-timeout with a message that says so.
    void aRankThatNeverComes()
    {
        const auto t0 = std::chrono::steady_clock::now();
        const Result r = runCli({"train-vanilla", "--data", m_data, "--out", path("never.safetensors"), "--steps", "2",
                                 "--dist-timeout", "3"},
                                rankEnv(0, 2, freePort()));
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot join the data-parallel group as rank 0 of 2"), r.err);
        QVERIFY(secs < 60);
        QVERIFY(!QFileInfo::exists(path("never.safetensors")));
    }

    void wrongVariablesAreRefused()
    {
        const Result r = runCli({"train-vanilla", "--data", m_data, "--out", path("bad.safetensors"), "--steps", "2"},
                                {{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "127.0.0.1"}});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("environment variable RANK is '2'; it must be 0…1"), r.err);
    }

    // reproduce starts its own processes: as one rank of several it would run the sweep once per rank.
    void reproduceRefusesToBeARank()
    {
        const Result r =
            runCli({"reproduce", "--store", path("rank.sqlite"), "--data", m_data, "--methods", "po"},
                   {{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "1"}, {"SLURM_STEP_NODELIST", "node[1-2]"}});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("started as rank 1 of 2 (slurm, master node1:"), r.err);
        QVERIFY2(r.err.contains("--slurm"), r.err);
        QVERIFY(!QFileInfo::exists(path("rank.sqlite")));
    }
};

QTEST_GUILESS_MAIN(TestDataParallel)
#include "test_dataparallel.moc"
