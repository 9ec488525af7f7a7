#include "core/data/csv.h"

#include "core/util/text.h"

namespace se::data {

std::string csvField(const std::string &raw)
{
    const std::string s = se::text::validUtf8(raw); // an answer's bytes may not be UTF-8: U+FFFD, never invalid
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
