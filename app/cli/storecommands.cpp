// `safeeraser report`, `export` and `store merge`: reading the run store headless.
#include "app/cli/commands.h"
#include "core/data/csv.h"
#include "core/data/pathguard.h"
#include "core/data/officialresults.h"
#include "core/store/comparison.h"
#include "core/store/report.h"
#include "core/store/runstore.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace se::cli {
namespace {

struct ReportOptions {
    std::string store;
    std::int64_t run = 0;
    bool json = false;
    bool perCategory = false;
};

struct ExportOptions {
    std::string store, format = "csv", out, stage, data, split = "val";
    std::int64_t run = 0;
};

// The official inference layout (--format safeeraser): one split's records with the run's answers in them.
long writeOfficial(const ExportOptions &o, const store::RunStore &st, std::ofstream &out)
{
    const store::RunInfo run = *st.run(o.run);
    const std::string data = o.data.empty() ? run.datasetPath : o.data;
    if (data.empty())
        throw std::runtime_error("run " + std::to_string(o.run) + " names no benchmark: give --data DIR");
    const se::data::Benchmark bench = se::data::readBenchmark(data);
    if (!run.datasetHash.empty() && bench.contentHash != run.datasetHash)
        std::cerr << "safeeraser export: warning: the benchmark at " << data
                  << " is not the one the run was made on (its content hash differs)\n";
    std::vector<store::AnswerRecord> answers;
    if (o.stage.empty()) {
        const store::RunStage stage = store::comparisonStage(st, o.run);
        for (auto &a : st.answers(o.run, stage.stage))
            if (stage.stage != "step" || a.step == stage.step)
                answers.push_back(std::move(a));
    } else {
        answers = st.answers(o.run, o.stage);
    }
    const auto split = o.split == "train" ? se::data::Split::Train : se::data::Split::Val;
    const se::data::OfficialExport e = se::data::toOfficialLayout(bench, split, answers);
    out << e.records.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    if (e.missing)
        std::cerr << "safeeraser export: " << e.missing
                  << " answer fields of the exported records have no answer in the run and were left out\n";
    return e.answers;
}

std::unique_ptr<store::RunStore> openExisting(const std::string &path, bool readOnly)
{
    if (!std::filesystem::exists(path))
        throw std::runtime_error("no run store at " + path);
    return std::make_unique<store::RunStore>(path, readOnly);
}

int runReport(const ReportOptions &o)
{
    auto st = openExisting(o.store, true);
    std::vector<store::RunSummary> runs;
    if (o.run) {
        const auto r = st->run(o.run);
        if (!r) {
            std::cerr << "safeeraser report: no run " << o.run << " in " << o.store << "\n";
            return 1;
        }
        runs.push_back(store::summarizeRun(*st, *r));
    } else {
        runs = store::summarizeRuns(*st);
    }
    if (o.json) {
        nlohmann::ordered_json arr = nlohmann::ordered_json::array();
        for (const auto &s : runs)
            arr.push_back(store::toJson(s, store::judgeAgreement(*st, s.run.id)));
        std::cout << arr.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
        return 0;
    }
    std::cout << store::formatTable(runs, true);
    for (const auto &s : runs)
        std::cout << store::formatAgreement(s, store::judgeAgreement(*st, s.run.id));
    if (o.perCategory) {
        for (const auto &s : runs) {
            std::vector<store::RunSummary> cats;
            for (const auto &[cat, m] : s.perCategory) {
                store::RunSummary c = s;
                c.run.name = cat;
                c.overall = m;
                cats.push_back(c);
            }
            if (!cats.empty())
                std::cout << "\nRun " << s.run.id << " by category:\n" << store::formatTable(cats, true);
        }
    }
    return 0;
}

int runExport(const ExportOptions &o)
{
    using se::data::csvField;
    se::data::refuseWritingOverInputs("--out", o.out, {{"run store (--store)", o.store}});
    auto st = openExisting(o.store, true);
    const auto run = st->run(o.run);
    if (!run) {
        std::cerr << "safeeraser export: no run " << o.run << " in " << o.store << "\n";
        return 1;
    }
    // Never over the run's own files — its benchmark (read by the official format), the model it started from, the
    // weights it wrote — nor over anything that is not the kind of file an export writes (a run store, weights, a
    // benchmark split, an image, a device or a FIFO).
    std::string startModel;
    {
        const auto config = nlohmann::json::parse(run->configJson, nullptr, false);
        if (config.is_object() && config.contains("model") && config["model"].is_string())
            startModel = config["model"].get<std::string>();
    }
    se::data::refuseWritingOverInputs("--out", o.out,
                                      {{"benchmark", o.data.empty() ? run->datasetPath : o.data},
                                       {"run's start model", startModel},
                                       {"run's weights", run->outputModel}});
    se::data::refuseReplacingAnotherKind("--out", o.out, o.format == "csv" ? "CSV" : "JSON");
    const auto answers = o.format == "safeeraser" ? std::vector<store::AnswerRecord>() : st->answers(o.run, o.stage);
    long written = long(answers.size());
    // Write next to the target and rename, so a failed export never leaves half a file.
    const std::string tmp = o.out + ".partial";
    struct Partial { // a failed write (a full disk) leaves nothing behind
        std::string path;
        bool kept = false;
        ~Partial()
        {
            if (!kept)
                std::remove(path.c_str());
        }
    } partial{tmp};
    {
        std::ofstream out(tmp, std::ios::binary);
        if (!out)
            throw std::runtime_error("cannot write " + o.out);
        if (o.format == "safeeraser") {
            written = writeOfficial(o, *st, out);
        } else if (o.format == "json") {
            nlohmann::ordered_json arr = nlohmann::ordered_json::array();
            for (const auto &a : answers) {
                nlohmann::ordered_json j = {{"id", a.id},
                                            {"stage", a.stage},
                                            {"step", a.step},
                                            {"sample", a.sample},
                                            {"split", a.split},
                                            {"set", a.set},
                                            {"record", a.record},
                                            {"pair", a.pair},
                                            {"category", a.category},
                                            {"image", a.image},
                                            {"question", a.question},
                                            {"reference", a.reference},
                                            {"answer", a.answer},
                                            {"refusal", a.refusal},
                                            {"unsafe", a.unsafe},
                                            {"degenerate", a.degenerate},
                                            {"normal", a.normal},
                                            {"exact", a.exact},
                                            {"rouge_l_precision", a.rougePrecision},
                                            {"rouge_l_recall", a.rougeRecall},
                                            {"rouge_l_f1", a.rougeF1},
                                            {"judge", a.judge}};
                if (const auto v = st->verdict(a.id))
                    j["verdict"] = {{"verdict", v->verdict}, {"tags", v->tags}, {"note", v->note}};
                arr.push_back(j);
            }
            out << arr.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
        } else {
            out << "id,stage,step,sample,split,set,record,pair,category,image,question,reference,answer,refusal,unsafe,"
                   "degenerate,normal,exact,rouge_l_precision,rouge_l_recall,rouge_l_f1,judge,verdict,tags\n";
            for (const auto &a : answers) {
                const auto v = st->verdict(a.id);
                std::string tags;
                if (v)
                    for (const auto &t : v->tags)
                        tags += (tags.empty() ? "" : ";") + t;
                out << a.id << ',' << a.stage << ',' << a.step << ',' << a.sample << ',' << a.split << ',' << a.set
                    << ',' << a.record << ',' << a.pair << ',' << csvField(a.category) << ',' << csvField(a.image)
                    << ',' << csvField(a.question) << ',' << csvField(a.reference) << ',' << csvField(a.answer) << ','
                    << a.refusal << ',' << a.unsafe << ',' << a.degenerate << ',' << a.normal << ',' << a.exact << ','
                    << a.rougePrecision << ',' << a.rougeRecall << ',' << a.rougeF1 << ',' << csvField(a.judge) << ','
                    << csvField(v ? v->verdict : "") << ',' << csvField(tags) << '\n';
            }
        }
        if (!out.flush())
            throw std::runtime_error("cannot write " + o.out + " (disk full?)");
    }
    std::filesystem::rename(tmp, o.out);
    partial.kept = true;
    std::cerr << "wrote " << written << " answers to " << o.out << "\n";
    return 0;
}

} // namespace

