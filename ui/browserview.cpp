#include "ui/browserview.h"
#include "ui/csvfield.h"
#include "core/data/imageheader.h"
#include "ui/recordtablemodel.h"
#include "ui/safeview.h"
#include "ui/thumbnailcache.h"

#include <QFile>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QImageReader>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace se::ui {

void RecordFilter::setCategory(const QString &category)
{
    m_category = category;
    invalidateFilter();
}

void RecordFilter::setText(const QString &text)
{
    m_words = text.toLower().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    invalidateFilter();
}

bool RecordFilter::filterAcceptsRow(int row, const QModelIndex &parent) const
{
    const QModelIndex idx = sourceModel()->index(row, 0, parent);
    if (!m_category.isEmpty() && idx.data(RecordTableModel::CategoryRole).toString() != m_category)
        return false;
    if (m_words.isEmpty())
        return true;
    const QString text = idx.data(RecordTableModel::SearchTextRole).toString();
    for (const QString &w : m_words)
        if (!text.contains(w))
            return false;
    return true;
}

namespace {
QLabel *styleImageLabel(QLabel *l)
{
    l->setAlignment(Qt::AlignCenter);
    l->setMinimumSize(240, 240);
    l->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    l->setFrameShape(QFrame::StyledPanel);
    return l;
}

// A large view of an image, scaled while decoding (never the full size of a huge file).
QImage readScaled(const QString &file, int side)
{
    if (file.isEmpty())
        return {};
    QImageReader r(file);
    r.setAutoTransform(true);
    const QSize s = r.size();
    if (s.isValid()) {
        if (quint64(s.width()) * quint64(s.height()) > se::data::kDefaultDecodeMaxPixels)
            return {};
        r.setScaledSize(s.scaled(side, side, Qt::KeepAspectRatio));
    }
    return r.read();
}
} // namespace

