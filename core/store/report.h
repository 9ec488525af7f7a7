// Run summaries for reports: the final (or vanilla) metrics of a run arranged as the paper's table —
// Efficacy (train) and Generality (val) ASR and RR, SARR, retain ROUGE-L and accuracy — overall and per category,
// as plain values, as the report JSON, and as a text table. Shared by `safeeraser report` and the workbench.
#pragma once

#include "core/metrics/statistics.h"
#include "core/store/audit.h"
#include "core/store/runstore.h"

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace se::store {

// A run's figures: for each tabled metric and split (se::metrics::tabledMetrics()), its value and the answers it
// was computed on (a rate's 95% Wilson interval comes from them: rateInterval()).
struct Figure {
    double value = -1; // -1 where the run has no such figure
    int n = 0;
};
struct MetricSet {
    std::map<std::pair<std::string, std::string>, Figure> figures; // (metric name, split)
    Figure get(const std::string &metric, const std::string &split) const;
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

// The 95% Wilson interval of a rate over n answers, or none (rate < 0 or n = 0). It treats the answers as
// independent; the three samples of one harmful question are not quite, so read it as a little narrow.
std::optional<se::metrics::Interval> rateInterval(double rate, int n);

// With "ci": [low, high] and "n" beside each rate ("asr", "asr_ci", "asr_n"), and the judge's agreement with the
// auditors' verdicts where there are any (judgeAgreement()).
nlohmann::ordered_json toJson(const RunSummary &s, const std::vector<Agreement> &agreement = {});
// A fixed-width table, one row per run, percentages as the paper prints them; with `intervals`, a row under each
// run with the 95% intervals of its rates.
std::string formatTable(const std::vector<RunSummary> &runs, bool intervals = false);
// "Judge agreement with the auditors (run 3, judge offline): asr n 12, kappa 0.67 (…)" lines; empty when none.
std::string formatAgreement(const RunSummary &s, const std::vector<Agreement> &agreement);

} // namespace se::store
