// `safeeraser run`, `evaluate` and `reproduce`: unlearning runs recorded in the run store, headless.
#include "app/cli/commands.h"
#include "core/util/defaults.h"
#include "core/util/text.h"
#include "app/cli/runjobs.h"
#include "app/cli/slurmsweep.h"
#include "core/store/report.h"
#include "core/util/profile.h"
#include "core/util/rendezvous.h"
#include "core/store/runstore.h"
#include "core/unlearn/robustness.h"
#include "core/unlearn/runservice.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace se::cli {
namespace {

using se::engine::CancelToken;
using se::engine::RunEvent;
using se::engine::RunRequest;

// Ctrl-C asks the run to stop after the current step; a second Ctrl-C ends the process at once.
CancelToken g_cancel;
std::atomic<int> g_interrupts{0};
extern "C" void onInterrupt(int)
{
    if (g_interrupts.fetch_add(1) > 0)
        _exit(130);
    g_cancel.cancel();
    const char msg[] = "\nsafeeraser: stopping after this step (Ctrl-C again to quit at once)\n";
    (void)!write(2, msg, sizeof msg - 1);
}

struct InterruptGuard {
    void (*previous)(int);
    InterruptGuard() { previous = std::signal(SIGINT, onInterrupt); }
    ~InterruptGuard() { std::signal(SIGINT, previous); }
};

// The flags every command here shares. Set flags override the configuration file.
struct RunFlags {
    std::string store, config, data, model, method, name, out, device, images, preset, systemPrompt, adapter;
    JudgeFlags judge;
    bool pd = false, greedy = false, quiet = false, noMemoryCheck = false, checkpointLayers = false, profile = false;
    std::optional<double> pdWeight, forgetWeight, retainWeight, klWeight, beta, gamma, lr, epochs, loraAlpha,
        loraDropout;
    std::string loraTargets;
    std::optional<int> steps, loraRank, batch, gradAccum, evalEvery, samples, subset, maxNewTokens, curveSubset;
    std::optional<std::uint64_t> seed;
    std::int64_t resume = 0;
    int threads = 0, generationThreads = 0;
    int distTimeout = 600;
};

void addRunFlags(CLI::App *c, RunFlags &f, bool withMethod)
{
    c->add_option("--store", f.store, "Run store (SQLite file; created if missing)")->required();
    c->add_option("--data", f.data, "Benchmark folder (official layout)");
    c->add_option("--model", f.model,
                  "The model to start from: a built-in checkpoint (.safetensors) or a Hugging "
                  "Face LLaVA-1.5 or Qwen2-VL folder");
    c->add_option("--system-prompt", f.systemPrompt,
                  "LLaVA: a sentence before \"USER:\"; Qwen2-VL: the system prompt (recorded with the run)");
    c->add_option("--adapter", f.adapter,
                  "A PEFT adapter folder folded into --model (a Hugging Face folder): the "
                  "run or evaluation is of model + adapter; a run writes the two stacked as "
                  "one adapter of --model");
    c->add_option("--config", f.config, "Run configuration JSON (every setting; flags override it)")
        ->check(CLI::ExistingFile);
    if (withMethod) {
        c->add_option("--method", f.method, se::unlearn::methodNamesText())
            ->check(CLI::IsMember(se::unlearn::methodNames(), CLI::ignore_case));
        c->add_flag("--pd", f.pd, "Add the Prompt Decouple loss");
        c->add_option("--pd-weight", f.pdWeight, "Weight of L_PD (default per SPEC §3)");
        c->add_option("--forget-weight", f.forgetWeight, "Weight of the forget term");
        c->add_option("--retain-weight", f.retainWeight, "Weight of NLL(retain)");
        c->add_option("--kl-weight", f.klWeight, "Weight of the KL term");
        c->add_option("--beta", f.beta, "β of NPO and DPO (default 0.1) and SimNPO (default 2.5)");
        c->add_option("--gamma", f.gamma, "γ, SimNPO's margin (default 0)");
        c->add_option("--preset", f.preset,
                      "Training settings to start from: default, or paper (the official "
                      "SafeEraser optimisation: lr 1e-4, 10 epochs, cosine, 6% warm-up, "
                      "effective batch 32 = 4 × 8); flags override them")
            ->check(CLI::IsMember({"default", "paper"}));
        c->add_option("--lr", f.lr, "Learning rate");
        c->add_option("--steps", f.steps, "Optimiser steps");
        c->add_option("--epochs", f.epochs, "Epochs over the forget set (when --steps is not given)");
        c->add_option("--batch", f.batch, "Batch size (micro-batch when --grad-accum > 1)");
        c->add_option("--grad-accum", f.gradAccum, "Micro-batches per optimiser step")->check(CLI::Range(1, 65536));
        c->add_flag("--checkpoint-layers", f.checkpointLayers,
                    "Activation checkpointing per decoder layer (LLaVA, Qwen2-VL): "
                    "much less memory, about a third more compute");
        c->add_flag("--no-memory-check", f.noMemoryCheck,
                    "Start even when the memory plan says the model cannot "
                    "fit on the device");
        c->add_option("--lora-rank", f.loraRank,
                      "LoRA rank (0: full fine-tuning of the built-in model; Hugging Face models: r 32, alpha 256)");
        c->add_option("--lora-alpha", f.loraAlpha, "LoRA alpha (with --lora-rank)");
        c->add_option("--lora-dropout", f.loraDropout, "LoRA dropout (with --lora-rank)")->check(CLI::Range(0.0, 0.99));
        c->add_option("--lora-targets", f.loraTargets,
                      "Comma-separated modules to adapt: q,k,v,o,fc1,fc2,projector "
                      "(built-in) or q_proj,…,down_proj,linear_1,linear_2 (LLaVA)");
        c->add_option("--eval-every", f.evalEvery, "Steps between curve evaluations (0: none)");
        c->add_option("--curve-subset", f.curveSubset,
                      "Questions per split and set at each curve point (default 16; "
                      "--subset is the final evaluation's)")
            ->check(CLI::Range(1, 100000000));
        c->add_option("--out", f.out, "Where to write the unlearned model (default: beside the store)");
        c->add_option("--name", f.name, "A name for the run");
        c->add_option("--resume", f.resume,
                      "Resume this interrupted (or cancelled, failed) run from its last "
                      "checkpoint; its stored configuration is used");
    }
    c->add_option("--seed", f.seed, "Seed for training and evaluation");
    c->add_flag("--greedy", f.greedy, "Greedy decoding for evaluation (default: sampling, T 1.0, top-p 0.9)");
    c->add_option("--samples", f.samples, "Samples per harmful question (default 3)");
    c->add_option("--subset", f.subset, "Evaluate at most this many questions per split and set (default: all)");
    c->add_option("--max-new-tokens", f.maxNewTokens,
                  "Answer length limit in evaluations (default: the model's; "
                  "LLaVA 512 as the official inference)")
        ->check(CLI::Range(1, 100000));
    addJudgeFlags(c, f.judge);
    c->add_option("--device", f.device, "auto (CUDA when available), cpu, cuda or cuda:N");
    c->add_option("--images", f.images, "Pre-decoded images (safeeraser pack-images) instead of decoding");
    c->add_flag("--quiet", f.quiet, "No progress on stderr");
    c->add_option("--threads", f.threads, "CPU threads for OpenBLAS (0: all cores)")->check(CLI::Range(0, 1024));
    c->add_option("--generation-threads", f.generationThreads,
                  "Threads while generating answers on the CPU, at most --threads (0: one, which spins least, but "
                  "every core for a model of 1 GiB of weights or more)")
        ->check(CLI::Range(0, 1024))
        ->capture_default_str();
    c->add_flag("--profile", f.profile,
                "At the end, print to stderr where the time went: wall, user and system CPU time per phase");
}

// The thread settings of --threads and --generation-threads; with --profile, phases are timed from here, and their
// table printed to stderr when the command ends (also after an error or a cancel).
struct ThreadsAndProfile {
    bool on;
    explicit ThreadsAndProfile(const RunFlags &f) : on(f.profile)
    {
        if (f.generationThreads > 0)
            se::engine::setGenerationThreads(f.generationThreads); // before the engine starts
        const std::string threads = se::engine::configureThreads(f.threads);
        if (on) {
            std::cerr << "[profile] " << threads << "\n";
            se::profile::enable();
            se::profile::reset();
        }
    }
    ~ThreadsAndProfile()
    {
        if (on)
            std::cerr << "[profile] where the time went (CPU time is the process's, all threads):\n"
                      << se::profile::format();
    }
};

RunRequest buildRequest(const RunFlags &f)
{
    RunRequest r;
    r.unlearn.train = se::engine::UnlearnConfig::defaults();
    r.evalEvery = 10;
    if (!f.config.empty()) {
        std::ifstream in(f.config);
        std::stringstream ss;
        ss << in.rdbuf();
        r = se::engine::requestFromJson(ss.str(), r);
    }
    r.storePath = f.store;
    auto &u = r.unlearn;
    if (!f.preset.empty()) {
        const auto keep = u.train;
        u.train = se::engine::UnlearnConfig::preset(f.preset);
        u.train.device = keep.device;
        u.train.imagesFile = keep.imagesFile;
    }
    if (!f.systemPrompt.empty())
        u.systemPrompt = f.systemPrompt;
    if (!f.adapter.empty())
        u.adapter = f.adapter;
    if (f.gradAccum)
        u.train.gradAccum = *f.gradAccum;
    if (f.noMemoryCheck)
        u.train.memoryCheck = false;
    if (f.checkpointLayers)
        u.train.checkpointLayers = true;
    if (!f.data.empty())
        u.dataDir = f.data;
    if (!f.model.empty())
        u.modelFile = f.model;
    if (!f.method.empty())
        u.method = *se::unlearn::parseMethod(f.method);
    if (f.pd)
        u.pd = true;
    if (f.pdWeight)
        u.weights.pd = f.pdWeight;
    if (f.forgetWeight)
        u.weights.forget = f.forgetWeight;
    if (f.retainWeight)
        u.weights.retain = f.retainWeight;
    if (f.klWeight)
        u.weights.kl = f.klWeight;
    if (f.beta)
        u.weights.beta = f.beta;
    if (f.gamma)
        u.weights.gamma = f.gamma;
    if (f.lr)
        u.train.lr = *f.lr;
    if (f.steps)
        u.train.steps = *f.steps;
    if (f.epochs) {
        u.train.epochs = *f.epochs;
        if (!f.steps)
            u.train.steps = 0;
    }
    if (f.batch)
        u.train.batchSize = *f.batch;
    if (f.loraRank)
        u.train.loraRank = *f.loraRank;
    if (f.loraAlpha)
        u.train.loraAlpha = *f.loraAlpha;
    if (f.loraDropout)
        u.train.loraDropout = *f.loraDropout;
    if (!f.loraTargets.empty()) {
        u.train.loraTargets.clear();
        std::stringstream ss(f.loraTargets);
        for (std::string t; std::getline(ss, t, ',');)
            if (!t.empty())
                u.train.loraTargets.push_back(t);
    }
    if (f.evalEvery)
        r.evalEvery = *f.evalEvery;
    if (f.curveSubset)
        r.curveSubset = *f.curveSubset;
    if (!f.out.empty())
        u.outFile = f.out;
    if (!f.name.empty())
        r.name = f.name;
    if (f.seed) {
        u.train.seed = *f.seed;
        r.eval.seed = *f.seed;
    }
    if (f.greedy)
        r.eval.greedy = true;
    if (f.samples)
        r.eval.harmfulSamples = *f.samples;
    if (f.subset)
        r.eval.subsetPerSet = *f.subset;
    if (f.maxNewTokens)
        r.eval.maxNewTokens = *f.maxNewTokens;
    if (!f.device.empty())
        u.train.device = f.device;
    if (!f.images.empty())
        u.train.imagesFile = f.images;
    if (u.dataDir.empty())
        throw std::invalid_argument("no benchmark: give --data DIR or \"data\" in the configuration");
    if (u.modelFile.empty())
        throw std::invalid_argument("no vanilla model: give --model FILE or \"model\" in the configuration");
    applyJudgeFlags(f.judge, r.judge, r.llm, r.refusalPhrasesFile);
    return r;
}

std::string fmtLosses(const se::engine::Progress &p)
{
    std::string s;
    char b[64];
    for (const auto &[k, v] : p.losses) {
        std::snprintf(b, sizeof b, " %s %.4f", k.c_str(), v);
        s += b;
    }
    return s;
}

se::engine::RunEventFn printer(bool quiet, const std::string &label)
{
    return [quiet, label](const RunEvent &e) {
        if (quiet)
            return;
        char b[512];
        switch (e.kind) {
        case RunEvent::Kind::Created:
            std::fprintf(stderr, "[%s] run %lld created\n", label.c_str(), static_cast<long long>(e.runId));
            break;
        case RunEvent::Kind::VanillaEvaluated:
            std::fprintf(stderr, "[%s] vanilla evaluation: run %lld%s\n", label.c_str(),
                         static_cast<long long>(e.vanillaRunId),
                         e.message == "reused"    ? " (reused)"
                         : e.message == "waiting" ? " (being made by another run on this store: waiting for it)"
                                                  : "");
            break;
        case RunEvent::Kind::Progress:
            std::snprintf(b, sizeof b, "[%s] step %d/%d  lr %.2e%s  %.0f samples/s  ETA %.0f s  mem %.2f GiB",
                          label.c_str(), e.progress.step, e.progress.totalSteps, e.progress.lr,
                          fmtLosses(e.progress).c_str(), e.progress.samplesPerSecond, e.progress.etaSeconds,
                          double(e.progress.memoryInUse) / double(1 << 30));
            std::fprintf(stderr, "%s\n", b);
            break;
        case RunEvent::Kind::Evaluated: {
            std::string m;
            for (const auto &r : e.metrics)
                if (const auto *info = se::metrics::findMetric(r.name);
                    info && info->headline && r.category.empty() && r.split == "val")
                    m += " " + std::string(info->label) + " " + info->format(r.value);
            std::fprintf(stderr, "[%s] evaluation at step %d (val):%s\n", label.c_str(), e.step, m.c_str());
            break;
        }
        case RunEvent::Kind::Loading: {
            // At most a line a second, and the end of a load that printed something.
            static auto last = std::chrono::steady_clock::time_point();
            static bool printed = false;
            const auto now = std::chrono::steady_clock::now();
            const bool end = e.progress.step >= e.progress.totalSteps;
            if ((end && !printed) || (!end && now - last < std::chrono::seconds(1)))
                break;
            last = now;
            printed = !end;
            std::fprintf(stderr, "[%s] load %.1f/%.1f GiB (%.0f s)\n", label.c_str(), e.progress.step / 1024.0,
                         e.progress.totalSteps / 1024.0, e.progress.elapsedSeconds);
            break;
        }
        case RunEvent::Kind::Evaluating: {
            // At most every 5 s, and the first and last parts: the first gives the estimate of the whole.
            static auto last = std::chrono::steady_clock::time_point();
            const auto now = std::chrono::steady_clock::now();
            const bool edge = e.progress.step <= 64 || e.progress.step == e.progress.totalSteps;
            if (!edge && now - last < std::chrono::seconds(5))
                break;
            last = now;
            if (e.progress.step == 0) {
                std::fprintf(stderr, "[%s] %s: %d answers, about %.0f s (at the rate %s)\n", label.c_str(),
                             e.progress.phase.c_str(), e.progress.totalSteps, e.progress.etaSeconds,
                             e.progress.phase == "evaluate vanilla" ? "of this model's last evaluation in the store"
                                                                    : "measured earlier in this run");
                break;
            }
            std::fprintf(stderr, "[%s] %s: %d/%d answers, %.1f answers/s, ETA %.0f s\n", label.c_str(),
                         e.progress.phase.c_str(), e.progress.step, e.progress.totalSteps, e.progress.samplesPerSecond,
                         e.progress.etaSeconds);
            break;
        }
        case RunEvent::Kind::Finished:
            std::fprintf(stderr, "[%s] run %lld %s%s%s\n", label.c_str(), static_cast<long long>(e.runId),
                         se::store::statusName(e.status), e.message.empty() ? "" : ": ",
                         se::text::terminalSafe(e.message).c_str()); // a judge's or a peer's words may be in it
            break;
        }
    };
}

int exitFor(se::store::RunStatus s)
{
    return s == se::store::RunStatus::Finished ? 0 : s == se::store::RunStatus::Cancelled ? 130 : 1;
}

int runRun(const RunFlags &f)
{
    const ThreadsAndProfile setup(f);
    RunRequest r;
    if (f.resume) {
        r.storePath = f.store;
        r.resumeRun = f.resume;
        InterruptGuard guard;
        const auto out = se::engine::executeRun(r, printer(f.quiet, "run"), &g_cancel);
        std::cout << out.runId << "\n";
        return exitFor(out.status);
    }
    try {
        r = buildRequest(f);
    } catch (const std::invalid_argument &e) {
        std::cerr << "safeeraser run: " << e.what() << "\n";
        return 2;
    }
    if (!f.quiet) {
        try { // the plan the run checks before loading anything (its errors are the run's to report)
            const auto plan =
                se::engine::planMemory(r.unlearn.modelFile, r.unlearn.train, r.unlearn.method, r.unlearn.pd);
            std::cerr << "[run] memory: " << plan.describe() << "\n";
        } catch (const std::exception &) {
        }
    }
    InterruptGuard guard;
    const DataParallelScope dp(f.distTimeout);
    const auto out = se::engine::executeRun(r, printer(f.quiet, "run" + dp.label()), &g_cancel);
    if (dp.distributed() && !f.quiet)
        std::cerr << "[run" << dp.label() << "] " << dp.summary() << "\n";
    if (!dp.writes()) { // rank 0 records the run and prints its id
        if (out.status != se::store::RunStatus::Finished)
            std::cerr << "safeeraser run" << dp.label() << ": " << out.message << "\n";
        return exitFor(out.status);
    }
    std::cout << out.runId << "\n";
    return exitFor(out.status);
}

int runEvaluate(const RunFlags &f)
{
    const ThreadsAndProfile setup(f);
    RunRequest r;
    try {
        r = buildRequest(f);
    } catch (const std::invalid_argument &e) {
        std::cerr << "safeeraser evaluate: " << e.what() << "\n";
        return 2;
    }
    InterruptGuard guard;
    const auto id = se::engine::ensureVanillaEvaluation(r, printer(f.quiet, "evaluate"), &g_cancel);
    std::cout << id << "\n";
    return 0;
}

struct ReproduceFlags : RunFlags {
    std::string methods = "ga,gd,kl,po,npo,dpo";
    bool json = false;
    int jobs = int(std::max(1u, std::thread::hardware_concurrency()));
    bool slurm = false, collect = false;
    SlurmOptions slurmOptions;
};

// reproduce --collect: the submitted sweep's state, task by task; the ended runs merged in the sweep's order.
int collectReproduce(const ReproduceFlags &f)
{
    const auto s = se::store::readSubmission(f.store);
    std::string note;
    const auto states = se::store::sweepState(s, f.slurmOptions.squeue, &note);
    if (!note.empty())
        std::cerr << "[collect] " << note << "\n";
    int waiting = 0;
    for (const auto &t : states) {
        std::cerr << "[collect] " << t.label << ": " << t.state << "\n";
        waiting += !t.ended;
    }
    const int merged = se::store::collectSweep(s, states);
    se::store::RunStore store(f.store, true);
    std::cout << se::store::formatTable(se::store::summarizeRuns(store));
    std::cout << "collect: " << merged << " run" << (merged == 1 ? "" : "s") << " merged now";
    if (waiting)
        std::cout << "; " << waiting << " of " << states.size()
                  << " not ended (collect again when they have; squeue -j " << s.arrayJob << ")";
    std::cout << "\n";
    return waiting ? 1 : 0;
}

int runReproduce(ReproduceFlags f)
{
    if (f.collect)
        return collectReproduce(f);
    const ThreadsAndProfile setup(f);
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    // Started as one rank of several (srun -n N, torchrun), every rank would run the whole sweep into one store.
    if (const auto rv = se::dist::rendezvousFromEnvironment(); rv.distributed()) {
        std::cerr << "safeeraser reproduce: started as " << rv.describe()
                  << "; reproduce starts its own run processes and must run once: start it without srun -n / "
                     "torchrun, or submit the sweep with --slurm\n";
        return 2;
    }
    if (f.data.empty())
        f.data = "data/benchmark";
    if (!fs::exists(fs::path(f.data) / "all_train.json")) {
        std::cerr << "safeeraser reproduce: no benchmark at " << f.data
                  << " (generate one with `safeeraser make-benchmark --out " << f.data << "`)\n";
        return 2;
    }
    // A sweep submitted to Slurm before keeps its results in the parts this one would replace.
    if (const std::string why = se::store::uncollectedSweep(f.store, f.slurmOptions.squeue); !why.empty()) {
        std::cerr << "safeeraser reproduce: " << why << "\n";
        return 1;
    }
    InterruptGuard guard;
    if (f.model.empty()) {
        // The built-in vanilla model of this benchmark, trained once and kept beside the store.
        f.model = se::runModelsDir(f.store) + "/vanilla.safetensors";
        if (!fs::exists(f.model)) {
            fs::create_directories(fs::path(f.model).parent_path());
            std::cerr << "[reproduce] training the vanilla model into " << f.model << "\n";
            se::engine::VanillaConfig vc;
            vc.dataDir = f.data;
            vc.outFile = f.model + ".partial";
            if (f.seed)
                vc.train.seed = *f.seed;
            const auto vr = se::engine::trainVanilla(
                vc,
                [&](const se::engine::Progress &p) {
                    if (!f.quiet && (p.step % 100 == 0 || p.step == p.totalSteps))
                        std::fprintf(stderr, "[vanilla] step %d/%d%s ETA %.0f s\n", p.step, p.totalSteps,
                                     fmtLosses(p).c_str(), p.etaSeconds);
                },
                &g_cancel);
            if (vr.status != se::engine::RunStatus::Finished) {
                std::cerr << "safeeraser reproduce: vanilla training " << se::store::statusName(vr.status) << ": "
                          << vr.message << "\n";
                return 1;
            }
            fs::rename(vc.outFile, f.model);
        }
    }
    std::vector<std::string> methods;
    std::stringstream ss(f.methods);
    for (std::string m; std::getline(ss, m, ',');)
        if (!m.empty())
            methods.push_back(m);
    std::vector<SweepRun> runs; // every run's request, checked before any starts
    for (const auto &m : methods) {
        if (!se::unlearn::parseMethod(m)) {
            std::cerr << "safeeraser reproduce: unknown method " << m << "\n";
            return 2;
        }
        for (bool pd : {false, true}) {
            RunFlags rf = f;
            rf.method = m;
            rf.pd = pd;
            runs.push_back({m + (pd ? "+pd" : ""), buildRequest(rf)});
        }
    }
    // Each run trains on one OpenBLAS thread unless --threads says otherwise: a sum's order depends on the thread
    // count, so this keeps the table the same with any --jobs and on any machine; the cores run runs side by side.
    if (f.slurm) {
        // The vanilla evaluation and the runs are Slurm jobs; the binary and the files must be where the nodes see
        // them (a shared file system), as the README says.
        SlurmOptions o = f.slurmOptions;
        o.executable = fs::canonical("/proc/self/exe").string();
        if (f.threads > 0)
            o.cpusPerRun = f.threads;
        const auto s = submitSweep(runs, runs.front().request, f.store, o);
        std::cout << "submitted: vanilla evaluation job " << s.vanillaJob << ", array job " << s.arrayJob << " ("
                  << s.labels.size() << " runs, logs in " << f.store << ".parts/)\n"
                  << "when they have ended: safeeraser reproduce --collect --store " << f.store << "\n";
        return 0;
    }
    SweepOptions so;
    so.store = f.store;
    so.jobs = std::max(1, std::min<int>(f.jobs, int(runs.size())));
    so.threads = f.threads > 0 ? f.threads : 1;
    so.profile = f.profile;
    so.quiet = f.quiet;
    int failures = 0;
    try { // first, so that every run reuses it and the ids are the same with any --jobs
        if (!runs.empty())
            se::engine::ensureVanillaEvaluation(runs.front().request, printer(f.quiet, "vanilla"), &g_cancel);
    } catch (const std::exception &) {
        if (!g_cancel.cancelled())
            throw;
        std::cerr << "safeeraser reproduce: cancelled during the vanilla evaluation\n";
        return 130;
    }
    if (g_cancel.cancelled()) {
    } else if (so.jobs > 1) {
        if (!f.quiet)
            std::cerr << "[reproduce] " << runs.size() << " runs, " << so.jobs << " at a time, " << so.threads
                      << " OpenBLAS thread" << (so.threads == 1 ? "" : "s") << " each\n";
        failures = runSweep(runs, so, [] { return g_cancel.cancelled(); });
    } else {
        se::engine::configureThreads(so.threads);
        for (const auto &run : runs) {
            if (g_cancel.cancelled())
                break;
            const auto out = se::engine::executeRun(run.request, printer(f.quiet, run.label), &g_cancel);
            failures += out.status != se::store::RunStatus::Finished;
        }
    }
    se::store::RunStore store(f.store, true);
    std::cout << se::store::formatTable(se::store::summarizeRuns(store));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "reproduce: " << methods.size() * 2 << " runs in " << int(secs) << " s"
              << (failures ? ", " + std::to_string(failures) + " not finished" : std::string()) << "\n";
    return g_cancel.cancelled() ? 130 : failures ? 1 : 0;
}

struct AuditFlags {
    se::engine::AuditOptions o; // the flags write into it; its defaults are the engine's
    bool json = false, noImages = false, noLikelihood = false, noStartModel = false, printAttacks = false;
};

int runAudit(const AuditFlags &f)
{
    if (f.printAttacks) {
        std::cout << se::engine::formatAttackTemplates(se::engine::defaultAttackTemplates());
        return 0;
    }
    if (f.o.storePath.empty() || f.o.run <= 0) {
        std::cerr << "safeeraser audit: give --store and --run (or --print-attacks)\n";
        return 2;
    }
    se::engine::AuditOptions o = f.o;
    o.modality = !f.noImages;
    o.likelihood = !f.noLikelihood;
    o.vanilla = !f.noStartModel;
    const auto report =
        se::engine::auditRun(o, [](const std::string &line) { std::cerr << "[audit] " << line << "\n"; });
    std::cout << (f.json ? se::engine::auditJson(report) + "\n" : se::engine::formatAudit(report));
    return 0;
}

} // namespace

