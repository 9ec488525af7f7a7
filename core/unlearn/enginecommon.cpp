// The engine's shared checks and conversions: the benchmark a run trains on, its tokenizer and examples, steps from
// epochs, option checks; where a run's files go.
#include "core/unlearn/enginecommon.h"

#include "core/model/architecture.h"
#include "core/model/safetensors.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

namespace se::engine {

using namespace se::model;
using namespace se::unlearn;

bool writesAdapterFolders(const std::string &model)
{
    return se::model::architectureOf(model).writesAdapters;
}

std::string curveCheckpointPath(const std::string &outFile, const std::string &model)
{
    return outFile + (writesAdapterFolders(model) ? ".step" : ".step.safetensors");
}

std::map<std::string, std::string> savedModelMetadata(const std::string &path)
{
    std::error_code ec; // a saved model: an adapter folder, or a checkpoint file
    const std::string file = std::filesystem::is_directory(path, ec) ? path + "/adapter_model.safetensors" : path;
    return se::model::MappedSafeTensors(file).metadata();
}

void detail::checkTrainable(const se::data::Benchmark &b, const std::string &dir)
{
    if (!b.train.present)
        throw std::runtime_error(dir + ": no all_train.json (not a SafeEraser dataset folder?)");
    if (b.train.forget.empty())
        throw std::runtime_error(
            dir + ": all_train.json yields no usable forget samples" +
            (b.problems.empty() ? std::string() : " (first problem: " + b.problems.front().toString() + ")"));
}

se::data::Benchmark detail::loadBenchmark(const std::string &dir)
{
    if (dir.empty())
        throw std::runtime_error("no dataset folder given");
    se::data::ReadOptions ro;
    ro.checkImages = false; // the image store reports an unreadable image when it gets to it
    auto b = se::data::readBenchmark(dir, ro);
    checkTrainable(b, dir);
    return b;
}

Tokenizer detail::buildTokenizer(const se::data::Benchmark &b)
{
    std::vector<std::string> texts;
    for (const auto *s : {&b.train, &b.val})
        for (const auto &r : s->records) {
            for (const auto &p : r.unsafePairs) {
                texts.push_back(p.question);
                texts.push_back(p.sdResponse);
                for (const auto &resp : p.responses)
                    texts.push_back(resp);
            }
            for (const auto &u : r.unharmPairs) {
                texts.push_back(u.question);
                texts.push_back(u.prediction);
            }
        }
    texts.insert(texts.end(), b.refusals.begin(), b.refusals.end());
    return Tokenizer::build(texts);
}

std::vector<Example> detail::toExamples(const std::vector<se::data::Sample> &set, const Tokenizer &tok,
                                        const ModelCard &card)
{
    std::vector<Example> out;
    out.reserve(set.size());
    for (const auto &s : set)
        out.push_back(makeExample(tok, card.imageTokens(), card.maxSeq, s.imageFile, s.question, s.answer));
    return out;
}

void detail::warmImages(ImageStore &store, const std::vector<Example> &set)
{
    for (const auto &e : set)
        store.get(e.imageFile);
}

int detail::stepsFor(const TrainOptions &t, size_t setSize)
{
    if (t.steps > 0)
        return t.steps;
    if (t.epochs <= 0)
        throw std::runtime_error("give a number of steps or of epochs");
    const double perStep = double(t.batchSize) * t.gradAccum;
    return std::max(1, static_cast<int>(std::ceil(t.epochs * setSize / perStep)));
}

void detail::checkOptions(const TrainOptions &t)
{
    if (t.batchSize < 1 || t.gradAccum < 1)
        throw std::runtime_error("batch size and gradient accumulation must be at least 1");
    if (!(t.lr > 0) || !std::isfinite(t.lr))
        throw std::runtime_error("learning rate must be positive");
    if (t.warmupRatio < 0 || t.warmupRatio >= 1)
        throw std::runtime_error("warm-up ratio must be in [0, 1)");
}

std::string detail::fmt(double v)
{
    std::ostringstream os;
    os << v;
    return os.str();
}

} // namespace se::engine
