// Defaults the whole project shares, each in one place. Plain C++ (no Qt, no LibTorch): any layer may include it.
#pragma once

#include <cstdint>
#include <string>

namespace se {

// SafeEraser's seed (the official scripts' `--seed 233`): every random draw a run, an evaluation, a generated
// benchmark or a probe makes derives from it unless the user gives another.
inline constexpr std::uint64_t kDefaultSeed = 233;

// Where runs of the store `store` write their weights unless told otherwise (run-<id>.safetensors, run-<id>.adapter),
// and where the launcher and `run --train-vanilla` put the vanilla model: "<store>.models".
inline std::string runModelsDir(const std::string &store)
{
    return store + ".models";
}

} // namespace se
