#include "ui/csvfield.h"
#include "ui/mainwindow.h"
#include "ui/browserview.h"
#include "ui/clusterjobs.h"
#include "ui/comparisonview.h"
#include "ui/enginebridge.h"
#include "ui/launcherview.h"
#include "ui/plotsview.h"
#include "ui/presentationview.h"
#include "ui/probeview.h"
#include "ui/recordtablemodel.h"
#include "ui/runcontroller.h"
#include "ui/safeview.h"

#include "core/data/officialresults.h"
#include "core/data/pathguard.h"
#include "core/store/audit.h"
#include "core/store/runstore.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QUndoStack>
#include <QtConcurrent/QtConcurrentRun>
#include <qcustomplot.h>
#include <sqlite3.h>

namespace se::ui {

namespace {
constexpr int kMaxRecent = 8;

} // namespace

MainWindow::MainWindow(QWidget *parent, RunController *controller) : QMainWindow(parent)
{
    setWindowTitle(tr("SafeEraser Workbench"));
    setWindowIcon(QIcon(":/icons/safeeraser-workbench.svg"));
    setAcceptDrops(true);
    m_controller = controller ? controller : new RunController({}, this);
    if (controller && !controller->parent())
        controller->setParent(this);
    m_undo = new QUndoStack(this);

    m_browser = new BrowserView;
    m_launcher = new LauncherView(m_controller);
    m_comparison = new ComparisonView(m_undo);
    m_plots = new PlotsView;
    m_tabs = new QTabWidget;
    m_tabs->setObjectName("views");
    m_tabs->setDocumentMode(true);
    m_presentation = new PresentationView;
    m_probe = new ProbeView;
    m_views = {m_browser, m_launcher, m_comparison, m_plots, m_probe}; // the tabs, in order
    for (WorkbenchView *v : m_views)
        m_tabs->addTab(v->widget(), v->viewTitle());
    m_stack = new QStackedWidget;
    m_stack->addWidget(m_tabs);
    m_stack->addWidget(m_presentation);
    setCentralWidget(m_stack);
    connect(m_presentation, &PresentationView::leaveRequested, this, [this] { setPresentationMode(false); });

    connect(m_comparison, &ComparisonView::message, this, &MainWindow::showMessage);
    connect(m_plots, &PlotsView::message, this, &MainWindow::showMessage);
    connect(m_probe, &ProbeView::message, this, &MainWindow::showMessage);
    connect(m_probe, &ProbeView::fromDatasetRequested, this, [this] {
        const se::data::Record *r = m_browser->currentRecord();
        if (!r || r->imageFile.empty()) {
            showMessage(tr("Select a record with a readable image in the Dataset view first."));
            return;
        }
        const se::data::UnsafePair *p = r->unsafePairs.empty() ? nullptr : &r->unsafePairs.front();
        m_probe->setSample(QString::fromStdString(r->imageFile), p ? QString::fromStdString(p->question) : QString(),
                           p && !p->responses.empty() ? QString::fromStdString(p->responses.front()) : QString(),
                           QString::fromStdString(r->category));
    });
    connect(m_plots, &PlotsView::auditRequested, this,
            [this](qint64 run, const QString &name, const se::engine::AuditOptions &options) {
                if (m_launcher->audit(m_storePath, run, name, options))
                    showMessage(tr("Audit of %1 queued; its progress is in the Run view.").arg(name));
            });
    connect(m_launcher, &LauncherView::auditFinished, this, [this](qint64 run, const QString &status) {
        showMessage(tr("Audit of run #%1 %2.").arg(run).arg(status));
        runsChanged();
    });
    connect(m_launcher, &LauncherView::message, this, &MainWindow::showMessage);
    connect(m_launcher, &LauncherView::runFinished, this, [this](qint64 id, const QString &status) {
        showMessage(tr("Run #%1 %2.").arg(id).arg(status));
        if (m_storePath.isEmpty() || QFileInfo(m_launcher->storePath()) != QFileInfo(m_storePath))
            openRunStore(m_launcher->storePath());
        else
            runsChanged();
    });

    connect(m_launcher, &LauncherView::runChanged, this, [this](qint64) {
        // The run writes into the open store: list it, and let the plots pick up each new curve point.
        if (!m_storePath.isEmpty() && QFileInfo(m_launcher->storePath()) == QFileInfo(m_storePath))
            runsChanged();
    });

    m_problems = new QListWidget;
    m_problems->setObjectName("problems");
    connect(m_problems, &QListWidget::itemActivated, this, [this](QListWidgetItem *item) {
        if (!item->data(Qt::UserRole + 1).isValid())
            return;
        showView(Browser);
        const auto split = item->data(Qt::UserRole).toInt() ? se::data::Split::Val : se::data::Split::Train;
        if (!m_browser->selectRecord(split, long(item->data(Qt::UserRole + 1).toLongLong())))
            showMessage(tr("That record could not be read, so it is not in the list."));
    });
    auto *dock = new QDockWidget(tr("Problems"), this);
    dock->setObjectName("problemsDock");
    dock->setWidget(m_problems);
    addDockWidget(Qt::BottomDockWidgetArea, dock);
    resizeDocks({dock}, {90}, Qt::Vertical); // a strip: the views need the room (restoreState may override)

    // File
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open = file->addAction(tr("&Open Benchmark…"), this, &MainWindow::chooseFolder);
    open->setShortcut(QKeySequence::Open);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    QAction *openStore = file->addAction(tr("Open Run &Store…"), this, &MainWindow::chooseStore);
    openStore->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    m_importAction = file->addAction(tr("&Import Results…"), this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Import Results of the Official Pipeline"), {},
                                                       tr("Results (*.json *.jsonl);;All files (*)"));
        if (!f.isEmpty())
            importResults(f);
    });
    m_importAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    m_importAction->setToolTip(tr("A result file of the official SafeEraser pipeline (its inference output, judged "
                                  "or not), matched to the open benchmark and recorded in the open store"));
    file->addSeparator();
    QAction *exportCsv = file->addAction(tr("&Export Table as CSV…"), this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export CSV"), "table.csv", tr("CSV (*.csv)"));
        QString err;
        if (!f.isEmpty() && !exportCurrentCsv(f, &err))
            showMessage(tr("Could not write %1: %2").arg(f, err));
    });
    exportCsv->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    file->addAction(tr("Export Plot as &PNG…"), this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export PNG"), "plot.png", tr("PNG (*.png)"));
        if (!f.isEmpty() && !m_plots->exportPng(f))
            showMessage(tr("Could not write %1").arg(f));
    });
    file->addAction(tr("Export Plot as P&DF…"), this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export PDF"), "plot.pdf", tr("PDF (*.pdf)"));
        if (!f.isEmpty() && !m_plots->exportPdf(f))
            showMessage(tr("Could not write %1").arg(f));
    });
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    // Edit
    QMenu *edit = menuBar()->addMenu(tr("&Edit"));
    QAction *undo = m_undo->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction *redo = m_undo->createRedoAction(this, tr("&Redo"));
    redo->setShortcut(QKeySequence::Redo);
    edit->addAction(undo);
    edit->addAction(redo);

    // View
    QMenu *view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < m_views.size(); ++i) { // the tabs, Ctrl+1 …
        QAction *a = view->addAction(m_views[i]->viewTitle(), this, [this, i] { showView(View(i)); });
        a->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
    }
    view->addSeparator();
    view->addAction(dock->toggleViewAction());
    m_blurMenu = view->addMenu(tr("&Blur Harmful Images"));
    m_blurMenu->setObjectName("blurMenu");
    connect(m_blurMenu, &QMenu::aboutToShow, this, &MainWindow::fillBlurMenu);
    fillBlurMenu();
    QAction *present =
        view->addAction(tr("&Presentation Mode"), this, [this] { setPresentationMode(!presentationMode()); });
    present->setShortcut(QKeySequence(Qt::Key_F11));
    addAction(present); // F11 also works while the menu bar is hidden in presentation mode

    // Run
    QMenu *run = menuBar()->addMenu(tr("R&un"));
    run->addAction(tr("&Add Run to Queue"), this, [this] { m_launcher->launch(); });
    run->addAction(tr("&Train Vanilla Model"), this, [this] { m_launcher->trainVanilla(); });
    QAction *pause =
        run->addAction(tr("&Pause / Resume"), this, [this] { m_controller->setPaused(!m_controller->paused()); });
    pause->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    QAction *cancel = run->addAction(tr("&Cancel Current Run"), m_controller, &RunController::cancelCurrent);
    cancel->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Period));
    run->addSeparator();
    QAction *jobs = run->addAction(tr("Cluster &Jobs…"), this, &MainWindow::showClusterJobs);
    jobs->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_J));

    // Help
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About SafeEraser Workbench"), this, &MainWindow::about);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);

    m_storeLabel = new QLabel;
    statusBar()->addPermanentWidget(m_storeLabel);

    m_watcher = new QFutureWatcher<std::shared_ptr<se::data::Benchmark>>(this);
    connect(m_watcher, &QFutureWatcherBase::finished, this, &MainWindow::onLoaded);
    m_importWatcher = new QFutureWatcher<std::shared_ptr<ImportOutcome>>(this);
    connect(m_importWatcher, &QFutureWatcherBase::finished, this, &MainWindow::onImported);

    updateRecentMenu();
    statusBar()->showMessage(tr("Open a benchmark folder (Ctrl+O) or drop one here."));
    QSettings settings;
    restoreGeometry(settings.value("mainWindow/geometry").toByteArray());
    restoreState(settings.value("mainWindow/state").toByteArray());
    if (!settings.contains("mainWindow/geometry"))
        resize(1360, 860);
    m_tabs->setCurrentIndex(settings.value("mainWindow/view", 0).toInt());
    const QString lastStore = settings.value("lastRunStore").toString();
    if (!lastStore.isEmpty() && QFileInfo::exists(lastStore))
        openRunStore(lastStore);
}

