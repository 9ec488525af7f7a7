#include "core/util/rendezvous.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace se::dist {

namespace {

std::string show(const char *v)
{
    return v ? "'" + std::string(v) + "'" : "unset";
}

long wholeNumber(const char *name, const char *v, long lo, long hi)
{
    if (!v || !*v)
        throw std::runtime_error("environment variable " + std::string(name) + " is " + (v ? "empty" : "unset") +
                                 "; it must be a whole number");
    char *end = nullptr;
    errno = 0;
    const long n = std::strtol(v, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        throw std::runtime_error("environment variable " + std::string(name) + " is " + show(v) +
                                 ", not a whole number");
    if (n < lo || n > hi)
        throw std::runtime_error("environment variable " + std::string(name) + " is " + show(v) + "; it must be " +
                                 std::to_string(lo) + "…" + std::to_string(hi));
    return n;
}

// One element of a node list: "node[01-03,7]" or "gpu5"; the bracket holds ranges that keep their zero padding.
void expandOne(const std::string &item, std::vector<std::string> &out, const std::string &list)
{
    const auto open = item.find('[');
    if (open == std::string::npos) {
        out.push_back(item);
        return;
    }
    const auto close = item.find(']', open);
    if (close == std::string::npos)
        throw std::runtime_error("Slurm node list '" + list + "': '[' without ']' in " + item);
    const std::string prefix = item.substr(0, open), suffix = item.substr(close + 1);
    if (suffix.find('[') != std::string::npos)
        throw std::runtime_error("Slurm node list '" + list + "': more than one range in " + item);
    const std::string ranges = item.substr(open + 1, close - open - 1);
    std::size_t from = 0;
    while (from <= ranges.size()) {
        const auto comma = ranges.find(',', from);
        const std::string r = ranges.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        const auto dash = r.find('-');
        const std::string a = r.substr(0, dash), b = dash == std::string::npos ? a : r.substr(dash + 1);
        if (a.empty() || b.empty() || a.find_first_not_of("0123456789") != std::string::npos ||
            b.find_first_not_of("0123456789") != std::string::npos || a.size() > 9 || b.size() > 9)
            throw std::runtime_error("Slurm node list '" + list + "': '" + r + "' is not a number or a range");
        const long lo = std::stol(a), hi = std::stol(b);
        if (hi < lo || hi - lo > 100000)
            throw std::runtime_error("Slurm node list '" + list + "': range '" + r + "' runs backwards or is too long");
        for (long n = lo; n <= hi; ++n) {
            std::string digits = std::to_string(n);
            if (digits.size() < a.size())
                digits.insert(0, a.size() - digits.size(), '0');
            out.push_back(prefix + digits + suffix);
        }
        if (comma == std::string::npos)
            break;
        from = comma + 1;
    }
}

} // namespace

std::vector<std::string> expandSlurmNodeList(const std::string &list)
{
    std::vector<std::string> out;
    std::string item;
    int depth = 0;
    for (char c : list) {
        if (c == '[')
            ++depth;
        else if (c == ']')
            --depth;
        if (c == ',' && depth == 0) {
            if (!item.empty())
                expandOne(item, out, list);
            item.clear();
        } else {
            item += c;
        }
    }
    if (!item.empty())
        expandOne(item, out, list);
    return out;
}

std::vector<std::string> singleProcessEnvironment(const char *const *env)
{
    static const char *const rankVariables[] = {"RANK",         "WORLD_SIZE",   "LOCAL_RANK", "SLURM_STEP_NUM_TASKS",
                                                "SLURM_PROCID", "SLURM_LOCALID"};
    std::vector<std::string> out;
    for (; env && *env; ++env) {
        const std::string entry = *env;
        const std::string name = entry.substr(0, entry.find('='));
        bool drop = false;
        for (const char *v : rankVariables)
            drop = drop || name == v;
        if (!drop)
            out.push_back(entry);
    }
    return out;
}

std::string Rendezvous::describe() const
{
    if (!distributed())
        return "one process";
    return "rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + " (" + launcher + ", master " +
           masterAddr + ":" + std::to_string(masterPort) + ")";
}

Rendezvous rendezvousFromEnvironment(const EnvFn &getIn)
{
    const EnvFn get = getIn ? getIn : EnvFn([](const char *n) { return std::getenv(n); });
    Rendezvous r;
    auto port = [&](long fallback) {
        const char *p = get("MASTER_PORT");
        return p ? int(wholeNumber("MASTER_PORT", p, 1, 65535)) : int(fallback);
    };
    if (const char *ws = get("WORLD_SIZE")) {
        r.launcher = "torchrun";
        r.worldSize = int(wholeNumber("WORLD_SIZE", ws, 1, 65536));
        r.rank = int(wholeNumber("RANK", get("RANK"), 0, r.worldSize - 1));
        const char *local = get("LOCAL_RANK");
        r.localRank = local ? int(wholeNumber("LOCAL_RANK", local, 0, r.worldSize - 1)) : 0;
        if (r.worldSize > 1) {
            const char *addr = get("MASTER_ADDR");
            if (!addr || !*addr)
                throw std::runtime_error("environment variable MASTER_ADDR is " + show(addr) + "; with WORLD_SIZE " +
                                         std::to_string(r.worldSize) + " it must name the host of rank 0");
            r.masterAddr = addr;
        }
        r.masterPort = port(29500);
        return r;
    }
    // A Slurm job step (srun): SLURM_STEP_NUM_TASKS is set there and not in the batch script itself, where the
    // single process that runs is no rank of anything.
    const char *tasks = get("SLURM_STEP_NUM_TASKS");
    if (!tasks)
        return r;
    r.launcher = "slurm";
    r.worldSize = int(wholeNumber("SLURM_STEP_NUM_TASKS", tasks, 1, 65536));
    r.rank = int(wholeNumber("SLURM_PROCID", get("SLURM_PROCID"), 0, r.worldSize - 1));
    const char *local = get("SLURM_LOCALID");
    r.localRank = local ? int(wholeNumber("SLURM_LOCALID", local, 0, r.worldSize - 1)) : 0;
    if (const char *addr = get("MASTER_ADDR"); addr && *addr) {
        r.masterAddr = addr;
    } else {
        const char *nodes = get("SLURM_STEP_NODELIST");
        const char *which = "SLURM_STEP_NODELIST";
        if (!nodes) {
            nodes = get("SLURM_JOB_NODELIST");
            which = "SLURM_JOB_NODELIST";
        }
        if (!nodes || !*nodes)
            throw std::runtime_error("environment variable SLURM_STEP_NODELIST is unset (and SLURM_JOB_NODELIST too); "
                                     "set MASTER_ADDR to the host of rank 0");
        const auto hosts = expandSlurmNodeList(nodes);
        if (hosts.empty())
            throw std::runtime_error("environment variable " + std::string(which) + " is " + show(nodes) +
                                     ", which names no host");
        r.masterAddr = hosts.front();
    }
    // Concurrent jobs on one node must not meet on one port: without MASTER_PORT, the port comes from the job id.
    const char *job = get("SLURM_JOB_ID");
    const long jobId = job ? wholeNumber("SLURM_JOB_ID", job, 0, 1L << 40) : 0;
    r.masterPort = port(20000 + jobId % 20000);
    return r;
}

} // namespace se::dist
