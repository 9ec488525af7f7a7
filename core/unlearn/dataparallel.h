// Data-parallel training over PyTorch's c10d (issue 12): the process group this process joined (a TCPStore at rank
// 0's host for the rendezvous, Gloo for the collectives), used by the training loop. Every rank computes its share of
// each step's micro-batches, the gradients are averaged with one all-reduce, and every rank applies the same update;
// rank 0 alone evaluates and writes. Internal to the engine (LibTorch); engine.h has the public joinDataParallel().
#pragma once

#include "core/util/rendezvous.h"

#include <chrono>
#include <memory>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::unlearn {

class DataParallel
{
public:
    // The group this process is in; null when it runs alone (the training loop then does what it always did).
    static DataParallel *current();
    // Joins the group `r` describes, replacing any earlier one: the collectives fail after `timeout`, a meeting
    // (meet()) after `patience`. One process (r.worldSize 1): leaves any group and does nothing else.
    static void join(const se::dist::Rendezvous &r, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds patience);
    static void leave();

    ~DataParallel();
    int rank() const { return m_r.rank; }
    int size() const { return m_r.worldSize; }
    const se::dist::Rendezvous &rendezvous() const { return m_r; }

    // Every rank's values summed, element by element (the step's loss terms and its stop flags).
    std::vector<double> sum(const std::vector<double> &values);
    // The mean over the ranks of each parameter's gradient, in place: one flat float32 buffer, one all-reduce (a CUDA
    // model's goes through the CPU). A parameter without a gradient counts as zeros.
    void averageGradients(const std::vector<torch::Tensor> &params);
    // Rank 0's values of these tensors on every rank (the starting weights).
    void broadcastFromRank0(const std::vector<torch::Tensor> &tensors);
    // Waits until every rank got here: before training (rank 0 evaluates the vanilla model first) and after a curve
    // evaluation. Rank 0 may be busy for a long time, so this waits up to the patience given to join(); a rank that
    // has gone away (its process ended) makes it fail at once.
    void meet(const std::string &what);

    // What moves the gradients: "Gloo", or "NCCL" once a CUDA model's went over it.
    const std::string &backend() const { return m_backend; }

    // Time spent in the collectives, and their count, since joining; the training steps taken and their time (the
    // loop notes each); the bytes of one step's gradient all-reduce (the scaling figures report these).
    double collectiveSeconds() const { return m_seconds; }
    std::int64_t collectiveCount() const { return m_count; }
    std::int64_t gradientBytes() const { return m_gradientBytes; }
    void noteStep(double seconds)
    {
        ++m_steps;
        m_stepSeconds += seconds;
    }
    int steps() const { return m_steps; }
    double stepSeconds() const { return m_stepSeconds; }

private:
    struct Impl;
    // True when tensors on `device` go over a device backend (NCCL for CUDA, made at its first use); false: Gloo,
    // through the host.
    bool deviceCollectives(const torch::Device &device);
    // An all-reduce (sum) or a broadcast from rank 0 of `ts`, on NCCL when their device has it, else on Gloo.
    void onDevice(bool broadcast, std::vector<at::Tensor> &ts, const char *what);
    DataParallel(const se::dist::Rendezvous &r, std::chrono::milliseconds timeout, std::chrono::milliseconds patience);
    se::dist::Rendezvous m_r;
    std::chrono::milliseconds m_timeout, m_patience;
    std::unique_ptr<Impl> m;
    double m_seconds = 0, m_stepSeconds = 0;
    std::int64_t m_count = 0, m_gradientBytes = 0;
    int m_steps = 0;
    std::string m_backend = "Gloo";
};

// This process writes nothing (store, weights, checkpoints): a data-parallel rank other than 0.
inline bool quietRank()
{
    auto *dp = DataParallel::current();
    return dp && dp->rank() != 0;
}

} // namespace se::unlearn
