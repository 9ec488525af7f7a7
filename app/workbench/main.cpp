// safeeraser-workbench: the desktop workbench. Parses arguments and opens the main window.
#include "ui/mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName("safeeraser-workbench");
    QApplication::setOrganizationName("SafeEraser");
    QApplication::setApplicationVersion("0.1.0");

    QCommandLineParser parser;
    parser.setApplicationDescription("SafeEraser Workbench: run and inspect machine unlearning on multimodal LLMs.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("benchmark", "A benchmark folder to open (official SafeEraser layout).");
    parser.process(app);

    se::ui::MainWindow window;
    window.show();
    if (!parser.positionalArguments().isEmpty())
        window.openBenchmark(parser.positionalArguments().first());
    return app.exec();
}
