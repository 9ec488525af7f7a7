#include "core/data/pathguard.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
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

namespace {
// A special file's kind from stat(2) (links followed), "" for a regular file or nothing there.
std::string specialKind(const std::string &path, bool *exists = nullptr)
{
    struct stat st {
    };
    const bool there = ::stat(path.c_str(), &st) == 0;
    if (exists)
        *exists = there || errno == ELOOP;
    if (!there)
        return errno == ELOOP ? "a symbolic link loop" : "";
    if (S_ISFIFO(st.st_mode))
        return "a FIFO";
    if (S_ISSOCK(st.st_mode))
        return "a socket";
    if (S_ISCHR(st.st_mode))
        return "a character device";
    if (S_ISBLK(st.st_mode))
        return "a block device";
    if (S_ISDIR(st.st_mode))
        return "a folder";
    return "";
}

bool startsWith(const std::string &s, const char *prefix)
{
    return s.compare(0, std::strlen(prefix), prefix) == 0;
}
} // namespace

std::string existingKind(const std::string &path)
{
    bool exists = false;
    const std::string special = specialKind(path, &exists);
    if (!exists || !special.empty())
        return special;
    std::ifstream in(path, std::ios::binary);
    std::string head(64 * 1024, '\0');
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(std::size_t(in.gcount()));
    if (head.empty())
        return "an empty file";
    if (head.size() >= 16 && head.compare(0, 16, std::string("SQLite format 3\0", 16)) == 0)
        return "a SQLite database";
    if (startsWith(head, "\x89PNG") || startsWith(head, "\xff\xd8\xff") || startsWith(head, "GIF8") ||
        startsWith(head, "BM"))
        return "an image";
    if (head.size() >= 9) { // safetensors: an 8-byte little-endian header length, then the JSON header
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | static_cast<unsigned char>(head[std::size_t(i)]);
        if (head[8] == '{' && n >= 2 && n < (std::uint64_t(1) << 40))
            return "a safetensors file";
    }
    const std::size_t first = head.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && (head[first] == '[' || head[first] == '{')) {
        if (head.find("\"unsafe_pairs\"") != std::string::npos || head.find("\"UnharmPair_text") != std::string::npos)
            return "a benchmark split (JSON)";
        return "a JSON file";
    }
    return "a text file";
}

void refuseReplacingAnotherKind(const std::string &outputRole, const std::string &output, const std::string &writes)
{
    if (output.empty())
        return;
    const std::string kind = existingKind(output);
    if (kind.empty() || kind == "an empty file")
        return;
    bool same = false;
    if (writes == "CSV")
        same = kind == "a text file";
    else if (writes == "JSON")
        same = kind == "a JSON file";
    else if (writes == "safetensors")
        same = kind == "a safetensors file";
    else if (writes == "SQLite")
        same = kind == "a SQLite database";
    if (!same)
        throw std::runtime_error(outputRole + " " + output + " is " + kind + ", not a " + writes +
                                 " file; refusing to replace it — choose another path");
}

void refuseSpecialFile(const std::string &role, const std::string &path)
{
    if (path.empty())
        return;
    const std::string kind = specialKind(path);
    if (!kind.empty())
        throw std::runtime_error(role + " " + path + " is " + kind + ", not a regular file");
}

} // namespace se::data
