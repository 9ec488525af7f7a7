#include "core/model/hftokenizer.h"

#include "core/model/smallfile.h"
#include "core/util/text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <queue>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------- decoding steps

namespace {

// "<0x41>" → 0x41 (tokenizers' byte-fallback pieces: exactly six characters, two hexadecimal digits).
bool bytePiece(const std::string &p, unsigned &value)
{
    if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>')
        return false;
    unsigned v = 0;
    for (int i = 3; i < 5; ++i) {
        const char c = p[static_cast<std::size_t>(i)];
        v = v * 16 + static_cast<unsigned>(c >= '0' && c <= '9'   ? c - '0'
                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                  : 99);
        if (v > 255)
            return false;
    }
    value = v;
    return true;
}

void replaceAll(std::string &s, const std::string &from, const std::string &to)
{
    if (from.empty())
        return;
    std::string out;
    std::size_t i = 0;
    for (std::size_t at; (at = s.find(from, i)) != std::string::npos; i = at + from.size())
        out.append(s, i, at - i).append(to);
    if (i == 0)
        return;
    out.append(s, i, std::string::npos);
    s = std::move(out);
}

} // namespace

std::string runDecodeSteps(std::vector<std::string> pieces, const std::vector<DecodeStep> &steps)
{
    for (const DecodeStep &step : steps) {
        switch (step.kind) {
        case DecodeStep::Kind::Replace:
            for (auto &p : pieces)
                replaceAll(p, step.from, step.to);
            break;
        case DecodeStep::Kind::ByteFallback: {
            // A run of byte pieces becomes its bytes when they are UTF-8, else one U+FFFD per piece (tokenizers).
            std::vector<std::string> out;
            std::string run;
            std::size_t runPieces = 0;
            auto flush = [&] {
                if (!runPieces)
                    return;
                if (se::text::isValidUtf8(run))
                    out.push_back(run);
                else
                    for (std::size_t i = 0; i < runPieces; ++i)
                        out.push_back("\xEF\xBF\xBD");
                run.clear();
                runPieces = 0;
            };
            for (auto &p : pieces) {
                unsigned b = 0;
                if (bytePiece(p, b)) {
                    run.push_back(static_cast<char>(b));
                    ++runPieces;
                } else {
                    flush();
                    out.push_back(std::move(p));
                }
            }
            flush();
            pieces = std::move(out);
            break;
        }
        case DecodeStep::Kind::Fuse: {
            std::string all;
            for (const auto &p : pieces)
                all += p;
            pieces.assign(1, all);
            break;
        }
        case DecodeStep::Kind::Strip:
            for (auto &p : pieces) {
                for (int i = 0;
                     i < step.stripStart && !step.from.empty() && p.compare(0, step.from.size(), step.from) == 0; ++i)
                    p.erase(0, step.from.size());
                for (int i = 0; i < step.stripStop && !step.from.empty() && p.size() >= step.from.size() &&
                                p.compare(p.size() - step.from.size(), step.from.size(), step.from) == 0;
                     ++i)
                    p.erase(p.size() - step.from.size());
            }
            break;
        case DecodeStep::Kind::ByteLevel:
            // Each piece's characters back to the bytes GPT-2's map gave them (a piece with a character outside the
            // map, an added token's, stays as it is); the joined bytes are made valid UTF-8 at the end, so a character
            // split over two pieces comes back whole and a lone byte becomes U+FFFD (tokenizers' from_utf8_lossy).
            for (auto &p : pieces) {
                std::string bytes;
                bool mapped = true;
                for (std::size_t i = 0; i < p.size() && mapped;) {
                    const unsigned char c = static_cast<unsigned char>(p[i]);
                    const std::size_t n = c < 0x80 ? 1 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : (c & 0x0F);
                    for (std::size_t k = 1; k < n && i + k < p.size(); ++k)
                        cp = (cp << 6) | (static_cast<unsigned char>(p[i + k]) & 0x3F);
                    const int b = unicode::charByte(cp);
                    mapped = b >= 0 && i + n <= p.size();
                    bytes.push_back(static_cast<char>(b));
                    i += n;
                }
                if (mapped)
                    p = std::move(bytes);
            }
            break;
        case DecodeStep::Kind::Metaspace:
            for (std::size_t i = 0; i < pieces.size(); ++i) {
                replaceAll(pieces[i], step.from, " ");
                if (i == 0 && step.metaspacePrepended && !pieces[i].empty() && pieces[i][0] == ' ')
                    pieces[i].erase(0, 1);
            }
            break;
        }
    }
    std::string text;
    for (const auto &p : pieces)
        text += p;
    return se::text::validUtf8(text);
}

