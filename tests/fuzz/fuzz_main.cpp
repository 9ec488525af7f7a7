// libFuzzer entry point of one target, chosen at compile time: -DSE_FUZZ_TARGET=split (see scripts/fuzz.sh).
#include "tests/fuzz/targets.h"

#include <cstring>

#define SE_STR2(x) #x
#define SE_STR(x) SE_STR2(x)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static const auto *target = [] {
        for (const auto &t : se::fuzz::targets())
            if (std::strcmp(t.name, SE_STR(SE_FUZZ_TARGET)) == 0)
                return &t;
        __builtin_trap();
    }();
    return target->run(data, size);
}
