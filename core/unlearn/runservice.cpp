// A whole unlearning run recorded in the run store (see runservice.h).
#include "core/unlearn/runservice.h"
#include "core/data/pathguard.h"

#include "core/data/sha256.h"
#include "core/store/runstore.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <cmath>
#include <optional>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace se::engine {

using StoreStatus = se::store::RunStatus;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Cancelled : std::runtime_error {
    Cancelled() : std::runtime_error("cancelled") {}
};

std::string fileSha256(const std::string &path);

// A model's identity: a checkpoint file's SHA-256; for a Hugging Face folder (14 GB for a 7B model, too much to
// hash per run), the SHA-256 over every file's name and size and its first 4 MB (every shard's header and first
// tensors, all of config.json and the tokenizer).
std::string modelIdentity(const std::string &path)
{
    if (!fs::is_directory(path))
        return fileSha256(path);
    std::vector<fs::path> files;
    for (const auto &e : fs::directory_iterator(path))
        if (e.is_regular_file())
            files.push_back(e.path());
    std::sort(files.begin(), files.end());
    se::data::Sha256 h;
    std::vector<char> buf(4 << 20);
    for (const auto &f : files) {
        const std::string head = f.filename().string() + "\n" + std::to_string(fs::file_size(f)) + "\n";
        h.update(head.data(), head.size());
        std::ifstream in(f, std::ios::binary);
        in.read(buf.data(), std::streamsize(buf.size()));
        h.update(buf.data(), std::size_t(in.gcount()));
    }
    return "folder:" + h.hexDigest();
}

std::string fileSha256(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read model " + path);
    se::data::Sha256 h;
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), std::streamsize(buf.size()));
        h.update(buf.data(), std::size_t(in.gcount()));
    }
    return h.hexDigest();
}

se::metrics::RefusalDetector refusalDetector(const RunRequest &r)
{
    return r.refusalPhrasesFile.empty() ? se::metrics::RefusalDetector()
                                        : se::metrics::RefusalDetector::fromFile(r.refusalPhrasesFile);
}

std::unique_ptr<se::metrics::Judge> makeJudge(const RunRequest &r, se::store::RunStore &store, std::mutex &storeMutex)
{
    if (r.judge == "offline")
        return std::make_unique<se::metrics::OfflineJudgeAdapter>(se::metrics::OfflineJudge(refusalDetector(r)));
    if (r.judge == "llm") {
#ifdef SE_HAVE_LLM_JUDGE
        se::metrics::JudgeCache cache;
        cache.get = [&store, &storeMutex](const std::string &j, const std::string &k) {
            std::lock_guard<std::mutex> lock(storeMutex);
            return store.cachedJudgement(j, k);
        };
        cache.put = [&store, &storeMutex](const std::string &j, const std::string &k, const std::string &v) {
            std::lock_guard<std::mutex> lock(storeMutex);
            store.cacheJudgement(j, k, v);
        };
        return std::make_unique<se::metrics::LlmJudge>(r.llm, cache);
#else
        throw std::runtime_error("this build has no LLM judge (built without libcurl)");
#endif
    }
    throw std::runtime_error("unknown judge \"" + r.judge + "\" (offline or llm)");
}

std::uint64_t mixSeed(std::uint64_t a, std::uint64_t b)
{
    std::uint64_t x = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 31);
}

