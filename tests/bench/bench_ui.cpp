// Workbench benchmarks (numbers, not tests), offscreen unless a display is set:
//   1. time to first window: starts safeeraser-workbench --print-startup-time five times, median;
//   2. a store with 50 runs (two of them with full evaluations of the 3,000-record benchmark, 28.8K answers each):
//      time to open it in the window (run lists filled), and time until the comparison of those two runs is ready
//      (index built on the worker, first rows fetched and shown);
//   3. the longest stall of the UI thread (a 5 ms timer watchdog) while a run trains on the worker and the
//      thumbnail grid of 3,000 records scrolls with a cold thumbnail cache. The run is the real engine when the
//      workbench links it and a vanilla checkpoint is given (--model), else a stand-in that keeps one core busy
//      with arithmetic between steps and reports progress every step (the UI sees the same event rate).
// Also: `bench_ui --write-demo-store BENCHMARK STORE` writes the scripted demo store (tests/ui/demostore.h) used
// by scripts/screenshots.sh when no engine is built.
// Built with the workbench only: ui/CMakeLists.txt links it to se_ui and defines SE_BENCH_UI. Without the UI
// (SE_BUILD_UI=OFF, e.g. on a GPU server without Qt) it compiles to a note.
#ifndef SE_BENCH_UI
#include <cstdio>
int main()
{
    std::puts("bench_ui: built without the workbench (SE_BUILD_UI=OFF); nothing to measure");
    return 0;
}
#else

#include "core/data/generator.h"
#include "tests/ui/demostore.h"
#include "ui/browserview.h"
#include "ui/comparisonmodel.h"
#include "ui/comparisonview.h"
#include "ui/enginebridge.h"
#include "ui/launcherview.h"
#include "ui/mainwindow.h"
#include "ui/plotsview.h"
#include "ui/runcontroller.h"
#include "ui/thumbnailcache.h"

#include <QCheckBox>
#include <QLabel>
#include <QProgressBar>
#include <QSpinBox>

#include <QApplication>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QListView>
#include <QListWidget>
#include <QProcess>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <algorithm>
#include <cmath>
#include <cstdio>

