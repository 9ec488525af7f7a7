// Benchmark (prints numbers; not a test): reading and validating a benchmark at the paper's scale — 3,000
// records — with image header checks and without decoding pixels. Target: under 1 s on the 2-core machine.
//   bench_reader [DIR] [--records N] [--repeat K]
// Without DIR it generates the bundled benchmark with N records (default 3,000) into a temporary folder first.
//   bench_reader --scaling
// Hostile sizes (issue 13): split files of 10 k, 100 k and 1 M JSON-lines records, one record with a 16 MB string,
// one with an array of 2 M numbers — time and time per MB of each, to show the reader stays linear. Then the
// malformed shapes (issue 32), each about 16 MB beside valid records of the same size: a run of stray commas, of
// invalid UTF-8 in a string, of nesting (unclosed, and closed inside a record), of whitespace, of escapes — their
// ms/MB as a multiple of the valid input's (the goal: within 3 x).
#include "core/data/benchmark.h"
#include "core/data/generator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double msSince(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Writes `text` as all_train.json of a fresh folder (with an empty all_val.json and a prompt.json), reads it
// without image checks, prints the time and the time per MB.
static double timeSplit(const fs::path &dir, const char *what, const std::string &text, double validMsPerMb = 0)
{
    fs::remove_all(dir);
    fs::create_directories(dir);
    {
        std::FILE *f = std::fopen((dir / "all_train.json").c_str(), "wb");
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
        f = std::fopen((dir / "all_val.json").c_str(), "wb");
        std::fputs("[]", f);
        std::fclose(f);
        f = std::fopen((dir / "prompt.json").c_str(), "wb");
        std::fputs(R"({"idk": ["I cannot help with that."]})", f);
        std::fclose(f);
    }
    se::data::ReadOptions ro;
    ro.checkImages = false;
    const auto t0 = Clock::now();
    const auto b = se::data::readBenchmark(dir.string(), ro);
    const double ms = msSince(t0), mb = double(text.size()) / (1 << 20);
    std::printf("%-40s %8.1f MB %10.0f ms %8.1f ms/MB", what, mb, ms, ms / mb);
    if (validMsPerMb > 0)
        std::printf(" = %5.2f x valid", ms / mb / validMsPerMb);
    std::printf("  %zu records, %zu problems\n", b.train.records.size(), b.problems.size());
    return ms / mb;
}

static int scaling()
{
    const fs::path dir = fs::temp_directory_path() / ("se-bench-scaling-" + std::to_string(::getpid()));
    const std::string record =
        R"({"image_path": "Weapon/a.png", "SDImage_path": "SD/a.png", "category": "Weapon", "unsafe_pairs": )"
        R"([{"question": "How is it made?", "model_response": "Zorvex steps.", "sd_response": "A tool."}], )"
        R"("UnharmPair_text1": {"question": "What colour is it?", "Prediction": "Red."}})";
    for (int n : {10000, 100000, 1000000}) {
        std::string text;
        text.reserve(size_t(n) * (record.size() + 1));
        for (int i = 0; i < n; ++i)
            text += record + "\n";
        timeSplit(dir, (std::to_string(n) + " JSON-lines records").c_str(), text);
    }
    std::string big = record;
    big.replace(big.find("How is it made?"), 15, std::string(16 << 20, 'q'));
    timeSplit(dir, "one record, a 16 MB question", "[" + big + "]");
    std::string arr = "[{\"image_path\": [";
    for (int i = 0; i < 2000000; ++i)
        arr += (i ? "," : "") + std::to_string(i % 1000);
    timeSplit(dir, "one record, an array of 2 M numbers", arr + "]}]");

    // Malformed shapes of 16 MB beside valid records of 16 MB.
    const std::size_t size = std::size_t(16) << 20;
    std::string valid = "[";
    while (valid.size() < size)
        valid += record + ",";
    valid.back() = ']';
    const double base = timeSplit(dir, "valid: records (16 MB)", valid);
    auto inRecord = [&](const std::string &value) { return "[{\"image_path\": \"" + value + "\"}]"; };
    timeSplit(dir, "stray commas", "[" + std::string(size, ',') + "]", base);
    timeSplit(dir, "invalid UTF-8 in a string (0xFF)", inRecord(std::string(size, '\xff')), base);
    timeSplit(dir, "truncated UTF-8 sequences (0xE2 0x82)", inRecord([&] {
                  std::string t;
                  while (t.size() < size)
                      t += "\xe2\x82";
                  return t;
              }()),
              base);
    timeSplit(dir, "unclosed nesting ([[[...)", std::string(size, '['), base);
    timeSplit(dir, "nesting closed inside a record",
              "[{\"image_path\": " + std::string(size / 2, '[') + std::string(size / 2, ']') + "}]", base);
    timeSplit(dir, "whitespace", "[" + std::string(size, ' ') + "]", base);
    timeSplit(dir, "newlines (JSON Lines of nothing)", std::string(size, '\n'), base);
    timeSplit(dir, "escapes (\\u0041)", inRecord([&] {
                  std::string t;
                  while (t.size() < size)
                      t += "\\u0041";
                  return t;
              }()),
              base);
    timeSplit(dir, "backslashes (\\\\)", inRecord(std::string(size, '\\')), base);
    timeSplit(dir, "stray closing braces", "[" + std::string(size, '}') + "]", base);
    fs::remove_all(dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && std::string(argv[1]) == "--scaling")
        return scaling();
    std::string dir;
    int records = 3000, repeat = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--records" && i + 1 < argc)
            records = std::atoi(argv[++i]);
        else if (a == "--repeat" && i + 1 < argc)
            repeat = std::max(1, std::atoi(argv[++i]));
        else
            dir = a;
    }
    fs::path tmp;
    if (dir.empty()) {
        tmp = fs::temp_directory_path() / ("se-bench-reader-" + std::to_string(::getpid()));
        se::data::GeneratorOptions o;
        o.records = records;
        const auto t0 = Clock::now();
        const auto rep = se::data::generateBenchmark(tmp.string(), o);
        std::printf("generated %d records, %ld pairs, %ld images in %.0f ms\n", rep.trainRecords + rep.valRecords,
                    rep.totalPairs(), rep.images, msSince(t0));
        dir = tmp.string();
    }
    for (bool images : {true, false}) {
        se::data::ReadOptions ro;
        ro.checkImages = images;
        std::vector<double> times;
        se::data::Benchmark b;
        for (int r = 0; r < repeat; ++r) {
            const auto t0 = Clock::now();
            b = se::data::readBenchmark(dir, ro);
            times.push_back(msSince(t0));
        }
        std::sort(times.begin(), times.end());
        const long recs = long(b.train.records.size() + b.val.records.size());
        const long pairs = long(b.train.forget.size() + b.train.pd.size() + b.train.retain.size() +
                                b.val.forget.size() + b.val.pd.size() + b.val.retain.size());
        std::printf("read+validate %s: %ld records, %ld samples, %zu problems: median %.1f ms, min %.1f ms "
                    "(%d runs)\n",
                    images ? "with image header checks" : "paths only (--no-images)", recs, pairs, b.problems.size(),
                    times[times.size() / 2], times.front(), repeat);
    }
    if (!tmp.empty())
        fs::remove_all(tmp);
    return 0;
}
