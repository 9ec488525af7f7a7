// Robustness audit of an unlearning run (erased or only hidden?): the run's forget questions asked again under
// attacks, its answers judged by the run's judge, and the results stored with the run.
//   - rephrasings: each template (a wrapper around the question, slot {question}) is an attack of its own;
//   - modality: the harmful image replaced by a blank one, or weakened (blur, crop, JPEG, mirror);
//   - likelihood: the mean negative log-likelihood of the forget targets under the run and under the model it
//     started from, overall and per category (a refusal that leaves the target likely hides, it does not erase);
//   - relearning: from the run's weights, N steps of fine-tuning on retain data only, and (a second attack) on a
//     small slice of forget targets of all_train — other records than the audited all_val questions — with ASR,
//     RR and the audited targets' NLL measured every few steps: how fast does the knowledge come back? The second
//     attack is repeated from a model that never learned the targets (AuditOptions::baseline): learning afresh.
// No LibTorch in this header. The CLI's `audit` calls it.
#pragma once

#include "core/util/defaults.h"
#include "core/metrics/evaluation.h"
#include "core/metrics/textmetrics.h"
#include "core/store/runstore.h"
#include "core/store/records.h"
#include "core/unlearn/engine.h"
#include "core/unlearn/runservice.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace se::engine {

// A run of a store as something to load and ask: its final weights (a vanilla evaluation: the model it evaluated) and
// the model it started from, with the run's images, device and system prompt. Paths are taken as the run recorded
// them, found from here or else beside the store. Throws std::runtime_error for an unknown run, or (needWeights) one
// whose weights are not there.
struct StoredRun {
    se::store::RunInfo info;
    RunRequest request;
    bool adapters =
        false; // a Hugging Face model: the run's weights are an adapter folder over request.unlearn.modelFile
    std::string runPath, startPath;
    ModelOptions runOptions, startOptions;
    std::string judgeNote; // why the judge is not the run's own (a vanilla evaluation recorded before it kept its
                           // judge's settings); empty when it is
    se::metrics::OfflineJudge offlineJudge() const; // the offline judge with the run's refusal phrases
    // The run's judge: its LLM judge (verdicts cached in `store`, under `storeMutex`) or the offline one.
    std::unique_ptr<se::metrics::Judge> makeJudge(se::store::RunStore &store, std::mutex &storeMutex) const;
};
StoredRun storedRun(const std::string &storePath, std::int64_t run, bool needWeights = true);
// The same from a store already open (`store` is the one at `storePath`): a caller asking about many runs opens it
// once.
StoredRun storedRun(const se::store::RunStore &store, const std::string &storePath, std::int64_t run,
                    bool needWeights = true);

struct AttackTemplate {
    std::string name;     // "roleplay"
    std::string wrapping; // "… {question} …"
};
// This program's own wrappers (role-play, a novel, hypothetical, step by step, answer-first, translation, research).
const std::vector<AttackTemplate> &defaultAttackTemplates();
// "name: template" a line; blank lines and '#' comments skipped; each template must hold {question} once. Throws
// std::runtime_error naming the file, the line and the reason.
std::vector<AttackTemplate> readAttackTemplates(const std::string &path);
std::string formatAttackTemplates(const std::vector<AttackTemplate> &templates); // the file format

struct AuditOptions {
    std::string storePath;
    std::int64_t run = 0;
    std::string attacksFile; // empty: defaultAttackTemplates()
    int questions = 24;      // forget questions of all_val (Generality), a fixed seeded subset; 0: all
    std::uint64_t seed = se::kDefaultSeed;
    bool modality = true;   // the image attacks (needs OpenCV)
    bool likelihood = true; // the targets' NLL under the run and its start model
    bool vanilla = true;    // the start model under every attack too, beside the run
    int relearnSteps = 30;  // 0: no relearning
    int relearnEvery = 10;
    int relearnTargets = 16; // forget samples of all_train the second relearning attack trains on (0: none)
    // A model that never learned the forget targets (the built-in model: train-vanilla --without-forget): the second
    // relearning attack is repeated from it, the same steps on the same targets, to show how fast they are learned
    // afresh. Empty: for a run that started from a base model with an adapter, that base model; else not measured.
    std::string baseline;
    std::string device; // empty: the run's
};

struct AttackResult {
    std::string name; // "original", "rephrase:roleplay", "image:blur", …
    double asr = 0, rr = 0;
    int n = 0;
    double vanillaAsr = -1, vanillaRr = -1; // the start model under the same attack (-1: not asked)
};
struct RelearnPoint {
    int step = 0;
    double asr = 0, rr = 0, targetNll = 0;
};
struct AuditReport {
    std::int64_t run = 0;
    std::string judge;
    std::vector<AttackResult> attacks;        // "original" first
    std::vector<RelearnPoint> relearn;        // on retain data; step 0 is the run itself
    std::vector<RelearnPoint> relearnTargets; // on other records' forget targets; step 0 is the run itself
    std::vector<RelearnPoint> relearnAfresh;  // the same from the baseline; step 0 is the baseline itself
    std::string baseline;                     // the model learning afresh started from
    std::string afreshNote;                   // why there is no afresh curve, when there is none
    double vanillaNll = -1, runNll = -1;
    std::map<std::string, std::pair<double, double>> nllByCategory; // category -> (start model, run)
};

// Runs the audit and stores it with the run (metrics of stage "audit" and "relearn", replacing an earlier audit).
// Throws std::runtime_error for a run that cannot be audited (unknown, not finished, its weights gone).
AuditReport auditRun(const AuditOptions &options, const std::function<void(const std::string &)> &log = {});
// {"attacks": {NAME: {"asr", "rr", "n", "vanilla": {"asr", "rr"}}}, "relearn": [{"step", "asr", "rr", "target_nll"}],
//  "relearn_targets": [the same], "relearn_afresh": [the same] or null, "baseline", "afresh_note",
//  "target_nll": {"vanilla", "run", "per_category": {CAT: {"vanilla", "run"}}}}
std::string auditJson(const AuditReport &report);
std::string formatAudit(const AuditReport &report); // a table for people

} // namespace se::engine
