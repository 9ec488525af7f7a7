#include "ui/recordtablemodel.h"

#include <QBrush>
#include <QColor>

namespace se::ui {

RecordTableModel::RecordTableModel(QObject *parent) : QAbstractTableModel(parent) {}

void RecordTableModel::setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark)
{
    beginResetModel();
    m_benchmark = std::move(benchmark);
    m_rows.clear();
    if (m_benchmark) {
        for (const se::data::SplitData *s : {&m_benchmark->train, &m_benchmark->val}) {
            for (const auto &r : s->records) {
                Row row{s, &r, 0, 0, 0};
                for (const auto &p : r.unsafePairs) {
                    row.forget += p.forgetUsable;
                    row.pd += p.pdUsable;
                }
                for (const auto &u : r.unharmPairs)
                    row.retain += u.usable;
                m_rows.push_back(row);
            }
        }
    }
    endResetModel();
}

const se::data::Record *RecordTableModel::record(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? m_rows[row].record : nullptr;
}

int RecordTableModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }
int RecordTableModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RecordTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()))
        return {};
    const Row &row = m_rows[index.row()];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Split: return QString::fromLatin1(se::data::splitName(row.split->split));
        case Index: return qlonglong(row.record->index);
        case Category: return QString::fromStdString(row.record->category);
        case Image: return QString::fromStdString(row.record->imagePath);
        case SdImage: return QString::fromStdString(row.record->sdImagePath);
        case Forget: return row.forget;
        case PromptDecouple: return row.pd;
        case Retain: return row.retain;
        case Status: return row.record->sound ? tr("ok") : tr("problem");
        }
    } else if (role == Qt::ForegroundRole && index.column() == Status && !row.record->sound) {
        return QBrush(QColor(200, 40, 40));
    } else if (role == Qt::TextAlignmentRole && index.column() >= Forget && index.column() <= Retain) {
        return int(Qt::AlignRight | Qt::AlignVCenter);
    }
    return {};
}

QVariant RecordTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *names[ColumnCount] = {"Split", "Record", "Category", "Image", "SD image",
                                             "Forget", "PD", "Retain", "Status"};
    return tr(names[section]);
}

} // namespace se::ui
