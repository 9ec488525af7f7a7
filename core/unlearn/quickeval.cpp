// Quick evaluation of a checkpoint on a split (greedy answers, refusals counted by the offline judge's detector) and
// packing a benchmark's images for the built-in model.
#include "core/unlearn/enginecommon.h"

#include "core/data/pathguard.h"
#include "core/metrics/textmetrics.h"

#include <cctype>
#include <set>

namespace se::engine {

using namespace se::model;
using namespace se::engine::detail;

namespace {
std::string squash(const std::string &s)
{
    std::string o;
    for (unsigned char c : s)
        if (std::isalnum(c))
            o.push_back(static_cast<char>(std::tolower(c)));
    return o;
}
} // namespace

static int packImagesImpl(const std::string &dataDir, const std::string &outFile, int size, const std::string &model,
                          const std::vector<std::string> &images);

QuickEval quickEval(const std::string &modelFile, const std::string &dataDir, bool valSplit,
                    const std::string &imagesFile, int limit)
{
    ModelOptions o;
    o.imagesFile = imagesFile;
    return quickEval(modelFile, dataDir, valSplit, o, limit);
}

QuickEval quickEval(const std::string &modelFile, const std::string &dataDir, bool valSplit,
                    const ModelOptions &options, int limit)
{
    auto bench = loadBenchmark(dataDir);
    const auto &split = valSplit ? bench.val : bench.train;
    ModelOptions o = options;
    o.datasetRoot = bench.root;
    Assistant a(modelFile, o);
    AskOptions greedy;
    greedy.greedy = true;
    auto run = [&](const std::vector<se::data::Sample> &set, auto &&score) {
        std::vector<std::pair<std::string, std::string>> items;
        for (const auto &s : set) {
            if (limit > 0 && static_cast<int>(items.size()) >= limit)
                break;
            items.emplace_back(s.imageFile, s.question);
        }
        auto answers = a.askMany(items, greedy, a.fitBatch(64, greedy.maxNewTokens));
        for (size_t i = 0; i < answers.size(); ++i)
            score(set[i], answers[i]);
        return static_cast<int>(answers.size());
    };
    // The offline judge's own refusal detector: quick-eval's refusal rate and the metrics' RR count the same answers.
    const se::metrics::RefusalDetector refusals;
    QuickEval q;
    q.forget = run(split.forget, [&](const se::data::Sample &s, const std::string &ans) {
        q.forgetRefused += refusals.isRefusal(ans);
        q.forgetTarget += squash(ans) == squash(s.answer);
    });
    q.pd = run(split.pd, [&](const se::data::Sample &s, const std::string &ans) {
        q.pdRefused += refusals.isRefusal(ans);
        q.pdExact += squash(ans) == squash(s.answer);
    });
    q.retain = run(split.retain, [&](const se::data::Sample &s, const std::string &ans) {
        q.retainExact += squash(ans) == squash(s.answer);
    });
    auto share = [](double &v, int n) { v = n ? v / n : 0; };
    share(q.forgetRefused, q.forget);
    share(q.forgetTarget, q.forget);
    share(q.pdRefused, q.pd);
    share(q.pdExact, q.pd);
    share(q.retainExact, q.retain);
    return q;
}

int packImages(const std::string &dataDir, const std::string &outFile, int size, const std::string &model,
               const std::vector<std::string> &images)
{
    return plainErrors([&] { return packImagesImpl(dataDir, outFile, size, model, images); });
}

static int packImagesImpl(const std::string &dataDir, const std::string &outFile, int size, const std::string &model,
                          const std::vector<std::string> &images)
{
    std::vector<std::pair<std::string, std::string>> inputs;
    if (!dataDir.empty())
        inputs.emplace_back("benchmark folder", dataDir);
    if (!model.empty())
        inputs.emplace_back("model", model);
    for (const auto &f : images)
        inputs.emplace_back("image", f);
    se::data::refuseWritingOverInputs("the output", outFile, inputs);
    se::data::refuseReplacingAnotherKind("the output", outFile, "safetensors");
    if (size < 8 || size > 512)
        throw std::runtime_error("image size must be 8..512");
    if (dataDir.empty() == images.empty())
        throw std::runtime_error("pack-images: give a benchmark folder (--data) or image files (--image), not both");
    std::string root; // --image files: as given
    std::set<std::string> rel;
    if (!dataDir.empty()) {
        se::data::ReadOptions ro;
        auto bench = se::data::readBenchmark(dataDir, ro);
        if (!bench.train.present && !bench.val.present)
            throw std::runtime_error(dataDir + ": neither all_train.json nor all_val.json");
        root = bench.root;
        const std::string prefix = bench.root + "/";
        for (const auto *s : {&bench.train, &bench.val})
            for (const auto &r : s->records)
                for (const auto *f : {&r.imageFile, &r.sdImageFile})
                    if (!f->empty())
                        rel.insert(f->rfind(prefix, 0) == 0 ? f->substr(prefix.size()) : *f);
        if (rel.empty())
            throw std::runtime_error(dataDir + ": no readable images to pack");
    } else {
        rel.insert(images.begin(), images.end()); // keyed as given: `--image` names them so on the machine using them
    }
    const std::vector<std::string> files(rel.begin(), rel.end());
    if (!model.empty()) // the model's own preprocessing (LLaVA: CLIP's resize, crop and normalisation)
        se::model::modelImages(model, root)->packTo(root, files, outFile);
    else
        ImageStore::pack(root, files, size, outFile);
    return static_cast<int>(rel.size());
}

} // namespace se::engine
