// `safeeraser import` and `compare`: the official pipeline's result files into the store, and two runs compared on
// the same questions. Also the judge flags that every judging command shares.
#include "app/cli/commands.h"
#include "core/data/officialresults.h"
#include "core/data/pathguard.h"
#include "core/store/audit.h"
#include "core/store/runstore.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace se::cli {

void addJudgeFlags(CLI::App *c, JudgeFlags &f)
{
    c->add_option("--judge", f.judge, "offline (default) or llm")->check(CLI::IsMember({"offline", "llm"}));
    c->add_option("--llm-url", f.llmUrl,
                  "LLM judge: OpenAI-compatible base URL, http:// or https:// (e.g. "
                  "http://127.0.0.1:8080/v1); the key, if any, is read from "
                  "$SAFEERASER_JUDGE_API_KEY");
    c->add_flag("--llm-allow-http-key", f.llmAllowHttpKey,
                "LLM judge: send the API key over plain http to another "
                "machine (refused otherwise)");
    c->add_option("--llm-model", f.llmModel,
                  "LLM judge: model name; the API key is read from "
                  "$SAFEERASER_JUDGE_API_KEY");
    c->add_option("--refusals", f.refusals, "Refusal phrases file for the offline judge (one per line)")
        ->check(CLI::ExistingFile);
    c->add_option("--judge-prompts", f.prompts,
                  "LLM judge: the prompts of the paper you reproduce, a JSON file {\"asr\": {CATEGORY: "
                  "TEMPLATE, …, \"default\": …}, \"rr\": …, \"rr_sd\": …, \"gpt_score\": …} with "
                  "{prediction} (and {question}, {answer}) slots; stored with the run")
        ->check(CLI::ExistingFile);
    c->add_flag("--no-gpt-score", f.noGptScore, "LLM judge: do not ask for a GPT-Score of retain answers");
}

void applyJudgeFlags(const JudgeFlags &f, std::string &kind, se::metrics::LlmJudgeOptions &llm, std::string &refusals)
{
    if (!f.judge.empty())
        kind = f.judge;
    if (!f.llmUrl.empty())
        llm.baseUrl = f.llmUrl;
    if (!f.llmModel.empty())
        llm.model = f.llmModel;
    if (!f.refusals.empty())
        refusals = f.refusals;
    if (f.llmAllowHttpKey)
        llm.allowKeyOverHttp = true;
    if (!f.prompts.empty() && kind != "llm")
        throw std::invalid_argument("--judge-prompts: prompts are for the LLM judge (--judge llm)");
    if (!f.prompts.empty())
        llm.prompts = se::metrics::JudgePrompts::fromFile(f.prompts);
    if (f.noGptScore)
        llm.gptScore = false;
    if (kind == "llm" && (llm.baseUrl.empty() || llm.model.empty()))
        throw std::invalid_argument("the LLM judge needs --llm-url and --llm-model");
#ifdef SE_HAVE_LLM_JUDGE
    if (kind == "llm")
        se::metrics::LlmJudge check(llm); // the endpoint's scheme, the key's variable and transport, before any work
#endif
}

