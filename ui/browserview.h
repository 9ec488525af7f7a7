// The dataset browser: the records of an open benchmark as a thumbnail grid or a table (one selection shared by
// both), a category filter with counts, a search box over question and answer text, and the selected record's
// harmful image beside its SD image (decoded off the UI thread) with its forget / PD / retain pairs.
#pragma once

#include "ui/workbenchview.h"

#include "core/data/benchmark.h"

#include <QFutureWatcher>
#include <QImage>
#include <QSortFilterProxyModel>
#include <QWidget>
#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QListView;
class QStackedWidget;
class QTableView;
class QTextBrowser;
class QTimer;
class QToolButton;

namespace se::ui {

class HarmfulImageLabel;
class RecordTableModel;
class ThumbnailCache;

// Category and free-text filter over RecordTableModel rows.
class RecordFilter : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    void setCategory(const QString &category);
    void setText(const QString &text);

protected:
    bool filterAcceptsRow(int row, const QModelIndex &parent) const override;

private:
    QString m_category;
    QStringList m_words;
};

class BrowserView : public QWidget, public WorkbenchView
{
    Q_OBJECT
public:
    explicit BrowserView(QWidget *parent = nullptr);
    ~BrowserView() override;

    void setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark);

    // WorkbenchView
    QWidget *widget() override { return this; }
    QString viewTitle() const override { return tr("&Dataset"); }
    void benchmarkChanged(const std::shared_ptr<const se::data::Benchmark> &b) override { setBenchmark(b); }
    bool canExportCsv() const override { return true; }
    bool exportCsv(const QString &file, QString *error = nullptr) const override; // the visible (filtered) records

    std::shared_ptr<const se::data::Benchmark> benchmark() const { return m_benchmark; }

    QTableView *table() const { return m_table; }
    QListView *grid() const { return m_grid; }
    QComboBox *categoryBox() const { return m_category; }
    QLineEdit *searchBox() const { return m_search; }
    QTextBrowser *pairsView() const { return m_pairs; }
    QAbstractItemModel *visibleModel() const { return m_proxy; }
    ThumbnailCache *thumbnails() const { return m_thumbs; }
    void setGridMode(bool grid);
    bool gridMode() const;
    void selectVisibleRow(int row);
    // Shows the record `index` of a split (clearing filters that hide it); false when there is no such record.
    bool selectRecord(se::data::Split split, long index);
    const se::data::Record *currentRecord() const;
    HarmfulImageLabel *harmfulImage() const { return m_image; }

Q_SIGNALS:
    void recordShown(const QString &title);

private:
    void showRecord(const QModelIndex &proxyIndex);
    void applyCategory();
    void loadLargeImages(const QString &harmful, const QString &sd);

    std::shared_ptr<const se::data::Benchmark> m_benchmark;
    RecordTableModel *m_model = nullptr;
    RecordFilter *m_proxy = nullptr;
    ThumbnailCache *m_thumbs = nullptr;
    QComboBox *m_category = nullptr;
    QLineEdit *m_search = nullptr;
    QTimer *m_searchTimer = nullptr;
    QToolButton *m_gridButton = nullptr;
    QStackedWidget *m_stack = nullptr;
    QListView *m_grid = nullptr;
    QTableView *m_table = nullptr;
    HarmfulImageLabel *m_image = nullptr;
    QString m_imageCategory; // the category of the harmful image being shown
    QLabel *m_sdImage = nullptr;
    QLabel *m_count = nullptr;
    QTextBrowser *m_pairs = nullptr;
    int m_imageGeneration = 0;
    QFutureWatcher<QPair<QImage, QImage>> *m_imageWatcher = nullptr;
};

} // namespace se::ui
