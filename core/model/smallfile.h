// Small files of a model folder (configs, indexes, tokenizer JSON) read with bounds, and parsed with errors that
// name the file. No LibTorch.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace se::model {

// The text of a small regular file: throws naming it when missing, not a regular file, or larger than `limit` bytes.
std::string readSmallFile(const std::string &path, std::uintmax_t limit);

// `text` parsed as JSON; throws "<origin>: not valid JSON: …".
nlohmann::json parseJson(const std::string &text, const std::string &origin);
// The same, and it must be an object: "<origin>: (top level): not a JSON object".
nlohmann::json parseJsonObject(const std::string &text, const std::string &origin);

} // namespace se::model
