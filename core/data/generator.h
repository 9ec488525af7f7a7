// The bundled-benchmark generator (SPEC §5): writes a SafeEraser benchmark in exactly the official layout
// (all_train.json, all_val.json, prompt.json, one folder per harm category, SD/ for the benign images) from a
// seed alone, so the project works with no download. Images are abstract glyphs on dark backgrounds (harmful)
// and pastel scenes (benign); every answer is templated from what the image shows, and every forget target is
// fictional and non-actionable. Same options → byte-identical files, whatever the number of threads.
// Plain C++ (OpenCV and nlohmann/json inside the .cpp only); no Qt, no LibTorch.
#pragma once

#include "core/util/defaults.h"

#include <cstdint>
#include <functional>
#include <string>

namespace se::data {

struct GeneratorOptions {
    int records = 300;                     // harmful images (one record each), both splits together; 1 … 1,000,000
    std::uint64_t seed = se::kDefaultSeed; // everything random derives from it
    int imageSize = 256;                   // side of every PNG in pixels; 32 … 2048
    double valFraction = 0.2;              // val = round(records · valFraction), at least 1 when records ≥ 2 and > 0
    int threads = 0;                       // 0: one per core (output does not depend on it)
    bool force = false;                    // also write into a non-empty folder that is not a previous benchmark
    // Called after each record's images are written, from worker threads (serialised by the generator).
    std::function<void(long done, long total)> progress;
};

struct GeneratorReport {
    int trainRecords = 0;
    int valRecords = 0;
    long forgetPairs = 0; // unsafe pairs (each yields one forget and one PD sample)
    long pdPairs = 0;
    long retainPairs = 0; // UnharmPair_* fields, four per record
    long images = 0;      // PNG files written (harmful + SD)
    long totalPairs() const { return forgetPairs + pdPairs + retainPairs; }
};

// What a folder is, from the generator's point of view.
enum class OutputFolderState {
    Missing,           // does not exist (will be created)
    Empty,             // an empty directory
    PreviousBenchmark, // holds the generator's marker file: regenerating there is safe
    Foreign,           // a non-empty directory the generator did not write: refused unless force
    NotADirectory      // exists but is a file (or unreadable): always refused
};
OutputFolderState inspectOutputFolder(const std::string &dir);

// Name of the marker file the generator writes first into its folder (".safeeraser-benchmark.json").

// The counts generateBenchmark would produce, without writing anything. Throws std::invalid_argument on
// options out of range.
GeneratorReport planBenchmark(const GeneratorOptions &options);

// Writes the benchmark into outDir (created if needed). Every file is written to a temporary name and renamed
// into place; the split files come last (all_train.json very last), so an interrupted run never leaves a folder
// that looks complete. Regenerating over a previous benchmark first removes its split files and afterwards the
// images of the old run that the new one does not have; nothing else is ever deleted. Throws
// std::invalid_argument on bad options and std::runtime_error (with the path and reason) when the folder is
// refused or a file cannot be written.
GeneratorReport generateBenchmark(const std::string &outDir, const GeneratorOptions &options);

} // namespace se::data