BrowserView::BrowserView(QWidget *parent) : QWidget(parent)
{
    m_model = new RecordTableModel(this);
    m_thumbs = new ThumbnailCache(112, this);
    m_model->setThumbnails(m_thumbs);
    m_proxy = new RecordFilter(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(Qt::DisplayRole);

    m_category = new QComboBox;
    m_category->setObjectName("categoryFilter");
    m_category->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_category->addItem(tr("All categories"), QString());
    connect(m_category, &QComboBox::currentIndexChanged, this, &BrowserView::applyCategory);

    m_search = new QLineEdit;
    m_search->setObjectName("recordSearch");
    m_search->setPlaceholderText(tr("Search questions and answers… (Ctrl+F)"));
    m_search->setClearButtonEnabled(true);
    m_searchTimer = new QTimer(this);
    m_searchTimer->setSingleShot(true);
    m_searchTimer->setInterval(150); // filter once the typing pauses, not per key
    connect(m_search, &QLineEdit::textChanged, m_searchTimer, qOverload<>(&QTimer::start));
    connect(m_searchTimer, &QTimer::timeout, this, [this] { m_proxy->setText(m_search->text()); });
    auto *reveal = new QAction(this); // V: show (or blur again) the harmful image
    reveal->setShortcut(QKeySequence(Qt::Key_V));
    reveal->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(reveal, &QAction::triggered, this, [this] { m_image->toggleReveal(); });
    addAction(reveal);
    auto *find = new QAction(this);
    find->setShortcut(QKeySequence::Find);
    connect(find, &QAction::triggered, m_search, [this] {
        m_search->setFocus();
        m_search->selectAll();
    });
    addAction(find);

    m_gridButton = new QToolButton;
    m_gridButton->setObjectName("gridToggle");
    m_gridButton->setText(tr("Grid"));
    m_gridButton->setCheckable(true);
    m_gridButton->setChecked(true);
    m_gridButton->setToolTip(tr("Thumbnail grid or table (Ctrl+G)"));
    m_gridButton->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_G));
    connect(m_gridButton, &QToolButton::toggled, this, &BrowserView::setGridMode);
    m_count = new QLabel;

    auto *bar = new QHBoxLayout;
    bar->addWidget(m_category);
    bar->addWidget(m_search, 1);
    bar->addWidget(m_gridButton);
    bar->addWidget(m_count);

    m_grid = new QListView;
    m_grid->setObjectName("recordGrid");
    m_grid->setViewMode(QListView::IconMode);
    m_grid->setResizeMode(QListView::Adjust);
    m_grid->setMovement(QListView::Static);
    m_grid->setUniformItemSizes(true); // no per-item size queries: scrolling 3,000 items stays cheap
    m_grid->setIconSize(QSize(112, 112));
    m_grid->setGridSize(QSize(140, 166));
    m_grid->setSpacing(4);
    m_grid->setLayoutMode(QListView::Batched);
    m_grid->setBatchSize(200);
    m_grid->setWordWrap(true);
    m_grid->setModel(m_proxy);
    m_grid->setModelColumn(RecordTableModel::Title);
    m_grid->setSelectionMode(QAbstractItemView::SingleSelection);

    m_table = new QTableView;
    m_table->setObjectName("recordTable");
    m_table->setModel(m_proxy);
    m_table->setSelectionModel(m_grid->selectionModel()); // one selection for both views
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    m_table->setSortingEnabled(true);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setColumnHidden(RecordTableModel::Title, true);

    m_stack = new QStackedWidget;
    m_stack->addWidget(m_grid);
    m_stack->addWidget(m_table);
    connect(m_grid->selectionModel(), &QItemSelectionModel::currentChanged, this, &BrowserView::showRecord);

    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addLayout(bar);
    leftLayout->addWidget(m_stack);

    m_image = new HarmfulImageLabel(tr("Harmful image"));
    styleImageLabel(m_image);
    m_image->setObjectName("harmfulImage");
    m_sdImage = styleImageLabel(new QLabel(tr("SD (benign) image")));
    m_sdImage->setObjectName("sdImage");
    m_pairs = new QTextBrowser;
    m_pairs->setObjectName("recordPairs");
    auto *imageRow = new QWidget;
    auto *images = new QHBoxLayout(imageRow);
    images->setContentsMargins(0, 0, 0, 0);
    images->addWidget(m_image);
    images->addWidget(m_sdImage);
    auto *right = new QSplitter(Qt::Vertical);
    right->addWidget(imageRow);
    right->addWidget(m_pairs);
    right->setStretchFactor(0, 1);
    right->setStretchFactor(1, 1);

    auto *split = new QSplitter;
    split->addWidget(left);
    split->addWidget(right);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    m_imageWatcher = new QFutureWatcher<QPair<QImage, QImage>>(this);
    connect(m_imageWatcher, &QFutureWatcherBase::finished, this, [this] {
        const auto [a, b] = m_imageWatcher->result();
        auto put = [](QLabel *l, const QImage &img, const QString &missing) {
            if (img.isNull())
                l->setText(missing);
            else
                l->setPixmap(QPixmap::fromImage(img).scaled(l->size() - QSize(8, 8), Qt::KeepAspectRatio,
                                                            Qt::SmoothTransformation));
        };
        if (a.isNull())
            m_image->clearImage(tr("Harmful image unavailable"));
        else
            m_image->setHarmfulImage(
                a.scaled(m_image->size() - QSize(8, 8), Qt::KeepAspectRatio, Qt::SmoothTransformation),
                m_imageCategory);
        put(m_sdImage, b, tr("SD image unavailable"));
    });
    connect(m_proxy, &QAbstractItemModel::rowsInserted, this,
            [this] { m_count->setText(tr("%n record(s)", "", m_proxy->rowCount())); });
    connect(m_proxy, &QAbstractItemModel::modelReset, this,
            [this] { m_count->setText(tr("%n record(s)", "", m_proxy->rowCount())); });
    connect(m_proxy, &QAbstractItemModel::layoutChanged, this,
            [this] { m_count->setText(tr("%n record(s)", "", m_proxy->rowCount())); });
    connect(m_proxy, &QAbstractItemModel::rowsRemoved, this,
            [this] { m_count->setText(tr("%n record(s)", "", m_proxy->rowCount())); });
}

BrowserView::~BrowserView() = default; // a decode still running holds only file names

