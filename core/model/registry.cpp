#include "core/model/registry.h"

#include "core/model/architecture.h"

#include "core/model/memory.h"
#include "core/model/safetensors.h"
#include "core/model/smallfile.h"

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;

namespace {
std::string readText(const fs::path &p, std::uintmax_t limit)
{
    return readSmallFile(p.string(), limit);
}
} // namespace

const std::vector<const Architecture *> &architectures()
{
    static const std::vector<const Architecture *> r = {&builtinArchitecture(), &llavaArchitecture(),
                                                        &qwen2vlArchitecture()};
    return r;
}

namespace {
std::string knownList()
{
    std::string known;
    for (const auto *a : architectures())
        known += (known.empty() ? "" : ", ") + a->name;
    return known;
}
} // namespace

const Architecture &architectureNamed(const std::string &name)
{
    for (const auto *a : architectures())
        if (a->name == name)
            return *a;
    throw std::runtime_error("architecture '" + name + "' is not supported (this build knows " + knownList() + ")");
}

const Architecture &architectureOf(const std::string &path)
{
    const std::string type = modelArchitecture(path);
    for (const auto *a : architectures())
        for (const auto &t : a->modelTypes)
            if (t == type)
                return *a;
    throw std::runtime_error(path + ": architecture '" + type + "' is not supported (this build knows " + knownList() +
                             ")");
}

std::string parameterCount(int64_t n)
{
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(n >= 1000000000 ? 2 : 1);
    if (n >= 1000000000)
        o << double(n) / 1e9 << " B";
    else
        o << double(n) / 1e6 << " M";
    return o.str();
}

Architecture hfFolderArchitecture(std::string name, std::vector<std::string> modelTypes)
{
    Architecture a;
    a.name = std::move(name);
    a.modelTypes = std::move(modelTypes);
    a.folder = true;
    a.writesAdapters = true;
    a.choosesDtype = true;
    a.checkpointsLayers = true;
    // SafeEraser's max length (512 text tokens) with the image placeholder counted once, as its tokenizer does.
    a.trainingTokens = [](int positions, int imageTokens) { return std::min(positions, 512 + imageTokens - 1); };
    a.defaultLora.rank = 32;
    a.defaultLora.alpha = 256;
    a.defaultLora.dropout = 0.05;
    a.defaultLora.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    return a;
}

void weightFileFacts(const std::string &folder, const std::string &configDtype, ModelFacts &f)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dir(folder);
    if (!fs::exists(dir / "model.safetensors", ec) && !fs::exists(dir / "model.safetensors.index.json", ec)) {
        // No weights (yet): config.json's dtype says what they will be; loading says what is missing.
        f.fileDtype = configDtype == "bfloat16" ? "BF16" : configDtype == "float16" ? "F16" : "F32";
        f.fileBytes = std::uint64_t(f.parameters) * (f.fileDtype == "F32" ? 4 : 2);
        return;
    }
    const HfWeights w(folder);
    std::map<std::string, std::uint64_t> byDtype;
    for (const auto &name : w.names()) {
        const TensorEntry &e = w.entry(name);
        byDtype[e.dtype] += e.end - e.begin;
        f.fileBytes += e.end - e.begin;
    }
    std::uint64_t most = 0;
    for (const auto &[d, n] : byDtype)
        if (n > most) {
            most = n;
            f.fileDtype = d;
        }
}

std::map<std::string, int64_t> projectionFanSums(int64_t h, int64_t q, int64_t kv, int64_t in)
{
    return {{"q_proj", h + q},     {"k_proj", h + kv},  {"v_proj", h + kv},   {"o_proj", q + h},
            {"gate_proj", h + in}, {"up_proj", h + in}, {"down_proj", in + h}};
}

std::string filesSummary(const std::string &configDtype, const ModelFacts &f)
{
    return (configDtype.empty() ? std::string() : " · " + configDtype + " files") + " · " +
           std::to_string(f.fileBytes >> 20) + " MiB";
}

