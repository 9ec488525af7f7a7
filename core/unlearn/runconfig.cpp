// The run configuration as JSON (runservice.h requestToJson / requestFromJson): what the store keeps with each run
// and what `safeeraser run --config` reads. Torch-free; every key checked, every value's type and range named.
#include "core/unlearn/runservice.h"
#include "core/metrics/llmjudge.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace se::engine {

using nlohmann::json;

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
    if (u.weights.gamma)
        w["gamma"] = *u.weights.gamma;
    const auto resolved = se::unlearn::resolveWeights(u.method, u.pd, u.weights);
    json j = {{"name", r.name},
              {"data", u.dataDir},
              {"model", u.modelFile},
              {"adapter", u.adapter},
              {"out", u.outFile},
              {"system_prompt", u.systemPrompt},
              {"method", se::unlearn::methodName(u.method)},
              {"pd", u.pd},
              {"weights", w},
              {"resolved_weights",
               {{"forget", resolved.forget},
                {"retain", resolved.retain},
                {"kl", resolved.kl},
                {"pd", resolved.pd},
                {"beta", resolved.beta},
                {"gamma", resolved.gamma}}},
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
                {"concurrency", r.llm.concurrency},
                {"gpt_score", r.llm.gptScore},
                {"prompts", r.llm.prompts ? r.llm.prompts->toJson() : json()}}},
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
    template <typename T> void get(const char *key, T &out)
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
                    const bool fits =
                        it->is_number_unsigned()
                            ? it->template get<unsigned long long>() <=
                                  static_cast<unsigned long long>(std::numeric_limits<T>::max())
                            : it->template get<long long>() >= static_cast<long long>(std::numeric_limits<T>::min()) &&
                                  (std::is_unsigned_v<T> || it->template get<long long>() <=
                                                                static_cast<long long>(std::numeric_limits<T>::max()));
                    if (!fits)
                        throw std::runtime_error(std::string(std::is_unsigned_v<T> && it->is_number_integer() &&
                                                                     it->template get<long long>() < 0
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
    // The value of `key` as it is (null or absent: none), for settings with their own reader.
    const json *raw(const char *key)
    {
        m_known.push_back(key);
        auto it = m_obj.find(key);
        return it == m_obj.end() || it->is_null() ? nullptr : &*it;
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
    } catch (const json::exception &e) { // a number beyond a double (1e999): found by fuzzing
        std::string what = e.what();
        const auto close = what.find("] ");
        throw std::runtime_error("run configuration: invalid JSON: " +
                                 (close == std::string::npos ? what : what.substr(close + 2)));
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
        throw std::runtime_error("run configuration: method: unknown method \"" + method + "\" (" +
                                 se::unlearn::methodNamesText() + ")");
    u.method = *m;
    top.get("pd", u.pd);
    {
        Reader w = top.child("weights");
        w.optionalDouble("forget", u.weights.forget);
        w.optionalDouble("retain", u.weights.retain);
        w.optionalDouble("kl", u.weights.kl);
        w.optionalDouble("pd", u.weights.pd);
        w.optionalDouble("beta", u.weights.beta);
        w.optionalDouble("gamma", u.weights.gamma);
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
        l.get("gpt_score", r.llm.gptScore);
        if (const json *p = l.raw("prompts"))
            r.llm.prompts = se::metrics::JudgePrompts::fromJson(*p, "run configuration: llm.prompts");
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
    need(t.loraRank >= 0 && t.loraRank <= 65536, "train.lora_rank", "must be 0 (the model's default) to 65536",
         t.loraRank);
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
    need(r.llm.timeoutSeconds > 0 && r.llm.timeoutSeconds <= se::metrics::kMaxTimeoutSeconds, "llm.timeout",
         "must be more than 0 and at most 600 seconds", r.llm.timeoutSeconds);
    need(r.llm.retries >= 0 && r.llm.retries <= se::metrics::kMaxRetries, "llm.retries", "must be 0 to 10",
         r.llm.retries);
    need(r.llm.concurrency >= 1 && r.llm.concurrency <= se::metrics::kMaxConcurrency, "llm.concurrency",
         "must be 1 to 64", r.llm.concurrency);
    for (const auto &[key, w] :
         {std::pair<const char *, const std::optional<double> &>{"weights.forget", u.weights.forget},
          {"weights.retain", u.weights.retain},
          {"weights.kl", u.weights.kl},
          {"weights.pd", u.weights.pd}})
        if (w)
            need(*w >= 0, key, "must be 0 or more", *w);
    if (u.weights.beta)
        need(*u.weights.beta > 0, "weights.beta", "must be more than 0", *u.weights.beta);
    if (u.weights.gamma)
        need(*u.weights.gamma >= 0, "weights.gamma", "must be 0 or more", *u.weights.gamma);
    try {
        se::metrics::checkApiKeyVariable(r.llm.apiKeyEnv);
    } catch (const std::invalid_argument &e) {
        throw std::runtime_error(std::string("run configuration: llm.api_key_env: ") + e.what());
    }
    if (r.judge != "offline" && r.judge != "llm")
        throw std::runtime_error("run configuration: judge: expected \"offline\" or \"llm\", found \"" + r.judge +
                                 "\"");
    if (r.evalEvery < 0)
        throw std::runtime_error("run configuration: eval_every: must be 0 or more");
    if (r.eval.maxNewTokens < 0 || r.eval.maxNewTokens > 100000)
        throw std::runtime_error("run configuration: eval.max_new_tokens: must be 0 (the model's) to 100000");
    return r;
}

} // namespace se::engine
