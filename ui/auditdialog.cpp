#include "ui/auditdialog.h"

#include "ui/enginebridge.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>
#include <climits>

namespace se::ui {

namespace {
// The user's settings hold what they chose; a value out of the fields' range (an edited settings file) falls back to
// the engine's default.
int savedInt(const QSettings &s, const char *key, int fallback, int lo, int hi)
{
    bool ok = false;
    const int v = s.value(key, fallback).toInt(&ok);
    return ok && v >= lo && v <= hi ? v : fallback;
}
constexpr int kMaxQuestions = 1000000, kMaxSteps = 1000000;
} // namespace

se::engine::AuditOptions savedAuditOptions()
{
    const se::engine::AuditOptions d;
    se::engine::AuditOptions o;
    const QSettings s;
    o.questions = savedInt(s, "audit/questions", d.questions, 0, kMaxQuestions);
    o.seed = std::uint64_t(savedInt(s, "audit/seed", int(d.seed), 0, INT_MAX));
    o.attacksFile = s.value("audit/attacks", QString::fromStdString(d.attacksFile)).toString().toStdString();
    o.modality = s.value("audit/images", d.modality).toBool();
    o.likelihood = s.value("audit/likelihood", d.likelihood).toBool();
    o.vanilla = s.value("audit/startModel", d.vanilla).toBool();
    o.relearnSteps = savedInt(s, "audit/relearnSteps", d.relearnSteps, 0, kMaxSteps);
    o.relearnEvery = savedInt(s, "audit/relearnEvery", d.relearnEvery, 1, kMaxSteps);
    o.relearnTargets = savedInt(s, "audit/relearnTargets", d.relearnTargets, 0, kMaxQuestions);
    o.device = s.value("audit/device", QString::fromStdString(d.device)).toString().toStdString();
    return o;
}

void saveAuditOptions(const se::engine::AuditOptions &o)
{
    QSettings s;
    s.setValue("audit/questions", o.questions);
    s.setValue("audit/seed", qulonglong(o.seed));
    s.setValue("audit/attacks", QString::fromStdString(o.attacksFile));
    s.setValue("audit/images", o.modality);
    s.setValue("audit/likelihood", o.likelihood);
    s.setValue("audit/startModel", o.vanilla);
    s.setValue("audit/relearnSteps", o.relearnSteps);
    s.setValue("audit/relearnEvery", o.relearnEvery);
    s.setValue("audit/relearnTargets", o.relearnTargets);
    s.setValue("audit/device", QString::fromStdString(o.device));
}

QString describeAuditOptions(const se::engine::AuditOptions &o)
{
    QStringList parts;
    parts << (o.questions > 0 ? QObject::tr("%1 forget questions").arg(o.questions)
                              : QObject::tr("all forget questions"));
    const QString file = QString::fromStdString(o.attacksFile);
    parts << (file.isEmpty() ? QObject::tr("built-in rephrasings")
                             : QObject::tr("rephrasings of %1").arg(QFileInfo(file).fileName()));
    if (o.modality)
        parts << QObject::tr("image attacks");
    if (o.likelihood)
        parts << QObject::tr("likelihood");
    if (!o.vanilla)
        parts << QObject::tr("no start model beside");
    if (o.relearnSteps > 0)
        parts << QObject::tr("relearning %1 steps (every %2, %3 targets)")
                     .arg(o.relearnSteps)
                     .arg(o.relearnEvery)
                     .arg(o.relearnTargets);
    else
        parts << QObject::tr("no relearning");
    if (!o.device.empty())
        parts << QObject::tr("on %1").arg(QString::fromStdString(o.device));
    return QObject::tr("Audit: %1").arg(parts.join(QStringLiteral(" · ")));
}

AuditDialog::AuditDialog(const se::engine::AuditOptions &start, QWidget *parent) : QDialog(parent)
{
    setWindowTitle(tr("Audit Options"));
    setObjectName("auditDialog");
    auto spin = [this](const char *name, int lo, int hi, const QString &tip) {
        auto *b = new QSpinBox(this);
        b->setObjectName(name);
        b->setRange(lo, hi);
        b->setToolTip(tip);
        return b;
    };
    m_questions = spin("auditQuestions", 0, kMaxQuestions,
                       tr("Forget questions of all_val asked under every attack: a fixed seeded subset (--questions)"));
    m_questions->setSpecialValueText(tr("all"));
    m_seed = spin("auditSeed", 0, INT_MAX, tr("Seed of the subset (--seed)"));
    m_attacks = new QLineEdit(this);
    m_attacks->setObjectName("auditAttacks");
    m_attacks->setPlaceholderText(tr("built-in templates"));
    m_attacks->setToolTip(tr("A file of rephrasing templates, \"name: template\" a line with {question} once "
                             "(--attacks; safeeraser audit --print-attacks writes the built-in ones)"));
    m_attacksNote = new QLabel(this);
    m_attacksNote->setObjectName("auditAttacksNote");
    auto *browse = new QPushButton(tr("Browse…"), this);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Rephrasing templates"), m_attacks->text(),
                                                       tr("Templates (*.txt);;All files (*)"));
        if (!f.isEmpty())
            m_attacks->setText(f);
    });
    connect(m_attacks, &QLineEdit::textChanged, this, [this] {
        QString error;
        const int n = attackTemplateCount(m_attacks->text().trimmed(), &error);
        m_attacksNote->setText(n == 1 ? tr("1 template") : n >= 0 ? tr("%1 templates").arg(n) : error);
    });
    m_images = new QCheckBox(tr("Image attacks: a blank and weakened images (blur, crop, JPEG, mirror)"), this);
    m_images->setObjectName("auditImages");
    m_likelihood =
        new QCheckBox(tr("Likelihood: the forget targets' NLL under the run and the model it started from"), this);
    m_likelihood->setObjectName("auditLikelihood");
    m_startModel = new QCheckBox(tr("Ask the model the run started from too, beside the run"), this);
    m_startModel->setObjectName("auditStartModel");
    m_relearnSteps = spin("auditRelearnSteps", 0, kMaxSteps, tr("Fine-tuning steps of each relearning attack"));
    m_relearnSteps->setSpecialValueText(tr("none"));
    m_relearnEvery = spin("auditRelearnEvery", 1, kMaxSteps,
                          tr("Steps between relearning measurements (its start and end are always measured)"));
    m_relearnTargets = spin("auditRelearnTargets", 0, kMaxQuestions,
                            tr("Forget samples of all_train (other records) the second relearning attack trains on"));
    m_relearnTargets->setSpecialValueText(tr("none"));
    m_device = new QComboBox(this);
    m_device->setObjectName("auditDevice");
    m_device->addItem(tr("the run's"), QString());
    for (const QString &d : availableDevices())
        m_device->addItem(d, d);
    m_error = new QLabel(this);
    m_error->setObjectName("auditError");
    m_error->setWordWrap(true);
    m_error->setStyleSheet("color: #b00020");

    auto *attacksRow = new QHBoxLayout;
    attacksRow->addWidget(m_attacks, 1);
    attacksRow->addWidget(browse);
    auto *form = new QFormLayout;
    form->addRow(tr("&Questions:"), m_questions);
    form->addRow(tr("S&eed:"), m_seed);
    auto *attacksLabel = new QLabel(tr("&Rephrasings:"), this); // a row of two widgets: the label needs its buddy
    attacksLabel->setBuddy(m_attacks);
    form->addRow(attacksLabel, attacksRow);
    form->addRow(QString(), m_attacksNote);
    form->addRow(QString(), m_images);
    form->addRow(QString(), m_likelihood);
    form->addRow(QString(), m_startModel);
    form->addRow(tr("Relearning &steps:"), m_relearnSteps);
    form->addRow(tr("Measured &every:"), m_relearnEvery);
    form->addRow(tr("Forget &targets:"), m_relearnTargets);
    form->addRow(tr("&Device:"), m_device);
    auto *buttons =
        new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel | QDialogButtonBox::RestoreDefaults, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &AuditDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &AuditDialog::reject);
    connect(buttons->button(QDialogButtonBox::RestoreDefaults), &QPushButton::clicked, this,
            &AuditDialog::restoreDefaults);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
    setOptions(start);
}

