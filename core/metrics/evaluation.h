// Evaluation as SPEC §4 defines it, independent of any model: which questions an evaluation asks (the full
// sets, or a fixed seeded subset for curves), how many samples each gets, and — given the answers — the
// per-answer verdicts of a judge and the metrics: ASR and RR on forget questions (Efficacy on train, Generality
// on val), SARR on the prompt-decouple set, ROUGE-L precision / F1 and exact-answer accuracy on retain, overall
// and per category. The model side (generation) is a callback, so this unit needs no LibTorch.
#pragma once

#include "core/util/defaults.h"
#include "core/data/benchmark.h"
#include "core/metrics/textmetrics.h"
#include "core/store/records.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace se::metrics {

struct EvalOptions {
    bool greedy = false; // SPEC §4 default: sampling at temperature 1.0, top-p 0.9
    double temperature = 1.0;
    double topP = 0.9;
    int harmfulSamples = 3; // samples per harmful question (forget and PD); other questions get one
    std::uint64_t seed = se::kDefaultSeed;
    int subsetPerSet = 0; // 0: every sample; else at most this many per split and set (fixed, seeded)
    bool train = true;    // evaluate all_train (Efficacy)
    bool val = true;      // evaluate all_val (Generality, SARR, retain utility)
    int maxNewTokens = 0; // answer length limit; 0: the model's (LLaVA 512 as the official inference, or
                          // generation_config.json's; the built-in card's max_answer_tokens)
};

// One question to ask: a sample of the benchmark and which of its samples this is.
struct EvalItem {
    const se::data::Sample *sample = nullptr;
    int sampleIndex = 0;
    std::uint64_t seed = 0; // the generation seed for this item (derived from options.seed, stable)
};

// The questions of one evaluation, in a stable order. Greedy decoding asks each question once.
std::vector<EvalItem> planEvaluation(const se::data::Benchmark &benchmark, const EvalOptions &options);

// Judges answers one by one (the offline judge) or in bulk (an LLM judge with its own concurrency).
class Judge
{
public:
    virtual ~Judge() = default;
    virtual std::string name() const = 0;
    virtual std::vector<Verdict> judge(const std::vector<EvalItem> &items, const std::vector<std::string> &answers) = 0;
};

class OfflineJudgeAdapter : public Judge
{
public:
    explicit OfflineJudgeAdapter(OfflineJudge judge = OfflineJudge()) : m_judge(std::move(judge)) {}
    std::string name() const override { return OfflineJudge::name(); }
    std::vector<Verdict> judge(const std::vector<EvalItem> &items, const std::vector<std::string> &answers) override;
    const OfflineJudge &offline() const { return m_judge; }

private:
    OfflineJudge m_judge;
};

struct EvalResult {
    std::vector<se::store::AnswerRecord> answers;
    std::vector<se::store::MetricRecord> metrics;
    double metric(const std::string &name, const std::string &split = "val", const std::string &category = {}) const;
};

// Verdicts and metrics for answered items. `stage` and `step` label the records ("vanilla", "step", "final").
EvalResult scoreEvaluation(const std::vector<EvalItem> &items, const std::vector<std::string> &answers, Judge &judge,
                           const std::string &stage, int step);

// The metrics of answers already judged: rates over the answers that carry the verdict (AnswerRecord::noVerdict),
// means of the retain scores, overall and per category, per split. Sorted by (split, category, name).
std::vector<se::store::MetricRecord> metricsOf(const std::vector<se::store::AnswerRecord> &answers,
                                               const std::string &stage, int step, const std::string &judge);

// One row per metric: what it is, how it is computed from judged answers, and how people see it. The one place
// a metric is defined: metricsOf() computes every row; the report, export, the comparison statistics, the plots,
// the results table, the presentation, the launcher's and the CLI's progress lines read the rows. Adding a metric
// is adding a row (README "Extending").
struct MetricInfo {
    const char *name;    // the key stored with each value ("sarr")
    const char *label;   // for people ("SARR", "ROUGE-L precision")
    const char *column;  // a table's short header ("SARR", "ROUGE-L P")
    const char *set;     // the answers it is computed on: "forget", "pd", "retain"
    const char *meaning; // one line: what a value says
    bool lowerIsBetter;
    std::vector<std::string> splits; // shown on (train first); a forget metric on train is efficacy, on val generality
    bool tabled;                     // a column of the results table and of `report`
    bool headline;                   // in progress lines
    const char *note;                // after the split in titles ("LLM judge"), or ""
    // A rate: the share of answers for which `value` holds, among those whose judge gave the verdict (noVerdict &
    // noVerdictBit is 0). Otherwise a mean of `score` over the answers where it is >= 0.
    int noVerdictBit;
    bool (*value)(const se::store::AnswerRecord &);
    double (*score)(const se::store::AnswerRecord &);
    // Auditors' verdict words (lower case) that say the rate's event holds / does not; none: verdicts say nothing.
    std::vector<std::string> auditorYes, auditorNo;
    bool percent = true; // shown in percent (every rate; ROUGE-L); otherwise as a score with three decimals

    bool rate() const { return value != nullptr; }
    std::string title(const std::string &split) const;  // "ASR generality (forget, val) — lower is better"
    std::string header(const std::string &split) const; // "Generality ASR"
    std::string format(double v) const;                 // "12.5%" or "0.831" (percent); "-" where there is none (< 0)
};
const std::vector<MetricInfo> &metricTable();
const MetricInfo *findMetric(const std::string &name); // nullptr for a name no row has
const std::vector<MetricInfo> &binaryMetrics();        // the rates (ASR, RR, SARR, …), in table order

// A metric on a split, as the results table and `report` show it: by split (train, then val), in table order.
struct MetricColumn {
    const MetricInfo *metric;
    std::string split;
};
const std::vector<MetricColumn> &tabledMetrics();

// Metric names (fractions in [0, 1]).
namespace names {
constexpr const char *asr = "asr";                  // forget: share unsafe
constexpr const char *rr = "rr";                    // forget: share refused
constexpr const char *sarr = "sarr";                // PD: share not a normal, meaningful answer
constexpr const char *pdRefusal = "pd_refusal";     // PD: share refused
constexpr const char *rougeP = "rouge_l_precision"; // retain
constexpr const char *rougeF1 = "rouge_l_f1";       // retain
constexpr const char *retainAccuracy = "retain_accuracy";
constexpr const char *retainRefusal = "retain_refusal";
constexpr const char *gptScore = "gpt_score"; // retain: mean GPT-Score of an LLM judge (where it gave one)
} // namespace names

} // namespace se::metrics
