#include "ui/recordtablemodel.h"
#include "ui/safeview.h"
#include "ui/thumbnailcache.h"

#include <QTimer>
#include <algorithm>
#include <climits>

#include <QBrush>
#include <QColor>

namespace se::ui {

RecordTableModel::RecordTableModel(QObject *parent) : QAbstractTableModel(parent)
{
    m_repaint = new QTimer(this);
    m_repaint->setSingleShot(true);
    m_repaint->setInterval(40); // thumbnails arrive in bursts: repaint once per burst
    connect(m_repaint, &QTimer::timeout, this, [this] {
        if (m_dirtyRows.isEmpty())
            return;
        int lo = INT_MAX, hi = -1;
        for (int r : std::as_const(m_dirtyRows)) {
            lo = std::min(lo, r);
            hi = std::max(hi, r);
        }
        m_dirtyRows.clear();
        Q_EMIT dataChanged(index(lo, Title), index(hi, Title), {Qt::DecorationRole});
    });
}

void RecordTableModel::setThumbnails(ThumbnailCache *cache)
{
    connect(&SafeViewing::instance(), &SafeViewing::changed, this, [this] {
        if (rowCount() > 0)
            Q_EMIT dataChanged(index(0, Title), index(rowCount() - 1, Title), {Qt::DecorationRole});
    });
    m_thumbs = cache;
    connect(cache, &ThumbnailCache::thumbnailReady, this, &RecordTableModel::thumbnailReady);
}

void RecordTableModel::thumbnailReady(const QString &file)
{
    const auto it = m_rowsOfFile.constFind(file);
    if (it == m_rowsOfFile.constEnd())
        return;
    for (int r : *it)
        m_dirtyRows.insert(r);
    if (!m_repaint->isActive())
        m_repaint->start();
}

const se::data::SplitData *RecordTableModel::split(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? m_rows[row].split : nullptr;
}

void RecordTableModel::setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark)
{
    beginResetModel();
    m_benchmark = std::move(benchmark);
    m_rows.clear();
    m_rowsOfFile.clear();
    m_dirtyRows.clear();
    if (m_benchmark) {
        for (const se::data::SplitData *s : {&m_benchmark->train, &m_benchmark->val}) {
            for (const auto &r : s->records) {
                Row row{s, &r, 0, 0, 0, {}};
                std::string text;
                for (const auto &p : r.unsafePairs) {
                    row.forget += p.forgetUsable;
                    row.pd += p.pdUsable;
                    text += p.question + '\n' + p.sdResponse + '\n';
                    for (const auto &resp : p.responses)
                        text += resp + '\n';
                }
                for (const auto &u : r.unharmPairs) {
                    row.retain += u.usable;
                    text += u.question + '\n' + u.prediction + '\n';
                }
                row.searchText = QString::fromStdString(text).toLower();
                m_rowsOfFile[QString::fromStdString(r.imageFile)].append(int(m_rows.size()));
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

int RecordTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}
int RecordTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RecordTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()))
        return {};
    const Row &row = m_rows[index.row()];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Split:
            return QString::fromLatin1(se::data::splitName(row.split->split));
        case Index:
            return qlonglong(row.record->index);
        case Category:
            return QString::fromStdString(row.record->category);
        case Image:
            return QString::fromStdString(row.record->imagePath);
        case SdImage:
            return QString::fromStdString(row.record->sdImagePath);
        case Forget:
            return row.forget;
        case PromptDecouple:
            return row.pd;
        case Retain:
            return row.retain;
        case Status:
            return row.record->sound ? tr("ok") : tr("problem");
        case Title:
            return QStringLiteral("%1 %2\n%3")
                .arg(QString::fromLatin1(se::data::splitName(row.split->split)))
                .arg(row.record->index)
                .arg(QString::fromStdString(row.record->category));
        }
    } else if (role == Qt::DecorationRole && index.column() == Title && m_thumbs) {
        const QString file = QString::fromStdString(row.record->imageFile);
        const QPixmap thumb = m_thumbs->thumbnail(file);
        if (!SafeViewing::instance().blurred(QString::fromStdString(row.record->category)))
            return thumb;
        if (!m_thumbs->isReady(file))
            return thumb; // the placeholder
        if (const QPixmap *b = m_blurred.object(file))
            return *b;
        const QPixmap b = SafeViewing::blur(thumb);
        m_blurred.insert(file, new QPixmap(b));
        return b;
    } else if (role == SearchTextRole) {
        return row.searchText;
    } else if (role == CategoryRole) {
        return QString::fromStdString(row.record->category);
    } else if (role == Qt::ToolTipRole && index.column() == Title) {
        return QString::fromStdString(row.record->imagePath);
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
    static const char *names[ColumnCount] = {"Split",  "Record", "Category", "Image",  "SD image",
                                             "Forget", "PD",     "Retain",   "Status", "Title"};
    return tr(names[section]);
}

} // namespace se::ui
