// A table over the records of a benchmark (both splits): one row a record, with its category, images and
// how many forget / prompt-decouple / retain pairs it contributes. Read-only. The Title column carries a short
// label and the record's thumbnail (from a ThumbnailCache, placeholder until decoded) for the grid view.
#pragma once

#include "core/data/benchmark.h"

#include <QAbstractTableModel>
#include <QCache>
#include <QPixmap>
#include <QHash>
#include <QSet>
#include <QVector>
#include <memory>

class QTimer;

namespace se::ui {

class ThumbnailCache;

class RecordTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Split, Index, Category, Image, SdImage, Forget, PromptDecouple, Retain, Status, Title, ColumnCount };
    enum Role { SearchTextRole = Qt::UserRole + 1, CategoryRole };

    explicit RecordTableModel(QObject *parent = nullptr);
    void setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark);
    const se::data::Record *record(int row) const;
    const se::data::SplitData *split(int row) const;
    // Thumbnails for the Title column's decoration; the model repaints rows as they arrive (coalesced).
    void setThumbnails(ThumbnailCache *cache);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    struct Row {
        const se::data::SplitData *split;
        const se::data::Record *record;
        int forget, pd, retain;
        QString searchText; // questions and answers, lower-cased, for the search box
    };
    void thumbnailReady(const QString &file);
    std::shared_ptr<const se::data::Benchmark> m_benchmark;
    std::vector<Row> m_rows;
    ThumbnailCache *m_thumbs = nullptr;
    mutable QCache<QString, QPixmap> m_blurred{600}; // blurred thumbnails by file (SafeViewing), the visible ones
    QHash<QString, QVector<int>> m_rowsOfFile;
    QSet<int> m_dirtyRows;
    QTimer *m_repaint = nullptr;
};

} // namespace se::ui
