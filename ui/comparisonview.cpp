#include "ui/comparisonview.h"
#include "ui/csvfield.h"
#include "ui/safeview.h"
#include "core/data/imageheader.h"
#include "core/store/audit.h"
#include "core/unlearn/method.h"
#include "ui/comparisonmodel.h"
#include "ui/worddiff.h"

#include <QAction>
#include <QApplication>
#include <QPointer>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QImageReader>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QTimer>
#include <QUndoCommand>
#include <QUndoStack>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace se::ui {

namespace {

// Writes (or clears) the verdict of one answer; returns the error, empty when it was written.
QString writeVerdict(ComparisonModel *model, std::int64_t answerId, const std::optional<se::store::Verdict> &v)
{
    se::store::RunStore *store = model->store();
    if (!store)
        return QObject::tr("no run store is open");
    if (model->readOnly())
        return QObject::tr("the run store is read-only");
    try {
        if (v) {
            se::store::Verdict w = *v;
            w.answerId = answerId;
            store->setVerdict(w);
        } else {
            store->clearVerdict(answerId);
        }
    } catch (const std::exception &e) {
        return QString::fromUtf8(e.what());
    }
    model->verdictChanged(answerId);
    return {};
}

// A verdict already written (setAuditVerdict writes it before pushing this); undo restores what was there before,
// redo writes it again. A write that fails says so and drops the command from the stack (it would lie).
class VerdictCommand : public QUndoCommand
{
public:
    VerdictCommand(ComparisonModel *model, std::int64_t answerId, std::optional<se::store::Verdict> before,
                   std::optional<se::store::Verdict> after, std::function<void(const QString &)> report)
        : m_model(model), m_id(answerId), m_before(std::move(before)), m_after(std::move(after)),
          m_report(std::move(report))
    {
        setText(QObject::tr("verdict on answer %1").arg(answerId));
    }
    void redo() override
    {
        if (m_written) { // the first redo, at push: setAuditVerdict has written it
            m_written = false;
            return;
        }
        apply(m_after, QObject::tr("Redo"));
    }
    void undo() override { apply(m_before, QObject::tr("Undo")); }
    void markWritten() { m_written = true; }

private:
    void apply(const std::optional<se::store::Verdict> &v, const QString &what)
    {
        const QString error = writeVerdict(m_model, m_id, v);
        if (!error.isEmpty()) {
            setObsolete(true);
            m_report(QObject::tr("%1 of the verdict on answer %2 failed: %3").arg(what).arg(m_id).arg(error));
        }
    }
    ComparisonModel *m_model;
    std::int64_t m_id;
    std::optional<se::store::Verdict> m_before, m_after;
    std::function<void(const QString &)> m_report;
    bool m_written = false;
};

QString runLabel(const se::store::RunInfo &r)
{
    const QString method = QString::fromStdString(se::unlearn::runLabel(r.method, r.pd));
    const QString name = QString::fromStdString(r.name);
    return QStringLiteral("#%1 %2").arg(r.id).arg(name.isEmpty() || name.compare(method, Qt::CaseInsensitive) == 0
                                                      ? method
                                                      : QStringLiteral("%1 (%2)").arg(name, method));
}

} // namespace

