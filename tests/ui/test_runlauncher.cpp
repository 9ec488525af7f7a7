// The run launcher and its controller offscreen. A scripted executor stands in for the engine (it honours the
// CancelToken between "steps" as the trainer does and writes its run into a store through the RunStore API), so
// the queue, progress, pause / resume, cancel within a step, dropping late events and the window's refresh after a
// run are tested without LibTorch. When the workbench links the engine, realTinyRun also trains a tiny vanilla
// model and runs PO through executeRun.
#include "core/data/generator.h"
#include "tests/ui/demostore.h"
#include "ui/comparisonview.h"
#include "ui/enginebridge.h"
#include "ui/launcherview.h"
#include "ui/mainwindow.h"
#include "ui/plotsview.h"
#include "ui/runcontroller.h"

#include <cmath>
#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include <atomic>
#include <chrono>
#include <thread>

using se::ui::LaunchSpec;
using se::ui::RunUpdate;

namespace {
// A fake engine: `steps` steps of `stepMs` each, progress after each, cancel and pause checked between steps.
struct FakeEngine {
    int stepMs = 20;
    std::atomic<int> stepsRun{0};
    std::atomic<int> maxStepSeen{0};
    std::atomic<bool> holding{false}; // the worker is waiting between steps because the job is paused
    QString storePath;

    se::ui::JobExecutor executor()
    {
        return [this](const LaunchSpec &spec, const std::function<void(const RunUpdate &)> &emit,
                      const se::engine::CancelToken *cancel) {
            std::int64_t id = 0;
            if (!spec.storePath.isEmpty()) {
                se::store::RunStore store(spec.storePath.toStdString()); // the worker's own connection
                se::store::RunInfo r;
                r.method = spec.method.toStdString();
                r.pd = spec.pd;
                r.status = se::store::RunStatus::Running;
                id = store.createRun(r);
            }
            RunUpdate created;
            created.kind = RunUpdate::Kind::Created;
            created.runId = id;
            emit(created);
            const int total = spec.train.steps;
            QString status = "finished";
            for (int s = 1; s <= total; ++s) {
                while (cancel && cancel->paused() && !cancel->cancelled()) {
                    holding = true;
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
                holding = false;
                if (cancel && cancel->cancelled()) {
                    status = "cancelled";
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(stepMs));
                ++stepsRun;
                maxStepSeen = s;
                RunUpdate u;
                u.kind = RunUpdate::Kind::Progress;
                u.phase = spec.method;
                u.step = s;
                u.totalSteps = total;
                u.epoch = 1;
                u.losses = {{"total", 2.0 / s}, {"forget", 1.5 / s}, {"retain", 0.5 / s}};
                u.etaSeconds = (total - s) * stepMs / 1000.0;
                emit(u);
            }
            if (id) {
                se::store::RunStore store(spec.storePath.toStdString());
                store.setStatus(id, status == "finished" ? se::store::RunStatus::Finished
                                                         : se::store::RunStatus::Cancelled);
            }
            RunUpdate fin;
            fin.kind = RunUpdate::Kind::Finished;
            fin.runId = id;
            fin.status = status;
            emit(fin);
        };
    }
};

LaunchSpec spec(int steps, const QString &store = {})
{
    LaunchSpec s;
    s.method = "po";
    s.label = QString("po %1").arg(steps);
    s.train.steps = steps;
    s.storePath = store;
    return s;
}
} // namespace

class TestRunLauncher : public QObject
{
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_bench;

    // Shows the window on the launcher, with the test benchmark loaded and `store` open.
    void openLauncher(se::ui::MainWindow &w, const QString &store)
    {
        w.resize(1300, 850);
        w.show();
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        w.openBenchmark(m_bench);
        QVERIFY(loaded.wait(10000));
        QVERIFY(w.openRunStore(store));
        w.showView(se::ui::MainWindow::Launcher);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        m_bench = m_tmp.path() + "/bench";
        se::testing::generateSmallBenchmark(m_bench.toStdString());
    }

