#include "ui/launcherview.h"
#include "core/util/defaults.h"

#include "core/data/benchmark.h"
#include "core/metrics/evaluation.h"
#include "ui/enginebridge.h"
#include "ui/plotsview.h"
#include "ui/runmonitor.h"

#include "core/unlearn/method.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTime>
#include <QTimer>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <cmath>

namespace se::ui {

namespace {
QDoubleSpinBox *doubleBox(double lo, double hi, int decimals, double step)
{
    auto *b = new QDoubleSpinBox;
    b->setRange(lo, hi);
    b->setDecimals(decimals);
    b->setSingleStep(step);
    return b;
}
QSpinBox *intBox(int lo, int hi)
{
    auto *b = new QSpinBox;
    b->setRange(lo, hi);
    return b;
}
// Each weight a method can read, labelled with the methods that read it (the method table's rows).
QList<QPair<QString, QString>> weightLabels()
{
    const QList<QPair<QString, QString>> names = {{"forget", QObject::tr("forget weight")},
                                                  {"retain", QObject::tr("retain weight")},
                                                  {"kl", QObject::tr("KL weight")},
                                                  {"pd", QObject::tr("PD weight")},
                                                  {"beta", QObject::tr("β")},
                                                  {"gamma", QObject::tr("γ")}};
    QList<QPair<QString, QString>> out;
    for (const auto &[key, label] : names) {
        QStringList readers;
        for (const auto &m : se::unlearn::methodTable())
            if (se::unlearn::readsWeight(m.method, key.toStdString()))
                readers << QString::fromLatin1(m.label);
        const bool everyMethod = readers.size() == int(se::unlearn::methodTable().size());
        out.append(
            {key, everyMethod || readers.isEmpty() ? label : QStringLiteral("%1 (%2)").arg(label, readers.join(", "))});
    }
    return out;
}
} // namespace

LauncherView::LauncherView(RunController *controller, QWidget *parent) : QWidget(parent), m_controller(controller)
{
    m_replan = new QTimer(this);
    auto *formColumn = new QWidget;
    auto *formLayout = new QVBoxLayout(formColumn);
    formLayout->addWidget(buildModelBox());
    formLayout->addWidget(buildMethodBox());
    formLayout->addWidget(buildHyperBox());
    formLayout->addWidget(buildEvalBox());
    formLayout->addStretch(1);
    auto *scroll = new QScrollArea;
    scroll->setWidget(formColumn);
    scroll->setWidgetResizable(true);
    scroll->setMinimumWidth(formColumn->sizeHint().width() + 24); // no horizontal scrolling of the form

    m_monitor = new RunMonitor(m_controller);
    connect(m_monitor, &RunMonitor::launchRequested, this, &LauncherView::launch);
    connect(m_monitor, &RunMonitor::runChanged, this, &LauncherView::runChanged);
    connect(m_monitor, &RunMonitor::jobFinished, this, &LauncherView::onJobFinished);

    auto *split = new QSplitter;
    split->addWidget(scroll);
    split->addWidget(m_monitor);
    split->setStretchFactor(1, 1);
    split->setSizes({560, 840});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    // The memory plan follows every setting it depends on (coalesced: typing a number is many changes).
    m_replan->setSingleShot(true);
    m_replan->setInterval(150);
    connect(m_replan, &QTimer::timeout, this, &LauncherView::updateMemoryPlan);
    auto replan = [this] { m_replan->start(); };
    for (QSpinBox *b : {m_batch, m_lora})
        connect(b, &QSpinBox::valueChanged, this, replan);
    connect(m_device, &QComboBox::currentIndexChanged, this, replan);
    connect(m_checkpointLayers, &QCheckBox::toggled, this, replan);
    connect(m_model, &QLineEdit::textChanged, this, replan);

    connect(m_method, &QComboBox::currentIndexChanged, this, replan);
    connect(m_pd, &QCheckBox::toggled, this, replan);
    resetWeights();
    updateModelState();
    updateMemoryPlan();
}

// The model: a built-in checkpoint (trainable here) or a Hugging Face folder, recent models, its state and memory
// plan, a start adapter and system prompt (LLaVA), and the run store.
QWidget *LauncherView::buildModelBox()
{
    m_store = new QLineEdit;
    m_store->setObjectName("storePath");
    m_store->setPlaceholderText(tr("run store (.sqlite)"));
    m_model = new QLineEdit;
    m_model->setObjectName("modelFile");
    m_model->setPlaceholderText(
        tr("a built-in checkpoint (.safetensors) or a Hugging Face LLaVA-1.5 / Qwen2-VL folder"));
    connect(m_model, &QLineEdit::textChanged, this, &LauncherView::updateModelState);
    m_modelState = new QLabel;
    m_modelState->setObjectName("modelState");
    m_modelState->setWordWrap(true);
    m_modelState->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_trainVanilla = new QPushButton(tr("Train vanilla model"));
    m_trainVanilla->setObjectName("trainVanilla");
    connect(m_trainVanilla, &QPushButton::clicked, this, &LauncherView::trainVanilla);
    m_vanillaSteps = intBox(1, 1000000);
    m_vanillaSteps->setValue(vanillaDefaults().steps);
    auto *browseModel = new QPushButton(tr("File…"));
    browseModel->setToolTip(tr("A built-in model checkpoint (.safetensors)"));
    connect(browseModel, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Vanilla checkpoint"), m_model->text(),
                                                       tr("Checkpoints (*.safetensors)"));
        if (!f.isEmpty())
            m_model->setText(f);
    });
    auto *browseFolder = new QPushButton(tr("Folder…"));
    browseFolder->setObjectName("browseModelFolder");
    browseFolder->setToolTip(tr("A Hugging Face model folder (config.json, safetensors shards, tokenizer), such as "
                                "llava-hf/llava-1.5-7b-hf on disk"));
    connect(browseFolder, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Hugging Face model folder"), m_model->text());
        if (!d.isEmpty())
            m_model->setText(d);
    });
    m_recentModels = new QComboBox;
    m_recentModels->setObjectName("recentModels");
    m_recentModels->setToolTip(tr("Models runs were started with, most recent first"));
    connect(m_recentModels, &QComboBox::activated, this, [this](int i) {
        const QString path = m_recentModels->itemData(i).toString();
        if (!path.isEmpty())
            m_model->setText(path);
    });
    refreshRecentModels();
    auto *modelRow = new QHBoxLayout;
    modelRow->addWidget(m_model, 1);
    modelRow->addWidget(browseModel);
    modelRow->addWidget(browseFolder);
    m_vanillaRow = new QWidget;
    auto *vanillaRow = new QHBoxLayout(m_vanillaRow);
    vanillaRow->setContentsMargins(0, 0, 0, 0);
    vanillaRow->addWidget(m_trainVanilla);
    vanillaRow->addWidget(new QLabel(tr("steps")));
    vanillaRow->addWidget(m_vanillaSteps);
    vanillaRow->addStretch(1);
    QLayout *adapterRow = buildAdapterRow();
    m_systemPrompt = new QLineEdit;
    m_systemPrompt->setObjectName("systemPrompt");
    m_systemPrompt->setPlaceholderText(tr("optional: LLaVA a sentence before \"USER:\", Qwen2-VL the system prompt"));
    m_systemPrompt->setToolTip(tr("LLaVA models: a system sentence before the conversation, recorded with the run "
                                  "(the official SafeEraser training prompt has one)"));
    m_memory = new QLabel;
    m_memory->setObjectName("memoryPlan");
    m_memory->setWordWrap(true);
    m_ignoreMemory = new QCheckBox(tr("start even if it cannot fit"));
    m_ignoreMemory->setObjectName("ignoreMemory");
    m_ignoreMemory->setToolTip(tr("The run checks the memory plan before loading anything and stops when the "
                                  "weights and trainable state alone exceed the device's free memory"));
    auto *modelBox = new QGroupBox(tr("Model"));
    m_modelForm = new QFormLayout(modelBox);
    m_modelForm->addRow(tr("Model:"), modelRow);
    m_modelForm->addRow(tr("Recent:"), m_recentModels);
    m_modelForm->addRow(QString(), m_modelState);
    m_modelForm->addRow(tr("Memory:"), m_memory);
    m_modelForm->addRow(QString(), m_ignoreMemory);
    m_modelForm->addRow(QString(), m_vanillaRow);
    m_modelForm->addRow(tr("Start adapter:"), adapterRow);
    m_modelForm->addRow(tr("System prompt:"), m_systemPrompt);
    m_modelForm->addRow(tr("Run store:"), m_store);

    return modelBox;
}