// Generates every planned answer with `assistant` (loaded once per run: the base model, or the model being trained,
// adapters on), then judges and scores them.
// `onProgress(done, total, seconds, eta)` hears after each batch of answers, and before the first when
// `expectedRate` (answers/s measured earlier in the run) gives an estimate of the whole before it starts.
using EvalProgressFn = std::function<void(int done, int total, double seconds, double eta)>;
se::metrics::EvalResult evaluateModel(Assistant &assistant, const se::data::Benchmark &bench,
                                      const se::metrics::EvalOptions &o, se::metrics::Judge &judge,
                                      const std::string &stage, int step, const CancelToken *cancel,
                                      const EvalProgressFn &onProgress = {}, double expectedRate = 0)
{
    const auto t0 = std::chrono::steady_clock::now();
    int done = 0;
    const auto items = se::metrics::planEvaluation(bench, o);
    if (onProgress && expectedRate > 0)
        onProgress(0, int(items.size()), 0, double(items.size()) / expectedRate);
    AskOptions ask;
    ask.greedy = o.greedy;
    ask.temperature = o.temperature;
    ask.topP = o.topP;
    ask.maxNewTokens = o.maxNewTokens;
    std::vector<std::string> answers(items.size());
    int maxSample = 0;
    for (const auto &it : items)
        maxSample = std::max(maxSample, it.sampleIndex);
    constexpr std::size_t chunk = 256; // cancellation is checked between chunks; each chunk has its own seed
    for (int k = 0; k <= maxSample; ++k) {
        std::vector<std::size_t> idx;
        for (std::size_t i = 0; i < items.size(); ++i)
            if (items[i].sampleIndex == k)
                idx.push_back(i);
        for (std::size_t c = 0; c < idx.size(); c += chunk) {
            std::vector<std::pair<std::string, std::string>> qs;
            for (std::size_t j = c; j < std::min(idx.size(), c + chunk); ++j)
                qs.emplace_back(items[idx[j]].sample->imageFile, items[idx[j]].sample->question);
            ask.seed = mixSeed(o.seed, std::uint64_t(k) * 1000003 + c); // sample k draws its own stream
            // Generated in parts of one batch (64) with progress after each: the first part's time gives the
            // estimate of the whole. The same answers as one call over the chunk (each batch's seed is the chunk's
            // plus its offset either way).
            std::size_t from = 0;
            std::vector<std::string> got;
            while (from < qs.size()) {
                if (cancel && cancel->cancelled())
                    throw Cancelled();
                constexpr std::size_t part = 64;
                const std::size_t to = std::min(qs.size(), from + part);
                std::vector<std::pair<std::string, std::string>> sub(qs.begin() + std::ptrdiff_t(from),
                                                                     qs.begin() + std::ptrdiff_t(to));
                AskOptions partAsk = ask;
                partAsk.seed = ask.seed + from;
                for (auto &a : assistant.askMany(sub, partAsk, 64))
                    got.push_back(std::move(a));
                done += int(to - from);
                from = to;
                if (onProgress) {
                    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    onProgress(done, int(items.size()), seconds, seconds / done * double(int(items.size()) - done));
                }
            }
            for (std::size_t j = 0; j < got.size(); ++j)
                answers[idx[c + j]] = got[j];
        }
    }
    return se::metrics::scoreEvaluation(items, answers, judge, stage, step);
}

// Evaluation progress as run events (kind Evaluating) for run `runId`.
EvalProgressFn evalEvents(const RunEventFn &onEvent, std::int64_t runId, const std::string &stage, int step)
{
    if (!onEvent)
        return {};
    return [onEvent, runId, stage, step](int done, int total, double seconds, double eta) {
        RunEvent e;
        e.kind = RunEvent::Kind::Evaluating;
        e.runId = runId;
        e.step = step;
        e.progress.phase = "evaluate " + stage;
        e.progress.step = done;
        e.progress.totalSteps = total;
        e.progress.elapsedSeconds = seconds;
        e.progress.samplesPerSecond = seconds > 0 ? done / seconds : 0;
        e.progress.etaSeconds = eta;
        onEvent(e);
    };
}

std::string evalKey(const RunRequest &r)
{
    const auto &o = r.eval;
    json j = {{"greedy", o.greedy},        {"temperature", o.temperature}, {"top_p", o.topP},
              {"samples", o.harmfulSamples}, {"seed", o.seed},           {"subset", o.subsetPerSet},
              {"train", o.train},          {"val", o.val},                 {"judge", r.judge},
              {"refusals", r.refusalPhrasesFile}};
    if (r.judge == "llm")
        j["llm"] = r.llm.model + "@" + r.llm.baseUrl;
    if (o.maxNewTokens > 0)
        j["max_new_tokens"] = o.maxNewTokens;
    if (!r.unlearn.systemPrompt.empty()) // it changes every prompt, so every answer
        j["system_prompt"] = r.unlearn.systemPrompt;
    return j.dump();
}

std::string refusalJson(const RunRequest &r) { return json(refusalDetector(r).phrases()).dump(); }

// The base model as a run loads it (once): on the run's device, with its images file and system prompt.
std::shared_ptr<Assistant> loadBaseModel(const UnlearnConfig &uc, const se::data::Benchmark &bench)
{
    ModelOptions mo;
    mo.adapter = uc.adapter;
    mo.imagesFile = uc.train.imagesFile;
    mo.device = uc.train.device;
    mo.systemPrompt = uc.systemPrompt;
    mo.datasetRoot = bench.root;
    return std::make_shared<Assistant>(uc.modelFile, mo);
}

