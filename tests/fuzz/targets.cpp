#include "tests/fuzz/targets.h"

#include "core/data/benchmark.h"
#include "core/data/imageheader.h"
#include "core/metrics/llmjudge.h"
#include "core/unlearn/runservice.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace se::fuzz {

namespace {
// A benchmark folder of this process (made once): the input becomes its all_train.json.
const std::string &folder()
{
    static const std::string dir = [] {
        char tmpl[] = "/tmp/se-fuzz-split-XXXXXX";
        const char *d = ::mkdtemp(tmpl);
        if (!d)
            std::abort();
        std::ofstream(std::string(d) + "/all_val.json") << "[]";
        std::ofstream(std::string(d) + "/prompt.json") << R"({"idk": ["I cannot help with that."]})";
        return std::string(d);
    }();
    return dir;
}
} // namespace

int splitFile(const std::uint8_t *data, std::size_t size)
{
    {
        std::ofstream out(folder() + "/all_train.json", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char *>(data), std::streamsize(size));
    }
    se::data::ReadOptions o;
    o.checkImages = true; // image paths are resolved (and confined to the folder) like any benchmark's
    const auto b = se::data::readBenchmark(folder(), o); // never throws on content
    (void)b;
    return 0;
}

int imageHeader(const std::uint8_t *data, std::size_t size)
{
    try {
        (void)se::data::parseImageHeader(data, size, size);
    } catch (const std::runtime_error &) {
    }
    return 0;
}

int judgeReply(const std::uint8_t *data, std::size_t size)
{
    try {
        (void)se::metrics::LlmJudge::parseReply(std::string(reinterpret_cast<const char *>(data), size));
    } catch (const std::runtime_error &) {
    }
    return 0;
}

int runConfig(const std::uint8_t *data, std::size_t size)
{
    try {
        (void)se::engine::requestFromJson(std::string(reinterpret_cast<const char *>(data), size));
    } catch (const std::runtime_error &) {
    }
    return 0;
}

const std::vector<Target> &targets()
{
    static const std::vector<Target> all = {
        {"split", splitFile}, {"imageheader", imageHeader}, {"judgereply", judgeReply}, {"runconfig", runConfig}};
    return all;
}

} // namespace se::fuzz