void addStoreCommands(CLI::App &app, int &exitCode)
{
    auto r = std::make_shared<ReportOptions>();
    CLI::App *report = app.add_subcommand("report", "Print the runs of a store as the paper's table, or as JSON.");
    report->add_option("--store", r->store, "Run store (SQLite file)")->required();
    report->add_option("--run", r->run, "Only this run id");
    report->add_flag("--json", r->json, "One JSON array, an object per run; metric values are fractions in [0, 1]");
    report->add_flag("--per-category", r->perCategory, "Also a table per category (text output)");
    report->callback([r, &exitCode] { exitCode = guarded("report", [&] { return runReport(*r); }); });

    auto e = std::make_shared<ExportOptions>();
    CLI::App *exp = app.add_subcommand("export", "Export every evaluated answer of a run with its flags and verdict.");
    exp->add_option("--store", e->store, "Run store (SQLite file)")->required();
    exp->add_option("--run", e->run, "Run id")->required();
    exp->add_option("--format", e->format,
                    "csv, json, or safeeraser (the official pipeline's inference layout, which its judging script "
                    "reads: one split's records with the answers in place of the references)")
        ->check(CLI::IsMember({"csv", "json", "safeeraser"}))
        ->capture_default_str();
    exp->add_option("--split", e->split, "safeeraser format: the split to write, train or val")
        ->check(CLI::IsMember({"train", "val"}))
        ->capture_default_str();
    exp->add_option("--data", e->data, "safeeraser format: the benchmark folder (default: the run's)");
    exp->add_option("--stage", e->stage,
                    "Only answers of this stage (vanilla, step, final); safeeraser format: default final, else "
                    "vanilla, else the last step");
    exp->add_option("--out", e->out, "Output file")->required();
    exp->callback([e, &exitCode] { exitCode = guarded("export", [&] { return runExport(*e); }); });

    CLI::App *storeCmd = app.add_subcommand("store", "Run-store maintenance.");
    storeCmd->require_subcommand(1);
    auto m = std::make_shared<std::pair<std::string, std::vector<std::string>>>();
    CLI::App *merge = storeCmd->add_subcommand("merge", "Copy every run of other stores (for example from a GPU "
                                                        "server) into one store. Runs already there are skipped.");
    merge->add_option("--into", m->first, "Target store (created if missing)")->required();
    merge->add_option("SOURCES", m->second, "Stores to merge from")->required()->check(CLI::ExistingFile);
    merge->callback([m, &exitCode] {
        exitCode = guarded("store merge", [&] {
            for (const auto &src : m->second)
                if (se::data::samePath(src, m->first))
                    throw std::runtime_error(src + " is the target store (--into) itself");
            store::RunStore target(m->first);
            for (const auto &src : m->second) {
                const int n = target.mergeFrom(src);
                std::cout << "merged " << n << " run" << (n == 1 ? "" : "s") << " from " << src << "\n";
            }
            return 0;
        });
    });
}

} // namespace se::cli