// What a run starts from: the model, and the adapter folded into it (an adapter's evaluation is its own).
std::string startIdentity(const UnlearnConfig &uc)
{
    return modelIdentity(uc.modelFile) + (uc.adapter.empty() ? std::string() : "+adapter:" + modelIdentity(uc.adapter));
}

// ensureVanillaEvaluation on a benchmark and model identity the caller has; `model` loads the base model only when
// no stored evaluation can be reused. `answersPerSecond` (when given) receives the rate of an evaluation made now.
std::int64_t vanillaEvaluation(const RunRequest &request, const se::data::Benchmark &bench, const std::string &modelHash,
                               const std::function<Assistant &()> &model, const RunEventFn &onEvent,
                               const CancelToken *cancel, double *answersPerSecond = nullptr)
{
    se::store::RunStore store(request.storePath);
    const std::string key = evalKey(request);
    double priorRate = 0; // answers/s of this model's latest evaluation here: the estimate before one starts
    for (const auto &r : store.runs()) {
        if (r.method != "vanilla" || r.status != StoreStatus::Finished || r.modelId != modelHash)
            continue;
        const auto cfg = json::parse(r.configJson, nullptr, false);
        if (cfg.is_object() && cfg.contains("answers_per_second") && cfg["answers_per_second"].is_number())
            priorRate = cfg["answers_per_second"].get<double>(); // runs() lists oldest first
        if (r.datasetHash != bench.contentHash)
            continue;
        if (cfg.is_object() && cfg.value("eval_key", std::string()) == key) {
            if (onEvent) {
                RunEvent e;
                e.kind = RunEvent::Kind::VanillaEvaluated;
                e.vanillaRunId = r.id;
                e.message = "reused";
                onEvent(e);
            }
            return r.id;
        }
    }
    se::store::RunInfo info;
    info.name = "vanilla";
    info.method = "vanilla";
    info.datasetPath = bench.root;
    info.datasetHash = bench.contentHash;
    info.modelId = modelHash;
    const std::string &adapter = request.unlearn.adapter;
    info.outputModel = adapter.empty() ? request.unlearn.modelFile : adapter;
    if (!adapter.empty())
        info.name = "vanilla + " + fs::path(adapter).filename().string();
    info.judge = request.judge;
    info.refusalPhrasesJson = refusalJson(request);
    info.configJson = json{{"eval_key", key}, {"model", request.unlearn.modelFile}, {"adapter", adapter}}.dump();
    const auto id = store.createRun(info);
    store.setStatus(id, StoreStatus::Running);
    std::mutex storeMutex;
    try {
        auto judge = makeJudge(request, store, storeMutex);
        Assistant &assistant = model();
        const auto t0 = std::chrono::steady_clock::now();
        auto result = evaluateModel(assistant, bench, request.eval, *judge, "vanilla", 0, cancel,
                                    evalEvents(onEvent, id, "vanilla", 0), priorRate);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (seconds > 0 && !result.answers.empty()) {
            const double rate = double(result.answers.size()) / seconds;
            if (answersPerSecond)
                *answersPerSecond = rate;
            auto now = *store.run(id);
            now.configJson = json{{"eval_key", key}, {"model", request.unlearn.modelFile}, {"adapter", adapter},
                                  {"answers_per_second", rate}}.dump();
            store.updateRun(now);
        }
        store.addEvaluation(id, result.metrics, result.answers);
        store.setStatus(id, StoreStatus::Finished);
        if (onEvent) {
            RunEvent e;
            e.kind = RunEvent::Kind::VanillaEvaluated;
            e.vanillaRunId = id;
            e.metrics = result.metrics;
            onEvent(e);
        }
    } catch (const Cancelled &) {
        store.setStatus(id, StoreStatus::Cancelled, "cancelled during the vanilla evaluation");
        throw;
    } catch (const std::exception &e) {
        store.setStatus(id, StoreStatus::Failed, e.what());
        throw;
    }
    return id;
}

} // namespace

std::int64_t ensureVanillaEvaluation(const RunRequest &request, const RunEventFn &onEvent, const CancelToken *cancel)
{
    const auto bench = se::data::readBenchmark(request.unlearn.dataDir);
    std::shared_ptr<Assistant> loaded;
    auto model = [&]() -> Assistant & {
        if (!loaded)
            loaded = loadBaseModel(request.unlearn, bench);
        return *loaded;
    };
    return vanillaEvaluation(request, bench, startIdentity(request.unlearn), model, onEvent, cancel);
}