int generationLimit(const std::string &folder, int fallback)
{
    const std::string file = (std::filesystem::path(folder) / "generation_config.json").string();
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
        return fallback;
    auto g = nlohmann::json::parse(readSmallFile(file, 1u << 20), nullptr, false);
    if (g.is_object() && g.contains("max_new_tokens") && g["max_new_tokens"].is_number_integer())
        return std::max(1, g["max_new_tokens"].get<int>());
    return fallback;
}

std::string loadSummary(const LoadReport &report)
{
    std::ostringstream load;
    load << report.shared << " tensors mapped from the files, " << report.converted << " converted, " << report.copied
         << " copied; " << gib(report.bytes) << " read in " << std::fixed << std::setprecision(1) << report.seconds
         << " s";
    return load.str();
}

namespace {
bool isModelFolder(const std::string &path)
{
    std::error_code ec;
    return fs::is_directory(path, ec);
}
} // namespace

std::string modelArchitecture(const std::string &path)
{
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw std::runtime_error(path + ": cannot open (no such file or folder)");
    if (isModelFolder(path)) {
        const fs::path cfg = fs::path(path) / "config.json";
        if (!fs::exists(cfg, ec))
            throw std::runtime_error(path + ": a folder without config.json (not a Hugging Face model folder)");
        const nlohmann::json j = parseJson(readText(cfg, 1u << 20), cfg.string());
        if (!j.is_object() || !j.contains("model_type") || !j["model_type"].is_string())
            throw std::runtime_error(cfg.string() + ": model_type: " +
                                     (j.is_object() && j.contains("model_type") ? "not a string" : "missing"));
        return j["model_type"].get<std::string>();
    }
    MappedSafeTensors st(path);
    auto it = st.metadata().find("model_card");
    if (it == st.metadata().end())
        throw std::runtime_error(path + ": not a SafeEraser checkpoint (no model card in its metadata)");
    return ModelCard::fromJson(it->second, path + ": embedded model card").architecture;
}

ModelFacts describeModel(const std::string &path)
{
    const Architecture &a = architectureOf(path);
    ModelFacts f = a.describe(path);
    f.path = path;
    f.architecture = a.name;
    f.adapters = a.writesAdapters;
    f.choosesDtype = a.choosesDtype;
    f.checkpointsLayers = a.checkpointsLayers;
    f.trainingTokens = a.trainingTokens(f.maxSeq, f.imageTokens);
    f.defaultLora = a.defaultLora;
    return f;
}

std::uint64_t inferenceBytes(const ModelFacts &f, int dtypeBytes, int batch, int promptTokens, int newTokens)
{
    const std::uint64_t b = std::uint64_t(std::max(1, batch)), p = std::uint64_t(std::max(1, promptTokens)),
                        t = p + std::uint64_t(std::max(0, newTokens)), d = std::uint64_t(dtypeBytes);
    const std::uint64_t headDim = f.heads ? std::uint64_t(f.hidden / f.heads) : 0;
    const std::uint64_t kv = b * t * std::uint64_t(f.layers) * 2 * std::uint64_t(f.kvHeads) * headDim * d;
    // One layer's prompt activations alive at a time (no gradients): the residual stream and a few hidden-sized
    // temporaries, the MLP's three intermediate-sized ones, and the attention scores and probabilities in float32.
    const std::uint64_t acts = b * p * (8 * std::uint64_t(f.hidden) + 3 * std::uint64_t(f.intermediate)) * d +
                               b * std::uint64_t(f.heads) * p * p * 4 * 2;
    const std::uint64_t logits = b * std::uint64_t(f.vocab) * 4 * 2;
    return kv + acts + logits + (64ull << 20); // and the tokenizer, images and allocator slack
}

namespace {
int bytesOf(torch::ScalarType t)
{
    return t == torch::kFloat ? 4 : 2;
}
} // namespace

const char *dtypeName(torch::ScalarType t)
{
    switch (t) {
    case torch::kFloat:
        return "float32";
    case torch::kBFloat16:
        return "bfloat16";
    case torch::kHalf:
        return "float16";
    default:
        return "?";
    }
}

bool cpuMultipliesBf16()
{
    static const bool yes = __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
    return yes;
}