// Hugging Face models: a PEFT adapter folder the run starts from.
QLayout *LauncherView::buildAdapterRow()
{
    m_adapter = new QLineEdit;
    m_adapter->setObjectName("adapterPath");
    m_adapter->setClearButtonEnabled(true);
    m_adapter->setPlaceholderText(tr("optional: a PEFT adapter folder to start from (model + adapter)"));
    m_adapter->setToolTip(tr("Hugging Face models: the run starts from the model with this adapter folded in (a "
                             "fine-tuned LLaVA, or an earlier run's adapter); it writes one adapter of the model "
                             "folder, the two stacked"));
    connect(m_adapter, &QLineEdit::textChanged, this, &LauncherView::updateModelState);
    m_browseAdapter = new QPushButton(tr("Adapter…"));
    m_browseAdapter->setObjectName("browseAdapter");
    connect(m_browseAdapter, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(
            this, tr("PEFT adapter folder"), m_adapter->text().isEmpty() ? m_model->text() : m_adapter->text());
        if (!d.isEmpty())
            m_adapter->setText(d);
    });
    auto *adapterRow = new QHBoxLayout;
    adapterRow->addWidget(m_adapter, 1);
    adapterRow->addWidget(m_browseAdapter);
    return adapterRow;
}

// The method (rows of the method table), Prompt Decouple, the weights the method reads, the run's name.
QWidget *LauncherView::buildMethodBox()
{
    m_method = new QComboBox;
    m_method->setObjectName("methodBox");
    for (const auto &info : se::unlearn::methodTable()) { // the method table: names, labels and help
        m_method->addItem(QString::fromUtf8(info.label), QString::fromLatin1(info.name));
        m_method->setItemData(m_method->count() - 1, QString::fromUtf8(info.help), Qt::ToolTipRole);
    }
    m_method->setCurrentIndex(std::max(0, m_method->findData("po")));
    m_pd = new QCheckBox(tr("Prompt Decouple (PD) loss"));
    m_pd->setObjectName("pdBox");
    m_name = new QLineEdit;
    m_name->setPlaceholderText(tr("default: method[+pd]"));
    auto *methodBox = new QGroupBox(tr("Method"));
    auto *methodForm = new QFormLayout(methodBox);
    methodForm->addRow(tr("Method:"), m_method);
    methodForm->addRow(QString(), m_pd);
    for (const auto &[key, label] : weightLabels()) {
        auto *b = doubleBox(0, 100, 3, 0.1);
        b->setObjectName("weight_" + key);
        m_weights[key] = b;
        methodForm->addRow(label + ':', b);
    }
    methodForm->addRow(tr("Run name:"), m_name);
    connect(m_method, &QComboBox::currentIndexChanged, this, &LauncherView::resetWeights);
    connect(m_pd, &QCheckBox::toggled, this, &LauncherView::resetWeights);

    return methodBox;
}

