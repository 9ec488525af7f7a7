#include "core/model/tokenizer.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace se::model {

namespace {
const char *const kSpecials[] = {"<pad>", "<bos>", "<eos>", "<unk>", "<image>", "USER:", "ASSISTANT:"};

bool wordByte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'' || c == '-' ||
           c == '_' || c >= 0x80;
}
bool spaceByte(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
} // namespace

Tokenizer::Tokenizer()
{
    for (const char *s : kSpecials)
        m_tokens.emplace_back(s);
    index();
}

void Tokenizer::index()
{
    m_ids.clear();
    for (int i = 0; i < size(); ++i)
        m_ids.emplace(m_tokens[i], i);
}

std::vector<std::string> Tokenizer::split(const std::string &text)
{
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (spaceByte(c)) {
            ++i;
        } else if (wordByte(c)) {
            std::size_t j = i;
            while (j < text.size() && wordByte(static_cast<unsigned char>(text[j])))
                ++j;
            out.emplace_back(text.substr(i, j - i));
            i = j;
        } else {
            out.emplace_back(1, text[i]);
            ++i;
        }
    }
    return out;
}

Tokenizer Tokenizer::build(const std::vector<std::string> &texts)
{
    std::map<std::string, long> counts;
    for (const auto &t : texts)
        for (auto &w : split(t))
            ++counts[w];
    std::vector<std::pair<std::string, long>> words(counts.begin(), counts.end());
    std::stable_sort(words.begin(), words.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
    Tokenizer tok;
    for (auto &w : words)
        if (!tok.m_ids.count(w.first)) {
            tok.m_ids.emplace(w.first, tok.size());
            tok.m_tokens.push_back(w.first);
        }
    return tok;
}

std::vector<int> Tokenizer::encode(const std::string &text) const
{
    std::vector<int> ids;
    for (auto &w : split(text))
        ids.push_back(id(w));
    return ids;
}

int Tokenizer::id(const std::string &token) const
{
    auto it = m_ids.find(token);
    return it == m_ids.end() ? Unk : it->second;
}

const std::string &Tokenizer::token(int id) const
{
    static const std::string bad = "<bad>";
    return id >= 0 && id < size() ? m_tokens[id] : bad;
}

std::string Tokenizer::decode(const std::vector<int> &ids, bool stopAtEos) const
{
    std::string out;
    std::string prev;
    for (int i : ids) {
        if (i == Eos && stopAtEos)
            break;
        if (i < SpecialCount && i != Unk)
            continue;
        const std::string &t = token(i);
        const bool closing = t.size() == 1 && std::string(".,!?;:)]}%").find(t[0]) != std::string::npos;
        const bool afterOpening = prev.size() == 1 && std::string("([{$").find(prev[0]) != std::string::npos;
        if (!out.empty() && !closing && !afterOpening)
            out += ' ';
        out += t;
        prev = t;
    }
    return out;
}

std::string Tokenizer::toJson() const
{
    nlohmann::json j = {{"type", "se-word"}, {"version", 1}, {"tokens", m_tokens}};
    return j.dump();
}

Tokenizer Tokenizer::fromJson(const std::string &text, const std::string &origin)
{
    Tokenizer tok;
    try {
        const auto j = nlohmann::json::parse(text);
        if (j.value("type", std::string()) != "se-word")
            throw std::runtime_error("not a se-word tokenizer");
        auto tokens = j.at("tokens").get<std::vector<std::string>>();
        if (tokens.size() < SpecialCount)
            throw std::runtime_error("fewer tokens than the special tokens");
        for (int i = 0; i < SpecialCount; ++i)
            if (tokens[i] != kSpecials[i])
                throw std::runtime_error(std::string("special token ") + std::to_string(i) + " is not " + kSpecials[i]);
        tok.m_tokens = std::move(tokens);
        tok.index();
        if (tok.m_ids.size() != tok.m_tokens.size())
            throw std::runtime_error("duplicate tokens");
    } catch (const std::exception &e) {
        throw std::runtime_error(origin + ": tokenizer: " + e.what());
    }
    return tok;
}

ChatTokens chatPrompt(const Tokenizer &tok, int imageTokens, const std::string &question)
{
    ChatTokens c;
    c.ids.reserve(imageTokens + 48);
    c.ids.push_back(Tokenizer::Bos);
    c.ids.insert(c.ids.end(), imageTokens, Tokenizer::Image);
    c.ids.push_back(Tokenizer::User);
    auto q = tok.encode(question);
    c.ids.insert(c.ids.end(), q.begin(), q.end());
    c.ids.push_back(Tokenizer::Assistant);
    c.answerStart = static_cast<int>(c.ids.size());
    return c;
}

ChatTokens chatExample(const Tokenizer &tok, int imageTokens, const std::string &question, const std::string &answer)
{
    ChatTokens c = chatPrompt(tok, imageTokens, question);
    auto a = tok.encode(answer);
    c.ids.insert(c.ids.end(), a.begin(), a.end());
    c.ids.push_back(Tokenizer::Eos);
    return c;
}

} // namespace se::model
