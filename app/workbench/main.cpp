// safeeraser-workbench: the desktop workbench. Parses arguments (ui/startoptions.h) and opens the main window.
// Screenshots for the documentation are taken by a tool of their own (app/screenshots, scripts/screenshots.sh).
#include "ui/mainwindow.h"
#include "ui/startoptions.h"
#include "ui/theme.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QTimer>
#include <cstdio>

int main(int argc, char **argv)
{
    QElapsedTimer started;
    started.start();
    // --help and --version must work without a display (on a server, over ssh): no GUI application for them.
    for (int i = 1; i < argc; ++i) {
        const QByteArray a(argv[i]);
        if (a == "-h" || a == "--help" || a == "-?" || a == "--help-all" || a == "-v" || a == "--version") {
            if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
                qputenv("QT_QPA_PLATFORM", "offscreen");
            break;
        }
    }
    QApplication app(argc, argv);
    se::ui::setWorkbenchIdentity(QStringLiteral(SE_VERSION)); // the workbench's settings too

    QCommandLineParser parser;
    const se::ui::StartOptions options;
    options.addTo(parser);
    QCommandLineOption printStartup("print-startup-time",
                                    "(for benchmarks) Print ms from start until the window has painted, then quit.");
    printStartup.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOption(printStartup);
    parser.process(app);

    se::ui::applyTheme(options.theme(parser));
    se::ui::MainWindow window;
    window.show();
    if (parser.isSet(printStartup)) {
        window.repaint(); // the first frame, synchronously
        std::printf("first window painted after %lld ms (since main)\n", static_cast<long long>(started.elapsed()));
        std::fflush(stdout);
        QTimer::singleShot(0, &app, &QApplication::quit);
    }
    options.apply(window, parser);
    return app.exec();
}