namespace {

struct ImportFlags {
    std::string store, data, answers, name, modelLabel;
    std::size_t maxShown = 50; // problems listed (0: all); the rest counted
    JudgeFlags judge;
};

int runImport(const ImportFlags &f)
{
    se::data::refuseWritingOverInputs("--store", f.store, {{"--answers", f.answers}, {"--data", f.data}});
    std::string kind = "offline", refusals;
    se::metrics::LlmJudgeOptions llm;
    applyJudgeFlags(f.judge, kind, llm, refusals);

    const se::data::Benchmark bench = se::data::readBenchmark(f.data);
    if (!bench.train.present && !bench.val.present)
        throw std::runtime_error("no benchmark at " + f.data + " (neither all_train.json nor all_val.json)");
    const se::data::OfficialResults results = se::data::readOfficialResults(f.answers, bench);
    // A file of a million junk lines is a million problems: the first few listed, the rest counted.
    listFirst(
        std::cerr, results.problems.size(), f.maxShown,
        "not imported: ", [&](std::size_t i) { return results.problems[i].toString(); },
        " problems (--max-shown 0 lists all)");
    if (results.answers.empty()) {
        std::cerr << "safeeraser import: nothing in " << f.answers << " matches the benchmark at " << f.data << " ("
                  << results.problems.size() << " problems above); the store is unchanged\n";
        return 1;
    }
    store::RunStore st(f.store);
    std::mutex storeMutex;
    auto judge = store::makeJudge(kind, llm, refusals, st, storeMutex);
    store::ImportOptions o;
    o.answersPath = f.answers;
    o.name = f.name;
    o.modelLabel = f.modelLabel;
    o.datasetPath = f.data;
    nlohmann::json judgeConfig = {{"judge", kind}, {"refusals", refusals}};
    if (kind == "llm")
        judgeConfig["llm"] = {{"model", llm.model},
                              {"base_url", llm.baseUrl},
                              {"gpt_score", llm.gptScore},
                              {"prompts", llm.prompts ? llm.prompts->toJson() : nlohmann::json()}};
    o.judgeConfig = judgeConfig.dump();
    const auto s = store::importOfficialResults(st, bench, results, *judge, o);
    std::cout << "imported " << s.answers << " answers of " << results.matchedRecords << " of " << results.records
              << " records from " << f.answers << " as run " << s.run << " (judge " << judge->name() << ")\n";
    if (s.importedJudge)
        std::cout << "the file's own verdicts: run " << s.importedJudge << " (judge imported"
                  << (results.noVerdicts ? ", " + std::to_string(results.noVerdicts) + " answers without a verdict"
                                         : std::string())
                  << ")\n";
    if (!results.problems.empty())
        std::cout << results.problems.size() << " problem" << (results.problems.size() == 1 ? "" : "s")
                  << " (listed on stderr): those fields were not imported\n";
    return results.problems.empty() ? 0 : 1;
}

struct CompareFlags {
    std::string store, runs;
    bool json = false;
};

int runCompare(const CompareFlags &f)
{
    std::vector<std::int64_t> ids;
    std::size_t start = 0;
    while (start <= f.runs.size()) {
        const std::size_t comma = std::min(f.runs.find(',', start), f.runs.size());
        const std::string part = f.runs.substr(start, comma - start);
        try {
            std::size_t used = 0;
            ids.push_back(std::stoll(part, &used));
            if (used != part.size())
                throw std::invalid_argument(part);
        } catch (const std::exception &) {
            throw std::invalid_argument("--runs: \"" + part + "\" is not a run id (expected A,B)");
        }
        start = comma + 1;
    }
    if (ids.size() != 2)
        throw std::invalid_argument("--runs: expected two run ids, A,B");
    if (!std::filesystem::exists(f.store))
        throw std::runtime_error("no run store at " + f.store);
    store::RunStore st(f.store, true);
    const auto a = st.run(ids[0]), b = st.run(ids[1]);
    for (std::size_t i = 0; i < 2; ++i)
        if (!(i ? b : a))
            throw std::runtime_error("no run " + std::to_string(ids[i]) + " in " + f.store);
    const store::RunComparison c = store::compareRuns(st, ids[0], ids[1]);
    if (!f.json) {
        std::cout << store::formatComparison(c, *a, *b);
        return 0;
    }
    nlohmann::ordered_json j = {{"a", {{"run", a->id}, {"stage", c.first.stage}, {"judge", a->judge}}},
                                {"b", {{"run", b->id}, {"stage", c.second.stage}, {"judge", b->judge}}},
                                {"interval", "Agresti-Min 95% (paired difference b - a)"},
                                {"test", "exact McNemar, two-sided"}};
    nlohmann::ordered_json ms = nlohmann::ordered_json::array();
    for (const auto &m : c.metrics)
        ms.push_back({{"metric", m.name},
                      {"split", m.split},
                      {"n", m.counts.n()},
                      {"a", m.test->firstRate},
                      {"b", m.test->secondRate},
                      {"difference", m.test->difference},
                      {"ci", {m.test->ci.low, m.test->ci.high}},
                      {"a_only", m.counts.firstOnly},
                      {"b_only", m.counts.secondOnly},
                      {"p_value", m.test->pValue},
                      {"kappa", m.kappa ? nlohmann::ordered_json(*m.kappa) : nlohmann::ordered_json()}});
    j["metrics"] = ms;
    std::cout << j.dump(2) << "\n";
    return 0;
}

} // namespace

void addAuditCommands(CLI::App &app, int &exitCode)
{
    auto i = std::make_shared<ImportFlags>();
    CLI::App *imp = app.add_subcommand(
        "import", "Record a result file of the official SafeEraser pipeline (its inference output, judged or not) as "
                  "a run: answers matched to the benchmark by image path and question, judged by our judge; the "
                  "file's own verdicts kept as a second run (judge \"imported\"). Every mismatch is listed.");
    imp->add_option("--store", i->store, "Run store (SQLite file; created if missing)")->required();
    imp->add_option("--data", i->data, "The benchmark folder the answers are to")->required();
    imp->add_option("--answers", i->answers, "The results file (JSON array or JSON Lines)")->required();
    imp->add_option("--max-shown", i->maxShown, "Problems listed on stderr (0: all; the rest are counted)")
        ->capture_default_str();
    imp->add_option("--name", i->name, "A name for the run (default: the file's name)");
    imp->add_option("--model-label", i->modelLabel, "The model that answered, as you want it shown");
    addJudgeFlags(imp, i->judge);
    imp->callback([i, &exitCode] { exitCode = guarded("import", [&] { return runImport(*i); }); });

    auto c = std::make_shared<CompareFlags>();
    CLI::App *cmp = app.add_subcommand("compare", "Two runs on the same questions: per metric the paired difference "
                                                  "with a 95% interval, an exact McNemar test, and Cohen's kappa.");
    cmp->add_option("--store", c->store, "Run store (SQLite file)")->required();
    cmp->add_option("--runs", c->runs, "Two run ids, A,B (B - A is reported)")->required();
    cmp->add_flag("--json", c->json, "One JSON object");
    cmp->callback([c, &exitCode] { exitCode = guarded("compare", [&] { return runCompare(*c); }); });
}

} // namespace se::cli
