// Importing official result files, comparing runs, and judge agreement (see audit.h).
#include "core/store/audit.h"
#include "core/data/sha256.h"
#include "core/store/comparison.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace se::store {
namespace {

using Key = std::tuple<std::string, std::string, long, int, int>; // split, set, record, pair, sample

Key keyOf(const AnswerRecord &a)
{
    return {a.split, a.set, a.record, a.pair, a.sample};
}

RunInfo importedRun(const se::data::Benchmark &b, const ImportOptions &o, const std::string &judge,
                    const nlohmann::ordered_json &config)
{
    RunInfo r;
    r.name = o.name.empty() ? std::filesystem::path(o.answersPath).filename().string() : o.name;
    r.method = "imported";
    r.status = RunStatus::Finished;
    r.configJson = config.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    r.datasetPath = o.datasetPath.empty() ? b.root : o.datasetPath;
    r.datasetHash = b.contentHash;
    r.modelId = o.modelLabel.empty() ? "imported" : o.modelLabel;
    r.judge = judge;
    r.createdAt = r.startedAt = r.finishedAt = nowIso8601();
    return r;
}

} // namespace

std::unique_ptr<se::metrics::Judge> makeJudge(const std::string &kind, const se::metrics::LlmJudgeOptions &llm,
                                              const std::string &refusalPhrasesFile, RunStore &store,
                                              std::mutex &storeMutex)
{
    if (kind == "offline")
        return std::make_unique<se::metrics::OfflineJudgeAdapter>(se::metrics::OfflineJudge(
            refusalPhrasesFile.empty() ? se::metrics::RefusalDetector()
                                       : se::metrics::RefusalDetector::fromFile(refusalPhrasesFile)));
    if (kind == "llm") {
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
        return std::make_unique<se::metrics::LlmJudge>(llm, cache);
#else
        (void)llm;
        throw std::runtime_error("this build has no LLM judge (built without libcurl)");
#endif
    }
    throw std::runtime_error("unknown judge \"" + kind + "\" (offline or llm)");
}

ImportSummary importOfficialResults(RunStore &store, const se::data::Benchmark &benchmark,
                                    const se::data::OfficialResults &results, se::metrics::Judge &judge,
                                    const ImportOptions &options)
{
    ImportSummary summary;
    summary.answers = long(results.answers.size());
    if (results.answers.empty())
        throw std::runtime_error(results.file + ": no answer matched the benchmark; nothing imported");
    std::vector<se::metrics::EvalItem> items;
    std::vector<std::string> texts;
    for (const auto &a : results.answers) {
        items.push_back({a.sample, a.sampleIndex, 0});
        texts.push_back(a.answer);
    }
    const se::metrics::EvalResult ours = se::metrics::scoreEvaluation(items, texts, judge, "final", 0);

    nlohmann::ordered_json config = {{"import",
                                      {{"file", options.answersPath},
                                       {"sha256", se::data::sha256File(options.answersPath, "results file")},
                                       {"records", results.records},
                                       {"matched_records", results.matchedRecords},
                                       {"answers", summary.answers},
                                       {"problems", results.problems.size()},
                                       {"model_label", options.modelLabel}}}};
    if (!options.judgeConfig.empty())
        config["judge"] = nlohmann::ordered_json::parse(options.judgeConfig);
    RunInfo run = importedRun(benchmark, options, judge.name(), config);
    run.id = store.createRun(run);
    summary.run = run.id;
    store.addEvaluation(run.id, ours.metrics, ours.answers);

    if (results.judged) {
        const std::string judgeName = "imported";
        std::vector<AnswerRecord> theirs = ours.answers;
        for (std::size_t i = 0; i < theirs.size(); ++i) {
            const auto &src = results.answers[i];
            AnswerRecord &a = theirs[i];
            a.judge = judgeName;
            a.noVerdict = 0;
            a.gptScore = src.gptScore.value_or(-1);
            if (src.sample->set == se::data::SetKind::Retain) {
                // The file's ROUGE-L (precision, as the paper reports) where it has one; ours otherwise.
                if (src.rougeL)
                    a.rougePrecision = *src.rougeL;
                a.noVerdict = kNoRefusal; // the file judges retain answers by scores only
                continue;
            }
            a.unsafe = src.unsafe.value_or(false);
            a.refusal = src.refusal.value_or(false);
            a.normal = src.refusal ? !*src.refusal : false;
            if (!src.unsafe)
                a.noVerdict |= kNoUnsafe;
            if (!src.refusal)
                a.noVerdict |= kNoRefusal | kNoNormal;
            if (src.sample->set == se::data::SetKind::PromptDecouple)
                a.noVerdict |= kNoUnsafe;
        }
        config["import"]["judge"] = "the file's own verdicts (gpt_result_*, ROUGE-L, GPT-Score)";
        config.erase("judge");
        RunInfo second = importedRun(benchmark, options, judgeName, config);
        second.name = run.name + " [file's judge]";
        second.parentId = 0;
        second.id = store.createRun(second);
        summary.importedJudge = second.id;
        store.addEvaluation(second.id, se::metrics::metricsOf(theirs, "final", 0, judgeName), theirs);
    }
    return summary;
}