RunOutcome executeRun(const RunRequest &requestIn, const RunEventFn &onEvent, const CancelToken *cancel)
{
    const auto t0 = std::chrono::steady_clock::now();
    RunRequest request = requestIn;
    UnlearnConfig &uc = request.unlearn;
    // Before the store is opened: a run's output may not be its store (or any input; unlearn() checks those too).
    se::data::refuseWritingOverInputs("the output", uc.outFile, {{"run store", request.storePath},
                                                                {"model", uc.modelFile},
                                                                {"start adapter", uc.adapter},
                                                                {"benchmark folder", uc.dataDir},
                                                                {"image pack", uc.train.imagesFile}});
    se::store::RunStore store(request.storePath);
    std::mutex storeMutex;
    auto emit = [&](RunEvent e) {
        if (onEvent)
            onEvent(e);
    };

    RunOutcome out;
    se::store::RunInfo info;
    if (request.resumeRun) {
        // Continue an interrupted run under its own id, from the last curve checkpoint it wrote.
        const auto prev = store.run(request.resumeRun);
        if (!prev)
            throw std::runtime_error("no run " + std::to_string(request.resumeRun) + " in " + request.storePath);
        if (prev->status != StoreStatus::Interrupted && prev->status != StoreStatus::Cancelled &&
            prev->status != StoreStatus::Failed)
            throw std::runtime_error("run " + std::to_string(prev->id) + " is " + se::store::statusName(prev->status) +
                                     "; only interrupted, cancelled or failed runs can be resumed");
        if (prev->method == "vanilla")
            throw std::runtime_error("run " + std::to_string(prev->id) + " is a vanilla evaluation, not a run");
        const std::int64_t id = prev->id;
        request = requestFromJson(prev->configJson, request);
        request.storePath = requestIn.storePath;
        request.resumeRun = id;
        const std::string checkpoint = curveCheckpointPath(uc.outFile, uc.modelFile);
        int step = 0;
        if (!uc.outFile.empty() && fs::exists(checkpoint)) {
            const auto meta = savedModelMetadata(checkpoint);
            const auto it = meta.find("steps");
            step = it == meta.end() ? 0 : std::atoi(it->second.c_str());
            if (step <= 0)
                throw std::runtime_error(checkpoint + ": no step count in its metadata; cannot resume from it");
            uc.resumeFrom = checkpoint;
            uc.resumeStep = step;
        } else if (!store.steps(id).empty()) {
            throw std::runtime_error("run " + std::to_string(id) + " trained " + std::to_string(store.steps(id).size()) +
                                     " steps but left no checkpoint to resume from (" + checkpoint +
                                     "); runs write one every eval_every steps");
        } // else: stopped before its first step (during the vanilla evaluation): it starts from the beginning
        store.truncateRun(id, step);
        out.runId = id;
        info = *prev;
        info.message = step > 0 ? "resumed from step " + std::to_string(step) : "restarted (it stopped before training)";
        store.updateRun(info);
    } else {
        info.method = se::unlearn::methodName(uc.method);
        info.pd = uc.pd;
        info.name = request.name.empty() ? info.method + (uc.pd ? "+pd" : "") : request.name;
        info.judge = request.judge;
        info.datasetPath = uc.dataDir;
        info.refusalPhrasesJson = refusalJson(request);
        info.configJson = requestToJson(request);
        out.runId = store.createRun(info);
        info = *store.run(out.runId);
    }
    {
        RunEvent e;
        e.kind = RunEvent::Kind::Created;
        e.runId = out.runId;
        e.step = uc.resumeStep;
        emit(e);
    }
    auto finish = [&](StoreStatus status, const std::string &message) {
        store.setStatus(out.runId, status, message);
        out.status = status;
        out.message = message;
        out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        RunEvent e;
        e.kind = RunEvent::Kind::Finished;
        e.runId = out.runId;
        e.vanillaRunId = out.vanillaRunId;
        e.status = status;
        e.message = message;
        emit(e);
        return out;
    };

    // What the run is doing, for the message of a failure or a cancellation (which files exist by then).
    std::string phase = "loading (no weights written)";
    try {
        // The benchmark is read and the base model loaded once for the whole run: the vanilla evaluation, training,
        // curve points and the final evaluation all use these objects (evaluating the live model, adapters on).
        const auto benchPtr = std::make_shared<const se::data::Benchmark>(se::data::readBenchmark(uc.dataDir));
        const se::data::Benchmark &bench = *benchPtr;
        info.datasetPath = bench.root;
        info.datasetHash = bench.contentHash;
        info.modelId = startIdentity(uc);
        const bool adapters = writesAdapterFolders(uc.modelFile);
        if (uc.outFile.empty()) {
            const fs::path dir = fs::path(request.storePath + ".models");
            fs::create_directories(dir);
            uc.outFile = (dir / ("run-" + std::to_string(out.runId) + (adapters ? ".adapter" : ".safetensors"))).string();
        }
        info.outputModel = uc.outFile;
        info.configJson = requestToJson(request); // resume fields are not part of it
        store.updateRun(info);

        uc.benchmark = benchPtr;
        checkMemory(uc.modelFile, uc.train, uc.method, uc.pd); // before minutes of loading
        uc.model = loadBaseModel(uc, bench);
        // The vanilla evaluation's rate (when it is made now) gives the first curve point its estimate in advance.
        phase = "the vanilla evaluation, before training (no weights written)";
        double answersPerSecond = 0; // then the rate measured at the latest curve point
        out.vanillaRunId = vanillaEvaluation(request, bench, info.modelId, [&]() -> Assistant & { return *uc.model; },
                                             onEvent, cancel, &answersPerSecond);
        info.parentId = out.vanillaRunId;
        store.updateRun(info);
        store.setStatus(out.runId, StoreStatus::Running);

        auto judge = makeJudge(request, store, storeMutex);
        se::metrics::EvalOptions curve = request.eval;
        curve.subsetPerSet = request.curveSubset;
        curve.greedy = request.curveGreedy;

        std::vector<se::store::StepRecord> pending;
        auto flushSteps = [&] {
            if (!pending.empty()) {
                store.addSteps(out.runId, pending);
                pending.clear();
            }
        };
        ProgressFn progress = [&](const Progress &p) {
            pending.push_back({p.step, p.epoch, p.lr, p.elapsedSeconds, p.losses});
            if (pending.size() >= 20)
                flushSteps();
            RunEvent e;
            e.kind = RunEvent::Kind::Progress;
            e.runId = out.runId;
            e.step = p.step;
            e.progress = p;
            emit(e);
        };
        if (request.evalEvery > 0) {
            uc.checkpointEvery = request.evalEvery;
            uc.onCheckpoint = [&](int step, const std::string &, Assistant &live) {
                flushSteps();
                const auto te = std::chrono::steady_clock::now();
                auto r = evaluateModel(live, bench, curve, *judge, "step", step, cancel,
                                       evalEvents(onEvent, out.runId, "step", step), answersPerSecond);
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
                if (s > 0 && !r.answers.empty())
                    answersPerSecond = double(r.answers.size()) / s;
                store.addEvaluation(out.runId, r.metrics, r.answers);
                RunEvent e;
                e.kind = RunEvent::Kind::Evaluated;
                e.runId = out.runId;
                e.step = step;
                e.metrics = r.metrics;
                emit(e);
            };
        }
        phase = "training";
        const RunResult rr = unlearn(uc, progress, cancel);
        phase = "the final evaluation (the trained weights are in " + uc.outFile + ")";
        flushSteps();
        if (rr.status == se::engine::RunStatus::Cancelled)
            return finish(StoreStatus::Cancelled, "cancelled after " + std::to_string(rr.steps) +
                                                    " steps; the weights of the last step are in " + uc.outFile);
        if (rr.status == se::engine::RunStatus::Diverged)
            return finish(StoreStatus::Failed, "diverged: " + rr.message + "; the last good weights are in " + uc.outFile);
        if (rr.status == se::engine::RunStatus::Failed)
            return finish(StoreStatus::Failed, rr.message);

        auto final = evaluateModel(*rr.model, bench, request.eval, *judge, "final", rr.steps, cancel,
                                   evalEvents(onEvent, out.runId, "final", rr.steps), answersPerSecond);
        store.addEvaluation(out.runId, final.metrics, final.answers);
        {
            RunEvent e;
            e.kind = RunEvent::Kind::Evaluated;
            e.runId = out.runId;
            e.step = rr.steps;
            e.metrics = final.metrics;
            emit(e);
        }
        return finish(StoreStatus::Finished, "");
    } catch (const Cancelled &) {
        return finish(StoreStatus::Cancelled, "cancelled during " + phase);
    } catch (const std::exception &e) {
        return finish(StoreStatus::Failed, (phase == "training" ? std::string() : "during " + phase + ": ") + e.what());
    }
}

