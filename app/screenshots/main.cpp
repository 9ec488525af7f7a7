// safeeraser-screenshots: the documentation's screenshots (scripts/screenshots.sh). Opens the workbench with its
// start-up options (ui/startoptions.h), sets up one view as a user would (a run training, a filtered comparison,
// the Statistics tab, blurred images, a presentation slide), waits until it has settled, saves the window as PNG
// and quits. Not installed.
#include "core/data/benchmark.h"
#include "ui/auditdialog.h"
#include "ui/browserview.h"
#include "ui/comparisonmodel.h"
#include "ui/comparisonview.h"
#include "ui/launcherview.h"
#include "ui/clusterjobs.h"
#include "ui/mainwindow.h"
#include "ui/plotsview.h"
#include "ui/presentationview.h"
#include "ui/probeview.h"
#include "ui/safeview.h"
#include "ui/startoptions.h"
#include "ui/theme.h"
#include "ui/thumbnailcache.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QTimer>
#include <cstdio>
#include <functional>

namespace {

// Waits until `ready` holds (or a deadline), then grabs the window (or `target`, a dialog of it) into `file` and quits.
void screenshotWhen(se::ui::MainWindow *w, const QString &file, std::function<bool()> ready, int settleMs = 600,
                    QWidget *target = nullptr)
{
    auto *timer = new QTimer(w);
    auto *clock = new QElapsedTimer;
    clock->start();
    QObject::connect(timer, &QTimer::timeout, w, [=] {
        if (!ready() && clock->elapsed() < 30000)
            return;
        timer->stop();
        QTimer::singleShot(settleMs, w, [=] {
            const bool ok = (target ? target : static_cast<QWidget *>(w))->grab().save(file, "PNG");
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
    QApplication app(argc, argv);
    se::ui::setWorkbenchIdentity(QStringLiteral(SE_VERSION)); // the workbench's settings too

    QCommandLineParser parser;
    const se::ui::StartOptions options;
    options.addTo(parser);
    QCommandLineOption shotView("screenshot-view",
                                "dataset, dataset-blurred, run, compare, statistics, plots, robustness, probe, "
                                "presentation or cluster-jobs (the store's Slurm sweep).",
                                "name");
    QCommandLineOption shotFile("screenshot", "Save a PNG of the window here and quit.", "file");
    QCommandLineOption shotRun("screenshot-run", "(run) Start a PO+PD run first; shoot once it has progressed.");
    parser.addOptions({shotView, shotFile, shotRun});
    parser.process(app);
    if (!parser.isSet(shotFile) || !parser.isSet(shotView)) {
        std::fprintf(stderr, "give --screenshot-view NAME and --screenshot FILE\n");
        return 2;
    }

    se::ui::applyTheme(options.theme(parser));
    se::ui::MainWindow window;
    const QString viewName = parser.value(shotView);
    window.resize(1400, 880);
    window.show();
    const QString baseView = viewName == "statistics"        ? QStringLiteral("compare")
                             : viewName == "dataset-blurred" ? QStringLiteral("dataset")
                             : viewName == "robustness"      ? QStringLiteral("plots")
                             : viewName == "audit-options"   ? QStringLiteral("plots")
                             : viewName == "cluster-jobs"    ? QStringLiteral("run")
                                                             : viewName;
    options.apply(window, parser, baseView);
    const QList<qint64> runs = options.runs(parser);

    if (parser.isSet(shotFile)) {
        const QString file = parser.value(shotFile);
        auto *w = &window;
        if (viewName == "cluster-jobs") {
            // Run ▸ Cluster Jobs… over the store's Slurm sweep (reproduce --slurm), once squeue has answered.
            auto *d = w->showClusterJobs();
            if (!d)
                return 1;
            auto refreshed = std::make_shared<bool>(false);
            QObject::connect(d, &se::ui::ClusterJobsDialog::refreshed, w, [refreshed] { *refreshed = true; });
            screenshotWhen(
                w, file, [refreshed] { return *refreshed; }, 300, d);
        } else if (viewName == "robustness") {
            // The audits of the compared runs (safeeraser audit): attacks and relearning curves.
            w->plots()->setCurrentPage(3);
            screenshotWhen(w, file, [w] { return w->plots()->robustnessTable()->rowCount() > 0; });
        } else if (viewName == "audit-options") {
            // Plots ▸ Robustness ▸ Audit Options…: the dialog alone, with the user's (or the engine's) settings.
            w->plots()->setCurrentPage(3);
            auto *d = new se::ui::AuditDialog(se::ui::savedAuditOptions(), w);
            d->show();
            screenshotWhen(
                w, file, [] { return true; }, 400, d);
        } else if (viewName == "probe") {
            // A harmful question about a Weapon image put to the start model and the runs, its target as reference.
            QObject::connect(w, &se::ui::MainWindow::benchmarkLoaded, w, [w] {
                for (const auto &r : w->benchmark()->val.records)
                    if (r.category == "Weapon" && !r.unsafePairs.empty() && !r.unsafePairs[0].responses.empty()) {
                        w->probe()->setSample(
                            QString::fromStdString(r.imageFile), QString::fromStdString(r.unsafePairs[0].question),
                            QString::fromStdString(r.unsafePairs[0].responses[0]), QString::fromStdString(r.category));
                        break;
                    }
                w->probe()->ask();
            });
            screenshotWhen(w, file, [w] { return !w->probe()->busy() && w->probe()->answersTable()->rowCount() > 0; });
        } else if (viewName == "presentation") {
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
