// safeeraser train-vanilla, unlearn, ask, pack-images, quick-eval: the engine (core/unlearn/engine.h) headless.
#include "app/cli/commands.h"
#include "core/unlearn/engine.h"
#include "core/util/text.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace se::cli {

namespace {

using namespace se::engine;

struct CommonArgs {
    int threads = 0, generationThreads = 0;
    std::string device = "auto";
    std::string images;
};

std::string applyThreads(const CommonArgs &a)
{
    if (a.generationThreads > 0)
        se::engine::setGenerationThreads(a.generationThreads);
    return se::engine::configureThreads(a.threads);
}

void addCommon(CLI::App *sub, CommonArgs &a)
{
    sub->add_option("--threads", a.threads, "CPU threads (0: all cores; see configureThreads)")
        ->check(CLI::Range(0, 1024));
    sub->add_option("--generation-threads", a.generationThreads,
                    "threads while generating answers on the CPU, at most --threads (0: one, but every core for a "
                    "model of 1 GiB of weights or more)")
        ->check(CLI::Range(0, 1024))
        ->capture_default_str();
    sub->add_option("--device", a.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    sub->add_option("--images", a.images, "packed images (pack-images) to use instead of decoding image files");
}

void addTraining(CLI::App *sub, TrainOptions &t)
{
    sub->add_option("--steps", t.steps, "optimiser steps (0: from --epochs)")
        ->capture_default_str()
        ->check(CLI::Range(0, 100000000));
    sub->add_option("--epochs", t.epochs, "passes over the training set when --steps is 0")
        ->check(CLI::Range(0.0, 1e6));
    sub->add_option("--lr", t.lr, "peak learning rate (AdamW)")->capture_default_str();
    sub->add_option("--batch", t.batchSize, "batch size")->capture_default_str()->check(CLI::Range(1, 65536));
    sub->add_option("--grad-accum", t.gradAccum, "micro-batches per optimiser step")
        ->capture_default_str()
        ->check(CLI::Range(1, 65536));
    sub->add_option("--warmup", t.warmupRatio, "warm-up share of the steps (cosine decay after it)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.99));
    sub->add_option("--weight-decay", t.weightDecay, "AdamW weight decay")->capture_default_str();
    sub->add_option("--clip", t.clipNorm, "gradient-norm clip (0: off)")->capture_default_str();
    sub->add_option("--seed", t.seed, "seed of weights, data order and dropout")->capture_default_str();
    sub->add_flag("!--no-bf16", t.bf16, "float32 on CUDA instead of bf16 autocast");
}

void printProgress(const Progress &p)
{
    std::ostringstream os;
    os << "[" << p.phase << "] step " << p.step << "/" << p.totalSteps << " epoch " << p.epoch;
    for (const auto &l : p.losses)
        os << " " << l.first << " " << std::fixed << std::setprecision(4) << l.second;
    char buf[160];
    // A 7B model on a CPU sees well under one sample a second: one decimal there, not "0 samples/s".
    std::snprintf(buf, sizeof buf, " lr %.2e %.*f samples/s eta %.0fs mem %.2f GiB", p.lr,
                  p.samplesPerSecond < 10 ? 1 : 0, p.samplesPerSecond, p.etaSeconds,
                  double(p.memoryInUse) / double(1 << 30));
    os << buf;
    std::cerr << os.str() << std::endl;
}

int report(const char *cmd, const RunResult &r)
{
    std::ostringstream os;
    os << cmd << ": " << se::store::statusName(r.status) << " after " << r.steps << " steps in " << std::fixed
       << std::setprecision(1) << r.seconds << " s on " << r.device << ", " << r.parameters << " parameters";
    if (!r.lastLosses.empty())
        os << ", final loss " << std::setprecision(4) << r.lastLosses.front().second;
    if (r.medianStepSeconds > 0)
        os << ", median step " << std::setprecision(3) << r.medianStepSeconds << " s";
    if (r.peakMemory > 0)
        os << ", " << r.peakMemoryWhat << " " << std::setprecision(2) << double(r.peakMemory) / double(1 << 30)
           << " GiB";
    os << "; wrote " << r.outFile;
    std::cout << os.str() << "\n";
    if (r.status != RunStatus::Finished) {
        std::cerr << "safeeraser " << cmd << ": " << r.message << "\n";
        return 1;
    }
    return 0;
}

// A training command's end as one rank of a data-parallel group (or alone): rank 0 reports and has written the
// output; another rank says only why it failed.
int reportRanked(const char *cmd, const DataParallelScope &dp, const RunResult &r)
{
    if (dp.distributed())
        std::cerr << dp.summary() << "\n";
    if (dp.writes())
        return report(cmd, r);
    if (r.status != RunStatus::Finished)
        std::cerr << "safeeraser " << cmd << dp.label() << ": " << r.message << "\n";
    return r.status == RunStatus::Finished ? 0 : 1;
}

// Progress lines tagged with the rank ("[vanilla rank 1/2] step 8/8").
ProgressFn rankedProgress(const DataParallelScope &dp)
{
    return [tag = dp.label()](const Progress &p) {
        Progress q = p;
        q.phase += tag;
        printProgress(q);
    };
}

} // namespace

DataParallelScope::DataParallelScope(int timeoutSeconds)
{
    const auto r = se::engine::joinDataParallel(timeoutSeconds);
    m_rank = r.rank;
    m_world = r.worldSize;
    if (distributed())
        std::cerr << "[data-parallel] " << r.describe() << ": joined\n";
}

DataParallelScope::~DataParallelScope()
{
    se::engine::leaveDataParallel();
}

std::string DataParallelScope::label() const
{
    return distributed() ? " rank " + std::to_string(m_rank) + "/" + std::to_string(m_world) : std::string();
}

std::string DataParallelScope::summary() const
{
    if (!distributed())
        return {};
    const auto st = se::engine::dataParallelStats();
    char b[320];
    std::snprintf(b, sizeof b,
                  "data-parallel: %d ranks, %d steps in %.1f s (%.1f steps/s), %.2f s of it (%.1f%%) in %lld "
                  "collectives; %.2f MB of gradients all-reduced per step over %s",
                  m_world, st.steps, st.stepSeconds, st.stepSeconds > 0 ? st.steps / st.stepSeconds : 0.0,
                  st.collectiveSeconds, st.stepSeconds > 0 ? 100.0 * st.collectiveSeconds / st.stepSeconds : 0.0,
                  st.collectives, double(st.gradientBytes) / 1e6, st.backend.c_str());
    return b;
}

std::function<bool(std::uint64_t, std::uint64_t)> loadProgressLines(const std::string &prefix)
{
    struct State {
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), last = start;
        bool printed = false, ended = false;
    };
    auto st = std::make_shared<State>();
    return [st, prefix](std::uint64_t done, std::uint64_t total) {
        const auto now = std::chrono::steady_clock::now();
        const double since = std::chrono::duration<double>(now - st->last).count();
        const bool end = done >= total;
        if (st->ended)
            return true;
        st->ended = end;
        if ((since >= 1.0 && !end) || (end && st->printed)) {
            const double s = std::chrono::duration<double>(now - st->start).count();
            const double g = double(1 << 30);
            char b[200];
            std::snprintf(b, sizeof b, "%s %.1f/%.1f GiB (%.0f%%), %.2f GiB/s%s", prefix.c_str(), double(done) / g,
                          double(total) / g, total ? 100.0 * double(done) / double(total) : 100.0,
                          s > 0 ? double(done) / g / s : 0.0, end ? ", done" : "");
            std::cerr << b << std::endl;
            st->last = now;
            st->printed = true;
        }
        return true;
    };
}

void addDataParallelFlag(CLI::App *c, int &timeoutSeconds)
{
    c->add_option("--dist-timeout", timeoutSeconds,
                  "Data-parallel (srun -n N, torchrun): seconds a collective waits for the other ranks before the "
                  "run fails")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
}

void addEngineCommands(CLI::App &app, int &exitCode)
{
    // train-vanilla
    {
        auto a = std::make_shared<VanillaConfig>();
        auto common = std::make_shared<CommonArgs>();
        auto *sub =
            app.add_subcommand("train-vanilla", "Train the built-in model on a benchmark (forget targets, "
                                                "SD answers, retain answers): the model unlearning starts from");
        sub->add_option("--data", a->dataDir, "benchmark folder")->required();
        sub->add_option("--out", a->outFile, "checkpoint to write (.safetensors)")->required();
        sub->add_option("--card", a->cardFile,
                        "model card JSON (default: the built-in card, models/builtin-tiny.json)");
        sub->add_flag("--without-forget", a->withoutForget,
                      "Leave the forget targets out: a model that never learned them (retraining without the forget "
                      "set; audit --baseline)");
        addTraining(sub, a->train);
        addCommon(sub, *common);
        auto distTimeout = std::make_shared<int>(600);
        addDataParallelFlag(sub, *distTimeout);
        sub->callback([a, common, distTimeout, &exitCode] {
            exitCode = guarded("train-vanilla", [&] {
                std::cerr << "train-vanilla: " << applyThreads(*common) << "\n";
                a->train.device = common->device;
                a->train.imagesFile = common->images;
                const DataParallelScope dp(*distTimeout);
                return reportRanked("train-vanilla", dp, trainVanilla(*a, rankedProgress(dp)));
            });
        });
    }
    // unlearn
    {
        struct Args {
            UnlearnConfig c;
            std::string method;
            double forgetW = NAN, retainW = NAN, klW = NAN, pdW = NAN, beta = NAN, gamma = NAN;
            std::string targets, preset;
        };
        auto a = std::make_shared<Args>();
        auto common = std::make_shared<CommonArgs>();
        auto *sub = app.add_subcommand("unlearn", "Unlearn harmful answers from a model with one of the SPEC §3 "
                                                  "methods, optionally with the Prompt Decouple loss");
        sub->add_option("--data", a->c.dataDir, "benchmark folder")->required();
        sub->add_option("--model", a->c.modelFile, "checkpoint to start from (train-vanilla's output)")->required();
        sub->add_option("--out", a->c.outFile, "checkpoint to write")->required();
        sub->add_option("--adapter", a->c.adapter,
                        "Hugging Face models: start from model + this PEFT adapter folder "
                        "(the output stacks the two, an adapter of --model)");
        std::vector<std::string> names = se::unlearn::methodNames();
        names.push_back("idk"); // the official code's name for PO
        sub->add_option("--method", a->method, se::unlearn::methodNamesText())
            ->required()
            ->check(CLI::IsMember(names, CLI::ignore_case));
        sub->add_flag("--pd", a->c.pd, "add the Prompt Decouple loss");
        sub->add_option("--pd-weight", a->pdW, "weight of L_PD (default per method, SPEC §3)");
        sub->add_option("--forget-weight", a->forgetW, "weight of the forget term (default 1)");
        sub->add_option("--retain-weight", a->retainW, "weight of NLL(retain) (default per method)");
        sub->add_option("--kl-weight", a->klW, "weight of the KL term (KL method; default 1)");
        sub->add_option("--beta", a->beta, "β of NPO and DPO (default 0.1) and SimNPO (default 2.5)");
        sub->add_option("--gamma", a->gamma, "γ, SimNPO's margin (default 0)");
        sub->add_option("--lora-rank", a->c.train.loraRank,
                        "LoRA rank (0: full fine-tuning of the built-in model; Hugging Face models: r 32, alpha 256)")
            ->capture_default_str()
            ->check(CLI::Range(0, 4096));
        sub->add_option("--lora-alpha", a->c.train.loraAlpha, "LoRA alpha")->capture_default_str();
        sub->add_option("--lora-dropout", a->c.train.loraDropout, "LoRA dropout")
            ->capture_default_str()
            ->check(CLI::Range(0.0, 0.99));
        sub->add_option("--lora-targets", a->targets,
                        "comma-separated: q,k,v,o,fc1,fc2,projector (built-in; default q,k,v,o,fc1,fc2) or "
                        "q_proj,…,down_proj,linear_1,linear_2 (LLaVA; Qwen2-VL the seven only; default the seven "
                        "language-model projections)");
        sub->add_option("--preset", a->preset,
                        "default, or paper (the official SafeEraser optimisation: lr 1e-4, 10 "
                        "epochs, cosine, 6% warm-up, effective batch 32 = 4 × 8); flags "
                        "given override it")
            ->check(CLI::IsMember({"default", "paper"}));
        sub->add_flag("--checkpoint-layers", a->c.train.checkpointLayers,
                      "activation checkpointing per decoder layer (LLaVA, Qwen2-VL): much less memory, about a third "
                      "more compute");
        sub->add_flag("!--no-memory-check", a->c.train.memoryCheck,
                      "start even when the memory plan says the model cannot fit on the device");
        addTraining(sub, a->c.train);
        addCommon(sub, *common);
        auto distTimeout = std::make_shared<int>(600);
        addDataParallelFlag(sub, *distTimeout);
        sub->callback([a, common, sub, distTimeout, &exitCode] {
            exitCode = guarded("unlearn", [&] {
                if (!a->preset.empty()) { // the preset's value for every setting not given on the command line
                    const TrainOptions p = UnlearnConfig::preset(a->preset);
                    TrainOptions &t = a->c.train;
                    auto unless = [&](const char *flag, auto &field, const auto &value) {
                        if (sub->count(flag) == 0)
                            field = value;
                    };
                    unless("--lr", t.lr, p.lr);
                    if (sub->count("--steps") == 0 && sub->count("--epochs") == 0) {
                        t.steps = p.steps;
                        t.epochs = p.epochs;
                    }
                    unless("--warmup", t.warmupRatio, p.warmupRatio);
                    unless("--weight-decay", t.weightDecay, p.weightDecay);
                    unless("--clip", t.clipNorm, p.clipNorm);
                    unless("--seed", t.seed, p.seed);
                    unless("--batch", t.batchSize, p.batchSize);
                    unless("--grad-accum", t.gradAccum, p.gradAccum);
                    unless("--lora-alpha", t.loraAlpha, p.loraAlpha);
                    unless("--lora-dropout", t.loraDropout, p.loraDropout);
                    if (sub->count("--checkpoint-layers") == 0)
                        t.checkpointLayers = p.checkpointLayers;
                }
                a->c.method = *se::unlearn::parseMethod(a->method);
                auto set = [](double v, std::optional<double> &o) {
                    if (!std::isnan(v))
                        o = v;
                };
                set(a->forgetW, a->c.weights.forget);
                set(a->retainW, a->c.weights.retain);
                set(a->klW, a->c.weights.kl);
                set(a->pdW, a->c.weights.pd);
                set(a->beta, a->c.weights.beta);
                set(a->gamma, a->c.weights.gamma);
                if (!std::isnan(a->pdW) && !a->c.pd)
                    throw std::runtime_error("--pd-weight needs --pd");
                if (!a->targets.empty()) {
                    a->c.train.loraTargets.clear();
                    std::stringstream ss(a->targets);
                    for (std::string t; std::getline(ss, t, ',');)
                        if (!t.empty())
                            a->c.train.loraTargets.push_back(t);
                }
                std::cerr << "unlearn: " << applyThreads(*common) << "\n";
                a->c.train.device = common->device;
                a->c.train.imagesFile = common->images;
                // Under a launcher's rank variables (srun -n N, torchrun) the ranks train together, as
                // train-vanilla and run do; a rank whose partners never come fails after --dist-timeout and
                // writes nothing.
                const DataParallelScope dp(*distTimeout);
                return reportRanked("unlearn", dp, se::engine::unlearn(a->c, rankedProgress(dp)));
            });
        });
    }
    // merge-adapter
    {
        struct Args {
            std::string model, adapter, out;
        };
        auto a = std::make_shared<Args>();
        auto *sub =
            app.add_subcommand("merge-adapter", "Fold a PEFT adapter folder into its Hugging Face model folder, "
                                                "writing a new folder that transformers and vLLM load without PEFT");
        sub->add_option("--model", a->model, "the Hugging Face model folder the adapter was trained on")->required();
        sub->add_option("--adapter", a->adapter, "the adapter folder (adapter_config.json, adapter_model.safetensors)")
            ->required();
        sub->add_option("--out", a->out, "the merged folder to write (must not exist, or be empty)")->required();
        sub->callback([a, &exitCode] {
            exitCode = guarded("merge-adapter", [&] {
                std::cout << mergeAdapter(a->model, a->adapter, a->out, [](const std::string &line) {
                    std::cerr << "merge-adapter: " << line << std::endl;
                }) << "\n";
                return 0;
            });
        });
    }
    // ask, score: a built-in checkpoint file or a Hugging Face model folder
    {
        struct ModelArgs {
            std::string model, image, question, systemPrompt, dtype = "auto", adapter;
            bool memoryCheck = true;
            CommonArgs common;
            ModelOptions options() const
            {
                ModelOptions o;
                o.imagesFile = common.images;
                o.device = common.device;
                o.systemPrompt = systemPrompt;
                o.dtype = dtype;
                o.adapter = adapter;
                o.memoryCheck = memoryCheck;
                o.loadProgress = loadProgressLines();
                return o;
            }
        };
        auto addModel = [](CLI::App *sub, ModelArgs &m) {
            sub->add_option(
                   "--model", m.model,
                   "a built-in checkpoint file or a Hugging Face model folder (LLaVA-1.5, Qwen2-VL, Qwen2.5-VL)")
                ->required();
            sub->add_option("--image", m.image, "image file (or its path inside the --images pack)")->required();
            sub->add_option("--question", m.question, "the question")->required();
            sub->add_option("--system-prompt", m.systemPrompt,
                            "LLaVA: a sentence before \"USER:\" (the official SafeEraser training prompt has one); "
                            "Qwen2-VL: the system prompt (default \"You are a helpful assistant.\")");
            sub->add_option("--adapter", m.adapter,
                            "a PEFT adapter folder (what a run on a Hugging Face model writes)");
            sub->add_option("--dtype", m.dtype,
                            "weights: auto (float32 on the CPU where it fits, but a large bfloat16 model stays "
                            "bfloat16 on a CPU that multiplies it natively; bfloat16 on CUDA), float32, bfloat16, "
                            "float16")
                ->capture_default_str();
            sub->add_flag("!--no-memory-check", m.memoryCheck,
                          "load even when the memory plan says the model does not fit");
            addCommon(sub, m.common);
        };
        struct AskArgs : ModelArgs {
            AskOptions o;
            bool json = false;
        };
        auto a = std::make_shared<AskArgs>();
        auto *sub = app.add_subcommand("ask", "Answer a question about an image; prints the answer alone on stdout");
        addModel(sub, *a);
        sub->add_flag("--greedy", a->o.greedy, "greedy decoding (default: sampling, temperature 1.0, top-p 0.9)");
        sub->add_option("--temperature", a->o.temperature, "sampling temperature")
            ->capture_default_str()
            ->check(CLI::Range(0.0, 100.0));
        sub->add_option("--top-p", a->o.topP, "nucleus sampling mass")
            ->capture_default_str()
            ->check(CLI::Range(0.0, 1.0));
        sub->add_option("--seed", a->o.seed, "sampling seed")->capture_default_str();
        sub->add_option("--max-new-tokens,--max-tokens", a->o.maxNewTokens,
                        "answer length limit (0: the model's default)")
            ->check(CLI::Range(0, 100000));
        sub->add_flag("--json", a->json, "print {\"answer\": …, \"answer_ids\": […]} (ids without the closing </s>)");
        sub->callback([a, &exitCode] {
            exitCode = guarded("ask", [&] {
                applyThreads(a->common);
                Assistant assistant(a->model, a->options());
                auto answers = assistant.answerMany({{a->image, a->question}}, a->o, 1);
                if (a->json)
                    std::cout << nlohmann::json{{"answer", answers[0].text}, {"answer_ids", answers[0].ids}}.dump()
                              << "\n";
                else // an answer may hold control characters (ESC clears a screen): shown escaped, never obeyed
                    std::cout << se::text::terminalSafe(answers[0].text) << "\n";
                return 0;
            });
        });

        struct ScoreArgs : ModelArgs {
            std::string answer;
            bool json = false;
        };
        auto sc = std::make_shared<ScoreArgs>();
        auto *ssub = app.add_subcommand("score", "The log-likelihood of an answer to a question about an image "
                                                 "(answer tokens and the closing </s>)");
        addModel(ssub, *sc);
        ssub->add_option("--answer", sc->answer, "the answer to score")->required();
        ssub->add_flag("--json", sc->json, "print prompt, input_ids, answer_start, logprobs, sum_logprob, mean_nll");
        ssub->callback([sc, &exitCode] {
            exitCode = guarded("score", [&] {
                applyThreads(sc->common);
                Assistant assistant(sc->model, sc->options());
                const auto s = assistant.score(sc->image, sc->question, sc->answer);
                if (sc->json) {
                    std::cout << nlohmann::json{{"prompt", s.prompt},
                                                {"input_ids", s.inputIds},
                                                {"answer_start", s.answerStart},
                                                {"logprobs", s.logprobs},
                                                {"sum_logprob", s.sumLogprob},
                                                {"mean_nll", s.meanNll}}
                                     .dump()
                              << "\n";
                } else {
                    std::cout << std::setprecision(6) << "sum_logprob " << s.sumLogprob << "\nmean_nll " << s.meanNll
                              << "\nanswer_tokens " << s.logprobs.size() << "\n";
                }
                return 0;
            });
        });
    }
    // pack-images
    {
        struct Args {
            std::string data, out, model;
            std::vector<std::string> images;
            int size = 32;
        };
        auto a = std::make_shared<Args>();
        auto *sub = app.add_subcommand("pack-images", "Decode every image of a benchmark (or the files given) into one "
                                                      "safetensors file, for machines without an image decoder "
                                                      "(--images)");
        auto *data = sub->add_option("--data", a->data, "benchmark folder");
        auto *image = sub->add_option("--image", a->images, "an image file (repeat; keyed by the path as given)");
        data->excludes(image);
        sub->add_option("--out", a->out, "file to write (.safetensors)")->required();
        auto *size = sub->add_option("--size", a->size, "side the images are resized to (the model card's image_size)")
                         ->capture_default_str()
                         ->check(CLI::Range(8, 512));
        sub->add_option("--model", a->model,
                        "pack the images as this model takes them (its preprocessing and size; a Hugging Face "
                        "model's packs need it)")
            ->excludes(size);
        sub->callback([a, &exitCode] {
            exitCode = guarded("pack-images", [&] {
                if (a->data.empty() && a->images.empty())
                    throw std::runtime_error("give a benchmark folder (--data) or image files (--image)");
                const int n = packImages(a->data, a->out, a->size, a->model, a->images);
                if (a->model.empty())
                    std::cout << "pack-images: " << n << " images at " << a->size << "x" << a->size << " → " << a->out
                              << "\n";
                else
                    std::cout << "pack-images: " << n << " images as " << a->model << " takes them → " << a->out
                              << "\n";
                return 0;
            });
        });
    }
    // quick-eval
    {
        struct Args {
            std::string model, data, adapter, systemPrompt;
            bool val = false;
            int limit = 0;
            CommonArgs common;
        };
        auto a = std::make_shared<Args>();
        auto *sub = app.add_subcommand("quick-eval", "Greedy check of a model on a benchmark split: refusals and exact "
                                                     "answers on the forget, PD and retain sets (not SPEC §4 metrics)");
        sub->add_option("--model", a->model, "a built-in checkpoint file or a Hugging Face model folder")->required();
        sub->add_option("--adapter", a->adapter, "a PEFT adapter folder to apply (Hugging Face models)");
        sub->add_option("--system-prompt", a->systemPrompt,
                        "LLaVA: a sentence before \"USER:\"; Qwen2-VL: the system prompt");
        sub->add_option("--data", a->data, "benchmark folder")->required();
        sub->add_flag("--val", a->val, "use all_val.json (default all_train.json)");
        sub->add_option("--limit", a->limit, "at most this many questions per set (0: all)")
            ->check(CLI::Range(0, 100000000));
        addCommon(sub, a->common);
        sub->callback([a, &exitCode] {
            exitCode = guarded("quick-eval", [&] {
                applyThreads(a->common);
                ModelOptions o;
                o.imagesFile = a->common.images;
                o.device = a->common.device;
                o.adapter = a->adapter;
                o.systemPrompt = a->systemPrompt;
                auto q = quickEval(a->model, a->data, a->val, o, a->limit);
                std::printf("split %s\nforget %d: refused %.3f, forget target %.3f\npd %d: refused %.3f, exact "
                            "sd_response %.3f\n"
                            "retain %d: exact %.3f\n",
                            a->val ? "val" : "train", q.forget, q.forgetRefused, q.forgetTarget, q.pd, q.pdRefused,
                            q.pdExact, q.retain, q.retainExact);
                return 0;
            });
        });
    }
}

} // namespace se::cli
