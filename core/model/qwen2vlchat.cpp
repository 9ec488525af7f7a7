#include "core/model/qwen2vlchat.h"

#include <stdexcept>

namespace se::model {

Qwen2VlChatFormat::Qwen2VlChatFormat(std::shared_ptr<const TextTokenizer> tok, int imageTokenId,
                                     std::string systemPrompt)
    : m_tok(std::move(tok)), m_imageId(imageTokenId), m_system(std::move(systemPrompt))
{
    for (const char *token : {"<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"})
        if (m_tok->id(token) < 0)
            throw std::runtime_error(m_tok->file() + ": the tokenizer has no " + token +
                                     " token, which Qwen2-VL's conversation needs");
    if (m_tok->id("<|image_pad|>") != imageTokenId)
        throw std::runtime_error(m_tok->file() + ": the tokenizer's <|image_pad|> is id " +
                                 std::to_string(m_tok->id("<|image_pad|>")) + " but config.json's image_token_id is " +
                                 std::to_string(imageTokenId));
    m_imEnd = m_tok->id("<|im_end|>");
    m_endOfText = m_tok->id("<|endoftext|>");
    m_pad = m_tok->padId() >= 0 ? m_tok->padId() : (m_endOfText >= 0 ? m_endOfText : m_imEnd);
}

std::string Qwen2VlChatFormat::name() const
{
    return m_system.empty() ? "qwen2-vl" : "qwen2-vl+system";
}

std::string Qwen2VlChatFormat::promptText(const std::string &question) const
{
    return "<|im_start|>system\n" + (m_system.empty() ? std::string(defaultSystemPrompt()) : m_system) +
           "<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>" + question +
           "<|im_end|>\n<|im_start|>assistant\n";
}

ChatTokens Qwen2VlChatFormat::prompt(const std::string &question, int imageTokens) const
{
    if (imageTokens < 1)
        throw std::logic_error("qwen2-vl chat format: the image's token count is needed (it depends on its size)");
    ChatTokens c;
    for (int id : m_tok->encode(promptText(question), false)) {
        if (id == m_imageId)
            c.ids.insert(c.ids.end(), static_cast<size_t>(imageTokens), m_imageId);
        else
            c.ids.push_back(id);
    }
    c.answerStart = static_cast<int>(c.ids.size());
    return c;
}

ChatTokens Qwen2VlChatFormat::example(const std::string &question, const std::string &answer, int imageTokens) const
{
    // The template ends the prompt with "assistant\n", and the split pattern never joins a newline to the letters
    // after it: the answer's ids are the same encoded alone as in the whole conversation.
    ChatTokens c = prompt(question, imageTokens);
    const auto a = m_tok->encode(answer, false);
    c.ids.insert(c.ids.end(), a.begin(), a.end());
    c.ids.push_back(m_imEnd);
    return c;
}

} // namespace se::model
