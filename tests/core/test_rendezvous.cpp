// Where a data-parallel process finds its peers: torchrun's and Slurm's variables, Slurm node lists, and the errors
// for variables that are there but wrong (core/util/rendezvous.h).
#include "core/util/rendezvous.h"

#include <QtTest>

#include <map>
#include <string>

using se::dist::rendezvousFromEnvironment;

namespace {
using Env = std::map<std::string, std::string>;
se::dist::EnvFn from(const Env &env)
{
    return [env](const char *name) -> const char * {
        static thread_local std::string value; // valid until the next call, as getenv's
        const auto it = env.find(name);
        if (it == env.end())
            return nullptr;
        value = it->second;
        return value.c_str();
    };
}
QString errorOf(const Env &env)
{
    try {
        rendezvousFromEnvironment(from(env));
    } catch (const std::exception &e) {
        return QString::fromStdString(e.what());
    }
    return {};
}
} // namespace

class TestRendezvous : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void aloneWithoutVariables()
    {
        const auto r = rendezvousFromEnvironment(from({}));
        QCOMPARE(r.worldSize, 1);
        QCOMPARE(r.rank, 0);
        QVERIFY(!r.distributed());
        QCOMPARE(QString::fromStdString(r.launcher), QString("single"));
        // A Slurm batch script (no job step) is one process, whatever SLURM_NTASKS says.
        const auto b = rendezvousFromEnvironment(from({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}}));
        QCOMPARE(b.worldSize, 1);
    }

    void torchrunVariables()
    {
        const auto r = rendezvousFromEnvironment(from({{"RANK", "1"},
                                                       {"WORLD_SIZE", "2"},
                                                       {"LOCAL_RANK", "1"},
                                                       {"MASTER_ADDR", "10.0.0.7"},
                                                       {"MASTER_PORT", "29411"}}));
        QCOMPARE(r.rank, 1);
        QCOMPARE(r.worldSize, 2);
        QCOMPARE(r.localRank, 1);
        QCOMPARE(QString::fromStdString(r.masterAddr), QString("10.0.0.7"));
        QCOMPARE(r.masterPort, 29411);
        QCOMPARE(QString::fromStdString(r.launcher), QString("torchrun"));
        QCOMPARE(QString::fromStdString(r.describe()), QString("rank 1 of 2 (torchrun, master 10.0.0.7:29411)"));
        // They win over Slurm's when both are there (torchrun started inside a Slurm allocation).
        const auto both = rendezvousFromEnvironment(
            from({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "1"}}));
        QCOMPARE(both.worldSize, 1);
        QCOMPARE(both.rank, 0);
    }

    void slurmJobStep()
    {
        const auto r = rendezvousFromEnvironment(from({{"SLURM_STEP_NUM_TASKS", "4"},
                                                       {"SLURM_PROCID", "3"},
                                                       {"SLURM_LOCALID", "1"},
                                                       {"SLURM_STEP_NODELIST", "gpu[07-08]"},
                                                       {"SLURM_JOB_NODELIST", "gpu[01-08]"},
                                                       {"SLURM_JOB_ID", "123456"}}));
        QCOMPARE(r.rank, 3);
        QCOMPARE(r.worldSize, 4);
        QCOMPARE(r.localRank, 1);
        QCOMPARE(QString::fromStdString(r.masterAddr), QString("gpu07")); // the step's first node
        QCOMPARE(r.masterPort, 20000 + 123456 % 20000);                   // from the job id
        QCOMPARE(QString::fromStdString(r.launcher), QString("slurm"));
        // The job's list when the step's is missing; MASTER_ADDR and MASTER_PORT override.
        const auto j = rendezvousFromEnvironment(
            from({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_JOB_NODELIST", "n1,n2"}}));
        QCOMPARE(QString::fromStdString(j.masterAddr), QString("n1"));
        const auto o = rendezvousFromEnvironment(from(
            {{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "0"}, {"MASTER_ADDR", "head"}, {"MASTER_PORT", "1234"}}));
        QCOMPARE(QString::fromStdString(o.masterAddr), QString("head"));
        QCOMPARE(o.masterPort, 1234);
    }

    void slurmNodeLists()
    {
        auto list = [](const std::string &s) {
            QStringList out;
            for (const auto &h : se::dist::expandSlurmNodeList(s))
                out << QString::fromStdString(h);
            return out.join(' ');
        };
        QCOMPARE(list("node[01-03,07],gpu5"), QString("node01 node02 node03 node07 gpu5"));
        QCOMPARE(list("a[8-11]"), QString("a8 a9 a10 a11"));
        QCOMPARE(list("a[008-010]-ib"), QString("a008-ib a009-ib a010-ib")); // the suffix is every host's
        QCOMPARE(list("localhost"), QString("localhost"));
        QCOMPARE(list(""), QString());
        for (const char *bad : {"n[1-", "n[3-1]", "n[a-b]", "n[1]x[2]", "n[-]"}) {
            bool threw = false;
            try {
                se::dist::expandSlurmNodeList(bad);
            } catch (const std::exception &e) {
                threw = QString(e.what()).contains(bad);
            }
            QVERIFY2(threw, bad);
        }
    }

    void wrongVariablesAreNamed()
    {
        QVERIFY(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}}).contains("RANK is '2'"));
        QVERIFY(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}}).contains("0…1"));
        QVERIFY(errorOf({{"WORLD_SIZE", "two"}}).contains("WORLD_SIZE is 'two', not a whole number"));
        QVERIFY(errorOf({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}).contains("RANK is unset"));
        QVERIFY(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "0"}}).contains("MASTER_ADDR is unset"));
        QVERIFY(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
                    .contains("MASTER_PORT is '70000'; it must be 1…65535"));
        QVERIFY(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "-1"}, {"MASTER_ADDR", "h"}}).contains("RANK is '-1'"));
        QVERIFY(errorOf({{"WORLD_SIZE", "99999999999999999999"}}).contains("not a whole number"));
        QVERIFY(errorOf({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "0"}}).contains("SLURM_STEP_NODELIST"));
        QVERIFY(errorOf({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_STEP_NODELIST", "n[2-1]"}})
                    .contains("runs backwards"));
        QVERIFY(errorOf({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "x"}, {"SLURM_STEP_NODELIST", "n"}})
                    .contains("SLURM_PROCID is 'x'"));
    }

    // What reproduce gives its run processes: everything but the variables that would make each of them a rank.
    void childrenAreSingleProcesses()
    {
        const char *env[] = {"PATH=/usr/bin",   "RANK=1",         "WORLD_SIZE=2",           "LOCAL_RANK=1",
                             "MASTER_ADDR=h",   "RANKING=7",      "SLURM_STEP_NUM_TASKS=2", "SLURM_PROCID=1",
                             "SLURM_LOCALID=1", "SLURM_JOB_ID=9", "SLURM_STEP_NODELIST=n1", nullptr};
        const auto kept = se::dist::singleProcessEnvironment(env);
        const std::vector<std::string> expected = {"PATH=/usr/bin", "MASTER_ADDR=h", "RANKING=7", "SLURM_JOB_ID=9",
                                                   "SLURM_STEP_NODELIST=n1"};
        QVERIFY(kept == expected);
        Env asMap;
        for (const auto &e : kept)
            asMap[e.substr(0, e.find('='))] = e.substr(e.find('=') + 1);
        QVERIFY(!rendezvousFromEnvironment(from(asMap)).distributed());
        QVERIFY(se::dist::singleProcessEnvironment(nullptr).empty());
    }
};

QTEST_GUILESS_MAIN(TestRendezvous)
#include "test_rendezvous.moc"