// Optimisation (defaults from the engine, or a preset such as the paper's), LoRA, activation checkpointing, device.
QWidget *LauncherView::buildHyperBox()
{
    const se::engine::TrainOptions d = unlearnDefaults();
    m_preset = new QComboBox;
    m_preset->setObjectName("presetBox");
    m_preset->addItems(trainingPresets());
    m_preset->setToolTip(tr("default: this workbench's settings for the built-in model. paper: the official "
                            "SafeEraser optimisation (lr 1e-4, 10 epochs, cosine with 6% warm-up, weight decay "
                            "0.01, clipping 1.0, seed 233, effective batch 32 = micro-batch 4 × accumulation 8)"));
    m_lr = doubleBox(1e-7, 1, 6, 1e-4);
    m_lr->setValue(d.lr);
    m_steps = intBox(0, 10000000);
    m_steps->setObjectName("stepsBox");
    m_steps->setSpecialValueText(tr("from epochs"));
    m_steps->setValue(d.steps);
    m_epochs = doubleBox(0, 1000, 2, 1);
    m_epochs->setObjectName("epochsBox");
    m_epochs->setToolTip(tr("Passes over the forget set; used when steps is 0"));
    m_epochs->setValue(d.epochs);
    m_batch = intBox(1, 65536);
    m_batch->setObjectName("batchBox");
    m_batch->setValue(d.batchSize);
    m_accum = intBox(1, 65536);
    m_accum->setObjectName("accumBox");
    m_accum->setValue(d.gradAccum);
    m_warmup = doubleBox(0, 0.99, 3, 0.01);
    m_warmup->setValue(d.warmupRatio);
    m_decay = doubleBox(0, 10, 4, 0.01);
    m_decay->setValue(d.weightDecay);
    m_clip = doubleBox(0, 1000, 2, 0.1);
    m_clip->setValue(d.clipNorm);
    m_seed = intBox(0, INT_MAX);
    m_seed->setValue(int(d.seed));
    m_lora = intBox(0, 4096);
    m_lora->setObjectName("loraRank");
    m_lora->setSpecialValueText(tr("model default"));
    m_lora->setValue(d.loraRank);
    m_loraAlpha = doubleBox(0.01, 100000, 2, 1);
    m_loraAlpha->setObjectName("loraAlpha");
    m_loraAlpha->setValue(d.loraAlpha);
    m_loraDropout = doubleBox(0, 0.99, 3, 0.01);
    m_loraDropout->setValue(d.loraDropout);
    m_checkpointLayers =
        new QCheckBox(tr("activation checkpointing (Hugging Face models: far less memory, ~⅓ more compute)"));
    m_checkpointLayers->setObjectName("checkpointLayers");
    m_checkpointLayers->setChecked(d.checkpointLayers);
    m_device = new QComboBox;
    m_device->addItems(availableDevices());
    m_device->setToolTip(tr("\"auto\" uses CUDA when the engine's LibTorch has it, else the CPU. (The engine does "
                            "not report CUDA availability yet, so CUDA is not listed separately.)"));
    auto *hyperBox = new QGroupBox(tr("Hyper-parameters"));
    auto *hyperForm = new QFormLayout(hyperBox);
    hyperForm->addRow(tr("Preset:"), m_preset);
    hyperForm->addRow(tr("Learning rate:"), m_lr);
    hyperForm->addRow(tr("Steps:"), m_steps);
    hyperForm->addRow(tr("Epochs (steps 0):"), m_epochs);
    hyperForm->addRow(tr("Batch size (micro):"), m_batch);
    hyperForm->addRow(tr("Gradient accumulation:"), m_accum);
    hyperForm->addRow(tr("Warm-up share:"), m_warmup);
    hyperForm->addRow(tr("Weight decay:"), m_decay);
    hyperForm->addRow(tr("Gradient clip:"), m_clip);
    hyperForm->addRow(tr("Seed:"), m_seed);
    hyperForm->addRow(tr("LoRA rank:"), m_lora);
    hyperForm->addRow(tr("LoRA alpha:"), m_loraAlpha);
    hyperForm->addRow(tr("LoRA dropout:"), m_loraDropout);
    hyperForm->addRow(QString(), m_checkpointLayers);
    hyperForm->addRow(tr("Device:"), m_device);
    connect(m_preset, &QComboBox::activated, this, [this](int) { applyPreset(m_preset->currentText()); });
    return hyperBox;
}

