// A sweep submitted to Slurm (`safeeraser reproduce --slurm`; README "On a cluster"), as the CLI's --collect and the
// workbench's Cluster Jobs window see it: what was submitted (`<store>.parts/slurm.json`), each array task's state
// (its run's status in its part store, or Slurm's from squeue while it is queued or running), and the merge of the
// ended runs into the main store in the sweep's order. Plain C++ and SQLite, no LibTorch, no Qt.
#pragma once

#include <string>
#include <vector>

namespace se::store {

struct SlurmSubmission {
    std::string store; // the main store, absolute
    std::string vanillaJob, arrayJob;
    std::vector<std::string> labels; // array task i runs labels[i]
};

std::string sweepPartsDir(const std::string &store);                           // <store>.parts
std::string sweepPartPath(const std::string &store, const std::string &label); // <store>.parts/<label>.sqlite

// Reads `<store>.parts/slurm.json`; throws std::runtime_error naming the file when there is none or it is damaged.
SlurmSubmission readSubmission(const std::string &store);
void writeSubmission(const SlurmSubmission &s);

// One array task's state: its run's status in its part ("finished", "failed", "cancelled", …), Slurm's state
// ("PENDING", "RUNNING") while squeue lists it, or why neither is known.
struct TaskState {
    std::string label, state;
    bool ended = false; // its part holds a run that has ended (and can be merged)
};
// `squeueNote` receives why squeue could not be asked (not installed, no controller), empty when it answered.
std::vector<TaskState> sweepState(const SlurmSubmission &s, const std::string &squeue = "squeue",
                                  std::string *squeueNote = nullptr);

// Merges every part whose run has ended into the main store, in the sweep's order (runs already merged are skipped,
// so collecting again adds only the new ones). Returns the runs merged now.
int collectSweep(const SlurmSubmission &s, const std::vector<TaskState> &states);

// Why starting a new sweep into `store` would lose results of the one submitted before (its parts are replaced):
// tasks still queued or running, or ended runs not yet merged into the main store. Empty when there is no earlier
// submission or it has all been collected.
std::string uncollectedSweep(const std::string &store, const std::string &squeue = "squeue");

// Runs a program found in PATH and collects its exit status and output (sbatch, squeue). Throws when it cannot be
// started.
struct ProgramResult {
    int code = -1;
    std::string out, err;
};
ProgramResult runProgram(const std::vector<std::string> &args);
std::string trimEnd(std::string s); // without the trailing newlines and spaces (a program's output)

} // namespace se::store
