#include "core/model/llavatokenizer.h"

#include "core/model/hftokenizer.h"
#include "core/model/hfweights.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A small JSON file of the folder, or null when absent. Bounded, regular files only.
json readJsonFile(const fs::path &p)
{
    std::error_code ec;
    if (!fs::exists(p, ec))
        return nullptr;
    return parseJson(readSmallFile(p.string(), 16u << 20), p.string());
}

// "bos_token": "<s>" or {"content": "<s>", …}
std::string tokenContent(const json &v)
{
    if (v.is_string())
        return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
        return v["content"].get<std::string>();
    return {};
}

} // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string &folder)
{
    const fs::path dir(folder);
    const fs::path model = dir / "tokenizer.model";
    std::error_code ec;
    if (!fs::exists(model, ec)) {
        if (fs::exists(dir / "tokenizer.json", ec))
            throw std::runtime_error(model.string() + ": missing (only tokenizer.json is there; this program reads "
                                                      "the SentencePiece model tokenizer.model)");
        throw std::runtime_error(model.string() + ": missing");
    }
    m_sp = SentencePieceModel::load(model.string());
    const int pieces = m_sp.size();
    m_unk = m_sp.unkId();
    m_bos = m_sp.bosId();
    m_eos = m_sp.eosId();

    auto addSpecial = [&](const std::string &content, int id, const std::string &origin) {
        if (content.empty())
            return;
        if (id < 0)
            throw std::runtime_error(origin + ": token '" + content + "' has a negative id");
        m_special[content] = id;
    };
    for (int i = 0; i < pieces; ++i)
        if (m_sp.isControl(i) || m_sp.isUnknown(i))
            m_special[m_sp.idToPiece(i)] = i;
    const json added = readJsonFile(dir / "added_tokens.json");
    if (added.is_object())
        for (auto it = added.begin(); it != added.end(); ++it) {
            if (!it->is_number_integer())
                throw std::runtime_error((dir / "added_tokens.json").string() + ": \"" + it.key() +
                                         "\" is not an integer id");
            addSpecial(it.key(), it->get<int>(), (dir / "added_tokens.json").string());
        }
    const json cfg = readJsonFile(dir / "tokenizer_config.json");
    const std::string cfgName = (dir / "tokenizer_config.json").string();
    std::string bosText, eosText, padText;
    if (cfg.is_object()) {
        if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object())
            for (auto it = cfg["added_tokens_decoder"].begin(); it != cfg["added_tokens_decoder"].end(); ++it) {
                int id = -1;
                try {
                    id = std::stoi(it.key());
                } catch (...) {
                    throw std::runtime_error(cfgName + ": added_tokens_decoder key '" + it.key() + "' is not an id");
                }
                addSpecial(tokenContent(*it), id, cfgName);
            }
        if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
            m_addBos = cfg["add_bos_token"].get<bool>();
        if (cfg.contains("legacy") && cfg["legacy"].is_boolean())
            m_legacy = cfg["legacy"].get<bool>();
        if (cfg.contains("bos_token"))
            bosText = tokenContent(cfg["bos_token"]);
        if (cfg.contains("eos_token"))
            eosText = tokenContent(cfg["eos_token"]);
        if (cfg.contains("pad_token"))
            padText = tokenContent(cfg["pad_token"]);
    }
    const json map = readJsonFile(dir / "special_tokens_map.json");
    if (map.is_object()) {
        if (bosText.empty() && map.contains("bos_token"))
            bosText = tokenContent(map["bos_token"]);
        if (eosText.empty() && map.contains("eos_token"))
            eosText = tokenContent(map["eos_token"]);
        if (padText.empty() && map.contains("pad_token"))
            padText = tokenContent(map["pad_token"]);
    }
    if (!bosText.empty() && id(bosText) >= 0)
        m_bos = id(bosText);
    if (!eosText.empty() && id(eosText) >= 0)
        m_eos = id(eosText);
    m_pad = !padText.empty() ? id(padText) : -1;
}

int SentencePieceTokenizer::maxId() const
{
    int most = std::max({pieceCount() - 1, m_bos, m_eos, m_pad, m_unk});
    for (const auto &kv : m_special)
        most = std::max(most, kv.second);
    return most;
}

int SentencePieceTokenizer::pieceCount() const
{
    return m_sp.size();
}

int SentencePieceTokenizer::id(const std::string &token) const
{
    auto it = m_special.find(token);
    if (it != m_special.end())
        return it->second;
    return m_sp.pieceToId(token);
}

