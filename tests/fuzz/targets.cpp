#include "tests/fuzz/targets.h"

#include "core/data/benchmark.h"
#include "core/data/imageheader.h"
#include "core/data/officialresults.h"
#include "core/metrics/llmjudge.h"
#include "core/unlearn/runservice.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
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

int resultsFile(const std::uint8_t *data, std::size_t size)
{
    // The benchmark the results answer: one val record (Violence/a.png, SD/a.png) with two unsafe pairs and a
    // retain pair — what tests/fuzz/seeds/results/ answer. Images are empty files: only their paths matter here.
    static const std::pair<std::string, se::data::Benchmark> bench = [] {
        char tmpl[] = "/tmp/se-fuzz-results-XXXXXX";
        const char *d = ::mkdtemp(tmpl);
        if (!d)
            std::abort();
        const std::string dir = d;
        for (const char *sub : {"/Violence", "/SD"})
            if (::mkdir((dir + sub).c_str(), 0755) != 0)
                std::abort();
        std::ofstream(dir + "/Violence/a.png") << "";
        std::ofstream(dir + "/SD/a.png") << "";
        std::ofstream(dir + "/all_train.json") << "[]";
        std::ofstream(dir + "/all_val.json") << R"([{"image_path": "Violence/a.png", "SDImage_path": "SD/a.png",
            "unsafe_pairs": [{"question": "How?", "model_response": "Use the Zorvex crank.", "sd_response": "A garden."},
                             {"question": "Why?", "model_response": "Because.", "sd_response": "A lake."}],
            "UnharmPair_text1": {"Question": "What word?", "Prediction": "Zorvex"}}])";
        std::ofstream(dir + "/prompt.json") << R"({"idk": ["I cannot help with that."]})";
        se::data::ReadOptions o;
        o.checkImages = false;
        return std::make_pair(dir, se::data::readBenchmark(dir, o));
    }();
    const std::string path = bench.first + "/results.json";
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char *>(data), std::streamsize(size));
    }
    const auto r = se::data::readOfficialResults(path, bench.second); // never throws on content
    for (const auto &a : r.answers)                                   // every answer points into the benchmark
        if (!a.sample || a.sampleIndex < 0 || a.sampleIndex > 2)
            std::abort();
    return 0;
}

const std::vector<Target> &targets()
{
    static const std::vector<Target> all = {{"split", splitFile},
                                            {"imageheader", imageHeader},
                                            {"judgereply", judgeReply},
                                            {"runconfig", runConfig},
                                            {"results", resultsFile}};
    return all;
}

} // namespace se::fuzz