// ---------------------------------------------------------------------------------------------- reading

namespace {

struct Reader {
    std::string origin;
    [[noreturn]] void fail(const std::string &field, const std::string &why) const
    {
        throw std::runtime_error(origin + ": " + field + ": " + why);
    }
    const json &object(const json &j, const std::string &field) const
    {
        if (!j.is_object())
            fail(field, "not an object");
        return j;
    }
    std::string string(const json &j, const char *key, const std::string &field, const std::string &dflt = {}) const
    {
        if (!j.contains(key) || j[key].is_null())
            return dflt;
        if (!j[key].is_string())
            fail(field + "." + key, "not a string");
        return j[key].get<std::string>();
    }
    bool flag(const json &j, const char *key, const std::string &field, bool dflt = false) const
    {
        if (!j.contains(key) || j[key].is_null())
            return dflt;
        if (!j[key].is_boolean())
            fail(field + "." + key, "not true or false");
        return j[key].get<bool>();
    }
    int number(const json &j, const char *key, const std::string &field, int lo, int hi) const
    {
        if (!j.contains(key) || !j[key].is_number_integer())
            fail(field + "." + key, j.contains(key) ? "not an integer" : "missing");
        const auto v = j[key].get<int64_t>();
        if (v < lo || v > hi)
            fail(field + "." + key,
                 std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return static_cast<int>(v);
    }
    std::string type(const json &j, const std::string &field) const
    {
        object(j, field);
        const std::string t = string(j, "type", field);
        if (t.empty())
            fail(field + ".type", "missing");
        return t;
    }
    // A Replace's pattern: {"String": s}, or {"Regex": r} when r is a literal, maybe anchored at the start ("\A▁").
    std::string pattern(const json &j, const std::string &field, bool &atStart) const
    {
        atStart = false;
        object(j, field);
        if (j.contains("String") && j["String"].is_string())
            return j["String"].get<std::string>();
        if (!j.contains("Regex") || !j["Regex"].is_string())
            fail(field, "neither a String nor a Regex");
        std::string r = j["Regex"].get<std::string>();
        if (r.rfind("\\A", 0) == 0) {
            atStart = true;
            r.erase(0, 2);
        }
        if (r.empty() || r.find_first_of("\\^$.|?*+()[]{}") != std::string::npos)
            fail(field + ".Regex", "'" + j["Regex"].get<std::string>() +
                                       "' is not supported (a literal, or one anchored at the start with \\A)");
        return r;
    }
};

// "bos_token": "<s>" or {"content": "<s>", …}
std::string tokenContent(const json &j, const char *key)
{
    if (!j.is_object() || !j.contains(key))
        return {};
    const json &v = j[key];
    if (v.is_string())
        return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
        return v["content"].get<std::string>();
    return {};
}

bool wordChar(unsigned char c)
{
    return std::isalnum(c) || c == '_' || c >= 0x80;
}

} // namespace

HfTokenizer::HfTokenizer(const std::string &text, const std::string &configText, const std::string &mapText,
                         const std::string &origin)
    : m_origin(origin)
{
    const Reader r{origin};
    const json j = parseJsonObject(text, origin);
    std::fill(std::begin(m_byteIds), std::end(m_byteIds), -1);

    // ------------------------------------------------------------------ the model
    if (!j.contains("model"))
        r.fail("model", "missing");
    const json &model = j["model"];
    r.object(model, "model");
    const std::string modelType = model.contains("type") ? r.string(model, "type", "model") : "BPE";
    if (modelType != "BPE")
        r.fail("model.type", "'" + modelType + "' is not supported (BPE)");
    if (!model.contains("vocab") || !model["vocab"].is_object())
        r.fail("model.vocab", "missing or not an object");
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= (1 << 24))
            r.fail("model.vocab[\"" + it.key() + "\"]", "not an id in [0, 16777216)");
        const int id = it->get<int>();
        if (m_pieces.size() <= static_cast<std::size_t>(id))
            m_pieces.resize(static_cast<std::size_t>(id) + 1);
        if (!m_pieces[static_cast<std::size_t>(id)].empty())
            r.fail("model.vocab[\"" + it.key() + "\"]", "id " + std::to_string(id) + " is given twice");
        m_pieces[static_cast<std::size_t>(id)] = it.key();
        m_vocab.emplace(it.key(), id);
    }
    for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (!r.string(model, key, "model").empty())
            r.fail(std::string("model.") + key, "is not supported (Llama's BPE has none)");
    if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
        r.fail("model.dropout", "BPE dropout is not supported");
    m_byteFallback = r.flag(model, "byte_fallback", "model");
    m_fuseUnk = r.flag(model, "fuse_unk", "model");
    m_ignoreMerges = r.flag(model, "ignore_merges", "model");
    const std::string unk = r.string(model, "unk_token", "model");
    if (!unk.empty()) {
        const auto it = m_vocab.find(unk);
        if (it == m_vocab.end())
            r.fail("model.unk_token", "'" + unk + "' is not in the vocabulary");
        m_unk = it->second;
    }
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        const auto it = m_vocab.find(name);
        m_byteIds[b] = it == m_vocab.end() ? -1 : it->second;
    }
    if (model.contains("merges")) {
        if (!model["merges"].is_array())
            r.fail("model.merges", "not an array");
        int rank = 0;
        for (const auto &m : model["merges"]) {
            const std::string field = "model.merges[" + std::to_string(rank) + "]";
            std::string a, b;
            if (m.is_string()) {
                const std::string s = m.get<std::string>();
                const auto space = s.find(' ');
                if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                    r.fail(field, "'" + s + "' is not two pieces separated by one space");
                a = s.substr(0, space);
                b = s.substr(space + 1);
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                a = m[0].get<std::string>();
                b = m[1].get<std::string>();
            } else {
                r.fail(field, "neither \"a b\" nor [a, b]");
            }
            const auto merged = m_vocab.find(a + b);
            if (!m_vocab.count(a) || !m_vocab.count(b) || merged == m_vocab.end())
                r.fail(field, "merges pieces that are not in the vocabulary ('" + a + "', '" + b + "')");
            m_merges.emplace(a + '\xff' + b, std::make_pair(rank, merged->second)); // the first rank of a pair wins
            ++rank;
        }
    }

    // ------------------------------------------------------------------ added tokens
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
        if (!j["added_tokens"].is_array())
            r.fail("added_tokens", "not an array");
        int i = 0;
        for (const auto &t : j["added_tokens"]) {
            const std::string field = "added_tokens[" + std::to_string(i++) + "]";
            r.object(t, field);
            AddedToken a;
            a.id = r.number(t, "id", field, 0, (1 << 24) - 1);
            a.content = r.string(t, "content", field);
            if (a.content.empty())
                r.fail(field + ".content", "missing or empty");
            a.special = r.flag(t, "special", field);
            a.lstrip = r.flag(t, "lstrip", field);
            a.rstrip = r.flag(t, "rstrip", field);
            a.singleWord = r.flag(t, "single_word", field);
            a.normalized = r.flag(t, "normalized", field);
            if (m_pieces.size() <= static_cast<std::size_t>(a.id))
                m_pieces.resize(static_cast<std::size_t>(a.id) + 1);
            if (!m_pieces[static_cast<std::size_t>(a.id)].empty() &&
                m_pieces[static_cast<std::size_t>(a.id)] != a.content)
                r.fail(field + ".id", std::to_string(a.id) + " is already the piece '" +
                                          m_pieces[static_cast<std::size_t>(a.id)] + "'");
            m_pieces[static_cast<std::size_t>(a.id)] = a.content;
            m_added.push_back(a);
        }
    }
    m_special.assign(m_pieces.size(), false);
    for (const auto &a : m_added)
        m_special[static_cast<std::size_t>(a.id)] = a.special;

    // ------------------------------------------------------------------ normaliser and pre-tokeniser
    std::function<void(const json &, const std::string &)> normalizer = [&](const json &n, const std::string &field) {
        if (n.is_null())
            return;
        const std::string t = r.type(n, field);
        if (t == "Sequence") {
            if (!n.contains("normalizers") || !n["normalizers"].is_array())
                r.fail(field + ".normalizers", "missing or not an array");
            for (std::size_t i = 0; i < n["normalizers"].size(); ++i)
                normalizer(n["normalizers"][i], field + ".normalizers[" + std::to_string(i) + "]");
        } else if (t == "NFC") {
            if (!unicode::available())
                r.fail(field + ".type", "the NFC normalizer needs ICU, which this build does not have");
            m_normalizers.push_back({Normalizer::Kind::Nfc, {}, {}});
        } else if (t == "Prepend") {
            m_normalizers.push_back({Normalizer::Kind::Prepend, {}, r.string(n, "prepend", field)});
        } else if (t == "Replace") {
            bool atStart = false;
            if (!n.contains("pattern"))
                r.fail(field + ".pattern", "missing");
            const std::string p = r.pattern(n["pattern"], field + ".pattern", atStart);
            m_normalizers.push_back({atStart ? Normalizer::Kind::ReplaceAtStart : Normalizer::Kind::Replace, p,
                                     r.string(n, "content", field)});
        } else {
            r.fail(field + ".type", "normalizer '" + t + "' is not supported (Sequence, Prepend, Replace, NFC)");
        }
    };
    if (j.contains("normalizer"))
        normalizer(j["normalizer"], "normalizer");
    std::function<void(const json &, const std::string &)> preTokenizer = [&](const json &p, const std::string &field) {
        if (p.is_null())
            return;
        const std::string t = r.type(p, field);
        if (t == "Sequence") {
            if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array())
                r.fail(field + ".pretokenizers", "missing or not an array");
            for (std::size_t i = 0; i < p["pretokenizers"].size(); ++i)
                preTokenizer(p["pretokenizers"][i], field + ".pretokenizers[" + std::to_string(i) + "]");
        } else if (t == "Metaspace") {
            if (m_metaspace)
                r.fail(field, "a second Metaspace is not supported");
            m_metaspace = true;
            m_replacement = r.string(p, "replacement", field, m_replacement);
            m_metaspaceSplit = r.flag(p, "split", field, true);
            const std::string scheme = r.string(p, "prepend_scheme", field);
            if (scheme.empty())
                m_prepend = r.flag(p, "add_prefix_space", field, true) ? Prepend::Always : Prepend::Never;
            else if (scheme == "always" || scheme == "first" || scheme == "never")
                m_prepend = scheme == "always" ? Prepend::Always : scheme == "first" ? Prepend::First : Prepend::Never;
            else
                r.fail(field + ".prepend_scheme", "'" + scheme + "' is not always, first or never");
        } else if (t == "Split" || t == "ByteLevel") {
            if (m_byteLevel)
                r.fail(field, "a pre-tokenizer after ByteLevel is not supported");
            if (!unicode::available())
                r.fail(field + ".type", "the " + t + " pre-tokenizer needs ICU, which this build does not have");
            std::string pattern;
            if (t == "ByteLevel") {
                if (r.flag(p, "add_prefix_space", field, true))
                    r.fail(field + ".add_prefix_space", "true is not supported (false, as Qwen2's and GPT-2's)");
                m_byteLevel = true;
                if (!r.flag(p, "use_regex", field, true))
                    return;
                // GPT-2's split, which ByteLevel applies itself when use_regex is true
                pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
            } else {
                if (r.string(p, "behavior", field) != "Isolated")
                    r.fail(field + ".behavior", "'" + r.string(p, "behavior", field) +
                                                    "' is not supported (Isolated, as Qwen2's and Llama 3's)");
                if (r.flag(p, "invert", field))
                    r.fail(field + ".invert", "true is not supported");
                if (!p.contains("pattern") || !p["pattern"].is_object())
                    r.fail(field + ".pattern", "missing or not an object");
                const json &pat = p["pattern"];
                if (pat.contains("Regex") && pat["Regex"].is_string())
                    pattern = pat["Regex"].get<std::string>();
                else if (pat.contains("String") && pat["String"].is_string())
                    pattern = "\\Q" + pat["String"].get<std::string>() + "\\E";
                else
                    r.fail(field + ".pattern", "neither a String nor a Regex");
            }
            try {
                m_splits.push_back(std::make_shared<const unicode::SplitPattern>(pattern));
            } catch (const std::exception &e) {
                r.fail(field + ".pattern", e.what());
            }
        } else {
            r.fail(field + ".type",
                   "pre-tokenizer '" + t + "' is not supported (Metaspace, Sequence, Split, ByteLevel)");
        }
    };
    if (j.contains("pre_tokenizer"))
        preTokenizer(j["pre_tokenizer"], "pre_tokenizer");

    // ------------------------------------------------------------------ post-processor and decoder
    if (j.contains("post_processor") && !j["post_processor"].is_null()) {
        const json &p = j["post_processor"];
        const std::string t = r.type(p, "post_processor");
        if (t != "TemplateProcessing" && t != "ByteLevel")
            r.fail("post_processor.type", "'" + t + "' is not supported (TemplateProcessing, ByteLevel)");
        if (t == "ByteLevel") // offsets only: the ids are left as they are
            ;
        else if (!p.contains("single") || !p["single"].is_array())
            r.fail("post_processor.single", "missing or not an array");
        bool seenSequence = false;
        for (std::size_t i = 0; i < p["single"].size(); ++i) {
            const json &piece = p["single"][i];
            const std::string field = "post_processor.single[" + std::to_string(i) + "]";
            if (piece.is_object() && piece.contains("Sequence")) {
                seenSequence = true;
                continue;
            }
            if (!piece.is_object() || !piece.contains("SpecialToken") || !piece["SpecialToken"].is_object())
                r.fail(field, "neither a Sequence nor a SpecialToken");
            const std::string name = r.string(piece["SpecialToken"], "id", field + ".SpecialToken");
            const json &specials = p.contains("special_tokens") ? p["special_tokens"] : json::object();
            if (!specials.is_object() || !specials.contains(name) || !specials[name].is_object() ||
                !specials[name].contains("ids") || !specials[name]["ids"].is_array())
                r.fail("post_processor.special_tokens", "no ids for '" + name + "'");
            for (const auto &v : specials[name]["ids"]) {
                if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= int64_t(m_pieces.size()))
                    r.fail("post_processor.special_tokens[\"" + name + "\"].ids", "not an id of this tokenizer");
                (seenSequence ? m_suffix : m_prefix).push_back(v.get<int>());
            }
        }
    }
    std::function<void(const json &, const std::string &)> decoder = [&](const json &d, const std::string &field) {
        if (d.is_null())
            return;
        const std::string t = r.type(d, field);
        DecodeStep s;
        if (t == "Sequence") {
            if (!d.contains("decoders") || !d["decoders"].is_array())
                r.fail(field + ".decoders", "missing or not an array");
            for (std::size_t i = 0; i < d["decoders"].size(); ++i)
                decoder(d["decoders"][i], field + ".decoders[" + std::to_string(i) + "]");
            return;
        }
        if (t == "Replace") {
            bool atStart = false;
            if (!d.contains("pattern"))
                r.fail(field + ".pattern", "missing");
            s.kind = DecodeStep::Kind::Replace;
            s.from = r.pattern(d["pattern"], field + ".pattern", atStart);
            if (atStart)
                r.fail(field + ".pattern", "an anchored pattern is not supported in a decoder");
            s.to = r.string(d, "content", field);
        } else if (t == "ByteFallback") {
            s.kind = DecodeStep::Kind::ByteFallback;
        } else if (t == "Fuse") {
            s.kind = DecodeStep::Kind::Fuse;
        } else if (t == "ByteLevel") {
            s.kind = DecodeStep::Kind::ByteLevel;
        } else if (t == "Strip") {
            s.kind = DecodeStep::Kind::Strip;
            s.from = r.string(d, "content", field, " ");
            s.stripStart = r.number(d, "start", field, 0, 1 << 20);
            s.stripStop = r.number(d, "stop", field, 0, 1 << 20);
        } else if (t == "Metaspace") {
            s.kind = DecodeStep::Kind::Metaspace;
            s.from = r.string(d, "replacement", field, "\xE2\x96\x81");
            const std::string scheme = r.string(d, "prepend_scheme", field);
            s.metaspacePrepended = scheme.empty() ? r.flag(d, "add_prefix_space", field, true) : scheme != "never";
        } else {
            r.fail(field + ".type",
                   "decoder '" + t +
                       "' is not supported (Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel)");
        }
        m_decoder.push_back(s);
    };
    if (j.contains("decoder"))
        decoder(j["decoder"], "decoder");
    if (m_decoder.empty() || m_decoder.back().kind != DecodeStep::Kind::Fuse)
        m_decoder.push_back({DecodeStep::Kind::Fuse, {}, {}, 0, 0, true});

    // ------------------------------------------------------------------ tokenizer_config.json
    json config = json::object(), map = json::object();
    if (!configText.empty())
        config = parseJsonObject(configText, origin + " (tokenizer_config.json)");
    if (!mapText.empty())
        map = parseJsonObject(mapText, origin + " (special_tokens_map.json)");
    auto named = [&](const char *key) {
        std::string t = tokenContent(config, key);
        return t.empty() ? tokenContent(map, key) : t;
    };
    const std::string bos = named("bos_token"), eos = named("eos_token"), pad = named("pad_token");
    m_bos = bos.empty() ? (m_prefix.empty() ? -1 : m_prefix.front()) : id(bos);
    m_eos = eos.empty() ? -1 : id(eos);
    m_pad = pad.empty() ? -1 : id(pad);
    if (!eos.empty() && m_eos < 0)
        throw std::runtime_error(origin + ": eos_token '" + eos + "' of tokenizer_config.json is not a token of it");
    if (m_eos < 0)
        throw std::runtime_error(origin + ": no eos_token (tokenizer_config.json or special_tokens_map.json)");
    // transformers 4's Llama tokenizers rebuild the template from these flags when they are set.
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
        m_prefix.clear();
        if (config["add_bos_token"].get<bool>() && m_bos >= 0)
            m_prefix.push_back(m_bos);
    }
    if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
        m_suffix.clear();
        if (config["add_eos_token"].get<bool>())
            m_suffix.push_back(m_eos);
    }
    if (config.contains("legacy") && config["legacy"].is_boolean())
        m_legacy = config["legacy"].get<bool>();
    // The longest added tokens are tried first.
    std::stable_sort(m_added.begin(), m_added.end(),
                     [](const AddedToken &a, const AddedToken &b) { return a.content.size() > b.content.size(); });
}