void addRunCommands(CLI::App &app, int &exitCode)
{
    auto af = std::make_shared<AuditFlags>();
    CLI::App *audit = app.add_subcommand(
        "audit", "Erased or only hidden? Ask a finished run's forget questions (all_val) again under attacks — "
                 "rephrasings, a blank or weakened image — compare the forget targets' likelihood under the run "
                 "and its start model, and fine-tune it on retain data only to see how fast the knowledge comes "
                 "back. Prints every attack's ASR and RR and stores them with the run (stages audit, relearn).");
    audit->add_option("--store", af->o.storePath, "The run store");
    audit->add_option("--run", af->o.run, "The run to audit")->check(CLI::PositiveNumber);
    audit->add_option("--attacks", af->o.attacksFile,
                      "Rephrasing templates, \"name: template\" a line with {question} "
                      "(default: --print-attacks)");
    audit->add_flag("--print-attacks", af->printAttacks, "Print the built-in rephrasing templates in the file format");
    audit->add_option("--questions", af->o.questions, "Forget questions of all_val, a fixed seeded subset (0: all)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    audit->add_option("--seed", af->o.seed, "Seed of the subset")->capture_default_str();
    audit->add_option("--relearn-steps", af->o.relearnSteps, "Fine-tuning steps on retain data (0: no relearning)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    audit->add_option("--relearn-every", af->o.relearnEvery, "Steps between relearning measurements")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    audit
        ->add_option("--relearn-targets", af->o.relearnTargets,
                     "Forget samples of all_train (other records) the second relearning attack trains on (0: none)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    audit->add_option("--baseline", af->o.baseline,
                      "A model that never learned the forget targets (train-vanilla --without-forget): the relearning "
                      "on targets is repeated from it, learning them afresh (default: the base model of a run that "
                      "started from an adapter; else not measured)");
    audit->add_flag("--no-images", af->noImages, "Skip the image attacks");
    audit->add_flag("--no-likelihood", af->noLikelihood, "Skip the likelihood comparison");
    audit->add_flag("--no-start-model", af->noStartModel,
                    "Do not ask the model the run started from under every attack (its columns stay empty)");
    audit->add_option("--device", af->o.device, "auto, cpu, cuda, cuda:N (default: the run's)");
    audit->add_flag("--json", af->json, "Print JSON");
    audit->callback([af, &exitCode] { exitCode = guarded("audit", [&] { return runAudit(*af); }); });

    auto rf = std::make_shared<RunFlags>();
    CLI::App *run = app.add_subcommand(
        "run", "Unlearn, evaluate on the schedule and write everything to the run store; prints the run id.\n"
               "The vanilla model is evaluated once per model, dataset and evaluation settings and reused.\n"
               "Ctrl-C stops cleanly after the current step (status cancelled).");
    addRunFlags(run, *rf, true);
    addDataParallelFlag(run, rf->distTimeout);
    run->callback([rf, &exitCode] { exitCode = guarded("run", [&] { return runRun(*rf); }); });

    auto ef = std::make_shared<RunFlags>();
    CLI::App *ev = app.add_subcommand("evaluate", "Evaluate a model (the vanilla one) into the run store; prints "
                                                  "the id of its evaluation (reused when already there).");
    addRunFlags(ev, *ef, false);
    ev->callback([ef, &exitCode] { exitCode = guarded("evaluate", [&] { return runEvaluate(*ef); }); });

    auto pf = std::make_shared<ReproduceFlags>();
    CLI::App *rep = app.add_subcommand(
        "reproduce", "The paper's comparison on one benchmark: vanilla, then each method without and with PD.\n"
                     "Trains the vanilla model first when --model is not given (kept beside the store).");
    addRunFlags(rep, *pf, false);
    rep->add_option("--methods", pf->methods, "Comma-separated methods")->capture_default_str();
    rep->add_option("--eval-every", pf->evalEvery, "Steps between curve evaluations");
    rep->add_option("--steps", pf->steps, "Optimiser steps of each run (default per method)");
    rep->add_option("--jobs", pf->jobs,
                    "Runs at once, each a process of its own in <store>.parts/, merged into the store in order "
                    "(default: the cores; 1: one after another in this process)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    auto *slurm = rep->add_flag("--slurm", pf->slurm,
                                "Submit the sweep to Slurm instead: the vanilla evaluation as one job, the runs as a "
                                "job array after it (sbatch), each into its own store under <store>.parts/");
    auto *collect = rep->add_flag("--collect", pf->collect,
                                  "Merge the runs of a submitted sweep that have ended into the store, in the sweep's "
                                  "order, and show the others' state (squeue)");
    slurm->excludes(collect);
    rep->add_option("--partition", pf->slurmOptions.partition, "--slurm: the partition (default: the cluster's)");
    rep->add_option("--time", pf->slurmOptions.time, "--slurm: each task's time limit, as sbatch --time takes it");
    rep->add_option("--gpus-per-run", pf->slurmOptions.gpusPerRun, "--slurm: GPUs per run")->check(CLI::Range(0, 64));
    rep->add_option("--cpus-per-run", pf->slurmOptions.cpusPerRun, "--slurm: CPUs per run (its OpenBLAS threads)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    rep->callback([pf, &exitCode] { exitCode = guarded("reproduce", [&] { return runReproduce(*pf); }); });
}

} // namespace se::cli