void AuditDialog::setOptions(const se::engine::AuditOptions &o)
{
    m_questions->setValue(o.questions);
    m_seed->setValue(int(std::min<std::uint64_t>(o.seed, INT_MAX)));
    m_attacks->setText(QString::fromStdString(o.attacksFile));
    Q_EMIT m_attacks->textChanged(m_attacks->text()); // the note, also when the text did not change
    m_images->setChecked(o.modality);
    m_likelihood->setChecked(o.likelihood);
    m_startModel->setChecked(o.vanilla);
    m_relearnSteps->setValue(o.relearnSteps);
    m_relearnEvery->setValue(o.relearnEvery);
    m_relearnTargets->setValue(o.relearnTargets);
    const int device = m_device->findData(QString::fromStdString(o.device));
    if (device >= 0) {
        m_device->setCurrentIndex(device);
    } else { // a device this build does not list (cuda:3 kept from another machine): offered as it was
        m_device->addItem(QString::fromStdString(o.device), QString::fromStdString(o.device));
        m_device->setCurrentIndex(m_device->count() - 1);
    }
    m_error->clear();
}

void AuditDialog::restoreDefaults()
{
    setOptions(se::engine::AuditOptions{});
}

se::engine::AuditOptions AuditDialog::options() const
{
    se::engine::AuditOptions o;
    o.questions = m_questions->value();
    o.seed = std::uint64_t(m_seed->value());
    o.attacksFile = m_attacks->text().trimmed().toStdString();
    o.modality = m_images->isChecked();
    o.likelihood = m_likelihood->isChecked();
    o.vanilla = m_startModel->isChecked();
    o.relearnSteps = m_relearnSteps->value();
    o.relearnEvery = m_relearnEvery->value();
    o.relearnTargets = m_relearnTargets->value();
    o.device = m_device->currentData().toString().toStdString();
    return o;
}

bool AuditDialog::check()
{
    const QString file = m_attacks->text().trimmed();
    QString error;
    if (!file.isEmpty() && attackTemplateCount(file, &error) < 0) {
        m_error->setText(tr("Rephrasing templates: %1").arg(error));
        m_attacks->setFocus();
        return false;
    }
    m_error->clear();
    return true;
}

void AuditDialog::accept()
{
    if (check())
        QDialog::accept();
}

} // namespace se::ui