std::shared_ptr<HfTokenizer> HfTokenizer::fromFolder(const std::string &folder)
{
    const fs::path dir(folder);
    std::error_code ec;
    auto optional = [&](const char *name) {
        return fs::exists(dir / name, ec) ? readSmallFile((dir / name).string(), 16u << 20) : std::string();
    };
    const std::string file = (dir / "tokenizer.json").string();
    return std::make_shared<HfTokenizer>(readSmallFile(file, 256u << 20), optional("tokenizer_config.json"),
                                         optional("special_tokens_map.json"), file);
}

int HfTokenizer::id(const std::string &token) const
{
    for (const auto &a : m_added)
        if (a.content == token)
            return a.id;
    const auto it = m_vocab.find(token);
    return it == m_vocab.end() ? -1 : it->second;
}

// ---------------------------------------------------------------------------------------------- encoding

int HfTokenizer::maxId() const
{
    int most = std::max({int(m_pieces.size()) - 1, m_bos, m_eos, m_pad});
    for (const auto &a : m_added)
        most = std::max(most, a.id);
    for (const std::vector<int> *ids : {&m_prefix, &m_suffix})
        for (int id : *ids)
            most = std::max(most, id);
    return most;
}

std::vector<int> HfTokenizer::encode(const std::string &text, bool addBos) const
{
    std::vector<int> out;
    if (addBos)
        out = m_prefix;
    std::size_t segment = 0, pos = 0;
    while (pos < text.size()) {
        const AddedToken *match = nullptr;
        for (const auto &a : m_added) {
            if (text.compare(pos, a.content.size(), a.content) != 0)
                continue;
            if (a.singleWord) {
                const std::size_t end = pos + a.content.size();
                if ((pos > 0 && wordChar(static_cast<unsigned char>(text[pos - 1]))) ||
                    (end < text.size() && wordChar(static_cast<unsigned char>(text[end]))))
                    continue;
            }
            match = &a;
            break;
        }
        if (!match) {
            ++pos;
            continue;
        }
        std::size_t end = pos;
        if (match->lstrip)
            while (end > segment && std::isspace(static_cast<unsigned char>(text[end - 1])))
                --end;
        encodeSegment(text.substr(segment, end - segment), segment == 0, out);
        out.push_back(match->id);
        pos += match->content.size();
        if (match->rstrip)
            while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
                ++pos;
        segment = pos;
    }
    encodeSegment(text.substr(segment), segment == 0, out);
    if (addBos)
        out.insert(out.end(), m_suffix.begin(), m_suffix.end());
    return out;
}

