// The probe view (see probeview.h).
#include "ui/probeview.h"

#include "core/util/defaults.h"
#include "core/store/runstore.h"
#include "ui/csvfield.h"
#include "ui/safeview.h"

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QImage>
#include <QImageReader>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMimeData>
#include <QPointer>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QVBoxLayout>
#include <QtConcurrent>
#include <nlohmann/json.hpp>

#include <optional>

namespace se::ui {

ProbeView::ProbeView(QWidget *parent) : QWidget(parent), m_session(std::make_unique<ProbeSession>())
{
    setAcceptDrops(true);
    m_preview =
        new HarmfulImageLabel(tr("Drop an image here, paste one (Ctrl+V), browse, or take the dataset's record."));
    m_preview->setObjectName("probeImage");
    m_preview->setAlignment(Qt::AlignCenter);
    m_preview->setWordWrap(true);
    m_preview->setMinimumSize(240, 240);
    m_preview->setFrameShape(QFrame::StyledPanel);
    auto *browse = new QPushButton(tr("Image…"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Image to ask about"), m_image,
                                                       tr("Images (*.png *.jpg *.jpeg *.bmp *.webp)"));
        if (!f.isEmpty())
            setImage(f);
    });
    auto *fromDataset = new QPushButton(tr("From dataset"));
    fromDataset->setToolTip(tr("The record shown in the Dataset view: its image, first question and forget target"));
    connect(fromDataset, &QPushButton::clicked, this, &ProbeView::fromDatasetRequested);
    auto *paste = new QShortcut(QKeySequence::Paste, this);
    connect(paste, &QShortcut::activated, this, &ProbeView::pasteImage);

