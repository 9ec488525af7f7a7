// LLaVA's config.json (llava.h LlavaConfig): parsed and checked apart from the model code, so that the fuzz
// target of the parser (scripts/fuzz.sh) instruments this file alone.
#include "core/model/llava.h"
#include "core/model/smallfile.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace se::model {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------- config

int LlavaConfig::visionLayersUsed() const
{
    // hidden_states[0] is the input of layer 0, hidden_states[i] the output of layer i-1.
    return featureLayer >= 0 ? featureLayer : visionLayers + 1 + featureLayer;
}

int LlavaConfig::imageFeatures() const
{
    const int side = imageSize / patchSize;
    return side * side + (selectStrategy == "full" ? 1 : 0);
}

int64_t LlavaConfig::parameterCount() const
{
    const int64_t vh = visionHidden, vi = visionIntermediate, h = hidden, in = intermediate,
                  kv = int64_t(kvHeads) * headDim();
    const int64_t side = imageSize / patchSize;
    int64_t n = vh * 3 * patchSize * patchSize + vh + (side * side + 1) * vh + 2 * vh;
    n += visionLayersUsed() * (4 * (vh * vh + vh) + 4 * vh + vh * vi + vi + vi * vh + vh);
    n += vh * h + h + h * h + h;
    n += int64_t(vocab) * h * (tieEmbeddings ? 1 : 2) + h;
    n += layers * (2 * h * h + 2 * kv * h + 3 * h * in + 2 * h);
    return n;
}

