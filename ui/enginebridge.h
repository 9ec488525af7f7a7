// The one place where the workbench calls the engine library (through its plain headers; LibTorch stays inside
// the library). When the workbench is built without the engine (SE_UI_ENGINE=OFF, or no LibTorch), these give
// the documented defaults and an executor that fails with a clear message, so the rest of the UI still works on
// stores made elsewhere.
#pragma once

#include "ui/runcontroller.h"

#include <QStringList>

namespace se::ui {

bool engineAvailable();
QString engineDescription();                // e.g. "engine linked (LibTorch)" or why not
QStringList unlearnMethods();               // ga gd kl po npo dpo
se::engine::TrainOptions unlearnDefaults(); // UnlearnConfig::defaults()
se::engine::TrainOptions vanillaDefaults(); // VanillaConfig::defaults()
se::unlearn::LossWeights defaultWeights(const QString &method, bool pd);
// Devices to offer. The engine has no query for CUDA yet: "auto" (CUDA when present, else CPU) and "cpu".
QStringList availableDevices();
JobExecutor engineJobExecutor();                              // runs LaunchSpec jobs through executeRun / trainVanilla
QStringList trainingPresets();                                // "default", "paper"
se::engine::TrainOptions trainingPreset(const QString &name); // UnlearnConfig::preset

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

} // namespace se::ui