void BrowserView::setGridMode(bool grid)
{
    m_stack->setCurrentIndex(grid ? 0 : 1);
    if (m_gridButton->isChecked() != grid)
        m_gridButton->setChecked(grid);
}

bool BrowserView::gridMode() const
{
    return m_stack->currentIndex() == 0;
}

void BrowserView::setBenchmark(std::shared_ptr<const se::data::Benchmark> b)
{
    m_benchmark = b;
    m_thumbs->clearQueue();
    m_model->setBenchmark(b);
    m_category->blockSignals(true);
    m_category->clear();
    m_category->addItem(tr("All categories (%1)").arg(m_model->rowCount()), QString());
    if (b)
        for (const auto &[name, n] : b->categoryRecords)
            m_category->addItem(QStringLiteral("%1 (%2)").arg(QString::fromStdString(name)).arg(n),
                                QString::fromStdString(name));
    m_category->setCurrentIndex(0);
    m_category->blockSignals(false);
    applyCategory();
    m_table->resizeColumnsToContents();
    m_count->setText(tr("%n record(s)", "", m_proxy->rowCount()));
    if (m_proxy->rowCount() > 0)
        selectVisibleRow(0);
}

void BrowserView::selectVisibleRow(int row)
{
    const QModelIndex idx = m_proxy->index(row, RecordTableModel::Title);
    m_grid->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

bool BrowserView::selectRecord(se::data::Split split, long index)
{
    for (int pass = 0; pass < 2; ++pass) {
        for (int r = 0; r < m_proxy->rowCount(); ++r) {
            const int src = m_proxy->mapToSource(m_proxy->index(r, 0)).row();
            const auto *s = m_model->split(src);
            if (s && s->split == split && m_model->record(src)->index == index) {
                selectVisibleRow(r);
                m_grid->scrollTo(m_proxy->index(r, RecordTableModel::Title));
                return true;
            }
        }
        m_category->setCurrentIndex(0); // hidden by a filter? show everything and look again
        m_search->clear();
        m_proxy->setText(QString());
    }
    return false;
}

const se::data::Record *BrowserView::currentRecord() const
{
    const QModelIndex idx = m_grid->selectionModel()->currentIndex();
    return idx.isValid() ? m_model->record(m_proxy->mapToSource(idx).row()) : nullptr;
}

void BrowserView::applyCategory()
{
    m_proxy->setCategory(m_category->currentData().toString());
}

void BrowserView::loadLargeImages(const QString &harmful, const QString &sd)
{
    m_imageWatcher->cancel(); // the previous decode's result, if it still comes, is not delivered
    const int side = std::max(320, std::max(m_image->width(), m_image->height()));
    m_imageWatcher->setFuture(
        QtConcurrent::run([harmful, sd, side] { return qMakePair(readScaled(harmful, side), readScaled(sd, side)); }));
}

void BrowserView::showRecord(const QModelIndex &current)
{
    const se::data::SplitData *split =
        current.isValid() ? m_model->split(m_proxy->mapToSource(current).row()) : nullptr;
    const se::data::Record *r = current.isValid() ? m_model->record(m_proxy->mapToSource(current).row()) : nullptr;
    if (!r) {
        m_pairs->clear();
        return;
    }
    m_image->clearImage(tr("Loading…"));
    m_sdImage->setText(tr("Loading…"));
    m_imageCategory = QString::fromStdString(r->category);
    loadLargeImages(QString::fromStdString(r->imageFile), QString::fromStdString(r->sdImageFile));
    auto esc = [](const std::string &s) { return QString::fromStdString(s).toHtmlEscaped(); };
    QString html = QStringLiteral("<h3>%1 — record %2 <small>(%3)</small></h3>")
                       .arg(esc(r->category))
                       .arg(r->index)
                       .arg(split ? QString::fromLatin1(se::data::splitName(split->split)) : QString());
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
    Q_EMIT recordShown(QStringLiteral("%1 record %2").arg(esc(r->category)).arg(r->index));
}

bool BrowserView::exportCsv(const QString &file, QString *error) const
{
    return writeCsvFile(file, modelCsv(*visibleModel(), visibleModel()->columnCount() - 1), error); // not the title
}

} // namespace se::ui
