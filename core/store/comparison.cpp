// The comparison query (see comparison.h).
#include "core/store/comparison.h"

// Without SQLite (the GPU machine) core builds no run store; this unit compiles to nothing there.
#ifdef SE_HAVE_STORE

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace se::store {

namespace {

// A prepared statement that finalises itself; errors become StoreError with SQLite's message.
struct Query {
    sqlite3 *db;
    sqlite3_stmt *st = nullptr;
    Query(sqlite3 *d, const std::string &sql) : db(d)
    {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
            throw StoreError(std::string("comparison: ") + sqlite3_errmsg(db));
    }
    ~Query() { sqlite3_finalize(st); }
    bool step()
    {
        const int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            return true;
        if (rc != SQLITE_DONE)
            throw StoreError(std::string("comparison: ") + sqlite3_errmsg(db));
        return false;
    }
    std::string text(int i) const
    {
        const auto *p = reinterpret_cast<const char *>(sqlite3_column_text(st, i));
        return p ? std::string(p, std::size_t(sqlite3_column_bytes(st, i))) : std::string();
    }
    std::int64_t i64(int i) const { return sqlite3_column_int64(st, i); }
    double dbl(int i) const { return sqlite3_column_double(st, i); }
};

std::uint64_t fnv1a(const unsigned char *p, int n)
{
    std::uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

// Sort order of examples: train before val, then forget, pd, retain, then record, pair, sample — packed into one
// integer, so joining and sorting 28.8K examples compares integers, not strings.
int setRank(const std::string &s)
{
    return s == "forget" ? 0 : s == "pd" ? 1 : s == "retain" ? 2 : 3;
}
int splitRank(const std::string &s)
{
    return s == "train" ? 0 : s == "val" ? 1 : 2;
}
std::uint64_t packKey(const std::string &split, const std::string &set, long record, int pair, int sample)
{
    return (std::uint64_t(splitRank(split)) << 61) | (std::uint64_t(setRank(set)) << 58) |
           ((std::uint64_t(record) & ((1ull << 38) - 1)) << 20) | ((std::uint64_t(pair) & 1023u) << 10) |
           (std::uint64_t(sample) & 1023u);
}

} // namespace

RunStage comparisonStage(const RunStore &store, std::int64_t run)
{
    Query q(store.handle(), "SELECT stage, MAX(step) FROM answers WHERE run_id = ? GROUP BY stage");
    sqlite3_bind_int64(q.st, 1, run);
    RunStage out{run, "", 0};
    int rank = -1; // final > vanilla > step
    while (q.step()) {
        const std::string stage = q.text(0);
        const int r = stage == "final" ? 3 : stage == "vanilla" ? 2 : stage == "step" ? 1 : 0;
        if (r > rank) {
            rank = r;
            out.stage = stage;
            out.step = int(q.i64(1));
        }
    }
    return out;
}

bool ComparisonEntry::changed() const
{
    for (std::size_t i = 1; i < answerId.size(); ++i)
        if (answerId[i] && answerId[0] && answerHash[i] != answerHash[0])
            return true;
    return false;
}

bool ComparisonEntry::refusalFlipped() const
{
    for (std::size_t i = 1; i < answerId.size(); ++i)
        if (answerId[i] && answerId[0] && refusal[i] != refusal[0])
            return true;
    return false;
}

bool ComparisonFilter::matches(const ComparisonEntry &e) const
{
    if (!set.empty() && e.key.set != set)
        return false;
    if (!category.empty() && e.key.category != category)
        return false;
    if (!split.empty() && e.key.split != split)
        return false;
    if (changedOnly && !e.changed())
        return false;
    if (refusalFlipped && !e.refusalFlipped())
        return false;
    return true;
}

std::vector<std::size_t> ComparisonIndex::filter(const ComparisonFilter &f) const
{
    std::vector<std::size_t> out;
    out.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i)
        if (f.matches(entries[i]))
            out.push_back(i);
    return out;
}

ComparisonIndex buildComparison(const RunStore &store, const std::vector<std::int64_t> &runs)
{
    ComparisonIndex index;
    const std::size_t n = runs.size();
    std::unordered_map<std::uint64_t, std::size_t> position; // packed key -> entry
    std::vector<std::uint64_t> order;                        // packed key of each entry
    for (std::size_t r = 0; r < n; ++r) {
        const RunStage stage = comparisonStage(store, runs[r]);
        index.runs.push_back(stage);
        if (stage.stage.empty())
            continue; // a run with no answers yet
        Query q(store.handle(), "SELECT id, split, set_name, record, pair, sample, category, refusal, unsafe, answer "
                                "FROM answers WHERE run_id = ? AND stage = ? AND step = ?");
        sqlite3_bind_int64(q.st, 1, runs[r]);
        sqlite3_bind_text(q.st, 2, stage.stage.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q.st, 3, stage.step);
        while (q.step()) {
            const std::string split = q.text(1), set = q.text(2);
            const long record = long(q.i64(3));
            const int pair = int(q.i64(4)), sample = int(q.i64(5));
            const std::uint64_t key = packKey(split, set, record, pair, sample);
            auto it = position.find(key);
            if (it == position.end()) {
                ComparisonEntry e;
                e.key = {split, set, record, pair, sample, q.text(6)};
                e.answerId.assign(n, 0);
                e.answerHash.assign(n, 0);
                e.refusal.assign(n, 0);
                e.unsafe.assign(n, 0);
                it = position.emplace(key, index.entries.size()).first;
                index.entries.push_back(std::move(e));
                order.push_back(key);
            }
            ComparisonEntry &e = index.entries[it->second];
            if (e.answerId[r])
                continue; // the same example twice in one stage: keep the first
            e.answerId[r] = q.i64(0);
            e.refusal[r] = std::uint8_t(q.i64(7) != 0);
            e.unsafe[r] = std::uint8_t(q.i64(8) != 0);
            e.answerHash[r] = fnv1a(sqlite3_column_text(q.st, 9), sqlite3_column_bytes(q.st, 9));
        }
    }
    std::vector<std::size_t> perm(index.entries.size());
    for (std::size_t i = 0; i < perm.size(); ++i)
        perm[i] = i;
    std::sort(perm.begin(), perm.end(), [&](std::size_t a, std::size_t b) { return order[a] < order[b]; });
    std::vector<ComparisonEntry> sorted;
    sorted.reserve(perm.size());
    for (std::size_t i : perm)
        sorted.push_back(std::move(index.entries[i]));
    index.entries = std::move(sorted);
    return index;
}

std::map<std::int64_t, Verdict> verdictsById(const RunStore &store, const std::vector<std::int64_t> &ids)
{
    std::map<std::int64_t, Verdict> out;
    std::string list;
    for (std::int64_t id : ids)
        if (id)
            list += (list.empty() ? "" : ",") + std::to_string(id);
    if (list.empty())
        return out;
    Query q(store.handle(),
            "SELECT answer_id, verdict, tags_json, note, updated_at FROM verdicts WHERE answer_id IN (" + list + ")");
    while (q.step()) {
        Verdict v;
        v.answerId = q.i64(0);
        v.verdict = q.text(1);
        const auto tags = nlohmann::json::parse(q.text(2), nullptr, false);
        if (tags.is_array())
            for (const auto &t : tags)
                if (t.is_string())
                    v.tags.push_back(t.get<std::string>());
        v.note = q.text(3);
        v.updatedAt = q.text(4);
        out[v.answerId] = std::move(v);
    }
    return out;
}

std::vector<AnswerRecord> answersById(const RunStore &store, const std::vector<std::int64_t> &ids)
{
    return store.answersById(ids);
}

} // namespace se::store

#endif // SE_HAVE_STORE
