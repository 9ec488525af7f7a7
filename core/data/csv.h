// CSV as RFC 4180 writes it, the one writer every export uses (CLI export, the workbench's tables and plots): a
// field is quoted when it holds a comma, a double quote, CR or LF, and its quotes are doubled; bytes that are not
// UTF-8 become U+FFFD (se::text::validUtf8), so a file is valid UTF-8 whatever a model said.
#pragma once

#include <string>
#include <vector>

namespace se::data {

std::string csvField(const std::string &s);
std::string csvRow(const std::vector<std::string> &fields); // the fields joined by commas, then "\n"

} // namespace se::data