bool cpuMultipliesHalf()
{
    static const bool yes = [] {
        try {
            const auto a = torch::ones({2, 2}, torch::kHalf);
            return torch::mm(a, a).defined();
        } catch (const std::exception &) {
            return false; // LibTorch 1.13: "addmm_impl_cpu_" not implemented for 'Half'
        }
    }();
    return yes;
}

torch::ScalarType autoDtype(const torch::Device &device, const std::string &fileDtype, std::int64_t parameters,
                            std::uint64_t working, std::uint64_t available, std::string *why)
{
    auto say = [&](const std::string &w) {
        if (why)
            *why = w;
    };
    if (device.is_cuda()) {
        say("bfloat16 on CUDA");
        return torch::kBFloat16;
    }
    const bool fitsF32 = available == 0 || std::uint64_t(parameters) * 4 + working <= available;
    const bool large = parameters > 1000000000;
    if (fileDtype == "BF16" && large && cpuMultipliesBf16()) {
        say("bfloat16 as in the files: a large model, and this CPU multiplies bfloat16 natively");
        return torch::kBFloat16;
    }
    if (fitsF32) {
        say("float32: it fits the free memory");
        return torch::kFloat;
    }
    if (fileDtype == "F16" && cpuMultipliesHalf()) {
        say("float16 as in the files: float32 would not fit the free memory");
        return torch::kHalf;
    }
    say(std::string("bfloat16") + (fileDtype == "BF16" ? " as in the files" : "") +
        ": float32 would not fit the free memory");
    return torch::kBFloat16;
}

std::string LoadPlan::describe() const
{
    std::ostringstream os;
    os << "about " << gib(need()) << " on " << device.str() << ": weights " << gib(weights) << " (" << dtypeName(dtype)
       << (zeroCopy            ? ", mapped from the files"
           : fileDtype.empty() ? ""
                               : ", converted from " + fileDtype)
       << ") + working " << gib(working);
    if (available)
        os << "; " << gib(available) << " free";
    return os.str();
}

LoadPlan planLoad(const std::string &path, const LoadOptions &o)
{
    const ModelFacts f = describeModel(path);
    LoadPlan p;
    p.path = path;
    p.device = o.device;
    p.fileDtype = f.fileDtype;
    p.available = deviceMemory(o.device).free;
    auto working = [&](torch::ScalarType t) {
        return o.workingBytes ? o.workingBytes
                              : inferenceBytes(f, bytesOf(t), 1, f.imageTokens + 64, f.maxAnswerTokens);
    };
    if (!f.choosesDtype) { // float32 as stored (the built-in model: a few MB)
        p.weights = f.fileBytes;
        p.working = working(torch::kFloat);
        return p;
    }
    p.automatic = !o.dtype;
    p.dtype = o.dtype ? *o.dtype
                      : autoDtype(o.device, f.fileDtype, f.parameters, working(torch::kFloat), p.available, &p.why);
    if (p.dtype != torch::kFloat && p.dtype != torch::kBFloat16 && p.dtype != torch::kHalf)
        throw std::runtime_error(std::string("dtype ") + dtypeName(p.dtype) + " is not one a model runs in");
    if (p.dtype == torch::kHalf && o.device.is_cpu() && !cpuMultipliesHalf())
        throw std::runtime_error(path +
                                 ": float16 on the CPU: this LibTorch has no float16 matrix products on the CPU; "
                                 "use --dtype bfloat16 (or float32)");
    p.weights = std::uint64_t(f.parameters) * std::uint64_t(bytesOf(p.dtype));
    p.working = working(p.dtype);
    p.zeroCopy = o.device.is_cpu() && ((p.dtype == torch::kFloat && f.fileDtype == "F32") ||
                                       (p.dtype == torch::kBFloat16 && f.fileDtype == "BF16") ||
                                       (p.dtype == torch::kHalf && f.fileDtype == "F16"));
    return p;
}

