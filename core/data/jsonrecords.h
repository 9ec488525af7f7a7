// Files of JSON records — a JSON array of objects, or JSON Lines — read record by record, as the benchmark's split
// files are: the bytes are cut into records before any parsing, so one bad record (invalid UTF-8, a syntax error,
// a truncated tail, not an object) costs only itself and is reported with its index and byte offset.
#pragma once

#include "core/data/benchmark.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace se::data {

struct JsonRecord {
    long index = 0;                      // 0-based position in the file
    std::optional<nlohmann::json> value; // an object; none when the record had a problem
};

// Reads `path`: a regular file (never a FIFO or device) of at most maxBytes. Problems name the file by its file
// name, the record and the reason; a file that cannot be read gives one problem and no records.
std::vector<JsonRecord> readJsonRecords(const std::string &path, std::vector<Problem> &problems,
                                        std::uint64_t maxBytes = 2ull << 30);

} // namespace se::data
