// Whole runs recorded in the store: the vanilla evaluation made once and reused, curve evaluations on the
// schedule, the final evaluation, statuses for finished / cancelled / failed runs, and the run configuration's
// JSON (round trip, strict errors). Uses a tiny benchmark and a briefly trained model: behaviour, not quality.
#include <torch/torch.h>

#include "core/data/generator.h"
#include "core/store/runstore.h"
#include "core/unlearn/runservice.h"

#include <QTemporaryDir>
#include <QtTest>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace se::engine;
using StoreStatus = se::store::RunStatus;

class TestRunService : public QObject
{
    Q_OBJECT
    QTemporaryDir m_tmp;
    std::string m_data, m_model;

    RunRequest request(const std::string &store) const
    {
        RunRequest r;
        r.storePath = store;
        r.unlearn.dataDir = m_data;
        r.unlearn.modelFile = m_model;
        r.unlearn.method = se::unlearn::Method::PO;
        r.unlearn.train = UnlearnConfig::defaults();
        r.unlearn.train.steps = 4;
        r.unlearn.train.batchSize = 8;
        r.unlearn.train.progressEvery = 1;
        r.eval.greedy = true;
        r.eval.subsetPerSet = 6;
        r.evalEvery = 2;
        r.curveSubset = 3;
        return r;
    }

    // The tensor data of a safetensors file: what follows its header (whose metadata names paths and times).
    static std::string tensorBytes(const std::string &path)
    {
        std::ifstream in(path, std::ios::binary);
        std::uint64_t header = 0;
        in.read(reinterpret_cast<char *>(&header), 8);
        in.seekg(std::streamoff(8 + header));
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_data = (m_tmp.path() + "/bench").toStdString();
        se::data::GeneratorOptions g;
        g.records = 24;
        se::data::generateBenchmark(m_data, g);
        VanillaConfig v;
        v.dataDir = m_data;
        v.outFile = (m_tmp.path() + "/vanilla.safetensors").toStdString();
        v.train.steps = 5;
        v.train.batchSize = 8;
        const RunResult r = trainVanilla(v);
        QCOMPARE(int(r.status), int(se::engine::RunStatus::Finished));
        m_model = v.outFile;
    }

