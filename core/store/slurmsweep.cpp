#include "core/store/slurmsweep.h"

#include "core/store/runstore.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace se::store {

namespace {
namespace fs = std::filesystem;
using nlohmann::json;

} // namespace

std::string trimEnd(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    return s;
}

ProgramResult runProgram(const std::vector<std::string> &args)
{
    int outPipe[2], errPipe[2];
    if (pipe(outPipe) != 0 || pipe(errPipe) != 0)
        throw std::runtime_error("cannot create a pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, outPipe[0]);
    posix_spawn_file_actions_addclose(&actions, errPipe[0]);
    std::vector<std::string> copy = args;
    std::vector<char *> argv;
    for (auto &a : copy)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(outPipe[1]);
    close(errPipe[1]);
    ProgramResult r;
    if (rc != 0) {
        close(outPipe[0]);
        close(errPipe[0]);
        throw std::runtime_error("cannot run " + args.front() + ": " + std::strerror(rc) +
                                 (rc == ENOENT ? " (is Slurm installed here? sbatch and squeue must be in PATH)" : ""));
    }
    pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
    int open = 2;
    char buf[4096];
    while (open > 0) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            const ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? r.out : r.err).append(buf, std::size_t(n));
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

std::string sweepPartsDir(const std::string &store)
{
    return store + ".parts";
}

std::string sweepPartPath(const std::string &store, const std::string &label)
{
    return (fs::path(sweepPartsDir(store)) / (label + ".sqlite")).string();
}

void writeSubmission(const SlurmSubmission &s)
{
    const json j = {{"store", s.store}, {"vanilla_job", s.vanillaJob}, {"array_job", s.arrayJob}, {"labels", s.labels}};
    const std::string file = (fs::path(sweepPartsDir(s.store)) / "slurm.json").string();
    std::ofstream out(file);
    out << j.dump(2) << "\n";
    if (!out)
        throw std::runtime_error(file + ": cannot write the submission");
}

SlurmSubmission readSubmission(const std::string &store)
{
    const std::string file = (fs::path(sweepPartsDir(store)) / "slurm.json").string();
    std::ifstream in(file);
    if (!in)
        throw std::runtime_error(file + ": no Slurm submission here (submit one with reproduce --slurm)");
    try {
        const json j = json::parse(in);
        SlurmSubmission s;
        s.store = j.at("store").get<std::string>();
        s.vanillaJob = j.at("vanilla_job").get<std::string>();
        s.arrayJob = j.at("array_job").get<std::string>();
        s.labels = j.at("labels").get<std::vector<std::string>>();
        return s;
    } catch (const json::exception &e) {
        throw std::runtime_error(file + ": " + e.what());
    }
}

std::vector<TaskState> sweepState(const SlurmSubmission &s, const std::string &squeue, std::string *squeueNote)
{
    // Slurm's view of the array tasks still queued or running (a job it no longer knows is not an error here).
    std::map<std::string, std::string> queued;
    ProgramResult q;
    try {
        q = runProgram({squeue, "-h", "-r", "-j", s.arrayJob, "-o", "%K|%T"});
    } catch (const std::exception &e) {
        q.err = e.what();
    }
    if (squeueNote)
        *squeueNote = q.code == 0 ? std::string() : "squeue: " + trimEnd(q.err.empty() ? q.out : q.err);
    if (q.code == 0) {
        std::istringstream lines(q.out);
        for (std::string l; std::getline(lines, l);)
            if (const auto bar = l.find('|'); bar != std::string::npos)
                queued[l.substr(0, bar)] = trimEnd(l.substr(bar + 1));
    }
    std::vector<TaskState> out;
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
        TaskState t;
        t.label = s.labels[i];
        const std::string part = sweepPartPath(s.store, t.label);
        std::string status;
        std::error_code ec;
        if (fs::exists(part, ec)) {
            try {
                RunStore st(part, true);
                for (const auto &r : st.runs())
                    if (r.method != "vanilla")
                        status = statusName(r.status);
            } catch (const std::exception &) {
                status.clear(); // being written: its task is the authority
            }
        }
        if (const auto it = queued.find(std::to_string(i)); it != queued.end()) {
            t.state = it->second;
        } else if (!status.empty() && status != "running" && status != "queued") {
            t.state = status;
            t.ended = true;
        } else if (!status.empty()) {
            t.state = "stopped while " + status + " (not in Slurm's queue any more: killed, or past its time limit)";
        } else {
            t.state = "missing (not in Slurm's queue, no run in " + part + ")";
        }
        out.push_back(t);
    }
    return out;
}

int collectSweep(const SlurmSubmission &s, const std::vector<TaskState> &states)
{
    RunStore main(s.store);
    int merged = 0;
    for (const auto &t : states)
        if (t.ended)
            merged += main.mergeFrom(sweepPartPath(s.store, t.label));
    return merged;
}

std::string uncollectedSweep(const std::string &store, const std::string &squeue)
{
    std::error_code ec;
    if (!fs::exists(fs::path(sweepPartsDir(store)) / "slurm.json", ec))
        return {};
    const SlurmSubmission s = readSubmission(store);
    std::vector<std::string> inMain;
    if (fs::exists(s.store, ec)) {
        RunStore main(s.store, true);
        for (const auto &r : main.runs())
            inMain.push_back(r.uid);
    }
    std::vector<std::string> waiting, uncollected;
    for (const auto &t : sweepState(s, squeue)) {
        if (!t.ended) {
            if (t.state == "PENDING" || t.state == "RUNNING" || t.state.rfind("CONFIGURING", 0) == 0 ||
                t.state == "COMPLETING" || t.state == "SUSPENDED")
                waiting.push_back(t.label);
            continue;
        }
        RunStore part(sweepPartPath(s.store, t.label), true);
        const auto runs = part.runs();
        if (!runs.empty() && std::find(inMain.begin(), inMain.end(), runs.back().uid) == inMain.end())
            uncollected.push_back(t.label);
    }
    auto list = [](const std::vector<std::string> &v) {
        std::string out;
        for (const auto &x : v)
            out += (out.empty() ? "" : ", ") + x;
        return out;
    };
    if (!waiting.empty())
        return "the sweep submitted before (array job " + s.arrayJob + ") still has runs queued or running (" +
               list(waiting) + "); wait for them and collect them (reproduce --collect), or cancel them (scancel " +
               s.arrayJob + ") and remove " + (fs::path(sweepPartsDir(store)) / "slurm.json").string();
    if (!uncollected.empty())
        return "the sweep submitted before (array job " + s.arrayJob + ") has runs not merged into the store yet (" +
               list(uncollected) + "); collect them first (reproduce --collect --store " + store + ")";
    return {};
}

} // namespace se::store
