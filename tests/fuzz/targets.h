// The bodies of the fuzz targets (scripts/fuzz.sh) and of their regression test (tests/engine/test_fuzzregressions):
// each takes any bytes and must return — no crash, hang or unbounded growth — reporting bad input the program's
// normal way (the benchmark's problem list, or std::runtime_error). Any other exception escapes and is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace se::fuzz {

int splitFile(const std::uint8_t *data, std::size_t size);   // as all_train.json of a benchmark folder
int imageHeader(const std::uint8_t *data, std::size_t size); // PNG / JPEG / … header of an image file
int judgeReply(const std::uint8_t *data, std::size_t size);  // an LLM judge's reply text
int runConfig(const std::uint8_t *data, std::size_t size);   // a run configuration JSON (run --config)
int resultsFile(const std::uint8_t *data, std::size_t size); // an official pipeline's results file (import)

struct Target {
    const char *name;
    int (*run)(const std::uint8_t *, std::size_t);
};
const std::vector<Target> &targets();

} // namespace se::fuzz
