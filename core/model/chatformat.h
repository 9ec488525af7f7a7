// The model seam's text side: how a model's tokenizer and chat template turn a question (and an answer) into
// ids, and ids back into text. The built-in model's word-level format and LLaVA-1.5's SentencePiece format
// (llavatokenizer.h) implement it. Plain C++, no LibTorch.
#pragma once

#include "core/model/tokenizer.h"

#include <string>
#include <vector>

namespace se::model {

class ChatFormat
{
public:
    virtual ~ChatFormat() = default;
    virtual std::string name() const = 0;                                  // recorded with every run
    virtual std::string promptText(const std::string &question) const = 0; // the prompt as text
    // The prompt's ids, the image placeholder already expanded to one id per image feature — `imageTokens` of them,
    // the count the model gives this image (registry.h imageTokensOf); -1: the model's fixed count, for a format that
    // has one. answerStart = size.
    virtual ChatTokens prompt(const std::string &question, int imageTokens) const = 0;
    // prompt + answer + end of sequence; answerStart indexes the first answer token.
    virtual ChatTokens example(const std::string &question, const std::string &answer, int imageTokens) const = 0;
    ChatTokens prompt(const std::string &question) const { return prompt(question, -1); }
    ChatTokens example(const std::string &question, const std::string &answer) const
    {
        return example(question, answer, -1);
    }
    virtual std::string decode(const std::vector<int> &ids) const = 0; // special tokens skipped
    virtual int eosId() const = 0;
    virtual int alsoStopsAt() const { return -1; } // a second token that ends an answer (Qwen2-VL's <|endoftext|>)
    virtual int padId() const = 0;
};

// A format whose model gives every image `fixed` tokens: `asked` (-1 or that count) checked against it.
int fixedImageTokens(int asked, int fixed);

// The built-in model's format (tokenizer.h: <bos> <image>×n USER: question ASSISTANT: answer <eos>).
class BuiltinChatFormat : public ChatFormat
{
public:
    BuiltinChatFormat(Tokenizer tok, int imageTokens) : m_tok(std::move(tok)), m_imageTokens(imageTokens) {}
    std::string name() const override { return "builtin"; }
    std::string promptText(const std::string &question) const override
    {
        return "<image> USER: " + question + " ASSISTANT:";
    }
    using ChatFormat::example;
    using ChatFormat::prompt;
    ChatTokens prompt(const std::string &question, int imageTokens) const override
    {
        return chatPrompt(m_tok, fixedImageTokens(imageTokens, m_imageTokens), question);
    }
    ChatTokens example(const std::string &question, const std::string &answer, int imageTokens) const override
    {
        return chatExample(m_tok, fixedImageTokens(imageTokens, m_imageTokens), question, answer);
    }
    std::string decode(const std::vector<int> &ids) const override { return m_tok.decode(ids); }
    int eosId() const override { return Tokenizer::Eos; }
    int padId() const override { return Tokenizer::Pad; }
    const Tokenizer &tokenizer() const { return m_tok; }

private:
    Tokenizer m_tok;
    int m_imageTokens;
};

} // namespace se::model
