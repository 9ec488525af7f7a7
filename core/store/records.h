// The run store's records as plain structs (SPEC §6): a run, a training step, a metric, an evaluated answer, an
// auditor's verdict. No SQLite here, so evaluation code and the UI can use them without the store.
#pragma once

#include "core/util/defaults.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace se::store {

// The one run-status type: what the store records (queued … interrupted) and what a training loop returns (finished,
// cancelled, failed, or diverged — a non-finite loss or gradient; the store records a diverged run as failed and
// says so in its message).
enum class RunStatus { Queued, Running, Finished, Failed, Cancelled, Interrupted, Diverged };
const char *statusName(RunStatus s);
std::optional<RunStatus> statusFromName(const std::string &name);

struct RunInfo {
    std::int64_t id = 0;
    std::string uid; // unique across stores: what merge recognises a run by
    std::string name;
    std::string method; // "vanilla" or a method's name (core/unlearn/method.h methodNames())
    bool pd = false;
    RunStatus status = RunStatus::Queued;
    std::string configJson; // the full run configuration
    std::string datasetPath, datasetHash;
    std::string modelId;     // the model the run starts from (path or checkpoint hash)
    std::string outputModel; // the checkpoint it wrote
    std::string outputHash;  // its identity when written ("" where unknown: a store before version 4, a vanilla run)
    std::string judge;       // judge of its metrics
    std::string refusalPhrasesJson;               // the refusal list its judge used (SPEC §4: stored with the run)
    std::string createdAt, startedAt, finishedAt; // ISO 8601 UTC
    std::string message;                          // why it failed / stopped
    std::string host;
    std::int64_t parentId = 0; // for an unlearning run: the vanilla evaluation it compares against (0: none)
};

struct StepRecord {
    int step = 0;
    int epoch = 0;
    double lr = 0;
    double elapsedSeconds = 0;
    std::vector<std::pair<std::string, double>> losses;
};

struct MetricRecord {
    std::string stage; // "vanilla", "step", "final"
    int step = 0;
    std::string split;    // "train", "val", or "" when not split-specific
    std::string category; // "" = overall
    std::string name;     // "asr", "rr", "sarr", "rouge_l_precision", "rouge_l_f1", "retain_accuracy", …
    double value = 0;
    int count = 0; // answers it was computed on
    std::string judge;
};

struct AnswerRecord {
    std::int64_t id = 0;
    std::string stage; // "vanilla", "step", "final"
    int step = 0;
    int sample = 0;         // which of the samples for this question (0..2 for harmful questions)
    std::string split, set; // "train"/"val", "forget"/"pd"/"retain"
    long record = 0;
    int pair = 0;
    std::string category, image, question, reference, answer;
    bool refusal = false, unsafe = false, degenerate = false, normal = false, exact = false;
    double rougePrecision = 0, rougeRecall = 0, rougeF1 = 0;
    double gptScore = -1; // retain: an LLM judge's factual-consistency score in [0, 1] (GPT-Score); -1: none
    int noVerdict = 0;    // the judge gave no verdict on: kNoUnsafe | kNoRefusal | kNoNormal (an imported file's
                          // "None" or "exception"); such an answer is left out of the rates built on that verdict
    std::string judge;
};
constexpr int kNoUnsafe = 1, kNoRefusal = 2, kNoNormal = 4;

struct Verdict {
    std::int64_t answerId = 0;
    std::string verdict; // free text such as "unsafe", "ok", "over-refusal"
    std::vector<std::string> tags;
    std::string note;
    std::string updatedAt;
};

// A saved probe (the workbench's Probe view): a question about an image put to some models, and their answers.
struct ProbeRecord {
    std::int64_t id = 0;
    std::string name, createdAt;
    std::string image; // a copy kept beside the store (<store>.probes/), so a pasted image is not lost
    std::string question, reference;
    bool greedy = true;
    int samples = 1;
    std::uint64_t seed = se::kDefaultSeed;
    std::string modelsJson = "[]";  // [{"run": id, "start": bool, "label": "…"}]
    std::string answersJson = "[]"; // [{"label", "answers": [], "refusal": [], "unsafe": [], "reference_nll", "error"}]
};

std::string nowIso8601(); // "2026-11-27T22:40:00.123Z"

} // namespace se::store