    void runIsRecorded()
    {
        const std::string db = (m_tmp.path() + "/runs.sqlite").toStdString();
        std::vector<RunEvent::Kind> kinds;
        int evaluated = 0, loading = 0;
        std::int64_t createdId = -1;
        std::map<std::string, std::pair<int, int>> answersDone; // evaluation phase → (last done, total)
        std::set<std::string> estimated;
        const RunOutcome out = executeRun(request(db), [&](const RunEvent &e) {
            if (e.kind == RunEvent::Kind::Evaluating) {
                if (e.progress.step == 0) // an estimate before the evaluation starts: the final one, after curves
                    estimated.insert(e.progress.phase);
                QVERIFY(e.progress.step > answersDone[e.progress.phase].first || e.progress.step == 0);
                QVERIFY(e.progress.etaSeconds >= 0);
                answersDone[e.progress.phase] = {e.progress.step, e.progress.totalSteps};
                return;
            }
            if (e.kind == RunEvent::Kind::Progress)
                QVERIFY(e.progress.memoryInUse > (16u << 20)); // this process's resident memory, at least LibTorch's
            if (e.kind == RunEvent::Kind::Loading) { // the base model's weights, in MiB, for the run's status line
                QCOMPARE(e.runId, createdId);        // after the run was created
                QCOMPARE(e.progress.phase, std::string("load"));
                QVERIFY(e.progress.step <= e.progress.totalSteps);
                ++loading;
                return;
            }
            if (e.kind == RunEvent::Kind::Created)
                createdId = e.runId;
            kinds.push_back(e.kind);
            evaluated += e.kind == RunEvent::Kind::Evaluated;
        });
        // Answer progress of each evaluation, ending at its total.
        for (const char *phase : {"evaluate vanilla", "evaluate step", "evaluate final"}) {
            QVERIFY2(answersDone.count(phase), phase);
            QVERIFY(answersDone[phase].second > 0);
            QCOMPARE(answersDone[phase].first, answersDone[phase].second);
        }
        // The vanilla evaluation's rate estimates the curve point, the curve point's the final evaluation.
        QVERIFY(estimated.count("evaluate step"));
        QVERIFY(estimated.count("evaluate final"));
        QVERIFY(!estimated.count("evaluate vanilla"));
        QVERIFY2(out.status == StoreStatus::Finished, out.message.c_str());
        QCOMPARE(kinds.front(), RunEvent::Kind::Created);
        QCOMPARE(kinds.back(), RunEvent::Kind::Finished);
        QCOMPARE(evaluated, 2); // a curve point at step 2, then the final evaluation (which is step 4's)
        QVERIFY(loading >= 1);

        se::store::RunStore store(db);
        const auto runs = store.runs();
        QCOMPARE(int(runs.size()), 2);
        const auto &run = runs[0]; // created first; the vanilla evaluation it needed comes second
        const auto &vanilla = runs[1];
        QCOMPARE(QString::fromStdString(vanilla.method), QString("vanilla"));
        QCOMPARE(vanilla.status, StoreStatus::Finished);
        QCOMPARE(run.id, out.runId);
        QCOMPARE(run.parentId, vanilla.id);
        QCOMPARE(QString::fromStdString(run.method), QString("po"));
        QCOMPARE(run.status, StoreStatus::Finished);
        QVERIFY(QFile::exists(QString::fromStdString(run.outputModel)));
        QVERIFY(!run.datasetHash.empty());
        QVERIFY(QString::fromStdString(run.refusalPhrasesJson).contains("sorry"));
        QCOMPARE(int(store.steps(run.id).size()), 4);
        // a curve point at step 2 (the last step's point is the final evaluation), per category too
        std::set<int> curveSteps;
        for (const auto &m : store.metrics(run.id, "step"))
            curveSteps.insert(m.step);
        QCOMPARE(curveSteps, (std::set<int>{2}));
        for (const auto &m : store.metrics(run.id, "final"))
            QCOMPARE(m.step, 4);
        const auto final = store.metrics(run.id, "final");
        QVERIFY(!final.empty());
        bool sarr = false;
        for (const auto &m : final)
            sarr |= m.name == "sarr" && m.split == "val" && m.category.empty();
        QVERIFY(sarr);
        QVERIFY(store.answerCount(run.id) > 0);
        // the configuration is stored, and reads back
        const RunRequest back = requestFromJson(run.configJson);
        QCOMPARE(back.unlearn.train.steps, 4);
        QCOMPARE(back.evalEvery, 2);

        // A second run reuses the vanilla evaluation.
        bool reused = false;
        RunRequest second = request(db);
        second.unlearn.pd = true;
        const RunOutcome out2 = executeRun(second, [&](const RunEvent &e) {
            reused |= e.kind == RunEvent::Kind::VanillaEvaluated && e.message == "reused";
        });
        QCOMPARE(out2.status, StoreStatus::Finished);
        QVERIFY(reused);
        QCOMPARE(out2.vanillaRunId, vanilla.id);
        QCOMPARE(int(store.runs().size()), 3);

        // A new vanilla evaluation of a model evaluated here before (other settings) says how long it will take
        // before it starts, at the rate the store recorded for that model.
        QVERIFY(nlohmann::json::parse(store.run(vanilla.id)->configJson).value("answers_per_second", 0.0) > 0);
        RunRequest longer = request(db);
        longer.eval.maxNewTokens = 7;
        double upFront = -1;
        ensureVanillaEvaluation(longer, [&](const RunEvent &e) {
            if (e.kind == RunEvent::Kind::Evaluating && e.progress.step == 0 && e.progress.phase == "evaluate vanilla")
                upFront = e.progress.etaSeconds;
        });
        QVERIFY2(upFront > 0, std::to_string(upFront).c_str());
        QCOMPARE(int(store.runs().size()), 4);

        // The final evaluation ran on the live model in memory; loading the written weights from disk and
        // evaluating them the same way gives the same answers.
        RunRequest fromDisk = request(db);
        fromDisk.unlearn.modelFile = run.outputModel;
        bool reusedDisk = false;
        const auto diskId = ensureVanillaEvaluation(fromDisk, [&](const RunEvent &e) {
            reusedDisk |= e.kind == RunEvent::Kind::VanillaEvaluated && e.message == "reused";
        });
        QVERIFY(!reusedDisk); // another model: its own evaluation
        const auto live = store.answers(run.id, "final");
        const auto disk = store.answers(diskId, "vanilla");
        QCOMPARE(live.size(), disk.size());
        QVERIFY(!live.empty());
        for (size_t i = 0; i < live.size(); ++i) {
            QCOMPARE(QString::fromStdString(live[i].question), QString::fromStdString(disk[i].question));
            QCOMPARE(QString::fromStdString(live[i].answer), QString::fromStdString(disk[i].answer));
        }
    }