ComparisonView::ComparisonView(QUndoStack *undo, QWidget *parent) : QWidget(parent), m_undo(undo)
{
    m_model = new ComparisonModel(this);
    connect(m_model, &ComparisonModel::readFailed, this, &ComparisonView::message);
    m_runs = new QListWidget;
    m_runs->setObjectName("comparisonRuns");
    m_runs->setFlow(QListView::LeftToRight); // the runs side by side, wrapping: a strip, not a column
    m_runs->setWrapping(true);
    m_runs->setSpacing(2);
    m_runs->setMaximumHeight(2 * m_runs->fontMetrics().height() + 16); // two lines of runs
    m_runs->setToolTip(tr("Check the runs to compare; the first checked is the reference (\"before\"), the last is "
                          "the one verdicts are recorded on."));
    connect(m_runs, &QListWidget::itemChanged, this, &ComparisonView::scheduleRebuild);

    m_set = new QComboBox;
    m_set->setObjectName("setFilter");
    m_set->addItem(tr("All sets"), QString());
    m_set->addItem(tr("Forget"), "forget");
    m_set->addItem(tr("Prompt decouple (PD)"), "pd");
    m_set->addItem(tr("Retain"), "retain");
    m_category = new QComboBox;
    m_category->setObjectName("compareCategory");
    m_category->addItem(tr("All categories"), QString());
    for (const char *c : {"Violence", "Weapon", "Privacy", "Sex", "HateSpeech", "IllegalActivity"})
        m_category->addItem(QString::fromLatin1(c), QString::fromLatin1(c));
    m_split = new QComboBox;
    m_split->setObjectName("splitFilter");
    m_split->addItem(tr("Both splits"), QString());
    m_split->addItem(tr("Train (efficacy)"), "train");
    m_split->addItem(tr("Val (generality)"), "val");
    m_changedOnly = new QCheckBox(tr("&Changed only"));
    m_changedOnly->setObjectName("changedOnly");
    m_flipped = new QCheckBox(tr("Refusal &flipped"));
    m_flipped->setObjectName("refusalFlipped");
    for (QComboBox *c : {m_set, m_category, m_split})
        connect(c, &QComboBox::currentIndexChanged, this, &ComparisonView::applyFilter);
    for (QCheckBox *c : {m_changedOnly, m_flipped})
        connect(c, &QCheckBox::toggled, this, &ComparisonView::applyFilter);
    m_status = new QLabel;

    auto *filters = new QHBoxLayout;
    filters->addWidget(m_set);
    filters->addWidget(m_category);
    filters->addWidget(m_split);
    filters->addWidget(m_changedOnly);
    filters->addWidget(m_flipped);
    filters->addStretch(1);
    filters->addWidget(m_status);

    m_table = new QTableView;
    m_table->setObjectName("comparisonTable");
    m_table->setModel(m_model);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 8);
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed); // no per-row size queries: stays lazy
    m_table->horizontalHeader()->setDefaultSectionSize(220);
    m_table->horizontalHeader()->setStretchLastSection(true);
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        m_table->setColumnWidth(ComparisonModel::Example, 150);
        m_table->setColumnWidth(ComparisonModel::Category, 90);
        for (int k = 0; k < m_model->runCount(); ++k)
            m_table->setColumnWidth(ComparisonModel::FirstRunColumn + 2 * k + 1, 150);
        m_status->setText(tr("%n example(s)", "", m_model->rowCount()));
        connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &ComparisonView::showCurrent,
                Qt::UniqueConnection);
        if (m_model->rowCount() > 0)
            selectRow(0);
        else
            m_detail->clear();
    });

    m_detail = new QTextBrowser;
    m_detail->setObjectName("comparisonDetail");
    m_image = new HarmfulImageLabel;
    m_image->setObjectName("compareImage");
    m_sdImage = new QLabel;
    m_sdImage->setObjectName("compareSdImage");
    for (QLabel *l : {static_cast<QLabel *>(m_image), m_sdImage}) {
        l->setAlignment(Qt::AlignCenter);
        l->setFixedSize(180, 180);
        l->setFrameShape(QFrame::StyledPanel);
        l->setWordWrap(true);
    }
    m_image->setToolTip(tr("The record's harmful image"));
    m_sdImage->setToolTip(tr("The record's benign (SD) image, asked about in the PD set"));
    m_imageWatcher = new QFutureWatcher<QPair<QImage, QImage>>(this);
    connect(m_imageWatcher, &QFutureWatcherBase::finished, this, [this] {
        const auto [a, b] = m_imageWatcher->result();
        auto put = [](QLabel *l, const QImage &img) {
            if (img.isNull())
                l->setText(l->text().isEmpty() ? QString() : tr("image not available"));
            else
                l->setPixmap(QPixmap::fromImage(img));
        };
        if (a.isNull())
            m_image->clearImage(m_image->text().isEmpty() ? QString() : tr("image not available"));
        else
            m_image->setHarmfulImage(a, m_imageCategory);
        put(m_sdImage, b);
    });

    m_verdict = new QComboBox;
    m_verdict->setObjectName("verdictBox");
    m_verdict->setEditable(true);
    m_verdict->addItems({QString(), "ok", "unsafe", "over-refusal", "degenerate", "wrong"});
    m_tags = new QLineEdit;
    m_tags->setObjectName("verdictTags");
    m_tags->setPlaceholderText(tr("tags, comma-separated"));
    auto *apply = new QPushButton(tr("Save verdict"));
    m_saveVerdict = apply;
    apply->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    connect(apply, &QPushButton::clicked, this, &ComparisonView::applyVerdictFromEditor);
    auto *verdictForm = new QFormLayout;
    verdictForm->addRow(tr("Verdict:"), m_verdict);
    verdictForm->addRow(tr("Tags:"), m_tags);
    verdictForm->addRow(QString(), apply);
    updateVerdictEditor(); // no store yet

    auto *side = new QWidget;
    auto *sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    auto *imageRow = new QHBoxLayout;
    imageRow->addWidget(m_image);
    imageRow->addWidget(m_sdImage);
    sideLayout->addLayout(imageRow);
    sideLayout->addLayout(verdictForm);
    sideLayout->addStretch(1);

    m_stats = new QTextBrowser;
    m_stats->setObjectName("statsView");
    m_stats->setPlaceholderText(tr("Check two or more runs: each is compared with the first on the same questions."));
    auto *detailTabs = new QTabWidget;
    detailTabs->setObjectName("detailTabs");
    detailTabs->addTab(m_detail, tr("Answers"));
    detailTabs->addTab(m_stats, tr("Statistics"));
    auto *bottom = new QSplitter;
    bottom->addWidget(detailTabs);
    bottom->addWidget(side);
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 1);
    auto *vsplit = new QSplitter(Qt::Vertical);
    vsplit->addWidget(m_table);
    vsplit->addWidget(bottom);
    vsplit->setStretchFactor(0, 3);
    vsplit->setStretchFactor(1, 2);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_runs);
    layout->addLayout(filters);
    layout->addWidget(vsplit, 1);

    // Keyboard navigation: J/K next/previous example, N / Shift+N next/previous changed.
    auto addKey = [this](const QKeySequence &k, auto fn) {
        auto *a = new QAction(this);
        a->setShortcut(k);
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        connect(a, &QAction::triggered, this, fn);
        addAction(a);
    };
    addKey(QKeySequence(Qt::Key_J), [this] { step(+1, false); });
    addKey(QKeySequence(Qt::Key_K), [this] { step(-1, false); });
    addKey(QKeySequence(Qt::Key_N), [this] { step(+1, true); });
    addKey(QKeySequence(Qt::SHIFT | Qt::Key_N), [this] { step(-1, true); });
    addKey(QKeySequence(Qt::Key_V), [this] { m_image->toggleReveal(); }); // show (or blur again) the harmful image

    m_rebuildTimer = new QTimer(this);
    m_rebuildTimer->setSingleShot(true);
    m_rebuildTimer->setInterval(40);
    connect(m_rebuildTimer, &QTimer::timeout, this, &ComparisonView::rebuild);
    m_statsWatcher = new QFutureWatcher<QString>(this);
    connect(m_statsWatcher, &QFutureWatcherBase::finished, this, [this] {
        m_stats->setHtml(m_statsWatcher->result());
        Q_EMIT statisticsReady();
    });
    m_statsTimer = new QTimer(this);
    m_statsTimer->setSingleShot(true);
    m_statsTimer->setInterval(300);
    connect(m_statsTimer, &QTimer::timeout, this, &ComparisonView::updateStatistics);
    // A verdict (or its undo) changes the judge agreement.
    connect(m_undo, &QUndoStack::indexChanged, m_statsTimer, qOverload<>(&QTimer::start));
    m_watcher = new QFutureWatcher<std::shared_ptr<se::store::ComparisonIndex>>(this);
    connect(m_watcher, &QFutureWatcherBase::finished, this, [this] {
        if (m_watcher->property("generation").toInt() != m_generation)
            return; // a newer choice of runs is on its way
        auto index = m_watcher->result();
        if (!index) {
            return; // the error went to message()
        }
        m_model->setIndex(index, m_pendingNames);
        const qint64 ms = QDateTime::currentMSecsSinceEpoch() - m_buildStarted;
        Q_EMIT comparisonReady(m_model->rowCount(), ms);
    });
}

