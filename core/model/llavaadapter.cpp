// PEFT adapter folders for LLaVA (llava.h): writing what a run trained, and applying one to a loaded model.
#include "core/model/llava.h"

#include "core/model/hfweights.h"
#include "core/model/safetensors.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
const char *const kPrefix = "base_model.model.";
const char *const kProjector = "model.multi_modal_projector.";

std::string fileName(const std::string &canonical, const std::string &naming)
{
    return naming == "transformers-4" ? llavaLegacyName(canonical) : canonical;
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

void saveLlavaAdapter(const LlavaImpl &model, const std::string &dir, const LoraSpec &spec, const std::string &baseModel,
                      const std::string &naming, const std::map<std::string, std::string> &metadata)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec))
        throw std::runtime_error(dir + ": cannot create the adapter folder");
    SafeTensors st;
    std::vector<std::string> targets(spec.targets.begin(), spec.targets.end());
    torch::NoGradGuard ng;
    for (const auto &[name, lin] : model.linears()) {
        if (lin->hasAdapter()) {
            const std::string key = kPrefix + fileName(name, naming);
            st.tensors.emplace_back(key + ".lora_A.weight", lin->adapterA().detach().to(torch::kCPU).contiguous());
            st.tensors.emplace_back(key + ".lora_B.weight", lin->adapterB().detach().to(torch::kCPU).contiguous());
        }
        if (name.rfind(kProjector, 0) == 0 && !lin->hasAdapter()) { // modules_to_save
            const std::string key = kPrefix + fileName(name, naming);
            st.tensors.emplace_back(key + ".weight", lin->weight.detach().to(torch::kCPU).contiguous());
            st.tensors.emplace_back(key + ".bias", lin->bias.detach().to(torch::kCPU).contiguous());
        }
    }
    st.metadata = metadata;
    st.metadata["format"] = "pt";
    writeSafeTensors((fs::path(dir) / "adapter_model.safetensors").string(), st);

    // SafeEraser's own regex: adapters on the language model's modules only (a plain list would also match the
    // vision tower's q_proj / k_proj / v_proj when PEFT loads it).
    std::string alternatives;
    for (const auto &t : targets)
        if (t != "linear_1" && t != "linear_2")
            alternatives += (alternatives.empty() ? "" : "|") + t;
    json cfg = {{"peft_type", "LORA"},
                {"r", spec.rank},
                {"lora_alpha", spec.alpha},
                {"lora_dropout", spec.dropout},
                {"target_modules", ".*language_model.*\\.(" + alternatives + ")"},
                {"bias", "none"},
                {"task_type", "CAUSAL_LM"},
                {"base_model_name_or_path", baseModel},
                {"modules_to_save", json::array({"multi_modal_projector"})},
                {"use_rslora", spec.rslora},
                {"fan_in_fan_out", false},
                {"inference_mode", true},
                {"init_lora_weights", true}};
    writeText(fs::path(dir) / "adapter_config.json", cfg.dump(2) + "\n");
}

