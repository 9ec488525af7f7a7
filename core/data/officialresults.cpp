// Reading and writing the official pipeline's result files (see officialresults.h and SPEC §9).
#include "core/data/officialresults.h"
#include "core/util/text.h"
#include "core/data/jsonrecords.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

namespace fs = std::filesystem;
using nlohmann::json;

namespace se::data {
namespace {

constexpr int kOfficialSamples = 3; // model_response1..3

std::string trimmed(const std::string &s)
{
    const auto a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos)
        return {};
    return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

std::string lower(std::string s)
{
    for (auto &c : s)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string quoted(const std::string &s)
{
    return "\"" + (s.size() > 80 ? s.substr(0, 77) + "..." : s) + "\"";
}

// An image path as a key: "./" and the dataset folder's own name in front are dropped (SPEC §2).
std::string imageKey(std::string p, const std::string &rootName)
{
    while (p.rfind("./", 0) == 0)
        p.erase(0, 2);
    if (!rootName.empty() && p.rfind(rootName + "/", 0) == 0)
        p.erase(0, rootName.size() + 1);
    return fs::path(p).lexically_normal().generic_string();
}

struct Where {
    Split split;
    const Record *record;
};

class Reader
{
public:
    Reader(const Benchmark &b, OfficialResults &out) : m_b(b), m_out(out)
    {
        const std::string rootName = fs::path(b.root).filename().string();
        m_rootName = rootName;
        for (const SplitData *s : {&b.train, &b.val}) {
            for (const Record &r : s->records)
                if (!r.imagePath.empty())
                    m_byImage[imageKey(r.imagePath, rootName)].push_back({s->split, &r});
            for (SetKind k : {SetKind::Forget, SetKind::PromptDecouple, SetKind::Retain})
                for (const Sample &x : s->set(k))
                    m_samples[{int(s->split), int(k), x.record, x.pair}] = &x;
        }
    }

    void record(long index, const json &j)
    {
        m_index = index;
        ++m_out.records;
        const auto img = j.find("image_path");
        if (img == j.end() || !img->is_string()) {
            problem("image_path", img == j.end() ? "missing" : "expected a string");
            return;
        }
        const auto found = m_byImage.find(imageKey(img->get<std::string>(), m_rootName));
        if (found == m_byImage.end()) {
            problem("image_path", "no record of the benchmark has the image " + quoted(img->get<std::string>()));
            return;
        }
        // An image in more than one record: the one whose first question matches.
        Where w = found->second.front();
        for (const Where &c : found->second)
            if (firstQuestion(j) == firstQuestion(*c.record))
                w = c;
        ++m_out.matchedRecords;
        if (std::find(m_out.splits.begin(), m_out.splits.end(), w.split) == m_out.splits.end())
            m_out.splits.push_back(w.split);
        unsafePairs(j, w);
        unharmPairs(j, w);
    }

private:
    static std::string firstQuestion(const json &j)
    {
        const auto p = j.find("unsafe_pairs");
        if (p == j.end() || !p->is_array() || p->empty() || !(*p)[0].is_object())
            return {};
        const auto q = (*p)[0].find("question");
        return q != (*p)[0].end() && q->is_string() ? trimmed(q->get<std::string>()) : std::string();
    }
    static std::string firstQuestion(const Record &r)
    {
        return r.unsafePairs.empty() ? std::string() : trimmed(r.unsafePairs.front().question);
    }

    OfficialAnswer made(const Sample *s, int sampleIndex, std::string field, std::string answer) const
    {
        OfficialAnswer o;
        o.sample = s;
        o.sampleIndex = sampleIndex;
        o.fileRecord = m_index;
        o.field = std::move(field);
        o.answer = std::move(answer);
        return o;
    }

    void problem(const std::string &field, const std::string &message)
    {
        // Messages quote the file's values (an image_path with ESC, 2 MB of it): escaped and cut.
        m_out.problems.push_back({m_out.file, m_index, field, se::text::quoted(message)});
    }

    const Sample *sample(const Where &w, SetKind k, int pair) const
    {
        const auto it = m_samples.find({int(w.split), int(k), w.record->index, pair});
        return it == m_samples.end() ? nullptr : it->second;
    }

    // The question of a file pair checked against the benchmark's; false (after a problem) when it differs.
    bool sameQuestion(const json &pair, const char *key, const std::string &field, const std::string &expected)
    {
        const auto q = pair.find(key);
        if (q == pair.end() || !q->is_string()) {
            problem(field + "." + key, q == pair.end() ? "missing" : "expected a string");
            return false;
        }
        if (trimmed(q->get<std::string>()) != trimmed(expected)) {
            problem(field + "." + key,
                    "differs from the benchmark's " + quoted(expected) + ": " + quoted(q->get<std::string>()));
            return false;
        }
        return true;
    }

    // A string verdict field through `parse`; sets `judged` when present.
    template <class Parse>
    std::optional<bool> verdict(const json &obj, const std::string &key, const std::string &field, bool &judged,
                                Parse parse)
    {
        const auto v = obj.find(key);
        if (v == obj.end())
            return std::nullopt;
        judged = m_out.judged = true;
        if (!v->is_string()) {
            problem(field + "." + key, std::string("expected a verdict string, found ") + v->type_name());
            return std::nullopt;
        }
        try {
            const auto r = parse(v->get<std::string>());
            if (!r)
                ++m_out.noVerdicts;
            return r;
        } catch (const std::invalid_argument &e) {
            problem(field + "." + key, e.what());
            return std::nullopt;
        }
    }

    std::optional<double> score(const json &obj, const char *key, const std::string &field)
    {
        const auto v = obj.find(key);
        if (v == obj.end() || v->is_null() || (v->is_string() && lower(trimmed(v->get<std::string>())) == "none"))
            return std::nullopt;
        m_out.judged = true;
        if (!v->is_number()) {
            problem(field + "." + key, std::string("expected a number in [0, 1], found ") + v->type_name());
            return std::nullopt;
        }
        const double x = v->get<double>();
        if (!(x >= 0 && x <= 1)) {
            problem(field + "." + key, "out of range: " + v->dump() + " (expected a number in [0, 1])");
            return std::nullopt;
        }
        return x;
    }

    void unsafePairs(const json &j, const Where &w)
    {
        const auto pairs = j.find("unsafe_pairs");
        if (pairs == j.end() || !pairs->is_array()) {
            if (!w.record->unsafePairs.empty())
                problem("unsafe_pairs", pairs == j.end() ? "missing" : "expected an array");
            return;
        }
        for (std::size_t i = 0; i < pairs->size(); ++i) {
            const std::string field = "unsafe_pairs[" + std::to_string(i) + "]";
            const json &p = (*pairs)[i];
            if (!p.is_object()) {
                problem(field, std::string("expected an object, found ") + p.type_name());
                continue;
            }
            if (i >= w.record->unsafePairs.size()) {
                problem(field, "the benchmark's record has only " + std::to_string(w.record->unsafePairs.size()) +
                                   " unsafe pairs");
                continue;
            }
            if (!sameQuestion(p, "question", field, w.record->unsafePairs[i].question))
                continue;
            forgetAnswers(p, field, sample(w, SetKind::Forget, int(i)));
            pdAnswer(p, field, sample(w, SetKind::PromptDecouple, int(i)));
        }
    }

    void forgetAnswers(const json &p, const std::string &field, const Sample *s)
    {
        int found = 0;
        for (int k = 1; k <= kOfficialSamples; ++k) {
            const std::string key = "model_response" + std::to_string(k);
            const auto a = p.find(key);
            if (a == p.end())
                continue;
            ++found;
            if (!a->is_string()) {
                problem(field + "." + key, std::string("expected a string, found ") + a->type_name());
                continue;
            }
            if (!s) {
                problem(field + "." + key, "the benchmark's pair is not usable for the forget set (see `check`)");
                continue;
            }
            OfficialAnswer o = made(s, k - 1, field + "." + key, a->get<std::string>());
            o.unsafe = verdict(p, "gpt_result_ASR_" + key, field, o.judged, officialUnsafeVerdict);
            o.refusal = verdict(p, "gpt_result_RR_" + key, field, o.judged, officialRefusalVerdict);
            m_out.answers.push_back(std::move(o));
        }
        if (found == 0)
            problem(field + ".model_response1", p.contains("model_response")
                                                    ? "missing: the pair still holds model_response (a benchmark split "
                                                      "rather than inference output?)"
                                                    : "missing: no model_response1..3 answer");
    }

    void pdAnswer(const json &p, const std::string &field, const Sample *s)
    {
        const auto a = p.find("sd_response");
        if (a == p.end() || !a->is_string()) {
            problem(field + ".sd_response", a == p.end() ? "missing answer" : "expected a string");
            return;
        }
        if (!s) {
            problem(field + ".sd_response", "the benchmark's pair is not usable for the prompt-decouple set");
            return;
        }
        OfficialAnswer o = made(s, 0, field + ".sd_response", a->get<std::string>());
        o.refusal = verdict(p, "gpt_result_RR_sd_response", field, o.judged, officialRefusalVerdict);
        m_out.answers.push_back(std::move(o));
    }

    void unharmPairs(const json &j, const Where &w)
    {
        for (int slot = 0; slot < 4; ++slot) {
            const std::string key = kUnharmKeys[slot];
            const auto it = j.find(key);
            const auto bench = std::find_if(w.record->unharmPairs.begin(), w.record->unharmPairs.end(),
                                            [&](const UnharmPair &u) { return u.key == key; });
            if (it == j.end()) {
                if (bench != w.record->unharmPairs.end() && bench->usable)
                    problem(key, "missing answer (the benchmark's record has this pair)");
                continue;
            }
            if (!it->is_object()) {
                problem(key, std::string("expected an object, found ") + it->type_name());
                continue;
            }
            if (bench == w.record->unharmPairs.end()) {
                problem(key, "the benchmark's record has no such pair");
                continue;
            }
            if (!sameQuestion(*it, "Question", key, bench->question))
                continue;
            const auto a = it->find("Prediction");
            if (a == it->end() || !a->is_string()) {
                problem(key + ".Prediction", a == it->end() ? "missing answer" : "expected a string");
                continue;
            }
            const Sample *s = sample(w, SetKind::Retain, slot);
            if (!s) {
                problem(key + ".Prediction", "the benchmark's pair is not usable for the retain set");
                continue;
            }
            OfficialAnswer o = made(s, 0, key + ".Prediction", a->get<std::string>());
            o.rougeL = score(*it, "ROUGE-L", key);
            o.gptScore = score(*it, "GPT-Score", key);
            o.judged = o.rougeL || o.gptScore;
            m_out.answers.push_back(std::move(o));
        }
    }

    const Benchmark &m_b;
    OfficialResults &m_out;
    std::string m_rootName;
    long m_index = 0;
    std::map<std::string, std::vector<Where>> m_byImage;
    std::map<std::tuple<int, int, long, int>, const Sample *> m_samples;
};

} // namespace

namespace {
// One verdict word of the official judging script: `yes` true, `no` false, "None" / "exception" none.
std::optional<bool> verdictWord(const std::string &s, const char *yes, const char *no, const char *expected)
{
    const std::string v = lower(trimmed(s));
    if (v == yes)
        return true;
    if (v == no)
        return false;
    if (v == "none" || v == "exception")
        return std::nullopt;
    throw std::invalid_argument("unknown verdict " + quoted(s) + " (expected " + expected + ")");
}
} // namespace

std::optional<bool> officialUnsafeVerdict(const std::string &s)
{
    return verdictWord(s, "unsafe", "safe", "Unsafe, Safe, None or exception");
}

std::optional<bool> officialRefusalVerdict(const std::string &s)
{
    return verdictWord(s, "refuse", "normal", "refuse, normal, None or exception");
}

OfficialResults readOfficialResults(const std::string &path, const Benchmark &benchmark, std::uint64_t maxBytes)
{
    OfficialResults out;
    out.file = fs::path(path).filename().string();
    Reader reader(benchmark, out);
    for (const JsonRecord &r : readJsonRecords(path, out.problems, maxBytes))
        if (r.value)
            reader.record(r.index, *r.value);
    return out;
}

OfficialExport toOfficialLayout(const Benchmark &benchmark, Split split,
                                const std::vector<se::store::AnswerRecord> &answers)
{
    // (record, set, pair) -> the answers by sample
    std::map<std::tuple<long, std::string, int>, std::map<int, const se::store::AnswerRecord *>> byKey;
    std::set<long> records;
    for (const auto &a : answers)
        if (a.split == splitName(split)) {
            byKey[{a.record, a.set, a.pair}][a.sample] = &a;
            records.insert(a.record);
        }
    std::vector<Problem> problems;
    const std::string file = (fs::path(benchmark.root) / splitFileName(split)).string();
    const auto raw = readJsonRecords(file, problems);
    if (raw.empty() && !problems.empty())
        throw std::runtime_error(problems.front().toString());

    OfficialExport out;
    auto answerOf = [&](long record, const char *set, int pair, int sample) -> const se::store::AnswerRecord * {
        const auto it = byKey.find({record, set, pair});
        if (it == byKey.end())
            return nullptr;
        const auto s = it->second.find(sample);
        return s == it->second.end() ? nullptr : s->second;
    };
    for (const JsonRecord &r : raw) {
        if (!r.value || !records.count(r.index))
            continue;
        nlohmann::ordered_json rec = nlohmann::ordered_json::parse(r.value->dump());
        if (rec.contains("unsafe_pairs") && rec["unsafe_pairs"].is_array()) {
            auto &pairs = rec["unsafe_pairs"];
            for (std::size_t i = 0; i < pairs.size(); ++i) {
                auto &p = pairs[i];
                if (!p.is_object())
                    continue;
                const auto forget = byKey.find({r.index, setName(SetKind::Forget), int(i)});
                for (const char *k : {"model_response", "model_response1", "model_response2", "model_response3"})
                    p.erase(k);
                if (forget == byKey.end()) {
                    ++out.missing;
                } else {
                    for (const auto &[sampleIndex, a] : forget->second) {
                        p["model_response" + std::to_string(sampleIndex + 1)] = a->answer;
                        ++out.answers;
                    }
                }
                if (const auto *a = answerOf(r.index, setName(SetKind::PromptDecouple), int(i), 0)) {
                    p["sd_response"] = a->answer;
                    ++out.answers;
                } else if (p.contains("sd_response")) {
                    p.erase("sd_response");
                    ++out.missing;
                }
            }
        }
        for (int slot = 0; slot < 4; ++slot) {
            if (!rec.contains(kUnharmKeys[slot]) || !rec[kUnharmKeys[slot]].is_object())
                continue;
            auto &u = rec[kUnharmKeys[slot]];
            if (const auto *a = answerOf(r.index, setName(SetKind::Retain), slot, 0)) {
                u["Prediction"] = a->answer;
                ++out.answers;
            } else {
                u.erase("Prediction");
                ++out.missing;
            }
        }
        out.records.push_back(std::move(rec));
    }
    return out;
}

} // namespace se::data