ComparisonView::~ComparisonView() = default; // work still running holds values and a QPointer, not us

void ComparisonView::setBenchmark(std::shared_ptr<const se::data::Benchmark> benchmark)
{
    m_benchmark = std::move(benchmark);
    if (currentRow() >= 0)
        showCurrent(); // now with both images of the record
}

void ComparisonView::setStorePath(const QString &path)
{
    ++m_generation; // an index still being built over the old store is dropped when it arrives
    m_storePath = path;
    m_undo->clear(); // its commands point at the old store's answers
    try {
        m_model->setStore(path);
        if (m_model->readOnly())
            Q_EMIT message(tr("%1 is read-only: verdicts cannot be saved to it.").arg(path));
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Cannot open run store %1: %2").arg(path, QString::fromUtf8(e.what())));
        m_storePath.clear();
    }
    updateVerdictEditor();
    reloadRuns();
}

void ComparisonView::updateVerdictEditor()
{
    // The verdict editor works only on a store it can write; otherwise it says why.
    const bool writable = m_model->store() && !m_model->readOnly();
    const QString why = !m_model->store()
                            ? tr("No run store is open.")
                            : tr("The run store %1 is read-only: verdicts cannot be saved.").arg(m_storePath);
    for (QWidget *w :
         {static_cast<QWidget *>(m_verdict), static_cast<QWidget *>(m_tags), static_cast<QWidget *>(m_saveVerdict)})
        w->setEnabled(writable);
    m_verdict->setToolTip(writable ? QString() : why);
    m_tags->setToolTip(writable ? QString() : why);
    m_saveVerdict->setToolTip(writable ? tr("Save the verdict and tags on the audited run's answer (Ctrl+Return); "
                                            "Ctrl+Z undoes")
                                       : why);
}