void HfTokenizer::encodeSegment(const std::string &segment, bool atStart, std::vector<int> &out) const
{
    if (segment.empty())
        return;
    std::string s = segment;
    for (const auto &n : m_normalizers) {
        switch (n.kind) {
        case Normalizer::Kind::Prepend:
            s = n.content + s;
            break;
        case Normalizer::Kind::Replace:
            replaceAll(s, n.pattern, n.content);
            break;
        case Normalizer::Kind::ReplaceAtStart:
            if (s.compare(0, n.pattern.size(), n.pattern) == 0)
                s = n.content + s.substr(n.pattern.size());
            break;
        case Normalizer::Kind::Nfc:
            s = unicode::nfc(s);
            break;
        }
    }
    if (!m_splits.empty() || m_byteLevel) {
        std::vector<std::string> pieces{s};
        for (const auto &split : m_splits) {
            std::vector<std::string> next;
            for (const auto &piece : pieces)
                for (auto &part : split->isolate(piece))
                    next.push_back(std::move(part));
            pieces = std::move(next);
        }
        for (const auto &piece : pieces) {
            if (!m_byteLevel) {
                bpe(piece, out);
                continue;
            }
            std::string mapped;
            for (unsigned char b : piece)
                mapped += unicode::byteChar(b);
            bpe(mapped, out);
        }
        return;
    }
    if (m_metaspace) {
        replaceAll(s, " ", m_replacement);
        const bool prepend = m_prepend == Prepend::Always || (m_prepend == Prepend::First && atStart);
        if (prepend && s.compare(0, m_replacement.size(), m_replacement) != 0)
            s = m_replacement + s;
        if (m_metaspaceSplit) { // each word begins at a marker, the marker kept with it
            std::size_t from = 0;
            for (std::size_t at = s.find(m_replacement, m_replacement.size()); at != std::string::npos;
                 at = s.find(m_replacement, at + m_replacement.size())) {
                bpe(s.substr(from, at - from), out);
                from = at;
            }
            bpe(s.substr(from), out);
            return;
        }
    }
    bpe(s, out);
}