// ---- configuration as JSON ---------------------------------------------------------------------------------

std::string requestToJson(const RunRequest &r)
{
    const UnlearnConfig &u = r.unlearn;
    const TrainOptions &t = u.train;
    json w = json::object();
    if (u.weights.forget)
        w["forget"] = *u.weights.forget;
    if (u.weights.retain)
        w["retain"] = *u.weights.retain;
    if (u.weights.kl)
        w["kl"] = *u.weights.kl;
    if (u.weights.pd)
        w["pd"] = *u.weights.pd;
    if (u.weights.beta)
        w["beta"] = *u.weights.beta;
    const auto resolved = se::unlearn::resolveWeights(u.method, u.pd, u.weights);
    json j = {
        {"name", r.name},
        {"data", u.dataDir},
        {"model", u.modelFile},
        {"adapter", u.adapter},
        {"out", u.outFile},
        {"system_prompt", u.systemPrompt},
        {"method", se::unlearn::methodName(u.method)},
        {"pd", u.pd},
        {"weights", w},
        {"resolved_weights",
         {{"forget", resolved.forget}, {"retain", resolved.retain}, {"kl", resolved.kl}, {"pd", resolved.pd},
          {"beta", resolved.beta}}},
        {"train",
         {{"lr", t.lr},
          {"weight_decay", t.weightDecay},
          {"warmup_ratio", t.warmupRatio},
          {"clip_norm", t.clipNorm},
          {"batch_size", t.batchSize},
          {"grad_accum", t.gradAccum},
          {"steps", t.steps},
          {"epochs", t.epochs},
          {"seed", t.seed},
          {"device", t.device},
          {"bf16", t.bf16},
          {"images", t.imagesFile},
          {"progress_every", t.progressEvery},
          {"lora_rank", t.loraRank},
          {"lora_alpha", t.loraAlpha},
          {"lora_dropout", t.loraDropout},
          {"lora_targets", t.loraTargets},
          {"checkpoint_layers", t.checkpointLayers}}},
        {"eval",
         {{"greedy", r.eval.greedy},
          {"temperature", r.eval.temperature},
          {"top_p", r.eval.topP},
          {"samples", r.eval.harmfulSamples},
          {"seed", r.eval.seed},
          {"subset", r.eval.subsetPerSet},
          {"train", r.eval.train},
          {"val", r.eval.val},
          {"max_new_tokens", r.eval.maxNewTokens}}},
        {"eval_every", r.evalEvery},
        {"curve_subset", r.curveSubset},
        {"curve_greedy", r.curveGreedy},
        {"judge", r.judge},
        {"llm",
         {{"base_url", r.llm.baseUrl},
          {"model", r.llm.model},
          {"api_key_env", r.llm.apiKeyEnv},
          {"allow_http_key", r.llm.allowKeyOverHttp},
          {"timeout", r.llm.timeoutSeconds},
          {"retries", r.llm.retries},
          {"concurrency", r.llm.concurrency}}},
        {"refusal_phrases", r.refusalPhrasesFile},
        {"store", r.storePath}};
    return j.dump(2);
}

