#include "core/model/registry.h"

#include "core/model/clipimage.h"
#include "core/model/hfweights.h"
#include "core/model/llava.h"
#include "core/model/llavatokenizer.h"
#include "core/model/memory.h"
#include "core/model/safetensors.h"

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

LoadedModel loadBuiltin(const std::string &file, const LoadOptions &o)
{
    if (!o.adapterDir.empty())
        throw std::runtime_error(o.adapterDir +
                                 ": adapters apply to Hugging Face models; a built-in model's runs "
                                 "write whole checkpoints (" +
                                 file + " is one)");
    LoadedModel m;
    // A few MB: its progress is its start and its end (and a cancel before it starts is honoured).
    std::error_code ec;
    const std::uint64_t bytes = fs::file_size(file, ec);
    if (o.progress && !o.progress(0, bytes))
        throw LoadCancelled(file + ": loading cancelled");
    Checkpoint ck = loadCheckpoint(file, o.device);
    if (o.progress)
        o.progress(bytes, bytes);
    m.path = file;
    m.architecture = ck.card.architecture;
    m.net = ck.model.ptr();
    m.chat = std::make_shared<BuiltinChatFormat>(ck.tokenizer, ck.card.imageTokens());
    m.images = std::make_shared<ImageStore>(ck.card.imageSize, o.datasetRoot);
    if (!o.imagesFile.empty())
        m.images->loadPacked(o.imagesFile);
    m.maxAnswerTokens = ck.card.maxAnswerTokens;
    m.info = ck.info;
    m.builtin = std::move(ck);
    return m;
}

// The image processor's settings: preprocessor_config.json, or (transformers 5 writes only this)
// processor_config.json's "image_processor" object.
ClipPreprocessor readClipPreprocessor(const fs::path &dir)
{
    std::error_code ec;
    const fs::path pre = dir / "preprocessor_config.json", proc = dir / "processor_config.json";
    if (fs::exists(pre, ec) || !fs::exists(proc, ec)) {
        ClipPreprocessor p = ClipPreprocessor::fromJson(readText(pre, 1u << 20), pre.string());
        p.origin = pre.string();
        return p;
    }
    const nlohmann::json j = parseJsonObject(readText(proc, 1u << 20), proc.string());
    if (!j.contains("image_processor") || !j["image_processor"].is_object())
        throw std::runtime_error(dir.string() + ": no preprocessor_config.json, and processor_config.json has no "
                                                "\"image_processor\" object");
    ClipPreprocessor p = ClipPreprocessor::fromJson(j["image_processor"].dump(), proc.string() + " (image_processor)");
    p.origin = proc.string();
    return p;
}

// LLaVA's images: its CLIP preprocessing (preprocessor_config.json, and config.json's original-LLaVA padding).
std::shared_ptr<ImageStore> llavaImages(const fs::path &dir, const std::string &configText, const LlavaConfig &config,
                                        const std::string &datasetRoot)
{
    ClipPreprocessor pre = readClipPreprocessor(dir);
    if (pre.outputHeight() != config.imageSize || pre.outputWidth() != config.imageSize)
        throw std::runtime_error(pre.origin + ": images come out " + std::to_string(pre.outputWidth()) + "x" +
                                 std::to_string(pre.outputHeight()) + " but the vision tower takes " +
                                 std::to_string(config.imageSize) + "x" + std::to_string(config.imageSize));
    {                                                               // original LLaVA's option lives in config.json
        const nlohmann::json j = nlohmann::json::parse(configText); // already checked by fromJson
        if (j.contains("image_aspect_ratio") && j["image_aspect_ratio"].is_string() && j["image_aspect_ratio"] == "pad")
            pre.padToSquare = true;
    }
    auto images = std::make_shared<ImageStore>(config.imageSize, datasetRoot);
    images->setDecoder(
        [pre, size = config.imageSize](const std::string &file) {
            auto chw = pre.processFile(file);
            return torch::from_blob(chw.data(), {3, size, size}, torch::kFloat).clone();
        },
        std::size_t(1) << 30, pre.describe());
    return images;
}

