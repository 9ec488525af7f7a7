// The run controller: a queue of training jobs (unlearning runs recorded in a run store, or vanilla training)
// executed one at a time by a worker QObject living in its own QThread. The engine's callbacks arrive there and
// are turned into queued signals; every signal carries the job's ticket, and the controller drops any signal of a
// job that is no longer current (a late event of a finished or cancelled run never lands in the wrong place).
// Pause, resume and cancel go through the engine's CancelToken, which the trainer checks between optimiser steps.
// The owner's destructor cancels, quits the thread and waits for it.
#pragma once

#include "core/store/records.h"
#include "core/unlearn/engine.h"
#include "core/unlearn/robustness.h"
#include "core/unlearn/runservice.h"

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <functional>
#include <memory>

class QThread;

namespace se::ui {

// What the launcher asks for, in plain values (converted to the engine's request by the engine bridge).
struct LaunchSpec {
    enum class Kind { Unlearn, Vanilla, Audit };
    Kind kind = Kind::Unlearn;
    QString label;         // shown in the queue
    QString name;          // the run's name in the store (empty: "<method>[+pd]")
    QString storePath;     // the run store (unlearning)
    QString dataDir;       // the benchmark folder
    QString modelFile;     // the vanilla checkpoint or a Hugging Face folder (unlearning: input; vanilla: output)
    QString systemPrompt;  // LLaVA: a sentence before "USER:"
    QString adapter;       // Hugging Face models: a PEFT adapter folder the run starts from (folded in)
    QString method = "po"; // a method's name (core/unlearn/method.h methodNames())
    bool pd = false;
    se::unlearn::WeightOverrides weights;
    se::engine::TrainOptions train;
    int evalEvery = 0; // steps between curve evaluations (0: none)
    int curveSubset = 16;
    bool greedyEval = false;   // final evaluation greedy instead of SPEC §4 sampling
    int subsetPerSet = 0;      // final evaluation on at most this many questions per split and set (0: all)
    QString judge = "offline"; // "offline" or "llm"
    QString llmBaseUrl, llmModel;
    qint64 auditRun = 0;            // Audit: the run of storePath to audit
    se::engine::AuditOptions audit; // Audit: what it asks (safeeraser audit's flags; store and run from above)
};

// One event of a job, as the UI needs it (copied out of the engine's RunEvent on the worker thread).
struct RunUpdate {
    enum class Kind { Created, VanillaEvaluated, Progress, Evaluated, Finished, Evaluating, Log, Loading };
    Kind kind = Kind::Progress;
    qint64 runId = 0, vanillaRunId = 0;
    int step = 0, totalSteps = 0, epoch = 0;
    QString phase;
    QList<QPair<QString, double>> losses; // "total" first
    double lr = 0, elapsedSeconds = 0, etaSeconds = 0, samplesPerSecond = 0;
    quint64 memoryBytes = 0; // the GPU's memory in use (CUDA) or the process's resident memory (CPU); 0 unknown
    std::vector<se::store::MetricRecord> metrics;
    QString status;  // Finished: finished / cancelled / failed / diverged
    QString message; // Finished: why; Log: a line for the log
};

// Executes one job on the calling (worker) thread, reporting through `onEvent`. Never throws: an error ends as a
// Finished update with status "failed".
using JobExecutor = std::function<void(const LaunchSpec &, const std::function<void(const RunUpdate &)> &onEvent,
                                       const se::engine::CancelToken *cancel)>;

class RunWorker : public QObject
{
    Q_OBJECT
public:
    explicit RunWorker(JobExecutor executor) : m_executor(std::move(executor)) {}
public Q_SLOTS:
    void execute(qint64 ticket, const se::ui::LaunchSpec &spec, std::shared_ptr<se::engine::CancelToken> cancel);
Q_SIGNALS:
    void update(qint64 ticket, const se::ui::RunUpdate &update);
    void done(qint64 ticket);

private:
    JobExecutor m_executor;
};

class RunController : public QObject
{
    Q_OBJECT
public:
    // executor: how a job runs; the default (empty) is the engine's (see enginebridge.h).
    explicit RunController(JobExecutor executor = {}, QObject *parent = nullptr);
    ~RunController() override;

    struct Job {
        qint64 ticket;
        LaunchSpec spec;
    };
    qint64 enqueue(const LaunchSpec &spec); // returns the job's ticket; starts it when idle
    bool removeQueued(qint64 ticket);
    QList<Job> queued() const { return m_queue; }
    bool busy() const { return m_current != 0; }
    LaunchSpec currentSpec() const { return m_currentSpec; }
    bool paused() const { return m_cancel && m_cancel->paused(); }

public Q_SLOTS:
    void setPaused(bool paused);
    void cancelCurrent();
    void cancelAll();
    // From the worker (queued): an event or the end of job `ticket`; ignored unless it is the current job.
    void onUpdate(qint64 ticket, const se::ui::RunUpdate &update);
    void onDone(qint64 ticket);

Q_SIGNALS:
    void jobStarted(qint64 ticket, const QString &label);
    void jobUpdate(qint64 ticket, const se::ui::RunUpdate &update);
    void jobFinished(qint64 ticket, const se::ui::RunUpdate &update);
    void queueChanged();
    void startJob(qint64 ticket, const se::ui::LaunchSpec &spec, std::shared_ptr<se::engine::CancelToken> cancel);

private:
    void startNext();

    QThread *m_thread = nullptr;
    RunWorker *m_worker = nullptr;
    QList<Job> m_queue;
    qint64 m_nextTicket = 1;
    qint64 m_current = 0;
    LaunchSpec m_currentSpec;
    RunUpdate m_lastFinish;
    bool m_finishSeen = false;
    std::shared_ptr<se::engine::CancelToken> m_cancel;
};

} // namespace se::ui

Q_DECLARE_METATYPE(se::ui::LaunchSpec)
Q_DECLARE_METATYPE(se::ui::RunUpdate)
Q_DECLARE_METATYPE(se::engine::AuditOptions)
Q_DECLARE_METATYPE(std::shared_ptr<se::engine::CancelToken>)
