// A whole unlearning run as the run store records it (SPEC §6): evaluate the vanilla model once per model,
// dataset and evaluation settings (reused afterwards), unlearn with curve evaluations every N steps on a fixed
// seeded subset, evaluate the result fully, and write configuration, steps, metrics and answers to the store as
// they happen. The CLI's `run` / `reproduce` and the workbench's run controller both call this. No LibTorch in
// this header; events arrive on the calling thread.
#pragma once

#include "core/metrics/evaluation.h"
#include "core/metrics/llmjudge.h"
#include "core/store/records.h"
#include "core/unlearn/engine.h"

#include <cstdint>
#include <functional>
#include <string>

namespace se::engine {

struct RunRequest {
    std::string name;                 // free text shown in reports; default "<method>[+pd]"
    std::string storePath;            // the SQLite run store (created if missing)
    UnlearnConfig unlearn;            // dataDir, modelFile (the vanilla checkpoint), method, pd, weights, train
                                      // options; outFile may stay empty: then <store>.models/run-<id>.safetensors
    se::metrics::EvalOptions eval;    // the final (and vanilla) evaluation; SPEC §4 defaults
    int evalEvery = 0;                // optimiser steps between curve evaluations; 0 = no curve
    int curveSubset = 16;             // questions per split and set in a curve evaluation (fixed, seeded)
    bool curveGreedy = true;          // curves decode greedily (cheaper, and stable between points)
    std::string judge = "offline";    // "offline" or "llm"
    se::metrics::LlmJudgeOptions llm; // for judge = "llm"
    std::string refusalPhrasesFile;   // empty: the built-in list (resources/refusal_phrases.txt)
    std::int64_t resumeRun = 0;       // resume this interrupted run from its last checkpoint (0: a new run)
    // unlearn.adapter (Hugging Face models): the run, and its vanilla evaluation, are of model + that adapter.
};

struct RunEvent {
    enum class Kind {
        Created,          // runId known, status queued→running
        VanillaEvaluated, // vanillaRunId holds the vanilla evaluation (new; message "reused"; "waiting": another
                          // run on the store is making it, and this one will reuse it)
        Progress,         // a training step (progress filled)
        Evaluated,        // a curve point or the final evaluation (metrics filled, step set)
        Finished,         // status and message final
        Evaluating,       // answers being generated: progress.phase "evaluate vanilla|step|final", progress.step
                          // answers done of progress.totalSteps, elapsedSeconds, etaSeconds, samplesPerSecond
                          // (answers/s); step is the training step evaluated. progress.step 0: the estimate of
                          // the whole before it starts (from the rate measured at earlier curve points)
        Loading           // the base model's weights loading: progress.phase "load", progress.step MiB read of
                          // progress.totalSteps, elapsedSeconds
    };
    Kind kind = Kind::Progress;
    std::int64_t runId = 0;
    std::int64_t vanillaRunId = 0;
    int step = 0;
    Progress progress;
    std::vector<se::store::MetricRecord> metrics;
    se::store::RunStatus status = se::store::RunStatus::Running;
    std::string message;
};
using RunEventFn = std::function<void(const RunEvent &)>;

struct RunOutcome {
    std::int64_t runId = 0;
    std::int64_t vanillaRunId = 0;
    se::store::RunStatus status = se::store::RunStatus::Failed;
    std::string message;
    double seconds = 0;
};

// Runs and records one unlearning run. Never throws for a run that got an id: failures end as status Failed
// with the reason stored and returned. Throws std::runtime_error when the store cannot be opened, and for a
// resume that cannot be done (no such run, a run that is not interrupted / cancelled / failed, no checkpoint);
// such a run is left as it was. A resumed run keeps its id, configuration and the records up to its checkpoint.
RunOutcome executeRun(const RunRequest &request, const RunEventFn &onEvent = {}, const CancelToken *cancel = nullptr);

// The vanilla model's evaluation for this dataset, model (with request.unlearn.adapter folded in, when given) and
// evaluation settings: found in the store, or made and stored now (as a run with method "vanilla"). Returns its run id.
std::int64_t ensureVanillaEvaluation(const RunRequest &request, const RunEventFn &onEvent = {},
                                     const CancelToken *cancel = nullptr);

// Run configuration as JSON (what the store keeps, and what `safeeraser run --config` reads) and back.
// fromJson throws std::runtime_error naming the key and the reason for a bad value; unknown keys are errors too.
std::string requestToJson(const RunRequest &request);
RunRequest requestFromJson(const std::string &json, RunRequest base = {});

// A model's identity: a checkpoint file's SHA-256; for a folder (a Hugging Face model, an adapter) "folder:" and the
// SHA-256 over every file's name and size and its first 4 MiB. A run records its weights' identity when it wrote
// them; the audit refuses weights whose identity changed since.
std::string modelIdentity(const std::string &path);
std::string fileSha256(const std::string &path);

} // namespace se::engine
