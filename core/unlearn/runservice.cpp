// A whole unlearning run recorded in the run store (see runservice.h).
#include "core/util/defaults.h"
#include "core/unlearn/runservice.h"
#include "core/unlearn/dataparallel.h"
#include "core/util/profile.h"
#include "core/data/pathguard.h"

#include "core/data/sha256.h"
#include "core/store/audit.h"
#include "core/store/runstore.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <cmath>
#include <optional>
#include <filesystem>
#include <thread>
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

} // namespace

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
    return se::data::sha256File(path, "model");
}

namespace {

se::metrics::RefusalDetector refusalDetector(const RunRequest &r)
{
    return r.refusalPhrasesFile.empty() ? se::metrics::RefusalDetector()
                                        : se::metrics::RefusalDetector::fromFile(r.refusalPhrasesFile);
}

std::unique_ptr<se::metrics::Judge> makeJudge(const RunRequest &r, se::store::RunStore &store, std::mutex &storeMutex)
{
    return se::store::makeJudge(r.judge, r.llm, r.refusalPhrasesFile, store, storeMutex);
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
    std::optional<se::profile::Phase> phase;
    phase.emplace("evaluate " + stage + ": generate");
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
    // Parts of 64 answers, fewer where their KV cache would not fit beside a large model's weights.
    const std::size_t part = std::size_t(assistant.fitBatch(64, o.maxNewTokens));
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
            // Generated in parts of one batch with progress after each: the first part's time gives the
            // estimate of the whole. The same answers as one call over the chunk (each batch's seed is the chunk's
            // plus its offset either way).
            std::size_t from = 0;
            std::vector<std::string> got;
            while (from < qs.size()) {
                if (cancel && cancel->cancelled())
                    throw Cancelled();
                const std::size_t to = std::min(qs.size(), from + part);
                std::vector<std::pair<std::string, std::string>> sub(qs.begin() + std::ptrdiff_t(from),
                                                                     qs.begin() + std::ptrdiff_t(to));
                AskOptions partAsk = ask;
                partAsk.seed = ask.seed + from;
                for (auto &a : assistant.askMany(sub, partAsk, int(part)))
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
    phase.reset();
    se::profile::Phase judging("evaluate " + stage + ": judge");
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
    json j = {
        {"greedy", o.greedy}, {"temperature", o.temperature},    {"top_p", o.topP},  {"samples", o.harmfulSamples},
        {"seed", o.seed},     {"subset", o.subsetPerSet},        {"train", o.train}, {"val", o.val},
        {"judge", r.judge},   {"refusals", r.refusalPhrasesFile}};
    if (r.judge == "llm")
        j["llm"] = r.llm.model + "@" + r.llm.baseUrl;
    if (o.maxNewTokens > 0)
        j["max_new_tokens"] = o.maxNewTokens;
    if (!r.unlearn.systemPrompt.empty()) // it changes every prompt, so every answer
        j["system_prompt"] = r.unlearn.systemPrompt;
    return j.dump();
}

// A vanilla evaluation's configuration: what it evaluated (the model, its adapter), the key its reuse is looked up by,
// the request it was made with (its judge, so that the audit and the probe judge as it did) and, once measured, its
// answers per second.
std::string vanillaConfig(const RunRequest &request, const std::string &key, double answersPerSecond)
{
    json j = {{"eval_key", key},
              {"model", request.unlearn.modelFile},
              {"adapter", request.unlearn.adapter},
              {"request", json::parse(requestToJson(request))}};
    if (answersPerSecond > 0)
        j["answers_per_second"] = answersPerSecond;
    return j.dump();
}

std::string refusalJson(const RunRequest &r)
{
    return json(refusalDetector(r).phrases()).dump();
}

se::data::Benchmark readBenchmarkTimed(const std::string &dir)
{
    se::profile::Phase phase("benchmark reading");
    return se::data::readBenchmark(dir);
}

// The base model as a run loads it (once): on the run's device, with its images file and system prompt, the load's
// progress as run events (kind Loading: progress.step MiB read of totalSteps), stopped by the run's cancel token.
std::shared_ptr<Assistant> loadBaseModel(const UnlearnConfig &uc, const se::data::Benchmark &bench,
                                         const RunEventFn &onEvent = {}, std::int64_t runId = 0,
                                         const CancelToken *cancel = nullptr)
{
    se::profile::Phase phase("model loading");
    ModelOptions mo;
    mo.adapter = uc.adapter;
    mo.imagesFile = uc.train.imagesFile;
    mo.device = uc.train.device;
    mo.systemPrompt = uc.systemPrompt;
    mo.datasetRoot = bench.root;
    mo.memoryCheck = uc.train.memoryCheck; // the run's own plan was checked already; --no-memory-check covers both
    const auto t0 = std::chrono::steady_clock::now();
    mo.loadProgress = [&](std::uint64_t done, std::uint64_t total) {
        if (onEvent) {
            RunEvent e;
            e.kind = RunEvent::Kind::Loading;
            e.runId = runId;
            e.progress.phase = "load";
            e.progress.step = int(done >> 20);
            e.progress.totalSteps = int(total >> 20);
            e.progress.elapsedSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            onEvent(e);
        }
        return !(cancel && cancel->cancelled());
    };
    try {
        return std::make_shared<Assistant>(uc.modelFile, mo);
    } catch (const LoadCancelledError &) {
        throw Cancelled();
    }
}

// What a run starts from: the model, and the adapter folded into it (an adapter's evaluation is its own).
std::string startIdentity(const UnlearnConfig &uc)
{
    return modelIdentity(uc.modelFile) + (uc.adapter.empty() ? std::string() : "+adapter:" + modelIdentity(uc.adapter));
}

// ensureVanillaEvaluation on a benchmark and model identity the caller has; `model` loads the base model only when
// no stored evaluation can be reused. `answersPerSecond` (when given) receives the rate of an evaluation made now.
std::int64_t vanillaEvaluation(const RunRequest &request, const se::data::Benchmark &bench,
                               const std::string &modelHash, const std::function<Assistant &()> &model,
                               const RunEventFn &onEvent, const CancelToken *cancel, double *answersPerSecond = nullptr)
{
    se::store::RunStore store(request.storePath);
    const std::string key = evalKey(request);
    auto sameEvaluation = [&](const se::store::RunInfo &r) {
        if (r.method != "vanilla" || r.modelId != modelHash || r.datasetHash != bench.contentHash)
            return false;
        const auto cfg = json::parse(r.configJson, nullptr, false);
        return cfg.is_object() && cfg.contains("eval_key") && cfg["eval_key"].is_string() && cfg["eval_key"] == key;
    };
    auto announce = [&](std::int64_t id, const std::string &message) {
        if (onEvent) {
            RunEvent e;
            e.kind = RunEvent::Kind::VanillaEvaluated;
            e.vanillaRunId = id;
            e.message = message;
            onEvent(e);
        }
    };
    double priorRate = 0; // answers/s of this model's latest evaluation here: the estimate before one starts
    for (const auto &r : store.runs()) {
        if (r.method != "vanilla" || r.status != StoreStatus::Finished || r.modelId != modelHash)
            continue;
        const auto cfg = json::parse(r.configJson, nullptr, false);
        if (cfg.is_object() && cfg.contains("answers_per_second") && cfg["answers_per_second"].is_number())
            priorRate = cfg["answers_per_second"].get<double>(); // runs() lists oldest first
        if (sameEvaluation(r)) {
            announce(r.id, "reused");
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
    info.configJson = vanillaConfig(request, key, 0);
    // Two runs started together on one store (two processes, two tabs) would each evaluate the model: each claims
    // the evaluation with a run of its own, and the lowest claim still alive makes it while the others wait for it
    // and reuse it — or claim again if it failed, was cancelled or its process died.
    std::int64_t id = 0;
    for (;;) {
        id = store.createRun(info);
        store.setStatus(id, StoreStatus::Running);
        std::int64_t first = 0;
        for (const auto &r : store.runs())
            if (r.id < id && sameEvaluation(r) &&
                (r.status == StoreStatus::Running || r.status == StoreStatus::Queued ||
                 r.status == StoreStatus::Finished)) {
                first = r.id;
                break;
            }
        if (first == 0)
            break;
        store.deleteRun(id);
        announce(first, "waiting");
        for (;;) {
            const auto r = store.run(first);
            if (r && r->status == StoreStatus::Finished) {
                announce(first, "reused");
                return first;
            }
            if (!r ||
                (r->status != StoreStatus::Running && r->status != StoreStatus::Queued)) // ended otherwise: claim again
                break;
            if (cancel && cancel->cancelled())
                throw Cancelled();
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    }
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
            now.configJson = vanillaConfig(request, key, rate);
            store.updateRun(now);
        }
        {
            se::profile::Phase phase("store writes");
            store.addEvaluation(id, result.metrics, result.answers);
        }
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
    const auto bench = readBenchmarkTimed(request.unlearn.dataDir);
    std::shared_ptr<Assistant> loaded;
    auto model = [&]() -> Assistant & {
        if (!loaded)
            loaded = loadBaseModel(request.unlearn, bench, onEvent, 0, cancel);
        return *loaded;
    };
    return vanillaEvaluation(request, bench, startIdentity(request.unlearn), model, onEvent, cancel);
}

// A data-parallel rank other than 0: the same inputs as rank 0, its share of every step, nothing written (rank 0
// records the run). It meets rank 0 before training and after each curve evaluation (checkpointEvery).
RunOutcome executeShare(const RunRequest &request, const RunEventFn &onEvent, const CancelToken *cancel)
{
    const auto t0 = std::chrono::steady_clock::now();
    UnlearnConfig uc = request.unlearn;
    const auto benchPtr = std::make_shared<const se::data::Benchmark>(readBenchmarkTimed(uc.dataDir));
    uc.benchmark = benchPtr;
    checkMemory(uc.modelFile, uc.train, uc.method, uc.pd);
    uc.model = loadBaseModel(uc, *benchPtr, onEvent, 0, cancel);
    uc.checkpointEvery = request.evalEvery;
    uc.onCheckpoint = {};
    uc.outFile.clear();
    ProgressFn progress = [&](const Progress &p) {
        if (!onEvent)
            return;
        RunEvent e;
        e.kind = RunEvent::Kind::Progress;
        e.step = p.step;
        e.progress = p;
        onEvent(e);
    };
    const RunResult rr = unlearn(uc, progress, cancel);
    RunOutcome out;
    out.status = rr.status;
    out.message = rr.message;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (onEvent) {
        RunEvent e;
        e.kind = RunEvent::Kind::Finished;
        e.status = out.status;
        e.message = out.message;
        onEvent(e);
    }
    return out;
}

RunOutcome executeRun(const RunRequest &requestIn, const RunEventFn &onEvent, const CancelToken *cancel)
{
    if (se::unlearn::DataParallel::current() && requestIn.resumeRun)
        throw std::runtime_error("a run cannot be resumed data-parallel (the other ranks have no store to resume "
                                 "from); resume it in one process");
    if (se::unlearn::quietRank())
        return executeShare(requestIn, onEvent, cancel);
    const auto t0 = std::chrono::steady_clock::now();
    RunRequest request = requestIn;
    UnlearnConfig &uc = request.unlearn;
    // Before the store is opened: a run's output may not be its store (or any input; unlearn() checks those too).
    se::data::refuseWritingOverInputs("the output", uc.outFile,
                                      {{"run store", request.storePath},
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
            throw std::runtime_error("run " + std::to_string(id) + " trained " +
                                     std::to_string(store.steps(id).size()) +
                                     " steps but left no checkpoint to resume from (" + checkpoint +
                                     "); runs write one every eval_every steps");
        } // else: stopped before its first step (during the vanilla evaluation): it starts from the beginning
        store.truncateRun(id, step);
        out.runId = id;
        info = *prev;
        info.message =
            step > 0 ? "resumed from step " + std::to_string(step) : "restarted (it stopped before training)";
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
        const auto benchPtr = std::make_shared<const se::data::Benchmark>(readBenchmarkTimed(uc.dataDir));
        const se::data::Benchmark &bench = *benchPtr;
        info.datasetPath = bench.root;
        info.datasetHash = bench.contentHash;
        info.modelId = startIdentity(uc);
        const bool adapters = writesAdapterFolders(uc.modelFile);
        if (uc.outFile.empty()) {
            const fs::path dir = fs::path(se::runModelsDir(request.storePath));
            fs::create_directories(dir);
            uc.outFile =
                (dir / ("run-" + std::to_string(out.runId) + (adapters ? ".adapter" : ".safetensors"))).string();
        }
        info.outputModel = uc.outFile;
        info.configJson = requestToJson(request); // resume fields are not part of it
        store.updateRun(info);

        uc.benchmark = benchPtr;
        checkMemory(uc.modelFile, uc.train, uc.method, uc.pd); // before minutes of loading
        uc.model = loadBaseModel(uc, bench, emit, out.runId, cancel);
        // The vanilla evaluation's rate (when it is made now) gives the first curve point its estimate in advance.
        phase = "the vanilla evaluation, before training (no weights written)";
        double answersPerSecond = 0; // then the rate measured at the latest curve point
        out.vanillaRunId = vanillaEvaluation(
            request, bench, info.modelId, [&]() -> Assistant & { return *uc.model; }, onEvent, cancel,
            &answersPerSecond);
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
                se::profile::Phase phase("store writes");
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
                se::profile::Phase phase("store writes");
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
        {
            std::error_code ec;
            if (fs::exists(uc.outFile, ec)) // what the audit checks the weights against later
                store.setOutputHash(out.runId, modelIdentity(uc.outFile));
        }
        phase = "the final evaluation (the trained weights are in " + uc.outFile + ")";
        flushSteps();
        if (rr.status == se::engine::RunStatus::Cancelled)
            return finish(StoreStatus::Cancelled, "cancelled after " + std::to_string(rr.steps) +
                                                      " steps; the weights of the last step are in " + uc.outFile);
        if (rr.status == se::engine::RunStatus::Diverged)
            return finish(StoreStatus::Failed,
                          "diverged: " + rr.message + "; the last good weights are in " + uc.outFile);
        if (rr.status == se::engine::RunStatus::Failed)
            return finish(StoreStatus::Failed, rr.message);

        auto final = evaluateModel(*rr.model, bench, request.eval, *judge, "final", rr.steps, cancel,
                                   evalEvents(onEvent, out.runId, "final", rr.steps), answersPerSecond);
        {
            se::profile::Phase phase("store writes");
            store.addEvaluation(out.runId, final.metrics, final.answers);
        }
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

} // namespace se::engine
