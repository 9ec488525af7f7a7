// LLaVA-1.5's entry (core/model/architecture.h): a Hugging Face folder whose config.json says model_type "llava"
// (llava-hf's layout, transformers 4.x and 5 namings, shards, BF16/F16/F32); CLIP's image preprocessing; runs train
// LoRA adapters (SafeEraser's: r 32, alpha 256 on the seven projections, the projector trained) and write PEFT folders.
#include "core/model/architecture.h"

#include "core/model/clipimage.h"
#include "core/model/hfweights.h"
#include "core/model/llava.h"
#include "core/model/llavatokenizer.h"
#include "core/model/memory.h"
#include "core/model/smallfile.h"

#include <filesystem>
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
    if (tok->maxId() >= config.vocab) // an id past the embedding is LibTorch's "index out of range" later
        throw std::runtime_error(folder + "/" + tok->file() + " (or its added tokens): token id " +
                                 std::to_string(tok->maxId()) + " is beyond the model's vocabulary of " +
                                 std::to_string(config.vocab) + " (config.json)");
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
        foldAdapterFolder(*net, o.adapterDir);

    LoadedModel m;
    m.path = folder;
    m.architecture = llavaArchitecture().name;
    m.net = net.ptr();
    m.chat = std::make_shared<LlavaChatFormat>(tok, config.imageTokenId, config.imageFeatures(), o.systemPrompt);
    m.images = images;
    if (!o.imagesFile.empty())
        m.images->loadPacked(o.imagesFile);
    m.maxAnswerTokens = generationLimit(folder, 512); // the official inference's limit
    m.info = {{"architecture", llavaArchitecture().name},
              {"weights_naming", naming},
              {"dtype", dtypeName(dtype)},
              {"file_dtype", config.torchDtype},
              {"parameters", std::to_string(net->parameterCount())},
              {"chat_template", m.chat->name()},
              {"image_size", std::to_string(config.imageSize)},
              {"image_tokens", std::to_string(config.imageFeatures())},
              {"tokenizer", tok->file()},
              {"tokenizer_legacy", tok->legacy() ? "true" : "false"}};
    m.info["load"] = loadSummary(report);
    m.info["weight_bytes"] = std::to_string(plan.weights);
    if (plan.automatic)
        m.info["dtype_reason"] = plan.why;
    if (!o.adapterDir.empty())
        m.info["adapter"] = o.adapterDir;
    return m;
}

std::shared_ptr<ImageStore> llavaFolderImages(const std::string &folder, const std::string &datasetRoot)
{
    const fs::path dir(folder);
    const std::string configText = readText(dir / "config.json", 1u << 20);
    return llavaImages(dir, configText, LlavaConfig::fromJson(configText, (dir / "config.json").string()), datasetRoot);
}

ModelFacts describeLlava(const std::string &path)
{
    ModelFacts f;
    std::ostringstream os;
    std::error_code ec;
    const fs::path dir(path);
    const LlavaConfig c =
        LlavaConfig::fromJson(readText(dir / "config.json", 1u << 20), (dir / "config.json").string());
    f.parameters = c.parameterCount();
    weightFileFacts(path, c.torchDtype, f);
    f.kvHeads = c.kvHeads;
    f.vocab = c.vocab;
    f.maxAnswerTokens = generationLimit(path, 512);
    f.layers = c.layers;
    f.hidden = c.hidden;
    f.intermediate = c.intermediate;
    f.heads = c.heads;
    f.imageTokens = c.imageFeatures();
    f.maxSeq = c.maxPositions;
    f.projectorParameters = int64_t(c.visionHidden) * c.hidden + c.hidden + int64_t(c.hidden) * c.hidden + c.hidden;
    const int64_t h = c.hidden, kv = int64_t(c.kvHeads) * c.headDim(), in = c.intermediate;
    f.loraFanSum = projectionFanSums(h, h, kv, in);
    os << "LLaVA-1.5 · Llama " << c.layers << " layers × " << c.hidden << " · CLIP " << c.imageSize << " px ("
       << f.imageTokens << " image tokens) · " << parameterCount(f.parameters) << " parameters"
       << filesSummary(c.torchDtype, f);
    f.summary = os.str();
    return f;
}

} // namespace

const Architecture &llavaArchitecture()
{
    static const Architecture a = [] {
        Architecture a = hfFolderArchitecture("llava", {"llava"});
        a.describe = describeLlava;
        a.load = loadLlavaFolder;
        a.images = llavaFolderImages;
        setAdapterHooks(a, llavaAdapterLayout(), true);
        return a;
    }();
    return a;
}

} // namespace se::model
