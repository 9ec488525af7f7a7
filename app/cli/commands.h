// The CLI's subcommands, grouped by the file that implements them. Each add* function registers its
// subcommands on `app`; a subcommand's callback stores its exit status in `exitCode`
// (0 success, 1 the command ran and found problems or failed, 2 usage error or unreadable input).
#pragma once

#include <CLI/CLI.hpp>

#include "core/metrics/llmjudge.h"

namespace se::cli {

void addDataCommands(CLI::App &app, int &exitCode); // check            (datacommands.cpp)
#ifdef SE_WITH_OPENCV
void addGeneratorCommands(CLI::App &app, int &exitCode); // make-benchmark   (generatorcommands.cpp)
#endif
#ifdef SE_HAVE_STORE
void addStoreCommands(CLI::App &app, int &exitCode); // report, export, store merge (storecommands.cpp)
void addAuditCommands(CLI::App &app, int &exitCode); // import, compare               (auditcommands.cpp)

// The judge flags of every command that judges answers (run, evaluate, reproduce, import): auditcommands.cpp.
struct JudgeFlags {
    std::string judge, llmUrl, llmModel, refusals, prompts;
    bool llmAllowHttpKey = false, noGptScore = false;
};
void addJudgeFlags(CLI::App *c, JudgeFlags &f);
// The flags over `kind`, `llm` and `refusals` (which hold defaults or a configuration's values), checked: the LLM
// judge needs a URL and a model, and its endpoint and key are checked before any work. Throws std::invalid_argument.
void applyJudgeFlags(const JudgeFlags &f, std::string &kind, se::metrics::LlmJudgeOptions &llm, std::string &refusals);
#endif
#if defined(SE_HAVE_ENGINE) && defined(SE_HAVE_STORE)
void addRunCommands(CLI::App &app, int &exitCode); // run, evaluate, reproduce (runcommands.cpp)
#endif
#ifdef SE_HAVE_ENGINE
void addEngineCommands(CLI::App &app, int &exitCode); // train-vanilla, unlearn, ask, … (enginecommands.cpp)

// Data-parallel when the launcher asks for it (`srun -n N`, torchrun's variables; README "On a cluster"): joins the
// group when made (se::engine::joinDataParallel) and leaves it when destroyed; alone, it does nothing.
// enginecommands.cpp.
class DataParallelScope
{
public:
    explicit DataParallelScope(int timeoutSeconds);
    ~DataParallelScope();
    DataParallelScope(const DataParallelScope &) = delete;
    DataParallelScope &operator=(const DataParallelScope &) = delete;
    bool distributed() const { return m_world > 1; }
    int rank() const { return m_rank; }
    bool writes() const { return m_rank == 0; }
    // " rank 1/2" for the progress lines of a data-parallel process, "" alone.
    std::string label() const;
    // "data-parallel: 2 ranks, 300 steps in 80.1 s, 3.1 s of it (3.9%) in 901 collectives; 3.2 MB of gradients
    // all-reduced per step"; empty alone.
    std::string summary() const;

private:
    int m_rank = 0, m_world = 1;
};
// --dist-timeout on the commands that train.
void addDataParallelFlag(CLI::App *c, int &timeoutSeconds);

// Loading progress on stderr for a model's weights, at most a line a second and only for a load that lasts:
// "[load] 4.2/13.2 GiB (32%), 2.1 GiB/s" (enginecommands.cpp).
std::function<bool(std::uint64_t, std::uint64_t)> loadProgressLines(const std::string &prefix = "[load]");
#endif

// A long list of problems, as `check` and `import` print it: the first `most` lines (0: all) as prefix + line(i),
// then one line "prefix… and N more<hint>" — a file of a million bad lines is a million problems.
void listFirst(std::ostream &out, std::size_t count, std::size_t most, const std::string &prefix,
               const std::function<std::string(std::size_t)> &line, const std::string &hint);

// Runs `body`, turning an escaping exception into a message on stderr and exit status 1.
int guarded(const char *command, const std::function<int()> &body);

} // namespace se::cli
