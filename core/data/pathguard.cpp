#include "core/data/pathguard.h"

#include <filesystem>
#include <stdexcept>
#include <sys/stat.h>

namespace se::data {

namespace fs = std::filesystem;

namespace {
fs::path normal(const std::string &p)
{
    std::error_code ec;
    fs::path n = fs::weakly_canonical(fs::absolute(p, ec), ec); // resolves the links of the part that exists
    if (ec)
        n = fs::absolute(p).lexically_normal();
    return n;
}
} // namespace

bool samePath(const std::string &a, const std::string &b)
{
    if (a.empty() || b.empty())
        return false;
    struct stat sa {
    }, sb{};
    if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return normal(a) == normal(b);
}

bool insidePath(const std::string &inner, const std::string &outer)
{
    if (inner.empty() || outer.empty())
        return false;
    const fs::path i = normal(inner), o = normal(outer);
    auto ii = i.begin();
    for (auto oi = o.begin(); oi != o.end(); ++oi, ++ii) {
        if (oi->empty()) // a trailing separator
            continue;
        if (ii == i.end() || *ii != *oi)
            return false;
    }
    return true;
}

void refuseWritingOverInputs(const std::string &outputRole, const std::string &output,
                             const std::vector<std::pair<std::string, std::string>> &inputs)
{
    if (output.empty())
        return;
    for (const auto &entry : inputs) {
        const std::string &role = entry.first, &input = entry.second; // (clang 14 cannot capture bindings)
        if (input.empty())
            continue;
        auto refuse = [&](const std::string &how) {
            throw std::runtime_error(outputRole + " " + output + " " + how + " " + role + " (" + input +
                                     "); refusing to write over an input — choose another path");
        };
        if (samePath(output, input))
            refuse("is the");
        if (insidePath(input, output))
            refuse("is a folder holding the");
        std::error_code ec;
        if (fs::is_directory(input, ec) && fs::exists(output, ec) && insidePath(output, input))
            refuse("is a file of the"); // a split file of the benchmark, a model folder's shard…
        for (const char *sidecar : {"-journal", "-wal", "-shm"})
            if (samePath(output, input + sidecar))
                refuse(std::string("is the ") + sidecar + " file of the");
    }
}

} // namespace se::data
