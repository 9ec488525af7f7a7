// The optimiser loop shared by vanilla training and every unlearning method: AdamW, linear warm-up then
// cosine decay, gradient accumulation, gradient-norm clipping, progress, cancellation and pause between steps,
// and a stop on a non-finite loss or gradient *before* the optimiser touches the weights, so the model keeps
// the weights of the last good step.
#pragma once

#include "core/model/memory.h"
#include "core/unlearn/engine.h"
#include "core/unlearn/losses.h"

#include <cstdint>
#include <functional>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::unlearn {

struct LoopSettings {
    std::string phase;
    double lr = 5e-4, weightDecay = 0.01, warmupRatio = 0.06, clipNorm = 1.0;
    int totalSteps = 1;
    int startStep = 0; // steps already done (a resumed run): the schedule continues from here
    int gradAccum = 1;
    int samplesPerMicroStep = 32; // for samples/s
    int stepsPerEpoch = 1;        // for the epoch shown in progress
    int progressEvery = 10;
    bool bf16Autocast = false; // CUDA only
    // Data-parallel (DataParallel::current()): the ranks meet after every `meetEvery` steps (0: never), where rank 0
    // runs its curve evaluation in afterStep while the others wait.
    int meetEvery = 0;
};

struct StepOutput {
    torch::Tensor total;
    LossTerms terms; // reported, already included in total
};
// Computes one micro-batch's losses (forward only; the loop calls backward). `micro` counts the step's micro-batches
// over every data-parallel rank: rank r of N is asked for r, N + r, 2N + r, … of the step's N · gradAccum, and
// draws (without computing) the ones in between, so that together the ranks see what one process with
// gradAccum · N would (MicroCursor).
using MicroStepFn = std::function<StepOutput(int step, int micro)>;

// Turns the loop's (step, micro) calls into how many micro-batches to draw and drop before this one. Starts at the
// first call's step (a resumed run's samplers start afresh there).
class MicroCursor
{
public:
    explicit MicroCursor(int gradAccum);
    int skipBefore(int step, int micro);

private:
    long long m_perStep;
    long long m_next = -1;
};

using se::model::DeviceMemory; // core/model/memory.h
using se::model::deviceMemory;

// The learning rate at `step` (0-based): linear warm-up over ceil(ratio · total) steps, then cosine to 0.
double scheduledLr(double base, int step, int total, double warmupRatio);

// Trains `params` (all must require grad). Returns Finished, Cancelled, Diverged (non-finite loss or gradient)
// or Failed (an exception anywhere in a step, e.g. out of memory), with the steps applied; it never throws out of a
// step, so the caller always gets to save. On every stop the weights are those of the last completed step — except
// when the optimiser's update itself threw, which the message says.
// `afterStep(stepsDone)`, when given, runs after every applied step (intermediate checkpoints, curve evaluations);
// an exception from it (or from `progress`) ends the loop as Cancelled when `cancel` is set, else as Failed.
se::engine::RunResult runTrainingLoop(const std::vector<torch::Tensor> &params, const LoopSettings &settings,
                                      const MicroStepFn &microStep, const se::engine::ProgressFn &progress,
                                      const se::engine::CancelToken *cancel,
                                      const std::function<void(int)> &afterStep = {});

// Scoped bf16 autocast for CUDA that compiles against LibTorch 1.13 and 2.x.
class AutocastScope
{
public:
    explicit AutocastScope(bool enable);
    ~AutocastScope();
    AutocastScope(const AutocastScope &) = delete;
    AutocastScope &operator=(const AutocastScope &) = delete;

private:
    bool m_on;
};

} // namespace se::unlearn
