// safeeraser: the SafeEraser engine headless — generate and check benchmarks, train, unlearn, evaluate.
#include "app/cli/commands.h"
#include "core/util/text.h"

#include <cstdio>
#include <exception>
#include <iostream>

namespace se::cli {

void listFirst(std::ostream &out, std::size_t count, std::size_t most, const std::string &prefix,
               const std::function<std::string(std::size_t)> &line, const std::string &hint)
{
    const std::size_t shown = most == 0 ? count : std::min(most, count);
    for (std::size_t i = 0; i < shown; ++i)
        out << prefix << line(i) << "\n";
    if (shown < count)
        out << prefix << "… and " << (count - shown) << " more" << hint << "\n";
}

int guarded(const char *command, const std::function<int()> &body)
{
    try {
        return body();
    } catch (const std::exception &e) {
        // An error may quote what a file, a peer or a model said: shown with its control characters escaped.
        std::cerr << "safeeraser " << command << ": error: " << se::text::terminalSafe(e.what()) << "\n";
        return 1;
    }
}

} // namespace se::cli

int main(int argc, char **argv)
{
    CLI::App app{"safeeraser — the SafeEraser Workbench engine, headless.\n"
                 "Generate and check benchmarks, train the built-in model, run unlearning, evaluate."};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("safeeraser ") + SE_VERSION);
    int exitCode = 0;
    se::cli::addDataCommands(app, exitCode);
#ifdef SE_WITH_OPENCV
    se::cli::addGeneratorCommands(app, exitCode);
#endif
#ifdef SE_HAVE_STORE
    se::cli::addStoreCommands(app, exitCode);
    se::cli::addAuditCommands(app, exitCode);
#endif
#ifdef SE_HAVE_ENGINE
    se::cli::addEngineCommands(app, exitCode);
#endif
#if defined(SE_HAVE_ENGINE) && defined(SE_HAVE_STORE)
    se::cli::addRunCommands(app, exitCode);
#endif
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2; // --help and --version exit 0; every usage error exits 2
    }
    std::fflush(stdout);
    return exitCode;
}