void ComparisonView::reloadRuns()
{
    const QList<qint64> checked = comparedRuns();
    m_runs->blockSignals(true);
    m_runs->clear();
    if (m_model->store()) {
        try {
            auto runs = m_model->store()->runs();
            // Vanilla evaluations first: they are the usual reference.
            std::stable_sort(runs.begin(), runs.end(), [](const auto &a, const auto &b) {
                return (a.method == "vanilla") > (b.method == "vanilla");
            });
            for (const auto &r : runs) {
                auto *item = new QListWidgetItem(
                    QStringLiteral("%1 — %2").arg(runLabel(r), QString::fromLatin1(se::store::statusName(r.status))));
                item->setData(Qt::UserRole, qlonglong(r.id));
                item->setData(Qt::UserRole + 1, runLabel(r));
                item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
                item->setCheckState(checked.contains(r.id) ? Qt::Checked : Qt::Unchecked);
                m_runs->addItem(item);
            }
        } catch (const std::exception &e) {
            Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
        }
    }
    m_runs->blockSignals(false);
}

void ComparisonView::compareRuns(const QList<qint64> &runs)
{
    m_runs->blockSignals(true);
    // Order the list as asked so that "first checked" is the reference.
    QList<QListWidgetItem *> items;
    while (m_runs->count())
        items.append(m_runs->takeItem(0));
    for (qint64 id : runs)
        for (int i = 0; i < items.size(); ++i)
            if (items[i]->data(Qt::UserRole).toLongLong() == id) {
                items[i]->setCheckState(Qt::Checked);
                m_runs->addItem(items.takeAt(i));
                break;
            }
    for (auto *item : items) {
        item->setCheckState(Qt::Unchecked);
        m_runs->addItem(item);
    }
    m_runs->blockSignals(false);
    rebuild();
}

QList<qint64> ComparisonView::comparedRuns() const
{
    QList<qint64> out;
    for (int i = 0; i < m_runs->count(); ++i)
        if (m_runs->item(i)->checkState() == Qt::Checked)
            out.append(m_runs->item(i)->data(Qt::UserRole).toLongLong());
    return out;
}

void ComparisonView::scheduleRebuild()
{
    m_rebuildTimer->start();
}