// Curve points, the final evaluation and the judge.
QWidget *LauncherView::buildEvalBox()
{
    m_evalEvery = intBox(0, 1000000);
    m_evalEvery->setObjectName("evalEvery");
    m_evalEvery->setValue(25);
    m_evalEvery->setSpecialValueText(tr("no curve"));
    m_curveSubset = intBox(1, 100000);
    m_curveSubset->setValue(16);
    m_finalSubset = intBox(0, 1000000);
    m_finalSubset->setSpecialValueText(tr("all questions"));
    m_greedy = new QCheckBox(tr("greedy final evaluation (default: sampling T=1.0, top-p 0.9)"));
    m_judge = new QComboBox;
    m_judge->addItem(tr("Offline (deterministic)"), "offline");
    m_judge->addItem(tr("LLM endpoint (OpenAI-compatible)"), "llm");
    m_llmUrl = new QLineEdit;
    m_llmUrl->setPlaceholderText("http://127.0.0.1:8080/v1");
    m_llmModel = new QLineEdit;
    m_llmModel->setPlaceholderText(tr("model name"));
    auto syncJudge = [this] {
        const bool llm = m_judge->currentData().toString() == "llm";
        m_llmUrl->setEnabled(llm);
        m_llmModel->setEnabled(llm);
    };
    connect(m_judge, &QComboBox::currentIndexChanged, this, syncJudge);
    syncJudge();
    auto *evalBox = new QGroupBox(tr("Evaluation"));
    auto *evalForm = new QFormLayout(evalBox);
    evalForm->addRow(tr("Curve point every (steps):"), m_evalEvery);
    evalForm->addRow(tr("Curve questions per set:"), m_curveSubset);
    evalForm->addRow(tr("Final evaluation subset:"), m_finalSubset);
    evalForm->addRow(QString(), m_greedy);
    evalForm->addRow(tr("Judge:"), m_judge);
    evalForm->addRow(tr("Endpoint:"), m_llmUrl);
    evalForm->addRow(tr("Judge model:"), m_llmModel);

    return evalBox;
}