LlavaConfig LlavaConfig::fromJson(const std::string &text, const std::string &origin)
{
    const json j = parseJsonObject(text, origin);
    auto fail = [&](const std::string &field, const std::string &why) -> void {
        throw std::runtime_error(origin + ": " + field + ": " + why);
    };
    if (!j.contains("model_type") || !j["model_type"].is_string()) // found by fuzzing: a number threw type_error
        fail("model_type", j.contains("model_type") ? "not a string" : "missing");
    const std::string type = j["model_type"].get<std::string>();
    if (type != "llava")
        fail("model_type", "'" + type + "' is not \"llava\"");
    for (const char *sub : {"text_config", "vision_config"})
        if (!j.contains(sub) || !j[sub].is_object())
            fail(sub, "missing or not an object");
    const json &t = j["text_config"], &v = j["vision_config"];
    auto integer = [&](const json &o, const char *prefix, const char *key, int lo, int hi, std::optional<int> dflt) {
        const std::string field = std::string(prefix) + key;
        if (!o.contains(key) || o[key].is_null()) {
            if (!dflt)
                fail(field, "missing");
            return *dflt;
        }
        if (!o[key].is_number_integer())
            fail(field, "not an integer");
        const auto x = o[key].get<int64_t>();
        if (x < lo || x > hi)
            fail(field,
                 std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return static_cast<int>(x);
    };
    auto number = [&](const json &o, const char *prefix, const char *key, double lo, double hi, double dflt) {
        if (!o.contains(key) || o[key].is_null())
            return dflt;
        if (!o[key].is_number())
            fail(std::string(prefix) + key, "not a number");
        const double x = o[key].get<double>();
        if (!(x > lo && x <= hi))
            fail(std::string(prefix) + key, "out of range");
        return x;
    };
    auto string = [&](const json &o, const char *prefix, const char *key, const std::string &dflt) {
        if (!o.contains(key) || o[key].is_null())
            return dflt;
        if (!o[key].is_string())
            fail(std::string(prefix) + key, "not a string");
        return o[key].get<std::string>();
    };
    const int big = 1 << 20;
    LlavaConfig c;
    const std::string tt = string(t, "text_config.", "model_type", "llama");
    if (tt != "llama")
        fail("text_config.model_type", "'" + tt + "' is not supported (llama)");
    const std::string vt = string(v, "vision_config.", "model_type", "clip_vision_model");
    if (vt != "clip_vision_model")
        fail("vision_config.model_type", "'" + vt + "' is not supported (clip_vision_model)");
    c.hidden = integer(t, "text_config.", "hidden_size", 1, big, 4096);
    c.intermediate = integer(t, "text_config.", "intermediate_size", 1, big, 11008);
    c.layers = integer(t, "text_config.", "num_hidden_layers", 1, 1024, 32);
    c.heads = integer(t, "text_config.", "num_attention_heads", 1, 1024, 32);
    c.kvHeads = integer(t, "text_config.", "num_key_value_heads", 1, 1024, c.heads);
    c.vocab = integer(t, "text_config.", "vocab_size", 8, 1 << 24, 32064);
    c.maxPositions = integer(t, "text_config.", "max_position_embeddings", 8, 1 << 24, 4096);
    c.rmsEps = number(t, "text_config.", "rms_norm_eps", 0, 1, 1e-6);
    c.ropeTheta = number(t, "text_config.", "rope_theta", 0, 1e12, 10000);
    if (t.contains("rope_scaling") && !t["rope_scaling"].is_null())
        fail("text_config.rope_scaling", "scaled rotary embeddings are not supported");
    // transformers 5 writes {"rope_parameters": {"rope_theta": …, "rope_type": "default"}}.
    if (t.contains("rope_parameters") && !t["rope_parameters"].is_null()) {
        const json &r = t["rope_parameters"];
        if (!r.is_object())
            fail("text_config.rope_parameters", "not an object");
        const std::string type = string(r, "text_config.rope_parameters.", "rope_type", "default");
        if (type != "default")
            fail("text_config.rope_parameters.rope_type", "'" + type + "' is not supported (default)");
        c.ropeTheta = number(r, "text_config.rope_parameters.", "rope_theta", 0, 1e12, c.ropeTheta);
    }
    if (t.contains("attention_bias") && t["attention_bias"].is_boolean() && t["attention_bias"].get<bool>())
        fail("text_config.attention_bias", "attention biases are not supported");
    if (t.contains("mlp_bias") && t["mlp_bias"].is_boolean() && t["mlp_bias"].get<bool>())
        fail("text_config.mlp_bias", "MLP biases are not supported");
    const std::string act = string(t, "text_config.", "hidden_act", "silu");
    if (act != "silu")
        fail("text_config.hidden_act", "'" + act + "' is not supported (silu)");
    if (t.contains("head_dim") && t["head_dim"].is_number_integer() &&
        t["head_dim"].get<int64_t>() != c.hidden / c.heads)
        fail("text_config.head_dim", "differs from hidden_size / num_attention_heads, which is not supported");
    if (c.hidden % c.heads != 0)
        fail("text_config.num_attention_heads", "does not divide hidden_size");
    if (c.heads % c.kvHeads != 0)
        fail("text_config.num_key_value_heads", "does not divide num_attention_heads");
    if (c.headDim() % 2 != 0)
        fail("text_config.hidden_size", "head dimension must be even for rotary embeddings");

    c.visionHidden = integer(v, "vision_config.", "hidden_size", 1, big, 1024);
    c.visionIntermediate = integer(v, "vision_config.", "intermediate_size", 1, big, 4096);
    c.visionLayers = integer(v, "vision_config.", "num_hidden_layers", 1, 1024, 24);
    c.visionHeads = integer(v, "vision_config.", "num_attention_heads", 1, 1024, 16);
    c.imageSize = integer(v, "vision_config.", "image_size", 1, 8192, 224);
    c.patchSize = integer(v, "vision_config.", "patch_size", 1, 8192, 32);
    c.visionEps = number(v, "vision_config.", "layer_norm_eps", 0, 1, 1e-5);
    c.visionAct = string(v, "vision_config.", "hidden_act", "quick_gelu");
    if (c.visionAct != "quick_gelu" && c.visionAct != "gelu")
        fail("vision_config.hidden_act", "'" + c.visionAct + "' is not supported (quick_gelu, gelu)");
    if (integer(v, "vision_config.", "num_channels", 1, 4, 3) != 3)
        fail("vision_config.num_channels", "only 3 (RGB) is supported");
    if (c.visionHidden % c.visionHeads != 0)
        fail("vision_config.num_attention_heads", "does not divide hidden_size");
    if (c.imageSize % c.patchSize != 0)
        fail("vision_config.patch_size", "does not divide image_size");

    if (j.contains("vision_feature_layer") && j["vision_feature_layer"].is_array())
        fail("vision_feature_layer", "a list of layers is not supported");
    c.featureLayer = integer(j, "", "vision_feature_layer", -c.visionLayers, c.visionLayers, -2);
    if (c.visionLayersUsed() < 0)
        fail("vision_feature_layer", "out of range");
    c.selectStrategy = string(j, "", "vision_feature_select_strategy", "default");
    if (c.selectStrategy != "default" && c.selectStrategy != "full")
        fail("vision_feature_select_strategy", "'" + c.selectStrategy + "' is not supported (default, full)");
    c.projectorAct = string(j, "", "projector_hidden_act", "gelu");
    if (c.projectorAct != "gelu")
        fail("projector_hidden_act", "'" + c.projectorAct + "' is not supported (gelu)");
    if (j.contains("multimodal_projector_bias") && j["multimodal_projector_bias"].is_boolean() &&
        !j["multimodal_projector_bias"].get<bool>())
        fail("multimodal_projector_bias", "a projector without biases is not supported");
    const int imageTokenId = integer(j, "", "image_token_id", 0, c.vocab - 1, 32000);
    c.imageTokenId = integer(j, "", "image_token_index", 0, c.vocab - 1, imageTokenId);
    c.padTokenId =
        integer(j, "", "pad_token_id", 0, c.vocab - 1, integer(t, "text_config.", "pad_token_id", 0, c.vocab - 1, 0));
    c.bosTokenId = integer(t, "text_config.", "bos_token_id", 0, c.vocab - 1, 1);
    c.eosTokenId = integer(t, "text_config.", "eos_token_id", 0, c.vocab - 1, 2);
    bool tie = false;
    for (const json *o : {static_cast<const json *>(&j), &t})
        if (o->contains("tie_word_embeddings") && (*o)["tie_word_embeddings"].is_boolean())
            tie = (*o)["tie_word_embeddings"].get<bool>();
    c.tieEmbeddings = tie;
    c.torchDtype = string(j, "", "torch_dtype", string(j, "", "dtype", ""));
    return c;
}

} // namespace se::model