std::vector<int> SentencePieceTokenizer::encode(const std::string &text, bool addBos) const
{
    std::vector<int> out;
    if (addBos && m_addBos)
        out.push_back(m_bos);
    size_t pos = 0;
    bool first = true;
    std::string plain;
    auto flush = [&] {
        if (plain.empty())
            return;
        // transformers: legacy tokenizers give every segment SentencePiece's dummy "▁"; non-legacy ones only
        // the text's start.
        auto ids = m_sp.encode(plain, m_legacy || first);
        out.insert(out.end(), ids.begin(), ids.end());
        plain.clear();
    };
    while (pos < text.size()) {
        // Longest special token starting here.
        const std::string *match = nullptr;
        int matchId = -1;
        for (const auto &[content, i] : m_special)
            if (content.size() > (match ? match->size() : 0) && text.compare(pos, content.size(), content) == 0) {
                match = &content;
                matchId = i;
            }
        if (match) {
            flush();
            out.push_back(matchId);
            pos += match->size();
            first = false;
            continue;
        }
        plain.push_back(text[pos++]);
    }
    flush();
    return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int> &ids) const
{
    // transformers converts a Llama tokenizer.model to a tokenizers decoder: "▁" → " ", byte fallback, fuse, and
    // (with the dummy prefix) one leading space stripped. Control, unknown and added tokens are special: skipped.
    static const std::vector<DecodeStep> withPrefix = {{DecodeStep::Kind::Replace, "\xE2\x96\x81", " ", 0, 0, true},
                                                       {DecodeStep::Kind::ByteFallback, {}, {}, 0, 0, true},
                                                       {DecodeStep::Kind::Fuse, {}, {}, 0, 0, true},
                                                       {DecodeStep::Kind::Strip, " ", {}, 1, 0, true}};
    static const std::vector<DecodeStep> without(withPrefix.begin(), withPrefix.end() - 1);
    std::vector<std::string> pieces;
    pieces.reserve(ids.size());
    for (int i : ids)
        if (i >= 0 && i < m_sp.size() && !m_sp.isControl(i) && !m_sp.isUnknown(i))
            pieces.push_back(m_sp.idToPiece(i));
    return runDecodeSteps(std::move(pieces), m_sp.addsDummyPrefix() ? withPrefix : without);
}

std::shared_ptr<const TextTokenizer> loadTextTokenizer(const std::string &folder)
{
    std::error_code ec;
    if (fs::exists(fs::path(folder) / "tokenizer.json", ec))
        return HfTokenizer::fromFolder(folder);
    return std::make_shared<SentencePieceTokenizer>(folder);
}

// ---------------------------------------------------------------------------------------------- chat format

LlavaChatFormat::LlavaChatFormat(std::shared_ptr<const TextTokenizer> tok, int imageTokenId, int imageFeatures,
                                 std::string systemPrompt)
    : m_tok(std::move(tok)), m_imageId(imageTokenId), m_features(imageFeatures), m_system(std::move(systemPrompt))
{
    m_pad = m_tok->padId() >= 0 ? m_tok->padId() : m_tok->eosId();
}

std::string LlavaChatFormat::name() const
{
    return m_system.empty() ? "llava-1.5" : "llava-1.5+system";
}

std::string LlavaChatFormat::promptText(const std::string &question) const
{
    return (m_system.empty() ? std::string() : m_system + " ") + "USER: <image>\n" + question + " ASSISTANT:";
}

std::vector<int> LlavaChatFormat::expand(const std::vector<int> &ids) const
{
    std::vector<int> out;
    out.reserve(ids.size() + m_features);
    for (int i : ids) {
        if (i == m_imageId)
            out.insert(out.end(), m_features, m_imageId);
        else
            out.push_back(i);
    }
    return out;
}

int fixedImageTokens(int asked, int fixed)
{
    if (asked != -1 && asked != fixed)
        throw std::logic_error("chat format: " + std::to_string(asked) + " image tokens asked of a model that gives " +
                               std::to_string(fixed) + " for every image");
    return fixed;
}

ChatTokens LlavaChatFormat::prompt(const std::string &question, int imageTokens) const
{
    fixedImageTokens(imageTokens, m_features);
    ChatTokens c;
    c.ids = expand(m_tok->encode(promptText(question), true));
    c.answerStart = static_cast<int>(c.ids.size());
    return c;
}

ChatTokens LlavaChatFormat::example(const std::string &question, const std::string &answer, int imageTokens) const
{
    fixedImageTokens(imageTokens, m_features);
    // The whole conversation tokenized at once, as training code does; the answer starts where it stops
    // agreeing with the prompt alone (with SentencePiece's whitespace split, at the prompt's end).
    const ChatTokens p = prompt(question);
    ChatTokens c;
    c.ids = expand(m_tok->encode(promptText(question) + " " + answer, true));
    size_t common = 0;
    while (common < p.ids.size() && common < c.ids.size() && p.ids[common] == c.ids[common])
        ++common;
    c.answerStart = static_cast<int>(common);
    c.ids.push_back(m_tok->eosId());
    return c;
}

} // namespace se::model