void LauncherView::applyPreset(const QString &name)
{
    if (!trainingPresets().contains(name)) {
        Q_EMIT message(tr("No preset \"%1\" (%2).").arg(name, trainingPresets().join(", ")));
        return;
    }
    m_preset->setCurrentText(name);
    const se::engine::TrainOptions p = trainingPreset(name);
    m_lr->setValue(p.lr);
    m_steps->setValue(p.steps);
    m_epochs->setValue(p.epochs);
    m_batch->setValue(p.batchSize);
    m_accum->setValue(p.gradAccum);
    m_warmup->setValue(p.warmupRatio);
    m_decay->setValue(p.weightDecay);
    m_clip->setValue(p.clipNorm);
    m_seed->setValue(int(p.seed));
    m_loraAlpha->setValue(p.loraAlpha);
    m_loraDropout->setValue(p.loraDropout);
    m_checkpointLayers->setChecked(p.checkpointLayers);
    log(tr("preset %1 applied").arg(name));
    m_replan->start();
}

void LauncherView::applyModelDefaults(bool huggingFace)
{
    applyPreset(huggingFace ? QStringLiteral("paper") : QStringLiteral("default"));
    m_lora->setValue(0); // the architecture's own: SafeEraser's LoRA for a folder, full fine-tuning built in
    if (!huggingFace)
        return;
    const int effective = m_batch->value() * m_accum->value(); // the paper's 32
    for (int micro : {m_batch->value(), 2, 1}) {
        if (micro > m_batch->value())
            continue;
        m_batch->setValue(micro);
        m_accum->setValue(std::max(1, effective / micro));
        if (planMemory(currentSpec()).comfortable)
            break;
    }
    log(tr("Hugging Face model: the paper's set-up, micro-batch %1 × accumulation %2 (effective batch %3)")
            .arg(m_batch->value())
            .arg(m_accum->value())
            .arg(m_batch->value() * m_accum->value()));
    m_replan->start();
}

void LauncherView::updateMemoryPlan()
{
    const MemoryInfo m = planMemory(currentSpec());
    if (!m.ok) {
        m_memory->clear();
        return;
    }
    const QString colour = !m.fits ? "#c0392b" : !m.comfortable ? "#b9770e" : QString();
    const QString verdict = !m.fits ? tr("Cannot fit: ") : !m.comfortable ? tr("May not fit: ") : QString();
    m_memory->setText(colour.isEmpty() ? m.text.toHtmlEscaped()
                                       : QStringLiteral("<span style='color:%1'><b>%2</b>%3</span>")
                                             .arg(colour, verdict.toHtmlEscaped(), m.text.toHtmlEscaped()));
}

QStringList LauncherView::recentModels()
{
    return QSettings().value("recentModels").toStringList();
}

