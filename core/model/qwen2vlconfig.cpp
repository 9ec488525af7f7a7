// Qwen2-VL's config.json (qwen2vl.h Qwen2VlConfig): parsed and checked apart from the model code (no LibTorch
// arithmetic here), in transformers 5's layout and the hub's older one.
#include "core/model/qwen2vl.h"
#include "core/model/smallfile.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace se::model {

using nlohmann::json;

int64_t Qwen2VlConfig::parameterCount() const
{
    const int64_t d = visionDim, m = visionMlp, h = hidden, in = intermediate, kv = int64_t(kvHeads) * headDim,
                  q = int64_t(heads) * headDim, patch = 3LL * temporalPatch * patchSize * patchSize,
                  merged = d * mergeSize * mergeSize;
    const int64_t norms = v25() ? 2 * d : 4 * d;
    const int64_t mlp = v25() ? 3 * d * m + 2 * m + d : 2 * d * m + m + d;
    int64_t n = d * patch + visionDepth * (norms + 3 * d * d + 3 * d + d * d + d + mlp);
    n += (v25() ? d : 2 * d) + merged * merged + merged + merged * visionOut + visionOut;
    n += int64_t(vocab) * h * (tieEmbeddings ? 1 : 2) + h;
    n += layers * (h * q + q + 2 * (h * kv + kv) + q * h + 3 * h * in + 2 * h);
    return n;
}

