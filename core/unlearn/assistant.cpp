// The Assistant: a loaded model answering and scoring questions about images (greedy or sampled, batched).
#include "core/unlearn/enginecommon.h"

#include "core/eval/generate.h"

#include <algorithm>
#include <optional>

namespace se::engine {

using namespace se::model;
using namespace se::engine::detail;

namespace {
std::optional<torch::ScalarType> parseDtype(const std::string &name)
{
    if (name.empty() || name == "auto")
        return std::nullopt;
    if (name == "float32" || name == "f32")
        return torch::kFloat;
    if (name == "bfloat16" || name == "bf16")
        return torch::kBFloat16;
    if (name == "float16" || name == "f16")
        return torch::kHalf;
    throw std::runtime_error("unknown dtype '" + name + "' (auto, float32, bfloat16, float16)");
}

LoadOptions loadOptions(const ModelOptions &options, const torch::Device &device)
{
    LoadOptions lo;
    lo.device = device;
    lo.dtype = parseDtype(options.dtype);
    lo.systemPrompt = options.systemPrompt;
    lo.imagesFile = options.imagesFile;
    lo.adapterDir = options.adapter;
    lo.datasetRoot = options.datasetRoot;
    lo.memoryCheck = options.memoryCheck;
    lo.workingBytes = options.workingBytes;
    lo.progress = options.loadProgress;
    return lo;
}
} // namespace

Assistant::Assistant(const std::string &modelPath, const std::string &imagesFile, const std::string &device)
    : Assistant(modelPath, [&] {
          ModelOptions o;
          o.imagesFile = imagesFile;
          o.device = device;
          return o;
      }())
{
}

LoadPlanSummary planModelLoad(const std::string &model, const ModelOptions &options)
{
    return plainErrors([&] {
        const LoadPlan p = planLoad(model, loadOptions(options, pickDevice(options.device)));
        LoadPlanSummary s;
        s.text = p.describe();
        s.dtype = dtypeName(p.dtype);
        s.reason = p.why;
        s.fits = p.fits();
        s.need = p.need();
        s.available = p.available;
        s.weights = p.weights;
        return s;
    });
}

Assistant::Impl::~Impl()
{
    if (largeModel)
        largeModelLoaded(false);
}

Assistant::Assistant(const std::string &modelPath, const ModelOptions &options) : m(std::make_unique<Impl>())
{
    ensureThreads();
    plainErrors([&] {
        m->device = pickDevice(options.device);
        const LoadOptions lo = loadOptions(options, m->device);
        // Planned before the load too: afterwards the free memory no longer tells (the files' mapped pages count as
        // cache the kernel could take back), and batches are sized from what the load leaves.
        const LoadPlan plan = planLoad(modelPath, lo);
        try {
            m->model = loadModel(modelPath, lo);
        } catch (const LoadCancelled &e) {
            throw LoadCancelledError(e.what());
        }
        m->facts = se::model::describeModel(modelPath);
        m->dtypeBytes = m->model.net->dtype() == torch::kFloat ? 4 : 2;
        const std::uint64_t weights = plan.weights;
        m->room = lo.memoryCheck && plan.available > weights ? plan.available - weights : 0;
        if (m->device.is_cpu() && weights >= kLargeModelBytes) {
            largeModelLoaded(true);
            m->largeModel = true;
        }
        return 0;
    });
}

int Assistant::fitBatch(int wanted, int newTokens) const
{
    wanted = std::max(1, wanted);
    if (!m->room)
        return wanted;
    const int promptTokens = m->facts.imageTokens + 64; // the image and a question
    if (newTokens <= 0)
        newTokens = m->model.maxAnswerTokens;
    int b = wanted;
    while (b > 1 && se::model::inferenceBytes(m->facts, m->dtypeBytes, b, promptTokens, newTokens) > m->room)
        b = std::max(1, b / 2);
    return b;
}

Assistant::Assistant(std::unique_ptr<Impl> impl) : m(std::move(impl))
{
}

Assistant::~Assistant() = default;

std::map<std::string, std::string> Assistant::info() const
{
    return m->model.info;
}
std::string Assistant::deviceName() const
{
    return m->device.str();
}
std::string Assistant::architecture() const
{
    return m->model.architecture;
}
std::string Assistant::promptText(const std::string &question) const
{
    return m->model.chat->promptText(question);
}

std::string Assistant::ask(const std::string &imageFile, const std::string &question, const AskOptions &options)
{
    return askMany({{imageFile, question}}, options, 1).front();
}

std::vector<std::string> Assistant::askMany(const std::vector<std::pair<std::string, std::string>> &items,
                                            const AskOptions &options, int batch)
{
    std::vector<std::string> out;
    for (auto &a : answerMany(items, options, batch))
        out.push_back(std::move(a.text));
    return out;
}

std::vector<Assistant::Answer> Assistant::answerMany(const std::vector<std::pair<std::string, std::string>> &items,
                                                     const AskOptions &options, int batch)
{
    return plainErrors([&] { return answerManyImpl(items, options, batch); });
}

std::vector<Assistant::Answer> Assistant::answerManyImpl(const std::vector<std::pair<std::string, std::string>> &items,
                                                         const AskOptions &options, int batch)
{
    const LoadedModel &lm = m->model;
    const GenerationThreads threads(m->device.is_cpu());
    se::eval::GenerateOptions g;
    g.greedy = options.greedy;
    g.temperature = options.temperature;
    g.topP = options.topP;
    g.seed = options.seed;
    g.maxNewTokens = options.maxNewTokens > 0 ? options.maxNewTokens : lm.maxAnswerTokens;
    g.eosId = lm.chat->eosId();
    g.alsoStopsAt = lm.chat->alsoStopsAt();
    g.padId = lm.chat->padId();
    std::vector<Answer> out;
    out.reserve(items.size());
    batch = std::max(1, batch);
    for (size_t i = 0; i < items.size(); i += batch) {
        const size_t end = std::min(items.size(), i + batch);
        std::vector<std::vector<int>> prompts;
        std::vector<std::string> files;
        for (size_t j = i; j < end; ++j) {
            prompts.push_back(lm.chat->prompt(items[j].second, se::model::imageTokensOf(lm, items[j].first)).ids);
            files.push_back(items[j].first);
        }
        auto images = lm.images->batch(files).to(m->device);
        g.seed = options.seed + i; // each chunk its own stream, still fixed by the seed
        for (auto &ids : se::eval::generate(*lm.net, images, prompts, g))
            out.push_back({lm.chat->decode(ids), std::move(ids)});
    }
    return out;
}

Assistant::Score Assistant::score(const std::string &imageFile, const std::string &question, const std::string &answer)
{
    return plainErrors([&] {
        const LoadedModel &lm = m->model;
        Score s;
        s.prompt = lm.chat->promptText(question);
        const ChatTokens c = lm.chat->example(question, answer, se::model::imageTokensOf(lm, imageFile));
        s.inputIds = c.ids;
        s.answerStart = c.answerStart;
        auto pixels = lm.images->get(imageFile).unsqueeze(0).to(m->device);
        s.logprobs = se::eval::answerLogProbs(*lm.net, pixels, c.ids, c.answerStart);
        for (double v : s.logprobs)
            s.sumLogprob += v;
        s.meanNll = s.logprobs.empty() ? 0 : -s.sumLogprob / double(s.logprobs.size());
        return s;
    });
}

} // namespace se::engine
