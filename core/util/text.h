// Text that is safe to write, whatever a model said: valid UTF-8 (every output format of the project promises it:
// JSON, CSV, the store's text, HTTP bodies), and, for a terminal, no control character that could move the cursor,
// clear the screen or set the window's title. No Qt, no LibTorch.
#pragma once

#include <string>
#include <string_view>

namespace se::text {

bool isValidUtf8(std::string_view s);
// `s` with every ill-formed byte sequence replaced by U+FFFD, one per maximal subpart (Unicode's recommended practice,
// as Python's errors="replace" and WHATWG's decoder do); valid text comes back unchanged.
std::string validUtf8(std::string_view s);
// validUtf8(s) with the control characters escaped visibly: C0 but newline and tab as "\x1b", DEL as "\x7f", C1
// (U+0080-U+009F) as "\u009b", and a backslash that would begin such an escape as "\\".
// keepCarriageReturn: CR stays (a CSV field's line break is CR LF).
std::string terminalSafe(std::string_view s, bool keepCarriageReturn = false);
// What a message quotes of a value that came from outside (a file's field, a peer's reply): terminalSafe, and at most
// about `most` bytes of it, cut on a character boundary and followed by "… (N bytes in all)" when cut.
std::string quoted(std::string_view s, std::size_t most = 400);

} // namespace se::text
