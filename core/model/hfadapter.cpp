// PEFT adapter folders for LLaVA and Qwen2-VL (llava.h; each by its AdapterLayout): writing what a run trained,
// and applying one to a loaded model.
#include "core/model/architecture.h"
#include "core/model/llava.h"

#include "core/data/pathguard.h"
#include "core/model/hfweights.h"
#include "core/model/safetensors.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <regex>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
const char *const kPrefix = "base_model.model.";
std::string fileName(const AdapterLayout &layout, const std::string &canonical, const std::string &naming)
{
    return naming == "transformers-4" ? layout.legacyName(canonical) : canonical;
}

void writeText(const fs::path &p, const std::string &text)
{
    const fs::path tmp = p.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out)
            throw std::runtime_error(p.string() + ": write failed (disk full?)");
    }
    fs::rename(tmp, p);
}
} // namespace

const AdapterLayout &llavaAdapterLayout()
{
    static const AdapterLayout layout{
        llavaLegacyName,
        llavaCanonicalName,
        "model.multi_modal_projector.",
        "multi_modal_projector",
        {"linear_1", "linear_2"},
        // SafeEraser's own regex: adapters on the language model's modules only (a plain list would also match the
        // vision tower's q_proj / k_proj / v_proj when PEFT loads it).
        [](const std::string &alternatives) { return ".*language_model.*\\.(" + alternatives + ")"; }};
    return layout;
}

void saveAdapterFolder(const HfVlmImpl &model, const std::string &dir, const LoraSpec &spec,
                       const std::string &baseModel, const std::string &naming,
                       const std::map<std::string, std::string> &metadata)
{
    const AdapterLayout &layout = model.adapterLayout();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec))
        throw std::runtime_error(dir + ": cannot create the adapter folder");
    SafeTensors st;
    std::set<std::string> targets(spec.targets.begin(), spec.targets.end());
    const FoldedAdapter *folded = model.folded.get();
    const int64_t rank = folded ? folded->rank + spec.rank : spec.rank;
    torch::NoGradGuard ng;
    for (const auto &[name, lin] : model.linears()) {
        const std::pair<torch::Tensor, torch::Tensor> *prior = nullptr; // the folded adapter's (A₁, s₁·B₁)
        if (folded) {
            auto f = folded->lora.find(name);
            prior = f == folded->lora.end() ? nullptr : &f->second;
            if (name.rfind(layout.savedPrefix, 0) == 0 && !lin->hasAdapter())
                prior = nullptr; // the projector is saved in full below, the folded adapter's change included
        }
        if (lin->hasAdapter() || prior) {
            const std::string key = kPrefix + fileName(layout, name, naming);
            torch::Tensor a, b;
            if (!folded) {
                a = lin->adapterA().detach().to(torch::kCPU);
                b = lin->adapterB().detach().to(torch::kCPU);
            } else { // stacked: [A₁; A₂] and [s₁·B₁, s₂·B₂] with scaling 1 (zeros where one has no adapter)
                a = torch::zeros({rank, lin->weight.size(1)});
                b = torch::zeros({lin->weight.size(0), rank});
                if (prior) {
                    a.narrow(0, 0, prior->first.size(0)).copy_(prior->first);
                    b.narrow(1, 0, prior->second.size(1)).copy_(prior->second);
                }
                if (lin->hasAdapter()) {
                    a.narrow(0, folded->rank, spec.rank).copy_(lin->adapterA().detach().to(torch::kCPU));
                    b.narrow(1, folded->rank, spec.rank)
                        .copy_(lin->adapterB().detach().to(torch::kCPU) * lin->adapterScaling());
                }
                targets.insert(name.substr(name.rfind('.') + 1));
            }
            st.tensors.emplace_back(key + ".lora_A.weight", a.contiguous());
            st.tensors.emplace_back(key + ".lora_B.weight", b.contiguous());
        }
        if (name.rfind(layout.savedPrefix, 0) == 0 && !lin->hasAdapter()) { // modules_to_save
            const std::string key = kPrefix + fileName(layout, name, naming);
            st.tensors.emplace_back(key + ".weight", lin->weight.detach().to(torch::kCPU).contiguous());
            st.tensors.emplace_back(key + ".bias", lin->bias.detach().to(torch::kCPU).contiguous());
        }
    }
    st.metadata = metadata;
    st.metadata["format"] = "pt";
    if (folded) {
        st.metadata["start_adapter"] = folded->dir;
        st.metadata["start_adapter_rank"] = std::to_string(folded->rank);
    }
    writeSafeTensors((fs::path(dir) / "adapter_model.safetensors").string(), st);

    std::string alternatives;
    for (const auto &t : targets)
        if (!layout.savedLeaves.count(t))
            alternatives += (alternatives.empty() ? "" : "|") + t;
    json cfg = {{"peft_type", "LORA"},
                {"r", rank},
                {"lora_alpha", folded ? double(rank) : spec.alpha},
                {"lora_dropout", spec.dropout},
                {"target_modules", layout.targetRegex(alternatives)},
                {"bias", "none"},
                {"task_type", "CAUSAL_LM"},
                {"base_model_name_or_path", baseModel},
                {"modules_to_save", json::array({layout.modulesToSave})},
                {"use_rslora", folded ? false : spec.rslora},
                {"fan_in_fan_out", false},
                {"inference_mode", true},
                {"init_lora_weights", true}};
    writeText(fs::path(dir) / "adapter_config.json", cfg.dump(2) + "\n");
}