void loadLlavaAdapter(LlavaImpl &model, const std::string &dir)
{
    const fs::path cfgPath = fs::path(dir) / "adapter_config.json", weights = fs::path(dir) / "adapter_model.safetensors";
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw std::runtime_error(dir + ": not an adapter folder");
    if (!fs::exists(weights, ec)) {
        if (fs::exists(fs::path(dir) / "adapter_model.bin", ec))
            throw std::runtime_error((fs::path(dir) / "adapter_model.bin").string()
                                     + ": a pickle adapter, which this program never loads; save it with "
                                       "safe_serialization=True");
        throw std::runtime_error(weights.string() + ": missing");
    }
    if (!fs::is_regular_file(cfgPath, ec) || fs::file_size(cfgPath, ec) > (1u << 20))
        throw std::runtime_error(cfgPath.string() + ": missing or not a small regular file");
    json cfg;
    try {
        std::ifstream in(cfgPath);
        cfg = json::parse(in);
    } catch (const json::exception &e) {
        throw std::runtime_error(cfgPath.string() + ": not valid JSON: " + e.what());
    }
    auto fail = [&](const std::string &field, const std::string &why) -> void {
        throw std::runtime_error(cfgPath.string() + ": " + field + ": " + why);
    };
    if (cfg.value("peft_type", std::string()) != "LORA")
        fail("peft_type", "not \"LORA\"");
    if (!cfg.contains("r") || !cfg["r"].is_number_integer() || cfg["r"].get<int>() < 1)
        fail("r", "missing or not a positive integer");
    if (!cfg.contains("lora_alpha") || !cfg["lora_alpha"].is_number())
        fail("lora_alpha", "missing or not a number");
    if (cfg.value("fan_in_fan_out", false))
        fail("fan_in_fan_out", "true is not supported");
    if (cfg.contains("bias") && cfg["bias"].is_string() && cfg["bias"].get<std::string>() != "none")
        fail("bias", "only \"none\" is supported");
    const int r = cfg["r"].get<int>();
    const double alpha = cfg["lora_alpha"].get<double>();
    const bool rslora = cfg.value("use_rslora", false);
    const double scaling = rslora ? alpha / std::sqrt(double(r)) : alpha / r;

    std::map<std::string, HfLinear> linears;
    for (auto &[name, lin] : model.linears())
        linears.emplace(name, lin);
    MappedSafeTensors st(weights.string());
    torch::NoGradGuard ng;
    std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> pairs; // module → (A, B)
    for (const auto &e : st.entries()) {
        std::string key = e.name;
        if (key.rfind(kPrefix, 0) != 0)
            throw std::runtime_error(weights.string() + ": key '" + e.name + "' does not start with " + kPrefix);
        key = key.substr(std::string(kPrefix).size());
        for (const char *named : {".default.weight", ".default.bias"}) { // PEFT in memory names its adapter
            const std::string n = named;
            if (key.size() > n.size() && key.compare(key.size() - n.size(), n.size(), n) == 0)
                key = key.substr(0, key.size() - n.size()) + n.substr(8);
        }
        auto cut = [&](const std::string &suffix) -> std::string {
            if (key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
                return llavaCanonicalName(key.substr(0, key.size() - suffix.size()));
            return {};
        };
        auto tensor = st.view(e).to(torch::kFloat).clone();
        if (!torch::isfinite(tensor).all().item<bool>())
            throw std::runtime_error(weights.string() + ": tensor '" + e.name + "' holds NaN or infinite values");
        std::string module;
        if (!(module = cut(".lora_A.weight")).empty())
            pairs[module].first = tensor;
        else if (!(module = cut(".lora_B.weight")).empty())
            pairs[module].second = tensor;
        else if (!(module = cut(".weight")).empty() || !(module = cut(".bias")).empty()) {
            auto it = linears.find(module);
            if (it == linears.end())
                throw std::runtime_error(weights.string() + ": '" + e.name + "' names no linear layer of this model");
            const bool isBias = key.size() > 5 && key.compare(key.size() - 5, 5, ".bias") == 0;
            torch::Tensor &dst = isBias ? it->second->bias : it->second->weight;
            if (!dst.defined() || dst.sizes() != tensor.sizes())
                throw std::runtime_error(weights.string() + ": '" + e.name + "' has shape " + shapeString(tensor.sizes().vec())
                                         + ", the model's is " + (dst.defined() ? shapeString(dst.sizes().vec()) : "absent"));
            dst.copy_(tensor);
        } else {
            throw std::runtime_error(weights.string() + ": key '" + e.name + "' is neither a LoRA matrix nor a module weight");
        }
    }
    for (auto &[module, ab] : pairs) {
        auto it = linears.find(module);
        if (it == linears.end())
            throw std::runtime_error(weights.string() + ": an adapter for '" + module + "', which this model does not have");
        if (!ab.first.defined() || !ab.second.defined())
            throw std::runtime_error(weights.string() + ": '" + module + "' has only one of lora_A and lora_B");
        auto &lin = it->second;
        const int64_t in = lin->weight.size(1), out = lin->weight.size(0);
        if (ab.first.dim() != 2 || ab.first.size(1) != in || ab.second.dim() != 2 || ab.second.size(0) != out
            || ab.first.size(0) != ab.second.size(1))
            throw std::runtime_error(weights.string() + ": the adapter of '" + module + "' has shapes "
                                     + shapeString(ab.first.sizes().vec()) + " / " + shapeString(ab.second.sizes().vec()) + ", expected [r, "
                                     + std::to_string(in) + "] / [" + std::to_string(out) + ", r]");
        if (!lin->hasAdapter()) // a run resuming into adapters it has already added keeps them and their settings
            lin->addAdapter(static_cast<int>(ab.first.size(0)), scaling, 0.0);
        else if (lin->adapterA().sizes() != ab.first.sizes())
            throw std::runtime_error(weights.string() + ": the adapter of '" + module + "' has rank "
                                     + std::to_string(ab.first.size(0)) + ", the run's is "
                                     + std::to_string(lin->adapterA().size(0)));
        lin->adapterA().copy_(ab.first);
        lin->adapterB().copy_(ab.second);
    }
}

} // namespace se::model
