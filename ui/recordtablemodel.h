// A table over the records of a benchmark (both splits): one row a record, with its category, images and
// how many forget / prompt-decouple / retain pairs it contributes. Read-only.
#pragma once

#include "core/data/benchmark.h"

#include <QAbstractTableModel>
#include <memory>

namespace se::ui {

class RecordTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Split, Index, Category, Image, SdImage, Forget, PromptDecouple, Retain, Status, ColumnCount };

    explicit RecordTableModel(QObject *parent = nullptr);
    void setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark);
    const se::data::Record *record(int row) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    struct Row {
        const se::data::SplitData *split;
        const se::data::Record *record;
        int forget, pd, retain;
    };
    std::shared_ptr<const se::data::Benchmark> m_benchmark;
    std::vector<Row> m_rows;
};

} // namespace se::ui
