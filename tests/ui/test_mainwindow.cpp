// The main window offscreen: opens a dataset on a worker, lists its records, filters by category, shows a
// record, lists problems in the panel, and reports an unreadable folder without a modal dialog.
#include "tests/common/datasetfixture.h"
#include "ui/mainwindow.h"

#include <QComboBox>
#include <QListWidget>
#include <QSignalSpy>
#include <QTableView>
#include <QTextBrowser>

using namespace se::testing;

class TestMainWindow : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // keep QSettings away from the user's
    }

    void opensAndFilters()
    {
        Fixture f;
        QJsonObject rec = f.train[2].toObject();
        rec["image_path"] = "Privacy/missing.png";
        f.train[2] = rec;
        f.write();
        se::ui::MainWindow w;
        w.show();
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        w.openBenchmark(f.root);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(w.recordView()->model()->rowCount(), 4);
        QCOMPARE(w.problemList()->count(), 1);
        QVERIFY(w.problemList()->item(0)->text().contains("all_train.json: record 2: image_path: image not found"));

        auto *combo = w.findChild<QComboBox *>();
        QVERIFY(combo);
        const int weapon = combo->findData("Weapon");
        QVERIFY(weapon > 0);
        QVERIFY(combo->itemText(weapon).contains("(1)"));
        combo->setCurrentIndex(weapon);
        QCOMPARE(w.recordView()->model()->rowCount(), 1);
        w.recordView()->selectRow(0);
        auto *pairs = w.findChild<QTextBrowser *>();
        QVERIFY(pairs->toPlainText().contains("Weapon — record 1"));
        QVERIFY(pairs->toPlainText().contains("Use the Zorvex crank 0."));
        combo->setCurrentIndex(0);
        QCOMPARE(w.recordView()->model()->rowCount(), 4);
    }

    void unreadableFolder()
    {
        se::ui::MainWindow w;
        QSignalSpy failed(&w, &se::ui::MainWindow::loadFailed);
        w.openBenchmark("/nonexistent/benchmark");
        QVERIFY(failed.wait(10000));
        QVERIFY(failed.first().first().toString().contains("not found"));
        QCOMPARE(w.problemList()->count(), 1);
        QVERIFY(!w.benchmark());
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_mainwindow.moc"
