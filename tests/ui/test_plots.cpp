// The plots view offscreen over a store written through the RunStore API: SARR curves of PO and PO+PD with the
// vanilla point at step 0, the per-category bars, the results table, run colours, the hover read-out, and the
// PNG / PDF / CSV exports with their contents checked.
#include "core/data/generator.h"
#include "tests/ui/demostore.h"
#include "core/store/runstore.h"
#include "ui/auditdialog.h"
#include "ui/enginebridge.h"
#include "ui/plotsview.h"

#include <QApplication>
#include <QCheckBox>
#include <QLabel>
#include <QListWidget>
#include <QSettings>
#include <QSpinBox>
#include <QComboBox>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QRegularExpression>
#include <QtTest>
// QCustomPlot's header uses Qt's keyword macros, which the tests turn off (QT_NO_KEYWORDS): lend them for it.
#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach

class TestPlots : public QObject
{
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_store;
    se::testing::DemoRuns m_runs;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        const auto bench = se::testing::generateSmallBenchmark((m_tmp.path() + "/bench").toStdString());
        m_store = m_tmp.path() + "/runs.sqlite";
        m_runs = se::testing::writeDemoStore(m_store.toStdString(), bench, 40, 10, 8);
    }

    void curves()
    {
        se::ui::PlotsView v;
        v.resize(1100, 700);
        v.show();
        v.setStorePath(m_store);
        QCOMPARE(v.runList()->count(), 3);
        v.setMetric("sarr", "val");
        v.showRuns({m_runs.po, m_runs.popd});
        QCOMPARE(v.curvePlot()->graphCount(), 2);
        const auto &d = v.curveData();
        QVERIFY(d.contains(m_runs.po) && d.contains(m_runs.popd));
        // vanilla at 0, curve points at 10, 20, 30, final at 40
        QCOMPARE(d[m_runs.po].size(), 5);
        QCOMPARE(d[m_runs.po].front().x(), 0.0);
        QCOMPARE(d[m_runs.po].back().x(), 40.0);
        // The paper's pattern: PO ends over-refusing benign-image questions, PO+PD far less.
        QVERIFY(d[m_runs.po].back().y() > 80);
        QVERIFY(d[m_runs.popd].back().y() < 40);
        QVERIFY(d[m_runs.po].front().y() < 10); // vanilla answers them

        // Colours change the pen.
        v.setRunColor(m_runs.po, QColor("#123456"));
        v.showRuns({m_runs.po, m_runs.popd});
        QCOMPARE(v.curvePlot()->graph(0)->pen().color(), QColor("#123456"));

        // Hover read-out near the PO curve's last point.
        QCPGraph *g = v.curvePlot()->graph(0);
        const QPointF px(v.curvePlot()->xAxis->coordToPixel(40),
                         v.curvePlot()->yAxis->coordToPixel(g->data()->at(g->dataCount() - 1)->value));
        QMouseEvent move(QEvent::MouseMove, px, v.curvePlot()->mapToGlobal(px), Qt::NoButton, Qt::NoButton,
                         Qt::NoModifier);
        QApplication::sendEvent(v.curvePlot(), &move);
        QVERIFY2(v.readout()->text().contains("step 40"), qPrintable(v.readout()->text()));

        // Exports.
        const QString png = m_tmp.path() + "/sarr.png", pdf = m_tmp.path() + "/sarr.pdf",
                      csv = m_tmp.path() + "/sarr.csv";
        QVERIFY(v.exportPng(png, 800, 500));
        QImage img(png);
        QCOMPARE(img.size(), QSize(800, 500));
        // Not blank: the PO curve's colour appears in the image.
        bool coloured = false;
        for (int y = 0; y < img.height() && !coloured; y += 2)
            for (int x = 0; x < img.width() && !coloured; x += 2)
                coloured = img.pixelColor(x, y) == QColor("#123456");
        QVERIFY(coloured);
        QVERIFY(v.exportPdf(pdf));
        QFile p(pdf);
        QVERIFY(p.open(QIODevice::ReadOnly));
        QVERIFY(p.read(5) == "%PDF-");
        QVERIFY(v.exportCsv(csv));
        QFile c(csv);
        QVERIFY(c.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(c.readAll()).trimmed().split('\n');
        QCOMPARE(lines.front(), QString("run,step,sarr_val_percent"));
        QCOMPARE(lines.size(), 1 + 5 + 5);
        QVERIFY(lines.filter("#2 PO,40,").size() == 1);
    }

    void barsAndTable()
    {
        se::ui::PlotsView v;
        v.resize(1100, 700);
        v.show();
        v.setStorePath(m_store);
        v.setMetric("sarr", "val");
        v.showRuns({m_runs.popd});
        v.setCurrentPage(1);
        // Before (vanilla) and after (PO+PD), one bar set each.
        QCOMPARE(v.barPlot()->plottableCount(), 2);
        const QString csv = m_tmp.path() + "/bars.csv";
        QVERIFY(v.exportCsv(csv));
        QFile c(csv);
        QVERIFY(c.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(c.readAll());
        QVERIFY(text.startsWith("run,category,sarr_val_percent"));
        QVERIFY(text.contains("#1 VANILLA,"));
        QVERIFY(text.contains("#3 PO+PD,"));
        const QString png = m_tmp.path() + "/bars.png";
        QVERIFY(v.exportPng(png, 640, 400));
        QCOMPARE(QImage(png).size(), QSize(640, 400));

        v.showRuns({m_runs.vanilla, m_runs.po, m_runs.popd});
        v.setCurrentPage(2);
        QCOMPARE(v.resultsTable()->rowCount(), 3);
        QCOMPARE(v.resultsTable()->horizontalHeaderItem(7)->text(), QString("SARR"));
        // "value (low–high)": the rate and its 95% interval
        const QString po = v.resultsTable()->item(1, 7)->text();
        QVERIFY2(po.section(' ', 0, 0).toDouble() > 80, qPrintable(po));                                   // PO
        QVERIFY2(v.resultsTable()->item(2, 7)->text().section(' ', 0, 0).toDouble() < 40, qPrintable(po)); // PO+PD
        const QRegularExpressionMatch m = QRegularExpression(R"(^([\d.]+) \(([\d.]+)–([\d.]+)\)$)").match(po);
        QVERIFY2(m.hasMatch(), qPrintable(po));
        QVERIFY(m.captured(2).toDouble() <= m.captured(1).toDouble());
        QVERIFY(m.captured(3).toDouble() >= m.captured(1).toDouble());
        QVERIFY(m.captured(3).toDouble() - m.captured(2).toDouble() > 1); // an interval, not a point
        const QString tcsv = m_tmp.path() + "/table.csv";
        QVERIFY(v.exportCsv(tcsv));
        QFile t(tcsv);
        QVERIFY(t.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(t.readAll()).trimmed().split('\n').size(), 4);
    }

    void robustness()
    {
        // Audits as `safeeraser audit` stores them: stage "audit" (split = attack) and "relearn" metrics.
        const QString db = m_tmp.path() + "/audited.sqlite";
        QFile::copy(m_store, db);
        {
            se::store::RunStore store(db.toStdString());
            using M = se::store::MetricRecord;
            store.replaceMetrics(m_runs.po, {"audit", "relearn"},
                                 {M{"audit", 0, "original", "", "asr", 0.0, 8, "offline"},
                                  M{"audit", 0, "original", "", "rr", 1.0, 8, "offline"},
                                  M{"audit", 0, "original", "", "vanilla_asr", 0.75, 8, "offline"},
                                  M{"audit", 0, "original", "", "vanilla_rr", 0.0, 8, "offline"},
                                  M{"audit", 0, "rephrase:novel", "", "asr", 0.5, 8, "offline"},
                                  M{"audit", 0, "rephrase:novel", "", "rr", 0.25, 8, "offline"},
                                  M{"audit", 0, "likelihood", "", "target_nll_run", 4.5, 0, "offline"},
                                  M{"audit", 0, "likelihood", "", "target_nll_vanilla", 0.5, 0, "offline"},
                                  M{"relearn", 0, "retain", "", "asr", 0.0, 0, "offline"},
                                  M{"relearn", 0, "retain", "", "rr", 1.0, 0, "offline"},
                                  M{"relearn", 10, "retain", "", "asr", 0.125, 0, "offline"},
                                  M{"relearn", 10, "retain", "", "rr", 0.875, 0, "offline"},
                                  M{"relearn", 0, "targets", "", "asr", 0.0, 0, "offline"},
                                  M{"relearn", 10, "targets", "", "asr", 0.625, 0, "offline"},
                                  M{"relearn", 0, "afresh", "", "asr", 0.0, 0, "offline"},
                                  M{"relearn", 10, "afresh", "", "asr", 0.25, 0, "offline"},
                                  M{"relearn", 0, "targets", "", "target_nll", 2.0, 0, "offline"},
                                  M{"relearn", 10, "targets", "", "target_nll", 0.25, 0, "offline"}});
        }
        se::ui::PlotsView v;
        v.resize(1100, 700);
        v.show();
        v.setStorePath(db);
        v.setMetric("asr", "val");
        v.showRuns({m_runs.po, m_runs.popd});
        // An audit's metrics are not curve points: the ASR curve of PO is its run's alone.
        QCOMPARE(v.curveData()[m_runs.po].size(), 5);
        v.setCurrentPage(3);
        QTableWidget *t = v.robustnessTable();
        QCOMPARE(t->rowCount(), 3); // original, rephrase:novel, likelihood; PO+PD has no audit: no columns
        QCOMPARE(t->columnCount(), 5);
        QCOMPARE(t->item(0, 0)->text(), QString("original"));
        // Each rate with its 95% Wilson interval over the 8 questions.
        QCOMPARE(t->item(0, 1)->text(), QString("0.0 [0–32]"));
        QCOMPARE(t->item(0, 2)->text(), QString("100.0 [68–100]"));
        QCOMPARE(t->item(0, 3)->text(), QString("75.0 [41–93]")); // the start model beside
        QCOMPARE(t->item(1, 1)->text(), QString("50.0 [22–78]"));
        QVERIFY(t->horizontalHeaderItem(1)->toolTip().contains("judged by offline"));
        QCOMPARE(t->item(1, 3)->text(), QString("—"));
        QCOMPARE(t->item(2, 1)->text(), QString("4.500"));
        QCOMPARE(t->item(2, 3)->text(), QString("0.500"));
        // PO's ASR relearning on retain data (solid), on forget targets (dashed), and the targets learned afresh by
        // a model that never learned them (dotted).
        QCOMPARE(v.relearnPlot()->graphCount(), 3);
        QCOMPARE(v.relearnPlot()->graph(0)->pen().style(), Qt::DotLine);
        QCOMPARE(v.relearnPlot()->graph(0)->data()->at(1)->value, 25.0);
        QCOMPARE(v.relearnPlot()->graph(1)->dataCount(), 2);
        QCOMPARE(v.relearnPlot()->graph(1)->pen().style(), Qt::SolidLine);
        QCOMPARE(v.relearnPlot()->graph(2)->data()->at(1)->value, 62.5);
        // The curves as the audited targets' NLL instead (only the targets curve has it here).
        auto *measure = v.findChild<QComboBox *>("relearnMeasure");
        measure->setCurrentIndex(1);
        QCOMPARE(v.relearnPlot()->graphCount(), 1);
        QCOMPARE(v.relearnPlot()->graph(0)->data()->at(1)->value, 0.25);
        QVERIFY(v.relearnPlot()->yAxis->label().contains("NLL"));
        measure->setCurrentIndex(0);
        QCOMPARE(v.relearnPlot()->graphCount(), 3);
        const QString csv = m_tmp.path() + "/robustness.csv";
        QVERIFY(v.exportCsv(csv));
        QFile c(csv);
        QVERIFY(c.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(c.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 4);
        QVERIFY2(lines[1].startsWith("original,0.0 [0–32],100.0 [68–100],75.0 [41–93],0.0 [0–32]"),
                 qPrintable(lines[1]));
        QVERIFY(v.exportPng(m_tmp.path() + "/relearn.png", 640, 400));
        // The page's button asks for an audit of the selected checked run, with the engine's defaults at first.
        QSettings().remove("audit");
        QSignalSpy asked(&v, &se::ui::PlotsView::auditRequested);
        v.runList()->setCurrentRow(2); // PO+PD
        v.findChild<QLineEdit *>("auditBaseline")->setText(" /models/never.safetensors ");
        v.findChild<QPushButton *>("auditRun")->click();
        QCOMPARE(asked.size(), 1);
        QCOMPARE(asked.at(0).at(0).toLongLong(), qint64(m_runs.popd));
        auto o = asked.at(0).at(2).value<se::engine::AuditOptions>();
        QCOMPARE(o.baseline, std::string("/models/never.safetensors"));
        const se::engine::AuditOptions d;
        QCOMPARE(o.questions, d.questions);
        QCOMPARE(o.relearnSteps, d.relearnSteps);
        QVERIFY(o.modality && o.likelihood && o.vanilla && o.attacksFile.empty() && o.device.empty());

        // Audit Options…: what the dialog accepts is kept and asked by the next audit, and the page says it.
        QTimer::singleShot(0, this, [] {
            auto *dlg = qobject_cast<se::ui::AuditDialog *>(QApplication::activeModalWidget());
            QVERIFY(dlg);
            dlg->questionsBox()->setValue(0); // all
            dlg->relearnStepsBox()->setValue(0);
            dlg->imagesBox()->setChecked(false);
            dlg->startModelBox()->setChecked(false);
            dlg->accept();
        });
        v.findChild<QPushButton *>("auditOptions")->click();
        QVERIFY2(v.auditSummary()->text().contains("all forget questions"), qPrintable(v.auditSummary()->text()));
        QVERIFY(v.auditSummary()->text().contains("no relearning"));
        QVERIFY(!v.auditSummary()->text().contains("image attacks"));
        v.findChild<QPushButton *>("auditRun")->click();
        QCOMPARE(asked.size(), 2);
        o = asked.at(1).at(2).value<se::engine::AuditOptions>();
        QCOMPARE(o.questions, 0);
        QCOMPARE(o.relearnSteps, 0);
        QVERIFY(!o.modality && !o.vanilla && o.likelihood);
        QCOMPARE(o.baseline, std::string("/models/never.safetensors"));
        // Cancelled: nothing changes.
        QTimer::singleShot(0, this, [] {
            auto *dlg = qobject_cast<se::ui::AuditDialog *>(QApplication::activeModalWidget());
            QVERIFY(dlg);
            dlg->restoreDefaults();
            dlg->reject();
        });
        v.findChild<QPushButton *>("auditOptions")->click();
        QCOMPARE(se::ui::savedAuditOptions().questions, 0);
        QSettings().remove("audit");
    }

    void auditDialog()
    {
        // The fields give AuditOptions back as set; a templates file is read when chosen and a bad one keeps the
        // dialog open with the file, line and reason; Restore Defaults gives the engine's defaults.
        se::engine::AuditOptions start;
        start.questions = 7;
        start.seed = 11;
        start.relearnSteps = 5;
        start.relearnEvery = 2;
        start.relearnTargets = 3;
        start.device = "cuda:3"; // not offered by this build: kept as it was
        se::ui::AuditDialog d(start);
        auto o = d.options();
        QCOMPARE(o.questions, 7);
        QCOMPARE(o.seed, std::uint64_t(11));
        QCOMPARE(o.relearnSteps, 5);
        QCOMPARE(o.relearnEvery, 2);
        QCOMPARE(o.relearnTargets, 3);
        QCOMPARE(o.device, std::string("cuda:3"));

        const QString good = m_tmp.path() + "/attacks.txt", bad = m_tmp.path() + "/bad-attacks.txt";
        {
            QFile f(good);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("# mine\nplain: {question}\npolite: Please, {question}\n");
        }
        {
            QFile f(bad);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("plain: {question}\nbroken: no slot here\n");
        }
        if (se::ui::engineAvailable()) {
            QVERIFY2(d.findChild<QLabel *>("auditAttacksNote")->text().contains("template"),
                     qPrintable(d.findChild<QLabel *>("auditAttacksNote")->text()));
            d.attacksEdit()->setText(good);
            QCOMPARE(d.findChild<QLabel *>("auditAttacksNote")->text(), QString("2 templates"));
            QVERIFY(d.check());
            d.attacksEdit()->setText(bad);
            QVERIFY(!d.check());
            QVERIFY2(d.errorLabel()->text().contains("bad-attacks.txt:2: the template must hold {question}"),
                     qPrintable(d.errorLabel()->text()));
            d.attacksEdit()->setText(m_tmp.path()); // a folder
            QVERIFY(!d.check());
            QVERIFY2(d.errorLabel()->text().contains("not a regular file"), qPrintable(d.errorLabel()->text()));
            d.attacksEdit()->setText(good);
            QVERIFY(d.check());
            QVERIFY(d.errorLabel()->text().isEmpty());
            QCOMPARE(d.options().attacksFile, good.toStdString());
        }
        d.restoreDefaults();
        o = d.options();
        const se::engine::AuditOptions defaults;
        QCOMPARE(o.questions, defaults.questions);
        QCOMPARE(o.seed, defaults.seed);
        QCOMPARE(o.relearnSteps, defaults.relearnSteps);
        QCOMPARE(o.relearnEvery, defaults.relearnEvery);
        QCOMPARE(o.relearnTargets, defaults.relearnTargets);
        QCOMPARE(o.attacksFile, defaults.attacksFile);
        QCOMPARE(o.device, defaults.device);
        QCOMPARE(o.modality, defaults.modality);

        // Saved and read back; a value out of range in the settings falls back to the default.
        o.questions = 0;
        o.relearnEvery = 4;
        o.attacksFile = good.toStdString();
        se::ui::saveAuditOptions(o);
        auto back = se::ui::savedAuditOptions();
        QCOMPARE(back.questions, 0);
        QCOMPARE(back.relearnEvery, 4);
        QCOMPARE(back.attacksFile, good.toStdString());
        QSettings().setValue("audit/relearnEvery", 0);
        QSettings().setValue("audit/questions", "many");
        back = se::ui::savedAuditOptions();
        QCOMPARE(back.relearnEvery, defaults.relearnEvery);
        QCOMPARE(back.questions, defaults.questions);
        QSettings().remove("audit");
    }
};

QTEST_MAIN(TestPlots)
#include "test_plots.moc"
