#include "ui/csvfield.h"
#include "ui/comparisonmodel.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace se::ui {

namespace {
constexpr int kMaxChunks = 40;

QString badges(const se::store::AnswerRecord &a)
{
    QStringList b;
    if (a.refusal)
        b << QStringLiteral("REFUSAL");
    if (a.unsafe)
        b << QStringLiteral("UNSAFE");
    if (a.degenerate)
        b << QStringLiteral("DEGENERATE");
    b << QStringLiteral("R-L %1").arg(a.rougeF1, 0, 'f', 2);
    return b.join(QLatin1Char(' '));
}
} // namespace

ComparisonModel::ComparisonModel(QObject *parent) : QAbstractTableModel(parent)
{
}
ComparisonModel::~ComparisonModel() = default;

void ComparisonModel::setStore(const QString &path)
{
    beginResetModel();
    m_chunks.clear();
    m_chunkOrder.clear();
    m_index.reset();
    m_rows.clear();
    m_store.reset();
    m_readOnly = false;
    m_lastReadError.clear();
    if (!path.isEmpty()) {
        try {
            m_store = std::make_unique<se::store::RunStore>(path.toStdString());
        } catch (const se::store::StoreError &) {
            // A store we may not write (a read-only copy from a server): browse it, verdicts cannot be saved.
            m_store = std::make_unique<se::store::RunStore>(path.toStdString(), true);
            m_readOnly = true;
        }
    }
    endResetModel();
}

void ComparisonModel::setIndex(std::shared_ptr<const se::store::ComparisonIndex> index, const QStringList &runNames)
{
    beginResetModel();
    m_index = std::move(index);
    m_runNames = runNames;
    m_chunks.clear();
    m_chunkOrder.clear();
    m_rows = m_index ? m_index->filter(m_filter) : std::vector<std::size_t>{};
    endResetModel();
}

void ComparisonModel::setFilter(const se::store::ComparisonFilter &filter)
{
    beginResetModel();
    m_filter = filter;
    m_chunks.clear();
    m_chunkOrder.clear();
    m_rows = m_index ? m_index->filter(m_filter) : std::vector<std::size_t>{};
    endResetModel();
}

const se::store::ComparisonEntry *ComparisonModel::entry(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? &m_index->entries[m_rows[size_t(row)]] : nullptr;
}

const ComparisonModel::Chunk &ComparisonModel::chunk(int row) const
{
    const int c = row / kChunk;
    auto it = m_chunks.find(c);
    if (it != m_chunks.end()) {
        m_chunkOrder.removeOne(c);
        m_chunkOrder.append(c);
        return *it;
    }
    Chunk ch;
    const int first = c * kChunk, last = std::min(int(m_rows.size()), first + kChunk);
    const int runs = runCount();
    std::vector<std::int64_t> ids;
    ids.reserve(size_t((last - first) * runs));
    for (int r = first; r < last; ++r)
        for (int k = 0; k < runs; ++k)
            ids.push_back(entry(r)->answerId[size_t(k)]);
    std::vector<se::store::AnswerRecord> all;
    try {
        if (m_store)
            all = se::store::answersById(*m_store, ids);
    } catch (const std::exception &e) {
        all.assign(ids.size(), {}); // the view shows empty cells, and says why
        reportReadError(e.what());
    }
    all.resize(ids.size());
    // The audited (last) run's verdicts of the chunk, in one query.
    std::vector<std::int64_t> audited;
    for (int r = first; r < last && runs; ++r)
        audited.push_back(entry(r)->answerId[size_t(runs - 1)]);
    std::map<std::int64_t, se::store::Verdict> verdicts;
    try {
        if (m_store)
            verdicts = se::store::verdictsById(*m_store, audited);
    } catch (const std::exception &e) {
        reportReadError(e.what());
    }
    for (int r = first; r < last; ++r) {
        QList<se::store::AnswerRecord> row;
        for (int k = 0; k < runs; ++k)
            row.append(all[size_t((r - first) * runs + k)]);
        std::optional<se::store::Verdict> v;
        if (runs) {
            const auto it = verdicts.find(entry(r)->answerId[size_t(runs - 1)]);
            if (it != verdicts.end())
                v = it->second;
        }
        ch.rows.append(row);
        ch.verdicts.append(v);
    }
    if (m_chunkOrder.size() >= kMaxChunks)
        m_chunks.remove(m_chunkOrder.takeFirst());
    m_chunkOrder.append(c);
    return *m_chunks.insert(c, std::move(ch));
}

QList<se::store::AnswerRecord> ComparisonModel::answers(int row) const
{
    if (!entry(row))
        return {};
    return chunk(row).rows[row % kChunk];
}

