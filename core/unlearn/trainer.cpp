#include "core/unlearn/trainer.h"

#include "core/unlearn/dataparallel.h"

#include <ATen/autocast_mode.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <dlfcn.h>
#include <fstream>
#include <string>
#include <unistd.h>
#include <thread>
#include <torch/version.h>

namespace se::unlearn {

using se::engine::RunResult;
using se::engine::RunStatus;

AutocastScope::AutocastScope(bool enable) : m_on(enable)
{
    if (!m_on)
        return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
}

AutocastScope::~AutocastScope()
{
    if (!m_on)
        return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
}

double scheduledLr(double base, int step, int total, double warmupRatio)
{
    const int warm = static_cast<int>(std::ceil(warmupRatio * total));
    if (step < warm)
        return base * (step + 1) / (warm + 1.0);
    const double span = std::max(1, total - warm);
    const double progress = std::min(1.0, (step - warm) / span);
    return base * 0.5 * (1.0 + std::cos(M_PI * progress));
}

MicroCursor::MicroCursor(int gradAccum)
{
    const auto *dp = DataParallel::current();
    m_perStep = static_cast<long long>(std::max(1, gradAccum)) * (dp ? dp->size() : 1);
}

int MicroCursor::skipBefore(int step, int micro)
{
    const long long at = step * m_perStep + micro;
    if (m_next < 0)
        m_next = step * m_perStep;
    if (at < m_next)
        throw std::logic_error("micro-batches asked for out of order");
    const long long skip = at - m_next;
    m_next = at + 1;
    return static_cast<int>(skip);
}

RunResult runTrainingLoop(const std::vector<torch::Tensor> &params, const LoopSettings &s, const MicroStepFn &microStep,
                          const se::engine::ProgressFn &progress, const se::engine::CancelToken *cancel,
                          const std::function<void(int)> &afterStep)
{
    using Clock = std::chrono::steady_clock;
    RunResult r;
    r.status = RunStatus::Finished;
    DataParallel *dp = DataParallel::current();
    const int world = dp ? dp->size() : 1, rank = dp ? dp->rank() : 0;
    if (dp) {
        // Rank 0 evaluated the vanilla model meanwhile; then every rank starts from its weights.
        try {
            dp->meet("before training");
            dp->broadcastFromRank0(params);
        } catch (const std::exception &e) {
            r.status = RunStatus::Failed;
            r.message = e.what();
            r.steps = std::max(0, s.startStep);
            return r;
        }
    }
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(s.lr).weight_decay(s.weightDecay));
    const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
    se::model::resetPeakMemory(device);
    std::vector<double> stepSeconds; // of each step taken, for the median the report gives
    const auto start = Clock::now();
    double pausedSeconds = 0;
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count() - pausedSeconds; };

    r.steps = std::max(0, s.startStep);
    for (int step = r.steps; step < s.totalSteps; ++step) {
        if (cancel) {
            if (cancel->paused()) {
                const auto p0 = Clock::now();
                cancel->setHolding(true);
                while (cancel->paused() && !cancel->cancelled())
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                cancel->setHolding(false);
                pausedSeconds += std::chrono::duration<double>(Clock::now() - p0).count();
            }
            // Data-parallel: a cancellation is agreed on after the step's micro-batches (below), so that every rank
            // stops after the same step.
            if (cancel->cancelled() && !dp) {
                r.status = RunStatus::Cancelled;
                r.message = "cancelled after step " + std::to_string(step);
                break;
            }
        }
        const auto stepStart = Clock::now();
        const double lr = scheduledLr(s.lr, step, s.totalSteps, s.warmupRatio);
        for (auto &g : opt.param_groups())
            static_cast<torch::optim::AdamWOptions &>(g.options()).lr(lr);
        opt.zero_grad();

        // One error boundary around the whole step: whatever throws (a micro-step, .item(), backward, clipping, the
        // optimiser, the progress callback, the after-step hook and the curve evaluation it runs), the loop ends with
        // a status and a message, and the caller saves the weights as they are and records that status.
        enum class Stage { Before, Updating, After } stage = Stage::Before;
        auto fail = [&](const std::string &what) {
            if (cancel && cancel->cancelled()) { // a cancellation seen inside a callback (an evaluation) throws
                r.status = RunStatus::Cancelled;
                r.message = "cancelled after step " + std::to_string(r.steps);
                return;
            }
            r.status = RunStatus::Failed;
            switch (stage) {
            case Stage::Before:
                r.message = "step " + std::to_string(step + 1) + ": " + what + "; keeping the weights of step " +
                            std::to_string(step);
                break;
            case Stage::Updating:
                r.message = "step " + std::to_string(step + 1) + " (optimiser update): " + what +
                            "; the saved weights may be partly updated by this step";
                break;
            case Stage::After:
                r.message = "after step " + std::to_string(r.steps) + ": " + what;
                break;
            }
        };
        try {
            std::vector<std::pair<std::string, double>> losses;
            bool bad = false;
            for (int micro = 0; micro < s.gradAccum && !bad; ++micro) {
                StepOutput out;
                {
                    AutocastScope autocast(s.bf16Autocast);
                    out = microStep(step, micro * world + rank);
                }
                const double total = out.total.item<double>();
                if (!std::isfinite(total)) {
                    std::string which;
                    for (const auto &t : out.terms)
                        if (!std::isfinite(t.second.item<double>()))
                            which += (which.empty() ? "" : ", ") + t.first;
                    r.status = RunStatus::Diverged;
                    r.message = "loss is " + std::string(std::isnan(total) ? "NaN" : "infinite") + " at step " +
                                std::to_string(step + 1) + (which.empty() ? "" : " (" + which + ")") +
                                "; stopped, keeping the weights of step " + std::to_string(step);
                    bad = true;
                    break;
                }
                (out.total / s.gradAccum).backward();
                auto add = [&](const std::string &name, double v) {
                    for (auto &l : losses)
                        if (l.first == name) {
                            l.second += v / s.gradAccum;
                            return;
                        }
                    losses.emplace_back(name, v / s.gradAccum);
                };
                add("total", total);
                for (const auto &t : out.terms)
                    add(t.first, t.second.item<double>());
            }
            if (dp) {
                // Every rank learns whether any stopped, then the losses and gradients are averaged over the ranks;
                // the clipping and the update below are then the same everywhere.
                const bool stop = cancel && cancel->cancelled();
                const auto flags = dp->sum({bad ? 1.0 : 0.0, stop ? 1.0 : 0.0});
                if (flags[1] > 0 && !bad) {
                    r.status = RunStatus::Cancelled;
                    r.message = "cancelled after step " + std::to_string(step);
                    opt.zero_grad();
                    break;
                }
                if (flags[0] > 0 && !bad) {
                    r.status = RunStatus::Diverged;
                    r.message = "loss is not finite on another data-parallel rank at step " + std::to_string(step + 1) +
                                "; stopped, keeping the weights of step " + std::to_string(step);
                    bad = true;
                }
                if (!bad) {
                    std::vector<double> values;
                    for (const auto &l : losses)
                        values.push_back(l.second);
                    const auto mean = dp->sum(values);
                    for (std::size_t i = 0; i < losses.size(); ++i)
                        losses[i].second = mean[i] / world;
                    dp->averageGradients(params);
                }
            }
            if (!bad) {
                const double norm = s.clipNorm > 0 ? torch::nn::utils::clip_grad_norm_(params, s.clipNorm)
                                                   : torch::nn::utils::clip_grad_norm_(params, 1e30);
                if (!std::isfinite(norm)) {
                    r.status = RunStatus::Diverged;
                    r.message = "gradient is not finite at step " + std::to_string(step + 1) +
                                "; stopped, keeping the weights of step " + std::to_string(step);
                    bad = true;
                }
            }
            if (bad) {
                opt.zero_grad();
                break;
            }
            stage = Stage::Updating;
            opt.step();
            const double took = std::chrono::duration<double>(Clock::now() - stepStart).count();
            stepSeconds.push_back(took);
            if (dp)
                dp->noteStep(took);
            stage = Stage::After;
            r.steps = step + 1;
            if (step == s.startStep)
                r.firstLosses = losses;
            r.lastLosses = losses;
            if (progress && (r.steps % std::max(1, s.progressEvery) == 0 || r.steps == s.totalSteps ||
                             r.steps == s.startStep + 1)) {
                se::engine::Progress p;
                p.phase = s.phase;
                p.step = r.steps;
                p.totalSteps = s.totalSteps;
                p.epoch = step / std::max(1, s.stepsPerEpoch) + 1;
                p.losses = losses;
                p.lr = lr;
                p.elapsedSeconds = elapsed();
                const int done = r.steps - s.startStep; // steps taken in this process (a resumed run did some before)
                p.samplesPerSecond = p.elapsedSeconds > 0
                                         ? done * double(s.gradAccum) * world * s.samplesPerMicroStep / p.elapsedSeconds
                                         : 0;
                p.etaSeconds = p.elapsedSeconds / std::max(1, done) * (s.totalSteps - r.steps);
                p.memoryInUse = deviceMemory(device).used;
                progress(p);
            }
            if (afterStep)
                afterStep(r.steps);
            if (dp && s.meetEvery > 0 && r.steps % s.meetEvery == 0 && r.steps != s.totalSteps)
                dp->meet("after step " + std::to_string(r.steps));
        } catch (const c10::Error &e) {
            fail(e.what_without_backtrace());
            if (stage == Stage::Before)
                opt.zero_grad();
            break;
        } catch (const std::exception &e) {
            fail(e.what());
            if (stage == Stage::Before)
                opt.zero_grad();
            break;
        }
    }
    r.seconds = elapsed();
    // The first step pays for lazy set-up (allocations, kernel choices): the median of the others where there are.
    if (stepSeconds.size() > 1)
        stepSeconds.erase(stepSeconds.begin());
    if (!stepSeconds.empty()) {
        std::nth_element(stepSeconds.begin(), stepSeconds.begin() + long(stepSeconds.size() / 2), stepSeconds.end());
        r.medianStepSeconds = stepSeconds[stepSeconds.size() / 2];
    }
    r.peakMemory = se::model::peakMemory(device, &r.peakMemoryWhat);
    return r;
}

} // namespace se::unlearn
