// The model card: the size and shape of the built-in multimodal model, read from a JSON file in models/
// (models/builtin-tiny.json) and embedded in every checkpoint so a checkpoint is self-describing.
// Plain struct, no LibTorch.
#pragma once

#include <string>

namespace se::model {

// The built-in model's architecture, as its card names it (its registry entry: core/model/arch_builtin.cpp).
inline constexpr const char *kBuiltinArchitecture = "se-tiny-vlm";

struct ModelCard {
    std::string name = "builtin-tiny";
    std::string architecture = kBuiltinArchitecture; // the only one this build knows
    int imageSize = 32;                              // images are resized to imageSize × imageSize before the encoder
    int visionWidth = 128;                           // channels of the last conv stage; the stages are /4, /2, /1 of it
    int visionStages = 3; // stride-2 conv stages; imageSize / 2^stages per side → image tokens
    int dModel = 128;     // decoder width
    int layers = 3;
    int heads = 4;
    int ffMult = 4;            // MLP hidden = ffMult · dModel
    int maxSeq = 160;          // learned positions: the longest prompt + answer the model can hold
    int maxAnswerTokens = 64;  // default generation limit
    bool tieEmbeddings = true; // the output head shares the token embedding

    int imageTokens() const
    {
        const int side = imageSize >> visionStages;
        return side * side;
    }
    int headDim() const { return dModel / heads; }

    // Throws std::runtime_error naming the field when a value is out of range.
    void validate() const;
    std::string toJson() const;
    // `origin` names the file (or checkpoint) in error messages.
    static ModelCard fromJson(const std::string &json, const std::string &origin);
    static ModelCard load(const std::string &file);
};

} // namespace se::model
