// Runs the `safeeraser` binary of this build (SE_CLI_PATH) and collects its exit status and output; startCli() and
// finishCli() for a test that runs several at once (data-parallel ranks), with variables added to the environment.
#pragma once

#include <QMap>
#include <QProcess>
#include <QProcessEnvironment>
#include <QStringList>

namespace se::testing {

struct CliResult {
    int code = -1; // the exit status; -1 when it did not finish in time, -2 when it crashed
    QByteArray out, err;
};

inline void startCli(QProcess &p, const QStringList &args, const QMap<QString, QString> &vars = {})
{
    if (!vars.isEmpty()) {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (auto it = vars.begin(); it != vars.end(); ++it)
            env.insert(it.key(), it.value());
        p.setProcessEnvironment(env);
    }
    p.start(QStringLiteral(SE_CLI_PATH), args);
}

inline CliResult finishCli(QProcess &p, int timeoutMs = 120000)
{
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return {-1, p.readAllStandardOutput(), p.readAllStandardError() + "\n(timed out)"};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

inline CliResult runCli(const QStringList &args, int timeoutMs = 120000, const QMap<QString, QString> &vars = {})
{
    QProcess p;
    startCli(p, args, vars);
    return finishCli(p, timeoutMs);
}

} // namespace se::testing
