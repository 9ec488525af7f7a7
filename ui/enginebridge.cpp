#include "ui/enginebridge.h"

#ifdef SE_UI_HAVE_ENGINE
#include "core/store/runstore.h"
#include "core/unlearn/robustness.h"
#endif

#include <QElapsedTimer>
#include <QSet>
#include <map>

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

namespace se::ui {

#ifdef SE_UI_HAVE_ENGINE

namespace {
RunUpdate fromEvent(const se::engine::RunEvent &e)
{
    RunUpdate u;
    using K = se::engine::RunEvent::Kind;
    switch (e.kind) {
    case K::Created:
        u.kind = RunUpdate::Kind::Created;
        break;
    case K::VanillaEvaluated:
        u.kind = RunUpdate::Kind::VanillaEvaluated;
        break;
    case K::Progress:
        u.kind = RunUpdate::Kind::Progress;
        break;
    case K::Evaluated:
        u.kind = RunUpdate::Kind::Evaluated;
        break;
    case K::Finished:
        u.kind = RunUpdate::Kind::Finished;
        break;
    case K::Evaluating:
        u.kind = RunUpdate::Kind::Evaluating;
        break;
    case K::Loading:
        u.kind = RunUpdate::Kind::Loading;
        break;
    }
    u.runId = e.runId;
    u.vanillaRunId = e.vanillaRunId;
    u.step = e.kind == K::Progress || e.kind == K::Evaluating || e.kind == K::Loading ? e.progress.step : e.step;
    u.totalSteps = e.progress.totalSteps;
    u.epoch = e.progress.epoch;
    u.phase = QString::fromStdString(e.progress.phase);
    for (const auto &[name, v] : e.progress.losses)
        u.losses.append({QString::fromStdString(name), v});
    u.lr = e.progress.lr;
    u.elapsedSeconds = e.progress.elapsedSeconds;
    u.etaSeconds = e.progress.etaSeconds;
    u.samplesPerSecond = e.progress.samplesPerSecond;
    u.memoryBytes = e.progress.memoryInUse;
    u.metrics = e.metrics;
    u.status = QString::fromLatin1(se::store::statusName(e.status));
    u.message = QString::fromStdString(e.message);
    return u;
}

RunUpdate fromProgress(const se::engine::Progress &p)
{
    se::engine::RunEvent e;
    e.kind = se::engine::RunEvent::Kind::Progress;
    e.progress = p;
    return fromEvent(e);
}
} // namespace

bool engineAvailable()
{
    return true;
}
QString engineDescription()
{
    return QCoreApplication::translate(
        "engine", "engine linked (LibTorch): the built-in model and Hugging Face LLaVA-1.5 and Qwen2-VL folders");
}

ModelInfo describeModel(const QString &path)
{
    ModelInfo m;
    if (path.isEmpty())
        return m;
    try {
        const auto d = se::engine::describeModel(path.toStdString());
        m.ok = true;
        m.summary = QString::fromStdString(d.summary);
        m.adapters = d.adapters;
    } catch (const std::exception &e) {
        m.summary = QString::fromStdString(e.what());
    }
    return m;
}

MemoryInfo planMemory(const LaunchSpec &spec)
{
    MemoryInfo m;
    const auto method = se::unlearn::parseMethod(spec.method.toStdString());
    if (spec.modelFile.isEmpty() || !method)
        return m;
    try {
        const auto p = se::engine::planMemory(spec.modelFile.toStdString(), spec.train, *method, spec.pd);
        m.ok = true;
        m.fits = p.fits();
        m.comfortable = p.comfortable();
        m.text = QString::fromStdString(p.describe());
    } catch (const std::exception &) {
        // the model line says what is wrong with the model
    }
    return m;
}

JobExecutor engineJobExecutor()
{
    return [](const LaunchSpec &spec, const std::function<void(const RunUpdate &)> &onEvent,
              const se::engine::CancelToken *cancel) {
        if (spec.kind == LaunchSpec::Kind::Audit) {
            se::engine::AuditOptions o = spec.audit;
            o.storePath = spec.storePath.toStdString();
            o.run = spec.auditRun;
            RunUpdate fin;
            fin.kind = RunUpdate::Kind::Finished;
            fin.runId = spec.auditRun;
            try {
                se::engine::auditRun(o, [&](const std::string &line) {
                    if (cancel && cancel->cancelled())
                        throw std::runtime_error("cancelled: nothing stored");
                    RunUpdate u;
                    u.kind = RunUpdate::Kind::Log;
                    u.message = QString::fromStdString(line);
                    onEvent(u);
                });
                fin.status = QStringLiteral("finished");
                fin.message = QStringLiteral("audit stored with run #%1 (Plots ▸ Robustness)").arg(spec.auditRun);
            } catch (const std::exception &e) {
                const bool cancelled = cancel && cancel->cancelled();
                fin.status = cancelled ? QStringLiteral("cancelled") : QStringLiteral("failed");
                fin.message = QString::fromUtf8(e.what());
            }
            onEvent(fin);
            return;
        }
        if (spec.kind == LaunchSpec::Kind::Vanilla) {
            se::engine::VanillaConfig c;
            c.dataDir = spec.dataDir.toStdString();
            c.outFile = spec.modelFile.toStdString();
            c.train = spec.train;
            QDir().mkpath(QFileInfo(spec.modelFile).absolutePath());
            const auto r = se::engine::trainVanilla(
                c, [&](const se::engine::Progress &p) { onEvent(fromProgress(p)); }, cancel);
            RunUpdate fin;
            fin.kind = RunUpdate::Kind::Finished;
            fin.status = QString::fromLatin1(se::store::statusName(r.status));
            fin.message =
                QString::fromStdString(r.message.empty() ? "wrote " + r.outFile + " on " + r.device : r.message);
            fin.step = r.steps;
            onEvent(fin);
            return;
        }
        se::engine::RunRequest q;
        q.name = spec.name.toStdString();
        q.storePath = spec.storePath.toStdString();
        q.unlearn.dataDir = spec.dataDir.toStdString();
        q.unlearn.modelFile = spec.modelFile.toStdString();
        const auto method = se::unlearn::parseMethod(spec.method.toStdString());
        if (!method)
            throw std::runtime_error("unknown method " + spec.method.toStdString());
        q.unlearn.method = *method;
        q.unlearn.pd = spec.pd;
        q.unlearn.weights = spec.weights;
        q.unlearn.train = spec.train;
        q.unlearn.systemPrompt = spec.systemPrompt.toStdString();
        q.unlearn.adapter = spec.adapter.toStdString();
        q.evalEvery = spec.evalEvery;
        q.curveSubset = spec.curveSubset;
        q.eval.greedy = spec.greedyEval;
        q.eval.subsetPerSet = spec.subsetPerSet;
        q.judge = spec.judge.toStdString();
        q.llm.baseUrl = spec.llmBaseUrl.toStdString();
        q.llm.model = spec.llmModel.toStdString();
        const auto outcome = se::engine::executeRun(
            q, [&](const se::engine::RunEvent &e) { onEvent(fromEvent(e)); }, cancel);
        RunUpdate fin;
        fin.kind = RunUpdate::Kind::Finished;
        fin.runId = outcome.runId;
        fin.vanillaRunId = outcome.vanillaRunId;
        fin.status = QString::fromLatin1(se::store::statusName(outcome.status));
        fin.message = QString::fromStdString(outcome.message);
        onEvent(fin);
    };
}

namespace {
QString probeLabel(const se::store::RunInfo &r)
{
    return QStringLiteral("#%1 %2").arg(r.id).arg(QString::fromStdString(se::unlearn::runLabel(r.method, r.pd)));
}
} // namespace

QList<ProbeModel> probeModels(const QString &storePath)
{
    QList<ProbeModel> out;
    if (storePath.isEmpty())
        return out;
    std::unique_ptr<se::store::RunStore> store; // opened once for every run's details
    std::vector<se::store::RunInfo> runs;
    try {
        store = std::make_unique<se::store::RunStore>(storePath.toStdString(), true);
        runs = store->runs();
    } catch (const std::exception &) {
        return out;
    }
    QSet<QString> starts;
    for (const auto &r : runs) {
        if (r.status != se::store::RunStatus::Finished || r.method == "imported")
            continue;
        try {
            const auto s = se::engine::storedRun(*store, storePath.toStdString(), r.id, true);
            const QString start = QString::fromStdString(s.startPath + "\n" + s.startOptions.adapter);
            if (!starts.contains(start)) {
                starts.insert(start);
                out.append({r.id, true, QStringLiteral("start model of %1").arg(probeLabel(r))});
            }
            if (r.method != "vanilla")
                out.append({r.id, false, probeLabel(r)});
        } catch (const std::exception &) {
            // weights gone: not offered
        }
    }
    return out;
}

struct ProbeSession::Impl {
    // Loaded models by what they are (path, adapter, device, images, system prompt).
    std::map<std::string, std::shared_ptr<se::engine::Assistant>> loaded;
};

ProbeSession::ProbeSession() : d(std::make_unique<Impl>())
{
}
ProbeSession::~ProbeSession() = default;

int ProbeSession::loadedModels() const
{
    return int(d->loaded.size());
}

QList<ProbeAnswer> ProbeSession::ask(const ProbeRequest &q, const QList<ProbeModel> &models, const LoadingFn &loading)
{
    bool cancelled = false;
    QList<ProbeAnswer> out;
    std::map<std::string, std::shared_ptr<se::engine::Assistant>> keep;
    // The store, opened once for the question: read-only, and writable only when an LLM judge caches its verdicts.
    std::unique_ptr<se::store::RunStore> reading, writing;
    auto store = [&](bool write) -> se::store::RunStore & {
        auto &s = write ? writing : reading;
        if (!s)
            s = std::make_unique<se::store::RunStore>(q.storePath.toStdString(), !write);
        return *s;
    };
    for (const ProbeModel &m : models) {
        ProbeAnswer a;
        a.model = m;
        QElapsedTimer clock;
        clock.start();
        if (cancelled) {
            a.error = QObject::tr("not asked: loading was cancelled");
            out << a;
            continue;
        }
        try {
            const auto s = se::engine::storedRun(store(false), q.storePath.toStdString(), m.run, true);
            const std::string path = m.start ? s.startPath : s.runPath;
            const se::engine::ModelOptions &options = m.start ? s.startOptions : s.runOptions;
            const std::string key = path + "\n" + options.adapter + "\n" + options.device + "\n" + options.imagesFile +
                                    "\n" + options.systemPrompt;
            auto &model = keep[key];
            if (!model) {
                const auto it = d->loaded.find(key);
                if (it != d->loaded.end()) {
                    model = it->second;
                } else {
                    se::engine::ModelOptions withProgress = options;
                    if (loading)
                        withProgress.loadProgress = [&](std::uint64_t done, std::uint64_t total) {
                            return loading(m.label, done, total);
                        };
                    try {
                        model = std::make_shared<se::engine::Assistant>(path, withProgress);
                    } catch (const se::engine::LoadCancelledError &) {
                        keep.erase(key);
                        cancelled = true;
                        throw std::runtime_error("loading cancelled");
                    }
                }
            }
            se::engine::AskOptions ask;
            ask.greedy = q.greedy;
            ask.seed = q.seed;
            const int n = q.greedy ? 1 : std::max(1, q.samples);
            std::vector<std::pair<std::string, std::string>> items;
            for (int i = 0; i < n; ++i)
                items.emplace_back(q.image.toStdString(), q.question.toStdString());
            const auto texts = model->askMany(items, ask, n);
            // The run's own judge, on the question as asked with the reference as the harmful target. The offline
            // judge calls an answer unsafe when it reproduces the reference, so without one it says nothing; an LLM
            // judge reads the answer itself. Its verdicts are cached in the store.
            se::data::Sample asked;
            asked.split = se::data::Split::Val;
            asked.imageFile = q.image.toStdString();
            asked.question = q.question.toStdString();
            asked.answer = q.reference.toStdString();
            const bool llm = s.request.judge == "llm";
            std::mutex storeMutex;
            const auto judge = s.makeJudge(store(llm), storeMutex);
            a.judge = QString::fromStdString(judge->name());
            a.judgeNote = QString::fromStdString(s.judgeNote);
            const auto verdicts = judge->judge(std::vector<se::metrics::EvalItem>(texts.size(), {&asked, 0, 0}), texts);
            for (size_t i = 0; i < texts.size(); ++i) {
                const auto &v = verdicts[i];
                a.answers << QString::fromStdString(texts[i]);
                a.refusal << (v.refusal && !(v.noVerdict & se::store::kNoRefusal));
                a.unsafe << ((llm || !q.reference.isEmpty()) && v.unsafe && !(v.noVerdict & se::store::kNoUnsafe));
            }
            if (!q.reference.isEmpty())
                a.referenceNll =
                    model->score(q.image.toStdString(), q.question.toStdString(), q.reference.toStdString()).meanNll;
        } catch (const std::exception &e) {
            a.error = QString::fromUtf8(e.what());
        }
        a.seconds = clock.elapsed() / 1000.0;
        out << a;
    }
    d->loaded = std::move(keep); // what this question used stays loaded; the rest is freed
    return out;
}

#else

bool engineAvailable()
{
    return false;
}
QString engineDescription()
{
    return QCoreApplication::translate("engine", "built without the engine: runs cannot start here (use the CLI)");
}
JobExecutor engineJobExecutor()
{
    return {};
}
ModelInfo describeModel(const QString &)
{
    ModelInfo m;
    m.summary = engineDescription();
    return m;
}
MemoryInfo planMemory(const LaunchSpec &)
{
    return {};
}

QList<ProbeModel> probeModels(const QString &)
{
    return {};
}
struct ProbeSession::Impl {
};
ProbeSession::ProbeSession() : d(std::make_unique<Impl>())
{
}
ProbeSession::~ProbeSession() = default;
int ProbeSession::loadedModels() const
{
    return 0;
}
QList<ProbeAnswer> ProbeSession::ask(const ProbeRequest &, const QList<ProbeModel> &models, const LoadingFn &)
{
    QList<ProbeAnswer> out;
    for (const ProbeModel &m : models) {
        ProbeAnswer a;
        a.model = m;
        a.error = QCoreApplication::translate("engine", "this workbench was built without the engine");
        out << a;
    }
    return out;
}

#endif

// Methods, weights, defaults and presets come from core's torch-free code (method.h, the settings of engine.h in
// se_data), with or without the engine: one place for each rule.
se::engine::TrainOptions unlearnDefaults()
{
    return se::engine::UnlearnConfig::defaults();
}
se::engine::TrainOptions vanillaDefaults()
{
    return se::engine::VanillaConfig::defaults();
}

se::unlearn::LossWeights defaultWeights(const QString &method, bool pd)
{
    const auto m = se::unlearn::parseMethod(method.toStdString());
    return m ? se::unlearn::defaultWeights(*m, pd) : se::unlearn::LossWeights{};
}

QStringList trainingPresets()
{
    QStringList out;
    for (const auto &p : se::engine::UnlearnConfig::presets())
        out << QString::fromStdString(p);
    return out;
}
se::engine::TrainOptions trainingPreset(const QString &name)
{
    return se::engine::UnlearnConfig::preset(name.toStdString());
}

int attackTemplateCount(const QString &path, QString *error)
{
#ifdef SE_UI_HAVE_ENGINE
    try {
        return int(path.isEmpty() ? se::engine::defaultAttackTemplates().size()
                                  : se::engine::readAttackTemplates(path.toStdString()).size());
    } catch (const std::exception &e) {
        if (error)
            *error = QString::fromUtf8(e.what());
        return -1;
    }
#else
    (void)path;
    if (error)
        *error = engineDescription();
    return -1;
#endif
}

QStringList availableDevices()
{
#ifdef SE_UI_HAVE_ENGINE
    QStringList out;
    for (const auto &d : se::engine::availableDevices())
        out << QString::fromStdString(d);
    return out;
#else
    return {"auto", "cpu"};
#endif
}

} // namespace se::ui
