// safeeraser-workbench: the desktop workbench. Parses arguments and opens the main window. Hidden options
// (--screenshot-view, --screenshot) make scripts/screenshots.sh deterministic: open, wait until the view has
// settled, save the window as PNG, quit.
#include "ui/browserview.h"
#include "ui/comparisonmodel.h"
#include "ui/comparisonview.h"
#include "ui/launcherview.h"
#include "ui/mainwindow.h"
#include "ui/plotsview.h"
#include "ui/presentationview.h"
#include "ui/safeview.h"
#include "ui/theme.h"
#include "ui/thumbnailcache.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QTabWidget>
#include <QTextBrowser>
#include <QTimer>
#include <cstdio>

namespace {

// Waits until `ready` holds (or a deadline), then grabs the window into `file` and quits.
void screenshotWhen(se::ui::MainWindow *w, const QString &file, std::function<bool()> ready, int settleMs = 600)
{
    auto *timer = new QTimer(w);
    auto *clock = new QElapsedTimer;
    clock->start();
    QObject::connect(timer, &QTimer::timeout, w, [=] {
        if (!ready() && clock->elapsed() < 30000)
            return;
        timer->stop();
        QTimer::singleShot(settleMs, w, [=] {
            const bool ok = w->grab().save(file, "PNG");
            std::fprintf(stderr, "%s %s\n", ok ? "saved" : "could not save", qPrintable(file));
            delete clock;
            QApplication::exit(ok ? 0 : 1);
        });
    });
    timer->start(100);
}

} // namespace

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
    QApplication::setApplicationName("safeeraser-workbench");
    QApplication::setApplicationDisplayName("SafeEraser Workbench");
    QApplication::setOrganizationName("SafeEraser");
    QApplication::setApplicationVersion(QStringLiteral(SE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        "SafeEraser Workbench: browse a SafeEraser benchmark, run machine unlearning (GA, GD, KL, PO, NPO, DPO, each "
        "with or without Prompt Decouple) on the built-in multimodal model, and compare runs' answers and metric "
        "curves from a run store.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("benchmark", "A benchmark folder to open (official SafeEraser layout).");
    QCommandLineOption store({"s", "store"}, "Open this run store (SQLite; created if missing).", "file");
    QCommandLineOption theme("theme", "Colour theme: system (default), light or dark.", "name", "system");
    QCommandLineOption view("view", "Start on this view: dataset, run, compare or plots.", "name");
    QCommandLineOption compare("compare", "Runs to compare, comma-separated ids (the first is the reference).", "ids");
    QCommandLineOption model("model",
                             "The model in the run launcher: a built-in checkpoint or a Hugging Face "
                             "LLaVA-1.5 folder.",
                             "path");
    QCommandLineOption adapter("adapter",
                               "A PEFT adapter folder the launcher's runs start from (with a Hugging Face "
                               "--model).",
                               "folder");
    QCommandLineOption preset("preset", "Training preset in the run launcher: default or paper.", "name");
    QCommandLineOption shotView("screenshot-view", "(for scripts) dataset, run, compare, plots or presentation.",
                                "name");
    QCommandLineOption shotFile("screenshot", "(for scripts) Save a PNG of the window and quit.", "file");
    QCommandLineOption shotRun("screenshot-run",
                               "(for scripts) Start a PO+PD run first; shoot once it has progressed.");
    QCommandLineOption printStartup("print-startup-time",
                                    "(for benchmarks) Print ms from start until the window has painted, then quit.");
    shotView.setFlags(QCommandLineOption::HiddenFromHelp);
    shotRun.setFlags(QCommandLineOption::HiddenFromHelp);
    shotFile.setFlags(QCommandLineOption::HiddenFromHelp);
    printStartup.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({store, theme, view, compare, model, adapter, preset, shotView, shotFile, shotRun, printStartup});
    parser.process(app);

    se::ui::applyTheme(parser.value(theme));
    se::ui::MainWindow window;
    const QString viewName = parser.isSet(shotView) ? parser.value(shotView) : parser.value(view);
    const QStringList views = {"dataset", "run", "compare", "plots"};
    if (parser.isSet(shotFile))
        window.resize(1400, 880);
    window.show();
    if (parser.isSet(printStartup)) {
        window.repaint(); // the first frame, synchronously
        std::printf("first window painted after %lld ms (since main)\n", static_cast<long long>(started.elapsed()));
        std::fflush(stdout);
        QTimer::singleShot(0, &app, &QApplication::quit);
    }
    if (parser.isSet(store))
        window.openRunStore(parser.value(store));
    if (!parser.positionalArguments().isEmpty())
        window.openBenchmark(parser.positionalArguments().first());
    if (parser.isSet(model))
        window.launcher()->setModelFile(parser.value(model));
    if (parser.isSet(adapter))
        window.launcher()->setStartAdapter(parser.value(adapter));
    if (parser.isSet(preset))
        window.launcher()->applyPresetByName(parser.value(preset));
    const QString baseView = viewName == "statistics"        ? QStringLiteral("compare")
                             : viewName == "dataset-blurred" ? QStringLiteral("dataset")
                                                             : viewName;
    if (views.contains(baseView))
        window.showView(se::ui::MainWindow::View(views.indexOf(baseView)));

    QList<qint64> runs;
    for (const QString &id : parser.value(compare).split(',', Qt::SkipEmptyParts))
        runs << id.toLongLong();
    if (!runs.isEmpty()) {
        window.comparison()->compareRuns(runs);
        window.plots()->showRuns(runs);
    }

    if (parser.isSet(shotFile)) {
        const QString file = parser.value(shotFile);
        auto *w = &window;
        if (viewName == "presentation") {
            window.setPresentationMode(true);
            QObject::connect(window.presentation(), &se::ui::PresentationView::ready, w,
                             [w] { w->presentation()->goTo(1); });
            screenshotWhen(w, file, [w] { return w->presentation()->isReady(); });
        } else if (viewName == "run" && parser.isSet(shotRun)) {
            QObject::connect(w, &se::ui::MainWindow::benchmarkLoaded, w, [w] {
                w->launcher()->methodBox()->setCurrentIndex(w->launcher()->methodBox()->findData("po"));
                w->launcher()->pdBox()->setChecked(true);
                w->launcher()->greedyBox()->setChecked(
                    true); // as scripts/screenshots.sh's runs: reuses their vanilla evaluation
                w->launcher()->launch();
            });
            screenshotWhen(
                w, file, [w] { return w->launcher()->lossPoints() >= 4 * 40; }, 300);
        } else if (viewName == "compare") {
            // The telling part: benign-image (PD) questions of the held-out split, at the first changed answer.
            auto filtered = std::make_shared<bool>(false);
            screenshotWhen(w, file, [w, runs, filtered] {
                if (runs.isEmpty())
                    return true;
                if (w->comparison()->model()->rowCount() == 0)
                    return false;
                if (!*filtered) {
                    *filtered = true;
                    w->comparison()->setBox()->setCurrentIndex(w->comparison()->setBox()->findData("pd"));
                    w->comparison()->splitBox()->setCurrentIndex(w->comparison()->splitBox()->findData("val"));
                    w->comparison()->step(+1, true);
                }
                return true;
            });
        } else if (viewName == "statistics") {
            // The comparison's Statistics tab: each checked run against the first, on the same questions.
            if (auto *tabs = w->comparison()->findChild<QTabWidget *>("detailTabs"))
                tabs->setCurrentIndex(1);
            screenshotWhen(w, file, [w, runs] {
                return runs.isEmpty() || w->comparison()->statistics()->toPlainText().contains("McNemar");
            });
        } else if (viewName == "dataset-blurred") {
            // Safe viewing as the official benchmark gets it: every category blurred.
            for (const auto &c : se::data::harmCategories())
                se::ui::SafeViewing::instance().setBlurred(QString::fromStdString(c), true);
            QObject::connect(w, &se::ui::MainWindow::benchmarkLoaded, w, [w] { w->browser()->selectVisibleRow(0); });
            screenshotWhen(
                w, file,
                [w] {
                    return w->benchmark() && w->browser()->thumbnails()->pending() == 0 &&
                           w->browser()->harmfulImage()->hasImage();
                },
                1200);
        } else if (viewName == "dataset") {
            screenshotWhen(
                w, file, [w] { return w->benchmark() && w->browser()->thumbnails()->pending() == 0; }, 1200);
        } else {
            screenshotWhen(w, file, [w] { return bool(w->benchmark()); });
        }
    }
    return app.exec();
}
