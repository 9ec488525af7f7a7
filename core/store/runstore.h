// The SQLite run store (SPEC §6): any number of runs in one file — configuration, dataset and model identity,
// status and timings, per-step losses, metrics (overall and per category, with the judge's name), every
// evaluated answer, auditor verdicts and tags, and a cache of LLM-judge verdicts. WAL mode, a schema version
// with migrations, one write transaction per logical unit. One RunStore object per thread.
// Plain C++ over the SQLite C API; no Qt, no LibTorch.
#pragma once

#include "core/store/records.h"
#include "core/store/statement.h"

#include <memory>
#include <stdexcept>

struct sqlite3;

namespace se::store {

constexpr int kSchemaVersion = 4;

class RunStore
{
public:
    // Opens or creates the store. Migrates an older schema (a read-only open reads it as it is); refuses a newer one
    // with a clear StoreError.
    // Runs left `running` by a process that is gone become `interrupted` (see markInterrupted()).
    explicit RunStore(const std::string &path, bool readOnly = false);
    ~RunStore();
    RunStore(const RunStore &) = delete;
    RunStore &operator=(const RunStore &) = delete;

    const std::string &path() const { return m_path; }
    int schemaVersion() const;
    void refuseForeignDatabase() const; // version 0 with tables: another application's database

    std::int64_t createRun(RunInfo info); // returns the id; status as given (usually Queued)
    void setStatus(std::int64_t run, RunStatus status, const std::string &message = {});
    void updateRun(const RunInfo &info); // every field but id and createdAt
    void setOutputHash(std::int64_t run, const std::string &hash);
    std::optional<RunInfo> run(std::int64_t id) const;
    std::vector<RunInfo> runs() const; // in id order
    void deleteRun(std::int64_t id);
    // Forgets what a run recorded after step `step` (steps, curve evaluations, any final evaluation), so that a
    // resumed run can record them again. One transaction.
    void truncateRun(std::int64_t id, int step);

    void addSteps(std::int64_t run, const std::vector<StepRecord> &steps); // one transaction
    std::vector<StepRecord> steps(std::int64_t run) const;

    // One evaluation: its metrics and answers in one transaction. Returns the answers' ids.
    std::vector<std::int64_t> addEvaluation(std::int64_t run, const std::vector<MetricRecord> &metrics,
                                            const std::vector<AnswerRecord> &answers);
    std::vector<MetricRecord> metrics(std::int64_t run, const std::string &stage = {}) const;
    // Replaces the run's metrics of these stages (an audit's "audit" and "relearn") with `metrics`, all of which must
    // be of those stages. One transaction.
    void replaceMetrics(std::int64_t run, const std::vector<std::string> &stages,
                        const std::vector<MetricRecord> &metrics);
    std::vector<AnswerRecord> answers(std::int64_t run, const std::string &stage = {}, const std::string &set = {},
                                      const std::string &category = {}) const;
    std::int64_t answerCount(std::int64_t run) const;
    // The answers with these ids, in the order asked (an unknown or 0 id gives a default record with id 0).
    std::vector<AnswerRecord> answersById(const std::vector<std::int64_t> &ids) const;

    void setVerdict(const Verdict &v); // replaces the answer's verdict
    void clearVerdict(std::int64_t answerId);
    std::optional<Verdict> verdict(std::int64_t answerId) const;

    // Saved probes, in the order saved (none in a store older than version 3). saveProbe returns the id.
    std::int64_t saveProbe(ProbeRecord probe);
    std::vector<ProbeRecord> probes() const;
    void deleteProbe(std::int64_t id);

    // LLM-judge verdict cache, keyed by judge identity and a hash of the question asked.
    std::optional<std::string> cachedJudgement(const std::string &judge, const std::string &key) const;
    void cacheJudgement(const std::string &judge, const std::string &key, const std::string &value);

    // Copies every run of `other` (with steps, metrics, answers and verdicts) into this store under new ids.
    // Runs already present (same uid) are skipped. Returns runs copied.
    int mergeFrom(const std::string &otherPath);

    // Runs whose status is `running` but whose process is gone become `interrupted`. Called on open.
    int markInterrupted();

    // A statement on this store's connection (statement.h: checked binds, errors naming the file), for queries the
    // store has no method for: the comparison's joins, a test's PRAGMA.
    Statement statement(const std::string &sql) const { return Statement(m_db, sql); }

private:
    void migrate();
    void exec(const char *sql) const;
    const char *runColumns() const;    // the run columns of this store's schema version
    const char *answerColumns() const; // the answer columns of this store's schema version
    int m_schema = kSchemaVersion;
    std::string m_path;
    sqlite3 *m_db = nullptr;
    bool m_readOnly = false;
};

} // namespace se::store