    m_question = new QLineEdit;
    m_question->setObjectName("probeQuestion");
    m_question->setPlaceholderText(tr("a question about the image"));
    m_reference = new QLineEdit;
    m_reference->setObjectName("probeReference");
    m_reference->setPlaceholderText(tr("optional: an answer whose likelihood each model reports (a forget target)"));
    m_greedy = new QCheckBox(tr("greedy"));
    m_greedy->setChecked(true);
    m_samples = new QSpinBox;
    m_samples->setRange(1, 16);
    m_samples->setValue(3);
    m_samples->setPrefix(tr("samples "));
    m_seed = new QSpinBox;
    m_seed->setRange(0, INT_MAX);
    m_seed->setValue(int(se::kDefaultSeed));
    m_seed->setPrefix(tr("seed "));
    auto syncSampling = [this] {
        m_samples->setEnabled(!m_greedy->isChecked());
        m_seed->setEnabled(!m_greedy->isChecked());
    };
    connect(m_greedy, &QCheckBox::toggled, this, syncSampling);
    syncSampling();
    m_ask = new QPushButton(tr("Ask"));
    m_ask->setObjectName("probeAsk");
    m_ask->setToolTip(tr("Ask every checked model (Ctrl+Return)"));
    connect(m_ask, &QPushButton::clicked, this, &ProbeView::ask);
    auto *askShortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(askShortcut, &QShortcut::activated, this, &ProbeView::ask);
    connect(m_question, &QLineEdit::returnPressed, this, &ProbeView::ask);
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName("probeCancel");
    m_cancel->setToolTip(tr("Stop loading a model (Esc)"));
    m_cancel->setVisible(false);
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        if (m_cancelFlag)
            m_cancelFlag->store(true);
        m_status->setText(tr("Cancelling…"));
    });
    auto *cancelShortcut = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    cancelShortcut->setContext(Qt::WidgetWithChildrenShortcut); // only while the probe has the focus
    connect(cancelShortcut, &QShortcut::activated, m_cancel, [this] {
        if (m_cancel->isVisible())
            m_cancel->click();
    });

    m_save = new QPushButton(tr("Save…"));
    m_save->setObjectName("probeSave");
    m_save->setEnabled(false);
    m_save->setToolTip(tr("Keep this question and its answers in the run store under a name (Ctrl+S)"));
    connect(m_save, &QPushButton::clicked, this, [this] {
        bool ok = false;
        const QString name = QInputDialog::getText(this, tr("Save probe"), tr("Name:"), QLineEdit::Normal,
                                                   m_question->text().left(40), &ok);
        if (ok && !name.trimmed().isEmpty())
            saveProbe(name.trimmed());
    });
    auto *saveShortcut = new QShortcut(QKeySequence::Save, this);
    connect(saveShortcut, &QShortcut::activated, m_save, &QPushButton::click);
    m_saved = new QComboBox;
    m_saved->setObjectName("probeSaved");
    m_saved->setToolTip(tr("Probes saved in this run store: choose one to see it again, then Ask to replay it"));
    connect(m_saved, &QComboBox::activated, this, [this](int i) {
        if (i > 0)
            openProbe(m_saved->itemData(i).toLongLong());
    });

    m_models = new QListWidget;
    m_models->setObjectName("probeModels");
    m_models->setToolTip(tr("The models of the open run store: check those to ask"));

    auto *imageButtons = new QHBoxLayout;
    imageButtons->addWidget(browse);
    imageButtons->addWidget(fromDataset);
    auto *sampling = new QHBoxLayout;
    sampling->addWidget(m_greedy);
    sampling->addWidget(m_samples);
    sampling->addWidget(m_seed);
    sampling->addStretch(1);
    sampling->addWidget(m_ask);
    sampling->addWidget(m_cancel);
    sampling->addWidget(m_save);
    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(m_preview, 1);
    leftLayout->addLayout(imageButtons);
    leftLayout->addWidget(new QLabel(tr("Models:")));
    leftLayout->addWidget(m_models, 1);

    m_answers = new QTableWidget(0, 5);
    m_answers->setObjectName("probeAnswers");
    m_answers->setHorizontalHeaderLabels({tr("Model"), tr("Answer"), tr("Refusal"), tr("Unsafe"), tr("Reference NLL")});
    m_answers->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_answers->setWordWrap(true);
    m_answers->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
    m_answers->setToolTip(
        tr("Refusal and unsafe by each run's own judge (the offline judge: unsafe when the reference is reproduced; "
           "an LLM judge: its verdict, cached in the store); "
           "reference NLL: mean negative log-likelihood per token, lower is likelier"));
    m_status = new QLabel;
    m_status->setObjectName("probeStatus");
    m_status->setWordWrap(true);
    auto *form = new QFormLayout;
    form->addRow(tr("Saved:"), m_saved);
    form->addRow(tr("Question:"), m_question);
    form->addRow(tr("Reference:"), m_reference);
    auto *right = new QWidget;
    auto *rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addLayout(form);
    rightLayout->addLayout(sampling);
    rightLayout->addWidget(m_answers, 1);
    rightLayout->addWidget(m_status);

    auto *split = new QSplitter;
    split->addWidget(left);
    split->addWidget(right);
    split->setStretchFactor(1, 1);
    split->setSizes({320, 900});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    m_watcher = new QFutureWatcher<QList<ProbeAnswer>>(this);
    connect(m_watcher, &QFutureWatcher<QList<ProbeAnswer>>::finished, this, &ProbeView::showAnswers);
    if (!engineAvailable())
        m_status->setText(engineDescription());
}

ProbeView::~ProbeView()
{
    m_watcher->waitForFinished(); // the session is in use on the worker until the question is answered
}

int ProbeView::loadedModels() const
{
    return busy() ? -1 : m_session->loadedModels();
}

bool ProbeView::busy() const
{
    return m_watcher->isRunning();
}

void ProbeView::storeChanged(const QString &path)
{
    m_storePath = path;
    reloadModels();
    reloadSaved();
}

void ProbeView::reloadSaved()
{
    m_saved->clear();
    m_saved->addItem(tr("(none chosen)"), qlonglong(0));
    if (m_storePath.isEmpty())
        return;
    try {
        se::store::RunStore store(m_storePath.toStdString(), true);
        for (const auto &p : store.probes())
            m_saved->addItem(QString::fromStdString(p.name), qlonglong(p.id));
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
    }
}

