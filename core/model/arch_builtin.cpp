// The built-in model's entry (core/model/architecture.h): a SafeEraser checkpoint file whose embedded card names
// "se-tiny-vlm"; float32, a few MB; runs fine-tune it (or LoRA on it) and write whole checkpoints.
#include "core/model/architecture.h"

#include "core/model/safetensors.h"
#include "core/model/smallfile.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;

namespace {

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

std::shared_ptr<ImageStore> builtinImages(const std::string &file, const std::string &datasetRoot)
{
    return std::make_shared<ImageStore>(loadCheckpoint(file, torch::kCPU).card.imageSize, datasetRoot);
}

ModelFacts describeBuiltin(const std::string &path)
{
    ModelFacts f;
    std::ostringstream os;
    std::error_code ec;
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
       << card.imageSize << " px images · " << parameterCount(f.parameters) << " parameters";
    auto it = st.metadata().find("trained_by");
    if (it != st.metadata().end())
        os << " · trained by " << it->second;
    f.summary = os.str();
    return f;
}

} // namespace

const Architecture &builtinArchitecture()
{
    static const Architecture a = [] {
        Architecture a;
        a.name = kBuiltinArchitecture;
        a.modelTypes = {kBuiltinArchitecture};
        a.trainingTokens = [](int positions, int) { return positions; };
        a.defaultLora.rank = 0; // projector and decoder fine-tuned in full by default
        a.defaultLora.alpha = 16;
        a.defaultLora.dropout = 0.05;
        a.defaultLora.targets = {"q", "k", "v", "o", "fc1", "fc2"};
        a.describe = describeBuiltin;
        a.load = loadBuiltin;
        a.images = builtinImages;
        return a;
    }();
    return a;
}

} // namespace se::model
