#include "ui/mainwindow.h"
#include "ui/recordtablemodel.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QPixmap>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStatusBar>
#include <QTableView>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace se::ui {

namespace {
constexpr int kMaxRecent = 8;

QLabel *makeImageLabel(const QString &placeholder)
{
    auto *l = new QLabel(placeholder);
    l->setAlignment(Qt::AlignCenter);
    l->setMinimumSize(220, 220);
    l->setFrameShape(QFrame::StyledPanel);
    return l;
}

void showImage(QLabel *label, const std::string &file, const QString &missing)
{
    QPixmap pm;
    if (!file.empty() && pm.load(QString::fromStdString(file)))
        label->setPixmap(pm.scaled(label->size() - QSize(8, 8), Qt::KeepAspectRatio, Qt::SmoothTransformation));
    else
        label->setText(missing);
}
} // namespace

MainWindow::MainWindow(QWidget *parent) : QMainWindow(parent)
{
    setWindowTitle(tr("SafeEraser Workbench"));
    m_model = new RecordTableModel(this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setFilterKeyColumn(RecordTableModel::Category);

    m_category = new QComboBox;
    m_category->addItem(tr("All categories"));
    connect(m_category, &QComboBox::currentIndexChanged, this, &MainWindow::applyCategoryFilter);

    m_table = new QTableView;
    m_table->setModel(m_proxy);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder); // file order until the user sorts
    m_table->setSortingEnabled(true);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &MainWindow::showRecord);

    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(m_category);
    leftLayout->addWidget(m_table);

    m_image = makeImageLabel(tr("Harmful image"));
    m_sdImage = makeImageLabel(tr("SD (benign) image"));
    m_pairs = new QTextBrowser;
    auto *right = new QWidget;
    auto *rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    auto *images = new QHBoxLayout;
    images->addWidget(m_image);
    images->addWidget(m_sdImage);
    rightLayout->addLayout(images);
    rightLayout->addWidget(m_pairs, 1);

    auto *split = new QSplitter;
    split->addWidget(left);
    split->addWidget(right);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    setCentralWidget(split);

    m_problems = new QListWidget;
    auto *dock = new QDockWidget(tr("Problems"), this);
    dock->setObjectName("problemsDock");
    dock->setWidget(m_problems);
    addDockWidget(Qt::BottomDockWidgetArea, dock);

    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open = file->addAction(tr("&Open Benchmark…"), this, &MainWindow::chooseFolder);
    open->setShortcut(QKeySequence::Open);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), qApp, &QApplication::closeAllWindows);
    quit->setShortcut(QKeySequence::Quit);
    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->addAction(dock->toggleViewAction());
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About"), this, [this] {
        QMessageBox::about(this, tr("About SafeEraser Workbench"),
                           tr("<b>SafeEraser Workbench</b> 0.1.0<br>Machine unlearning for multimodal LLMs, after "
                              "SafeEraser (ACL Findings 2025).<br>Qt %1")
                               .arg(QString::fromLatin1(qVersion())));
    });

    m_watcher = new QFutureWatcher<std::shared_ptr<se::data::Benchmark>>(this);
    connect(m_watcher, &QFutureWatcherBase::finished, this, &MainWindow::onLoaded);

    updateRecentMenu();
    statusBar()->showMessage(tr("Open a benchmark folder (Ctrl+O)."));
    QSettings settings;
    restoreGeometry(settings.value("mainWindow/geometry").toByteArray());
    restoreState(settings.value("mainWindow/state").toByteArray());
    if (!settings.contains("mainWindow/geometry"))
        resize(1200, 760);
}

MainWindow::~MainWindow()
{
    QSettings settings;
    settings.setValue("mainWindow/geometry", saveGeometry());
    settings.setValue("mainWindow/state", saveState());
    m_watcher->waitForFinished(); // the reader holds no pointer to us, but finish before members go
}

void MainWindow::chooseFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Benchmark Folder"));
    if (!dir.isEmpty())
        openBenchmark(dir);
}

void MainWindow::openBenchmark(const QString &folder)
{
    if (m_watcher->isRunning())
        m_watcher->waitForFinished();
    m_loadingFolder = folder;
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
    for (const auto &p : b->problems)
        m_problems->addItem(QString::fromStdString(p.toString()));
    if (b->root.empty()) {
        const QString msg = b->problems.empty() ? tr("cannot read %1").arg(m_loadingFolder)
                                                : QString::fromStdString(b->problems.front().message);
        statusBar()->showMessage(tr("Could not open %1: %2").arg(m_loadingFolder, msg));
        Q_EMIT loadFailed(msg);
        return;
    }
    m_benchmark = b;
    m_model->setBenchmark(b);
    const QString current = m_category->currentText();
    m_category->blockSignals(true);
    m_category->clear();
    m_category->addItem(tr("All categories (%1)").arg(m_model->rowCount()), QString());
    for (const auto &[name, n] : b->categoryRecords)
        m_category->addItem(QStringLiteral("%1 (%2)").arg(QString::fromStdString(name)).arg(n),
                            QString::fromStdString(name));
    m_category->setCurrentIndex(0);
    m_category->blockSignals(false);
    applyCategoryFilter();
    m_table->resizeColumnsToContents();

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
    if (m_proxy->rowCount() > 0)
        m_table->selectRow(0);
    Q_EMIT benchmarkLoaded();
}

void MainWindow::applyCategoryFilter()
{
    const QString cat = m_category->currentData().toString();
    m_proxy->setFilterRegularExpression(cat.isEmpty() ? QString()
                                                      : QStringLiteral("^%1$").arg(QRegularExpression::escape(cat)));
}

void MainWindow::showRecord(const QModelIndex &current)
{
    const se::data::Record *r = m_model->record(m_proxy->mapToSource(current).row());
    if (!r) {
        m_pairs->clear();
        return;
    }
    showImage(m_image, r->imageFile, tr("Harmful image unavailable"));
    showImage(m_sdImage, r->sdImageFile, tr("SD image unavailable"));
    auto esc = [](const std::string &s) { return QString::fromStdString(s).toHtmlEscaped(); };
    QString html = QStringLiteral("<h3>%1 — record %2</h3>").arg(esc(r->category)).arg(r->index);
    html += tr("<h4>Forget (harmful image) and prompt-decouple (SD image)</h4>");
    for (const auto &p : r->unsafePairs) {
        html += QStringLiteral("<p><b>Q:</b> %1<br><b>Forget target:</b> %2<br><b>SD answer:</b> %3</p>")
                    .arg(esc(p.question), esc(p.responses.empty() ? std::string("—") : p.responses.front()),
                         esc(p.sdResponse));
    }
    html += tr("<h4>Retain</h4>");
    for (const auto &u : r->unharmPairs)
        html += QStringLiteral("<p><b>%1</b><br><b>Q:</b> %2<br><b>A:</b> %3</p>")
                    .arg(esc(u.key), esc(u.question), esc(u.prediction));
    m_pairs->setHtml(html);
}

void MainWindow::updateRecentMenu()
{
    m_recentMenu->clear();
    const QStringList recent = QSettings().value("recentBenchmarks").toStringList();
    for (const QString &f : recent)
        m_recentMenu->addAction(f, this, [this, f] { openBenchmark(f); });
    m_recentMenu->setEnabled(!recent.isEmpty());
}

} // namespace se::ui
