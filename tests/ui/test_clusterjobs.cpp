// Run ▸ Cluster Jobs… (ui/clusterjobs.h) on a store whose Slurm sweep has one run ended and one never started: the
// rows and their states, what it says when squeue cannot be asked, Collect Ended Runs merging once into the store
// (in the sweep's order, the vanilla evaluation not copied twice), and the window on a store with no sweep. The
// CLI's --collect and the real Slurm behind the states are tests/slurm/test_slurm.sh's.
#include "core/store/runstore.h"
#include "core/store/slurmsweep.h"
#include "ui/clusterjobs.h"
#include "ui/mainwindow.h"

#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>

using se::store::RunInfo;
using se::store::RunStatus;
using se::store::RunStore;

class TestClusterJobs : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    std::string m_store;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_store = m_dir.filePath("runs.sqlite").toStdString();
        {
            RunStore main(m_store);
            RunInfo v;
            v.method = "vanilla";
            v.name = "vanilla";
            v.status = RunStatus::Finished;
            main.createRun(v);
        }
        std::filesystem::create_directories(se::store::sweepPartsDir(m_store));
        { // PO's task ran: its part holds the main store's runs and its own, finished
            RunStore part(se::store::sweepPartPath(m_store, "po"));
            part.mergeFrom(m_store);
            RunInfo r;
            r.method = "po";
            r.name = "po";
            r.status = RunStatus::Finished;
            r.parentId = 1;
            part.createRun(r);
        }
        se::store::SlurmSubmission s;
        s.store = m_store;
        s.vanillaJob = "41";
        s.arrayJob = "42";
        s.labels = {"po", "po+pd"};
        se::store::writeSubmission(s);
    }

    void showsEachTaskAndCollectsOnce()
    {
        se::ui::ClusterJobsDialog d(QString::fromStdString(m_store), nullptr, "squeue-that-is-not-installed");
        QVERIFY(d.hasSubmission());
        QVERIFY(d.summaryLabel()->text().contains("vanilla evaluation job 41, array job 42 (2 runs)"));
        QSignalSpy refreshed(&d, &se::ui::ClusterJobsDialog::refreshed);
        QVERIFY(refreshed.wait(10000));
        QCOMPARE(d.table()->rowCount(), 2);
        QCOMPARE(d.table()->item(0, 0)->text(), QString("po"));
        QCOMPARE(d.table()->item(0, 1)->text(), QString("finished"));
        QCOMPARE(d.table()->item(1, 0)->text(), QString("po+pd"));
        QVERIFY2(d.table()->item(1, 1)->text().startsWith("missing (not in Slurm's queue"),
                 qPrintable(d.table()->item(1, 1)->text()));
        const QString note = d.noteLabel()->text();
        QVERIFY2(note.contains("1 of 2 ended") && note.contains("squeue: cannot run squeue-that-is-not-installed"),
                 qPrintable(note));
        QVERIFY(d.collectButton()->isEnabled());

        QSignalSpy collected(&d, &se::ui::ClusterJobsDialog::collected);
        d.collectButton()->click();
        QVERIFY(collected.wait(10000));
        QCOMPARE(collected.takeFirst().at(0).toInt(), 1);
        {
            RunStore main(m_store, true);
            const auto runs = main.runs();
            QCOMPARE(int(runs.size()), 2); // the vanilla evaluation once, then PO
            QCOMPARE(QString::fromStdString(runs[1].method), QString("po"));
            QCOMPARE(runs[1].parentId, runs[0].id);
        }
        QVERIFY(refreshed.wait(10000));
        d.collect(); // again: nothing new
        QVERIFY(collected.wait(10000));
        QCOMPARE(collected.takeFirst().at(0).toInt(), 0);
    }

    void aStoreWithoutSweep()
    {
        const QString other = m_dir.filePath("other.sqlite");
        se::ui::ClusterJobsDialog d(other);
        QVERIFY(!d.hasSubmission());
        QVERIFY2(d.summaryLabel()->text().contains("No Slurm sweep was submitted for this store"),
                 qPrintable(d.summaryLabel()->text()));
        QVERIFY(d.summaryLabel()->text().contains("slurm.json"));
        QVERIFY(!d.collectButton()->isEnabled());
    }

    void fromTheRunMenu()
    {
        se::ui::MainWindow w;
        QVERIFY(!w.showClusterJobs()); // no store open: a message instead
        QVERIFY(w.openRunStore(QString::fromStdString(m_store)));
        auto *d = w.showClusterJobs();
        QVERIFY(d);
        QVERIFY(d->hasSubmission());
        d->close();
    }
};

QTEST_MAIN(TestClusterJobs)
#include "test_clusterjobs.moc"