std::string doesNotFit(const LoadPlan &plan, const LoadOptions &o)
{
    std::ostringstream os;
    os << plan.path << " does not fit in memory: loading it needs " << plan.describe() << ".";
    std::vector<std::string> ways;
    for (const torch::ScalarType t : {torch::kBFloat16, torch::kFloat}) {
        if (t == plan.dtype || (t == torch::kHalf && o.device.is_cpu() && !cpuMultipliesHalf()))
            continue;
        LoadOptions other = o;
        other.dtype = t;
        const LoadPlan alt = planLoad(plan.path, other);
        if (alt.fits())
            ways.push_back(std::string("--dtype ") + dtypeName(t) + " (about " + gib(alt.need()) + ")");
    }
    if (o.device.is_cpu() && torch::cuda::is_available())
        ways.push_back("a GPU (--device cuda)");
    if (ways.empty())
        os << " Nothing on this device would fit: use a machine with more memory or a GPU.";
    else {
        os << " It would fit with ";
        for (size_t i = 0; i < ways.size(); ++i)
            os << (i ? (i + 1 == ways.size() ? " or " : ", ") : "") << ways[i];
        os << ".";
    }
    os << " (--no-memory-check tries anyway.)";
    return os.str();
}

std::vector<std::string> knownArchitectures()
{
    std::vector<std::string> out;
    for (const auto *a : architectures())
        out.push_back(a->name);
    return out;
}

LoadedModel loadModel(const std::string &path, const LoadOptions &options)
{
    const Architecture &a = architectureOf(path);
    LoadedModel m = a.load(path, options);
    m.arch = &a;
    return m;
}

std::shared_ptr<ImageStore> modelImages(const std::string &path, const std::string &datasetRoot)
{
    return architectureOf(path).images(path, datasetRoot);
}

const Architecture &architectureOf(const LoadedModel &m)
{
    return m.arch ? *m.arch : architectureNamed(m.architecture);
}

bool writesAdapters(const LoadedModel &m)
{
    return architectureOf(m).writesAdapters;
}

int trainingTokens(const LoadedModel &m, int imageTokens)
{
    return architectureOf(m).trainingTokens(static_cast<int>(m.net->maxPositions()),
                                            imageTokens < 0 ? static_cast<int>(m.net->imageTokens()) : imageTokens);
}

int imageTokensOf(const LoadedModel &m, const std::string &imageFile)
{
    if (m.images->size() != 0)
        return static_cast<int>(m.net->imageTokens());
    const auto [height, width] = m.images->outputSize(imageFile);
    return static_cast<int>(m.net->imageTokensFor(height, width));
}

LoraSpec defaultLora(const LoadedModel &m)
{
    return architectureOf(m).defaultLora;
}

LoraSpec defaultLora(const std::string &architecture)
{
    return architectureNamed(architecture).defaultLora;
}

void applyAdapterValues(LoadedModel &m, const std::string &dir)
{
    const Architecture &a = architectureOf(m);
    if (!a.applyAdapter)
        throw std::runtime_error(dir + ": this model (" + m.architecture + ") takes no adapter folders");
    a.applyAdapter(m, dir);
}

void saveAdapters(const LoadedModel &m, const std::string &dir, const LoraSpec &spec,
                  const std::map<std::string, std::string> &metadata)
{
    const Architecture &a = architectureOf(m);
    if (!a.saveAdapter)
        throw std::runtime_error(dir + ": this model (" + m.architecture + ") writes whole checkpoints, not adapters");
    a.saveAdapter(m, dir, spec, metadata);
}

MergeSummary mergeAdapter(const std::string &model, const std::string &adapter, const std::string &outDir,
                          const std::function<void(const std::string &)> &log)
{
    const Architecture &a = architectureOf(model);
    if (!a.mergeAdapter)
        throw std::runtime_error(model + ": a " + a.name + " model; adapters merge into Hugging Face folders (" + [] {
            std::string s;
            for (const auto *x : architectures())
                if (x->mergeAdapter)
                    s += (s.empty() ? "" : ", ") + x->name;
            return s;
        }() + ")");
    return a.mergeAdapter(model, adapter, outDir, log);
}

} // namespace se::model
