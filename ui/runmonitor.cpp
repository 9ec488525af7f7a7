// The run launcher's monitor (see runmonitor.h).
#include "ui/runmonitor.h"

#include "core/metrics/evaluation.h"
#include "ui/enginebridge.h"
#include "ui/plotsview.h"

#include <QAction>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTime>
#include <QTimer>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <cmath>

namespace se::ui {

namespace {
QString duration(double s)
{
    if (s <= 0 || !std::isfinite(s))
        return QStringLiteral("—");
    return QTime(0, 0).addSecs(int(std::lround(s))).toString(s >= 3600 ? "h:mm:ss" : "m:ss");
}
} // namespace

RunMonitor::RunMonitor(RunController *controller, QWidget *parent) : QWidget(parent), m_controller(controller)
{
    m_queue = new QListWidget;
    m_queue->setObjectName("runQueue");
    m_queue->setMaximumHeight(90);
    m_queue->setToolTip(tr("Select a waiting run and press Delete to take it out of the queue"));
    auto *removeQueued = new QAction(this);
    removeQueued->setShortcut(QKeySequence::Delete);
    removeQueued->setShortcutContext(Qt::WidgetShortcut);
    connect(removeQueued, &QAction::triggered, this, [this] {
        QListWidgetItem *item = m_queue->currentItem();
        if (!item || !item->data(Qt::UserRole).isValid())
            return;
        const QString label = item->text().trimmed(); // the list is rebuilt (item deleted) on removal
        if (m_controller->removeQueued(item->data(Qt::UserRole).toLongLong()))
            log(tr("removed %1 from the queue").arg(label));
    });
    m_queue->addAction(removeQueued);
    m_progress = new QProgressBar;
    m_progress->setObjectName("runProgress");
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_status = new QLabel(tr("Idle. %1").arg(engineDescription()));
    m_status->setObjectName("runStatus");
    m_status->setWordWrap(true);
    m_lossText = new QLabel;
    m_lossText->setObjectName("lossText");
    m_lossText->setWordWrap(true);
    m_plot = new QCustomPlot;
    m_plot->setObjectName("lossPlot");
    m_plot->legend->setVisible(false); // shown once there are curves
    m_plot->xAxis->setLabel(tr("step"));
    m_plot->yAxis->setLabel(tr("loss"));
    m_plot->setMinimumHeight(200);
    m_log = new QPlainTextEdit;
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(2000);
    m_log->setMaximumHeight(120);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(buildButtons());
    layout->addWidget(new QLabel(tr("Queue:")));
    layout->addWidget(m_queue);
    layout->addWidget(m_progress);
    layout->addWidget(m_status);
    layout->addWidget(m_lossText);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_log);

    m_redraw = new QTimer(this);
    m_redraw->setSingleShot(true);
    m_redraw->setInterval(40);
    connect(m_redraw, &QTimer::timeout, this, &RunMonitor::redrawPlot);
    connect(m_controller, &RunController::jobStarted, this, &RunMonitor::onStarted);
    connect(m_controller, &RunController::jobUpdate, this, &RunMonitor::onUpdate);
    connect(m_controller, &RunController::jobFinished, this, &RunMonitor::onFinished);
    connect(m_controller, &RunController::queueChanged, this, &RunMonitor::refreshQueue);
}

QWidget *RunMonitor::buildButtons()
{
    m_start = new QPushButton(tr("Add to queue"));
    m_start->setObjectName("startRun");
    m_start->setToolTip(tr("Queue this run; it starts when the one before it ends (Ctrl+R)"));
    m_start->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    connect(m_start, &QPushButton::clicked, this, &RunMonitor::launchRequested);
    m_pause = new QPushButton(tr("Pause"));
    m_pause->setObjectName("pauseRun");
    m_pause->setCheckable(true);
    m_pause->setEnabled(false);
    connect(m_pause, &QPushButton::toggled, this, [this](bool on) {
        m_controller->setPaused(on);
        m_pause->setText(on ? tr("Resume") : tr("Pause"));
        log(on ? tr("paused (the run waits at its next step)") : tr("resumed"));
    });
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName("cancelRun");
    m_cancel->setEnabled(false);
    connect(m_cancel, &QPushButton::clicked, m_controller, &RunController::cancelCurrent);
    m_cancelAll = new QPushButton(tr("Cancel all"));
    connect(m_cancelAll, &QPushButton::clicked, m_controller, &RunController::cancelAll);
    auto *row = new QWidget;
    auto *buttons = new QHBoxLayout(row);
    buttons->setContentsMargins(0, 0, 0, 0);
    buttons->addWidget(m_start);
    buttons->addWidget(m_pause);
    buttons->addWidget(m_cancel);
    buttons->addWidget(m_cancelAll);
    buttons->addStretch(1);
    return row;
}

void RunMonitor::refreshQueue()
{
    m_queue->clear();
    if (m_controller->busy())
        m_queue->addItem(tr("▶ %1").arg(m_controller->currentSpec().label));
    for (const auto &j : m_controller->queued()) {
        auto *item = new QListWidgetItem(tr("  %1").arg(j.spec.label), m_queue);
        item->setData(Qt::UserRole, j.ticket);
    }
}

void RunMonitor::onStarted(qint64, const QString &label)
{
    m_terms.clear();
    m_lossX.clear();
    m_lossY.clear();
    m_plot->clearGraphs();
    m_plot->replot();
    m_progress->setRange(0, 0); // busy until the first step reports
    m_status->setText(tr("Starting %1…").arg(label));
    m_lossText->clear();
    m_pause->setEnabled(true);
    m_pause->setChecked(false);
    m_cancel->setEnabled(true);
    log(tr("started %1").arg(label));
}

