// `tokenizer.json`, the tokenizers library's format, read and run by the project's own code: a BPE model (vocabulary,
// merges by rank as "a b" strings or [a, b] pairs, byte fallback, unknown token, fuse_unk, ignore_merges), the added
// tokens with their flags (special, lstrip, rstrip, single_word) split out of the text first, the normalisers and
// pre-tokenisers of Llama's kind (Sequence, Prepend, Replace with a string or a start-anchored literal, Metaspace with
// its prepend scheme and split), those of the byte-level kind (Qwen2's, GPT-2's: NFC, Split with a regex and the
// "Isolated" behaviour, ByteLevel with GPT-2's byte map — unicodetext.h, on ICU), a TemplateProcessing or ByteLevel
// post-processor, and the decoder (Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel). Anything else (a
// WordPiece model, another Split behaviour, a regex beyond a literal in a Replace) is refused with the file and the
// field that names it. BPE merges run from a heap (linear-logarithmic in a word's
// length: tokenizers' "split": false makes a whole segment one word). Plain C++, no LibTorch.
#pragma once

#include "core/model/texttokenizer.h"
#include "core/model/unicodetext.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace se::model {

class HfTokenizer : public TextTokenizer
{
public:
    // `json` is tokenizer.json's text; `config` tokenizer_config.json's (may be empty), `origin` names the file.
    HfTokenizer(const std::string &json, const std::string &config, const std::string &specialMap,
                const std::string &origin);
    static std::shared_ptr<HfTokenizer> fromFolder(const std::string &folder);

    std::vector<int> encode(const std::string &text, bool addBos) const override;
    std::string decode(const std::vector<int> &ids) const override;
    int id(const std::string &token) const override;
    int bosId() const override { return m_bos; }
    int eosId() const override { return m_eos; }
    int padId() const override { return m_pad; }
    bool legacy() const override { return m_legacy; }
    int maxId() const override;
    std::string file() const override { return "tokenizer.json"; }
    int vocabularySize() const { return static_cast<int>(m_pieces.size()); }

    struct AddedToken {
        int id = -1;
        std::string content;
        bool special = false, lstrip = false, rstrip = false, singleWord = false, normalized = false;
    };
    struct Normalizer {
        enum class Kind { Prepend, Replace, ReplaceAtStart, Nfc } kind = Kind::Replace;
        std::string pattern, content;
    };

private:
    void encodeSegment(const std::string &segment, bool atStart, std::vector<int> &out) const;
    void bpe(const std::string &word, std::vector<int> &out) const;

    std::string m_origin;
    std::unordered_map<std::string, int> m_vocab;
    std::vector<std::string> m_pieces;                             // id → piece ("" where no piece has the id)
    std::unordered_map<std::string, std::pair<int, int>> m_merges; // "a\x01b" → (rank, merged id)
    std::vector<AddedToken> m_added;
    std::vector<bool> m_special; // by id
    std::vector<Normalizer> m_normalizers;
    std::vector<std::shared_ptr<const unicode::SplitPattern>> m_splits; // Split pre-tokenizers, in order
    bool m_byteLevel = false;                                           // a ByteLevel pre-tokenizer (the last one)
    bool m_metaspace = false, m_metaspaceSplit = false;
    std::string m_replacement = "\xE2\x96\x81"; // "▁"
    enum class Prepend { Always, First, Never } m_prepend = Prepend::Always;
    std::vector<int> m_prefix, m_suffix; // the post-processor's special tokens around a single sequence
    std::vector<DecodeStep> m_decoder;
    int m_unk = -1, m_bos = -1, m_eos = -1, m_pad = -1;
    bool m_byteFallback = false, m_fuseUnk = false, m_ignoreMerges = false, m_legacy = true;
    int m_byteIds[256];
};

} // namespace se::model
