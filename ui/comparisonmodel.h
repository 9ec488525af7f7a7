// A lazy table over a comparison of runs (core/store/comparison.h): one row per evaluated example that passes
// the filter, the runs' answers side by side with refusal / unsafe badges and ROUGE-L, and the auditor's verdict
// on the last run's answer. The index (keys and flags only) is built on a worker; the texts of the rows are read
// from the store in chunks of 200 when a view first asks for them, through this thread's own connection.
#pragma once

#include "core/store/comparison.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <memory>
#include <optional>

namespace se::ui {

class ComparisonModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum FixedColumn { Example, Category, Question, FirstRunColumn };
    enum Role { AnswerIdRole = Qt::UserRole + 1, ChangedRole, RecordRole };
    static constexpr int kChunk = 200;

    explicit ComparisonModel(QObject *parent = nullptr);
    ~ComparisonModel() override;

    // The store rows are read from on this thread (opened here; the index's own reads happened elsewhere).
    void setStore(const QString &path);
    se::store::RunStore *store() const { return m_store.get(); }
    bool readOnly() const { return m_readOnly; }
    void setIndex(std::shared_ptr<const se::store::ComparisonIndex> index, const QStringList &runNames);
    void setFilter(const se::store::ComparisonFilter &filter);
    const se::store::ComparisonFilter &filter() const { return m_filter; }

    int runCount() const { return m_index ? int(m_index->runs.size()) : 0; }
    int verdictColumn() const { return FirstRunColumn + 2 * runCount(); }
    const se::store::ComparisonEntry *entry(int row) const;
    // Every run's full answer for a row (read from the store on first use, then cached with its chunk).
    QList<se::store::AnswerRecord> answers(int row) const;
    std::optional<se::store::Verdict> verdict(int row) const;
    void verdictChanged(std::int64_t answerId); // re-read one verdict after a write
    int nextRow(int from, int step, bool changedOnly) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // The filtered table (every row, every column's text) as CSV. Reads texts in chunks.
    QString toCsv() const;

Q_SIGNALS:
    // Reading answers or verdicts failed (the cells stay empty): the view tells the user. Once per distinct error.
    void readFailed(const QString &message);

private:
    struct Chunk {
        QList<QList<se::store::AnswerRecord>> rows; // [row in chunk][run]
        QList<std::optional<se::store::Verdict>> verdicts;
    };
    const Chunk &chunk(int row) const;
    void reportReadError(const std::string &what) const;

    std::unique_ptr<se::store::RunStore> m_store;
    bool m_readOnly = false;
    std::shared_ptr<const se::store::ComparisonIndex> m_index;
    se::store::ComparisonFilter m_filter;
    std::vector<std::size_t> m_rows; // positions in m_index->entries
    QStringList m_runNames;
    mutable QHash<int, Chunk> m_chunks;
    mutable QList<int> m_chunkOrder; // least recently used first
    mutable QString m_lastReadError;
};

} // namespace se::ui
