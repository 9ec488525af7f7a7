// Qwen2-VL's conversation (SPEC §10): the chat template with its default system prompt, the image as
// <|vision_start|> <|image_pad|> × (the image's tokens) <|vision_end|> before the question, the answer ended by
// <|im_end|>; byte-level BPE from the folder's tokenizer.json (hftokenizer.h), no BOS. Plain C++, no LibTorch.
#pragma once

#include "core/model/chatformat.h"
#include "core/model/texttokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace se::model {

class Qwen2VlChatFormat : public ChatFormat
{
public:
    // `systemPrompt` empty: the template's default ("You are a helpful assistant.").
    Qwen2VlChatFormat(std::shared_ptr<const TextTokenizer> tok, int imageTokenId, std::string systemPrompt = {});
    std::string name() const override;
    std::string promptText(const std::string &question) const override;
    using ChatFormat::example;
    using ChatFormat::prompt;
    // `imageTokens` must be the image's count (registry.h imageTokensOf): this model has no fixed one.
    ChatTokens prompt(const std::string &question, int imageTokens) const override;
    ChatTokens example(const std::string &question, const std::string &answer, int imageTokens) const override;
    std::string decode(const std::vector<int> &ids) const override { return m_tok->decode(ids); }
    int eosId() const override { return m_imEnd; }
    int alsoStopsAt() const override { return m_endOfText; }
    int padId() const override { return m_pad; }

    static const char *defaultSystemPrompt() { return "You are a helpful assistant."; }

private:
    std::shared_ptr<const TextTokenizer> m_tok;
    int m_imageId, m_imEnd, m_endOfText, m_pad;
    std::string m_system;
};

} // namespace se::model
