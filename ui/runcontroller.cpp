#include "ui/runcontroller.h"
#include "ui/enginebridge.h"

#include <QThread>

namespace se::ui {

void RunWorker::execute(qint64 ticket, const LaunchSpec &spec, std::shared_ptr<se::engine::CancelToken> cancel)
{
    auto sink = [this, ticket](const RunUpdate &u) { Q_EMIT update(ticket, u); };
    try {
        if (!m_executor) {
            RunUpdate u;
            u.kind = RunUpdate::Kind::Finished;
            u.status = "failed";
            u.message = tr("This workbench was built without the engine; run the CLI and open its store.");
            sink(u);
        } else {
            m_executor(spec, sink, cancel.get());
        }
    } catch (const std::exception &e) {
        RunUpdate u;
        u.kind = RunUpdate::Kind::Finished;
        u.status = "failed";
        u.message = QString::fromUtf8(e.what());
        sink(u);
    }
    Q_EMIT done(ticket);
}

RunController::RunController(JobExecutor executor, QObject *parent) : QObject(parent)
{
    qRegisterMetaType<se::ui::LaunchSpec>();
    qRegisterMetaType<se::ui::RunUpdate>();
    qRegisterMetaType<std::shared_ptr<se::engine::CancelToken>>();
    if (!executor)
        executor = engineJobExecutor();
    m_thread = new QThread(this);
    m_thread->setObjectName("run worker");
    m_worker = new RunWorker(std::move(executor));
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &RunController::startJob, m_worker, &RunWorker::execute, Qt::QueuedConnection);
    connect(m_worker, &RunWorker::update, this, &RunController::onUpdate, Qt::QueuedConnection);
    connect(m_worker, &RunWorker::done, this, &RunController::onDone, Qt::QueuedConnection);
    m_thread->start();
}

RunController::~RunController()
{
    cancelAll();
    m_thread->quit();
    m_thread->wait(); // the trainer sees the cancel within a step
}

qint64 RunController::enqueue(const LaunchSpec &spec)
{
    const qint64 ticket = m_nextTicket++;
    m_queue.append({ticket, spec});
    Q_EMIT queueChanged();
    if (!m_current)
        startNext();
    return ticket;
}

bool RunController::removeQueued(qint64 ticket)
{
    for (int i = 0; i < m_queue.size(); ++i)
        if (m_queue[i].ticket == ticket) {
            m_queue.removeAt(i);
            Q_EMIT queueChanged();
            return true;
        }
    return false;
}

void RunController::setPaused(bool paused)
{
    if (m_cancel)
        m_cancel->setPaused(paused);
}

void RunController::cancelCurrent()
{
    if (m_cancel) {
        m_cancel->cancel();
        m_cancel->setPaused(false); // a paused trainer must wake to see the cancel
    }
}

void RunController::cancelAll()
{
    m_queue.clear();
    cancelCurrent();
    Q_EMIT queueChanged();
}

void RunController::startNext()
{
    if (m_current || m_queue.isEmpty())
        return;
    const Job job = m_queue.takeFirst();
    m_current = job.ticket;
    m_currentSpec = job.spec;
    m_finishSeen = false;
    m_cancel = std::make_shared<se::engine::CancelToken>();
    Q_EMIT queueChanged();
    Q_EMIT jobStarted(job.ticket, job.spec.label);
    Q_EMIT startJob(job.ticket, job.spec, m_cancel);
}

void RunController::onUpdate(qint64 ticket, const RunUpdate &update)
{
    if (ticket != m_current)
        return; // a late event of a job that is gone
    if (update.kind == RunUpdate::Kind::Finished) {
        m_finishSeen = true;
        m_lastFinish = update;
        return; // reported with done(), once
    }
    Q_EMIT jobUpdate(ticket, update);
}

void RunController::onDone(qint64 ticket)
{
    if (ticket != m_current)
        return;
    RunUpdate fin = m_lastFinish;
    if (!m_finishSeen) {
        fin = RunUpdate();
        fin.kind = RunUpdate::Kind::Finished;
        fin.status = m_cancel && m_cancel->cancelled() ? "cancelled" : "finished";
    }
    m_current = 0;
    m_cancel.reset();
    Q_EMIT jobFinished(ticket, fin);
    startNext();
}

} // namespace se::ui