LoadedModel loadLlavaFolder(const std::string &folder, const LoadOptions &o)
{
    const fs::path dir(folder);
    const std::string configText = readText(dir / "config.json", 1u << 20);
    const LlavaConfig config = LlavaConfig::fromJson(configText, (dir / "config.json").string());
    auto images = llavaImages(dir, configText, config, o.datasetRoot);
    const auto tok = loadTextTokenizer(folder);
    if (tok->id("<image>") >= 0 && tok->id("<image>") != config.imageTokenId)
        throw std::runtime_error(folder + ": the tokenizer's <image> is id " + std::to_string(tok->id("<image>")) +
                                 " but config.json's image_token_index is " + std::to_string(config.imageTokenId));
    if (tok->id("<image>") < 0)
        throw std::runtime_error(folder +
                                 ": the tokenizer has no <image> token (added_tokens.json / tokenizer_config.json)");

    const LoadPlan plan = planLoad(folder, o);
    if (o.memoryCheck && !plan.fits())
        throw std::runtime_error(doesNotFit(plan, o));
    const torch::ScalarType dtype = plan.dtype;
    std::string naming;
    LoadReport report;
    Llava net = loadLlava(folder, config, dtype, o.device, &naming, o.progress, &report);
    if (!o.adapterDir.empty())
        foldLlavaAdapter(*net, o.adapterDir);

    LoadedModel m;
    m.path = folder;
    m.architecture = "llava";
    m.net = net.ptr();
    m.chat = std::make_shared<LlavaChatFormat>(tok, config.imageTokenId, config.imageFeatures(), o.systemPrompt);
    m.images = images;
    if (!o.imagesFile.empty())
        m.images->loadPacked(o.imagesFile);
    m.maxAnswerTokens = 512; // the official inference's limit
    {
        std::error_code ec;
        if (fs::exists(dir / "generation_config.json", ec)) {
            auto g = nlohmann::json::parse(readText(dir / "generation_config.json", 1u << 20), nullptr, false);
            if (g.is_object() && g.contains("max_new_tokens") && g["max_new_tokens"].is_number_integer())
                m.maxAnswerTokens = std::max(1, g["max_new_tokens"].get<int>());
        }
    }
    m.info = {{"architecture", "llava"},
              {"weights_naming", naming},
              {"dtype", dtypeName(dtype)},
              {"file_dtype", config.torchDtype},
              {"parameters", std::to_string(net->parameterCount())},
              {"chat_template", m.chat->name()},
              {"image_size", std::to_string(config.imageSize)},
              {"image_tokens", std::to_string(config.imageFeatures())},
              {"tokenizer", tok->file()},
              {"tokenizer_legacy", tok->legacy() ? "true" : "false"}};
    {
        std::ostringstream load;
        load << report.shared << " tensors mapped from the files, " << report.converted << " converted, "
             << report.copied << " copied; " << gib(report.bytes) << " read in " << std::fixed << std::setprecision(1)
             << report.seconds << " s";
        m.info["load"] = load.str();
    }
    m.info["weight_bytes"] = std::to_string(plan.weights);
    if (plan.automatic)
        m.info["dtype_reason"] = plan.why;
    if (!o.adapterDir.empty())
        m.info["adapter"] = o.adapterDir;
    return m;
}

std::shared_ptr<ImageStore> builtinImages(const std::string &file, const std::string &datasetRoot)
{
    return std::make_shared<ImageStore>(loadCheckpoint(file, torch::kCPU).card.imageSize, datasetRoot);
}

std::shared_ptr<ImageStore> llavaFolderImages(const std::string &folder, const std::string &datasetRoot)
{
    const fs::path dir(folder);
    const std::string configText = readText(dir / "config.json", 1u << 20);
    return llavaImages(dir, configText, LlavaConfig::fromJson(configText, (dir / "config.json").string()), datasetRoot);
}