namespace {

// Reads keys of one JSON object into fields, refusing unknown keys and wrong types with the key's path.
class Reader
{
public:
    Reader(const json &obj, std::string path) : m_obj(obj), m_path(std::move(path))
    {
        if (!obj.is_object())
            throw std::runtime_error(where("") + "expected an object");
    }
    template <typename T>
    void get(const char *key, T &out)
    {
        m_known.push_back(key);
        auto it = m_obj.find(key);
        if (it == m_obj.end() || it->is_null())
            return;
        try {
            if constexpr (std::is_same_v<T, bool>) {
                if (!it->is_boolean())
                    throw std::runtime_error("expected true or false");
            } else if constexpr (std::is_arithmetic_v<T>) {
                if (!it->is_number())
                    throw std::runtime_error("expected a number");
                if constexpr (std::is_integral_v<T>) {
                    if (!it->is_number_integer() && !it->is_number_unsigned())
                        throw std::runtime_error("expected a whole number");
                    // No silent wrap-around: the value must fit the setting's type.
                    const bool fits = it->is_number_unsigned()
                                          ? it->template get<unsigned long long>()
                                                <= static_cast<unsigned long long>(std::numeric_limits<T>::max())
                                          : it->template get<long long>() >= static_cast<long long>(std::numeric_limits<T>::min())
                                                && (std::is_unsigned_v<T> || it->template get<long long>()
                                                        <= static_cast<long long>(std::numeric_limits<T>::max()));
                    if (!fits)
                        throw std::runtime_error(std::string(std::is_unsigned_v<T> && it->is_number_integer()
                                                                     && it->template get<long long>() < 0
                                                                 ? "expected a non-negative number"
                                                                 : "out of range for this setting"));
                } else if constexpr (std::is_floating_point_v<T>) {
                    if (!std::isfinite(it->template get<double>()))
                        throw std::runtime_error("expected a finite number");
                }
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (!it->is_string())
                    throw std::runtime_error("expected a string");
            }
            out = it->template get<T>();
        } catch (const std::exception &e) {
            throw std::runtime_error(where(key) + e.what() + ", found " + it->dump());
        }
    }
    void optionalDouble(const char *key, std::optional<double> &out)
    {
        double v = 0;
        m_known.push_back(key);
        if (m_obj.contains(key) && !m_obj[key].is_null()) {
            m_known.pop_back();
            get(key, v);
            out = v;
        }
    }
    Reader child(const char *key)
    {
        m_known.push_back(key);
        auto it = m_obj.find(key);
        static const json empty = json::object();
        return Reader(it == m_obj.end() || it->is_null() ? empty : *it, m_path + key + ".");
    }
    void finish() const
    {
        for (auto it = m_obj.begin(); it != m_obj.end(); ++it)
            if (std::find(m_known.begin(), m_known.end(), it.key()) == m_known.end())
                throw std::runtime_error(where(it.key()) + "unknown setting");
    }

private:
    std::string where(const std::string &key) const { return "run configuration: " + m_path + key + ": "; }
    const json &m_obj;
    std::string m_path;
    std::vector<std::string> m_known;
};

} // namespace