    // Found by a hostile probe: two runs started together on one store evaluated the vanilla model twice. Now the
    // first claim makes it, the other waits and reuses it; a claim whose maker failed is taken over.
    void concurrentRunsShareTheVanillaEvaluation()
    {
        const std::string db = (m_tmp.path() + "/together.sqlite").toStdString();
        {
            se::store::RunStore created(db);
        } // created before the two threads open it
        RunRequest r = request(db);
        r.eval.subsetPerSet = 12; // long enough for the second thread to arrive while the first evaluates
        std::int64_t ids[2] = {0, 0};
        std::string messages[2];
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; ++t)
            threads.emplace_back([&, t] {
                try {
                    ids[t] = ensureVanillaEvaluation(r, [&](const RunEvent &e) {
                        if (e.kind == RunEvent::Kind::VanillaEvaluated)
                            messages[t] += e.message + ";";
                    });
                } catch (const std::exception &e) {
                    messages[t] = std::string("threw: ") + e.what();
                }
            });
        for (auto &t : threads)
            t.join();
        QVERIFY2(ids[0] > 0 && ids[0] == ids[1], qPrintable(QString::fromStdString(messages[0] + " | " + messages[1])));
        se::store::RunStore store(db);
        int vanilla = 0;
        for (const auto &run : store.runs())
            vanilla += run.method == "vanilla";
        QCOMPARE(vanilla, 1); // the waiting thread's claim was withdrawn
        QVERIFY2(messages[0].find("reused") != std::string::npos || messages[1].find("reused") != std::string::npos,
                 qPrintable(QString::fromStdString(messages[0] + " | " + messages[1])));

