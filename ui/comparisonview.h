// The comparison view: pick runs of the open store (vanilla included; the first checked is the reference),
// filter the evaluated examples (set, category, split, changed only, refusal flipped), read the answers side by
// side with badges, see a word diff between the reference and the audited (last) run with the example's image,
// move with the keyboard (J/K next/previous, N/Shift+N next/previous changed), and record auditor verdicts and
// tags in the store with undo. The comparison index is built on a worker with its own store connection.
#pragma once

#include "ui/workbenchview.h"

#include "core/data/benchmark.h"
#include "core/store/comparison.h"

#include <QFutureWatcher>
#include <QWidget>
#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QTableView;
class QTextBrowser;
class QTimer;
class QUndoStack;

namespace se::ui {

class ComparisonModel;
class HarmfulImageLabel;

class ComparisonView : public QWidget, public WorkbenchView
{
    Q_OBJECT
public:
    explicit ComparisonView(QUndoStack *undo, QWidget *parent = nullptr);
    ~ComparisonView() override;

    void setStorePath(const QString &path);
    // The open benchmark, for showing both images of an example's record (harmful and SD).
    void setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark);
    QString storePath() const { return m_storePath; }
    void reloadRuns();
    // Checks exactly these runs (in this order: the first is the reference) and rebuilds the comparison.
    void compareRuns(const QList<qint64> &runs);
    QList<qint64> comparedRuns() const;
    bool exportCsv(const QString &file, QString *error = nullptr) const override;

    // WorkbenchView
    QWidget *widget() override { return this; }
    QString viewTitle() const override { return tr("&Compare"); }
    void benchmarkChanged(const std::shared_ptr<const se::data::Benchmark> &b) override { setBenchmark(b); }
    void storeChanged(const QString &path) override { setStorePath(path); }
    void runsChanged() override { reloadRuns(); }
    bool canExportCsv() const override { return true; }

    void setAuditVerdict(const QString &verdict, const QStringList &tags); // on the current row's audited answer

    ComparisonModel *model() const { return m_model; }
    QTableView *table() const { return m_table; }
    QCheckBox *changedOnlyBox() const { return m_changedOnly; }
    QCheckBox *refusalFlippedBox() const { return m_flipped; }
    QComboBox *setBox() const { return m_set; }
    QComboBox *categoryBox() const { return m_category; }
    QComboBox *splitBox() const { return m_split; }
    QTextBrowser *detail() const { return m_detail; }
    // How the checked runs differ from the reference on the same questions (paired difference, 95% interval,
    // McNemar) and how each run's judge agrees with the auditors' verdicts (Cohen's κ); computed on a worker.
    QTextBrowser *statistics() const { return m_stats; }
    HarmfulImageLabel *harmfulImage() const { return m_image; }
    QListWidget *runList() const { return m_runs; }
    void selectRow(int row);
    int currentRow() const;
    void step(int direction, bool changedOnly);

Q_SIGNALS:
    void comparisonReady(int rows, qint64 milliseconds);
    void statisticsReady();
    void message(const QString &text);

private:
    void scheduleRebuild();
    void rebuild();
    void applyFilter();
    void showCurrent();
    void applyVerdictFromEditor();
    void updateVerdictEditor(); // enabled on a writable store; otherwise disabled, saying why
    void updateStatistics();

    QUndoStack *m_undo;
    QString m_storePath;
    ComparisonModel *m_model = nullptr;
    QListWidget *m_runs = nullptr;
    QComboBox *m_set = nullptr, *m_category = nullptr, *m_split = nullptr;
    QCheckBox *m_changedOnly = nullptr, *m_flipped = nullptr;
    QTableView *m_table = nullptr;
    QTextBrowser *m_detail = nullptr;
    HarmfulImageLabel *m_image = nullptr;
    QString m_imageCategory;
    QLabel *m_sdImage = nullptr;
    std::shared_ptr<const se::data::Benchmark> m_benchmark;
    QFutureWatcher<QPair<QImage, QImage>> *m_imageWatcher = nullptr;
    QFutureWatcher<QString> *m_statsWatcher = nullptr;
    QTextBrowser *m_stats = nullptr;
    QTimer *m_statsTimer = nullptr;
    QLabel *m_status = nullptr;
    QComboBox *m_verdict = nullptr;
    QLineEdit *m_tags = nullptr;
    QPushButton *m_saveVerdict = nullptr;
    QTimer *m_rebuildTimer = nullptr;
    int m_generation = 0;
    qint64 m_buildStarted = 0;
    QStringList m_pendingNames;
    QFutureWatcher<std::shared_ptr<se::store::ComparisonIndex>> *m_watcher = nullptr;
};

} // namespace se::ui
