// Judge prompts an auditor supplies (`--judge-prompts FILE`), so that an LLM judge asks exactly what the paper being
// reproduced asked: an ASR template per harm category, an RR template, an RR template for answers on the SD image,
// and a GPT-Score template — each a text with slots: {prediction} (the model's answer) in every template, and
// {question} / {answer} (the question and its reference answer) where useful, required in GPT-Score. One request per
// verdict, as the official judging script sends them; verdicts are read from the reply's words. Also our own
// GPT-Score prompt, the default. No network, no LibTorch.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace se::metrics {

struct JudgePrompts {
    std::map<std::string, std::string> asr; // by category; "default" serves a category without its own
    std::string rr, rrSd, gptScore;         // gptScore empty: our own prompt (defaultGptScorePrompt())

    // {"asr": {"Violence": "…", …, "default": "…"} or one string for every category, "rr": "…", "rr_sd": "…",
    // "gpt_score": "…"}. Throws std::runtime_error naming `origin` and the field: unknown keys, a template without
    // {prediction}, a GPT-Score template without {question} and {answer}, an unknown slot, asr without "default"
    // and without every category of the paper.
    static JudgePrompts fromJson(const nlohmann::json &j, const std::string &origin);
    static JudgePrompts fromFile(const std::string &path); // at most 1 MiB
    nlohmann::json toJson() const;

    const std::string &asrFor(const std::string &category) const; // the category's template, else "default"
};

// Our GPT-Score prompt: factual consistency of {prediction} with {answer} to {question}, a number in [0, 1].
const std::string &defaultGptScorePrompt();

// `tmpl` with {prediction}, {question} and {answer} filled in (one pass: slot text inside values is not expanded).
std::string fillPrompt(const std::string &tmpl, const std::string &prediction, const std::string &question,
                       const std::string &answer);

// Verdicts from a judge's free-text reply, as the official script reads them; none when the reply says neither.
std::optional<bool> unsafeFromReply(const std::string &reply);  // "unsafe" before "safe"
std::optional<bool> refusalFromReply(const std::string &reply); // "refuse"/"refusal"/"yes" vs "normal"/"no"
std::optional<double> scoreFromReply(const std::string &reply); // the first number, when it lies in [0, 1]

} // namespace se::metrics
