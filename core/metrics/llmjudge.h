// The optional LLM judge (SPEC §4): asks a model behind an OpenAI-compatible chat-completions endpoint (a local
// llama.cpp or vLLM server, or a hosted one) whether each answer is unsafe, a refusal, and a normal, meaningful
// answer, with prompts this project writes. The API key is read from an environment variable and never stored.
// Requests run with a concurrency limit, a timeout, and retries with exponential back-off; verdicts are cached
// through a caller-supplied cache (the run store's). ROUGE-L and exact-answer checks stay offline.
#pragma once

#include "core/metrics/evaluation.h"
#include "core/metrics/judgeprompts.h"

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace se::metrics {

struct LlmJudgeOptions {
    std::string baseUrl; // e.g. "http://127.0.0.1:8080/v1"; /chat/completions is appended
    std::string model;   // the "model" field of each request
    std::string apiKeyEnv = "SAFEERASER_JUDGE_API_KEY"; // the key is read from this variable, if set; SAFEERASER_…
    bool allowKeyOverHttp = false; // send the key over plain http to a host that is not this machine
    double timeoutSeconds = 60;    // per request, the whole exchange (a reply trickling a byte a second ends there)
    int retries = 3;               // further attempts after a failed one (at most kMaxRetries)
    double backoffSeconds = 1.0;   // wait before retry k: backoff · 2^k
    int concurrency = 4;           // requests in flight at once (at most kMaxConcurrency)
    int maxTokens = 200;
    // The auditor's prompts (JudgePrompts): one request per verdict with their templates instead of our combined
    // prompt; a reply that says neither verdict leaves that answer without it (AnswerRecord::noVerdict).
    std::optional<JudgePrompts> prompts;
    bool gptScore = true; // ask for a GPT-Score of each retain answer (prompts->gptScore, else our own prompt)
};

// Bounds of the options (larger values are refused, naming the option): a judge that never answers must end a pass
// in minutes, not days. After kGiveUpAfter questions in a row got no answer (every attempt failed), the pass stops.
constexpr int kMaxRetries = 10, kMaxConcurrency = 64, kGiveUpAfter = 3;
constexpr double kMaxTimeoutSeconds = 600;
// The most of a reply that is read (a judge's verdict is a few hundred bytes; an endpoint sending more is broken).
constexpr std::size_t kMaxReplyBytes = std::size_t(8) << 20;
// Whether an endpoint's host is this machine: an address in 127.0.0.0/8 or ::1 (or v4-mapped 127/8), or the name
// localhost whose every resolved address is one. Any other name is not, whatever it starts with.
bool isLoopbackHost(const std::string &host);
// Throws std::invalid_argument unless `name` is empty or SAFEERASER_…_KEY / SAFEERASER_…_TOKEN (capitals, digits,
// _): never a setting of the program (SAFEERASER_GEMM) nor any other variable.
void checkApiKeyVariable(const std::string &name);

struct JudgeCache {
    std::function<std::optional<std::string>(const std::string &judge, const std::string &key)> get;
    std::function<void(const std::string &judge, const std::string &key, const std::string &value)> put;
};

class LlmJudge : public Judge
{
public:
    // Throws std::invalid_argument when baseUrl or model is empty, baseUrl is not http(s)://host…, apiKeyEnv is not
    // SAFEERASER_…, or the key is set and would go over plain http to another machine without allowKeyOverHttp.
    explicit LlmJudge(LlmJudgeOptions options, JudgeCache cache = {});
    std::string name() const override; // "llm:<model>@<baseUrl>", "+prompts:<hash>" with an auditor's prompts
    // Throws std::runtime_error naming the question and the endpoint's answer when a verdict cannot be had.
    std::vector<Verdict> judge(const std::vector<EvalItem> &items, const std::vector<std::string> &answers) override;

    // The messages sent for one answer (system + user), as the JSON array of the request. For tests and audits.
    static std::string messagesFor(const se::data::Sample &sample, const std::string &answer);
    // Parses the judge model's reply: a JSON object {"unsafe": bool, "refusal": bool, "normal": bool}, possibly
    // inside other text or a code fence. Throws std::runtime_error when there is none.
    static Verdict parseReply(const std::string &content);

    // A one-message exchange of a template prompt, as the official judging script sends it.
    static std::string templateMessages(const std::string &text);

private:
    std::string request(const std::string &body) const; // one HTTP exchange with retries; returns the content
    // The reply to `messages`, from the cache or the endpoint (then cached).
    std::string ask(const std::string &messages, std::mutex &cacheMutex) const;
    Verdict judgeOne(const EvalItem &item, const std::string &answer, std::mutex &cacheMutex) const;
    LlmJudgeOptions m_options;
    JudgeCache m_cache;
    mutable std::atomic<int> m_unanswered{0}; // questions in a row whose every attempt failed
};

} // namespace se::metrics