void RunMonitor::onUpdate(qint64, const RunUpdate &u)
{
    switch (u.kind) {
    case RunUpdate::Kind::Created:
        log(tr("run #%1 created in the store").arg(u.runId));
        Q_EMIT runChanged(u.runId);
        break;
    case RunUpdate::Kind::VanillaEvaluated:
        log(tr("vanilla evaluation #%1 ready").arg(u.vanillaRunId));
        break;
    case RunUpdate::Kind::Evaluated: {
        QStringList parts; // the metric table's headline metrics, overall, on val
        for (const auto &m : u.metrics)
            if (const auto *info = se::metrics::findMetric(m.name);
                info && info->headline && m.category.empty() && m.split == "val")
                parts << QString::fromStdString(std::string(info->label) + " " + info->format(m.value));
        log(tr("evaluated at step %1: %2").arg(u.step).arg(parts.join(", ")));
        Q_EMIT runChanged(u.runId);
        break;
    }
    case RunUpdate::Kind::Progress:
        showProgress(u);
        break;
    case RunUpdate::Kind::Evaluating:
        showEvaluating(u);
        break;
    case RunUpdate::Kind::Loading: // step / totalSteps: MiB of weights read
        m_progress->setRange(0, std::max(1, u.totalSteps));
        m_progress->setValue(u.step);
        m_status->setText(tr("loading the model · %1 / %2 GiB · elapsed %3 · Cancel stops it")
                              .arg(u.step / 1024.0, 0, 'f', 1)
                              .arg(u.totalSteps / 1024.0, 0, 'f', 1)
                              .arg(duration(u.elapsedSeconds)));
        break;
    case RunUpdate::Kind::Log:
        m_status->setText(u.message);
        log(u.message);
        break;
    case RunUpdate::Kind::Finished:
        break;
    }
}

void RunMonitor::showProgress(const RunUpdate &u)
{
    m_progress->setRange(0, std::max(1, u.totalSteps));
    m_progress->setValue(u.step);
    m_status->setText(
        tr("%1 · step %2 / %3 · epoch %4 · %5 samples/s · elapsed %6 · ETA %7%8%9")
            .arg(u.phase)
            .arg(u.step)
            .arg(u.totalSteps)
            .arg(u.epoch)
            .arg(u.samplesPerSecond, 0, 'f', 1)
            .arg(duration(u.elapsedSeconds), duration(u.etaSeconds))
            .arg(u.memoryBytes ? tr(" · memory %1 GiB").arg(double(u.memoryBytes) / (1 << 30), 0, 'f', 2) : QString())
            .arg(m_controller->paused() ? tr(" · paused") : QString()));
    QStringList parts;
    for (const auto &[name, v] : u.losses) {
        parts << QStringLiteral("%1 %2").arg(name).arg(v, 0, 'f', 4);
        if (!m_terms.contains(name))
            m_terms << name;
        m_lossX[name] << u.step;
        m_lossY[name] << v;
    }
    m_lossText->setText(tr("lr %1 · %2").arg(u.lr, 0, 'g', 3).arg(parts.join(QStringLiteral(" · "))));
    if (!m_redraw->isActive())
        m_redraw->start(); // many steps, one redraw
}

// Answers of an evaluation (vanilla, a curve point, the final one): the bar counts answers meanwhile.
void RunMonitor::showEvaluating(const RunUpdate &u)
{
    m_progress->setRange(0, std::max(1, u.totalSteps));
    m_progress->setValue(u.step);
    m_status->setText(tr("%1 · %2 / %3 answers · %4 answers/s · elapsed %5 · ETA %6")
                          .arg(u.phase)
                          .arg(u.step)
                          .arg(u.totalSteps)
                          .arg(u.samplesPerSecond, 0, 'f', 1)
                          .arg(duration(u.elapsedSeconds), duration(u.etaSeconds)));
    if (u.step <= 64) // before it starts (from the curve points' rate) or after the first batch: the whole
        log(tr("%1: %2 answers, about %3")
                .arg(u.phase)
                .arg(u.totalSteps)
                .arg(duration(u.etaSeconds + u.elapsedSeconds)));
}

void RunMonitor::onFinished(qint64, const RunUpdate &u)
{
    redrawPlot();
    if (m_progress->maximum() == 0)
        m_progress->setRange(0, 1);
    m_pause->setEnabled(false);
    m_pause->setChecked(false);
    m_cancel->setEnabled(false);
    const QString msg = u.message.isEmpty() ? u.status : tr("%1: %2").arg(u.status, u.message);
    m_status->setText(tr("Last job %1").arg(msg));
    log(tr("finished — %1").arg(msg));
    Q_EMIT jobFinished(u);
    refreshQueue();
}

int RunMonitor::lossPoints() const
{
    int n = 0;
    for (const auto &v : m_lossX)
        n += v.size();
    return n;
}

void RunMonitor::redrawPlot()
{
    m_plot->clearGraphs();
    for (int i = 0; i < m_terms.size(); ++i) {
        QCPGraph *g = m_plot->addGraph();
        g->setName(m_terms[i]);
        g->setPen(QPen(defaultRunColor(i), i == 0 ? 2.5 : 1.5));
        g->setData(m_lossX[m_terms[i]], m_lossY[m_terms[i]], true);
    }
    m_plot->legend->setVisible(!m_terms.isEmpty());
    m_plot->rescaleAxes();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void RunMonitor::log(const QString &line)
{
    m_log->appendPlainText(QStringLiteral("%1  %2").arg(QTime::currentTime().toString("HH:mm:ss"), line));
}

} // namespace se::ui
