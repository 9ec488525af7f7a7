// The SQLite run store (SPEC §6): any number of runs in one file — configuration, dataset and model identity,
// status and timings, per-step losses, metrics (overall and per category, with the judge's name), every
// evaluated answer, auditor verdicts and tags, and a cache of LLM-judge verdicts. WAL mode, a schema version
// with migrations, one write transaction per logical unit. One RunStore object per thread.
// Plain C++ over the SQLite C API; no Qt, no LibTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct sqlite3;

namespace se::store {

constexpr int kSchemaVersion = 1;

enum class RunStatus { Queued, Running, Finished, Failed, Cancelled, Interrupted };
const char *statusName(RunStatus s);
std::optional<RunStatus> statusFromName(const std::string &name);

struct RunInfo {
    std::int64_t id = 0;
    std::string uid;          // unique across stores: what merge recognises a run by
    std::string name;
    std::string method;       // "vanilla", "ga", "gd", "kl", "po", "npo", "dpo"
    bool pd = false;
    RunStatus status = RunStatus::Queued;
    std::string configJson;   // the full run configuration
    std::string datasetPath, datasetHash;
    std::string modelId;      // the model the run starts from (path or checkpoint hash)
    std::string outputModel;  // the checkpoint it wrote
    std::string judge;        // judge of its metrics
    std::string refusalPhrasesJson; // the refusal list its judge used (SPEC §4: stored with the run)
    std::string createdAt, startedAt, finishedAt; // ISO 8601 UTC
    std::string message;      // why it failed / stopped
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
    std::string stage;    // "vanilla", "step", "final"
    int step = 0;
    std::string split;    // "train", "val", or "" when not split-specific
    std::string category; // "" = overall
    std::string name;     // "asr", "rr", "sarr", "rouge_l_precision", "rouge_l_f1", "retain_accuracy", …
    double value = 0;
    int count = 0;        // answers it was computed on
    std::string judge;
};

struct AnswerRecord {
    std::int64_t id = 0;
    std::string stage;    // "vanilla", "step", "final"
    int step = 0;
    int sample = 0;       // which of the samples for this question (0..2 for harmful questions)
    std::string split, set; // "train"/"val", "forget"/"pd"/"retain"
    long record = 0;
    int pair = 0;
    std::string category, image, question, reference, answer;
    bool refusal = false, unsafe = false, degenerate = false, normal = false, exact = false;
    double rougePrecision = 0, rougeRecall = 0, rougeF1 = 0;
    std::string judge;
};

struct Verdict {
    std::int64_t answerId = 0;
    std::string verdict;  // free text such as "unsafe", "ok", "over-refusal"
    std::vector<std::string> tags;
    std::string note;
    std::string updatedAt;
};

class StoreError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

class RunStore
{
public:
    // Opens or creates the store. Migrates an older schema; refuses a newer one with a clear StoreError.
    // Runs left `running` by a process that is gone become `interrupted` (see markInterrupted()).
    explicit RunStore(const std::string &path, bool readOnly = false);
    ~RunStore();
    RunStore(const RunStore &) = delete;
    RunStore &operator=(const RunStore &) = delete;

    const std::string &path() const { return m_path; }
    int schemaVersion() const;

    std::int64_t createRun(RunInfo info);           // returns the id; status as given (usually Queued)
    void setStatus(std::int64_t run, RunStatus status, const std::string &message = {});
    void updateRun(const RunInfo &info);            // every field but id and createdAt
    std::optional<RunInfo> run(std::int64_t id) const;
    std::vector<RunInfo> runs() const;              // in id order
    void deleteRun(std::int64_t id);

    void addSteps(std::int64_t run, const std::vector<StepRecord> &steps);  // one transaction
    std::vector<StepRecord> steps(std::int64_t run) const;

    // One evaluation: its metrics and answers in one transaction. Returns the answers' ids.
    std::vector<std::int64_t> addEvaluation(std::int64_t run, const std::vector<MetricRecord> &metrics,
                                            const std::vector<AnswerRecord> &answers);
    std::vector<MetricRecord> metrics(std::int64_t run, const std::string &stage = {}) const;
    std::vector<AnswerRecord> answers(std::int64_t run, const std::string &stage = {}, const std::string &set = {},
                                      const std::string &category = {}) const;
    std::int64_t answerCount(std::int64_t run) const;

    void setVerdict(const Verdict &v);              // replaces the answer's verdict
    void clearVerdict(std::int64_t answerId);
    std::optional<Verdict> verdict(std::int64_t answerId) const;

    // LLM-judge verdict cache, keyed by judge identity and a hash of the question asked.
    std::optional<std::string> cachedJudgement(const std::string &judge, const std::string &key) const;
    void cacheJudgement(const std::string &judge, const std::string &key, const std::string &value);

    // Copies every run of `other` (with steps, metrics, answers and verdicts) into this store under new ids.
    // Runs already present (same uid) are skipped. Returns runs copied.
    int mergeFrom(const std::string &otherPath);

    // Runs whose status is `running` but whose process is gone become `interrupted`. Called on open.
    int markInterrupted();

    sqlite3 *handle() const { return m_db; }

private:
    void migrate();
    void exec(const char *sql) const;
    std::string m_path;
    sqlite3 *m_db = nullptr;
    bool m_readOnly = false;
};

std::string nowIso8601();

} // namespace se::store
