// The text side of a Hugging Face model folder, whichever file holds it: `tokenizer.json` (the tokenizers library's
// format, which transformers prefers and transformers 5 alone writes) or `tokenizer.model` (SentencePiece, the
// fallback). Both encode as transformers does and decode as its tokenizers do (decode(ids, skip_special_tokens=True):
// byte-fallback pieces assembled into bytes, a run of them that is not UTF-8 replaced by one U+FFFD per byte), so
// every answer is valid UTF-8. Plain C++, no LibTorch.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace se::model {

class TextTokenizer
{
public:
    virtual ~TextTokenizer() = default;
    // Ids of `text`, with the special tokens of the folder's template (BOS) when `addBos`.
    virtual std::vector<int> encode(const std::string &text, bool addBos) const = 0;
    // Special tokens skipped; always valid UTF-8.
    virtual std::string decode(const std::vector<int> &ids) const = 0;
    virtual int id(const std::string &token) const = 0; // -1 when unknown (added tokens included)
    virtual int bosId() const = 0;
    virtual int eosId() const = 0;
    virtual int padId() const = 0; // -1 when the folder names none
    virtual bool legacy() const = 0;
    virtual std::string file() const = 0; // "tokenizer.json" or "tokenizer.model"
    virtual int maxId() const = 0;        // the largest id it can produce (vocabulary, added and special tokens)
};

// The folder's tokenizer: tokenizer.json when present, else tokenizer.model (with tokenizer_config.json,
// special_tokens_map.json and added_tokens.json beside either). Throws naming the file and the reason.
std::shared_ptr<const TextTokenizer> loadTextTokenizer(const std::string &folder);

// tokenizers' decoder steps, shared by both readers: what turns pieces back into text.
struct DecodeStep {
    enum class Kind { Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel } kind = Kind::Fuse;
    std::string from, to;              // Replace: every `from` in a piece becomes `to`; Metaspace: `from` is the marker
    int stripStart = 0, stripStop = 0; // Strip: at most this many `from` characters off each piece's ends
    bool metaspacePrepended = true;    // Metaspace: the first piece's leading space came from the encoder (dropped)
};
// Runs the steps over the pieces and joins them; the result is valid UTF-8 whatever the pieces are.
std::string runDecodeSteps(std::vector<std::string> pieces, const std::vector<DecodeStep> &steps);

} // namespace se::model
