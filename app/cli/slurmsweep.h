// `reproduce --slurm` (README "On a cluster"): the sweep as Slurm jobs. One job evaluates the vanilla model into the
// main store (reused when it is there already); a job array, started when that job has succeeded, runs one method
// variant per array task, each into its own store under `<store>.parts/` (the main store's runs copied in first, so
// the vanilla evaluation is reused), with the same configuration files and logs as `reproduce --jobs`. What was
// submitted goes to `<store>.parts/slurm.json`; `reproduce --collect` (core/store/slurmsweep.h) merges the ended runs.
// Slurm's own programs do the work (sbatch); nothing here schedules or launches.
#pragma once

#include "app/cli/runjobs.h"
#include "core/store/slurmsweep.h"

#include <string>
#include <vector>

namespace se::cli {

struct SlurmOptions {
    std::string partition;  // empty: the cluster's default
    std::string time;       // a Slurm time limit per task ("2:00:00"); empty: the partition's
    int gpusPerRun = 0;     // GPUs per array task
    int cpusPerRun = 1;     // CPUs per array task (and OpenBLAS threads of its run)
    std::string executable; // the safeeraser binary the jobs run (its absolute path; shared with the nodes)
    std::string sbatch = "sbatch", squeue = "squeue";
};

// Writes the configurations and the two batch scripts under `<store>.parts/`, submits them, and saves the
// submission. `vanillaRequest`: the request whose vanilla evaluation the runs share (the sweep's first). Throws
// std::runtime_error with sbatch's own message when a submission fails.
se::store::SlurmSubmission submitSweep(const std::vector<SweepRun> &runs, const se::engine::RunRequest &vanillaRequest,
                                       const std::string &store, const SlurmOptions &options);

} // namespace se::cli