struct Architecture {
    const char *name;
    std::function<LoadedModel(const std::string &, const LoadOptions &)> load;
    std::function<std::shared_ptr<ImageStore>(const std::string &, const std::string &)> images;
};

const std::vector<Architecture> &registry()
{
    static const std::vector<Architecture> r = {{"se-tiny-vlm", loadBuiltin, builtinImages},
                                                {"llava", loadLlavaFolder, llavaFolderImages}};
    return r;
}

const Architecture &architectureOf(const std::string &path)
{
    const std::string arch = modelArchitecture(path);
    for (const auto &a : registry())
        if (arch == a.name)
            return a;
    std::string known;
    for (const auto &a : registry())
        known += (known.empty() ? "" : ", ") + std::string(a.name);
    throw std::runtime_error(path + ": architecture '" + arch + "' is not supported (this build knows " + known + ")");
}

} // namespace

bool isModelFolder(const std::string &path)
{
    std::error_code ec;
    return fs::is_directory(path, ec);
}

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
    ModelFacts f;
    f.path = path;
    f.architecture = modelArchitecture(path);
    std::ostringstream os;
    std::error_code ec;
    auto billions = [](int64_t n) {
        std::ostringstream o;
        o.setf(std::ios::fixed);
        o.precision(n >= 1000000000 ? 2 : 1);
        if (n >= 1000000000)
            o << double(n) / 1e9 << " B";
        else
            o << double(n) / 1e6 << " M";
        return o.str();
    };
    if (f.architecture == "llava") {
        const fs::path dir(path);
        const LlavaConfig c =
            LlavaConfig::fromJson(readText(dir / "config.json", 1u << 20), (dir / "config.json").string());
        f.adapters = true;
        f.parameters = c.parameterCount();
        if (!fs::exists(dir / "model.safetensors", ec) && !fs::exists(dir / "model.safetensors.index.json", ec)) {
            // No weights (yet): config.json's dtype says what they will be; loading says what is missing.
            const std::string t = c.torchDtype;
            f.fileDtype = t == "bfloat16" ? "BF16" : t == "float16" ? "F16" : "F32";
            f.fileBytes = std::uint64_t(f.parameters) * (f.fileDtype == "F32" ? 4 : 2);
        } else {
            // The headers alone (the shards are mapped, not read): bytes per dtype.
            const HfWeights w(path);
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
        f.kvHeads = c.kvHeads;
        f.vocab = c.vocab;
        f.maxAnswerTokens = 512;
        if (fs::exists(dir / "generation_config.json", ec)) {
            auto g = nlohmann::json::parse(readText(dir / "generation_config.json", 1u << 20), nullptr, false);
            if (g.is_object() && g.contains("max_new_tokens") && g["max_new_tokens"].is_number_integer())
                f.maxAnswerTokens = std::max(1, g["max_new_tokens"].get<int>());
        }
        f.layers = c.layers;
        f.hidden = c.hidden;
        f.intermediate = c.intermediate;
        f.heads = c.heads;
        f.imageTokens = c.imageFeatures();
        f.maxSeq = c.maxPositions;
        f.projectorParameters = int64_t(c.visionHidden) * c.hidden + c.hidden + int64_t(c.hidden) * c.hidden + c.hidden;
        const int64_t h = c.hidden, kv = int64_t(c.kvHeads) * c.headDim(), in = c.intermediate;
        f.loraFanSum = {{"q_proj", 2 * h},     {"k_proj", h + kv},  {"v_proj", h + kv},   {"o_proj", 2 * h},
                        {"gate_proj", h + in}, {"up_proj", h + in}, {"down_proj", in + h}};
        os << "LLaVA-1.5 · Llama " << c.layers << " layers × " << c.hidden << " · CLIP " << c.imageSize << " px ("
           << f.imageTokens << " image tokens) · " << billions(f.parameters) << " parameters";
        if (!c.torchDtype.empty())
            os << " · " << c.torchDtype << " files";
        os << " · " << (f.fileBytes >> 20) << " MiB";
    } else {
        MappedSafeTensors st(path);
        const ModelCard card = ModelCard::fromJson(st.metadata().at("model_card"), path + ": embedded model card");
        for (const auto &e : st.entries())
            if (e.name.find("lora") == std::string::npos)
                f.parameters += int64_t(e.end - e.begin) / 4;
        f.fileBytes = fs::file_size(path, ec);
        f.fileDtype = "F32";
        f.kvHeads = card.heads;
        f.maxAnswerTokens = card.maxAnswerTokens;
        f.layers = card.layers;
        f.hidden = card.dModel;
        f.intermediate = card.ffMult * card.dModel;
        f.heads = card.heads;
        f.imageTokens = card.imageTokens();
        f.maxSeq = card.maxSeq;
        const int64_t d = card.dModel, ff = int64_t(card.ffMult) * d;
        f.loraFanSum = {{"q", 2 * d}, {"k", 2 * d}, {"v", 2 * d}, {"o", 2 * d}, {"fc1", d + ff}, {"fc2", ff + d}};
        os << "Built-in model (" << card.name << ") · " << card.layers << " layers × " << card.dModel << " · "
           << card.imageSize << " px images · " << billions(f.parameters) << " parameters";
        auto it = st.metadata().find("trained_by");
        if (it != st.metadata().end())
            os << " · trained by " << it->second;
    }
    f.summary = os.str();
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
    if (!f.adapters) { // the built-in model: float32, a few MB
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
    for (const auto &a : registry())
        out.push_back(a.name);
    return out;
}

LoadedModel loadModel(const std::string &path, const LoadOptions &options)
{
    return architectureOf(path).load(path, options);
}

std::shared_ptr<ImageStore> modelImages(const std::string &path, const std::string &datasetRoot)
{
    return architectureOf(path).images(path, datasetRoot);
}

bool writesAdapters(const LoadedModel &m)
{
    return m.architecture == "llava";
}

LoraSpec defaultLora(const LoadedModel &m)
{
    return defaultLora(m.architecture);
}

LoraSpec defaultLora(const std::string &architecture)
{
    LoraSpec s;
    if (architecture == "llava") {
        s.rank = 32;
        s.alpha = 256;
        s.dropout = 0.05;
        s.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    } else {
        s.rank = 0; // the built-in model fine-tunes projector and decoder in full by default
        s.alpha = 16;
        s.dropout = 0.05;
        s.targets = {"q", "k", "v", "o", "fc1", "fc2"};
    }
    return s;
}

void applyAdapterValues(LoadedModel &m, const std::string &dir)
{
    auto *llava = dynamic_cast<LlavaImpl *>(m.net.get());
    if (!llava)
        throw std::runtime_error(dir + ": this model (" + m.architecture + ") takes no adapter folders");
    loadLlavaAdapter(*llava, dir);
}

void saveAdapters(const LoadedModel &m, const std::string &dir, const LoraSpec &spec,
                  const std::map<std::string, std::string> &metadata)
{
    auto *llava = dynamic_cast<LlavaImpl *>(m.net.get());
    if (!llava)
        throw std::runtime_error(dir + ": this model (" + m.architecture + ") writes whole checkpoints, not adapters");
    auto it = m.info.find("weights_naming");
    saveLlavaAdapter(*llava, dir, spec, m.path, it == m.info.end() ? "transformers-5" : it->second, metadata);
}

MergeSummary mergeAdapter(const std::string &model, const std::string &adapter, const std::string &outDir,
                          const std::function<void(const std::string &)> &log)
{
    const std::string arch = modelArchitecture(model);
    if (arch != "llava")
        throw std::runtime_error(model + ": a " + arch + " model; adapters merge into Hugging Face folders (llava)");
    return mergeLlavaAdapter(model, adapter, outDir, log);
}

} // namespace se::model
