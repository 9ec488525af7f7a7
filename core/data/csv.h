// CSV as RFC 4180 writes it, the one writer every export uses (CLI export, the workbench's tables and plots): a
// field is quoted when it holds a comma, a double quote, CR or LF, and its quotes are doubled; bytes that are not
// UTF-8 become U+FFFD, control characters but tab, CR and LF are written visibly (se::text::terminalSafe), and a text
// that a spreadsheet would take for a formula (= + - @ first) begins with an apostrophe: a file is valid UTF-8 and
// safe to cat or open whatever a model said.
#pragma once

#include <string>
#include <vector>

namespace se::data {

std::string csvField(const std::string &s);
std::string csvRow(const std::vector<std::string> &fields); // the fields joined by commas, then "\n"

} // namespace se::data