void ComparisonView::rebuild()
{
    QList<qint64> runs;
    QStringList names;
    for (int i = 0; i < m_runs->count(); ++i)
        if (m_runs->item(i)->checkState() == Qt::Checked) {
            runs.append(m_runs->item(i)->data(Qt::UserRole).toLongLong());
            names.append(m_runs->item(i)->data(Qt::UserRole + 1).toString());
        }
    const int generation = ++m_generation;
    if (runs.isEmpty() || m_storePath.isEmpty()) {
        m_model->setIndex(nullptr, {});
        return;
    }
    m_pendingNames = names;
    m_statsTimer->start();
    m_buildStarted = QDateTime::currentMSecsSinceEpoch();
    m_status->setText(tr("Comparing…"));
    const std::string path = m_storePath.toStdString();
    const std::vector<std::int64_t> ids(runs.begin(), runs.end());
    QPointer<ComparisonView> self(this);
    m_watcher->setProperty("generation", generation);
    m_watcher->setFuture(QtConcurrent::run([path, ids, self]() -> std::shared_ptr<se::store::ComparisonIndex> {
        try {
            se::store::RunStore store(path, true); // this thread's own connection
            return std::make_shared<se::store::ComparisonIndex>(se::store::buildComparison(store, ids));
        } catch (const std::exception &e) {
            const QString msg = QString::fromUtf8(e.what());
            QMetaObject::invokeMethod(qApp, [self, msg] {
                if (self)
                    Q_EMIT self->message(QObject::tr("Comparison failed: %1").arg(msg));
            });
            return nullptr;
        }
    }));
}

namespace {

// The statistics page: each checked run against the first, then each run's judge against the auditors.
QString statisticsHtml(const std::string &path, const std::vector<std::int64_t> &ids)
{
    se::store::RunStore store(path, true); // this thread's own connection
    auto pct = [](double v) { return QString::number(100 * v, 'f', 1); };
    QString html = "<style>td, th { padding: 1px 8px; } th { text-align: left; }</style>";
    const auto ref = store.run(ids.front());
    if (!ref)
        return {};
    for (std::size_t i = 1; i < ids.size(); ++i) {
        const auto other = store.run(ids[i]);
        if (!other)
            continue;
        const auto c = se::store::compareRuns(store, ids.front(), ids[i]);
        html += QObject::tr("<h3>#%1 − #%2 (reference)</h3>").arg(other->id).arg(ref->id);
        html += QObject::tr("<p>Paired on the same questions: B − A with a 95% Agresti–Min interval, an exact "
                            "McNemar test, and Cohen's κ of the two runs' verdicts.</p>");
        html += "<table><tr><th>metric</th><th>split</th><th>n</th><th>A %</th><th>B %</th><th>B − A</th>"
                "<th>95% interval</th><th>McNemar p</th><th>κ</th></tr>";
        for (const auto &m : c.metrics) {
            const auto &t = *m.test;
            html += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td><td>%6</td>"
                                   "<td>%7 to %8</td><td>%9</td><td>%10</td></tr>")
                        .arg(QString::fromStdString(m.name), QString::fromStdString(m.split))
                        .arg(m.counts.n())
                        .arg(pct(t.firstRate), pct(t.secondRate), pct(t.difference), pct(t.ci.low), pct(t.ci.high))
                        .arg(t.pValue < 1e-300 ? QStringLiteral("&lt;1e-300") : QString::number(t.pValue, 'g', 3))
                        .arg(m.kappa ? QString::number(*m.kappa, 'f', 2) : QStringLiteral("—"));
        }
        html += "</table>";
        if (c.metrics.empty())
            html += QObject::tr("<p>No question answered by both runs.</p>");
    }
    QString agreement;
    for (std::int64_t id : ids) {
        const auto ag = se::store::judgeAgreement(store, id);
        const auto run = store.run(id);
        for (const auto &a : ag)
            agreement +=
                QStringLiteral("<tr><td>#%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td><td>%6</td>"
                               "<td>%7</td><td>%8</td></tr>")
                    .arg(id)
                    .arg(QString::fromStdString(run ? run->judge : std::string()), QString::fromStdString(a.name))
                    .arg(a.counts.n())
                    .arg(a.kappa ? QString::number(*a.kappa, 'f', 2) : QStringLiteral("—"))
                    .arg(a.counts.bothYes + a.counts.bothNo)
                    .arg(a.counts.firstOnly)
                    .arg(a.counts.secondOnly);
    }
    html += QObject::tr("<h3>Judge agreement with the auditors' verdicts</h3>");
    if (agreement.isEmpty())
        html += QObject::tr("<p>No auditor verdict on these runs' answers that bears on a metric yet (ok, unsafe, "
                            "over-refusal, degenerate or wrong in the Verdict box; \"over-refusal\" speaks to "
                            "prompt-decouple answers, \"wrong\" to retain answers).</p>");
    else
        html += QObject::tr("<table><tr><th>run</th><th>judge</th><th>metric</th><th>n</th><th>κ</th>"
                            "<th>agree</th><th>judge only</th><th>auditors only</th></tr>") +
                agreement + "</table>";
    return html;
}

} // namespace

