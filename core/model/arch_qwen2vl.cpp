// Qwen2-VL's and Qwen2.5-VL's entry (core/model/architecture.h): a Hugging Face folder whose config.json says
// model_type "qwen2_vl" or "qwen2_5_vl" (transformers 5's layout and the hub's older one, both weight namings, shards,
// BF16/F16/F32); its image processor (images of any size, smart_resize); byte-level BPE from tokenizer.json and the
// chat template with the default system prompt; runs train LoRA adapters on the language model's seven projections
// (the merger trained in full) and write PEFT folders.
#include "core/model/architecture.h"

#include "core/data/imageheader.h"
#include "core/model/hftokenizer.h"
#include "core/model/memory.h"
#include "core/model/qwen2vl.h"
#include "core/model/qwen2vlchat.h"
#include "core/model/qwen2vlimage.h"
#include "core/model/smallfile.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;

namespace {

Qwen2VlConfig readQwen2VlConfig(const fs::path &dir)
{
    const fs::path file = dir / "config.json";
    return Qwen2VlConfig::fromJson(readSmallFile(file.string(), 1u << 20), file.string());
}

// preprocessor_config.json, or (transformers 5 may write only this) processor_config.json's "image_processor".
Qwen2VlImageProcessor readQwen2VlProcessor(const fs::path &dir)
{
    std::error_code ec;
    const fs::path pre = dir / "preprocessor_config.json", proc = dir / "processor_config.json";
    if (fs::exists(pre, ec) || !fs::exists(proc, ec))
        return Qwen2VlImageProcessor::fromJson(readSmallFile(pre.string(), 1u << 20), pre.string());
    const nlohmann::json j = parseJsonObject(readSmallFile(proc.string(), 1u << 20), proc.string());
    if (!j.contains("image_processor") || !j["image_processor"].is_object())
        throw std::runtime_error(dir.string() + ": no preprocessor_config.json, and processor_config.json has no "
                                                "\"image_processor\" object");
    return Qwen2VlImageProcessor::fromJson(j["image_processor"].dump(), proc.string() + " (image_processor)");
}

std::shared_ptr<ImageStore> qwen2VlImages(const fs::path &dir, const Qwen2VlConfig &config,
                                          const std::string &datasetRoot)
{
    const Qwen2VlImageProcessor pre = readQwen2VlProcessor(dir);
    if (pre.patchSize != config.patchSize || pre.mergeSize != config.mergeSize ||
        pre.temporalPatchSize != config.temporalPatch)
        throw std::runtime_error(pre.origin + ": patch_size / merge_size / temporal_patch_size " +
                                 std::to_string(pre.patchSize) + " / " + std::to_string(pre.mergeSize) + " / " +
                                 std::to_string(pre.temporalPatchSize) + " differ from config.json's vision_config (" +
                                 std::to_string(config.patchSize) + " / " + std::to_string(config.mergeSize) + " / " +
                                 std::to_string(config.temporalPatch) + ")");
    auto images = std::make_shared<ImageStore>(0, datasetRoot); // any size
    images->setDecoder(
        [pre](const std::string &file) {
            int h = 0, w = 0;
            auto chw = pre.resizedFile(file, h, w);
            return torch::from_blob(chw.data(), {3, h, w}, torch::kFloat).clone();
        },
        std::size_t(1) << 30, pre.describe());
    images->setSizer([pre, images = std::weak_ptr<ImageStore>(images)](const std::string &file) {
        const auto info = se::data::readImageHeader(file);
        if (!info.ok || info.width > 1u << 20 || info.height > 1u << 20) { // the decoder says what is wrong
            const auto store = images.lock();
            const auto t = store->get(file);
            return std::pair<int64_t, int64_t>(t.size(1), t.size(2));
        }
        try {
            const auto [h, w] = pre.smartResize(int(info.height), int(info.width));
            return std::pair<int64_t, int64_t>(h, w);
        } catch (const std::runtime_error &e) { // an aspect ratio above 200
            throw std::runtime_error(file + ": " + e.what());
        }
    });
    return images;
}

LoadedModel loadQwen2VlFolder(const std::string &folder, const LoadOptions &o)
{
    const fs::path dir(folder);
    const Qwen2VlConfig config = readQwen2VlConfig(dir);
    auto images = qwen2VlImages(dir, config, o.datasetRoot);
    const auto tok = loadTextTokenizer(folder);
    if (tok->maxId() >= config.vocab)
        throw std::runtime_error(folder + "/" + tok->file() + " (or its added tokens): token id " +
                                 std::to_string(tok->maxId()) + " is beyond the model's vocabulary of " +
                                 std::to_string(config.vocab) + " (config.json)");
    auto chat = std::make_shared<Qwen2VlChatFormat>(tok, config.imageTokenId, o.systemPrompt);

    const LoadPlan plan = planLoad(folder, o);
    if (o.memoryCheck && !plan.fits())
        throw std::runtime_error(doesNotFit(plan, o));
    std::string naming;
    LoadReport report;
    Qwen2Vl net = loadQwen2Vl(folder, config, plan.dtype, o.device, &naming, o.progress, &report);
    if (!o.adapterDir.empty())
        foldAdapterFolder(*net, o.adapterDir);

    LoadedModel m;
    m.path = folder;
    m.architecture = qwen2vlArchitecture().name;
    m.net = net.ptr();
    m.chat = chat;
    m.images = images;
    if (!o.imagesFile.empty())
        m.images->loadPacked(o.imagesFile);
    m.maxAnswerTokens = generationLimit(folder, 128);
    m.info = {{"architecture", qwen2vlArchitecture().name},
              {"model_type", config.modelType},
              {"weights_naming", naming},
              {"dtype", dtypeName(plan.dtype)},
              {"file_dtype", config.torchDtype},
              {"parameters", std::to_string(net->parameterCount())},
              {"chat_template", m.chat->name()},
              {"image_tokens", "by image size"},
              {"tokenizer", tok->file()},
              {"load", loadSummary(report)},
              {"weight_bytes", std::to_string(plan.weights)}};
    if (plan.automatic)
        m.info["dtype_reason"] = plan.why;
    if (!o.adapterDir.empty())
        m.info["adapter"] = o.adapterDir;
    return m;
}

ModelFacts describeQwen2Vl(const std::string &path)
{
    const Qwen2VlConfig c = readQwen2VlConfig(fs::path(path));
    ModelFacts f;
    f.parameters = c.parameterCount();
    weightFileFacts(path, c.torchDtype, f);
    f.kvHeads = c.kvHeads;
    f.vocab = c.vocab;
    f.maxAnswerTokens = generationLimit(path, 128);
    f.layers = c.layers;
    f.hidden = c.hidden;
    f.intermediate = c.intermediate;
    f.heads = c.heads;
    f.imageTokens = static_cast<int>(c.imageTokensFor(476, 644)); // a 640 × 480 picture, for plans
    f.maxSeq = c.maxPositions;
    const int64_t merged = int64_t(c.visionDim) * c.mergeSize * c.mergeSize;
    f.projectorParameters = merged * merged + merged + merged * c.visionOut + c.visionOut;
    const int64_t h = c.hidden, q = int64_t(c.heads) * c.headDim, kv = int64_t(c.kvHeads) * c.headDim,
                  in = c.intermediate;
    f.loraFanSum = projectionFanSums(h, q, kv, in);
    std::ostringstream os;
    os << (c.v25() ? "Qwen2.5-VL" : "Qwen2-VL") << " · Qwen2 " << c.layers << " layers × " << c.hidden << " · ViT "
       << c.visionDepth << " × " << c.visionDim << ", images of any size · " << parameterCount(f.parameters)
       << " parameters" << filesSummary(c.torchDtype, f);
    f.summary = os.str();
    return f;
}

} // namespace

const Architecture &qwen2vlArchitecture()
{
    static const Architecture a = [] {
        // The training length counts the image once with its own number of tokens (it depends on its size).
        Architecture a = hfFolderArchitecture("qwen2-vl", {"qwen2_vl", "qwen2_5_vl"});
        a.describe = describeQwen2Vl;
        a.load = loadQwen2VlFolder;
        a.images = [](const std::string &folder, const std::string &datasetRoot) {
            const fs::path dir(folder);
            return qwen2VlImages(dir, readQwen2VlConfig(dir), datasetRoot);
        };
        // Adapter keys in transformers ≥ 4.52's module names whatever the folder's: transformers 5 writes the hub's
        // names to disk but builds the model with the new ones, which are what PEFT looks adapter keys up by.
        setAdapterHooks(a, qwen2VlAdapterLayout(), false);
        return a;
    }();
    return a;
}

} // namespace se::model