namespace {

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

void waitUntil(const std::function<bool()> &done, int timeoutMs)
{
    // An event loop woken every 2 ms, not a processEvents() spin: a spinning UI thread would take a core from
    // the worker being measured.
    QEventLoop loop;
    QTimer tick;
    QElapsedTimer t;
    t.start();
    QObject::connect(&tick, &QTimer::timeout, &loop, [&] {
        if (done() || t.elapsed() >= timeoutMs)
            loop.quit();
    });
    tick.start(2);
    if (!done())
        loop.exec();
}

// Measures the longest gap between ticks of a 5 ms timer on the UI thread.
struct Watchdog {
    QTimer timer;
    QElapsedTimer clock;
    qint64 last = 0, worst = 0;
    std::vector<double> gaps;
    Watchdog()
    {
        timer.setInterval(5);
        timer.setTimerType(Qt::PreciseTimer);
        QObject::connect(&timer, &QTimer::timeout, [this] {
            const qint64 now = clock.nsecsElapsed();
            if (last) {
                const qint64 gap = now - last;
                worst = std::max(worst, gap);
                gaps.push_back(gap / 1e6);
            }
            last = now;
        });
    }
    void start()
    {
        clock.start();
        last = 0;
        worst = 0;
        gaps.clear();
        timer.start();
    }
    double worstMs() const { return worst / 1e6; }
    double p99Ms() const
    {
        auto g = gaps;
        std::sort(g.begin(), g.end());
        return g.empty() ? 0 : g[size_t(g.size() * 0.99)];
    }
};

int writeDemo(const QString &bench, const QString &store)
{
    const auto b = se::data::readBenchmark(bench.toStdString());
    QFile::remove(store);
    const auto runs = se::testing::writeDemoStore(store.toStdString(), b, 150, 25, 60);
    std::printf("demo store %s: vanilla #%lld, PO #%lld, PO+PD #%lld\n", qPrintable(store),
                static_cast<long long>(runs.vanilla), static_cast<long long>(runs.po),
                static_cast<long long>(runs.popd));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QTemporaryDir tmp;
    qputenv("XDG_CACHE_HOME", (tmp.path() + "/cache").toUtf8());   // a cold thumbnail cache
    qputenv("XDG_CONFIG_HOME", (tmp.path() + "/config").toUtf8()); // no saved store or window state
    QApplication app(argc, argv);
    QApplication::setOrganizationName("SafeEraser");
    QApplication::setApplicationName("safeeraser-workbench-bench");
    const QStringList args = app.arguments();
    if (args.size() == 4 && args[1] == "--write-demo-store")
        return writeDemo(args[2], args[3]);
    QString benchDir, modelFile;
    for (int i = 1; i < args.size(); ++i) {
        if (args[i] == "--model" && i + 1 < args.size())
            modelFile = args[++i];
        else if (!args[i].startsWith("--"))
            benchDir = args[i];
    }

    // 1. Time to first window.
    {
        const QString exe = QCoreApplication::applicationDirPath() + "/safeeraser-workbench";
        std::vector<double> wall, inside;
        for (int i = 0; i < 5; ++i) {
            QProcess p;
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            p.setProcessEnvironment(env);
            QElapsedTimer t;
            t.start();
            p.start(exe, {"--print-startup-time"});
            p.waitForFinished(30000);
            wall.push_back(t.elapsed());
            const QString out = QString::fromUtf8(p.readAllStandardOutput());
            const QStringList w = out.split(' ');
            if (w.size() > 4)
                inside.push_back(w[4].toDouble());
        }
        std::printf("time to first window: %.0f ms median (process start to exit after the first paint), "
                    "%.0f ms from main() to the first paint\n",
                    median(wall), median(inside));
    }

    // Data: the paper-scale benchmark.
    if (benchDir.isEmpty()) {
        benchDir = tmp.path() + "/bench";
        se::data::GeneratorOptions g;
        g.records = 3000;
        QElapsedTimer t;
        t.start();
        se::data::generateBenchmark(benchDir.toStdString(), g);
        std::printf("generated 3,000 records in %.1f s\n", t.elapsed() / 1000.0);
    }
    const auto bench = se::data::readBenchmark(benchDir.toStdString());

    // 2. A store with 50 runs; two of them fully evaluated.
    const QString store = tmp.path() + "/runs.sqlite";
    std::int64_t vanilla = 0, po = 0;
    long answersPerRun = 0;
    {
        QElapsedTimer t;
        t.start();
        const auto runs = se::testing::writeDemoStore(store.toStdString(), bench, 150, 0, 16);
        vanilla = runs.vanilla;
        po = runs.po;
        se::store::RunStore s(store.toStdString());
        answersPerRun = long(s.answerCount(po));
        for (int i = 0; i < 47; ++i) {
            se::store::RunInfo r;
            r.method = "ga";
            r.name = "extra " + std::to_string(i);
            r.status = se::store::RunStatus::Finished;
            r.parentId = vanilla;
            const auto id = s.createRun(r);
            se::testing::writeDemoEvaluation(s, id, bench, "po", 0.5, "final", 150, 16);
        }
        std::printf("wrote a store of %zu runs (%ld answers in each of the two compared) in %.1f s\n", s.runs().size(),
                    answersPerRun, t.elapsed() / 1000.0);
    }
    {
        // The query alone (what the worker does), for the breakdown.
        std::vector<double> q;
        se::store::RunStore s(store.toStdString(), true);
        for (int i = 0; i < 5; ++i) {
            QElapsedTimer t;
            t.start();
            const auto index = se::store::buildComparison(s, {vanilla, po});
            q.push_back(t.nsecsElapsed() / 1e6);
        }
        std::printf("comparison index of 2 runs x %ld answers (the worker's query alone): %.0f ms median\n",
                    answersPerRun, median(q));
    }
    {
        se::ui::MainWindow w;
        w.resize(1400, 900);
        w.show();
        QCoreApplication::processEvents();
        std::vector<double> open, compare;
        for (int i = 0; i < 5; ++i) {
            QElapsedTimer t;
            t.start();
            w.openRunStore(store);
            QCoreApplication::processEvents();
            open.push_back(t.nsecsElapsed() / 1e6);
            w.showView(se::ui::MainWindow::Comparison);
            QSignalSpy ready(w.comparison(), &se::ui::ComparisonView::comparisonReady);
            t.restart();
            w.comparison()->compareRuns({vanilla, po});
            waitUntil([&] { return ready.size() > 0; }, 30000);
            w.comparison()->table()->viewport()->repaint(); // the first screen of rows, fetched and painted
            compare.push_back(t.nsecsElapsed() / 1e6);
        }
        std::printf("open store with %d runs: %.1f ms median; comparison of 2 runs x %ld answers ready and painted: "
                    "%.0f ms median (%d rows)\n",
                    w.comparison()->runList()->count(), median(open), answersPerRun, median(compare),
                    w.comparison()->model()->rowCount());
        // Scrolling the comparison table end to end (chunks fetched lazily).
        Watchdog dog;
        dog.start();
        QScrollBar *bar = w.comparison()->table()->verticalScrollBar();
        for (int v = 0; v <= bar->maximum(); v += std::max(1, bar->maximum() / 200)) {
            bar->setValue(v);
            QCoreApplication::processEvents();
        }
        std::printf("comparison table scrolled end to end in 200 jumps: longest UI stall %.1f ms\n", dog.worstMs());
    }

    // 3. UI stall while a run trains and the grid scrolls.
    {
        se::ui::JobExecutor executor;
        QString kind;
        const bool real = se::ui::engineAvailable() && !modelFile.isEmpty();
        if (!real) {
            kind = "stand-in run (one core busy, progress every step)";
            executor = [](const se::ui::LaunchSpec &spec, const std::function<void(const se::ui::RunUpdate &)> &emit,
                          const se::engine::CancelToken *cancel) {
                volatile double sink = 0;
                for (int s = 1; s <= spec.train.steps && !cancel->cancelled(); ++s) {
                    QElapsedTimer t;
                    t.start();
                    while (t.elapsed() < 30)
                        for (int k = 0; k < 1000; ++k)
                            sink = sink + std::sqrt(double(k + s));
                    se::ui::RunUpdate u;
                    u.kind = se::ui::RunUpdate::Kind::Progress;
                    u.step = s;
                    u.totalSteps = spec.train.steps;
                    u.losses = {{"total", 1.0 / s}, {"forget", 0.5 / s}, {"retain", 0.5 / s}};
                    emit(u);
                }
            };
        } else {
            kind = "real engine run (PO, store writes, curve evaluations)";
        }
        auto *controller = new se::ui::RunController(executor);
        se::ui::MainWindow w(nullptr, controller);
        w.resize(1400, 900);
        w.show();
        QSignalSpy loaded(&w, &se::ui::MainWindow::benchmarkLoaded);
        w.openBenchmark(benchDir);
        waitUntil([&] { return loaded.size() > 0; }, 60000);
        w.openRunStore(tmp.path() + "/stall.sqlite");
        if (real) {
            w.launcher()->setModelFile(modelFile);
            // A small evaluation, so that training starts within seconds and the 10 s below see it train.
            w.launcher()->greedyBox()->setChecked(true);
            w.launcher()->finalSubsetBox()->setValue(16);
            w.launcher()->evalEveryBox()->setValue(50);
        } else
            w.launcher()->setModelFile(store); // any existing file: the stand-in does not read it
        w.launcher()->setBenchmarkFolder(benchDir);
        if (!real)
            w.launcher()->stepsBox()->setValue(100000); // runs for the whole measurement
        w.showView(se::ui::MainWindow::Browser);
        QCoreApplication::processEvents();
        const qint64 ticket = w.launcher()->launch();
        // The real run first evaluates the vanilla model (no training steps yet): measure once it trains.
        waitUntil([&] { return w.launcher()->progressBar()->value() > 0 || !controller->busy(); }, 300000);
        if (!controller->busy())
            std::printf("the run ended before training: %s\n", qPrintable(w.launcher()->statusLabel()->text()));
        const int startStep = w.launcher()->progressBar()->value();
        Watchdog dog;
        dog.start();
        QListView *grid = w.browser()->grid();
        QScrollBar *bar = grid->verticalScrollBar();
        QElapsedTimer t;
        t.start();
        int frames = 0;
        // Scroll down through all 3,000 records at about 60 frames a second for 10 s.
        while (t.elapsed() < 10000) {
            const int target = int(double(t.elapsed()) / 10000.0 * bar->maximum());
            bar->setValue(target);
            QEventLoop frame; // one frame of events, without spinning
            QTimer::singleShot(16, &frame, &QEventLoop::quit);
            frame.exec();
            ++frames;
        }
        const int progress = w.launcher()->progressBar()->value();
        controller->cancelAll();
        std::printf("UI stall while a %s trains and the 3,000-record grid scrolls (cold thumbnail cache) for 10 s: "
                    "longest %.1f ms, 99th percentile %.1f ms (5 ms watchdog; %d frames; run reached step %d; "
                    "%d thumbnails still queued; it started measuring at step %d)\n",
                    qPrintable(kind), dog.worstMs(), dog.p99Ms(), frames, progress,
                    w.browser()->thumbnails()->pending(), startStep);
        Q_UNUSED(ticket);
    }
    return 0;
}

#endif // SE_BENCH_UI
