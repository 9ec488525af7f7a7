#include "tests/fuzz/modeltargets.h"

#include "core/model/hfweights.h"
#include "core/model/llava.h"
#include "core/model/qwen2vl.h"
#include "core/model/safetensors.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace se::fuzz {

int safetensorsFile(const std::uint8_t *data, std::size_t size)
{
    try {
        (void)se::model::parseSafeTensors(std::string(reinterpret_cast<const char *>(data), size), "fuzz.safetensors");
    } catch (const std::runtime_error &) {
    }
    return 0;
}

int llavaConfig(const std::uint8_t *data, std::size_t size)
{
    try {
        (void)se::model::LlavaConfig::fromJson(std::string(reinterpret_cast<const char *>(data), size), "config.json");
    } catch (const std::runtime_error &) {
    }
    return 0;
}

int qwen2VlConfig(const std::uint8_t *data, std::size_t size)
{
    try {
        (void)se::model::Qwen2VlConfig::fromJson(std::string(reinterpret_cast<const char *>(data), size),
                                                 "config.json");
    } catch (const std::runtime_error &) {
    }
    return 0;
}

namespace {
// A model folder of this process (made once) with one real shard; the input becomes its index.
const std::string &folder()
{
    static const std::string dir = [] {
        char tmpl[] = "/tmp/se-fuzz-index-XXXXXX";
        const char *d = ::mkdtemp(tmpl);
        if (!d)
            std::abort();
        se::model::SafeTensors st;
        st.tensors.emplace_back("w", torch::ones({2, 3}));
        se::model::writeSafeTensors(std::string(d) + "/model-00001-of-00001.safetensors", st);
        return std::string(d);
    }();
    return dir;
}
} // namespace

int shardIndex(const std::uint8_t *data, std::size_t size)
{
    {
        std::ofstream out(folder() + "/model.safetensors.index.json", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char *>(data), std::streamsize(size));
    }
    try {
        se::model::HfWeights w(folder());
        for (const auto &n : w.names())
            (void)w.fileOf(n);
    } catch (const std::runtime_error &) {
    }
    return 0;
}

const std::vector<Target> &modelTargets()
{
    static const std::vector<Target> all = {{"safetensors", safetensorsFile},
                                            {"llavaconfig", llavaConfig},
                                            {"qwen2vlconfig", qwen2VlConfig},
                                            {"shardindex", shardIndex}};
    return all;
}

} // namespace se::fuzz
