// Runs the `safeeraser` binary of this build (SE_CLI_PATH) and collects its exit status and output.
#pragma once

#include <QProcess>
#include <QStringList>

namespace se::testing {

struct CliResult {
    int code = -1; // the exit status; -1 when it did not finish in time, -2 when it crashed
    QByteArray out, err;
};

inline CliResult runCli(const QStringList &args, int timeoutMs = 120000)
{
    QProcess p;
    p.start(QStringLiteral(SE_CLI_PATH), args);
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return {-1, p.readAllStandardOutput(), p.readAllStandardError() + "\n(timed out)"};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

} // namespace se::testing
