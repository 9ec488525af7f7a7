// LLaVA-1.5's text side (SPEC §8): the Llama SentencePiece tokenizer from `tokenizer.model` (sentencepiece.h)
// with the added tokens of `added_tokens.json` / `tokenizer_config.json` (`<image>`, `<pad>`), BOS as
// `add_bos_token` says, special tokens split out of the text before SentencePiece sees it and skipped when
// decoding — and the conversation `[system ]USER: <image>\n{question} ASSISTANT:`, answers ending with `</s>`.
// `legacy` (tokenizer_config.json; transformers' default is true) decides whether text right after a special
// token gets SentencePiece's dummy "▁" prefix (legacy) or not. Plain C++, no LibTorch.
#pragma once

#include "core/model/chatformat.h"
#include "core/model/sentencepiece.h"
#include "core/model/texttokenizer.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace se::model {

class SentencePieceTokenizer : public TextTokenizer
{
public:
    // Reads tokenizer.model, added_tokens.json, tokenizer_config.json and special_tokens_map.json (the last three
    // optional) of a Hugging Face folder. Throws naming the file and the reason.
    explicit SentencePieceTokenizer(const std::string &folder);

    std::vector<int> encode(const std::string &text, bool addBos) const override;
    // As transformers decodes it (it converts tokenizer.model to tokenizers' decoder: "▁" to spaces, byte pieces
    // assembled, the dummy prefix's space dropped); special and added tokens skipped.
    std::string decode(const std::vector<int> &ids) const override;
    int id(const std::string &token) const override; // -1 when unknown (added tokens included)
    int bosId() const override { return m_bos; }
    int eosId() const override { return m_eos; }
    int padId() const override { return m_pad; }
    bool addBos() const { return m_addBos; }
    bool legacy() const override { return m_legacy; }
    std::string file() const override { return "tokenizer.model"; }
    int maxId() const override;

private:
    int pieceCount() const; // SentencePiece's own vocabulary (added tokens come after)
    SentencePieceModel m_sp;
    std::map<std::string, int> m_special; // every token split out of text before SentencePiece: content → id
    int m_bos = 1, m_eos = 2, m_pad = -1, m_unk = 0;
    bool m_addBos = true, m_legacy = true;
};

// The LLaVA-1.5 conversation (llava-hf's chat template) with an optional system sentence before it.
class LlavaChatFormat : public ChatFormat
{
public:
    LlavaChatFormat(std::shared_ptr<const TextTokenizer> tok, int imageTokenId, int imageFeatures,
                    std::string systemPrompt = {});
    std::string name() const override;
    std::string promptText(const std::string &question) const override;
    using ChatFormat::example;
    using ChatFormat::prompt;
    ChatTokens prompt(const std::string &question, int imageTokens) const override;
    ChatTokens example(const std::string &question, const std::string &answer, int imageTokens) const override;
    std::string decode(const std::vector<int> &ids) const override { return m_tok->decode(ids); }
    int eosId() const override { return m_tok->eosId(); }
    int padId() const override { return m_pad; }
    const std::string &systemPrompt() const { return m_system; }

private:
    std::vector<int> expand(const std::vector<int> &ids) const;
    std::shared_ptr<const TextTokenizer> m_tok;
    int m_imageId, m_features, m_pad;
    std::string m_system;
};

} // namespace se::model
