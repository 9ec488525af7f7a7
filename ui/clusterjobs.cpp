#include "ui/clusterjobs.h"

#include <QDateTime>
#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QShortcut>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace se::ui {

ClusterJobsDialog::ClusterJobsDialog(const QString &storePath, QWidget *parent, const QString &squeue)
    : QDialog(parent), m_store(storePath), m_squeue(squeue)
{
    setWindowTitle(tr("Cluster Jobs"));
    auto *layout = new QVBoxLayout(this);
    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_summary);
    m_table = new QTableWidget(0, 2, this);
    m_table->setHorizontalHeaderLabels({tr("Run"), tr("State")});
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    layout->addWidget(m_table);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    layout->addWidget(m_note);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    auto *refreshButton = buttons->addButton(tr("&Refresh"), QDialogButtonBox::ActionRole);
    m_collect = buttons->addButton(tr("&Collect Ended Runs"), QDialogButtonBox::ActionRole);
    m_collect->setToolTip(tr("Merge the runs that have ended into the open store, in the sweep's order "
                             "(as safeeraser reproduce --collect)"));
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(refreshButton, &QPushButton::clicked, this, &ClusterJobsDialog::refresh);
    connect(m_collect, &QPushButton::clicked, this, &ClusterJobsDialog::collect);
    new QShortcut(QKeySequence::Refresh, this, [this] { refresh(); });
    layout->addWidget(buttons);
    resize(560, 520);

    try {
        m_submission = se::store::readSubmission(storePath.toStdString());
        m_ok = true;
        m_summary->setText(tr("%1: vanilla evaluation job %2, array job %3 (%4 runs)")
                               .arg(storePath, QString::fromStdString(m_submission.vanillaJob),
                                    QString::fromStdString(m_submission.arrayJob))
                               .arg(m_submission.labels.size()));
    } catch (const std::exception &e) {
        m_summary->setText(tr("No Slurm sweep was submitted for this store: %1\nSubmit one with safeeraser reproduce "
                              "--slurm --store %2 …")
                               .arg(QString::fromStdString(e.what()), storePath));
        m_collect->setEnabled(false);
        refreshButton->setEnabled(false);
        return;
    }
    connect(&m_watch, &QFutureWatcher<Snapshot>::finished, this, [this] { showStates(m_watch.result()); });
    connect(&m_collectWatch, &QFutureWatcher<Collected>::finished, this, [this] {
        const Collected c = m_collectWatch.result();
        if (!c.error.empty()) {
            m_note->setText(tr("The merge failed: %1").arg(QString::fromStdString(c.error)));
            return;
        }
        m_note->setText(tr("%n run(s) merged into the store.", nullptr, c.merged));
        Q_EMIT collected(c.merged);
        refresh();
    });
    m_timer = new QTimer(this);
    m_timer->setInterval(5000);
    connect(m_timer, &QTimer::timeout, this, &ClusterJobsDialog::refresh);
    m_timer->start();
    refresh();
}

ClusterJobsDialog::~ClusterJobsDialog()
{
    m_watch.waitForFinished();
    m_collectWatch.waitForFinished();
}

void ClusterJobsDialog::refresh()
{
    if (!m_ok || m_watch.isRunning())
        return;
    const auto submission = m_submission;
    const std::string squeue = m_squeue.toStdString();
    m_watch.setFuture(QtConcurrent::run([submission, squeue] {
        Snapshot s;
        s.states = se::store::sweepState(submission, squeue, &s.squeueNote);
        return s;
    }));
}

void ClusterJobsDialog::showStates(const Snapshot &s)
{
    m_table->setRowCount(int(s.states.size()));
    int ended = 0;
    for (int i = 0; i < int(s.states.size()); ++i) {
        const auto &t = s.states[std::size_t(i)];
        m_table->setItem(i, 0, new QTableWidgetItem(QString::fromStdString(t.label)));
        auto *state = new QTableWidgetItem(QString::fromStdString(t.state));
        state->setToolTip(state->text());
        m_table->setItem(i, 1, state);
        ended += t.ended;
    }
    m_collect->setEnabled(ended > 0 && !m_collectWatch.isRunning());
    m_note->setText(tr("%1 of %2 ended · updated %3")
                        .arg(ended)
                        .arg(s.states.size())
                        .arg(QDateTime::currentDateTime().toString("HH:mm:ss")) +
                    (s.squeueNote.empty() ? QString() : "\n" + QString::fromStdString(s.squeueNote)));
    Q_EMIT refreshed();
}

void ClusterJobsDialog::collect()
{
    if (!m_ok || m_collectWatch.isRunning())
        return;
    m_collect->setEnabled(false);
    const auto submission = m_submission;
    const std::string squeue = m_squeue.toStdString();
    m_collectWatch.setFuture(QtConcurrent::run([submission, squeue] {
        Collected c;
        try {
            c.merged = se::store::collectSweep(submission, se::store::sweepState(submission, squeue));
        } catch (const std::exception &e) {
            c.error = e.what();
        }
        return c;
    }));
}

} // namespace se::ui
