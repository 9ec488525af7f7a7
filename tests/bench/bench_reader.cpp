// Benchmark (prints numbers; not a test): reading and validating a benchmark at the paper's scale — 3,000
// records — with image header checks and without decoding pixels. Target: under 1 s on the 2-core machine.
//   bench_reader [DIR] [--records N] [--repeat K]
// Without DIR it generates the bundled benchmark with N records (default 3,000) into a temporary folder first.
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

int main(int argc, char **argv)
{
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
        const long pairs = long(b.train.forget.size() + b.train.pd.size() + b.train.retain.size() + b.val.forget.size() +
                                b.val.pd.size() + b.val.retain.size());
        std::printf("read+validate %s: %ld records, %ld samples, %zu problems: median %.1f ms, min %.1f ms "
                    "(%d runs)\n",
                    images ? "with image header checks" : "paths only (--no-images)", recs, pairs,
                    b.problems.size(), times[times.size() / 2], times.front(), repeat);
    }
    if (!tmp.empty())
        fs::remove_all(tmp);
    return 0;
}
