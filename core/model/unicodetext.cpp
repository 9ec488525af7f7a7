#include "core/model/unicodetext.h"

#include <array>
#include <stdexcept>
#include <unordered_map>

#ifdef SE_HAVE_ICU
#include <unicode/unorm2.h>
#include <unicode/uregex.h>
#include <unicode/ustring.h>
#endif

namespace se::model::unicode {

namespace {

std::string utf8Of(char32_t c)
{
    std::string s;
    if (c < 0x80) {
        s += char(c);
    } else if (c < 0x800) {
        s += char(0xC0 | (c >> 6));
        s += char(0x80 | (c & 0x3F));
    } else {
        s += char(0xE0 | (c >> 12));
        s += char(0x80 | ((c >> 6) & 0x3F));
        s += char(0x80 | (c & 0x3F));
    }
    return s;
}

struct ByteMap {
    std::array<std::string, 256> chars;
    std::unordered_map<char32_t, int> bytes;
    ByteMap()
    {
        // Printable Latin-1 stands for itself; the other 68 byte values take U+0100, U+0101, … in byte order.
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t c = printable ? char32_t(b) : next++;
            chars[std::size_t(b)] = utf8Of(c);
            bytes[c] = b;
        }
    }
};

const ByteMap &byteMap()
{
    static const ByteMap m;
    return m;
}

#ifdef SE_HAVE_ICU
std::u16string toUtf16(const std::string &s)
{
    UErrorCode status = U_ZERO_ERROR;
    int32_t n = 0;
    u_strFromUTF8WithSub(nullptr, 0, &n, s.data(), int32_t(s.size()), 0xFFFD, nullptr, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
        throw std::runtime_error(std::string("text to UTF-16: ") + u_errorName(status));
    std::u16string out(std::size_t(n), u'\0');
    status = U_ZERO_ERROR;
    u_strFromUTF8WithSub(reinterpret_cast<UChar *>(out.data()), n, nullptr, s.data(), int32_t(s.size()), 0xFFFD,
                         nullptr, &status);
    if (U_FAILURE(status))
        throw std::runtime_error(std::string("text to UTF-16: ") + u_errorName(status));
    return out;
}

std::string toUtf8(const char16_t *p, int32_t n)
{
    UErrorCode status = U_ZERO_ERROR;
    int32_t len = 0;
    u_strToUTF8WithSub(nullptr, 0, &len, reinterpret_cast<const UChar *>(p), n, 0xFFFD, nullptr, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
        throw std::runtime_error(std::string("text to UTF-8: ") + u_errorName(status));
    std::string out(std::size_t(len), '\0');
    status = U_ZERO_ERROR;
    u_strToUTF8WithSub(out.data(), len, nullptr, reinterpret_cast<const UChar *>(p), n, 0xFFFD, nullptr, &status);
    if (U_FAILURE(status))
        throw std::runtime_error(std::string("text to UTF-8: ") + u_errorName(status));
    return out;
}

// Oniguruma's \s and \S spelled out for ICU.
std::string onigurumaSpaces(const std::string &p)
{
    static const std::string space = "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}";
    std::string out;
    int depth = 0; // inside [...] (nested classes count)
    for (std::size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char e = p[i + 1];
            ++i;
            if (e == 's')
                out += depth ? space : "[" + space + "]";
            else if (e == 'S' && !depth)
                out += "[^" + space + "]";
            else if (e == 'S')
                throw std::runtime_error("\\S inside a character class is not supported");
            else
                out += std::string(1, c) + e;
            continue;
        }
        if (c == '[')
            ++depth;
        else if (c == ']' && depth > 0)
            --depth;
        out += c;
    }
    return out;
}
#endif

} // namespace

bool available()
{
#ifdef SE_HAVE_ICU
    return true;
#else
    return false;
#endif
}

const std::string &byteChar(unsigned char b)
{
    return byteMap().chars[b];
}

int charByte(char32_t c)
{
    const auto &m = byteMap().bytes;
    const auto it = m.find(c);
    return it == m.end() ? -1 : it->second;
}

#ifdef SE_HAVE_ICU
std::string nfc(const std::string &text)
{
    bool ascii = true;
    for (unsigned char c : text)
        ascii = ascii && c < 0x80;
    if (ascii)
        return text;
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *n = unorm2_getNFCInstance(&status);
    if (U_FAILURE(status))
        throw std::runtime_error(std::string("NFC: ") + u_errorName(status));
    const std::u16string s = toUtf16(text);
    const auto *src = reinterpret_cast<const UChar *>(s.data());
    if (unorm2_isNormalized(n, src, int32_t(s.size()), &status) && U_SUCCESS(status))
        return toUtf8(s.data(), int32_t(s.size()));
    status = U_ZERO_ERROR;
    const int32_t len = unorm2_normalize(n, src, int32_t(s.size()), nullptr, 0, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
        throw std::runtime_error(std::string("NFC: ") + u_errorName(status));
    std::u16string out(std::size_t(len), u'\0');
    status = U_ZERO_ERROR;
    unorm2_normalize(n, src, int32_t(s.size()), reinterpret_cast<UChar *>(out.data()), len, &status);
    if (U_FAILURE(status))
        throw std::runtime_error(std::string("NFC: ") + u_errorName(status));
    return toUtf8(out.data(), len);
}

struct SplitPattern::Impl {
    URegularExpression *regex = nullptr;
};

SplitPattern::SplitPattern(const std::string &pattern) : m(std::make_unique<Impl>())
{
    const std::u16string p = toUtf16(onigurumaSpaces(pattern));
    UErrorCode status = U_ZERO_ERROR;
    UParseError where{};
    m->regex = uregex_open(reinterpret_cast<const UChar *>(p.data()), int32_t(p.size()), 0, &where, &status);
    if (U_FAILURE(status))
        throw std::runtime_error("the pattern does not compile (" + std::string(u_errorName(status)) + " at offset " +
                                 std::to_string(where.offset) + ")");
}

SplitPattern::~SplitPattern()
{
    if (m && m->regex)
        uregex_close(m->regex);
}

std::vector<std::string> SplitPattern::isolate(const std::string &text) const
{
    std::vector<std::string> out;
    if (text.empty())
        return out;
    const std::u16string s = toUtf16(text);
    UErrorCode status = U_ZERO_ERROR;
    URegularExpression *r = uregex_clone(m->regex, &status); // matching state is per object: one per call
    if (U_FAILURE(status))
        throw std::runtime_error(std::string("split: ") + u_errorName(status));
    struct Closer {
        URegularExpression *r;
        ~Closer() { uregex_close(r); }
    } closer{r};
    uregex_setText(r, reinterpret_cast<const UChar *>(s.data()), int32_t(s.size()), &status);
    int32_t done = 0;
    while (U_SUCCESS(status) && uregex_findNext(r, &status)) {
        const int32_t from = uregex_start(r, 0, &status), to = uregex_end(r, 0, &status);
        if (U_FAILURE(status) || to <= from)
            continue;
        if (from > done)
            out.push_back(toUtf8(s.data() + done, from - done));
        out.push_back(toUtf8(s.data() + from, to - from));
        done = to;
    }
    if (U_FAILURE(status))
        throw std::runtime_error(std::string("split: ") + u_errorName(status));
    if (done < int32_t(s.size()))
        out.push_back(toUtf8(s.data() + done, int32_t(s.size()) - done));
    return out;
}
#else
std::string nfc(const std::string &)
{
    throw std::runtime_error("NFC needs ICU, which this build does not have");
}
struct SplitPattern::Impl {
};
SplitPattern::SplitPattern(const std::string &)
{
    throw std::runtime_error("a Split pre-tokenizer needs ICU, which this build does not have");
}
SplitPattern::~SplitPattern() = default;
std::vector<std::string> SplitPattern::isolate(const std::string &) const
{
    return {};
}
#endif

} // namespace se::model::unicode
