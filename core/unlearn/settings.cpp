// The named training settings (defaults, presets) of engine.h, apart from the engine: torch-free, so that what
// only reads or checks settings (the run configuration, its fuzz target) needs no LibTorch.
#include "core/util/defaults.h"
#include "core/unlearn/engine.h"

#include <stdexcept>

namespace se::engine {

TrainOptions VanillaConfig::defaults()
{
    TrainOptions t;
    t.lr = 2e-3;
    t.steps = 1500;
    t.batchSize = 32;
    t.warmupRatio = 0.03;
    t.weightDecay = 0.01;
    t.loraRank = 0;
    t.progressEvery = 50;
    return t;
}

TrainOptions UnlearnConfig::preset(const std::string &name)
{
    if (name == "default")
        return defaults();
    if (name == "paper") {
        TrainOptions t = defaults();
        t.lr = 1e-4;
        t.steps = 0;
        t.epochs = 10;
        t.warmupRatio = 0.06;
        t.weightDecay = 0.01;
        t.clipNorm = 1.0;
        t.seed = se::kDefaultSeed;
        t.batchSize = 4;
        t.gradAccum = 8;
        t.loraAlpha = 256; // with a rank given for the built-in model; Hugging Face models default to r 32, alpha 256
        t.loraDropout = 0.05;
        t.checkpointLayers = true;
        return t;
    }
    throw std::invalid_argument("unknown preset '" + name + "' (default, paper)");
}

std::vector<std::string> UnlearnConfig::presets()
{
    return {"default", "paper"};
}

TrainOptions UnlearnConfig::defaults()
{
    // Measured on the bundled benchmark (README, "The paper's finding"): 150 steps at 5e-4 leave PO's refusals
    // half-learnt — greedy decoding refuses, but sampling at temperature 1.0 (the paper's evaluation) mixes
    // refusals into garbled text about 40% of the time; 300 steps at 1e-3 refuse under sampling too.
    TrainOptions t;
    t.lr = 1e-3;
    t.steps = 300;
    t.batchSize = 32;
    t.warmupRatio = 0.06;
    t.weightDecay = 0.01;
    t.progressEvery = 10;
    return t;
}

} // namespace se::engine