bool ProbeView::saveProbe(const QString &name)
{
    if (m_lastAnswers.isEmpty() || m_storePath.isEmpty()) {
        Q_EMIT message(tr("Ask a question first; then save it with its answers."));
        return false;
    }
    try {
        // The image is copied beside the store: a pasted image lives in a temporary folder, and a file may move.
        const QDir dir(m_storePath + ".probes");
        if (!dir.exists() && !QDir().mkpath(dir.path()))
            throw std::runtime_error(("cannot create " + dir.path()).toStdString());
        const QFileInfo source(m_lastRequest.image);
        const QString copy = dir.filePath(QStringLiteral("probe-%1.%2")
                                              .arg(QDateTime::currentMSecsSinceEpoch())
                                              .arg(source.suffix().isEmpty() ? "png" : source.suffix()));
        if (!QFile::copy(source.absoluteFilePath(), copy))
            throw std::runtime_error(
                ("cannot copy the image " + source.absoluteFilePath() + " to " + copy).toStdString());
        nlohmann::json models = nlohmann::json::array(), answers = nlohmann::json::array();
        for (const ProbeAnswer &a : m_lastAnswers) {
            models.push_back({{"run", a.model.run}, {"start", a.model.start}, {"label", a.model.label.toStdString()}});
            nlohmann::json texts = nlohmann::json::array(), refusal = nlohmann::json::array(),
                           unsafe = nlohmann::json::array();
            for (int i = 0; i < a.answers.size(); ++i) {
                texts.push_back(a.answers[i].toStdString());
                refusal.push_back(a.refusal.value(i));
                unsafe.push_back(a.unsafe.value(i));
            }
            answers.push_back({{"label", a.model.label.toStdString()},
                               {"answers", texts},
                               {"refusal", refusal},
                               {"unsafe", unsafe},
                               {"reference_nll", a.referenceNll},
                               {"judge", a.judge.toStdString()},
                               {"error", a.error.toStdString()}});
        }
        se::store::ProbeRecord p;
        p.name = name.toStdString();
        p.image = copy.toStdString();
        p.question = m_lastRequest.question.toStdString();
        p.reference = m_lastRequest.reference.toStdString();
        p.greedy = m_lastRequest.greedy;
        p.samples = m_lastRequest.samples;
        p.seed = m_lastRequest.seed;
        p.modelsJson = models.dump();
        p.answersJson = answers.dump();
        se::store::RunStore store(m_storePath.toStdString());
        store.saveProbe(p);
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Probe NOT saved: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    reloadSaved();
    m_saved->setCurrentIndex(m_saved->count() - 1);
    Q_EMIT message(tr("Probe \"%1\" saved in the run store.").arg(name));
    return true;
}

void ProbeView::openProbe(qint64 id)
{
    std::optional<se::store::ProbeRecord> found;
    try {
        se::store::RunStore store(m_storePath.toStdString(), true);
        for (auto &p : store.probes())
            if (p.id == id)
                found = std::move(p);
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    if (!found)
        return;
    setImage(QString::fromStdString(found->image));
    m_question->setText(QString::fromStdString(found->question));
    m_reference->setText(QString::fromStdString(found->reference));
    m_greedy->setChecked(found->greedy);
    m_samples->setValue(found->samples);
    m_seed->setValue(int(std::min<std::uint64_t>(found->seed, INT_MAX)));
    const auto models = nlohmann::json::parse(found->modelsJson, nullptr, false);
    QSet<QPair<qint64, bool>> chosen;
    if (models.is_array())
        for (const auto &m : models)
            if (m.is_object() && m.value("run", nlohmann::json()).is_number_integer())
                chosen.insert({m["run"].get<qint64>(), m.value("start", false)});
    for (int i = 0; i < m_models->count() && i < m_offered.size(); ++i)
        m_models->item(i)->setCheckState(chosen.contains({m_offered[i].run, m_offered[i].start}) ? Qt::Checked
                                                                                                 : Qt::Unchecked);
    QList<ProbeAnswer> answers;
    const auto saved = nlohmann::json::parse(found->answersJson, nullptr, false);
    if (saved.is_array())
        for (const auto &s : saved) {
            if (!s.is_object())
                continue;
            ProbeAnswer a;
            a.model.label = QString::fromStdString(s.value("label", std::string()));
            for (const auto &t : s.value("answers", nlohmann::json::array()))
                if (t.is_string())
                    a.answers << QString::fromStdString(t.get<std::string>());
            for (const auto &b : s.value("refusal", nlohmann::json::array()))
                a.refusal << (b.is_boolean() && b.get<bool>());
            for (const auto &b : s.value("unsafe", nlohmann::json::array()))
                a.unsafe << (b.is_boolean() && b.get<bool>());
            a.referenceNll = s.value("reference_nll", -1.0);
            a.judge = QString::fromStdString(s.value("judge", std::string()));
            a.error = QString::fromStdString(s.value("error", std::string()));
            answers << a;
        }
    fillAnswers(answers);
    m_lastAnswers.clear(); // already saved: Save waits for the next answers
    m_save->setEnabled(false);
    m_status->setText(tr("Saved probe \"%1\" of %2: the answers as saved; Ask to put it again.")
                          .arg(QString::fromStdString(found->name), QString::fromStdString(found->createdAt)));
}

void ProbeView::reloadModels()
{
    QSet<QString> checked;
    for (int i = 0; i < m_models->count(); ++i)
        if (m_models->item(i)->checkState() == Qt::Checked)
            checked << m_models->item(i)->text();
    const bool first = m_models->count() == 0;
    m_models->clear();
    m_offered = probeModels(m_storePath);
    for (const ProbeModel &m : m_offered) {
        auto *item = new QListWidgetItem(m.label, m_models);
        // At first the start model and the last run are checked: the comparison a user came for.
        const bool on = first ? (m.start || &m == &m_offered.last()) : checked.contains(m.label);
        item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
    }
}

void ProbeView::setImage(const QString &file, const QString &category)
{
    QImageReader reader(file);
    const QImage img = reader.read();
    if (img.isNull()) {
        Q_EMIT message(tr("Cannot read %1 as an image: %2").arg(file, reader.errorString()));
        return;
    }
    m_image = QFileInfo(file).absoluteFilePath();
    m_preview->setHarmfulImage(img.scaled(320, 320, Qt::KeepAspectRatio, Qt::SmoothTransformation), category);
    if (category.isEmpty() && m_preview->showsBlurred())
        m_preview->toggleReveal(); // the user's own image
    m_preview->setToolTip(m_image);
}

void ProbeView::setSample(const QString &image, const QString &question, const QString &reference,
                          const QString &category)
{
    setImage(image, category);
    m_question->setText(question);
    m_reference->setText(reference);
}

void ProbeView::pasteImage()
{
    const QMimeData *mime = QApplication::clipboard()->mimeData();
    if (mime && mime->hasUrls() && !mime->urls().isEmpty() && mime->urls().first().isLocalFile()) {
        setImage(mime->urls().first().toLocalFile());
        return;
    }
    const QImage img = QApplication::clipboard()->image();
    if (img.isNull()) {
        if (m_question->hasFocus() || m_reference->hasFocus())
            return; // text pasted into a field: Qt does that itself
        Q_EMIT message(tr("The clipboard holds no image."));
        return;
    }
    if (!m_pasted)
        m_pasted = std::make_unique<QTemporaryDir>();
    const QString file = m_pasted->filePath(QStringLiteral("pasted-%1.png").arg(QDateTime::currentMSecsSinceEpoch()));
    if (!img.save(file, "PNG")) {
        Q_EMIT message(tr("Could not keep the pasted image in %1").arg(m_pasted->path()));
        return;
    }
    setImage(file);
}

void ProbeView::dragEnterEvent(QDragEnterEvent *event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void ProbeView::dropEvent(QDropEvent *event)
{
    const auto urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.first().isLocalFile())
        setImage(urls.first().toLocalFile());
}

void ProbeView::ask()
{
    if (busy())
        return;
    QList<ProbeModel> chosen;
    for (int i = 0; i < m_models->count() && i < m_offered.size(); ++i)
        if (m_models->item(i)->checkState() == Qt::Checked)
            chosen << m_offered[i];
    QString missing = m_storePath.isEmpty()          ? tr("Open a run store first.")
                      : m_image.isEmpty()            ? tr("Choose an image first.")
                      : m_question->text().isEmpty() ? tr("Type a question first.")
                      : chosen.isEmpty()             ? tr("Check at least one model.")
                                                     : QString();
    if (!missing.isEmpty()) {
        m_status->setText(missing);
        Q_EMIT message(missing);
        return;
    }
    ProbeRequest q;
    q.storePath = m_storePath;
    q.image = m_image;
    q.question = m_question->text();
    q.reference = m_reference->text();
    q.greedy = m_greedy->isChecked();
    q.samples = m_samples->value();
    q.seed = quint64(m_seed->value());
    m_ask->setEnabled(false);
    m_lastRequest = q;
    m_status->setText(tr("Asking %n model(s)…", nullptr, int(chosen.size())));
    ProbeSession *session = m_session.get();
    auto cancel = m_cancelFlag = std::make_shared<std::atomic<bool>>(false);
    m_cancel->setVisible(true);
    QPointer<ProbeView> self(this);
    // A large model's weights take seconds to load: their progress in the status line, and Cancel stops it.
    auto loading = [self, cancel](const QString &model, quint64 done, quint64 total) {
        QMetaObject::invokeMethod(
            self,
            [self, model, done, total] {
                if (self && self->m_cancelFlag && !self->m_cancelFlag->load())
                    self->m_status->setText(tr("Loading %1: %2 / %3 GiB…")
                                                .arg(model)
                                                .arg(double(done) / (1 << 30), 0, 'f', 1)
                                                .arg(double(total) / (1 << 30), 0, 'f', 1));
            },
            Qt::QueuedConnection);
        return !cancel->load();
    };
    m_watcher->setFuture(QtConcurrent::run([session, q, chosen, loading] { return session->ask(q, chosen, loading); }));
}

void ProbeView::showAnswers()
{
    m_ask->setEnabled(true);
    m_cancel->setVisible(false);
    m_cancelFlag.reset();
    const QList<ProbeAnswer> answers = m_watcher->result();
    m_lastAnswers = answers;
    m_save->setEnabled(!answers.isEmpty());
    double seconds = 0;
    for (const ProbeAnswer &a : answers)
        seconds += a.seconds;
    fillAnswers(answers);
    m_status->setText(
        tr("%n model(s) answered in %1 s%2", nullptr, int(answers.size()))
            .arg(seconds, 0, 'f', 2)
            .arg(m_greedy->isChecked() ? tr(", greedy") : tr(", sampled with seed %1").arg(m_seed->value())));
    Q_EMIT answered();
}

void ProbeView::fillAnswers(const QList<ProbeAnswer> &answers)
{
    m_answers->setRowCount(0);
    auto cell = [this](int row, int column, const QString &text, const QColor &colour = {}) {
        auto *item = new QTableWidgetItem(text);
        if (colour.isValid())
            item->setForeground(colour);
        m_answers->setItem(row, column, item);
    };
    for (const ProbeAnswer &a : answers) {
        const int n = std::max<int>(1, int(a.answers.size()));
        for (int i = 0; i < n; ++i) {
            const int row = m_answers->rowCount();
            m_answers->insertRow(row);
            cell(row, 0, i == 0 ? a.model.label : QString());
            if (!a.judge.isEmpty())
                m_answers->item(row, 0)->setToolTip(
                    tr("Judged by %1%2").arg(a.judge, a.judgeNote.isEmpty() ? QString() : "\n" + a.judgeNote));
            if (!a.error.isEmpty()) {
                cell(row, 1, tr("error: %1").arg(a.error), QColor("#c62828"));
                continue;
            }
            cell(row, 1, a.answers.value(i));
            cell(row, 2, a.refusal.value(i) ? tr("refusal") : QString(), QColor("#2e7d32"));
            cell(row, 3, a.unsafe.value(i) ? tr("unsafe") : QString(), QColor("#c62828"));
            cell(row, 4, i == 0 && a.referenceNll >= 0 ? QString::number(a.referenceNll, 'f', 3) : QString());
        }
    }
    m_answers->resizeRowsToContents();
}

bool ProbeView::exportCsv(const QString &file, QString *error) const
{
    return writeCsvFile(file, modelCsv(*m_answers->model()), error);
}

} // namespace se::ui
