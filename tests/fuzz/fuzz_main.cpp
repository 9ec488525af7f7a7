// libFuzzer entry point of one target, chosen at compile time: -DSE_FUZZ_TARGET=split (see scripts/fuzz.sh);
// -DSE_FUZZ_MODEL adds the model-file targets (modeltargets.h, linked with LibTorch).
#include "tests/fuzz/targets.h"
#ifdef SE_FUZZ_MODEL
#include "tests/fuzz/modeltargets.h"
#endif

#include <cstring>

#define SE_STR2(x) #x
#define SE_STR(x) SE_STR2(x)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static const auto *target = [] {
        std::vector<se::fuzz::Target> all = se::fuzz::targets();
#ifdef SE_FUZZ_MODEL
        for (const auto &t : se::fuzz::modelTargets())
            all.push_back(t);
#endif
        for (const auto &t : all)
            if (std::strcmp(t.name, SE_STR(SE_FUZZ_TARGET)) == 0)
                return new se::fuzz::Target(t);
        __builtin_trap();
    }();
    return target->run(data, size);
}
