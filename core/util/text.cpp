#include "core/util/text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace se::text {

namespace {

// The length of the well-formed sequence at `i`, or 0 with `bad` set to the length of its maximal subpart (≥ 1).
std::size_t sequenceAt(std::string_view s, std::size_t i, std::size_t &bad)
{
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80)
        return 1;
    std::size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF; // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; // no overlong forms
        hi = c == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; // nothing past U+10FFFF
    } else {
        bad = 1;
        return 0;
    }
    std::size_t k = 1;
    for (; k < need; ++k) {
        if (i + k >= s.size()) {
            bad = k;
            return 0;
        }
        const unsigned char x = b(i + k);
        if (k == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) {
            bad = k;
            return 0;
        }
    }
    return need;
}

const char kReplacement[] = "\xEF\xBF\xBD";

} // namespace

bool isValidUtf8(std::string_view s)
{
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = sequenceAt(s, i, bad);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

std::string validUtf8(std::string_view s)
{
    if (isValidUtf8(s))
        return std::string(s);
    std::string out;
    out.reserve(s.size() + 8);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = sequenceAt(s, i, bad);
        if (n) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += kReplacement;
            i += bad;
        }
    }
    return out;
}

std::string terminalSafe(std::string_view s, bool keepCarriageReturn)
{
    const std::string v = validUtf8(s);
    std::string out;
    out.reserve(v.size());
    char buf[8];
    for (std::size_t i = 0; i < v.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(v[i]);
        if ((c < 0x20 && c != '\n' && c != '\t' && !(c == '\r' && keepCarriageReturn)) || c == 0x7F) {
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else if (c == 0xC2 && i + 1 < v.size() && static_cast<unsigned char>(v[i + 1]) <= 0x9F) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(v[i + 1])); // C1: U+0080-U+009F
            out += buf;
            ++i;
        } else if (c == '\\' && i + 1 < v.size() && (v[i + 1] == 'x' || v[i + 1] == 'u' || v[i + 1] == '\\')) {
            out += "\\\\";
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string quoted(std::string_view s, std::size_t most)
{
    const std::string safe = terminalSafe(s.substr(0, 4 * most)); // an escape is at most 6 bytes for 1 to 4
    if (s.size() <= 4 * most && safe.size() <= most)
        return safe;
    std::size_t cut = std::min(most, safe.size());
    while (cut > 0 && cut < safe.size() && (static_cast<unsigned char>(safe[cut]) & 0xC0) == 0x80)
        --cut; // not inside a UTF-8 sequence
    return safe.substr(0, cut) + "… (" + std::to_string(s.size()) + " bytes in all)";
}

} // namespace se::text