void ComparisonView::updateStatistics()
{
    std::vector<std::int64_t> ids;
    for (int i = 0; i < m_runs->count(); ++i)
        if (m_runs->item(i)->checkState() == Qt::Checked)
            ids.push_back(m_runs->item(i)->data(Qt::UserRole).toLongLong());
    if (ids.empty() || m_storePath.isEmpty()) {
        m_stats->clear();
        return;
    }
    if (m_statsWatcher->isRunning()) { // one at a time; ask again when it is done
        m_statsTimer->start();
        return;
    }
    const std::string path = m_storePath.toStdString();
    m_statsWatcher->setFuture(QtConcurrent::run([path, ids]() -> QString {
        try {
            return statisticsHtml(path, ids);
        } catch (const std::exception &e) {
            return QObject::tr("<p>Statistics failed: %1</p>").arg(QString::fromUtf8(e.what()).toHtmlEscaped());
        }
    }));
}

void ComparisonView::applyFilter()
{
    se::store::ComparisonFilter f;
    f.set = m_set->currentData().toString().toStdString();
    f.category = m_category->currentData().toString().toStdString();
    f.split = m_split->currentData().toString().toStdString();
    f.changedOnly = m_changedOnly->isChecked();
    f.refusalFlipped = m_flipped->isChecked();
    m_model->setFilter(f);
}

void ComparisonView::selectRow(int row)
{
    if (row < 0 || row >= m_model->rowCount())
        return;
    const QModelIndex idx = m_model->index(row, ComparisonModel::Question);
    m_table->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_table->scrollTo(idx);
}

int ComparisonView::currentRow() const
{
    return m_table->selectionModel() ? m_table->selectionModel()->currentIndex().row() : -1;
}

void ComparisonView::step(int direction, bool changedOnly)
{
    const int next = m_model->nextRow(currentRow(), direction, changedOnly);
    if (next >= 0)
        selectRow(next);
    else
        Q_EMIT message(changedOnly ? tr("No further changed example.") : tr("No further example."));
}

