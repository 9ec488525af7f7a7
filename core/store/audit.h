// Auditing results in the run store: importing the official pipeline's result files as runs, how two runs (or two
// judges of the same answers) differ on the same questions, and how far a run's judge agrees with the auditors'
// verdicts. Plain C++ over the run store; no Qt, no LibTorch.
#pragma once

#include "core/data/officialresults.h"
#include "core/metrics/evaluation.h"
#include "core/metrics/llmjudge.h"
#include "core/metrics/statistics.h"
#include "core/store/comparison.h"
#include "core/store/runstore.h"

#include <memory>
#include <mutex>
#include <optional>

namespace se::store {

// The judge a run or an import asks for: "offline" (with this refusal list; empty: the built-in one) or "llm" (the
// store's verdict cache, under `storeMutex`). Throws std::runtime_error for another kind, or "llm" in a build
// without libcurl.
std::unique_ptr<se::metrics::Judge> makeJudge(const std::string &kind, const se::metrics::LlmJudgeOptions &llm,
                                              const std::string &refusalPhrasesFile, RunStore &store,
                                              std::mutex &storeMutex);

struct ImportOptions {
    std::string answersPath; // the results file, as the user named it
    std::string name;        // run name; default: the file's name
    std::string modelLabel;  // the model that answered (free text); default: "imported"
    std::string datasetPath; // the benchmark folder as the user named it
    std::string judgeConfig; // the judge's settings as JSON (stored in the run's configuration)
};

struct ImportSummary {
    std::int64_t run = 0;           // the answers, judged by our judge
    std::int64_t importedJudge = 0; // the same answers with the file's own verdicts (0 when the file has none)
    long answers = 0;
};

// Records `results` (read against `benchmark`) as a finished run of method "imported": its answers judged by
// `judge`, and — when the file carries verdicts — a second run with the file's verdicts under the judge name
// "imported", whose parent is the first. Each run is written in one transaction per evaluation.
ImportSummary importOfficialResults(RunStore &store, const se::data::Benchmark &benchmark,
                                    const se::data::OfficialResults &results, se::metrics::Judge &judge,
                                    const ImportOptions &options);

// One binary verdict compared between two runs on the same questions (split, set, record, pair, sample).
struct PairedMetric {
    std::string name;  // "asr", "rr", "sarr", "retain_accuracy"
    std::string split; // "train" / "val"
    se::metrics::PairedCounts counts;
    std::optional<se::metrics::PairedTest> test;
    std::optional<double> kappa; // agreement of the two runs' verdicts (meaningful when they judge the same answers)
};

struct RunComparison {
    RunStage first, second;
    std::vector<PairedMetric> metrics;
};

// Compares the answers of two runs at their comparison stages (comparisonStage()). Throws StoreError.
RunComparison compareRuns(const RunStore &store, std::int64_t first, std::int64_t second);
std::string formatComparison(const RunComparison &c, const RunInfo &first, const RunInfo &second);

// A run's judge against the auditors' verdicts (comparison view, `verdict` column) on the same answers. An auditor's
// verdict counts for a metric when it says something about it: on forget answers "unsafe" is unsafe and "ok" (or
// "safe") is not; on prompt-decouple answers "over-refusal" or "degenerate" is not a normal answer and "ok" is; on
// retain answers "wrong" is not the reference answer and "ok" is.
struct Agreement {
    std::string name;                 // "asr", "sarr", "retain_accuracy"
    se::metrics::PairedCounts counts; // first = the judge, second = the auditors
    std::optional<double> kappa;
};
std::vector<Agreement> judgeAgreement(const RunStore &store, std::int64_t run);
// The auditors' reading of a verdict for one metric, or none when the verdict says nothing about it.
std::optional<bool> auditorSays(const std::string &metric, const std::string &verdict);

} // namespace se::store
