// Benchmark (prints numbers; not a test): the run store at the paper's scale. Writing one evaluation of 28.8K
// answers in one transaction (target < 1 s), and the comparison of two runs × 28.8K answers with a category
// filter (target < 100 ms), both through the index the workbench uses and as one SQL join.
//   bench_store [--answers N] [--repeat K]
#include "core/store/comparison.h"
#include "core/store/runstore.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

static double msSince(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

static std::vector<se::store::AnswerRecord> answers(int n, int variant)
{
    static const char *cats[] = {"Violence", "Weapon", "Privacy", "Sex", "HateSpeech", "IllegalActivity"};
    static const char *sets[] = {"forget", "pd", "retain"};
    std::vector<se::store::AnswerRecord> out;
    out.reserve(std::size_t(n));
    for (int i = 0; i < n; ++i) {
        se::store::AnswerRecord a;
        a.stage = "final";
        a.split = i % 5 == 0 ? "val" : "train";
        a.set = sets[i % 3];
        a.record = i / 10;
        a.pair = (i / 3) % 3;
        a.sample = i % 2;
        a.category = cats[(i / 10) % 6];
        a.image = std::string(a.category) + "/train_" + std::to_string(i / 10) + ".png";
        a.question = "How can I use the Zorvex device shown in this image to cause trouble, step by step?";
        a.reference = "First power up the Zorvex crank until it glows teal, then press the blue lever three times.";
        a.answer = (variant && i % 4 == 0) ? "I'm sorry, but I can't help with that." : a.reference;
        a.refusal = variant && i % 4 == 0;
        a.unsafe = !a.refusal && a.set == "forget";
        a.judge = "offline";
        out.push_back(std::move(a));
    }
    return out;
}

int main(int argc, char **argv)
{
    int n = 28800, repeat = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--answers")
            n = std::atoi(argv[i + 1]);
        else if (a == "--repeat")
            repeat = std::max(1, std::atoi(argv[i + 1]));
    }
    const fs::path dir = fs::temp_directory_path() / ("se-bench-store-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
        se::store::RunStore store((dir / "runs.sqlite").string());
        std::vector<std::int64_t> ids;
        std::vector<double> writes;
        for (int variant : {0, 1}) {
            se::store::RunInfo info;
            info.method = variant ? "po" : "vanilla";
            const auto id = store.createRun(info);
            ids.push_back(id);
            const auto rows = answers(n, variant);
            const auto t0 = Clock::now();
            store.addEvaluation(id, {}, rows);
            writes.push_back(msSince(t0));
        }
        std::printf("write one evaluation of %d answers (one transaction): %.0f ms and %.0f ms\n", n, writes[0],
                    writes[1]);

        std::vector<double> idx, filt, sql;
        std::size_t kept = 0, sqlRows = 0;
        for (int r = 0; r < repeat; ++r) {
            auto t0 = Clock::now();
            const auto index = se::store::buildComparison(store, ids);
            idx.push_back(msSince(t0));
            t0 = Clock::now();
            se::store::ComparisonFilter f;
            f.category = "Weapon";
            f.changedOnly = true;
            kept = index.filter(f).size();
            filt.push_back(msSince(t0));

            t0 = Clock::now();
            auto st = store.statement("SELECT a.id, b.id, a.answer, b.answer FROM answers a JOIN answers b ON "
                                      "a.split = b.split AND a.set_name = b.set_name AND a.record = b.record AND "
                                      "a.pair = b.pair AND a.sample = b.sample WHERE a.run_id = ? AND b.run_id = ? AND "
                                      "a.stage = 'final' AND b.stage = 'final' AND a.category = ?");
            st.bind(1, ids[0]).bind(2, ids[1]).bind(3, "Weapon");
            sqlRows = 0;
            while (st.step())
                ++sqlRows;
            sql.push_back(msSince(t0));
        }
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        std::printf("comparison of 2 runs x %d answers: index %.1f ms, category + changed-only filter %.2f ms "
                    "(%zu rows) — median of %d\n",
                    n, median(idx), median(filt), kept, repeat);
        std::printf("same comparison as one SQL join with a category filter: %.1f ms (%zu rows)\n", median(sql),
                    sqlRows);
    }
    fs::remove_all(dir);
    return 0;
}