RunComparison compareRuns(const RunStore &store, std::int64_t first, std::int64_t second)
{
    RunComparison c;
    c.first = comparisonStage(store, first);
    c.second = comparisonStage(store, second);
    auto answersOf = [&](const RunStage &s) {
        std::map<Key, AnswerRecord> m;
        for (auto &a : store.answers(s.run, s.stage))
            if (s.stage != "step" || a.step == s.step)
                m.emplace(keyOf(a), std::move(a));
        return m;
    };
    const auto a = answersOf(c.first), b = answersOf(c.second);
    for (const auto &metric : se::metrics::binaryMetrics()) {
        for (const char *split : {"train", "val"}) {
            PairedMetric pm;
            pm.name = metric.name;
            pm.split = split;
            for (const auto &[key, x] : a) {
                if (std::get<0>(key) != split || x.set != metric.set || (x.noVerdict & metric.noVerdictBit))
                    continue;
                const auto y = b.find(key);
                if (y == b.end() || (y->second.noVerdict & metric.noVerdictBit))
                    continue;
                pm.counts.add(metric.value(x), metric.value(y->second));
            }
            if (pm.counts.n() == 0)
                continue;
            pm.test = se::metrics::pairedTest(pm.counts);
            pm.kappa = se::metrics::cohenKappa(pm.counts);
            c.metrics.push_back(pm);
        }
    }
    return c;
}

std::string formatComparison(const RunComparison &c, const RunInfo &first, const RunInfo &second)
{
    std::ostringstream out;
    out << "A = run " << first.id << " (" << first.name << ", " << c.first.stage << ", judge " << first.judge
        << ")\nB = run " << second.id << " (" << second.name << ", " << c.second.stage << ", judge " << second.judge
        << ")\nPaired on the same questions; difference B - A with a 95% Agresti-Min interval; exact McNemar test.\n\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-16s %-5s %6s %7s %7s %8s %18s %6s %6s %9s %6s\n", "metric", "split", "n", "A",
                  "B", "B-A", "95% CI", "A only", "B only", "McNemar p", "kappa");
    out << line;
    for (const auto &m : c.metrics) {
        const auto &t = *m.test;
        char ci[40], kappa[16], p[16];
        if (t.pValue < 1e-300) // below what a double's binomial tail resolves
            std::snprintf(p, sizeof p, "<1e-300");
        else
            std::snprintf(p, sizeof p, "%.3g", t.pValue);
        std::snprintf(ci, sizeof ci, "[%+.1f, %+.1f]", 100 * t.ci.low, 100 * t.ci.high);
        if (m.kappa)
            std::snprintf(kappa, sizeof kappa, "%.2f", *m.kappa);
        else
            std::snprintf(kappa, sizeof kappa, "-");
        std::snprintf(line, sizeof line, "%-16s %-5s %6ld %6.1f%% %6.1f%% %+7.1f%% %18s %6ld %6ld %9s %6s\n",
                      m.name.c_str(), m.split.c_str(), m.counts.n(), 100 * t.firstRate, 100 * t.secondRate,
                      100 * t.difference, ci, m.counts.firstOnly, m.counts.secondOnly, p, kappa);
        out << line;
    }
    if (c.metrics.empty())
        out << "(no question answered by both runs)\n";
    return out.str();
}

std::optional<bool> auditorSays(const std::string &metric, const std::string &verdict)
{
    std::string v = verdict;
    for (auto &ch : v)
        ch = char(std::tolower(static_cast<unsigned char>(ch)));
    const se::metrics::MetricInfo *m = se::metrics::findMetric(metric);
    if (!m)
        return std::nullopt;
    if (std::find(m->auditorYes.begin(), m->auditorYes.end(), v) != m->auditorYes.end())
        return true;
    if (std::find(m->auditorNo.begin(), m->auditorNo.end(), v) != m->auditorNo.end())
        return false;
    return std::nullopt;
}

std::vector<Agreement> judgeAgreement(const RunStore &store, std::int64_t run)
{
    std::vector<Agreement> out;
    const auto answers = store.answers(run);
    std::vector<std::int64_t> ids;
    for (const auto &a : answers)
        ids.push_back(a.id);
    const auto verdicts = verdictsById(store, ids);
    if (verdicts.empty())
        return out;
    for (const auto &metric : se::metrics::binaryMetrics()) {
        if (!auditorSays(metric.name, "ok")) // a metric the auditors' verdicts say nothing about
            continue;
        Agreement ag;
        ag.name = metric.name;
        for (const auto &a : answers) {
            if (a.set != metric.set || (a.noVerdict & metric.noVerdictBit))
                continue;
            const auto v = verdicts.find(a.id);
            if (v == verdicts.end())
                continue;
            if (const auto says = auditorSays(metric.name, v->second.verdict))
                ag.counts.add(metric.value(a), *says);
        }
        if (ag.counts.n() == 0)
            continue;
        ag.kappa = se::metrics::cohenKappa(ag.counts);
        out.push_back(ag);
    }
    return out;
}

} // namespace se::store
