// The run launcher: model (the built-in model's vanilla checkpoint, trainable from here, or a Hugging Face LLaVA
// folder; recent models remembered), method, Prompt Decouple on/off with every loss weight (defaults from the
// method, SPEC §3), hyper-parameters (defaults from the engine, or a preset such as the paper's), LoRA settings,
// device and the run's memory plan (a run that cannot fit is refused before it starts), evaluation interval and
// judge — the form, built in pieces (buildModelBox, buildMethodBox, buildHyperBox, buildEvalBox). Jobs go to the
// RunController's queue; the RunMonitor beside the form (runmonitor.h) shows them.
#pragma once

#include "ui/workbenchview.h"

#include "ui/runcontroller.h"
#include "ui/runmonitor.h"

#include <QHash>
#include <QVector>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLayout;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTimer;

namespace se::ui {

class LauncherView : public QWidget, public WorkbenchView
{
    Q_OBJECT
public:
    explicit LauncherView(RunController *controller, QWidget *parent = nullptr);

    void setBenchmarkFolder(const QString &folder);
    void setStorePath(const QString &path);

    // WorkbenchView
    QWidget *widget() override { return this; }
    QString viewTitle() const override { return tr("&Run"); }
    void benchmarkChanged(const std::shared_ptr<const se::data::Benchmark> &b) override;
    void storeChanged(const QString &path) override { setStorePath(path); }

    QString storePath() const;
    QString modelFile() const;
    void setModelFile(const QString &file);
    LaunchSpec currentSpec() const; // what "Add to queue" would enqueue
    qint64 launch();                // enqueues currentSpec()
    qint64 trainVanilla();
    // Queues a robustness audit of a finished run of `store`, asking what `options` say (its store and run are
    // these; default: safeeraser audit's defaults).
    qint64 audit(const QString &store, qint64 run, const QString &runName,
                 const se::engine::AuditOptions &options = {});

    // Widgets for tests and the presentation of a demo.
    QComboBox *methodBox() const { return m_method; }
    QCheckBox *pdBox() const { return m_pd; }
    QCheckBox *greedyBox() const { return m_greedy; }
    QSpinBox *stepsBox() const { return m_steps; }
    QSpinBox *evalEveryBox() const { return m_evalEvery; }
    QSpinBox *finalSubsetBox() const { return m_finalSubset; }
    QDoubleSpinBox *weightBox(const QString &term) const { return m_weights.value(term); }
    QLabel *modelStateLabel() const { return m_modelState; }
    QLabel *memoryLabel() const { return m_memory; }
    QWidget *vanillaRow() const { return m_vanillaRow; }
    QComboBox *recentModelsBox() const { return m_recentModels; }
    QLineEdit *systemPromptEdit() const { return m_systemPrompt; }
    QLineEdit *adapterEdit() const { return m_adapter; }
    QString startAdapter() const; // the adapter a run starts from (Hugging Face models), or empty
    void setStartAdapter(const QString &dir);
    void applyPresetByName(const QString &name) { applyPreset(name); }
    void refreshMemoryPlan() { updateMemoryPlan(); }
    RunMonitor *monitor() const { return m_monitor; }
    QProgressBar *progressBar() const { return m_monitor->progressBar(); }
    QLabel *statusLabel() const { return m_monitor->statusLabel(); }
    QLabel *lossLabel() const { return m_monitor->lossLabel(); }
    QPushButton *pauseButton() const { return m_monitor->pauseButton(); }
    QPushButton *cancelButton() const { return m_monitor->cancelButton(); }
    QListWidget *queueList() const { return m_monitor->queueList(); }
    QCustomPlot *lossPlot() const { return m_monitor->lossPlot(); }
    int lossPoints() const; // points drawn so far for the current job

Q_SIGNALS:
    void runFinished(qint64 runId, const QString &status);
    void auditFinished(qint64 runId, const QString &status); // its audit is in the store (Plots ▸ Robustness)
    // A run appeared in the store or got a new curve point: views over the store may refresh.
    void runChanged(qint64 runId);
    void vanillaTrained(const QString &modelFile);
    void message(const QString &text);

private:
    void resetWeights();
    void suggestModel();
    void updateModelState();
    int m_formKind = -1; // what the form's settings were made for: -1 nothing yet, 0 the built-in model, 1 a folder
    void updateMemoryPlan();
    void applyPreset(const QString &name);
    // The form's defaults for the kind of model chosen: a Hugging Face folder gets the paper's set-up (LoRA r 32 /
    // α 256, activation checkpointing) with the largest micro-batch of 4, 2, 1 whose plan fits the device and the
    // accumulation that keeps an effective batch of 32; the built-in model gets this workbench's defaults back.
    void applyModelDefaults(bool huggingFace);
    static QStringList recentModels();
    static QString adapterProblem(const QString &dir);
    void rememberModel(const QString &path);
    void refreshRecentModels();
    QWidget *buildModelBox();
    QLayout *buildAdapterRow();
    QWidget *buildMethodBox();
    QWidget *buildHyperBox();
    QWidget *buildEvalBox();
    void onJobFinished(const RunUpdate &u);
    void log(const QString &line);

    RunController *m_controller;
    QString m_benchmark;
    QLineEdit *m_store = nullptr, *m_model = nullptr, *m_name = nullptr;
    QLabel *m_modelState = nullptr, *m_memory = nullptr;
    QWidget *m_vanillaRow = nullptr;
    QFormLayout *m_modelForm = nullptr;
    QLineEdit *m_systemPrompt = nullptr, *m_adapter = nullptr;
    QPushButton *m_browseAdapter = nullptr;
    QComboBox *m_recentModels = nullptr, *m_preset = nullptr;
    QDoubleSpinBox *m_epochs = nullptr, *m_loraAlpha = nullptr, *m_loraDropout = nullptr;
    QCheckBox *m_ignoreMemory = nullptr, *m_checkpointLayers = nullptr;
    QTimer *m_replan = nullptr;
    QPushButton *m_trainVanilla = nullptr;
    QSpinBox *m_vanillaSteps = nullptr;
    QComboBox *m_method = nullptr, *m_device = nullptr, *m_judge = nullptr;
    QCheckBox *m_pd = nullptr, *m_greedy = nullptr;
    QHash<QString, QDoubleSpinBox *> m_weights;
    QDoubleSpinBox *m_lr = nullptr, *m_warmup = nullptr, *m_decay = nullptr, *m_clip = nullptr;
    QSpinBox *m_steps = nullptr, *m_batch = nullptr, *m_accum = nullptr, *m_seed = nullptr, *m_lora = nullptr;
    QSpinBox *m_evalEvery = nullptr, *m_curveSubset = nullptr, *m_finalSubset = nullptr;
    QLineEdit *m_llmUrl = nullptr, *m_llmModel = nullptr;
    RunMonitor *m_monitor = nullptr;
};

} // namespace se::ui
