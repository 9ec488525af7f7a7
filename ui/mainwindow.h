// The workbench's main window: a tab per view — dataset browser, run launcher, comparison, plots — over one open
// benchmark and one open run store, the reader's problems in a dock panel, and a full-screen presentation mode
// (F11). Opening a benchmark reads it on a worker; errors go to the status bar and panels, never a modal storm.
// Menus carry the standard shortcuts; window state, recent benchmarks and the last store persist in QSettings.
#pragma once

#include "core/data/benchmark.h"

#include <QFutureWatcher>
#include <QMainWindow>
#include <memory>

class QAction;
class QLabel;
class QListWidget;
class QStackedWidget;
class QTabWidget;
class QTableView;
class QUndoStack;

namespace se::ui {

class BrowserView;
class ComparisonView;
class LauncherView;
class PlotsView;
class PresentationView;
class ProbeView;
class RunController;
class WorkbenchView;
class ClusterJobsDialog;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    enum View { Browser, Launcher, Comparison, Plots, Probe };
    // controller: the run queue to use (tests pass one with a fake executor); null = the engine's.
    explicit MainWindow(QWidget *parent = nullptr, RunController *controller = nullptr);
    ~MainWindow() override;

    // Starts reading `folder` on a worker thread; benchmarkLoaded() or loadFailed() follows.
    void openBenchmark(const QString &folder);
    // Opens (creating if needed) a run store for the launcher, comparison, plots and presentation.
    bool openRunStore(const QString &file);
    QString storePath() const { return m_storePath; }
    std::shared_ptr<const se::data::Benchmark> benchmark() const { return m_benchmark; }

    void showView(View v);
    View currentView() const;
    void setPresentationMode(bool on);
    bool presentationMode() const;
    // Writes the current view's table as CSV (records, comparison rows, or the plot's data).
    bool exportCurrentCsv(const QString &file, QString *error = nullptr);
    // Imports a result file of the official pipeline (File ▸ Import Results…) into the open store, matched to the
    // open benchmark, on a worker thread; resultsImported() or importFailed() follows. Every mismatch goes to the
    // Problems panel. False (with a message) when no benchmark or store is open, or an import is running.
    bool importResults(const QString &file);
    // Run ▸ Cluster Jobs… (Ctrl+J): the open store's Slurm sweep; null (with a message) when no store is open.
    ClusterJobsDialog *showClusterJobs();

    QTableView *recordView() const;
    QListWidget *problemList() const { return m_problems; }
    BrowserView *browser() const { return m_browser; }
    LauncherView *launcher() const { return m_launcher; }
    ComparisonView *comparison() const { return m_comparison; }
    PlotsView *plots() const { return m_plots; }
    ProbeView *probe() const { return m_probe; }
    PresentationView *presentation() const { return m_presentation; }
    RunController *runController() const { return m_controller; }

Q_SIGNALS:
    void benchmarkLoaded();
    void loadFailed(const QString &message);
    void resultsImported(qint64 run, qint64 fileJudgeRun, int problems); // fileJudgeRun 0: the file has no verdicts
    void importFailed(const QString &message);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void closeEvent(QCloseEvent *event) override;

private:
    void chooseFolder();
    void chooseStore();
    void onLoaded();
    void updateRecentMenu();
    void fillBlurMenu();
    void showMessage(const QString &text);
    void about();

    RunController *m_controller = nullptr;
    QUndoStack *m_undo = nullptr;
    QStackedWidget *m_stack = nullptr;
    QTabWidget *m_tabs = nullptr;
    BrowserView *m_browser = nullptr;
    LauncherView *m_launcher = nullptr;
    ComparisonView *m_comparison = nullptr;
    PlotsView *m_plots = nullptr;
    PresentationView *m_presentation = nullptr;
    ProbeView *m_probe = nullptr;
    QList<WorkbenchView *> m_views;          // the tabs, in order; MainWindow loops over them
    QList<WorkbenchView *> allViews() const; // the tabs and the presentation
    void runsChanged();                      // the open store's runs changed: every view is told
    QListWidget *m_problems = nullptr;
    QMenu *m_recentMenu = nullptr;
    QMenu *m_blurMenu = nullptr;
    QLabel *m_storeLabel = nullptr;
    QString m_loadingFolder;
    QString m_storePath;
    bool m_wasMaximized = false;
    std::shared_ptr<const se::data::Benchmark> m_benchmark;
    QFutureWatcher<std::shared_ptr<se::data::Benchmark>> *m_watcher = nullptr;
    struct ImportOutcome;
    QFutureWatcher<std::shared_ptr<ImportOutcome>> *m_importWatcher = nullptr;
    QAction *m_importAction = nullptr;
    void onImported();
};

} // namespace se::ui