void HfTokenizer::bpe(const std::string &word, std::vector<int> &out) const
{
    if (word.empty())
        return;
    if (m_ignoreMerges) {
        const auto it = m_vocab.find(word);
        if (it != m_vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    struct Symbol {
        int id;
        std::string text;
        int prev, next;
        bool alive;
    };
    std::vector<Symbol> sy;
    sy.reserve(word.size());
    auto add = [&](int id, std::string t) {
        const int i = static_cast<int>(sy.size());
        sy.push_back({id, std::move(t), i - 1, i + 1, true});
    };
    for (std::size_t i = 0; i < word.size();) {
        const unsigned char c = static_cast<unsigned char>(word[i]);
        std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        n = std::min(n, word.size() - i);
        const std::string ch = word.substr(i, n);
        i += n;
        const auto it = m_vocab.find(ch);
        if (it != m_vocab.end()) {
            add(it->second, ch);
            continue;
        }
        bool bytes = m_byteFallback;
        for (unsigned char b : ch)
            bytes = bytes && m_byteIds[b] >= 0;
        if (bytes) {
            for (unsigned char b : ch) {
                char name[8];
                std::snprintf(name, sizeof name, "<0x%02X>", b);
                add(m_byteIds[b], name);
            }
            continue;
        }
        if (m_unk < 0)
            continue; // no unknown token: tokenizers leaves the character out
        if (m_fuseUnk && !sy.empty() && sy.back().id == m_unk) {
            sy.back().text += ch;
            continue;
        }
        add(m_unk, ch);
    }
    if (sy.empty())
        return;
    sy.back().next = -1;
    // Merges by rank, the leftmost first among equal ranks; a heap entry is checked against the symbols when popped.
    struct Candidate {
        int rank, left;
        std::size_t leftLength, rightLength;
        bool operator>(const Candidate &o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
    auto consider = [&](int left) {
        if (left < 0 || sy[static_cast<std::size_t>(left)].next < 0)
            return;
        const Symbol &a = sy[static_cast<std::size_t>(left)], &b = sy[static_cast<std::size_t>(a.next)];
        const auto it = m_merges.find(a.text + '\xff' + b.text);
        if (it != m_merges.end())
            heap.push({it->second.first, left, a.text.size(), b.text.size()});
    };
    for (int i = 0; i + 1 < static_cast<int>(sy.size()); ++i)
        consider(i);
    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol &a = sy[static_cast<std::size_t>(c.left)];
        if (!a.alive || a.next < 0 || a.text.size() != c.leftLength)
            continue;
        Symbol &b = sy[static_cast<std::size_t>(a.next)];
        if (b.text.size() != c.rightLength)
            continue;
        const auto it = m_merges.find(a.text + '\xff' + b.text);
        if (it == m_merges.end() || it->second.first != c.rank)
            continue;
        a.text += b.text;
        a.id = it->second.second;
        b.alive = false;
        a.next = b.next;
        if (b.next >= 0)
            sy[static_cast<std::size_t>(b.next)].prev = c.left;
        consider(a.prev);
        consider(c.left);
    }
    for (const auto &s : sy)
        if (s.alive)
            out.push_back(s.id);
}

// ---------------------------------------------------------------------------------------------- decoding

std::string HfTokenizer::decode(const std::vector<int> &ids) const
{
    std::vector<std::string> pieces;
    pieces.reserve(ids.size());
    for (int i : ids) {
        if (i < 0 || static_cast<std::size_t>(i) >= m_pieces.size() || m_pieces[static_cast<std::size_t>(i)].empty() ||
            m_special[static_cast<std::size_t>(i)])
            continue; // out of the vocabulary, or special: skipped (skip_special_tokens=True)
        pieces.push_back(m_pieces[static_cast<std::size_t>(i)]);
    }
    return runDecodeSteps(std::move(pieces), m_decoder);
}

} // namespace se::model
