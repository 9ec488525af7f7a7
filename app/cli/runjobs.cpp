#include "app/cli/runjobs.h"
#include "core/util/defaults.h"

#include "core/store/runstore.h"
#include "core/unlearn/method.h"
#include "core/util/rendezvous.h"

#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char **environ;

namespace se::cli {

namespace {
namespace fs = std::filesystem;

struct Child {
    std::size_t index = 0;
    std::chrono::steady_clock::time_point started;
};

std::string sqlQuoted(const std::string &s)
{
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

// The last `n` lines of a file (a failed run's log says why).
std::string tail(const std::string &path, int n)
{
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
        lines.push_back(l);
    std::string out;
    for (std::size_t i = lines.size() > std::size_t(n) ? lines.size() - std::size_t(n) : 0; i < lines.size(); ++i)
        out += "    " + lines[i] + "\n";
    return out;
}

// Starts `safeeraser run --config CONFIG --store PART …` with stdout and stderr going to LOG.
pid_t spawnRun(const std::string &config, const std::string &part, const std::string &log, const SweepOptions &o)
{
    std::vector<std::string> args = {"safeeraser", "run", "--config",  config,
                                     "--store",    part,  "--threads", std::to_string(o.threads)};
    if (o.profile)
        args.push_back("--profile");
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    // A process group of its own: a Ctrl-C at the terminal reaches this process alone, which asks each run once.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = 0;
    // A run is one process even when this one was started as a rank (srun -n N, torchrun): it must not join a group.
    auto env = se::dist::singleProcessEnvironment(environ);
    std::vector<char *> envp;
    for (auto &e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("cannot start a run process: " + std::string(std::strerror(rc)));
    return pid;
}

// A run's relative cost, to start the longest first: forward-and-backward passes of the policy per micro-step (about
// three forward passes' work each) and forward passes of the frozen reference (KL's on retain batches, NPO's and
// DPO's on forget batches). Measured on the 300-record benchmark, the twelve runs' times follow it within about 20%.
double estimatedCost(const se::engine::RunRequest &r)
{
    const auto &m = se::unlearn::methodInfo(r.unlearn.method);
    const int policy = m.forgetPasses + (m.retain ? 1 : 0) + (m.kl ? 1 : 0) + (r.unlearn.pd ? 1 : 0);
    const int reference = (m.reference && !m.kl ? m.forgetPasses : 0) + (m.kl ? 1 : 0);
    return 3.0 * policy + reference;
}

} // namespace

std::vector<std::size_t> startOrder(const std::vector<SweepRun> &runs)
{
    std::vector<std::size_t> order(runs.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return estimatedCost(runs[a].request) > estimatedCost(runs[b].request);
    });
    return order;
}

int runSweep(const std::vector<SweepRun> &runs, const SweepOptions &o, const std::function<bool()> &cancelled)
{
    const fs::path dir = o.store + ".parts";
    fs::create_directories(dir);
    std::vector<std::string> parts, logs;
    {
        se::store::RunStore main(o.store, true);
        for (const auto &r : runs) {
            const std::string part = (dir / (r.label + ".sqlite")).string();
            for (const auto &old : {part, part + "-wal", part + "-shm"})
                fs::remove(old);
            fs::remove_all(se::runModelsDir(part));
            main.statement("VACUUM INTO " + sqlQuoted(part)).run(); // with the vanilla evaluation, to reuse
            se::engine::RunRequest q = r.request;
            q.storePath = part;
            std::ofstream(part + ".json") << se::engine::requestToJson(q);
            parts.push_back(part);
            logs.push_back(part + ".log");
        }
    }
    std::map<pid_t, Child> running;
    std::vector<int> exitCodes(runs.size(), -1);
    // The longest runs first, so that the last one to start is a short one and the cores finish together; the merge
    // below keeps the sweep's order whatever the order of starting.
    const std::vector<std::size_t> order = startOrder(runs);
    std::size_t next = 0;
    bool stopping = false;
    while ((!stopping && next < runs.size()) || !running.empty()) {
        while (!stopping && next < runs.size() && int(running.size()) < o.jobs) {
            const std::size_t i = order[next];
            const pid_t pid = spawnRun(parts[i] + ".json", parts[i], logs[i], o);
            running[pid] = {i, std::chrono::steady_clock::now()};
            if (!o.quiet)
                std::fprintf(stderr, "[reproduce] %s started (log %s)\n", runs[i].label.c_str(), logs[i].c_str());
            ++next;
        }
        if (!stopping && cancelled()) {
            stopping = true;
            for (const auto &[pid, child] : running)
                kill(pid, SIGINT);
        }
        int status = 0;
        const pid_t done = waitpid(-1, &status, running.empty() ? 0 : WNOHANG);
        if (done <= 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        const auto it = running.find(done);
        if (it == running.end())
            continue;
        const Child child = it->second;
        running.erase(it);
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        exitCodes[child.index] = code;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - child.started).count();
        if (code == 0) {
            if (!o.quiet)
                std::fprintf(stderr, "[reproduce] %s finished in %.0f s\n", runs[child.index].label.c_str(), secs);
        } else {
            std::fprintf(stderr, "[reproduce] %s ended with status %d after %.0f s; the end of %s:\n%s",
                         runs[child.index].label.c_str(), code, secs, logs[child.index].c_str(),
                         tail(logs[child.index], 5).c_str());
        }
    }
    // Merged in the sweep's order, so the ids are the same whatever order the runs ended in.
    se::store::RunStore main(o.store);
    int failures = 0;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        failures += exitCodes[i] != 0;
        std::error_code ec;
        if (fs::exists(parts[i], ec))
            main.mergeFrom(parts[i]);
    }
    return failures;
}

} // namespace se::cli