void LauncherView::rememberModel(const QString &path)
{
    QStringList recent = recentModels();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > 8)
        recent.removeLast();
    QSettings().setValue("recentModels", recent);
    refreshRecentModels();
}

void LauncherView::refreshRecentModels()
{
    m_recentModels->clear();
    const QStringList recent = recentModels();
    m_recentModels->addItem(recent.isEmpty() ? tr("(none yet)") : tr("(choose a recent model)"), QString());
    for (const QString &p : recent)
        m_recentModels->addItem(QDir::toNativeSeparators(p), p);
    m_recentModels->setEnabled(!recent.isEmpty());
}

void LauncherView::resetWeights()
{
    const auto w = defaultWeights(m_method->currentData().toString(), m_pd->isChecked());
    m_weights["forget"]->setValue(w.forget);
    m_weights["retain"]->setValue(w.retain);
    m_weights["kl"]->setValue(w.kl);
    m_weights["pd"]->setValue(w.pd);
    m_weights["beta"]->setValue(w.beta);
    m_weights["gamma"]->setValue(w.gamma);
    m_weights["pd"]->setEnabled(m_pd->isChecked());
    // A weight is editable where the method's row reads it.
    if (const auto m = se::unlearn::parseMethod(m_method->currentData().toString().toStdString()))
        for (const char *key : {"forget", "retain", "kl", "beta", "gamma"})
            m_weights[key]->setEnabled(se::unlearn::readsWeight(*m, key));
}

void LauncherView::setBenchmarkFolder(const QString &folder)
{
    m_benchmark = folder;
    if (m_store->text().isEmpty())
        m_store->setText(QFileInfo(folder).absoluteDir().filePath("runs.sqlite"));
    suggestModel();
}

void LauncherView::setStorePath(const QString &path)
{
    m_store->setText(path);
    suggestModel();
}

void LauncherView::suggestModel()
{
    // The vanilla checkpoint lives beside the store, where `safeeraser reproduce` keeps it too:
    // runs.sqlite -> runs.sqlite.models/vanilla.safetensors. A checkpoint the user chose and that exists stays.
    if (!m_model->text().isEmpty() && QFileInfo::exists(m_model->text()))
        return;
    if (!m_store->text().isEmpty())
        m_model->setText(
            QString::fromStdString(se::runModelsDir(m_store->text().toStdString()) + "/vanilla.safetensors"));
    updateModelState();
}

QString LauncherView::startAdapter() const
{
    return m_adapter->isEnabled() ? m_adapter->text().trimmed() : QString();
}

void LauncherView::setStartAdapter(const QString &dir)
{
    m_adapter->setText(dir);
}

// What is wrong with a start adapter folder at a glance (the run checks every tensor as it loads); empty: nothing.
QString LauncherView::adapterProblem(const QString &dir)
{
    if (!QFileInfo(dir).isDir())
        return tr("no such folder");
    if (!QFileInfo::exists(dir + "/adapter_config.json"))
        return tr("no adapter_config.json (not a PEFT adapter folder)");
    if (!QFileInfo::exists(dir + "/adapter_model.safetensors"))
        return tr("no adapter_model.safetensors");
    return {};
}

QString LauncherView::storePath() const
{
    return m_store->text();
}
QString LauncherView::modelFile() const
{
    return m_model->text();
}
void LauncherView::setModelFile(const QString &file)
{
    m_model->setText(file);
}

