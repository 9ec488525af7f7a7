// Metric plots over the open run store (QCustomPlot): curves of SARR, ASR, RR, ROUGE-L … over training steps with
// several runs overlaid (the vanilla value at step 0, the curve points, the final evaluation), a legend, colours
// the user can change (double-click a run), a hover read-out; per-category bars of any metric for vanilla and the
// chosen runs; the paper-style results table (core/store/report.h). Any plot exports as PNG or PDF, any table as
// CSV. Redraws are coalesced on a 40 ms timer.
#pragma once

#include "ui/workbenchview.h"

#include "core/store/records.h"
#include "core/unlearn/robustness.h"

#include <QColor>
#include <QHash>
#include <QWidget>
#include <memory>

class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QPushButton;
class QTabWidget;
class QTableWidget;
class QTimer;
class QMouseEvent;

namespace se::store {
class RunStore;
}

namespace se::ui {

class PlotsView : public QWidget, public WorkbenchView
{
    Q_OBJECT
public:
    explicit PlotsView(QWidget *parent = nullptr);
    ~PlotsView() override;

    void setStorePath(const QString &path);
    void reloadRuns();
    void showRuns(const QList<qint64> &runs); // checks exactly these
    void setMetric(const QString &name, const QString &split);
    void setRunColor(qint64 run, const QColor &color);
    QColor runColor(qint64 run) const;
    void setCurrentPage(int page); // 0 curves, 1 per-category bars, 2 results table, 3 robustness (audits)

    bool exportPng(const QString &file, int width = 1200, int height = 700);
    bool exportPdf(const QString &file, int width = 1200, int height = 700);
    bool exportCsv(const QString &file, QString *error = nullptr) const override; // the current page's data as a table

    // WorkbenchView
    QWidget *widget() override { return this; }
    QString viewTitle() const override { return tr("&Plots"); }
    void storeChanged(const QString &path) override { setStorePath(path); }
    void runsChanged() override { reloadRuns(); }
    bool canExportCsv() const override { return true; }

    QCustomPlot *curvePlot() const { return m_curves; }
    QCustomPlot *barPlot() const { return m_bars; }
    QTableWidget *resultsTable() const { return m_table; }
    QTableWidget *robustnessTable() const { return m_robustness; }
    QCustomPlot *relearnPlot() const { return m_relearn; }
    QListWidget *runList() const { return m_runs; }
    QLabel *readout() const { return m_readout; }
    QLabel *auditSummary() const { return m_auditSummary; }
    // Plots ▸ Robustness ▸ Audit Options…: the dialog, modal; what it accepts is kept for the next audits.
    void editAuditOptions();
    // Points of the last drawn curves: run -> (step, value); for tests and CSV export.
    const QHash<qint64, QVector<QPointF>> &curveData() const { return m_curveData; }

    // Plot of one metric over steps for the given runs into `plot` (also used by the presentation mode).
    static void drawCurves(QCustomPlot *plot, se::store::RunStore *store, const QList<qint64> &runs,
                           const QString &metric, const QString &split, const QHash<qint64, QColor> &colors,
                           QHash<qint64, QVector<QPointF>> *data = nullptr, double fontScale = 1.0);

Q_SIGNALS:
    void message(const QString &text);
    // The Robustness page's Audit button: what the audit asks (Audit Options…, and the baseline field: a model that
    // never learned the targets, if one is given).
    void auditRequested(qint64 run, const QString &runName, const se::engine::AuditOptions &options);

public Q_SLOTS:
    void scheduleRedraw();

private:
    void redraw();
    void drawBars();
    void fillTable();
    QWidget *buildRobustnessPage();
    void fillRobustness();
    void onHover(QMouseEvent *event);
    QList<qint64> checkedRuns() const;
    QCustomPlot *currentPlot() const;

    se::store::RunStore *store(); // this view's one read connection (GUI thread), opened on first use; may throw

    QString m_storePath;
    std::unique_ptr<se::store::RunStore> m_store;
    QListWidget *m_runs = nullptr;
    QComboBox *m_metric = nullptr;
    QTabWidget *m_tabs = nullptr;
    QCustomPlot *m_curves = nullptr;
    QCustomPlot *m_bars = nullptr;
    QTableWidget *m_table = nullptr;
    QTableWidget *m_robustness = nullptr;
    QCustomPlot *m_relearn = nullptr;
    QPushButton *m_auditButton = nullptr;
    QLineEdit *m_auditBaseline = nullptr;
    QLabel *m_auditSummary = nullptr;      // what the next audit asks (Audit Options…)
    QComboBox *m_relearnMeasure = nullptr; // ASR or the targets' NLL
    QLabel *m_readout = nullptr;
    QTimer *m_redraw = nullptr;
    QHash<qint64, QColor> m_colors;
    QHash<qint64, QVector<QPointF>> m_curveData;
    QHash<qint64, QString> m_names;
    // Per-category bars: category -> run -> value, as drawn, for CSV.
    QStringList m_barCategories;
    QList<qint64> m_barRuns;
    QHash<qint64, QVector<double>> m_barValues;
};

// The metrics a user can plot: (label, metric name, split).
struct MetricChoice {
    QString label, name, split;
};
const QList<MetricChoice> &metricChoices();
QColor defaultRunColor(int i);

} // namespace se::ui
