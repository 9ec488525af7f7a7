// `reproduce --jobs N`: the sweep's runs as child processes (`safeeraser run`), N side by side, each in its own store
// (a copy of the main one, so the vanilla evaluation is reused), merged into the main store in the sweep's order
// when all have ended. Child processes, not threads: LibTorch's random generators and OpenBLAS's thread count are
// per process.
#pragma once

#include "core/unlearn/runservice.h"

#include <string>
#include <vector>

namespace se::cli {

struct SweepRun {
    std::string label; // "po+pd"
    se::engine::RunRequest request;
};

struct SweepOptions {
    std::string store;    // the main store (holds the vanilla evaluation already)
    int jobs = 2;         // runs at once
    int threads = 1;      // OpenBLAS threads of each run
    bool profile = false; // each run's profile goes to its log
    bool quiet = false;
};

// The order in which runSweep starts the runs: the most expensive first (by the passes each micro-step makes), ties in
// the sweep's order.
std::vector<std::size_t> startOrder(const std::vector<SweepRun> &runs);

// Runs every run of `runs` and merges them into options.store in order. Each run's store, configuration, weights and
// log stay in `<store>.parts/` (its weights are referred to from the merged runs). Returns the runs that did not
// finish. `cancelled` is polled: once it is true, the runs still going are asked to stop (SIGINT) and none starts.
int runSweep(const std::vector<SweepRun> &runs, const SweepOptions &options, const std::function<bool()> &cancelled);

} // namespace se::cli
