// Unicode for byte-level BPE tokenizers (Qwen2's, GPT-2's): NFC and tokenizers' Split pre-tokenizer, on ICU (Debian's
// libicu: the normalisation data and the regex engine with Unicode properties). A build without ICU refuses these
// tokenizers by name (available() is false). Plain C++, no LibTorch.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace se::model::unicode {

bool available();

// `text` in Normalization Form C (bytes that are not UTF-8 become U+FFFD first). ASCII comes back unchanged at once.
std::string nfc(const std::string &text);

// A Split pre-tokenizer's pattern, written for Oniguruma (what the tokenizers library runs), compiled for ICU with
// \s and \S read as Oniguruma reads them (tab, LF, VT, FF, CR, U+0085 and the separators Zs, Zl, Zp: ICU's own \s
// leaves out VT and U+0085). Throws std::runtime_error with ICU's reason when it does not compile.
class SplitPattern
{
public:
    explicit SplitPattern(const std::string &pattern);
    ~SplitPattern();
    SplitPattern(const SplitPattern &) = delete;
    SplitPattern &operator=(const SplitPattern &) = delete;
    // "Isolated": every match and every stretch of text between matches, in order; empty ones left out.
    std::vector<std::string> isolate(const std::string &text) const;

private:
    struct Impl;
    std::unique_ptr<Impl> m;
};

// GPT-2's map of the 256 byte values onto printable characters (UTF-8), and back (-1: not a mapped character).
const std::string &byteChar(unsigned char b);
int charByte(char32_t c);

} // namespace se::model::unicode
