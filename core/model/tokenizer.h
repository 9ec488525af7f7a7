// The built-in model's tokenizer: word level, built from the benchmark's own text. The bundled benchmark's
// text is templated (a few hundred distinct words), so a word vocabulary is exact, needs no training step
// and no extra library; SentencePiece arrives with the real models. Words are runs of letters, digits,
// apostrophes, hyphens and non-ASCII bytes; every other visible character is a token of its own. Case is
// kept. Plain C++, no LibTorch.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace se::model {

class Tokenizer
{
public:
    // Fixed ids of the special tokens; the chat markers cannot come out of splitting text.
    enum Special { Pad = 0, Bos = 1, Eos = 2, Unk = 3, Image = 4, User = 5, Assistant = 6, SpecialCount = 7 };

    Tokenizer(); // specials only
    // Vocabulary = specials + every word of `texts`, most frequent first (ties alphabetical): deterministic.
    static Tokenizer build(const std::vector<std::string> &texts);
    static std::vector<std::string> split(const std::string &text);

    std::vector<int> encode(const std::string &text) const; // no specials added; unknown words → Unk
    std::string decode(const std::vector<int> &ids, bool stopAtEos = true) const; // specials skipped
    int id(const std::string &token) const;                                       // Unk when absent
    const std::string &token(int id) const;
    int size() const { return static_cast<int>(m_tokens.size()); }

    std::string toJson() const;
    static Tokenizer fromJson(const std::string &json, const std::string &origin);

private:
    void index();
    std::vector<std::string> m_tokens;
    std::unordered_map<std::string, int> m_ids;
};

// The chat format of the built-in model: <bos> <image>×n USER: question ASSISTANT: answer <eos>.
struct ChatTokens {
    std::vector<int> ids;
    int answerStart = 0; // index of the first answer token (the answer and <eos> are the supervised part)
};
ChatTokens chatPrompt(const Tokenizer &tok, int imageTokens, const std::string &question);
ChatTokens chatExample(const Tokenizer &tok, int imageTokens, const std::string &question, const std::string &answer);

} // namespace se::model