namespace {

// A PEFT LoRA adapter folder read and checked: its scaling, the LoRA pairs and the full weights (modules_to_save)
// keyed by canonical (transformers 5) names.
struct AdapterFile {
    std::string weightsFile;
    double scaling = 1;
    std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> lora; // module → (A [r, in], B [out, r])
    std::map<std::string, torch::Tensor> full;                           // parameter name → tensor
};

AdapterFile readAdapter(const AdapterLayout &layout, const std::string &dir)
{
    const fs::path cfgPath = fs::path(dir) / "adapter_config.json",
                   weights = fs::path(dir) / "adapter_model.safetensors";
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw std::runtime_error(dir + ": not an adapter folder");
    if (!fs::exists(weights, ec)) {
        if (fs::exists(fs::path(dir) / "adapter_model.bin", ec))
            throw std::runtime_error((fs::path(dir) / "adapter_model.bin").string() +
                                     ": a pickle adapter, which this program never loads; save it with "
                                     "safe_serialization=True");
        throw std::runtime_error(weights.string() + ": missing");
    }
    const json cfg = parseJson(readSmallFile(cfgPath.string(), 1u << 20), cfgPath.string());
    auto fail = [&](const std::string &field, const std::string &why) -> void {
        throw std::runtime_error(cfgPath.string() + ": " + field + ": " + why);
    };
    if (!cfg.is_object() || !cfg.contains("peft_type") || !cfg["peft_type"].is_string() ||
        cfg["peft_type"].get<std::string>() != "LORA")
        fail("peft_type", "not \"LORA\"");
    if (!cfg.contains("r") || !cfg["r"].is_number_integer() || cfg["r"].get<int64_t>() < 1 ||
        cfg["r"].get<int64_t>() > 65536)
        fail("r", "missing or not an integer in 1..65536");
    if (!cfg.contains("lora_alpha") || !cfg["lora_alpha"].is_number() ||
        !std::isfinite(cfg["lora_alpha"].get<double>()))
        fail("lora_alpha", "missing or not a finite number");
    if (cfg.contains("fan_in_fan_out") && cfg["fan_in_fan_out"].is_boolean() && cfg["fan_in_fan_out"].get<bool>())
        fail("fan_in_fan_out", "true is not supported");
    if (cfg.contains("bias") && cfg["bias"].is_string() && cfg["bias"].get<std::string>() != "none")
        fail("bias", "only \"none\" is supported");
    // What PEFT would apply and this program does not: refused by name, never read as something else (a rank_pattern
    // adapter was merged at PEFT's default scale).
    for (const char *key : {"rank_pattern", "alpha_pattern"})
        if (cfg.contains(key) && !cfg[key].is_null() && !(cfg[key].is_object() && cfg[key].empty()))
            fail(key, "per-module ranks and alphas are not supported (only one r and one lora_alpha)");
    if (cfg.contains("use_dora") && !cfg["use_dora"].is_null() &&
        !(cfg["use_dora"].is_boolean() && !cfg["use_dora"].get<bool>()))
        fail("use_dora", "DoRA adapters are not supported");
    if (cfg.contains("layers_to_transform") && !cfg["layers_to_transform"].is_null())
        fail("layers_to_transform", "adapters of chosen layers only are not supported");
    for (const char *key : {"use_qalora", "lora_bias"})
        if (cfg.contains(key) && cfg[key].is_boolean() && cfg[key].get<bool>())
            fail(key, "true is not supported");
    if (std::abs(cfg["lora_alpha"].get<double>()) > 1e6)
        fail("lora_alpha", "beyond ±1e6 (" + cfg["lora_alpha"].dump() + "): the merged weights would overflow");
    const int r = cfg["r"].get<int>();
    const double alpha = cfg["lora_alpha"].get<double>();
    const bool rslora = cfg.contains("use_rslora") && cfg["use_rslora"].is_boolean() && cfg["use_rslora"].get<bool>();
    AdapterFile a;
    a.weightsFile = weights.string();
    a.scaling = rslora ? alpha / std::sqrt(double(r)) : alpha / r;

    // target_modules: a regular expression (PEFT: re.fullmatch on a module's name) or a list of names (a module
    // whose name is one or ends with "." + one). PEFT loads LoRA weights only for the modules it targets.
    std::function<bool(const std::string &)> targeted = [](const std::string &) { return true; };
    if (cfg.contains("target_modules") && !cfg["target_modules"].is_null()) {
        const json &t = cfg["target_modules"];
        if (t.is_string()) {
            std::shared_ptr<std::regex> re;
            try {
                re = std::make_shared<std::regex>(t.get<std::string>(), std::regex::ECMAScript);
            } catch (const std::regex_error &e) {
                fail("target_modules", "not a regular expression this program can read (" + std::string(e.what()) +
                                           "): " + t.get<std::string>());
            }
            targeted = [re](const std::string &module) { return std::regex_match(module, *re); };
        } else if (t.is_array()) {
            std::vector<std::string> names;
            for (const auto &n : t) {
                if (!n.is_string())
                    fail("target_modules", "a list holding " + std::string(n.type_name()) + ", not names");
                names.push_back(n.get<std::string>());
            }
            targeted = [names](const std::string &module) {
                for (const auto &n : names)
                    if (module == n || (module.size() > n.size() &&
                                        module.compare(module.size() - n.size() - 1, n.size() + 1, "." + n) == 0))
                        return true;
                return false;
            };
        } else {
            fail("target_modules", std::string("a ") + t.type_name() + ", not a regular expression or a list");
        }
    }

    MappedSafeTensors st(weights.string());
    std::size_t adapted = 0;
    for (const auto &e : st.entries()) {
        std::string key = e.name;
        if (key.rfind(kPrefix, 0) != 0)
            throw std::runtime_error(weights.string() + ": key '" + e.name + "' does not start with " + kPrefix);
        key = key.substr(std::string(kPrefix).size());
        for (const char *lora : {".lora_A.", ".lora_B."})
            if (const auto at = key.find(lora); at != std::string::npos) {
                if (!targeted(key.substr(0, at)))
                    fail("target_modules", "does not match '" + key.substr(0, at) +
                                               "', which the weights adapt (PEFT would leave that adapter out)");
                ++adapted;
            }
        for (const char *named : {".default.weight", ".default.bias"}) { // PEFT in memory names its adapter
            const std::string n = named;
            if (key.size() > n.size() && key.compare(key.size() - n.size(), n.size(), n) == 0)
                key = key.substr(0, key.size() - n.size()) + n.substr(8);
        }
        auto cut = [&](const std::string &suffix) -> std::string {
            if (key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
                return layout.canonicalName(key.substr(0, key.size() - suffix.size()));
            return {};
        };
        if (e.type != torch::kFloat && e.type != torch::kHalf && e.type != torch::kBFloat16)
            throw std::runtime_error(weights.string() + ": tensor '" + e.name + "' is " + e.dtype + ", not a float");
        auto tensor = st.view(e).to(torch::kFloat).clone();
        if (!torch::isfinite(tensor).all().item<bool>())
            throw std::runtime_error(weights.string() + ": tensor '" + e.name + "' holds NaN or infinite values");
        std::string module;
        if (!(module = cut(".lora_A.weight")).empty())
            a.lora[module].first = tensor;
        else if (!(module = cut(".lora_B.weight")).empty())
            a.lora[module].second = tensor;
        else if (!(module = cut(".weight")).empty())
            a.full[module + ".weight"] = tensor;
        else if (!(module = cut(".bias")).empty())
            a.full[module + ".bias"] = tensor;
        else
            throw std::runtime_error(weights.string() + ": key '" + e.name +
                                     "' is neither a LoRA matrix nor a module weight");
    }
    if (adapted == 0 && a.full.empty())
        throw std::runtime_error(weights.string() + ": holds neither LoRA matrices nor module weights");
    for (const auto &[module, ab] : a.lora) {
        if (!ab.first.defined() || !ab.second.defined())
            throw std::runtime_error(weights.string() + ": '" + module + "' has only one of lora_A and lora_B");
        if (ab.first.dim() != 2 || ab.second.dim() != 2 || ab.first.size(0) != ab.second.size(1))
            throw std::runtime_error(weights.string() + ": the adapter of '" + module + "' has shapes " +
                                     shapeString(ab.first.sizes().vec()) + " / " +
                                     shapeString(ab.second.sizes().vec()) + ", not [r, in] / [out, r]");
    }
    return a;
}

// Checks an adapter pair against the weight it adapts ([out, in]).
void checkPair(const AdapterFile &a, const std::string &module, const std::pair<torch::Tensor, torch::Tensor> &ab,
               int64_t out, int64_t in)
{
    if (ab.first.size(1) != in || ab.second.size(0) != out)
        throw std::runtime_error(a.weightsFile + ": the adapter of '" + module + "' has shapes " +
                                 shapeString(ab.first.sizes().vec()) + " / " + shapeString(ab.second.sizes().vec()) +
                                 ", expected [r, " + std::to_string(in) + "] / [" + std::to_string(out) + ", r]");
}

void checkFull(const AdapterFile &a, const std::string &name, const torch::Tensor &t, const std::vector<int64_t> &shape)
{
    if (t.sizes().vec() != shape)
        throw std::runtime_error(a.weightsFile + ": '" + name + "' has shape " + shapeString(t.sizes().vec()) +
                                 ", the model's is " + shapeString(shape));
}

} // namespace

namespace {

std::map<std::string, HfLinear> linearsByName(const HfVlmImpl &model)
{
    std::map<std::string, HfLinear> linears;
    for (auto &[name, lin] : model.linears())
        linears.emplace(name, lin);
    return linears;
}

// Copies the adapter's full weights (modules_to_save: the projector) into the model; returns whether there were any.
bool copyFullWeights(const AdapterFile &a, std::map<std::string, HfLinear> &linears)
{
    torch::NoGradGuard ng;
    for (const auto &[name, tensor] : a.full) {
        const bool isBias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
        const std::string module = name.substr(0, name.size() - (isBias ? 5 : 7));
        auto it = linears.find(module);
        if (it == linears.end())
            throw std::runtime_error(a.weightsFile + ": '" + name + "' names no linear layer of this model");
        torch::Tensor &dst = isBias ? it->second->bias : it->second->weight;
        if (!dst.defined())
            throw std::runtime_error(a.weightsFile + ": '" + name + "': the model's layer has none");
        checkFull(a, name, tensor, dst.sizes().vec());
        dst.set_data(tensor.to(dst.device(), dst.scalar_type(), false, true)); // new memory: never the base file's
    }
    return !a.full.empty();
}

} // namespace

void foldAdapterFolder(HfVlmImpl &model, const std::string &dir)
{
    if (model.folded)
        throw std::runtime_error(dir + ": the model already has " + model.folded->dir + " folded in; merge it first");
    const AdapterFile a = readAdapter(model.adapterLayout(), dir);
    auto linears = linearsByName(model);
    // Every shape is checked before any weight changes.
    for (const auto &[module, ab] : a.lora) {
        auto it = linears.find(module);
        if (it == linears.end())
            throw std::runtime_error(a.weightsFile + ": an adapter for '" + module +
                                     "', which this model does not have");
        if (it->second->hasAdapter())
            throw std::runtime_error(dir + ": the model already carries adapters; an adapter folds into plain weights");
        checkPair(a, module, ab, it->second->weight.size(0), it->second->weight.size(1));
    }
    auto folded = std::make_shared<FoldedAdapter>();
    folded->dir = dir;
    folded->replacedProjector = copyFullWeights(a, linears);
    torch::NoGradGuard ng;
    for (const auto &[module, ab] : a.lora) {
        torch::Tensor &w = linears.at(module)->weight;
        const torch::Tensor sb = ab.second * a.scaling;
        // A new tensor, not a write into W: W may be the base file's mapped bytes (zero-copy loading).
        torch::Tensor merged =
            (w.to(torch::kFloat) + torch::matmul(sb.to(w.device()), ab.first.to(w.device()))).to(w.scalar_type());
        // The result is checked, not only the inputs: finite factors can still overflow the weights' dtype.
        if (!torch::isfinite(merged).all().item<bool>())
            throw std::runtime_error(a.weightsFile + ": folding the adapter of '" + module +
                                     "' gives infinite weights (scaling " + std::to_string(a.scaling) + ")");
        w.set_data(merged);
        folded->lora[module] = {ab.first, sb};
        folded->rank = std::max(folded->rank, ab.first.size(0));
    }
    model.folded = std::move(folded);
}

void loadAdapterFolder(HfVlmImpl &model, const std::string &dir)
{
    const AdapterFile a = readAdapter(model.adapterLayout(), dir);
    auto linears = linearsByName(model);
    const int64_t stacked = model.folded ? model.folded->rank : 0; // rows of the folded adapter before the run's
    copyFullWeights(a, linears);
    torch::NoGradGuard ng;
    for (const auto &[module, ab] : a.lora) {
        auto it = linears.find(module);
        if (it == linears.end())
            throw std::runtime_error(a.weightsFile + ": an adapter for '" + module +
                                     "', which this model does not have");
        auto &lin = it->second;
        checkPair(a, module, ab, lin->weight.size(0), lin->weight.size(1));
        if (!lin->hasAdapter()) {
            if (stacked)
                continue; // only the folded adapter's part: already in the weights
            throw std::runtime_error(a.weightsFile + ": an adapter for '" + module + "', which the run does not train");
        }
        const int64_t rank = lin->adapterA().size(0);
        if (ab.first.size(0) != stacked + rank)
            throw std::runtime_error(a.weightsFile + ": the adapter of '" + module + "' has rank " +
                                     std::to_string(ab.first.size(0)) + ", the run's is " + std::to_string(rank) +
                                     (stacked ? " on top of " + std::to_string(stacked) + " folded" : std::string()));
        lin->adapterA().copy_(ab.first.narrow(0, stacked, rank));
        lin->adapterB().copy_(ab.second.narrow(1, stacked, rank) * (a.scaling / lin->adapterScaling()));
    }
}

namespace {
// A base folder's symbolic link is followed (its file copied into the merged folder) only into the folder itself or,
// for a Hugging Face cache's snapshot (models--org--name/snapshots/REV, whose files link to ../../blobs/HASH), into
// that repository's blobs/: a link elsewhere would copy an unrelated file (/etc/shadow) into the output.
void checkLinkTarget(const std::string &baseDir, const fs::path &link)
{
    std::error_code ec;
    const fs::path target = fs::canonical(link, ec), base = fs::canonical(baseDir, ec);
    if (ec)
        throw std::runtime_error(link.string() + ": a link that cannot be resolved");
    if (se::data::insidePath(target.string(), base.string()))
        return;
    const fs::path snapshots = base.parent_path();
    if (snapshots.filename() == "snapshots" &&
        se::data::insidePath(target.string(), (snapshots.parent_path() / "blobs").string()))
        return;
    throw std::runtime_error(link.string() + ": links to " + target.string() +
                             ", outside the model folder (and not a Hugging Face cache's blob); refusing to copy it");
}
} // namespace

MergeSummary mergeAdapterFolder(const AdapterLayout &layout, const std::string &baseDir, const std::string &adapterDir,
                                const std::string &outDir, const std::function<void(const std::string &)> &log)
{
    const AdapterFile a = readAdapter(layout, adapterDir);
    const HfWeights base(baseDir);
    std::error_code ec;
    // Never over the inputs, never into a folder that has something in it.
    if (fs::exists(outDir, ec)) {
        if (fs::equivalent(outDir, baseDir, ec) || fs::equivalent(outDir, adapterDir, ec))
            throw std::runtime_error(outDir + ": is an input of the merge; give a new folder");
        if (!fs::is_directory(outDir, ec) || !fs::is_empty(outDir, ec))
            throw std::runtime_error(outDir + ": exists and is not an empty folder; give a new one");
    }
    if (se::data::insidePath(outDir, baseDir) || se::data::insidePath(outDir, adapterDir))
        throw std::runtime_error(outDir + ": is inside an input of the merge (" +
                                 (se::data::insidePath(outDir, baseDir) ? baseDir : adapterDir) +
                                 "); give a folder outside it");
    // Every adapted module and saved weight must exist in the base, with matching shapes, before anything is written.
    std::map<std::string, std::string> byCanonical; // canonical parameter name → the base's name
    for (const auto &n : base.names())
        byCanonical[layout.canonicalName(n)] = n;
    for (const auto &[module, ab] : a.lora) {
        auto it = byCanonical.find(module + ".weight");
        if (it == byCanonical.end())
            throw std::runtime_error(a.weightsFile + ": an adapter for '" + module + "', which " + baseDir +
                                     " does not have");
        const auto &shape = base.entry(it->second).shape;
        if (shape.size() != 2)
            throw std::runtime_error(a.weightsFile + ": '" + module + "' is not a linear layer in " + baseDir);
        checkPair(a, module, ab, shape[0], shape[1]);
    }
    for (const auto &[name, t] : a.full) {
        auto it = byCanonical.find(name);
        if (it == byCanonical.end())
            throw std::runtime_error(a.weightsFile + ": '" + name + "', which " + baseDir + " does not have");
        checkFull(a, name, t, base.entry(it->second).shape);
    }

    // Written into <out>.partial, renamed at the end: a failed merge leaves no half folder under the final name.
    const fs::path partial = fs::path(outDir).string() + ".partial";
    fs::remove_all(partial, ec);
    fs::create_directories(partial, ec);
    if (!fs::is_directory(partial, ec))
        throw std::runtime_error(partial.string() + ": cannot create the folder");
    MergeSummary summary;
    try {
        std::map<std::string, std::string> shards; // file name → path
        for (const auto &n : base.names()) {
            const std::string file = base.fileOf(n);
            shards[fs::path(file).filename().string()] = file;
        }
        for (const auto &e : fs::directory_iterator(baseDir)) {
            if (!e.is_regular_file() || shards.count(e.path().filename().string()))
                continue;
            if (e.is_symlink())
                checkLinkTarget(baseDir, e.path());
            fs::copy_file(e.path(), partial / e.path().filename(), ec);
            if (ec)
                throw std::runtime_error((partial / e.path().filename()).string() + ": cannot copy: " + ec.message());
        }
        torch::NoGradGuard ng;
        int done = 0;
        for (const auto &[fileName, file] : shards) {
            MappedSafeTensors in(file);
            std::vector<SafeTensorsWriter::Planned> plan;
            for (const auto &e : in.entries())
                plan.push_back({e.name, e.type, e.shape});
            SafeTensorsWriter out((partial / fileName).string(), plan, in.metadata());
            for (const auto &e : in.entries()) {
                torch::Tensor t = in.view(e);
                const std::string canonical = layout.canonicalName(e.name);
                const std::string module = canonical.size() > 7 ? canonical.substr(0, canonical.size() - 7) : "";
                if (auto f = a.full.find(canonical); f != a.full.end()) {
                    t = f->second.to(e.type);
                    ++summary.replaced;
                } else if (auto l = a.lora.find(module); l != a.lora.end() && canonical.size() > 7 &&
                                                         canonical.compare(canonical.size() - 7, 7, ".weight") == 0) {
                    // W + scaling·B·A in float32, stored back in the shard's dtype (as PEFT's merge does)
                    t = (t.to(torch::kFloat) + torch::matmul(l->second.second, l->second.first) * a.scaling).to(e.type);
                    if (!torch::isfinite(t).all().item<bool>()) // the result, not only the inputs
                        throw std::runtime_error(a.weightsFile + ": merging the adapter of '" + module +
                                                 "' gives infinite weights (scaling " + std::to_string(a.scaling) +
                                                 "); nothing written");
                    ++summary.merged;
                }
                out.write(t);
            }
            out.finish();
            ++done;
            if (log)
                log("merged " + fileName + " (" + std::to_string(done) + "/" + std::to_string(shards.size()) + ")");
        }
        if (fs::exists(outDir, ec))
            fs::remove(outDir, ec); // the empty folder checked above
        fs::rename(partial, outDir, ec);
        if (ec)
            throw std::runtime_error(outDir + ": cannot move the merged folder into place: " + ec.message());
    } catch (...) {
        fs::remove_all(partial, ec);
        throw;
    }
    summary.bytes = base.totalBytes();
    return summary;
}

void setAdapterHooks(Architecture &a, const AdapterLayout &layout, bool folderNaming)
{
    a.applyAdapter = [](LoadedModel &m, const std::string &dir) { loadAdapterFolder(networkOf<HfVlmImpl>(m), dir); };
    a.saveAdapter = [folderNaming](const LoadedModel &m, const std::string &dir, const LoraSpec &spec,
                                   const std::map<std::string, std::string> &metadata) {
        auto it = m.info.find("weights_naming");
        const std::string naming = folderNaming && it != m.info.end() ? it->second : "transformers-5";
        saveAdapterFolder(networkOf<HfVlmImpl>(m), dir, spec, m.path, naming, metadata);
    };
    a.mergeAdapter = [&layout](const std::string &model, const std::string &adapter, const std::string &out,
                               const std::function<void(const std::string &)> &log) {
        return mergeAdapterFolder(layout, model, adapter, out, log);
    };
}

} // namespace se::model