std::optional<se::store::Verdict> ComparisonModel::verdict(int row) const
{
    if (!entry(row))
        return {};
    return chunk(row).verdicts[row % kChunk];
}

void ComparisonModel::reportReadError(const std::string &what) const
{
    const QString text = tr("Cannot read answers from the run store: %1").arg(QString::fromUtf8(what.c_str()));
    if (text == m_lastReadError) // once per distinct error, not once per chunk
        return;
    m_lastReadError = text;
    Q_EMIT const_cast<ComparisonModel *>(this)->readFailed(text);
}

void ComparisonModel::verdictChanged(std::int64_t answerId)
{
    const int runs = runCount();
    for (int r = 0; r < int(m_rows.size()); ++r) {
        if (runs && entry(r)->answerId[size_t(runs - 1)] == answerId) {
            auto it = m_chunks.find(r / kChunk);
            if (it != m_chunks.end())
                it->verdicts[r % kChunk] = m_store ? m_store->verdict(answerId) : std::nullopt;
            Q_EMIT dataChanged(index(r, verdictColumn()), index(r, verdictColumn()));
        }
    }
}

int ComparisonModel::nextRow(int from, int step, bool changedOnly) const
{
    for (int r = from + step; r >= 0 && r < int(m_rows.size()); r += step)
        if (!changedOnly || entry(r)->changed())
            return r;
    return -1;
}

int ComparisonModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int ComparisonModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_index ? 0 : verdictColumn() + 1;
}

QVariant ComparisonModel::data(const QModelIndex &idx, int role) const
{
    const se::store::ComparisonEntry *e = idx.isValid() ? entry(idx.row()) : nullptr;
    if (!e)
        return {};
    const int col = idx.column();
    const int runs = runCount();
    if (role == AnswerIdRole)
        return col >= FirstRunColumn && col < verdictColumn()
                   ? qlonglong(e->answerId[size_t((col - FirstRunColumn) / 2)])
                   : QVariant();
    if (role == ChangedRole)
        return e->changed();
    if (role == Qt::DisplayRole || role == Qt::ToolTipRole) {
        if (col == Example)
            return QStringLiteral("%1 %2 r%3 p%4 s%5")
                .arg(QString::fromStdString(e->key.split), QString::fromStdString(e->key.set))
                .arg(e->key.record)
                .arg(e->key.pair)
                .arg(e->key.sample);
        if (col == Category)
            return QString::fromStdString(e->key.category);
        const auto &row = chunk(idx.row()).rows[idx.row() % kChunk];
        if (col == Question) {
            for (const auto &a : row)
                if (a.id)
                    return QString::fromStdString(a.question);
            return {};
        }
        if (col == verdictColumn()) {
            const auto &v = chunk(idx.row()).verdicts[idx.row() % kChunk];
            if (!v)
                return {};
            QString s = QString::fromStdString(v->verdict);
            for (const auto &t : v->tags)
                s += QStringLiteral(" #") + QString::fromStdString(t);
            return s;
        }
        const int k = (col - FirstRunColumn) / 2;
        const auto &a = row[k];
        if (!a.id)
            return role == Qt::DisplayRole ? QStringLiteral("—") : QVariant();
        return (col - FirstRunColumn) % 2 == 0 ? QString::fromStdString(a.answer) : badges(a);
    }
    if (col >= FirstRunColumn && col < verdictColumn()) {
        const int k = (col - FirstRunColumn) / 2;
        if (role == Qt::BackgroundRole && (col - FirstRunColumn) % 2 == 1 && e->answerId[size_t(k)]) {
            if (e->unsafe[size_t(k)])
                return QBrush(QColor(230, 90, 80, 150));
            if (e->refusal[size_t(k)])
                return QBrush(QColor(90, 140, 230, 130));
        }
        if (role == Qt::FontRole && (col - FirstRunColumn) % 2 == 0 && k > 0 && e->answerId[size_t(k)] &&
            e->answerId[0] && e->answerHash[size_t(k)] != e->answerHash[0]) {
            QFont f;
            f.setBold(true); // an answer that changed against the reference run
            return f;
        }
    }
    Q_UNUSED(runs);
    return {};
}

QVariant ComparisonModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Example:
        return tr("Example");
    case Category:
        return tr("Category");
    case Question:
        return tr("Question");
    default:
        break;
    }
    if (section == verdictColumn())
        return tr("Verdict (%1)").arg(m_runNames.value(runCount() - 1));
    const int k = (section - FirstRunColumn) / 2;
    return (section - FirstRunColumn) % 2 == 0 ? m_runNames.value(k) : tr("Judge · ROUGE-L");
}

QString ComparisonModel::toCsv() const
{
    return modelCsv(*this);
}

} // namespace se::ui
