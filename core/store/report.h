// Run summaries for reports: the final (or vanilla) metrics of a run arranged as the paper's table —
// Efficacy (train) and Generality (val) ASR and RR, SARR, retain ROUGE-L and accuracy — overall and per category,
// as plain values, as the report JSON, and as a text table. Shared by `safeeraser report` and the workbench.
#pragma once

#include "core/store/runstore.h"

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace se::store {

struct MetricSet {
    // -1 where the run has no such figure
    double efficacyAsr = -1, efficacyRr = -1, generalityAsr = -1, generalityRr = -1;
    double sarr = -1, rougeP = -1, rougeF1 = -1, retainAccuracy = -1;
};

struct RunSummary {
    RunInfo run;
    std::string stage; // the stage the figures come from ("final" or "vanilla")
    std::string judge;
    MetricSet overall;
    std::map<std::string, MetricSet> perCategory;
};

// The summary of one run from its last evaluation ("final", else "vanilla", else the last "step").
RunSummary summarizeRun(const RunStore &store, const RunInfo &run);
std::vector<RunSummary> summarizeRuns(const RunStore &store);

nlohmann::ordered_json toJson(const RunSummary &s);
// A fixed-width table, one row per run, percentages as the paper prints them.
std::string formatTable(const std::vector<RunSummary> &runs);

} // namespace se::store
