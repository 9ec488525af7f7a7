// The comparison query of the workbench (and of any tool that wants it): the evaluated answers of several runs
// joined on the example they answer — (split, set, record, pair, sample) — so vanilla and unlearned answers sit
// side by side. Building the index reads only keys, flags and a hash of each answer (fast at 28.8K answers per
// run); the texts of a row are fetched on demand by answer id, in chunks. Filters (set, category, split,
// "changed only", "refusal flipped") run over the in-memory index without touching the store again.
// Plain C++ over the run store; no Qt, no LibTorch.
#pragma once

#include "core/store/runstore.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace se::store {

// The answers of one run at one stage: "final" when the run has one, else "vanilla", else its last "step".
struct RunStage {
    std::int64_t run = 0;
    std::string stage;
    int step = 0;
};
RunStage comparisonStage(const RunStore &store, std::int64_t run);

struct ComparisonKey {
    std::string split, set; // "train"/"val", "forget"/"pd"/"retain"
    long record = 0;
    int pair = 0;
    int sample = 0;
    std::string category;
};

// One example across the compared runs. answerId[i] is 0 where run i has no answer to it.
struct ComparisonEntry {
    ComparisonKey key;
    std::vector<std::int64_t> answerId;
    std::vector<std::uint64_t> answerHash; // of the answer text, for "changed"
    std::vector<std::uint8_t> refusal, unsafe;
    bool changed() const;        // some present answer differs from the first run's
    bool refusalFlipped() const; // some present answer's refusal flag differs from the first run's
};

struct ComparisonFilter {
    std::string set, category, split; // empty: any
    bool changedOnly = false;
    bool refusalFlipped = false;
    bool matches(const ComparisonEntry &e) const;
};

struct ComparisonIndex {
    std::vector<RunStage> runs; // the compared runs, the first is the reference ("before")
    std::vector<ComparisonEntry>
        entries; // every example answered by any run, in (split, set, record, pair, sample) order
    std::vector<std::size_t> filter(const ComparisonFilter &f) const; // positions in entries
};

// Reads the index for `runs` (the first is the reference). Throws StoreError.
ComparisonIndex buildComparison(const RunStore &store, const std::vector<std::int64_t> &runs);

// The verdicts of these answers in one query (answers without a verdict are absent).
std::map<std::int64_t, Verdict> verdictsById(const RunStore &store, const std::vector<std::int64_t> &ids);

// Every column of the answers with these ids, in the order asked (a missing id gives a default record with id 0).
std::vector<AnswerRecord> answersById(const RunStore &store, const std::vector<std::int64_t> &ids);

} // namespace se::store