void LauncherView::updateModelState()
{
    const QString path = m_model->text();
    const bool exists = QFileInfo::exists(path);
    const bool folder = QFileInfo(path).isDir();
    // A folder is a Hugging Face model: no vanilla training here, LoRA adapters by default, a system prompt.
    m_modelForm->setRowVisible(m_vanillaRow, !folder);
    m_systemPrompt->setEnabled(folder || !exists);
    m_adapter->setEnabled(folder);
    m_browseAdapter->setEnabled(folder);
    m_lora->setToolTip(folder ? tr("0: SafeEraser's LoRA (r 32, alpha 256, dropout 0.05 on q k v o gate up down; the "
                                   "projector trained in full)")
                              : tr("0: full fine-tuning of the built-in model's projector and decoder"));
    m_trainVanilla->setText(exists ? tr("Retrain vanilla model") : tr("Train vanilla model"));
    if (exists && int(folder) != m_formKind) { // another kind of model: its defaults (the first one keeps the form)
        if (m_formKind >= 0 || folder)
            applyModelDefaults(folder);
        m_formKind = int(folder);
    }
    if (!exists) {
        m_modelState->setText(folder || path.isEmpty() || path.endsWith(".safetensors")
                                  ? tr("No vanilla checkpoint yet: train it here first (a few minutes on the CPU), "
                                       "or choose a Hugging Face LLaVA or Qwen2-VL folder.")
                                  : tr("No such file or folder."));
        return;
    }
    const ModelInfo info = describeModel(path);
    QString text = info.ok ? info.summary + (info.adapters ? tr(" — runs write PEFT adapter folders") : QString())
                           : tr("Not usable: %1").arg(info.summary);
    const QString adapter = startAdapter();
    if (!adapter.isEmpty())
        text += adapterProblem(adapter).isEmpty()
                    ? tr("\nRuns start from the model + %1 (folded in; each run writes one adapter with both stacked)")
                          .arg(QFileInfo(adapter).fileName())
                    : tr("\nStart adapter: %1").arg(adapterProblem(adapter));
    m_modelState->setText(text);
}

LaunchSpec LauncherView::currentSpec() const
{
    LaunchSpec s;
    s.kind = LaunchSpec::Kind::Unlearn;
    s.method = m_method->currentData().toString();
    s.pd = m_pd->isChecked();
    s.name = m_name->text().trimmed();
    s.label =
        (s.name.isEmpty() ? QString::fromStdString(se::unlearn::runLabel(s.method.toStdString(), s.pd)) : s.name) +
        (m_steps->value() > 0 ? tr(" · %1 steps").arg(m_steps->value()) : tr(" · %1 epochs").arg(m_epochs->value())) +
        (QFileInfo(m_model->text()).isDir() ? QStringLiteral(" · ") + QFileInfo(m_model->text()).fileName()
                                            : QString()) +
        (startAdapter().isEmpty() ? QString() : QStringLiteral(" + ") + QFileInfo(startAdapter()).fileName());
    s.storePath = m_store->text();
    s.dataDir = m_benchmark;
    s.modelFile = m_model->text();
    // Only weights that differ from the method's defaults become overrides, so the store shows what was chosen.
    const auto d = defaultWeights(s.method, s.pd);
    auto over = [](QDoubleSpinBox *b, double def, std::optional<double> &out) {
        if (b->isEnabled() && std::abs(b->value() - def) > 1e-12)
            out = b->value();
    };
    over(m_weights["forget"], d.forget, s.weights.forget);
    over(m_weights["retain"], d.retain, s.weights.retain);
    over(m_weights["kl"], d.kl, s.weights.kl);
    over(m_weights["pd"], d.pd, s.weights.pd);
    over(m_weights["beta"], d.beta, s.weights.beta);
    over(m_weights["gamma"], d.gamma, s.weights.gamma);
    s.train = unlearnDefaults();
    s.train.lr = m_lr->value();
    s.train.steps = m_steps->value();
    s.train.batchSize = m_batch->value();
    s.train.gradAccum = m_accum->value();
    s.train.warmupRatio = m_warmup->value();
    s.train.weightDecay = m_decay->value();
    s.train.clipNorm = m_clip->value();
    s.train.seed = std::uint64_t(m_seed->value());
    s.train.epochs = m_epochs->value();
    s.train.loraRank = m_lora->value();
    s.train.loraAlpha = m_loraAlpha->value();
    s.train.loraDropout = m_loraDropout->value();
    s.train.memoryCheck = !m_ignoreMemory->isChecked();
    s.train.checkpointLayers = m_checkpointLayers->isChecked();
    s.train.device = m_device->currentText().toStdString();
    s.systemPrompt = m_systemPrompt->isEnabled() ? m_systemPrompt->text().trimmed() : QString();
    s.adapter = startAdapter();
    // Live curves want every step (the view coalesces redraws); very long runs report every few.
    s.train.progressEvery = std::max(1, s.train.steps / 300); // 1 when the steps come from epochs
    s.evalEvery = m_evalEvery->value();
    s.curveSubset = m_curveSubset->value();
    s.subsetPerSet = m_finalSubset->value();
    s.greedyEval = m_greedy->isChecked();
    s.judge = m_judge->currentData().toString();
    s.llmBaseUrl = m_llmUrl->text();
    s.llmModel = m_llmModel->text();
    return s;
}