MainWindow::~MainWindow() = default; // a benchmark read still running holds only the folder's name

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (presentationMode())
        setPresentationMode(false);
    QSettings settings;
    settings.setValue("mainWindow/geometry", saveGeometry());
    settings.setValue("mainWindow/state", saveState());
    settings.setValue("mainWindow/view", m_tabs->currentIndex());
    m_controller->cancelAll(); // the controller's destructor waits for the worker
    QMainWindow::closeEvent(event);
}

void MainWindow::showMessage(const QString &text)
{
    statusBar()->showMessage(text, 8000);
}

void MainWindow::chooseFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Benchmark Folder"));
    if (!dir.isEmpty())
        openBenchmark(dir);
}

void MainWindow::chooseStore()
{
    const QString f = QFileDialog::getSaveFileName(this, tr("Open or Create Run Store"), m_storePath,
                                                   tr("Run stores (*.sqlite *.db);;All files (*)"), nullptr,
                                                   QFileDialog::DontConfirmOverwrite);
    if (!f.isEmpty())
        openRunStore(f);
}

ClusterJobsDialog *MainWindow::showClusterJobs()
{
    if (m_storePath.isEmpty()) {
        showMessage(tr("Open a run store first (File ▸ Open Run Store…): its Slurm sweep is shown here."));
        return nullptr;
    }
    auto *d = new ClusterJobsDialog(m_storePath, this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    connect(d, &ClusterJobsDialog::collected, this, [this](int merged) {
        if (merged > 0)
            runsChanged();
    });
    d->show();
    return d;
}

bool MainWindow::openRunStore(const QString &file)
{
    try {
        se::store::RunStore probe(file.toStdString()); // creates and migrates once, here, with a clear error
    } catch (const std::exception &e) {
        // Nothing stays open under another name: a store the user did not choose must not receive their verdicts
        // or runs. The reason stays in the status bar's store field (a passing message would be overwritten).
        const QString why = QString::fromUtf8(e.what());
        m_storePath.clear();
        for (WorkbenchView *v : allViews())
            v->storeChanged({});
        m_storeLabel->setText(tr("Store: none — %1 could not be opened").arg(QFileInfo(file).fileName()));
        m_storeLabel->setToolTip(tr("Cannot open run store %1: %2").arg(file, why));
        m_storeLabel->setStyleSheet(QStringLiteral("color: #c62828;"));
        showMessage(tr("Cannot open run store %1: %2").arg(file, why));
        return false;
    }
    m_storeLabel->setStyleSheet({});
    m_storePath = QFileInfo(file).absoluteFilePath();
    for (WorkbenchView *v : allViews())
        v->storeChanged(m_storePath);
    m_storeLabel->setText(tr("Store: %1").arg(QFileInfo(m_storePath).fileName()));
    m_storeLabel->setToolTip(m_storePath);
    QSettings().setValue("lastRunStore", m_storePath);
    return true;
}

void MainWindow::openBenchmark(const QString &folder)
{
    m_loadingFolder = folder; // a read of another folder still running is replaced: its result is not delivered
    statusBar()->showMessage(tr("Reading %1…").arg(folder));
    const std::string path = folder.toStdString();
    m_watcher->setFuture(QtConcurrent::run([path]() -> std::shared_ptr<se::data::Benchmark> {
        try {
            return std::make_shared<se::data::Benchmark>(se::data::readBenchmark(path));
        } catch (const std::exception &e) {
            auto failed = std::make_shared<se::data::Benchmark>();
            failed->problems.push_back({path, std::nullopt, "", e.what()});
            return failed; // root stays empty: the folder itself could not be read
        }
    }));
}

void MainWindow::onLoaded()
{
    std::shared_ptr<se::data::Benchmark> b = m_watcher->result();
    m_problems->clear();
    for (const auto &p : b->problems) {
        auto *item = new QListWidgetItem(QString::fromStdString(p.toString()), m_problems);
        if (p.record) {
            item->setData(Qt::UserRole, QString::fromStdString(p.file).contains("val") ? 1 : 0);
            item->setData(Qt::UserRole + 1, qlonglong(*p.record));
            item->setToolTip(tr("Double-click to show the record"));
        }
    }
    if (b->root.empty()) {
        const QString msg = b->problems.empty() ? tr("cannot read %1").arg(m_loadingFolder)
                                                : QString::fromStdString(b->problems.front().message);
        statusBar()->showMessage(tr("Could not open %1: %2").arg(m_loadingFolder, msg));
        Q_EMIT loadFailed(msg);
        return;
    }
    m_benchmark = b;
    // A benchmark this project generated draws its "harmful" images: shown unblurred unless the user said otherwise.
    SafeViewing::instance().setGeneratedBenchmark(
        QFileInfo::exists(QString::fromStdString(b->root) + "/" + se::data::kGeneratedBenchmarkMarker));
    for (WorkbenchView *v : allViews())
        v->benchmarkChanged(b);
    if (m_storePath.isEmpty() && !m_launcher->storePath().isEmpty() && QFileInfo::exists(m_launcher->storePath()))
        openRunStore(m_launcher->storePath());

    QSettings settings;
    QStringList recent = settings.value("recentBenchmarks").toStringList();
    recent.removeAll(m_loadingFolder);
    recent.prepend(m_loadingFolder);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    settings.setValue("recentBenchmarks", recent);
    updateRecentMenu();

    setWindowTitle(tr("%1 — SafeEraser Workbench").arg(QString::fromStdString(b->root)));
    statusBar()->showMessage(tr("%1 train and %2 val records, %3 problems")
                                 .arg(b->train.records.size())
                                 .arg(b->val.records.size())
                                 .arg(b->problems.size()));
    Q_EMIT benchmarkLoaded();
}

struct MainWindow::ImportOutcome {
    QString file, error;
    se::store::ImportSummary summary;
    long records = 0, matched = 0;
    std::vector<se::data::Problem> problems;
};

bool MainWindow::importResults(const QString &file)
{
    QString why;
    if (!m_benchmark)
        why = tr("Open the benchmark the results answer first (File ▸ Open Benchmark…).");
    else if (m_storePath.isEmpty())
        why = tr("Open a run store to import into first (File ▸ Open Run Store…).");
    else if (m_importWatcher->isRunning())
        why = tr("An import is already running.");
    if (!why.isEmpty()) {
        showMessage(why);
        Q_EMIT importFailed(why);
        return false;
    }
    m_importAction->setEnabled(false);
    statusBar()->showMessage(tr("Importing %1…").arg(QFileInfo(file).fileName()));
    const auto bench = m_benchmark;
    const std::string store = m_storePath.toStdString(), path = file.toStdString();
    m_importWatcher->setFuture(QtConcurrent::run([bench, store, path, file]() {
        auto out = std::make_shared<ImportOutcome>();
        out->file = file;
        try {
            se::data::refuseWritingOverInputs("the run store", store, {{"the results file", path}});
            const auto results = se::data::readOfficialResults(path, *bench);
            out->problems = results.problems;
            out->records = results.records;
            out->matched = results.matchedRecords;
            if (results.answers.empty())
                throw std::runtime_error("nothing in it matches the open benchmark; the store is unchanged");
            se::store::RunStore st(store); // one connection per thread
            std::mutex storeMutex;
            auto judge = se::store::makeJudge("offline", {}, {}, st, storeMutex);
            se::store::ImportOptions o;
            o.answersPath = path;
            o.datasetPath = bench->root;
            o.judgeConfig = R"({"judge": "offline"})";
            out->summary = se::store::importOfficialResults(st, *bench, results, *judge, o);
        } catch (const std::exception &e) {
            out->error = QString::fromUtf8(e.what());
        }
        return out;
    }));
    return true;
}

void MainWindow::onImported()
{
    m_importAction->setEnabled(true);
    const auto out = m_importWatcher->result();
    const QString name = QFileInfo(out->file).fileName();
    if (!out->problems.empty()) {
        auto *head = new QListWidgetItem(
            tr("Import of %1: %n field(s) not imported", "", int(out->problems.size())).arg(name), m_problems);
        QFont bold = head->font();
        bold.setBold(true);
        head->setFont(bold);
        for (const auto &p : out->problems)
            new QListWidgetItem(QString::fromStdString(p.toString()), m_problems);
    }
    if (!out->error.isEmpty()) {
        showMessage(tr("Could not import %1: %2").arg(name, out->error));
        Q_EMIT importFailed(out->error);
        return;
    }
    runsChanged();
    QString text = tr("Imported %1: %2 answers of %3 of %4 records as run #%5")
                       .arg(name)
                       .arg(out->summary.answers)
                       .arg(out->matched)
                       .arg(out->records)
                       .arg(out->summary.run);
    if (out->summary.importedJudge)
        text += tr("; the file's own verdicts as run #%1").arg(out->summary.importedJudge);
    if (!out->problems.empty())
        text += tr("; %n problem(s) in the Problems panel", "", int(out->problems.size()));
    showMessage(text);
    Q_EMIT resultsImported(out->summary.run, out->summary.importedJudge, int(out->problems.size()));
}

void MainWindow::fillBlurMenu()
{
    // One checkable entry per category: the paper's six and any other of the open benchmark.
    m_blurMenu->clear();
    QStringList categories;
    for (const auto &c : se::data::harmCategories())
        categories << QString::fromStdString(c);
    if (m_benchmark)
        for (const auto &[c, n] : m_benchmark->categoryRecords)
            if (!categories.contains(QString::fromStdString(c)))
                categories << QString::fromStdString(c);
    auto &sv = SafeViewing::instance();
    m_blurMenu->addAction(tr("Blur &All"), this, [categories, &sv] {
        for (const QString &c : categories)
            sv.setBlurred(c, true);
    });
    m_blurMenu->addAction(tr("Blur &None"), this, [categories, &sv] {
        for (const QString &c : categories)
            sv.setBlurred(c, false);
    });
    m_blurMenu->addSeparator();
    for (const QString &c : categories) {
        QAction *a = m_blurMenu->addAction(c);
        a->setCheckable(true);
        a->setChecked(sv.blurred(c));
        connect(a, &QAction::toggled, this, [c, &sv](bool on) { sv.setBlurred(c, on); });
    }
    if (sv.generatedBenchmark())
        m_blurMenu->addAction(tr("(a generated benchmark: its drawn images show unblurred unless set here)"))
            ->setEnabled(false);
}

void MainWindow::updateRecentMenu()
{
    m_recentMenu->clear();
    const QStringList recent = QSettings().value("recentBenchmarks").toStringList();
    for (const QString &f : recent)
        m_recentMenu->addAction(f, this, [this, f] { openBenchmark(f); });
    m_recentMenu->setEnabled(!recent.isEmpty());
}

QTableView *MainWindow::recordView() const
{
    return m_browser->table();
}

void MainWindow::showView(View v)
{
    if (presentationMode())
        setPresentationMode(false);
    m_tabs->setCurrentIndex(int(v));
}

MainWindow::View MainWindow::currentView() const
{
    return View(m_tabs->currentIndex());
}

bool MainWindow::presentationMode() const
{
    return m_stack->currentIndex() == 1;
}

void MainWindow::setPresentationMode(bool on)
{
    if (on == presentationMode())
        return;
    if (on) {
        m_wasMaximized = isMaximized();
        m_presentation->setStorePath(m_storePath);
        m_presentation->prepare();
        m_presentation->goTo(0);
        m_stack->setCurrentIndex(1);
        menuBar()->hide();
        statusBar()->hide();
        for (auto *d : findChildren<QDockWidget *>())
            d->setProperty("wasVisible", d->isVisible()), d->hide();
        showFullScreen();
        m_presentation->setFocus();
    } else {
        m_stack->setCurrentIndex(0);
        menuBar()->show();
        statusBar()->show();
        for (auto *d : findChildren<QDockWidget *>())
            d->setVisible(d->property("wasVisible").toBool());
        if (m_wasMaximized)
            showMaximized();
        else
            showNormal();
    }
}

QList<WorkbenchView *> MainWindow::allViews() const
{
    return m_views + QList<WorkbenchView *>{m_presentation};
}

void MainWindow::runsChanged()
{
    for (WorkbenchView *v : allViews())
        v->runsChanged();
}

bool MainWindow::exportCurrentCsv(const QString &file, QString *error)
{
    const int tab = m_tabs->currentIndex();
    if (tab >= 0 && tab < m_views.size() && m_views[tab]->canExportCsv())
        return m_views[tab]->exportCsv(file, error);
    if (error)
        *error = tr("the %1 view has nothing to export as CSV").arg(m_tabs->tabText(tab).remove('&'));
    return false;
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    for (const QUrl &url : event->mimeData()->urls()) {
        const QFileInfo fi(url.toLocalFile());
        if (fi.isDir())
            openBenchmark(fi.absoluteFilePath());
        else if (fi.isFile() && (fi.suffix() == "sqlite" || fi.suffix() == "db"))
            openRunStore(fi.absoluteFilePath());
        else if (fi.isFile() && fi.fileName().startsWith("all_"))
            openBenchmark(fi.absolutePath());
        else
            continue;
        event->acceptProposedAction();
        return;
    }
}

void MainWindow::about()
{
    QMessageBox::about(
        this, tr("About SafeEraser Workbench"),
        tr("<h3>SafeEraser Workbench %1</h3>"
           "<p>Safety unlearning for multimodal LLMs, after <i>SafeEraser: Enhancing Safety in Multimodal Large "
           "Language Models through Multimodal Machine Unlearning</i> (Chen et al., ACL Findings 2025).</p>"
           "<p>Qt %2 (built with %3) · QCustomPlot %4 · SQLite %5<br>%6</p>")
            .arg(QApplication::applicationVersion(), QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR),
                 QStringLiteral(QCUSTOMPLOT_VERSION_STR), QString::fromLatin1(sqlite3_libversion()),
                 engineDescription()));
}

} // namespace se::ui
