#include "core/model/checkpoint.h"

#include "core/model/safetensors.h"

#include <stdexcept>

namespace se::model {

namespace {
const char *const kFormat = "safeeraser-checkpoint";
const char *const kFormatVersion = "1";
} // namespace

void saveCheckpoint(const std::string &file, const Checkpoint &ckpt)
{
    if (!ckpt.model)
        throw std::runtime_error(file + ": no model to save");
    if (ckpt.model->card().toJson() != ckpt.card.toJson())
        throw std::runtime_error(file + ": the model does not match the card to save with it");
    SafeTensors st;
    for (const auto &[name, t] : ckpt.model->mergedParameters())
        st.tensors.emplace_back(name, t.to(torch::kFloat));
    st.metadata = ckpt.info;
    st.metadata["format"] = kFormat;
    st.metadata["format_version"] = kFormatVersion;
    st.metadata["model_card"] = ckpt.card.toJson();
    st.metadata["tokenizer"] = ckpt.tokenizer.toJson();
    writeSafeTensors(file, st);
}

Checkpoint loadCheckpoint(const std::string &file, const torch::Device &device)
{
    SafeTensors st = readSafeTensors(file);
    auto fail = [&](const std::string &why) -> void { throw std::runtime_error(file + ": " + why); };
    auto meta = [&](const char *key) -> std::string {
        auto it = st.metadata.find(key);
        if (it == st.metadata.end())
            fail(std::string("not a SafeEraser checkpoint (metadata '") + key + "' missing)");
        return it->second;
    };
    if (meta("format") != kFormat)
        fail("not a SafeEraser checkpoint (format '" + st.metadata["format"] + "')");
    if (meta("format_version") != kFormatVersion)
        fail("checkpoint format version " + st.metadata["format_version"] + " is not supported (this build reads " +
             kFormatVersion + ")");
    Checkpoint c;
    c.card = ModelCard::fromJson(meta("model_card"), file + ": embedded model card");
    c.tokenizer = Tokenizer::fromJson(meta("tokenizer"), file);
    for (const auto &[k, v] : st.metadata)
        if (k != "format" && k != "format_version" && k != "model_card" && k != "tokenizer")
            c.info[k] = v;
    {
        // Before allocating the model the card describes: its decoder weights alone must be in the file (every
        // tensor is checked against the card below), so a damaged or hand-edited card cannot ask for 600 GB.
        int64_t held = 0;
        for (const auto &nt : st.tensors)
            held += nt.second.numel();
        const int64_t d = c.card.dModel;
        const int64_t atLeast = int64_t(c.card.layers) * (4 * d * d + 2 * int64_t(c.card.ffMult) * d * d);
        if (atLeast > held)
            fail("its model card describes at least " + std::to_string(atLeast) + " parameters but the file holds " +
                 std::to_string(held) + " (a damaged or hand-edited card)");
    }
    c.model = Vlm(c.card, c.tokenizer.size());
    auto params = c.model->named_parameters();
    if (st.tensors.size() != params.size()) {
        for (const auto &[name, t] : st.tensors)
            if (!params.find(name))
                fail("unexpected tensor '" + name + "' (does not belong to the model its card describes)");
        for (const auto &p : params)
            if (!st.find(p.key()))
                fail("tensor '" + p.key() + "' is missing");
    }
    torch::NoGradGuard ng;
    for (const auto &[name, t] : st.tensors) {
        auto *p = params.find(name);
        if (!p)
            fail("unexpected tensor '" + name + "' (does not belong to the model its card describes)");
        if (p->sizes() != t.sizes())
            fail("tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", the model card needs " +
                 c10::str(p->sizes()));
        if (!t.is_floating_point())
            fail("tensor '" + name + "' is not floating point");
        if (!torch::isfinite(t).all().item<bool>())
            fail("tensor '" + name + "' holds NaN or infinite values");
        p->copy_(t.to(torch::kFloat));
    }
    c.model->to(device);
    c.model->eval();
    return c;
}

} // namespace se::model