    void queueRunsInOrder()
    {
        FakeEngine engine;
        engine.stepMs = 1;
        se::ui::RunController c(engine.executor());
        QSignalSpy started(&c, &se::ui::RunController::jobStarted);
        QSignalSpy finished(&c, &se::ui::RunController::jobFinished);
        const qint64 a = c.enqueue(spec(5));
        const qint64 b = c.enqueue(spec(7));
        const qint64 d = c.enqueue(spec(9));
        QVERIFY(c.busy());
        QCOMPARE(c.queued().size(), 2);
        QVERIFY(c.removeQueued(d));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 2, 10000);
        QCOMPARE(started.at(0).at(0).toLongLong(), a);
        QCOMPARE(started.at(1).at(0).toLongLong(), b);
        QCOMPARE(finished.at(1).at(1).value<RunUpdate>().status, QString("finished"));
        QCOMPARE(engine.stepsRun.load(), 12);
        QVERIFY(!c.busy());
    }

    void pauseResumeCancel()
    {
        FakeEngine engine;
        engine.stepMs = 10;
        se::ui::RunController c(engine.executor());
        QSignalSpy updates(&c, &se::ui::RunController::jobUpdate);
        QSignalSpy finished(&c, &se::ui::RunController::jobFinished);
        c.enqueue(spec(100000));
        QTRY_VERIFY_WITH_TIMEOUT(engine.stepsRun.load() >= 3, 5000);
        c.setPaused(true);
        QVERIFY(c.paused());
        QTRY_VERIFY_WITH_TIMEOUT(engine.holding.load(), 5000); // the step in flight has ended; the worker holds
        const int atPause = engine.stepsRun.load();
        QTest::qWait(150);
        QCOMPARE(engine.stepsRun.load(), atPause); // nothing runs while paused, however long
        c.setPaused(false);
        QTRY_VERIFY_WITH_TIMEOUT(engine.stepsRun.load() > atPause, 5000);
        const int atCancel = engine.stepsRun.load();
        c.cancelCurrent();
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 5000);
        QVERIFY2(engine.stepsRun.load() - atCancel <= 1, "cancel answers within a step"); // steps, not milliseconds
        QCOMPARE(finished.at(0).at(1).value<RunUpdate>().status, QString("cancelled"));
        QVERIFY(updates.size() > 3);
        QVERIFY(engine.stepsRun.load() < 100000);
    }

    void lateEventsDropped()
    {
        // An executor that emits after its job was superseded: the controller ignores events of other tickets.
        se::ui::RunController c([](const LaunchSpec &, const std::function<void(const RunUpdate &)> &emit,
                                   const se::engine::CancelToken *) {
            RunUpdate u;
            u.kind = RunUpdate::Kind::Progress;
            u.step = 1;
            emit(u);
        });
        QSignalSpy updates(&c, &se::ui::RunController::jobUpdate);
        QSignalSpy finished(&c, &se::ui::RunController::jobFinished);
        c.enqueue(spec(1));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 5000);
        const int seen = updates.size();
        QCOMPARE(seen, 1);
        // A stale ticket's update arriving now (as from a worker of a finished job) is dropped.
        RunUpdate late;
        late.kind = RunUpdate::Kind::Progress;
        c.onUpdate(1, late);
        c.onDone(1);
        QCOMPARE(updates.size(), seen);
        QCOMPARE(finished.size(), 1);
    }

    void launcherShowsProgressAndCancels()
    {
        FakeEngine engine;
        engine.stepMs = 15;
        se::ui::MainWindow w(nullptr, new se::ui::RunController(engine.executor()));
        const QString store = m_tmp.path() + "/launch.sqlite";
        openLauncher(w, store);
        auto *l = w.launcher();
        QCOMPARE(l->storePath(), QFileInfo(store).absoluteFilePath());

        // Method and PD change the default weights (SPEC §3).
        l->methodBox()->setCurrentIndex(l->methodBox()->findData("gd"));
        l->pdBox()->setChecked(true);
        QCOMPARE(l->weightBox("retain")->value(), 0.5);
        QCOMPARE(l->weightBox("pd")->value(), 0.5);
        // SimNPO, from its row of the method table: β 2.5 and its margin γ editable, no KL weight.
        l->methodBox()->setCurrentIndex(l->methodBox()->findData("simnpo"));
        QCOMPARE(l->methodBox()->currentText(), QString("SimNPO"));
        QCOMPARE(l->weightBox("beta")->value(), 2.5);
        QVERIFY(l->weightBox("gamma")->isEnabled() && !l->weightBox("kl")->isEnabled());
        l->weightBox("gamma")->setValue(0.25);
        QCOMPARE(*l->currentSpec().weights.gamma, 0.25);
        l->methodBox()->setCurrentIndex(l->methodBox()->findData("po"));
        QVERIFY(!l->weightBox("gamma")->isEnabled());
        QCOMPARE(l->weightBox("pd")->value(), 1.0);
        l->weightBox("pd")->setValue(0.7);
        LaunchSpec s = l->currentSpec();
        QVERIFY(s.weights.pd && *s.weights.pd == 0.7);
        QVERIFY(!s.weights.retain); // untouched weights stay defaults
        QCOMPARE(s.method, QString("po"));
        QVERIFY(s.pd);

        // No checkpoint: the launcher refuses and says why; with one it queues.
        QSignalSpy msg(l, &se::ui::LauncherView::message);
        l->setModelFile(m_tmp.path() + "/none.safetensors");
        QCOMPARE(l->launch(), 0);
        QCOMPARE(msg.size(), 1);
        const QString model = m_tmp.path() + "/vanilla.safetensors";
        QFile(model).open(QIODevice::WriteOnly);
        l->setModelFile(model);
        if (se::ui::engineAvailable()) {
            // The engine reads what the file is: an empty one is refused with the reason; a real checkpoint queues.
            QCOMPARE(l->launch(), 0);
            QVERIFY2(msg.last().first().toString().contains("not a usable model"),
                     qPrintable(msg.last().first().toString()));
            QProcess train;
            train.start(SE_CLI_PATH,
                        {"train-vanilla", "--data", m_bench, "--out", model, "--steps", "1", "--batch", "2"});
            QVERIFY(train.waitForFinished(120000));
            QVERIFY2(train.exitCode() == 0, train.readAllStandardError().constData());
            l->setModelFile(model);
        }
        l->stepsBox()->setValue(400);
        QSignalSpy finished(l, &se::ui::LauncherView::runFinished);
        QVERIFY(l->launch() > 0);
        l->stepsBox()->setValue(3);
        QVERIFY(l->launch() > 0); // queued behind the first
        QTRY_VERIFY_WITH_TIMEOUT(l->progressBar()->value() >= 5, 5000);
        QCOMPARE(l->progressBar()->maximum(), 400);
        QVERIFY(l->statusLabel()->text().contains("step"));
        QVERIFY(l->statusLabel()->text().contains("ETA"));
        QVERIFY(l->lossLabel()->text().contains("forget"));
        QCOMPARE(l->queueList()->count(), 2);
        // A third run queued and taken out again with Delete.
        QVERIFY(l->launch() > 0);
        QCOMPARE(l->queueList()->count(), 3);
        l->queueList()->setCurrentRow(2);
        l->queueList()->setFocus();
        QTest::keyClick(l->queueList(), Qt::Key_Delete);
        QCOMPARE(l->queueList()->count(), 2);
        QCOMPARE(w.runController()->queued().size(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(l->lossPoints() > 0, 2000); // curves redraw on the coalescing timer

        // Pause from the button, then cancel: the first ends cancelled, the queued one runs and finishes.
        QTest::mouseClick(l->pauseButton(), Qt::LeftButton);
        QVERIFY(w.runController()->paused());
        QCOMPARE(l->pauseButton()->text(), QString("Resume"));
        QTest::mouseClick(l->cancelButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 2, 10000);
        QCOMPARE(finished.at(0).at(1).toString(), QString("cancelled"));
        QCOMPARE(finished.at(1).at(1).toString(), QString("finished"));
        // The window's comparison and plots list the new runs.
        QTRY_COMPARE_WITH_TIMEOUT(w.comparison()->runList()->count(), 2, 2000);
        QCOMPARE(w.plots()->runList()->count(), 2);
    }

    void realTinyRun()
    {
        if (!se::ui::engineAvailable())
            QSKIP("this workbench is built without the engine (SE_UI_ENGINE=OFF or no LibTorch)");
        se::ui::RunController c;
        QSignalSpy updates(&c, &se::ui::RunController::jobUpdate);
        QSignalSpy finished(&c, &se::ui::RunController::jobFinished);
        LaunchSpec v;
        v.kind = LaunchSpec::Kind::Vanilla;
        v.dataDir = m_bench;
        v.modelFile = m_tmp.path() + "/real/vanilla.safetensors";
        v.train = se::ui::vanillaDefaults();
        v.train.steps = 30;
        v.train.batchSize = 8;
        v.train.progressEvery = 5;
        c.enqueue(v);
        LaunchSpec r;
        r.dataDir = m_bench;
        r.modelFile = v.modelFile;
        r.storePath = m_tmp.path() + "/real/runs.sqlite";
        r.method = "po";
        r.pd = true;
        r.train = se::ui::unlearnDefaults();
        r.train.steps = 6;
        r.train.batchSize = 4;
        r.train.progressEvery = 1;
        r.evalEvery = 3;
        r.curveSubset = 4;
        r.greedyEval = true;
        r.subsetPerSet = 4;
        c.enqueue(r);
        LaunchSpec simnpo = r; // the method added as one row and one loss function, through the workbench's engine
        simnpo.method = "simnpo";
        simnpo.weights.gamma = 0.25;
        c.enqueue(simnpo);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 240000);
        const RunUpdate simFin = finished.at(2).at(1).value<RunUpdate>();
        QVERIFY2(simFin.status == "finished", qPrintable(simFin.message));
        {
            se::store::RunStore store(r.storePath.toStdString(), true);
            const auto run = store.run(simFin.runId);
            QCOMPARE(QString::fromStdString(run->method), QString("simnpo"));
            QVERIFY2(run->configJson.find("\"gamma\": 0.25") != std::string::npos, run->configJson.c_str());
            bool simnpoTerm = false;
            for (const auto &st : store.steps(simFin.runId))
                for (const auto &[name, v] : st.losses)
                    simnpoTerm |= name == "simnpo" && std::isfinite(v);
            QVERIFY(simnpoTerm);
        }
        QCOMPARE(finished.at(0).at(1).value<RunUpdate>().status, QString("finished"));
        const RunUpdate fin = finished.at(1).at(1).value<RunUpdate>();
        QVERIFY2(fin.status == "finished", qPrintable(fin.message));
        QVERIFY(fin.runId > 0);
        bool progress = false, evaluated = false;
        for (const auto &u : updates)
            progress |= u.at(1).value<RunUpdate>().kind == RunUpdate::Kind::Progress,
                evaluated |= u.at(1).value<RunUpdate>().kind == RunUpdate::Kind::Evaluated;
        QVERIFY(progress);
        QVERIFY(evaluated);
        se::store::RunStore store(r.storePath.toStdString(), true);
        QVERIFY(store.answerCount(fin.runId) > 0);

        // A robustness audit of the PO+PD run, as the Plots view's Audit button queues it: its lines go to the log,
        // and it is stored with the run.
        LaunchSpec a;
        a.kind = LaunchSpec::Kind::Audit;
        a.storePath = r.storePath;
        a.auditRun = fin.runId;
        a.label = "audit";
        c.enqueue(a);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 4, 240000);
        const RunUpdate audited = finished.at(3).at(1).value<RunUpdate>();
        QVERIFY2(audited.status == "finished", qPrintable(audited.message));
        QCOMPARE(audited.runId, fin.runId);
        bool logged = false;
        for (const auto &u : updates)
            logged |= u.at(1).value<RunUpdate>().kind == RunUpdate::Kind::Log &&
                      u.at(1).value<RunUpdate>().message.contains("rephrase:roleplay");
        QVERIFY(logged);
        se::store::RunStore after(r.storePath.toStdString(), true);
        QVERIFY(!after.metrics(fin.runId, "audit").empty());
        QVERIFY(!after.metrics(fin.runId, "relearn").empty());
    }

    void qwenFolderFromTheLauncher()
    {
        // A Qwen2.5-VL folder that transformers wrote (tests/qwen2vl/make_models.py, the reference environment):
        // described in the launcher, its system prompt recorded, and a run to a PEFT adapter through the engine.
        if (!se::ui::engineAvailable())
            QSKIP("this workbench is built without the engine (SE_UI_ENGINE=OFF or no LibTorch)");
        QProcess make;
        make.start(QStringLiteral(SE_SOURCE_DIR) + "/tests/reference/run.sh",
                   {"../qwen2vl/make_models.py", m_tmp.path() + "/qwen"});
        QVERIFY(make.waitForFinished(300000));
        if (make.exitCode() == 77)
            QSKIP("the reference environment is not installed (./test.sh installs it)");
        QVERIFY2(make.exitCode() == 0, make.readAllStandardError().constData());
        const QString folder = m_tmp.path() + "/qwen/qwen25vl";
        se::ui::MainWindow w(nullptr, new se::ui::RunController);
        const QString store = m_tmp.path() + "/qwen.sqlite";
        openLauncher(w, store);
        auto *l = w.launcher();
        l->setModelFile(folder);
        QVERIFY2(l->modelStateLabel()->text().contains("Qwen2.5-VL"), qPrintable(l->modelStateLabel()->text()));
        QVERIFY(l->modelStateLabel()->text().contains("PEFT adapter"));
        QVERIFY(l->vanillaRow()->isHidden());
        l->stepsBox()->setValue(2);
        l->systemPromptEdit()->setText("You are a careful assistant.");
        l->evalEveryBox()->setValue(1);
        l->finalSubsetBox()->setValue(1);
        l->greedyBox()->setChecked(true);
        l->findChild<QSpinBox *>("batchBox")->setValue(2);
        l->findChild<QSpinBox *>("accumBox")->setValue(1);
        QSignalSpy finished(l, &se::ui::LauncherView::runFinished);
        QSignalSpy msg(l, &se::ui::LauncherView::message);
        QVERIFY2(l->launch() > 0, msg.isEmpty() ? "" : qPrintable(msg.first().first().toString()));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 120000); // a run of seconds: a hang costs two minutes
        QCOMPARE(finished.at(0).at(1).toString(), QString("finished"));
        se::store::RunStore st(store.toStdString(), true);
        const auto run = st.run(finished.at(0).at(0).toLongLong());
        QVERIFY(run);
        QVERIFY(QFileInfo::exists(QString::fromStdString(run->outputModel) + "/adapter_config.json"));
        QVERIFY(QString::fromStdString(run->configJson).contains("You are a careful assistant."));
        QVERIFY(st.answerCount(run->id) > 0);
    }

    void llavaFolderFromTheLauncher()
    {
        // A Hugging Face LLaVA folder picked in the launcher: described, no vanilla training offered, the paper's
        // preset, a memory plan, and a real run to a PEFT adapter through the engine; the folder is remembered.
        if (!se::ui::engineAvailable())
            QSKIP("this workbench is built without the engine (SE_UI_ENGINE=OFF or no LibTorch)");
        const QString folder = m_tmp.path() + "/tiny-llava";
        QProcess make;
        make.start("/usr/bin/python3", {QStringLiteral(SE_SOURCE_DIR) + "/tests/llava/make_tiny_llava.py", folder});
        QVERIFY(make.waitForFinished(120000));
        QVERIFY2(make.exitCode() == 0, make.readAllStandardError().constData());

        se::ui::MainWindow w(nullptr, new se::ui::RunController);
        const QString store = m_tmp.path() + "/llava.sqlite";
        openLauncher(w, store);
        auto *l = w.launcher();
        l->setModelFile(folder);
        QVERIFY2(l->modelStateLabel()->text().contains("LLaVA-1.5"), qPrintable(l->modelStateLabel()->text()));
        QVERIFY(l->modelStateLabel()->text().contains("PEFT adapter"));
        QVERIFY(l->vanillaRow()->isHidden());
        QVERIFY(l->systemPromptEdit()->isEnabled());
        // Choosing a folder switched the form to its defaults: the paper's set-up with a micro-batch that fits.
        QCOMPARE(l->findChild<QComboBox *>("presetBox")->currentText(), QString("paper"));
        QVERIFY(l->findChild<QCheckBox *>("checkpointLayers")->isChecked());
        QCOMPARE(l->findChild<QSpinBox *>("loraRank")->value(), 0); // SafeEraser's LoRA, the model's default
        const int micro = l->findChild<QSpinBox *>("batchBox")->value();
        QVERIFY(micro >= 1 && micro <= 4);
        QCOMPARE(micro * l->findChild<QSpinBox *>("accumBox")->value(), 32);
        l->refreshMemoryPlan();
        QVERIFY2(!l->memoryLabel()->text().contains("fit"), qPrintable(l->memoryLabel()->text()));
        l->applyPresetByName("paper");
        QCOMPARE(l->stepsBox()->value(), 0);
        LaunchSpec paper = l->currentSpec();
        QCOMPARE(paper.train.lr, 1e-4);
        QCOMPARE(paper.train.epochs, 10.0);
        QCOMPARE(paper.train.batchSize * paper.train.gradAccum, 32);
        l->refreshMemoryPlan();
        QVERIFY2(l->memoryLabel()->text().contains("trainable"), qPrintable(l->memoryLabel()->text()));

        l->stepsBox()->setValue(2);
        l->findChild<QSpinBox *>("loraRank")->setValue(0);
        l->systemPromptEdit()->setText("Be safe.");
        l->evalEveryBox()->setValue(1);
        l->finalSubsetBox()->setValue(1);
        l->greedyBox()->setChecked(true);
        l->findChild<QSpinBox *>("batchBox")->setValue(2);
        l->findChild<QSpinBox *>("accumBox")->setValue(1);
        const LaunchSpec s = l->currentSpec();
        QCOMPARE(s.train.gradAccum, 1);
        QCOMPARE(s.systemPrompt, QString("Be safe."));
        QSignalSpy finished(l, &se::ui::LauncherView::runFinished);
        QSignalSpy msg(l, &se::ui::LauncherView::message);
        QVERIFY2(l->launch() > 0, msg.isEmpty() ? "" : qPrintable(msg.first().first().toString()));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 120000); // a run of seconds: a hang costs two minutes
        QCOMPARE(finished.at(0).at(1).toString(), QString("finished"));
        const qint64 runId = finished.at(0).at(0).toLongLong();
        se::store::RunStore st(store.toStdString(), true);
        const auto run = st.run(runId);
        QVERIFY(run);
        QVERIFY2(QString::fromStdString(run->outputModel).endsWith(".adapter"), run->outputModel.c_str());
        QVERIFY(QFileInfo::exists(QString::fromStdString(run->outputModel) + "/adapter_config.json"));
        QVERIFY(QString::fromStdString(run->configJson).contains("Be safe."));
        QVERIFY(st.answerCount(runId) > 0);
        QVERIFY(l->recentModelsBox()->count() >= 2);
        QCOMPARE(l->recentModelsBox()->itemData(1).toString(), folder);

        // A second run from the folder + the first run's adapter: the field is checked before a launch, and the
        // run writes the two stacked (r 32 + 32).
        QVERIFY(l->adapterEdit()->isEnabled());
        l->adapterEdit()->setText(m_tmp.path());
        QVERIFY2(l->modelStateLabel()->text().contains("not a PEFT adapter folder"),
                 qPrintable(l->modelStateLabel()->text()));
        msg.clear();
        QCOMPARE(l->launch(), qint64(0));
        QVERIFY(!msg.isEmpty() && msg.last().first().toString().contains("adapter_config.json"));
        l->adapterEdit()->setText(QString::fromStdString(run->outputModel));
        QVERIFY2(l->modelStateLabel()->text().contains("Runs start from the model + "),
                 qPrintable(l->modelStateLabel()->text()));
        QVERIFY(l->currentSpec().label.contains(" + run-"));
        QVERIFY2(l->launch() > 0, msg.isEmpty() ? "" : qPrintable(msg.last().first().toString()));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 2, 120000); // a run of seconds: a hang costs two minutes
        QCOMPARE(finished.at(1).at(1).toString(), QString("finished"));
        const auto second = st.run(finished.at(1).at(0).toLongLong());
        QVERIFY(second &&
                QString::fromStdString(second->configJson).contains(QString::fromStdString(run->outputModel)));
        QFile cfg(QString::fromStdString(second->outputModel) + "/adapter_config.json");
        QVERIFY(cfg.open(QIODevice::ReadOnly));
        QVERIFY2(cfg.readAll().contains("\"r\": 64"), qPrintable(QString::fromStdString(second->outputModel)));
        // A built-in checkpoint takes no adapter: the field is off.
        l->setModelFile(m_tmp.path() + "/none.safetensors");
        QVERIFY(!l->adapterEdit()->isEnabled() && l->startAdapter().isEmpty());
        // Back to a built-in checkpoint (the one the first test trained): its defaults come back.
        l->setModelFile(m_tmp.path() + "/vanilla.safetensors");
        const auto d = se::ui::unlearnDefaults();
        QCOMPARE(l->findChild<QComboBox *>("presetBox")->currentText(), QString("default"));
        QCOMPARE(l->findChild<QSpinBox *>("batchBox")->value(), d.batchSize);
        QCOMPARE(l->findChild<QSpinBox *>("accumBox")->value(), d.gradAccum);
        QCOMPARE(l->findChild<QCheckBox *>("checkpointLayers")->isChecked(), d.checkpointLayers);
    }
};

QTEST_MAIN(TestRunLauncher)
#include "test_runlauncher.moc"
