// safeeraser make-benchmark: writes the bundled benchmark (core/data/generator.h) into a folder.
#include "app/cli/commands.h"
#include "core/data/generator.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <unistd.h>

namespace se::cli {

namespace {

struct MakeBenchmarkArgs {
    std::string out;
    int records = se::data::GeneratorOptions{}.records;
    std::uint64_t seed = se::data::GeneratorOptions{}.seed;
    int imageSize = se::data::GeneratorOptions{}.imageSize;
    double valFraction = se::data::GeneratorOptions{}.valFraction;
    int threads = 0;
    bool force = false;
};

int runMakeBenchmark(const MakeBenchmarkArgs &a)
{
    using se::data::OutputFolderState;
    const OutputFolderState state = se::data::inspectOutputFolder(a.out);
    if (state == OutputFolderState::NotADirectory) {
        std::cerr << "safeeraser make-benchmark: " << a.out << " exists and is not a directory\n";
        return 2;
    }
    if (state == OutputFolderState::Foreign && !a.force) {
        std::cerr << "safeeraser make-benchmark: " << a.out
                  << " is not empty and holds no benchmark made by safeeraser.\n"
                     "Choose an empty or new folder, or pass --force to write into it anyway "
                     "(nothing there is deleted; files with the benchmark's names are overwritten).\n";
        return 2;
    }

    se::data::GeneratorOptions options;
    options.records = a.records;
    options.seed = a.seed;
    options.imageSize = a.imageSize;
    options.valFraction = a.valFraction;
    options.threads = a.threads;
    options.force = a.force;
    const bool tty = isatty(fileno(stderr)) != 0;
    if (tty) {
        options.progress = [](long done, long total) {
            if (done == total || done % 50 == 0)
                std::fprintf(stderr, "\rmake-benchmark: %ld/%ld records%s", done, total, done == total ? "\n" : "");
        };
    }

    const auto start = std::chrono::steady_clock::now();
    const se::data::GeneratorReport r = se::data::generateBenchmark(a.out, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("make-benchmark: %d records (%d train, %d val), %ld pairs (%ld forget, %ld PD, %ld retain), "
                "%ld images in %s, seed %llu, %.1f s\n",
                r.trainRecords + r.valRecords, r.trainRecords, r.valRecords, r.totalPairs(), r.forgetPairs, r.pdPairs,
                r.retainPairs, r.images, a.out.c_str(), static_cast<unsigned long long>(a.seed), seconds);
    return 0;
}

// CLI11 would wrap "-3" around and saturate "99999999999999999999": accept plain decimal uint64 only.
CLI::Validator seedValidator()
{
    return CLI::Validator(
        [](std::string &s) -> std::string {
            const bool digits = !s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string::npos;
            errno = 0;
            if (digits)
                std::strtoull(s.c_str(), nullptr, 10);
            if (!digits || errno == ERANGE)
                return "seed must be a whole number from 0 to 18446744073709551615";
            return {};
        },
        "UINT64", "seed");
}

} // namespace

void addGeneratorCommands(CLI::App &app, int &exitCode)
{
    auto args = std::make_shared<MakeBenchmarkArgs>();
    CLI::App *cmd = app.add_subcommand(
        "make-benchmark",
        "Generate the bundled SafeEraser benchmark (official layout: all_train.json, all_val.json, prompt.json,\n"
        "one folder per harm category, SD/ for the benign images). Deterministic: the same options give\n"
        "byte-identical files. Harmful images are abstract glyphs with a typographic label; forget targets are\n"
        "fictional and non-actionable.");
    cmd->add_option("-o,--out", args->out, "Folder to write (created if missing)")->required();
    cmd->add_option("-n,--records", args->records,
                    "Harmful images (one record each), train and val together; 3 unsafe pairs for 80% of the\n"
                    "records and 2 for the rest, 4 retain pairs each: 9.6 VQA pairs per record on average\n"
                    "(3000 records = 28,800 pairs, the paper's scale)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    cmd->add_option("-s,--seed", args->seed, "Random seed, 0 to 2^64-1")->capture_default_str()->check(seedValidator());
    cmd->add_option("--image-size", args->imageSize, "Side of every image in pixels")
        ->capture_default_str()
        ->check(CLI::Range(32, 2048));
    cmd->add_option("--val-fraction", args->valFraction, "Share of the records held out in all_val.json")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.95));
    cmd->add_option("-j,--threads", args->threads, "Worker threads (0: one per core; does not change the output)")
        ->capture_default_str()
        ->check(CLI::Range(0, 64));
    cmd->add_flag("-f,--force", args->force,
                  "Also write into a non-empty folder that is not a previous benchmark (never deletes anything)");
    cmd->footer("Writing into a folder made by an earlier make-benchmark replaces that benchmark (its leftover\n"
                "images included). Any other non-empty folder is refused without --force.\n"
                "Exit status: 0 written, 1 an I/O error, 2 a usage error or a refused folder.");
    cmd->callback([args, &exitCode] { exitCode = guarded("make-benchmark", [&] { return runMakeBenchmark(*args); }); });
}

} // namespace se::cli
