// Where a data-parallel process finds its peers (issue 12), read from the environment its launcher set: torchrun's
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, or, inside a Slurm job step (`srun -n N`), SLURM_PROCID,
// SLURM_STEP_NUM_TASKS, SLURM_LOCALID and the first host of SLURM_STEP_NODELIST (or SLURM_JOB_NODELIST). Neither:
// one process alone. Plain C++ (no LibTorch): the CLI reads it before it decides what to start.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace se::dist {

struct Rendezvous {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
    std::string launcher = "single"; // "torchrun" (the RANK/WORLD_SIZE variables), "slurm" or "single"
    bool distributed() const { return worldSize > 1; }
    std::string describe() const; // "rank 1 of 2 (slurm, master node01:29500)"
};

// Reads the variables through `get` (getenv by default; a test passes its own). A variable that is there but wrong
// (not a whole number, a rank outside 0…WORLD_SIZE-1, a port outside 1…65535, a node list it cannot read) is an
// error naming the variable, its value and why.
using EnvFn = std::function<const char *(const char *)>;
Rendezvous rendezvousFromEnvironment(const EnvFn &get = {});

// `env` (an environ-style list) without the variables that make a process a rank (RANK, WORLD_SIZE, LOCAL_RANK,
// SLURM_STEP_NUM_TASKS, SLURM_PROCID, SLURM_LOCALID): what a process gives the single-process children it starts.
std::vector<std::string> singleProcessEnvironment(const char *const *env);

// The host names of a Slurm node list, in order: "node[01-03,07],gpu5" → node01 node02 node03 node07 gpu5.
std::vector<std::string> expandSlurmNodeList(const std::string &list);

} // namespace se::dist