Qwen2VlConfig Qwen2VlConfig::fromJson(const std::string &text, const std::string &origin)
{
    const json j = parseJsonObject(text, origin);
    auto fail = [&](const std::string &field, const std::string &why) -> void {
        throw std::runtime_error(origin + ": " + field + ": " + why);
    };
    Qwen2VlConfig c;
    if (!j.contains("model_type") || !j["model_type"].is_string())
        fail("model_type", j.contains("model_type") ? "not a string" : "missing");
    c.modelType = j["model_type"].get<std::string>();
    if (c.modelType != "qwen2_vl" && c.modelType != "qwen2_5_vl")
        fail("model_type", "'" + c.modelType + "' is not \"qwen2_vl\" or \"qwen2_5_vl\"");
    if (!j.contains("vision_config") || !j["vision_config"].is_object())
        fail("vision_config", "missing or not an object");
    if (j.contains("text_config") && !j["text_config"].is_object())
        fail("text_config", "not an object");
    const json &v = j["vision_config"];
    static const json kEmpty = json::object();
    const json &t = j.contains("text_config") ? j["text_config"] : kEmpty;

    // A text field: text_config's, else the top level's (the hub's files of transformers 4 hold it there).
    auto textField = [&](const char *key) -> const json * {
        if (t.contains(key) && !t[key].is_null())
            return &t[key];
        if (j.contains(key) && !j[key].is_null())
            return &j[key];
        return nullptr;
    };
    auto integer = [&](const json *value, const std::string &field, int lo, int hi, std::optional<int> dflt) {
        if (!value) {
            if (!dflt)
                fail(field, "missing");
            return *dflt;
        }
        if (!value->is_number_integer())
            fail(field, "not an integer");
        const auto n = value->get<int64_t>();
        if (n < lo || n > hi)
            fail(field,
                 std::to_string(n) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return static_cast<int>(n);
    };
    auto number = [&](const json *value, const std::string &field, double lo, double hi, double dflt) {
        if (!value)
            return dflt;
        if (!value->is_number())
            fail(field, "not a number");
        const double x = value->get<double>();
        if (!(x >= lo && x <= hi))
            fail(field, "out of range");
        return x;
    };
    auto textInt = [&](const char *key, int lo, int hi, std::optional<int> dflt = std::nullopt) {
        return integer(textField(key), std::string("text_config.") + key, lo, hi, dflt);
    };
    auto visionInt = [&](const char *key, int lo, int hi, std::optional<int> dflt = std::nullopt) {
        return integer(v.contains(key) && !v[key].is_null() ? &v[key] : nullptr, std::string("vision_config.") + key,
                       lo, hi, dflt);
    };

    c.hidden = textInt("hidden_size", 1, 65536);
    c.intermediate = textInt("intermediate_size", 1, 1 << 20);
    c.layers = textInt("num_hidden_layers", 1, 1024);
    c.heads = textInt("num_attention_heads", 1, 1024);
    c.kvHeads = textInt("num_key_value_heads", 1, 1024, c.heads);
    c.vocab = textInt("vocab_size", 1, 1 << 24);
    c.maxPositions = textInt("max_position_embeddings", 16, 1 << 24, 32768);
    c.headDim =
        textInt("head_dim", 1, 4096, c.hidden % c.heads == 0 ? std::optional<int>(c.hidden / c.heads) : std::nullopt);
    if (c.heads % c.kvHeads != 0)
        fail("text_config.num_key_value_heads", "must divide num_attention_heads");
    if (c.headDim % 2 != 0)
        fail("text_config.head_dim", "must be even (rotary embeddings)");
    c.rmsEps = number(textField("rms_norm_eps"), "text_config.rms_norm_eps", 1e-12, 1e-1, 1e-6);
    if (const json *act = textField("hidden_act"); act && (!act->is_string() || act->get<std::string>() != "silu"))
        fail("text_config.hidden_act", "only \"silu\" is supported");
    if (const json *sliding = textField("use_sliding_window"); sliding && sliding->is_boolean() && sliding->get<bool>())
        fail("text_config.use_sliding_window", "sliding-window attention is not supported");

    // Rotary: rope_parameters (transformers 5) or rope_theta + rope_scaling {"type" | "rope_type": "mrope"}.
    const json *rope = textField("rope_parameters");
    const std::string ropeField = rope ? "text_config.rope_parameters" : "rope_scaling";
    if (!rope)
        rope = textField("rope_scaling");
    if (rope && !rope->is_object())
        fail(ropeField, "not an object");
    c.ropeTheta = number(rope && rope->contains("rope_theta") ? &(*rope)["rope_theta"] : textField("rope_theta"),
                         "rope_theta", 1, 1e12, 1000000);
    if (!rope || !rope->contains("mrope_section"))
        fail(ropeField + ".mrope_section", "missing (Qwen2-VL's M-RoPE needs it)");
    {
        const json &sec = (*rope)["mrope_section"];
        if (!sec.is_array() || sec.size() != 3)
            fail(ropeField + ".mrope_section", "not an array of three integers");
        c.mropeSection.clear();
        int sum = 0;
        for (const auto &s : sec) {
            if (!s.is_number_integer() || s.get<int64_t>() < 0 || s.get<int64_t>() > 4096)
                fail(ropeField + ".mrope_section", "not an array of three integers");
            c.mropeSection.push_back(s.get<int>());
            sum += c.mropeSection.back();
        }
        if (sum * 2 != c.headDim)
            fail(ropeField + ".mrope_section",
                 "sums to " + std::to_string(sum) + ", not head_dim / 2 = " + std::to_string(c.headDim / 2));
    }
    for (const char *key : {"type", "rope_type"})
        if (rope->contains(key) && (*rope)[key].is_string()) {
            const std::string type = (*rope)[key].get<std::string>();
            if (type != "mrope" && type != "default")
                fail(ropeField + "." + key, "'" + type + "' is not supported (only M-RoPE)");
        }

    if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean())
        c.tieEmbeddings = j["tie_word_embeddings"].get<bool>();
    else if (const json *tie = textField("tie_word_embeddings"); tie && tie->is_boolean())
        c.tieEmbeddings = tie->get<bool>();
    auto topInt = [&](const char *key, int dflt) {
        return integer(j.contains(key) && !j[key].is_null() ? &j[key] : nullptr, key, 0, 1 << 24, dflt);
    };
    c.imageTokenId = topInt("image_token_id", 151655);
    c.visionStartId = topInt("vision_start_token_id", 151652);
    c.visionEndId = topInt("vision_end_token_id", 151653);
    if (c.imageTokenId >= c.vocab)
        fail("image_token_id",
             std::to_string(c.imageTokenId) + " is beyond the vocabulary of " + std::to_string(c.vocab));
    for (const char *key : {"torch_dtype", "dtype"})
        if (j.contains(key) && j[key].is_string())
            c.torchDtype = j[key].get<std::string>();

    // Vision: Qwen2-VL names its width embed_dim (hidden_size is the merger's output); Qwen2.5-VL hidden_size, with
    // out_hidden_size for the merger's output and intermediate_size for its SwiGLU.
    c.visionDepth = visionInt("depth", 1, 1024);
    c.visionHeads = visionInt("num_heads", 1, 1024);
    c.patchSize = visionInt("patch_size", 1, 1024, 14);
    c.temporalPatch = visionInt("temporal_patch_size", 1, 16, 2);
    c.mergeSize = visionInt("spatial_merge_size", 1, 16, 2);
    if (v.contains("in_channels") && (!v["in_channels"].is_number_integer() || v["in_channels"].get<int64_t>() != 3))
        fail("vision_config.in_channels", "only 3 (RGB) is supported");
    if (c.v25()) {
        c.visionDim = visionInt("hidden_size", 1, 65536);
        c.visionMlp = visionInt("intermediate_size", 1, 1 << 20);
        c.visionOut = visionInt("out_hidden_size", 1, 65536);
        c.windowSize = visionInt("window_size", 1, 1 << 16, 112);
        if (c.windowSize % (c.patchSize * c.mergeSize) != 0)
            fail("vision_config.window_size", "must be a multiple of patch_size × spatial_merge_size");
        if (v.contains("fullatt_block_indexes")) {
            if (!v["fullatt_block_indexes"].is_array())
                fail("vision_config.fullatt_block_indexes", "not an array");
            for (const auto &b : v["fullatt_block_indexes"]) {
                if (!b.is_number_integer() || b.get<int64_t>() < 0 || b.get<int64_t>() >= c.visionDepth)
                    fail("vision_config.fullatt_block_indexes", "holds something that is not a block's index");
                c.fullAttentionBlocks.push_back(b.get<int>());
            }
        }
        c.visionAct = "silu";
    } else {
        c.visionDim = visionInt("embed_dim", 1, 65536);
        c.visionMlp = c.visionDim * visionInt("mlp_ratio", 1, 64, 4);
        c.visionOut = visionInt("hidden_size", 1, 65536, c.hidden);
        c.visionAct = "quick_gelu";
    }
    if (v.contains("hidden_act")) {
        if (!v["hidden_act"].is_string())
            fail("vision_config.hidden_act", "not a string");
        c.visionAct = v["hidden_act"].get<std::string>();
        if (c.visionAct != "quick_gelu" && c.visionAct != "silu" && c.visionAct != "gelu")
            fail("vision_config.hidden_act", "'" + c.visionAct + "' is not supported");
    }
    if (c.visionDim % c.visionHeads != 0 || (c.visionDim / c.visionHeads) % 4 != 0)
        fail("vision_config.num_heads", "the head width must be a multiple of 4 (2-D rotary embedding)");
    if (c.visionOut != c.hidden)
        fail("vision_config", "the merger's output (" + std::to_string(c.visionOut) +
                                  ") is not the language model's width (" + std::to_string(c.hidden) + ")");
    if (v.contains("rope_parameters") && v["rope_parameters"].is_object() &&
        v["rope_parameters"].contains("rope_theta"))
        c.visionRopeTheta =
            number(&v["rope_parameters"]["rope_theta"], "vision_config.rope_parameters.rope_theta", 1, 1e12, 10000);
    return c;
}

} // namespace se::model
