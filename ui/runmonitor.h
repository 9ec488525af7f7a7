// The run launcher's monitor: the RunController's queue (a waiting run is taken out with Delete), the current job's
// progress with ETA, each loss term and live loss curves (redrawn on a 40 ms coalescing timer), headline metrics of
// each curve point, a log, and the Add to queue (Ctrl+R) / Pause / Cancel / Cancel all buttons. The form that says
// what to run is LauncherView's; it asks for a launch through launchRequested().
#pragma once

#include "ui/runcontroller.h"

#include <QHash>
#include <QStringList>
#include <QVector>
#include <QWidget>

class QCustomPlot;
class QLabel;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTimer;

namespace se::ui {

class RunMonitor : public QWidget
{
    Q_OBJECT
public:
    explicit RunMonitor(RunController *controller, QWidget *parent = nullptr);

    void log(const QString &line); // a time-stamped line in the log
    int lossPoints() const;        // points drawn so far for the current job

    QProgressBar *progressBar() const { return m_progress; }
    QLabel *statusLabel() const { return m_status; }
    QLabel *lossLabel() const { return m_lossText; }
    QPushButton *pauseButton() const { return m_pause; }
    QPushButton *cancelButton() const { return m_cancel; }
    QListWidget *queueList() const { return m_queue; }
    QCustomPlot *lossPlot() const { return m_plot; }

Q_SIGNALS:
    void launchRequested();                  // Add to queue (Ctrl+R)
    void runChanged(qint64 runId);           // a run appeared in the store or got a new curve point
    void jobFinished(const RunUpdate &last); // after the monitor has shown the job's end

private:
    QWidget *buildButtons();
    void onStarted(qint64 ticket, const QString &label);
    void onUpdate(qint64 ticket, const RunUpdate &u);
    void onFinished(qint64 ticket, const RunUpdate &u);
    void showProgress(const RunUpdate &u);
    void showEvaluating(const RunUpdate &u);
    void refreshQueue();
    void redrawPlot();

    RunController *m_controller;
    QPushButton *m_start = nullptr, *m_pause = nullptr, *m_cancel = nullptr, *m_cancelAll = nullptr;
    QListWidget *m_queue = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr, *m_lossText = nullptr;
    QCustomPlot *m_plot = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QTimer *m_redraw = nullptr;
    // Loss history of the current job: term -> (step, value).
    QStringList m_terms;
    QHash<QString, QVector<double>> m_lossX, m_lossY;
};

} // namespace se::ui
