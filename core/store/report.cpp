#include "core/store/report.h"

#include <cstdio>

namespace se::store {
namespace {

void assign(MetricSet &m, const MetricRecord &r)
{
    const bool train = r.split == "train";
    const bool val = r.split == "val";
    if (r.name == "asr")
        (train ? m.efficacyAsr : m.generalityAsr) = r.value;
    else if (r.name == "rr")
        (train ? m.efficacyRr : m.generalityRr) = r.value;
    else if (val && r.name == "sarr")
        m.sarr = r.value;
    else if (val && r.name == "rouge_l_precision")
        m.rougeP = r.value;
    else if (val && r.name == "rouge_l_f1")
        m.rougeF1 = r.value;
    else if (val && r.name == "retain_accuracy")
        m.retainAccuracy = r.value;
}

nlohmann::ordered_json num(double v)
{
    return v < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
}

nlohmann::ordered_json metricJson(const MetricSet &m)
{
    return {{"efficacy", {{"asr", num(m.efficacyAsr)}, {"rr", num(m.efficacyRr)}}},
            {"generality", {{"asr", num(m.generalityAsr)}, {"rr", num(m.generalityRr)}}},
            {"sarr", num(m.sarr)},
            {"rouge_l_precision", num(m.rougeP)},
            {"rouge_l_f1", num(m.rougeF1)},
            {"retain_accuracy", num(m.retainAccuracy)}};
}

} // namespace

RunSummary summarizeRun(const RunStore &store, const RunInfo &run)
{
    RunSummary s;
    s.run = run;
    const auto all = store.metrics(run.id);
    for (const char *stage : {"final", "vanilla"}) {
        for (const auto &m : all)
            if (m.stage == stage) {
                s.stage = stage;
                break;
            }
        if (!s.stage.empty())
            break;
    }
    int lastStep = -1;
    if (s.stage.empty()) {
        for (const auto &m : all)
            if (m.stage == "step" && m.step > lastStep)
                lastStep = m.step;
        if (lastStep >= 0)
            s.stage = "step";
    }
    for (const auto &m : all) {
        if (m.stage != s.stage || (s.stage == "step" && m.step != lastStep))
            continue;
        s.judge = m.judge;
        assign(m.category.empty() ? s.overall : s.perCategory[m.category], m);
    }
    if (s.judge.empty())
        s.judge = run.judge;
    return s;
}

std::vector<RunSummary> summarizeRuns(const RunStore &store)
{
    std::vector<RunSummary> out;
    for (const auto &r : store.runs())
        out.push_back(summarizeRun(store, r));
    return out;
}

nlohmann::ordered_json toJson(const RunSummary &s)
{
    nlohmann::ordered_json j;
    j["id"] = s.run.id;
    j["name"] = s.run.name;
    j["method"] = s.run.method;
    j["pd"] = s.run.pd;
    j["status"] = statusName(s.run.status);
    j["judge"] = s.judge;
    j["dataset_hash"] = s.run.datasetHash;
    j["created_at"] = s.run.createdAt;
    j["stage"] = s.stage;
    nlohmann::ordered_json m = metricJson(s.overall);
    nlohmann::ordered_json cats = nlohmann::ordered_json::object();
    for (const auto &[cat, ms] : s.perCategory)
        cats[cat] = metricJson(ms);
    m["per_category"] = cats;
    j["metrics"] = m;
    return j;
}

std::string formatTable(const std::vector<RunSummary> &runs)
{
    auto pct = [](double v) {
        char b[16];
        if (v < 0)
            std::snprintf(b, sizeof b, "%7s", "-");
        else
            std::snprintf(b, sizeof b, "%6.1f%%", 100 * v);
        return std::string(b);
    };
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "%-4s %-18s %-11s | %-16s | %-16s | %-7s | %-25s\n", "id", "run", "status",
                  "Efficacy", "Generality", "", "Retain (val)");
    out += line;
    std::snprintf(line, sizeof line, "%-4s %-18s %-11s | %7s %8s | %7s %8s | %7s | %7s %8s %8s\n", "", "", "", "ASR",
                  "RR", "ASR", "RR", "SARR", "ROUGE-P", "ROUGE-F1", "Acc");
    out += line;
    for (const auto &s : runs) {
        std::string label = s.run.method == "vanilla" ? "vanilla" : s.run.method + (s.run.pd ? "+pd" : "");
        for (auto &c : label)
            c = char(std::toupper(static_cast<unsigned char>(c)));
        if (s.run.method == "vanilla")
            label = "Vanilla";
        std::string lowerLabel = label;
        for (auto &c : lowerLabel)
            c = char(std::tolower(static_cast<unsigned char>(c)));
        if (!s.run.name.empty() && s.run.name != lowerLabel)
            label += " (" + s.run.name + ")";
        if (label.size() > 18)
            label = label.substr(0, 15) + "...";
        const MetricSet &m = s.overall;
        std::snprintf(line, sizeof line, "%-4lld %-18s %-11s | %s %s | %s %s | %s | %s %s %s\n",
                      static_cast<long long>(s.run.id), label.c_str(), statusName(s.run.status),
                      pct(m.efficacyAsr).c_str(), (" " + pct(m.efficacyRr)).c_str(), pct(m.generalityAsr).c_str(),
                      (" " + pct(m.generalityRr)).c_str(), pct(m.sarr).c_str(), pct(m.rougeP).c_str(),
                      (" " + pct(m.rougeF1)).c_str(), (" " + pct(m.retainAccuracy)).c_str());
        out += line;
    }
    return out;
}

} // namespace se::store
