// The comparison query (see comparison.h).
#include "core/store/comparison.h"

// Without SQLite (the GPU machine) core builds no run store; this unit compiles to nothing there.
#ifdef SE_HAVE_STORE

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace se::store {

namespace {

std::uint64_t fnv1a(std::string_view text)
{
    const auto *p = reinterpret_cast<const unsigned char *>(text.data());
    const std::size_t n = text.size();
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < n; ++i) {
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
    Statement q = store.statement("SELECT stage, MAX(step) FROM answers WHERE run_id = ? GROUP BY stage");
    q.bind(1, run);
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
        Statement q = store.statement("SELECT id, split, set_name, record, pair, sample, category, refusal, unsafe, "
                                      "answer FROM answers WHERE run_id = ? AND stage = ? AND step = ?");
        q.bind(1, runs[r]).bind(2, stage.stage).bind(3, stage.step);
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
            e.answerHash[r] = fnv1a(q.textView(9));
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
    Statement q = store.statement(
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
