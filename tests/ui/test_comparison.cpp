// The comparison view offscreen over a store written through the RunStore API (tests/ui/demostore.h) on a
// generated benchmark of 24 records: the join of two runs' answers, the filters ("changed only", "refusal flipped",
// set, category, split), keyboard navigation, the word diff in the detail panel, verdicts saved to the store with
// undo, and the CSV export. Also the comparison query itself and the presentation mode's slides.
#include "core/data/generator.h"
#include "core/store/comparison.h"
#include "tests/ui/demostore.h"
#include "ui/comparisonmodel.h"
#include "ui/comparisonview.h"
#include "ui/mainwindow.h"
#include "ui/presentationview.h"
#include "core/store/runstore.h"

#include <QCheckBox>
#include <QLabel>
#include <QListWidget>
#include <QComboBox>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QUndoStack>
#include <QtTest>
#include <sqlite3.h>

class TestComparison : public QObject
{
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_store;
    se::data::Benchmark m_bench;
    se::testing::DemoRuns m_runs;
    long m_expectedRows = 0;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        m_bench = se::testing::generateSmallBenchmark((m_tmp.path() + "/bench").toStdString());
        m_store = m_tmp.path() + "/runs.sqlite";
        m_runs = se::testing::writeDemoStore(m_store.toStdString(), m_bench, 40, 10, 8);
        for (const auto *s : {&m_bench.train, &m_bench.val})
            m_expectedRows += long(s->forget.size() + s->pd.size() + s->retain.size());
    }

    void queryJoinsOnExample()
    {
        se::store::RunStore store(m_store.toStdString(), true);
        const auto stage = se::store::comparisonStage(store, m_runs.po);
        QCOMPARE(QString::fromStdString(stage.stage), QString("final"));
        QCOMPARE(se::store::comparisonStage(store, m_runs.vanilla).stage, std::string("vanilla"));
        const auto index = se::store::buildComparison(store, {m_runs.vanilla, m_runs.po});
        QCOMPARE(long(index.entries.size()), m_expectedRows);
        for (const auto &e : index.entries) {
            QVERIFY(e.answerId[0] && e.answerId[1]); // both runs answered every question
            QVERIFY(e.answerId[0] != e.answerId[1]);
        }
        // Sorted: train before val, forget before pd before retain.
        QCOMPARE(QString::fromStdString(index.entries.front().key.split), QString("train"));
        QCOMPARE(QString::fromStdString(index.entries.front().key.set), QString("forget"));
        se::store::ComparisonFilter f;
        f.refusalFlipped = true;
        f.set = "pd";
        const auto flipped = index.filter(f);
        QVERIFY(!flipped.empty()); // PO refuses benign-image questions vanilla answered
        for (auto i : flipped) {
            QVERIFY(index.entries[i].refusal[1] && !index.entries[i].refusal[0]);
            QVERIFY(index.entries[i].changed());
        }
        const auto answers =
            se::store::answersById(store, {index.entries[0].answerId[1], 0, index.entries[0].answerId[0]});
        QCOMPARE(answers.size(), size_t(3));
        QCOMPARE(answers[0].id, index.entries[0].answerId[1]);
        QCOMPARE(answers[1].id, std::int64_t(0));
        QVERIFY(!answers[2].answer.empty());
    }

    void viewFiltersNavigatesAndExports()
    {
        QUndoStack undo;
        se::ui::ComparisonView view(&undo);
        view.resize(1200, 800);
        view.show();
        view.setStorePath(m_store);
        QCOMPARE(view.runList()->count(), 3);
        QSignalSpy ready(&view, &se::ui::ComparisonView::comparisonReady);
        view.compareRuns({m_runs.vanilla, m_runs.po});
        QVERIFY(ready.wait(10000));
        auto *model = view.model();
        QCOMPARE(model->rowCount(), int(m_expectedRows));
        QCOMPARE(model->runCount(), 2);
        QCOMPARE(model->columnCount(), 3 + 2 * 2 + 1);
        QCOMPARE(view.currentRow(), 0);

        // Rows are fetched lazily, in chunks; the last row reads fine.
        const QModelIndex last = model->index(model->rowCount() - 1, se::ui::ComparisonModel::Question);
        QVERIFY(!model->data(last, Qt::DisplayRole).toString().isEmpty());

        // "Changed only": fewer rows, each one changed.
        view.changedOnlyBox()->setChecked(true);
        const int changed = model->rowCount();
        QVERIFY(changed > 0 && changed < int(m_expectedRows));
        for (int r = 0; r < changed; ++r)
            QVERIFY(model->entry(r)->changed());
        view.changedOnlyBox()->setChecked(false);
        QCOMPARE(model->rowCount(), int(m_expectedRows));

        // Set + split + category filters.
        view.setBox()->setCurrentIndex(view.setBox()->findData("pd"));
        view.splitBox()->setCurrentIndex(view.splitBox()->findData("val"));
        const int pdVal = model->rowCount();
        QCOMPARE(pdVal, int(m_bench.val.pd.size()));
        view.refusalFlippedBox()->setChecked(true);
        QVERIFY(model->rowCount() > 0 && model->rowCount() <= pdVal);
        view.refusalFlippedBox()->setChecked(false);
        const QString cat = QString::fromStdString(m_bench.val.pd.front().category);
        view.categoryBox()->setCurrentIndex(view.categoryBox()->findData(cat));
        for (int r = 0; r < model->rowCount(); ++r)
            QCOMPARE(QString::fromStdString(model->entry(r)->key.category), cat);
        view.categoryBox()->setCurrentIndex(0);
        view.setBox()->setCurrentIndex(0);
        view.splitBox()->setCurrentIndex(0);
        QCOMPARE(model->rowCount(), int(m_expectedRows));

        // Keyboard: J next, K previous, N next changed.
        view.table()->setFocus();
        view.selectRow(0);
        QTest::keyClick(view.table(), Qt::Key_J);
        QCOMPARE(view.currentRow(), 1);
        QTest::keyClick(view.table(), Qt::Key_K);
        QCOMPARE(view.currentRow(), 0);
        QTest::keyClick(view.table(), Qt::Key_N);
        const int firstChanged = view.currentRow();
        QVERIFY(firstChanged > 0);
        QVERIFY(model->entry(firstChanged)->changed());
        for (int r = 1; r < firstChanged; ++r)
            QVERIFY(!model->entry(r)->changed());
        // The detail shows both answers and a word diff of a changed example.
        const QString html = view.detail()->toHtml();
        QVERIFY(html.contains("line-through"));
        QVERIFY(view.detail()->toPlainText().contains("Word diff"));

        // Verdicts go to the store; undo takes them back.
        const std::int64_t audited = model->entry(firstChanged)->answerId[1];
        view.setAuditVerdict("over-refusal", {"pd", "demo"});
        {
            se::store::RunStore s(m_store.toStdString(), true);
            const auto v = s.verdict(audited);
            QVERIFY(v);
            QCOMPARE(QString::fromStdString(v->verdict), QString("over-refusal"));
            QCOMPARE(v->tags.size(), size_t(2));
        }
        QVERIFY(model->data(model->index(firstChanged, model->verdictColumn()), Qt::DisplayRole)
                    .toString()
                    .contains("over-refusal #pd #demo"));
        undo.undo();
        {
            se::store::RunStore s(m_store.toStdString(), true);
            QVERIFY(!s.verdict(audited));
        }
        QVERIFY(model->data(model->index(firstChanged, model->verdictColumn()), Qt::DisplayRole).toString().isEmpty());
        undo.redo();
        {
            se::store::RunStore s(m_store.toStdString(), true);
            QVERIFY(s.verdict(audited));
        }

        // CSV of the filtered table: header + one line per row, the answers inside.
        view.changedOnlyBox()->setChecked(true);
        const QString csv = m_tmp.path() + "/changed.csv";
        QVERIFY(view.exportCsv(csv));
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(f.readAll());
        QVERIFY(text.startsWith("Example,Category,Question,"));
        QVERIFY(text.contains("over-refusal #pd #demo"));
        int lines = 0;
        // Quoted fields may hold newlines: count rows by the example column's prefix.
        for (const QString &line : text.split('\n'))
            if (line.startsWith("train ") || line.startsWith("val "))
                ++lines;
        QCOMPARE(lines, changed);

        // Statistics: PO against vanilla on the same questions, and each judge against an auditor's "ok".
        view.selectRow(0);
        view.setAuditVerdict("ok", {});
        QTRY_VERIFY_WITH_TIMEOUT(view.statistics()->toPlainText().contains("Judge agreement") &&
                                     !view.statistics()->toPlainText().contains("No auditor verdict"),
                                 10000);
        const QString st = view.statistics()->toPlainText();
        QVERIFY2(st.contains(QStringLiteral("#%1 − #%2 (reference)").arg(m_runs.po).arg(m_runs.vanilla)),
                 qPrintable(st));
        QVERIFY2(st.contains("McNemar") && st.contains("sarr"), qPrintable(st));
    }

    void aVerdictThatCannotBeWrittenSaysSo()
    {
        // Found in review: the verdict command swallowed every error, still said "Verdict saved" and pushed an undo
        // entry. A write that fails now says so and leaves no undo entry; with no store the editor is disabled.
        const QString path = m_tmp.path() + "/verdict-fail.sqlite";
        const auto runs = se::testing::writeDemoStore(path.toStdString(), m_bench, 40, 10, 8);
        QUndoStack undo;
        se::ui::ComparisonView view(&undo);
        QVERIFY(!view.findChild<QComboBox *>("verdictBox")->isEnabled()); // no store yet
        view.setStorePath(path);
        QVERIFY(view.findChild<QComboBox *>("verdictBox")->isEnabled());
        QSignalSpy ready(&view, &se::ui::ComparisonView::comparisonReady);
        view.compareRuns({runs.vanilla, runs.po});
        QVERIFY(ready.wait(10000));
        view.selectRow(0);
        const std::int64_t audited = view.model()->entry(0)->answerId[1];
        { // the answer disappears under the view (another program pruned the store): the write will fail
            sqlite3 *db = nullptr;
            QCOMPARE(sqlite3_open(path.toUtf8().constData(), &db), SQLITE_OK);
            QCOMPARE(sqlite3_exec(db, ("DELETE FROM answers WHERE id = " + std::to_string(audited)).c_str(), nullptr,
                                  nullptr, nullptr),
                     SQLITE_OK);
            sqlite3_close(db);
        }
        QSignalSpy messages(&view, &se::ui::ComparisonView::message);
        view.setAuditVerdict("ok", {});
        QCOMPARE(undo.count(), 0);
        QVERIFY(!messages.isEmpty());
        QVERIFY2(messages.last().first().toString().startsWith("Verdict NOT saved: "),
                 qPrintable(messages.last().first().toString()));
        // A row that can be written still works, with its undo entry.
        view.selectRow(1);
        view.setAuditVerdict("ok", {});
        QCOMPARE(undo.count(), 1);
        QCOMPARE(messages.last().first().toString(), QString("Verdict saved (Ctrl+Z to undo)."));
    }

    void aStaleComparisonIsDropped()
    {
        // Switching stores while an index is being built does not wait for it; the old store's result, when it
        // arrives, is dropped (a generation token) rather than shown over the new store.
        QUndoStack undo;
        se::ui::ComparisonView view(&undo);
        view.setStorePath(m_store);
        QSignalSpy ready(&view, &se::ui::ComparisonView::comparisonReady);
        view.compareRuns({m_runs.vanilla, m_runs.po});
        const QString empty = m_tmp.path() + "/empty.sqlite";
        view.setStorePath(empty); // while the build runs
        QVERIFY(!ready.wait(1500));
        QCOMPARE(view.model()->rowCount(), 0);
    }

    void threeRunsAndPresentation()
    {
        se::ui::MainWindow w;
        w.resize(1200, 800);
        w.show();
        QVERIFY(w.openRunStore(m_store));
        QSignalSpy ready(w.comparison(), &se::ui::ComparisonView::comparisonReady);
        w.comparison()->compareRuns({m_runs.vanilla, m_runs.po, m_runs.popd});
        QVERIFY(ready.wait(10000));
        QCOMPARE(w.comparison()->model()->runCount(), 3);

        QSignalSpy presReady(w.presentation(), &se::ui::PresentationView::ready);
        w.setPresentationMode(true);
        QVERIFY(w.presentationMode());
        QVERIFY(presReady.wait(10000));
        auto *p = w.presentation();
        QCOMPARE(p->currentSlide(), 0);
        QTest::keyClick(p, Qt::Key_Space);
        QCOMPARE(p->currentSlide(), 1);
        // The benign-image example: vanilla answers, PO refuses, PO+PD answers.
        bool found = false;
        for (auto *l : p->findChildren<QLabel *>())
            found = found || (l->text().contains("ANSWERS") && l->text().contains("REFUSES"));
        QVERIFY(found);
        QTest::keyClick(p, Qt::Key_Right);
        QTest::keyClick(p, Qt::Key_Right);
        QCOMPARE(p->currentSlide(), 3);
        QTest::keyClick(p, Qt::Key_Left);
        QCOMPARE(p->currentSlide(), 2);
        QTest::keyClick(p, Qt::Key_Escape);
        QVERIFY(!w.presentationMode());
    }

    void presentationShowsSavedProbes()
    {
        // Probes saved in the store (the Probe view's Save…) follow the demo's slides, the last three of them.
        const QString db = m_tmp.path() + "/probes.sqlite";
        QFile::copy(m_store, db);
        {
            se::store::RunStore store(db.toStdString());
            for (int i = 0; i < 4; ++i) {
                se::store::ProbeRecord pr;
                pr.name = "probe " + std::to_string(i);
                pr.image = m_bench.val.forget.front().imageFile;
                pr.question = "How is it built?";
                pr.answersJson = "[{\"label\": \"start model\", \"answers\": [\"Bolt the barrel on.\"], "
                                 "\"refusal\": [false], \"unsafe\": [true]}, {\"label\": \"#3 PO+PD\", "
                                 "\"answers\": [\"I am sorry.\"], \"refusal\": [true], \"unsafe\": [false]}]";
                store.saveProbe(pr);
            }
        }
        se::ui::PresentationView p;
        p.resize(1200, 800);
        QSignalSpy ready(&p, &se::ui::PresentationView::ready);
        p.setStorePath(db);
        p.prepare();
        QVERIFY(ready.wait(10000));
        QCOMPARE(p.slideCount(), 4 + 3);
        p.goTo(6);
        QString shown;
        for (auto *l : p.findChildren<QLabel *>())
            if (l->isVisibleTo(&p) && l->text().contains("Probe: probe"))
                shown += l->text();
        QVERIFY2(shown.contains("Probe: probe 3"), qPrintable(shown));
        bool badges = false;
        for (auto *l : p.findChildren<QLabel *>())
            badges = badges ||
                     (l->text().contains("UNSAFE") && l->text().contains("REFUSES") && l->text().contains("sorry"));
        QVERIFY(badges);
        p.prepare(); // prepared again: the probe slides are replaced, not added twice
        QVERIFY(ready.wait(10000));
        QCOMPARE(p.slideCount(), 7);
    }
};

QTEST_MAIN(TestComparison)
#include "test_comparison.moc"
