#include "core/data/csv.h"

#include "core/util/text.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace se::data {

namespace {
bool isNumber(const std::string &s)
{
    char *end = nullptr;
    errno = 0;
    std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size() && s.find_first_of("xXpP") == std::string::npos;
}
} // namespace

std::string csvField(const std::string &raw)
{
    // An answer's bytes may not be UTF-8 (U+FFFD, never invalid) and may hold ESC sequences, which `cat file.csv`
    // would hand to the terminal: control characters but tab, CR and LF are written visibly ("\x1b").
    std::string s = se::text::terminalSafe(raw, /*keepCarriageReturn=*/true);
    // A spreadsheet takes a cell that begins with = + - or @ for a formula (=HYPERLINK(…) in a model's answer): such
    // a text starts with an apostrophe, as spreadsheets themselves write it; a number stays a number.
    if (!s.empty() && std::strchr("=+-@", s[0]) && !isNumber(s))
        s.insert(0, 1, '\'');
    if (s.find_first_of(",\"\r\n") == std::string::npos)
        return s;
    std::string out = "\"";
    out.reserve(s.size() + 2);
    for (char c : s) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

std::string csvRow(const std::vector<std::string> &fields)
{
    std::string out;
    for (std::size_t i = 0; i < fields.size(); ++i)
        out += (i ? "," : "") + csvField(fields[i]);
    return out + "\n";
}

} // namespace se::data
