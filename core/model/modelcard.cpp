#include "core/model/modelcard.h"
#include "core/model/smallfile.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace {
void need(bool ok, const std::string &field, const std::string &what)
{
    if (!ok)
        throw std::runtime_error("model card: " + field + ": " + what);
}
} // namespace

void ModelCard::validate() const
{
    need(architecture == kBuiltinArchitecture, "architecture", "unknown architecture '" + architecture + "'");
    need(imageSize >= 8 && imageSize <= 512, "image_size", "must be 8..512");
    need(visionStages >= 1 && visionStages <= 6, "vision_stages", "must be 1..6");
    need((imageSize >> visionStages) >= 1 && (imageSize % (1 << visionStages)) == 0, "vision_stages",
         "image_size must be divisible by 2^vision_stages");
    need(visionWidth >= 8 && visionWidth % 4 == 0, "vision_width", "must be a multiple of 4, at least 8");
    need(dModel >= 8 && dModel <= 8192, "d_model", "must be 8..8192");
    need(layers >= 1 && layers <= 64, "layers", "must be 1..64");
    need(heads >= 1 && dModel % heads == 0, "heads", "must divide d_model");
    need(ffMult >= 1 && ffMult <= 16, "ff_mult", "must be 1..16");
    need(maxSeq > imageTokens() + 4 && maxSeq <= 8192, "max_seq", "must exceed the image tokens + 4 and be ≤ 8192");
    need(maxAnswerTokens >= 1 && maxAnswerTokens < maxSeq, "max_answer_tokens", "must be 1..max_seq-1");
}

std::string ModelCard::toJson() const
{
    nlohmann::json j = {{"name", name},
                        {"architecture", architecture},
                        {"image_size", imageSize},
                        {"vision_width", visionWidth},
                        {"vision_stages", visionStages},
                        {"d_model", dModel},
                        {"layers", layers},
                        {"heads", heads},
                        {"ff_mult", ffMult},
                        {"max_seq", maxSeq},
                        {"max_answer_tokens", maxAnswerTokens},
                        {"tie_embeddings", tieEmbeddings}};
    return j.dump(2);
}

ModelCard ModelCard::fromJson(const std::string &text, const std::string &origin)
{
    ModelCard c;
    try {
        const auto j = nlohmann::json::parse(text);
        if (!j.is_object())
            throw std::runtime_error("not a JSON object");
        auto get = [&](const char *key, auto &into) {
            if (j.contains(key))
                j.at(key).get_to(into);
        };
        get("name", c.name);
        get("architecture", c.architecture);
        get("image_size", c.imageSize);
        get("vision_width", c.visionWidth);
        get("vision_stages", c.visionStages);
        get("d_model", c.dModel);
        get("layers", c.layers);
        get("heads", c.heads);
        get("ff_mult", c.ffMult);
        get("max_seq", c.maxSeq);
        get("max_answer_tokens", c.maxAnswerTokens);
        get("tie_embeddings", c.tieEmbeddings);
        c.validate();
    } catch (const std::exception &e) {
        throw std::runtime_error(origin + ": " + e.what());
    }
    return c;
}

ModelCard ModelCard::load(const std::string &file)
{
    // A regular file of at most 1 MiB (a FIFO given as --card used to block the command for ever).
    return fromJson(readSmallFile(file, 1u << 20), file);
}

} // namespace se::model