RunRequest requestFromJson(const std::string &text, RunRequest r)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error &e) {
        throw std::runtime_error(std::string("run configuration: invalid JSON at byte ") + std::to_string(e.byte));
    }
    Reader top(j, "");
    UnlearnConfig &u = r.unlearn;
    top.get("name", r.name);
    top.get("data", u.dataDir);
    top.get("model", u.modelFile);
    top.get("adapter", u.adapter);
    top.get("out", u.outFile);
    top.get("system_prompt", u.systemPrompt);
    std::string method = se::unlearn::methodName(u.method);
    top.get("method", method);
    const auto m = se::unlearn::parseMethod(method);
    if (!m)
        throw std::runtime_error("run configuration: method: unknown method \"" + method +
                                 "\" (ga, gd, kl, po, npo, dpo)");
    u.method = *m;
    top.get("pd", u.pd);
    {
        Reader w = top.child("weights");
        w.optionalDouble("forget", u.weights.forget);
        w.optionalDouble("retain", u.weights.retain);
        w.optionalDouble("kl", u.weights.kl);
        w.optionalDouble("pd", u.weights.pd);
        w.optionalDouble("beta", u.weights.beta);
        w.finish();
    }
    {
        Reader ignored = top.child("resolved_weights"); // written for the record; recomputed from the above
        (void)ignored;
    }
    {
        Reader t = top.child("train");
        TrainOptions &o = u.train;
        t.get("lr", o.lr);
        t.get("weight_decay", o.weightDecay);
        t.get("warmup_ratio", o.warmupRatio);
        t.get("clip_norm", o.clipNorm);
        t.get("batch_size", o.batchSize);
        t.get("grad_accum", o.gradAccum);
        t.get("steps", o.steps);
        t.get("epochs", o.epochs);
        t.get("seed", o.seed);
        t.get("device", o.device);
        t.get("bf16", o.bf16);
        t.get("images", o.imagesFile);
        t.get("progress_every", o.progressEvery);
        t.get("lora_rank", o.loraRank);
        t.get("lora_alpha", o.loraAlpha);
        t.get("lora_dropout", o.loraDropout);
        t.get("lora_targets", o.loraTargets);
        t.get("checkpoint_layers", o.checkpointLayers);
        t.finish();
    }
    {
        Reader e = top.child("eval");
        e.get("greedy", r.eval.greedy);
        e.get("temperature", r.eval.temperature);
        e.get("top_p", r.eval.topP);
        e.get("samples", r.eval.harmfulSamples);
        e.get("seed", r.eval.seed);
        e.get("subset", r.eval.subsetPerSet);
        e.get("train", r.eval.train);
        e.get("val", r.eval.val);
        e.get("max_new_tokens", r.eval.maxNewTokens);
        e.finish();
    }
    top.get("eval_every", r.evalEvery);
    top.get("curve_subset", r.curveSubset);
    top.get("curve_greedy", r.curveGreedy);
    top.get("judge", r.judge);
    {
        Reader l = top.child("llm");
        l.get("base_url", r.llm.baseUrl);
        l.get("model", r.llm.model);
        l.get("api_key_env", r.llm.apiKeyEnv);
        l.get("allow_http_key", r.llm.allowKeyOverHttp);
        l.get("timeout", r.llm.timeoutSeconds);
        l.get("retries", r.llm.retries);
        l.get("concurrency", r.llm.concurrency);
        l.finish();
    }
    top.get("refusal_phrases", r.refusalPhrasesFile);
    top.get("store", r.storePath);
    top.finish();
    // Counts, rates and probabilities: what each may be, named by key.
    auto need = [](bool ok, const char *key, const char *rule, double value) {
        if (!ok) {
            std::ostringstream v;
            v << value;
            throw std::runtime_error(std::string("run configuration: ") + key + ": " + rule + ", found " + v.str());
        }
    };
    const TrainOptions &t = u.train;
    need(t.lr > 0, "train.lr", "must be more than 0", t.lr);
    need(t.weightDecay >= 0, "train.weight_decay", "must be 0 or more", t.weightDecay);
    need(t.warmupRatio >= 0 && t.warmupRatio < 1, "train.warmup_ratio", "must be in [0, 1)", t.warmupRatio);
    need(t.clipNorm >= 0, "train.clip_norm", "must be 0 (off) or more", t.clipNorm);
    need(t.batchSize >= 1, "train.batch_size", "must be at least 1", t.batchSize);
    need(t.gradAccum >= 1, "train.grad_accum", "must be at least 1", t.gradAccum);
    need(t.steps >= 0, "train.steps", "must be 0 (use epochs) or more", t.steps);
    need(t.epochs >= 0, "train.epochs", "must be 0 or more", t.epochs);
    need(t.steps > 0 || t.epochs > 0, "train.steps", "must be more than 0 when epochs is 0", t.steps);
    need(t.progressEvery >= 1, "train.progress_every", "must be at least 1", t.progressEvery);
    need(t.loraRank >= 0 && t.loraRank <= 65536, "train.lora_rank", "must be 0 (the model's default) to 65536", t.loraRank);
    need(t.loraAlpha > 0, "train.lora_alpha", "must be more than 0", t.loraAlpha);
    need(t.loraDropout >= 0 && t.loraDropout < 1, "train.lora_dropout", "must be in [0, 1)", t.loraDropout);
    if (!r.eval.greedy) {
        need(r.eval.temperature > 0, "eval.temperature", "must be more than 0 (greedy: true for greedy decoding)",
             r.eval.temperature);
        need(r.eval.topP > 0 && r.eval.topP <= 1, "eval.top_p", "must be in (0, 1]", r.eval.topP);
    }
    need(r.eval.harmfulSamples >= 1, "eval.samples", "must be at least 1", r.eval.harmfulSamples);
    need(r.eval.subsetPerSet >= 0, "eval.subset", "must be 0 (all) or more", r.eval.subsetPerSet);
    need(r.curveSubset >= 1, "curve_subset", "must be at least 1", r.curveSubset);
    need(r.llm.timeoutSeconds > 0, "llm.timeout", "must be more than 0 seconds", r.llm.timeoutSeconds);
    need(r.llm.retries >= 0, "llm.retries", "must be 0 or more", r.llm.retries);
    need(r.llm.concurrency >= 1, "llm.concurrency", "must be at least 1", r.llm.concurrency);
    for (const auto &[key, w] : {std::pair<const char *, const std::optional<double> &>{"weights.forget", u.weights.forget},
                                 {"weights.retain", u.weights.retain}, {"weights.kl", u.weights.kl},
                                 {"weights.pd", u.weights.pd}})
        if (w)
            need(*w >= 0, key, "must be 0 or more", *w);
    if (u.weights.beta)
        need(*u.weights.beta > 0, "weights.beta", "must be more than 0", *u.weights.beta);
    try {
        se::metrics::checkApiKeyVariable(r.llm.apiKeyEnv);
    } catch (const std::invalid_argument &e) {
        throw std::runtime_error(std::string("run configuration: llm.api_key_env: ") + e.what());
    }
    if (r.judge != "offline" && r.judge != "llm")
        throw std::runtime_error("run configuration: judge: expected \"offline\" or \"llm\", found \"" + r.judge + "\"");
    if (r.evalEvery < 0)
        throw std::runtime_error("run configuration: eval_every: must be 0 or more");
    if (r.eval.maxNewTokens < 0 || r.eval.maxNewTokens > 100000)
        throw std::runtime_error("run configuration: eval.max_new_tokens: must be 0 (the model's) to 100000");
    return r;
}

} // namespace se::engine