qint64 LauncherView::launch()
{
    const LaunchSpec s = currentSpec();
    if (s.dataDir.isEmpty()) {
        Q_EMIT message(tr("Open a benchmark first (Ctrl+O)."));
        return 0;
    }
    if (!QFileInfo::exists(s.modelFile)) {
        Q_EMIT message(tr("No vanilla checkpoint at %1: train it first.").arg(s.modelFile));
        return 0;
    }
    if (!s.adapter.isEmpty() && !adapterProblem(s.adapter).isEmpty()) {
        Q_EMIT message(tr("Start adapter %1: %2").arg(s.adapter, adapterProblem(s.adapter)));
        return 0;
    }
    if (s.train.steps == 0 && s.train.epochs <= 0) {
        Q_EMIT message(tr("Give a number of steps, or epochs when steps is 0."));
        return 0;
    }
    const ModelInfo info = describeModel(s.modelFile);
    if (engineAvailable() && !info.ok) {
        Q_EMIT message(tr("%1 is not a usable model: %2").arg(s.modelFile, info.summary));
        return 0;
    }
    const MemoryInfo plan = planMemory(s);
    if (plan.ok && !plan.fits && s.train.memoryCheck) {
        Q_EMIT message(tr("This run cannot fit: it needs %1. Choose a smaller micro-batch or another device, or tick "
                          "\"start even if it cannot fit\".")
                           .arg(plan.text));
        return 0;
    }
    rememberModel(s.modelFile);
    log(tr("queued %1").arg(s.label));
    if (plan.ok)
        log(tr("memory: %1").arg(plan.text));
    return m_controller->enqueue(s);
}

qint64 LauncherView::trainVanilla()
{
    if (m_benchmark.isEmpty()) {
        Q_EMIT message(tr("Open a benchmark first (Ctrl+O)."));
        return 0;
    }
    LaunchSpec s;
    s.kind = LaunchSpec::Kind::Vanilla;
    s.dataDir = m_benchmark;
    s.modelFile = m_model->text();
    s.train = vanillaDefaults();
    s.train.steps = m_vanillaSteps->value();
    s.train.progressEvery = std::max(1, s.train.steps / 300);
    s.train.device = m_device->currentText().toStdString();
    s.label = tr("vanilla model · %1 steps").arg(s.train.steps);
    log(tr("queued %1").arg(s.label));
    return m_controller->enqueue(s);
}

qint64 LauncherView::audit(const QString &store, qint64 run, const QString &runName,
                           const se::engine::AuditOptions &options)
{
    if (store.isEmpty() || run <= 0) {
        Q_EMIT message(tr("Open a run store and check a finished unlearning run to audit."));
        return 0;
    }
    LaunchSpec s;
    s.kind = LaunchSpec::Kind::Audit;
    s.storePath = store;
    s.auditRun = run;
    s.audit = options;
    s.label = tr("robustness audit of %1").arg(runName);
    log(tr("queued %1").arg(s.label));
    return m_controller->enqueue(s);
}

void LauncherView::onJobFinished(const RunUpdate &u)
{
    updateModelState();
    if (m_controller->currentSpec().kind == LaunchSpec::Kind::Audit) // the job just finished, until the next starts
        Q_EMIT auditFinished(u.runId, u.status);
    else if (u.runId)
        Q_EMIT runFinished(u.runId, u.status);
    else if (u.status == "finished")
        Q_EMIT vanillaTrained(m_model->text());
}

void LauncherView::log(const QString &line)
{
    m_monitor->log(line);
}

int LauncherView::lossPoints() const
{
    return m_monitor->lossPoints();
}

void LauncherView::benchmarkChanged(const std::shared_ptr<const se::data::Benchmark> &b)
{
    if (b)
        setBenchmarkFolder(QString::fromStdString(b->root));
}

} // namespace se::ui
