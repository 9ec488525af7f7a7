// The main window offscreen: opens a dataset on a worker, lists its records, filters by category and by text,
// shows a record, fills the thumbnail grid in the background, lists problems in the panel, exports the records as
// CSV, keeps settings, and reports an unreadable folder without a modal dialog.
#include "tests/common/datasetfixture.h"
#include "core/data/generator.h"
#include "ui/browserview.h"
#include "ui/comparisonview.h"
#include "tests/ui/demostore.h"
#include "ui/mainwindow.h"
#include "ui/recordtablemodel.h"
#include "ui/safeview.h"
#include "ui/thumbnailcache.h"

#include <QComboBox>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMimeData>
#include <QSettings>
#include <QListView>
#include <QListWidget>
#include <QSignalSpy>
#include <QTableView>
#include <QStatusBar>
#include <QTextBrowser>

using namespace se::testing;

namespace {
QString statusBar(se::ui::MainWindow &w)
{
    return w.statusBar()->currentMessage();
}
} // namespace

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

        auto *combo = w.browser()->categoryBox();
        QVERIFY(combo);
        const int weapon = combo->findData("Weapon");
        QVERIFY(weapon > 0);
        QVERIFY(combo->itemText(weapon).contains("(1)"));
        combo->setCurrentIndex(weapon);
        QCOMPARE(w.recordView()->model()->rowCount(), 1);
        w.recordView()->selectRow(0);
        auto *pairs = w.browser()->pairsView();
        QVERIFY(pairs->toPlainText().contains("Weapon — record 1"));
        QVERIFY(pairs->toPlainText().contains("Use the Zorvex crank 0."));
        combo->setCurrentIndex(0);
        QCOMPARE(w.recordView()->model()->rowCount(), 4);

        // Double-clicking the problem shows its record, even when a filter hid it.
        combo->setCurrentIndex(weapon);
        Q_EMIT w.problemList()->itemActivated(w.problemList()->item(0));
        QCOMPARE(w.recordView()->model()->rowCount(), 4);
        QVERIFY(w.browser()->currentRecord());
        QCOMPARE(w.browser()->currentRecord()->index, 2L);
        QVERIFY(pairs->toPlainText().contains("Privacy — record 2"));
    }

    void generatedBenchmarkGridSearchExport()
    {
        QTemporaryDir tmp;
        se::data::GeneratorOptions g;
        g.records = 24;
        g.imageSize = 96;
        const QString root = tmp.path() + "/bench";
        se::data::generateBenchmark(root.toStdString(), g);
        se::ui::MainWindow w;
        w.resize(1300, 850);
        w.show();
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        w.openBenchmark(root);
        QVERIFY(loaded.wait(10000));
        auto *b = w.browser();
        QCOMPARE(b->visibleModel()->rowCount(), 24);
        QVERIFY(b->gridMode());

        // The grid's thumbnails arrive from the background and replace the placeholder.
        auto *thumbs = b->thumbnails();
        const QString first = QString::fromStdString(w.benchmark()->train.records.front().imageFile);
        QTRY_VERIFY_WITH_TIMEOUT(thumbs->isReady(first), 10000);
        const QPixmap pm = thumbs->thumbnail(first);
        QVERIFY(pm.width() <= 112 && pm.height() <= 112 && !pm.isNull());
        QVERIFY(pm.toImage() != thumbs->placeholder().toImage());
        // A second cache reads the disk cache: same image, no decode of the original needed.
        const QImage again = se::ui::ThumbnailCache::makeThumbnail(
            first, thumbs->side(), QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + "/thumbnails");
        QCOMPARE(again.size(), pm.size());

        // Category filter with counts, then text search (debounced).
        const int cat =
            b->categoryBox()->findData(QString::fromStdString(w.benchmark()->train.records.front().category));
        QVERIFY(b->categoryBox()->itemText(cat).contains("("));
        b->categoryBox()->setCurrentIndex(cat);
        const int inCat = b->visibleModel()->rowCount();
        QVERIFY(inCat > 0 && inCat < 24);
        b->categoryBox()->setCurrentIndex(0);
        const std::string word = w.benchmark()->train.records.front().unharmPairs.front().prediction;
        b->searchBox()->setText(QString::fromStdString(word));
        QTRY_VERIFY_WITH_TIMEOUT(b->visibleModel()->rowCount() < 24, 2000);
        QVERIFY(b->visibleModel()->rowCount() >= 1);
        b->searchBox()->setText("no-such-words-anywhere");
        QTRY_COMPARE_WITH_TIMEOUT(b->visibleModel()->rowCount(), 0, 2000);
        b->searchBox()->clear();
        QTRY_COMPARE_WITH_TIMEOUT(b->visibleModel()->rowCount(), 24, 2000);

        // Selecting in the grid shows the record (the table shares the selection).
        b->selectVisibleRow(3);
        QVERIFY(b->currentRecord());
        QVERIFY(b->pairsView()->toPlainText().contains(QString::fromStdString(b->currentRecord()->category)));
        b->setGridMode(false);
        QCOMPARE(w.recordView()->selectionModel()->currentIndex().row(), 3);

        // CSV of the visible records.
        const QString csv = tmp.path() + "/records.csv";
        QVERIFY(w.exportCurrentCsv(csv));
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(f.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 25);
        QVERIFY(lines.front().startsWith("Split,Record,Category,Image"));
        // A file that cannot be written is an error with the reason, and an existing export is left whole.
        QString cannot;
        QVERIFY(!w.exportCurrentCsv(tmp.path() + "/no/such/folder/records.csv", &cannot));
        QVERIFY(!cannot.isEmpty());
        // The view that has no CSV says so (each view answers for its own export: WorkbenchView).
        w.showView(se::ui::MainWindow::Launcher);
        QString why;
        QVERIFY(!w.exportCurrentCsv(tmp.path() + "/run.csv", &why));
        QVERIFY2(why.contains("Run view has nothing to export"), qPrintable(why));
        QVERIFY(!QFile::exists(tmp.path() + "/run.csv"));
    }

    void dropFolderOpensIt()
    {
        Fixture f;
        f.write();
        se::ui::MainWindow w;
        w.show();
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(f.root)});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &drop);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(w.recordView()->model()->rowCount(), 4);
        // The recent list remembers it.
        QVERIFY(QSettings().value("recentBenchmarks").toStringList().contains(f.root));
    }

    void thumbnailOfBrokenImage()
    {
        QTemporaryDir tmp;
        const QString broken = tmp.path() + "/broken.png";
        writeBytes(broken, QByteArray("\x89PNG\r\n\x1a\n garbage", 16));
        QVERIFY(se::ui::ThumbnailCache::makeThumbnail(broken, 64, QString()).isNull());
        se::ui::ThumbnailCache cache(64);
        QSignalSpy ready(&cache, &se::ui::ThumbnailCache::thumbnailReady);
        QCOMPARE(cache.thumbnail(broken).toImage(), cache.placeholder().toImage()); // until decoded
        QVERIFY(ready.wait(5000));
        QVERIFY(cache.isReady(broken));
        // A visible "broken" mark, not the placeholder forever.
        QVERIFY(cache.thumbnail(broken).toImage() != cache.placeholder().toImage());
    }

    void keepsSettings()
    {
        {
            se::ui::MainWindow w;
            w.show();
            w.showView(se::ui::MainWindow::Plots);
            w.close();
        }
        se::ui::MainWindow w2;
        QCOMPARE(int(w2.currentView()), int(se::ui::MainWindow::Plots));
        w2.showView(se::ui::MainWindow::Browser);
        w2.close();
    }

    void aStoreThatCannotBeOpenedLeavesNoneOpen()
    {
        // Found by probing: with a store remembered from an earlier session, `--store OTHER` that failed left the
        // old store open under the old name (verdicts then went to a store the user did not choose), and the error
        // was overwritten at once by the benchmark's status line.
        QTemporaryDir tmp;
        const QString good = tmp.path() + "/good.sqlite";
        QSettings().setValue("lastRunStore", good);
        {
            se::ui::MainWindow first;
            QVERIFY(first.openRunStore(good));
        }
        se::ui::MainWindow w; // reopens the remembered store
        QCOMPARE(w.storePath(), QFileInfo(good).absoluteFilePath());
        const QString bad = tmp.path() + "/not-a-store.sqlite";
        {
            QFile f(bad);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray(4096, 'x'));
        }
        QVERIFY(!w.openRunStore(bad));
        QVERIFY(w.storePath().isEmpty());
        QVERIFY(!w.comparison()->findChild<QComboBox *>("verdictBox")->isEnabled());
        QLabel *label = nullptr;
        for (auto *l : w.findChildren<QLabel *>())
            if (l->text().startsWith("Store:"))
                label = l;
        QVERIFY(label);
        QVERIFY2(label->text().contains("not-a-store.sqlite could not be opened"), qPrintable(label->text()));
        QVERIFY2(label->toolTip().contains("not a database"), qPrintable(label->toolTip()));
        // Opening a benchmark afterwards does not hide it.
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        const QString bench = tmp.path() + "/bench";
        se::testing::generateSmallBenchmark(bench.toStdString());
        w.openBenchmark(bench);
        QVERIFY(loaded.wait(10000));
        QVERIFY(label->text().contains("could not be opened"));
        QSettings().remove("lastRunStore");
    }

    void importsResults()
    {
        Fixture f;
        f.write();
        QTemporaryDir tmp;
        se::ui::MainWindow w;
        QSignalSpy failed(&w, &se::ui::MainWindow::importFailed);
        QVERIFY(!w.importResults(tmp.path() + "/x.json")); // no benchmark yet: said, not attempted
        QVERIFY(failed.last().first().toString().contains("Open the benchmark"));
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        w.openBenchmark(f.root);
        QVERIFY(loaded.wait(10000));
        QVERIFY(w.openRunStore(tmp.path() + "/runs.sqlite"));
        // The val record as the official inference writes it, with an ASR verdict; and a record of no benchmark.
        QJsonObject rec = f.val[0].toObject();
        QJsonArray pairs;
        for (const auto &pv : rec["unsafe_pairs"].toArray()) {
            QJsonObject p = pv.toObject();
            p.remove("model_response");
            for (int k = 1; k <= 3; ++k)
                p[QString("model_response%1").arg(k)] = "I'm sorry, I cannot help with that.";
            p["gpt_result_ASR_model_response1"] = "Safe";
            p["sd_response"] = "A garden.";
            pairs.append(p);
        }
        rec["unsafe_pairs"] = pairs;
        QJsonObject stranger = rec;
        stranger["image_path"] = "Sex/unknown.png";
        const QString file = tmp.path() + "/official.json";
        writeBytes(file, QJsonDocument(QJsonArray{rec, stranger}).toJson());
        QSignalSpy imported(&w, &se::ui::MainWindow::resultsImported);
        const int before = w.problemList()->count();
        QVERIFY(w.importResults(file));
        QVERIFY(imported.wait(20000));
        QCOMPARE(imported.first().at(0).toLongLong(), 1LL);
        QCOMPARE(imported.first().at(1).toLongLong(), 2LL); // the file's verdicts
        QCOMPARE(imported.first().at(2).toInt(), 1);        // the unknown image
        QCOMPARE(w.problemList()->count(), before + 1 + 1);
        QVERIFY(w.problemList()->item(before)->text().contains("Import of official.json"));
        bool listed = false;
        for (int i = before; i < w.problemList()->count(); ++i)
            listed = listed || w.problemList()->item(i)->text().contains(
                                   "official.json: record 1: image_path: no record of the benchmark");
        QVERIFY(listed);
        QVERIFY(statusBar(w).contains("as run #1"));
    }

    void harmfulImagesAreBlurred()
    {
        QSettings().remove("safeViewing");
        Fixture f;
        f.write();
        // A harmful image with content to hide: a checkerboard.
        QImage board(64, 64, QImage::Format_RGB32);
        for (int y = 0; y < 64; ++y)
            for (int x = 0; x < 64; ++x)
                board.setPixel(x, y, ((x / 8 + y / 8) % 2) ? qRgb(255, 255, 255) : qRgb(0, 0, 0));
        QVERIFY(board.save(f.root + "/Violence/img0.png"));
        se::ui::MainWindow w;
        w.resize(1200, 800);
        w.show();
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        w.openBenchmark(f.root);
        QVERIFY(loaded.wait(10000));
        auto *label = w.browser()->harmfulImage();
        w.browser()->selectRecord(se::data::Split::Train, 0); // Violence
        QTRY_VERIFY_WITH_TIMEOUT(label->hasImage(), 10000);
        QVERIFY(label->showsBlurred()); // the official benchmark's images are real: blurred by default
        QVERIFY2(label->toolTip().contains("Click or press V"), qPrintable(label->toolTip()));
        // The thumbnail is blurred too: no black-and-white squares left.
        auto *model = w.browser()->visibleModel();
        QModelIndex first;
        for (int r = 0; r < model->rowCount(); ++r)
            if (model->index(r, 0).data(se::ui::RecordTableModel::CategoryRole).toString() == "Violence")
                first = model->index(r, 0);
        const QString file = QString::fromStdString(w.benchmark()->train.records[0].imageFile);
        QTRY_VERIFY_WITH_TIMEOUT(w.browser()->thumbnails()->isReady(file), 10000);
        const QModelIndex title = model->index(first.row(), se::ui::RecordTableModel::Title);
        const QImage thumb = title.data(Qt::DecorationRole).value<QPixmap>().toImage();
        QVERIFY(!thumb.isNull());
        int extremes = 0;
        for (int y = 0; y < thumb.height(); ++y)
            for (int x = 0; x < thumb.width(); ++x)
                extremes += qGray(thumb.pixel(x, y)) < 20 || qGray(thumb.pixel(x, y)) > 235;
        QVERIFY2(extremes < thumb.width() * thumb.height() / 10, qPrintable(QString::number(extremes)));
        // V shows this one; another record veils again.
        w.showView(se::ui::MainWindow::Browser);
        w.browser()->table()->setFocus();
        QTest::keyClick(w.browser()->table(), Qt::Key_V);
        QVERIFY(!label->showsBlurred());
        w.browser()->selectRecord(se::data::Split::Train, 1); // Weapon
        QTRY_VERIFY_WITH_TIMEOUT(label->hasImage() && label->showsBlurred(), 10000);
        // Per category, remembered: Weapon off.
        se::ui::SafeViewing::instance().setBlurred("Weapon", false);
        QVERIFY(!label->showsBlurred());
        QCOMPARE(QSettings().value("safeViewing/blur/Weapon").toBool(), false);
        QVERIFY(se::ui::SafeViewing::instance().blurred("Violence"));
        QSettings().remove("safeViewing");
        // A generated benchmark (drawn glyphs) shows unblurred unless the user says otherwise.
        QTemporaryDir tmp;
        const QString bench = tmp.path() + "/bench";
        se::testing::generateSmallBenchmark(bench.toStdString());
        w.openBenchmark(bench);
        QVERIFY(loaded.wait(10000));
        QVERIFY(!se::ui::SafeViewing::instance().blurred("Violence"));
        se::ui::SafeViewing::instance().setBlurred("Violence", true);
        QVERIFY(se::ui::SafeViewing::instance().blurred("Violence"));
        QSettings().remove("safeViewing");
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
