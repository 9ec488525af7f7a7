#include "core/store/report.h"
#include "core/unlearn/method.h"

#include <cmath>
#include <cstdio>

namespace se::store {
namespace names = se::metrics::names;
namespace {

void assign(MetricSet &m, const MetricRecord &r)
{
    for (const auto &c : se::metrics::tabledMetrics())
        if (r.name == c.metric->name && r.split == c.split)
            m.figures[{r.name, r.split}] = {r.value, r.count};
}

nlohmann::ordered_json num(double v)
{
    return v < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
}

// key, key_ci and key_n of a rate
void putRate(nlohmann::ordered_json &j, const std::string &key, double v, int n)
{
    j[key] = num(v);
    const auto ci = rateInterval(v, n);
    j[key + "_ci"] = ci ? nlohmann::ordered_json{ci->low, ci->high} : nlohmann::ordered_json();
    j[key + "_n"] = n;
}

// Forget metrics under "efficacy" (train) and "generality" (val); the others at the top.
nlohmann::ordered_json metricJson(const MetricSet &m)
{
    nlohmann::ordered_json j;
    for (const auto &c : se::metrics::tabledMetrics()) {
        const bool forget = std::string(c.metric->set) == "forget";
        nlohmann::ordered_json &where = forget ? j[c.split == "train" ? "efficacy" : "generality"] : j;
        const Figure f = m.get(c.metric->name, c.split);
        if (c.metric->rate())
            putRate(where, c.metric->name, f.value, f.n);
        else
            where[c.metric->name] = num(f.value);
    }
    return j;
}

} // namespace

Figure MetricSet::get(const std::string &metric, const std::string &split) const
{
    const auto it = figures.find({metric, split});
    return it == figures.end() ? Figure{} : it->second;
}

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

std::optional<se::metrics::Interval> rateInterval(double rate, int n)
{
    if (rate < 0)
        return std::nullopt;
    return se::metrics::wilson(rate, n);
}

nlohmann::ordered_json toJson(const RunSummary &s, const std::vector<Agreement> &agreement)
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
    j["interval"] = "Wilson 95% over answers";
    if (!agreement.empty()) {
        nlohmann::ordered_json ag = nlohmann::ordered_json::object();
        for (const auto &a : agreement)
            ag[a.name] = {{"n", a.counts.n()},
                          {"kappa", a.kappa ? nlohmann::ordered_json(*a.kappa) : nlohmann::ordered_json()},
                          {"both_yes", a.counts.bothYes},
                          {"judge_only", a.counts.firstOnly},
                          {"auditors_only", a.counts.secondOnly},
                          {"both_no", a.counts.bothNo}};
        j["judge_agreement"] = ag;
    }
    return j;
}

std::string formatAgreement(const RunSummary &s, const std::vector<Agreement> &agreement)
{
    if (agreement.empty())
        return {};
    std::string out =
        "Judge agreement with the auditors' verdicts, run " + std::to_string(s.run.id) + " (judge " + s.judge + "):\n";
    char line[256];
    for (const auto &a : agreement) {
        char kappa[16] = "-";
        if (a.kappa)
            std::snprintf(kappa, sizeof kappa, "%.2f", *a.kappa);
        std::snprintf(line, sizeof line,
                      "  %-16s n %4ld  kappa %5s  (both yes %ld, judge only %ld, auditors only %ld, both no %ld)\n",
                      a.name.c_str(), a.counts.n(), kappa, a.counts.bothYes, a.counts.firstOnly, a.counts.secondOnly,
                      a.counts.bothNo);
        out += line;
    }
    return out;
}

std::string formatTable(const std::vector<RunSummary> &runs, bool intervals)
{
    auto ci = [](const Figure &f) {
        char b[24];
        const auto w = rateInterval(f.value, f.n);
        if (!w)
            std::snprintf(b, sizeof b, "%7s", "");
        else { // rounded outwards; one decimal below 10%, where whole percent would make a narrow interval "0-0"
            char lo[8], hi[8];
            const double l = 100 * w->low, h = 100 * w->high;
            if (l < 10)
                std::snprintf(lo, sizeof lo, "%.1f", std::floor(l * 10) / 10);
            else
                std::snprintf(lo, sizeof lo, "%.0f", std::floor(l));
            if (h < 10)
                std::snprintf(hi, sizeof hi, "%.1f", std::ceil(h * 10) / 10);
            else
                std::snprintf(hi, sizeof hi, "%.0f", std::ceil(h));
            std::snprintf(b, sizeof b, "%7s", (std::string(lo) + "-" + hi).c_str());
        }
        return std::string(b);
    };
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
        std::string label = se::unlearn::runLabel(s.run.method, s.run.pd && s.run.method != "vanilla");
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
        std::snprintf(
            line, sizeof line, "%-4lld %-18s %-11s | %s %s | %s %s | %s | %s %s %s\n", static_cast<long long>(s.run.id),
            label.c_str(), statusName(s.run.status), pct(m.get(names::asr, "train").value).c_str(),
            (" " + pct(m.get(names::rr, "train").value)).c_str(), pct(m.get(names::asr, "val").value).c_str(),
            (" " + pct(m.get(names::rr, "val").value)).c_str(), pct(m.get(names::sarr, "val").value).c_str(),
            pct(m.get(names::rougeP, "val").value).c_str(), (" " + pct(m.get(names::rougeF1, "val").value)).c_str(),
            (" " + pct(m.get(names::retainAccuracy, "val").value)).c_str());
        out += line;
        if (intervals) {
            std::snprintf(line, sizeof line, "%-4s %-18s %-11s | %s %s | %s %s | %s | %7s %8s %s\n", "", "  95% CI", "",
                          ci(m.get(names::asr, "train")).c_str(), (" " + ci(m.get(names::rr, "train"))).c_str(),
                          ci(m.get(names::asr, "val")).c_str(), (" " + ci(m.get(names::rr, "val"))).c_str(),
                          ci(m.get(names::sarr, "val")).c_str(), "", "",
                          (" " + ci(m.get(names::retainAccuracy, "val"))).c_str());
            out += line;
        }
    }
    if (intervals)
        out += "95% CI: Wilson score intervals over answers, in percent, rounded outwards.\n";
    bool gpt = false;
    const auto *gptScore = se::metrics::findMetric(names::gptScore);
    for (const auto &s : runs)
        gpt = gpt || s.overall.get(names::gptScore, "val").value >= 0;
    if (gpt)
        for (const auto &s : runs)
            if (const double v = s.overall.get(names::gptScore, "val").value; v >= 0) {
                std::snprintf(line, sizeof line, "run %lld: %s (%s, val) %s\n", static_cast<long long>(s.run.id),
                              gptScore->label, gptScore->set, gptScore->format(v).c_str());
                out += line;
            }
    return out;
}

} // namespace se::store