        // A claim left by a process that died (a running vanilla run whose owner is gone) does not block.
        const std::string db2 = (m_tmp.path() + "/stale.sqlite").toStdString();
        RunRequest r2 = request(db2);
        r2.eval.subsetPerSet = 2;
        const auto first = ensureVanillaEvaluation(r2);
        {
            se::store::RunStore s2(db2);
            s2.setStatus(first, StoreStatus::Failed, "made to fail by the test");
        }
        const auto second = ensureVanillaEvaluation(r2);
        QVERIFY(second != first); // a failed evaluation is not reused: a new one is made
    }

    void sameSeedSameRun()
    {
        // Same seed, same run: two runs of one request (sampled evaluation, curve points, PO) give bit-identical
        // losses, weights, answers and metrics; so does vanilla training twice. (With the same thread settings:
        // training's sums depend on OpenBLAS's thread count, which is why reproduce fixes it; README.)
        std::vector<std::string> weights;
        std::vector<std::vector<se::store::StepRecord>> steps;
        std::vector<std::vector<se::store::AnswerRecord>> answers;
        std::vector<std::vector<se::store::MetricRecord>> metrics;
        for (int i = 0; i < 2; ++i) {
            const std::string db = (m_tmp.path() + "/same-" + QString::number(i) + ".sqlite").toStdString();
            RunRequest r = request(db);
            r.eval.greedy = false;
            r.eval.harmfulSamples = 2;
            const RunOutcome out = executeRun(r);
            QCOMPARE(int(out.status), int(StoreStatus::Finished));
            se::store::RunStore store(db, true);
            weights.push_back(tensorBytes(store.run(out.runId)->outputModel));
            steps.push_back(store.steps(out.runId));
            answers.push_back(store.answers(out.runId));
            metrics.push_back(store.metrics(out.runId));
        }
        QVERIFY(!weights[0].empty());
        QVERIFY(weights[0] == weights[1]);
        QCOMPARE(steps[0].size(), steps[1].size());
        for (size_t i = 0; i < steps[0].size(); ++i)
            QVERIFY(steps[0][i].losses == steps[1][i].losses);
        QCOMPARE(answers[0].size(), answers[1].size());
        for (size_t i = 0; i < answers[0].size(); ++i)
            QCOMPARE(answers[0][i].answer, answers[1][i].answer);
        QCOMPARE(metrics[0].size(), metrics[1].size());
        for (size_t i = 0; i < metrics[0].size(); ++i)
            QCOMPARE(metrics[0][i].value, metrics[1][i].value);
        std::vector<std::string> vanilla;
        for (int i = 0; i < 2; ++i) {
            VanillaConfig v;
            v.dataDir = m_data;
            v.outFile = (m_tmp.path() + "/same-vanilla-" + QString::number(i) + ".safetensors").toStdString();
            v.train.steps = 5;
            v.train.batchSize = 8;
            QCOMPARE(int(trainVanilla(v).status), int(se::engine::RunStatus::Finished));
            vanilla.push_back(tensorBytes(v.outFile));
        }
        QVERIFY(vanilla[0] == vanilla[1]);
    }

    void cancelledRun()
    {
        const std::string db = (m_tmp.path() + "/cancel.sqlite").toStdString();
        CancelToken cancel;
        RunRequest r = request(db);
        r.unlearn.train.steps = 50;
        r.evalEvery = 0;
        const RunOutcome out = executeRun(
            r,
            [&](const RunEvent &e) {
                if (e.kind == RunEvent::Kind::Progress && e.step >= 2)
                    cancel.cancel();
            },
            &cancel);
        QCOMPARE(out.status, StoreStatus::Cancelled);
        se::store::RunStore store(db);
        QCOMPARE(store.run(out.runId)->status, StoreStatus::Cancelled);
        QVERIFY(store.steps(out.runId).size() <= 3); // stopped within a step of the request
    }

    void cancelledDuringACurveEvaluation()
    {
        // Cancelling while a curve point is being evaluated used to record "cancelled during evaluation" pointing at
        // a model file that was never written. Now the weights of the last step are written and the status agrees.
        const std::string db = (m_tmp.path() + "/cancel-eval.sqlite").toStdString();
        CancelToken cancel;
        RunRequest r = request(db);
        r.unlearn.train.steps = 6;
        r.evalEvery = 2;
        const RunOutcome out = executeRun(
            r,
            [&](const RunEvent &e) {
                if (e.kind == RunEvent::Kind::Evaluating && e.progress.phase == "evaluate step")
                    cancel.cancel();
            },
            &cancel);
        QCOMPARE(out.status, StoreStatus::Cancelled);
        se::store::RunStore store(db);
        const auto run = store.run(out.runId);
        QCOMPARE(run->status, StoreStatus::Cancelled);
        QVERIFY2(QString::fromStdString(run->message).contains("cancelled after 2 steps"), run->message.c_str());
        QVERIFY(QFile::exists(QString::fromStdString(run->outputModel)));
        const auto meta = savedModelMetadata(run->outputModel);
        QCOMPARE(QString::fromStdString(meta.at("status")), QString("cancelled"));
        QCOMPARE(QString::fromStdString(meta.at("steps")), QString("2"));
    }

    void resumeARunStoppedBeforeTraining()
    {
        // A run stopped during its vanilla evaluation has no checkpoint; --resume used to refuse it. It restarts.
        const std::string db = (m_tmp.path() + "/early.sqlite").toStdString();
        CancelToken cancel;
        RunRequest r = request(db);
        r.eval.maxNewTokens = 5; // an evaluation of its own, not one reused from another test
        const RunOutcome first = executeRun(
            r,
            [&](const RunEvent &e) {
                if (e.kind == RunEvent::Kind::Evaluating && e.progress.phase == "evaluate vanilla")
                    cancel.cancel();
            },
            &cancel);
        QCOMPARE(first.status, StoreStatus::Cancelled); // before its first step (the evaluation is one batch here)
        QVERIFY(se::store::RunStore(db).steps(first.runId).empty());
        RunRequest again;
        again.storePath = db;
        again.resumeRun = first.runId;
        const RunOutcome second = executeRun(again);
        QVERIFY2(second.status == StoreStatus::Finished, second.message.c_str());
        QCOMPARE(second.runId, first.runId);
        QCOMPARE(int(se::store::RunStore(db).steps(first.runId).size()), r.unlearn.train.steps);
    }

    void resumeFromCheckpoint()
    {
        const std::string db = (m_tmp.path() + "/resume.sqlite").toStdString();
        CancelToken cancel;
        RunRequest r = request(db);
        r.unlearn.train.steps = 6;
        r.evalEvery = 2;
        const RunOutcome first = executeRun(
            r,
            [&](const RunEvent &e) {
                if (e.kind == RunEvent::Kind::Progress && e.step == 3)
                    cancel.cancel();
            },
            &cancel);
        QCOMPARE(first.status, StoreStatus::Cancelled);

        RunRequest again;
        again.storePath = db;
        again.resumeRun = first.runId;
        int firstStep = -1;
        const RunOutcome second = executeRun(again, [&](const RunEvent &e) {
            if (e.kind == RunEvent::Kind::Progress && firstStep < 0)
                firstStep = e.step;
        });
        QVERIFY2(second.status == StoreStatus::Finished, second.message.c_str());
        QCOMPARE(second.runId, first.runId);
        QCOMPARE(firstStep, 3); // continued after the checkpoint of step 2
        se::store::RunStore store(db);
        QCOMPARE(int(store.runs().size()), 2); // the run and its vanilla evaluation: no new run
        const auto steps = store.steps(first.runId);
        QCOMPARE(int(steps.size()), 6);
        QCOMPARE(steps.back().step, 6);
        std::set<int> curve;
        for (const auto &m : store.metrics(first.runId, "step"))
            curve.insert(m.step);
        QCOMPARE(curve, (std::set<int>{2, 4}));
        QVERIFY(!store.metrics(first.runId, "final").empty());
        QVERIFY(QString::fromStdString(store.run(first.runId)->message).isEmpty());

        // A finished run is not resumed, and is left as it was.
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, executeRun(again));
        QCOMPARE(store.run(first.runId)->status, StoreStatus::Finished);
        again.resumeRun = 999;
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, executeRun(again));
    }

    void failedRunKeepsReason()
    {
        const std::string db = (m_tmp.path() + "/fail.sqlite").toStdString();
        RunRequest r = request(db);
        r.unlearn.modelFile = (m_tmp.path() + "/missing.safetensors").toStdString();
        const RunOutcome out = executeRun(r);
        QCOMPARE(out.status, StoreStatus::Failed);
        QVERIFY2(QString::fromStdString(out.message).contains("missing.safetensors"), out.message.c_str());
        se::store::RunStore store(db);
        QCOMPARE(store.run(out.runId)->status, StoreStatus::Failed);
        QCOMPARE(QString::fromStdString(store.run(out.runId)->message), QString::fromStdString(out.message));
    }

    void planAndPresets()
    {
        const auto d = describeModel(m_model);
        QCOMPARE(d.architecture, std::string("se-tiny-vlm"));
        QVERIFY(!d.adapters);
        QVERIFY2(QString::fromStdString(d.summary).contains("Built-in model"), d.summary.c_str());
        TrainOptions t = UnlearnConfig::defaults();
        t.device = "cpu";
        const auto po = planMemory(m_model, t, se::unlearn::Method::PO, false);
        QCOMPARE(po.trainableParameters, d.parameters); // full fine-tuning
        QCOMPARE(po.weights, std::uint64_t(d.parameters) * 4);
        QCOMPARE(po.reference, std::uint64_t(0));
        QCOMPARE(planMemory(m_model, t, se::unlearn::Method::NPO, false).reference, po.weights); // a frozen copy
        QVERIFY(po.fits());
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, planMemory(m_tmp.filePath("nothing").toStdString(), t));

        const TrainOptions paper = UnlearnConfig::preset("paper");
        QCOMPARE(paper.lr, 1e-4);
        QCOMPARE(paper.steps, 0);
        QCOMPARE(paper.epochs, 10.0);
        QCOMPARE(paper.batchSize * paper.gradAccum, 32);
        QCOMPARE(paper.warmupRatio, 0.06);
        QCOMPARE(paper.seed, std::uint64_t(233));
        QVERIFY(paper.checkpointLayers);
        QVERIFY(!UnlearnConfig::defaults().checkpointLayers);
        QCOMPARE(UnlearnConfig::preset("default").steps, UnlearnConfig::defaults().steps);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, UnlearnConfig::preset("fast"));
    }

    void configJson()
    {
        RunRequest r = request("/tmp/x.sqlite");
        r.unlearn.method = se::unlearn::Method::NPO;
        r.unlearn.pd = true;
        r.unlearn.weights.pd = 0.25;
        r.judge = "llm";
        r.llm.baseUrl = "http://127.0.0.1:1/v1";
        r.llm.model = "m";
        r.eval.maxNewTokens = 40;
        r.llm.gptScore = false;
        r.llm.prompts = se::metrics::JudgePrompts::fromJson(
            nlohmann::json::parse(R"({"asr": "A {prediction}", "rr": "R {prediction}", "rr_sd": "S {prediction}"})"),
            "test");
        const RunRequest back = requestFromJson(requestToJson(r));
        QCOMPARE(back.eval.maxNewTokens, 40);
        QVERIFY(back.llm.prompts); // the prompts used are stored with the run
        QCOMPARE(back.llm.prompts->asrFor("Weapon"), std::string("A {prediction}"));
        QCOMPARE(back.llm.prompts->rrSd, std::string("S {prediction}"));
        QVERIFY(!back.llm.gptScore);
        QCOMPARE(back.unlearn.method, se::unlearn::Method::NPO);
        QVERIFY(back.unlearn.pd);
        QCOMPARE(*back.unlearn.weights.pd, 0.25);
        QVERIFY(!back.unlearn.weights.retain);
        QCOMPARE(back.unlearn.train.batchSize, 8);
        QCOMPARE(QString::fromStdString(back.llm.model), QString("m"));
        QCOMPARE(back.eval.subsetPerSet, 6);

        auto error = [](const std::string &json) -> QString {
            try {
                requestFromJson(json);
            } catch (const std::exception &e) {
                return e.what();
            }
            return {};
        };
        QVERIFY(error(R"({"lr": 1})").contains("lr: unknown setting"));
        QVERIFY(error(R"({"train": {"lr": "fast"}})").contains("train.lr: expected a number"));
        QVERIFY(error(R"({"train": {"steps": 1.5}})").contains("train.steps: expected a whole number"));
        QVERIFY(error(R"({"method": "xx"})").contains("unknown method"));
        QVERIFY(error(R"({"judge": "gpt"})").contains("judge: expected"));
        QVERIFY(error(R"({"pd": 1})").contains("pd: expected true or false"));
        QVERIFY(error("{").contains("invalid JSON"));
        QVERIFY(error(R"({"train": {"lr": 1e999}})").contains("invalid JSON: number overflow parsing '1e999'"));
        // Found by probing: integers out of range wrapped around silently; negative counts and rates were taken.
        QVERIFY(error(R"({"train": {"steps": 3000000000}})").contains("train.steps: out of range for this setting"));
        QVERIFY(error(R"({"eval": {"seed": -1}})").contains("eval.seed: expected a non-negative number"));
        QVERIFY(error(R"({"eval": {"subset": -99999999999}})").contains("eval.subset: out of range"));
        QVERIFY(error(R"({"train": {"lr": -0.001}})").contains("train.lr: must be more than 0, found -0.001"));
        QVERIFY(error(R"({"train": {"batch_size": 0}})").contains("train.batch_size: must be at least 1, found 0"));
        QVERIFY(error(R"({"train": {"lora_dropout": 1.5}})").contains("train.lora_dropout: must be in [0, 1)"));
        QVERIFY(error(R"({"eval": {"temperature": 0}})").contains("eval.temperature: must be more than 0"));
        QVERIFY(error(R"({"eval": {"greedy": true, "temperature": 0}})").isEmpty()); // not used when greedy
        QVERIFY(error(R"({"eval": {"top_p": 1.01}})").contains("eval.top_p: must be in (0, 1]"));
        QVERIFY(error(R"({"eval": {"samples": 0}})").contains("eval.samples: must be at least 1"));
        QVERIFY(error(R"({"llm": {"concurrency": 0}})").contains("llm.concurrency: must be 1 to 64"));
        // Found by a hostile probe: a judge that never answers must end a pass in minutes.
        QVERIFY(error(R"({"llm": {"concurrency": 100000}})").contains("llm.concurrency: must be 1 to 64"));
        QVERIFY(error(R"({"llm": {"retries": 1e9}})").contains("llm.retries"));
        QVERIFY(error(R"({"llm": {"timeout": 86400}})").contains("llm.timeout: must be more than 0 and at most 600"));
        QVERIFY(error(R"({"llm": {"prompts": {"asr": "x", "rr": "{prediction}", "rr_sd": "{prediction}"}}})")
                    .contains("run configuration: llm.prompts: asr: the template has no {prediction} slot"));
        QVERIFY(error(R"({"weights": {"beta": 0}})").contains("weights.beta: must be more than 0"));
        QVERIFY(error(R"({"weights": {"retain": -1}})").contains("weights.retain: must be 0 or more"));
        QVERIFY(error(R"({"train": {"steps": 0, "epochs": 0}})")
                    .contains("train.steps: must be more than 0 when epochs is 0"));
        // A shared configuration cannot make the judge send another variable (HOME, AWS_SECRET_…) as a key.
        QVERIFY(
            error(R"({"llm": {"api_key_env": "HOME"}})").contains("llm.api_key_env: LLM judge: api_key_env \"HOME\""));
        QVERIFY(error(R"({"llm": {"api_key_env": "SAFEERASER_OTHER_KEY"}})").isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestRunService)
#include "test_runservice.moc"
