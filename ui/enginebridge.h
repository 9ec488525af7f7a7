// The one place where the workbench calls the engine library (through its plain headers; LibTorch stays inside
// the library). When the workbench is built without the engine (SE_UI_ENGINE=OFF, or no LibTorch), these give
// the documented defaults and an executor that fails with a clear message, so the rest of the UI still works on
// stores made elsewhere.
#pragma once

#include "core/util/defaults.h"

#include "ui/runcontroller.h"

#include <QStringList>
#include <functional>

namespace se::ui {

bool engineAvailable();
QString engineDescription();                // e.g. "engine linked (LibTorch)" or why not
se::engine::TrainOptions unlearnDefaults(); // UnlearnConfig::defaults()
se::engine::TrainOptions vanillaDefaults(); // VanillaConfig::defaults()
se::unlearn::LossWeights defaultWeights(const QString &method, bool pd);
// Devices to offer. The engine has no query for CUDA yet: "auto" (CUDA when present, else CPU) and "cpu".
QStringList availableDevices();
JobExecutor engineJobExecutor();                              // runs LaunchSpec jobs through executeRun / trainVanilla
QStringList trainingPresets();                                // "default", "paper"
se::engine::TrainOptions trainingPreset(const QString &name); // UnlearnConfig::preset

// The rephrasing templates an audit would ask: the built-in ones (empty path) or those of a templates file (read
// and checked as `safeeraser audit --attacks` reads it). Their number, or -1 with `error` saying what is wrong (the
// file, the line, the reason; or that the workbench is built without the engine).
int attackTemplateCount(const QString &path, QString *error = nullptr);

// A model as the launcher shows it, from its small files (no weights loaded).
struct ModelInfo {
    bool ok = false;
    QString summary;       // one line, or why the path is not a usable model
    bool adapters = false; // a Hugging Face folder: runs train LoRA adapters
};
ModelInfo describeModel(const QString &path);
// The memory plan of the run `spec` would start (engine.h planMemory): one line, and whether it can fit at all /
// comfortably. Empty with ok = false when there is nothing to plan (no model, no engine).
struct MemoryInfo {
    bool ok = false, fits = true, comfortable = true;
    QString text;
};
MemoryInfo planMemory(const LaunchSpec &spec);

// The probe: a question about any image put to several models of a store, side by side.
struct ProbeModel {
    qint64 run = 0;     // the store's run
    bool start = false; // the model the run started from instead of its final weights
    QString label;      // "#3 PO+PD", "start of #3"
};
struct ProbeRequest {
    QString storePath;
    QString image, question;
    QString reference; // an answer whose likelihood each model reports (a forget target, or one the user types)
    bool greedy = true;
    int samples = 1; // sampled answers when not greedy
    quint64 seed = se::kDefaultSeed;
};
struct ProbeAnswer {
    ProbeModel model;
    QStringList answers;
    QList<bool> refusal, unsafe; // per answer, by the run's judge (offline: unsafe when the reference is reproduced)
    QString judge;               // its name ("offline", "llm:model@url")
    QString judgeNote;           // why it is not the run's own, when it is not
    double referenceNll = -1;    // mean negative log-likelihood per token of the reference (-1: none given)
    double seconds = 0;
    QString error;
};
// The models a store offers: each finished run (its final weights) and, once per distinct start model, the model it
// started from. Empty without the engine.
QList<ProbeModel> probeModels(const QString &storePath);
// Keeps the models it has loaded between questions (a second question to the same models loads nothing); models
// not asked any more are dropped. One question at a time, from any one thread.
class ProbeSession
{
public:
    ProbeSession();
    ~ProbeSession();
    ProbeSession(const ProbeSession &) = delete;
    ProbeSession &operator=(const ProbeSession &) = delete;
    // While a model's weights load (on the asking thread): its label, bytes read and in all. Returning false
    // cancels the load; that model's answer then carries the error "loading cancelled" and the rest are skipped.
    using LoadingFn = std::function<bool(const QString &model, quint64 done, quint64 total)>;
    QList<ProbeAnswer> ask(const ProbeRequest &request, const QList<ProbeModel> &models, const LoadingFn &loading = {});
    int loadedModels() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

} // namespace se::ui
