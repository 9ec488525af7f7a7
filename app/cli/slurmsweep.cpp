#include "app/cli/slurmsweep.h"
#include "core/util/defaults.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace se::cli {

namespace {
namespace fs = std::filesystem;
using se::store::runProgram;
using se::store::SlurmSubmission;

std::string shellQuoted(const std::string &s)
{
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// `sbatch --parsable` prints "JOBID" or "JOBID;CLUSTER".
std::string submit(const SlurmOptions &o, const std::vector<std::string> &extra, const std::string &script)
{
    std::vector<std::string> args = {o.sbatch, "--parsable"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(script);
    const auto r = runProgram(args);
    if (r.code != 0)
        throw std::runtime_error("sbatch " + script + " failed (status " + std::to_string(r.code) +
                                 "): " + se::store::trimEnd(r.err.empty() ? r.out : r.err));
    std::string id = se::store::trimEnd(r.out);
    id = id.substr(0, id.find(';'));
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
        throw std::runtime_error("sbatch " + script + " printed no job id: " + se::store::trimEnd(r.out));
    return id;
}

// The header lines every job of the sweep has.
std::string header(const SlurmOptions &o, const std::string &name, const std::string &output)
{
    std::string h = "#!/bin/bash\n#SBATCH --job-name=" + name + "\n#SBATCH --output=" + output +
                    "\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=" + std::to_string(o.cpusPerRun) + "\n";
    if (!o.partition.empty())
        h += "#SBATCH --partition=" + o.partition + "\n";
    if (!o.time.empty())
        h += "#SBATCH --time=" + o.time + "\n";
    if (o.gpusPerRun > 0)
        h += "#SBATCH --gpus=" + std::to_string(o.gpusPerRun) + "\n";
    return h + "set -euo pipefail\n";
}
} // namespace

SlurmSubmission submitSweep(const std::vector<SweepRun> &runs, const se::engine::RunRequest &vanillaRequest,
                            const std::string &store, const SlurmOptions &o)
{
    if (runs.empty())
        throw std::runtime_error("no runs to submit");
    // Before any file is replaced: sbatch must be there and answer.
    if (const auto v = runProgram({o.sbatch, "--version"}); v.code != 0)
        throw std::runtime_error(o.sbatch + " --version failed (status " + std::to_string(v.code) +
                                 "): " + se::store::trimEnd(v.err.empty() ? v.out : v.err));
    const fs::path dir = se::store::sweepPartsDir(store);
    fs::create_directories(dir);
    const std::string exe = shellQuoted(o.executable), main = shellQuoted(fs::absolute(store).string());
    SlurmSubmission s;
    s.store = fs::absolute(store).string();
    for (const auto &r : runs) {
        const std::string part = fs::absolute(se::store::sweepPartPath(store, r.label)).string();
        for (const auto &old : {part, part + "-wal", part + "-shm", part + ".log"})
            fs::remove(old);
        fs::remove_all(se::runModelsDir(part));
        se::engine::RunRequest q = r.request;
        q.storePath = part;
        std::ofstream(part + ".json") << se::engine::requestToJson(q);
        s.labels.push_back(r.label);
    }
    const std::string name = "se-" + fs::path(store).stem().string();
    {
        se::engine::RunRequest v = vanillaRequest;
        v.storePath = s.store;
        std::ofstream((dir / "vanilla.json").string()) << se::engine::requestToJson(v);
        std::ofstream script((dir / "vanilla.sbatch").string());
        script << header(o, name + "-vanilla", fs::absolute(dir / "vanilla-%j.out").string())
               << "# The vanilla model's evaluation, made once into the main store (reused when it is there).\n"
               << "exec " << exe << " evaluate --config " << shellQuoted(fs::absolute(dir / "vanilla.json").string())
               << " --store " << main << " --threads " << o.cpusPerRun << "\n";
    }
    {
        std::ofstream script((dir / "sweep.sbatch").string());
        script << header(o, name, fs::absolute(dir / "slurm-%A_%a.out").string()) << "labels=(";
        for (const auto &l : s.labels)
            script << " " << shellQuoted(l);
        script << " )\n"
               << "part=" << shellQuoted(fs::absolute(dir).string()) << "/\"${labels[$SLURM_ARRAY_TASK_ID]}\".sqlite\n"
               << "rm -f \"$part\" \"$part-wal\" \"$part-shm\"\n"
               << "# The main store's runs first (the vanilla evaluation, to reuse), then the run into its own part.\n"
               << exe << " store merge --into \"$part\" " << main << " > \"$part.log\" 2>&1\n"
               << "exec " << exe << " run --config \"$part.json\" --store \"$part\" --threads " << o.cpusPerRun
               << " >> \"$part.log\" 2>&1\n";
    }
    s.vanillaJob = submit(o, {}, (dir / "vanilla.sbatch").string());
    s.arrayJob = submit(o,
                        {"--array=0-" + std::to_string(runs.size() - 1), "--dependency=afterok:" + s.vanillaJob,
                         "--kill-on-invalid-dep=yes"},
                        (dir / "sweep.sbatch").string());
    se::store::writeSubmission(s);
    return s;
}

} // namespace se::cli
