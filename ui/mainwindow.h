// The workbench's main window. For now: open a benchmark folder, list its records, show the selected record's
// harmful and SD images with its forget / prompt-decouple / retain pairs, and the reader's problems in a panel.
#pragma once

#include "core/data/benchmark.h"

#include <QFutureWatcher>
#include <QMainWindow>
#include <memory>

class QLabel;
class QListWidget;
class QSortFilterProxyModel;
class QTableView;
class QTextBrowser;
class QComboBox;

namespace se::ui {

class RecordTableModel;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // Starts reading `folder` on a worker thread; benchmarkLoaded() or loadFailed() follows.
    void openBenchmark(const QString &folder);
    std::shared_ptr<const se::data::Benchmark> benchmark() const { return m_benchmark; }
    QTableView *recordView() const { return m_table; }
    QListWidget *problemList() const { return m_problems; }

Q_SIGNALS:
    void benchmarkLoaded();
    void loadFailed(const QString &message);

private:
    void chooseFolder();
    void onLoaded();
    void showRecord(const QModelIndex &current);
    void applyCategoryFilter();
    void updateRecentMenu();

    RecordTableModel *m_model = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
    QTableView *m_table = nullptr;
    QLabel *m_image = nullptr;
    QLabel *m_sdImage = nullptr;
    QTextBrowser *m_pairs = nullptr;
    QListWidget *m_problems = nullptr;
    QComboBox *m_category = nullptr;
    QMenu *m_recentMenu = nullptr;
    QString m_loadingFolder;
    std::shared_ptr<const se::data::Benchmark> m_benchmark;
    QFutureWatcher<std::shared_ptr<se::data::Benchmark>> *m_watcher = nullptr;
};

} // namespace se::ui