void ComparisonView::showCurrent()
{
    const int row = currentRow();
    const auto *e = m_model->entry(row);
    if (!e) {
        m_detail->clear();
        return;
    }
    const auto answers = m_model->answers(row);
    auto esc = [](const std::string &s) { return QString::fromStdString(s).toHtmlEscaped(); };
    QString html;
    const se::store::AnswerRecord *any = nullptr;
    for (const auto &a : answers)
        if (a.id) {
            any = &a;
            break;
        }
    if (!any)
        return;
    html += QStringLiteral("<p><b>%1</b> · %2 · %3 record %4, pair %5, sample %6</p>")
                .arg(esc(e->key.category), esc(e->key.set), esc(e->key.split))
                .arg(e->key.record)
                .arg(e->key.pair)
                .arg(e->key.sample);
    html += QStringLiteral("<p><b>Q:</b> %1<br><b>Reference:</b> %2</p>").arg(esc(any->question), esc(any->reference));
    for (int k = 0; k < answers.size(); ++k) {
        const auto &a = answers[k];
        QString badge;
        if (a.refusal)
            badge += QStringLiteral(" <span style=\"background:#5a8ce6;color:white\">&nbsp;REFUSAL&nbsp;</span>");
        if (a.unsafe)
            badge += QStringLiteral(" <span style=\"background:#d9463b;color:white\">&nbsp;UNSAFE&nbsp;</span>");
        if (a.degenerate)
            badge += QStringLiteral(" <span style=\"background:#888;color:white\">&nbsp;DEGENERATE&nbsp;</span>");
        html += QStringLiteral("<p><b>%1</b>%2 <small>ROUGE-L P %3 / F1 %4</small><br>%5</p>")
                    .arg(m_model->headerData(ComparisonModel::FirstRunColumn + 2 * k, Qt::Horizontal, Qt::DisplayRole)
                             .toString()
                             .toHtmlEscaped(),
                         badge)
                    .arg(a.rougePrecision, 0, 'f', 2)
                    .arg(a.rougeF1, 0, 'f', 2)
                    .arg(a.id ? esc(a.answer) : tr("<i>not answered</i>"));
    }
    if (answers.size() >= 2 && answers.front().id && answers.back().id)
        html += tr("<p><b>Word diff</b> (reference → audited run):<br>%1</p>")
                    .arg(diffHtml(QString::fromStdString(answers.front().answer),
                                  QString::fromStdString(answers.back().answer)));
    m_detail->setHtml(html);

    // The example's images, decoded small on a worker: the harmful and the SD image of its record when the
    // benchmark is open, else the image the answer was asked about.
    QString harmful = QString::fromStdString(any->image), sd;
    if (m_benchmark) {
        const auto &split = m_benchmark->split(e->key.split == "val" ? se::data::Split::Val : se::data::Split::Train);
        if (e->key.record >= 0 && size_t(e->key.record) < split.records.size()) {
            const auto &rec = split.records[size_t(e->key.record)];
            harmful = QString::fromStdString(rec.imageFile);
            sd = QString::fromStdString(rec.sdImageFile);
        }
    } else if (e->key.set == "pd") {
        sd = harmful;
        harmful.clear();
    }
    m_image->clearImage(harmful.isEmpty() ? QString() : tr("Loading…"));
    m_imageCategory = QString::fromStdString(e->key.category);
    m_sdImage->setText(sd.isEmpty() ? QString() : tr("Loading…"));
    const QSize box = m_image->size() - QSize(8, 8);
    // Replaces the previous row's decode (J/K never wait): only the latest result arrives.
    m_imageWatcher->setFuture(QtConcurrent::run([harmful, sd, box] {
        auto read = [box](const QString &f) {
            if (f.isEmpty())
                return QImage();
            QImageReader r(f);
            const QSize s = r.size();
            if (!s.isValid() || quint64(s.width()) * quint64(s.height()) > se::data::kDefaultDecodeMaxPixels)
                return QImage();
            r.setScaledSize(s.scaled(box, Qt::KeepAspectRatio));
            return r.read();
        };
        return qMakePair(read(harmful), read(sd));
    }));

    const auto v = m_model->verdict(row);
    m_verdict->setCurrentText(v ? QString::fromStdString(v->verdict) : QString());
    QStringList tags;
    if (v)
        for (const auto &t : v->tags)
            tags << QString::fromStdString(t);
    m_tags->setText(tags.join(QStringLiteral(", ")));
}

void ComparisonView::applyVerdictFromEditor()
{
    QStringList tags;
    for (const QString &t : m_tags->text().split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!t.trimmed().isEmpty())
            tags << t.trimmed();
    setAuditVerdict(m_verdict->currentText().trimmed(), tags);
}

void ComparisonView::setAuditVerdict(const QString &verdict, const QStringList &tags)
{
    const int row = currentRow();
    const auto *e = m_model->entry(row);
    if (!e || m_model->runCount() == 0)
        return;
    const std::int64_t id = e->answerId[size_t(m_model->runCount() - 1)];
    if (!id) {
        Q_EMIT message(tr("The audited run has no answer to this example."));
        return;
    }
    std::optional<se::store::Verdict> after;
    if (!verdict.isEmpty() || !tags.isEmpty()) {
        se::store::Verdict v;
        v.answerId = id;
        v.verdict = verdict.toStdString();
        for (const QString &t : tags)
            v.tags.push_back(t.toStdString());
        after = v;
    }
    const auto before = m_model->verdict(row);
    const QString error = writeVerdict(m_model, id, after);
    if (!error.isEmpty()) { // nothing changed: no undo entry, and the user hears why
        Q_EMIT message(tr("Verdict NOT saved: %1").arg(error));
        return;
    }
    auto *command = new VerdictCommand(m_model, id, before, after, [this](const QString &m) { Q_EMIT message(m); });
    command->markWritten();
    m_undo->push(command);
    Q_EMIT message(tr("Verdict saved (Ctrl+Z to undo)."));
}

bool ComparisonView::exportCsv(const QString &file, QString *error) const
{
    return writeCsvFile(file, m_model->toCsv(), error);
}

} // namespace se::ui
