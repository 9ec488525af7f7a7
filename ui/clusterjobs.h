// Run ▸ Cluster Jobs… (Ctrl+J): the Slurm sweep submitted for the open store (`safeeraser reproduce --slurm`; README
// "On a cluster"), one row per array task with its state — Slurm's PENDING / RUNNING from squeue while it is queued or
// running, then its run's status from its part store — refreshed every few seconds on a worker thread, and Collect
// Ended Runs, which merges those into the open store in the sweep's order (as `reproduce --collect`).
#pragma once

#include "core/store/slurmsweep.h"

#include <QDialog>
#include <QFutureWatcher>

class QLabel;
class QPushButton;
class QTableWidget;
class QTimer;

namespace se::ui {

class ClusterJobsDialog : public QDialog
{
    Q_OBJECT
public:
    // `squeue`: the program to ask (tests and clusters with another path name it).
    explicit ClusterJobsDialog(const QString &storePath, QWidget *parent = nullptr, const QString &squeue = "squeue");
    ~ClusterJobsDialog() override;

    void refresh(); // asks again now (F5); a refresh already running is not doubled
    bool hasSubmission() const { return m_ok; }
    QTableWidget *table() const { return m_table; }
    QLabel *summaryLabel() const { return m_summary; }
    QLabel *noteLabel() const { return m_note; } // "3 of 12 ended · updated 10:42:07", and why squeue did not answer
    QPushButton *collectButton() const { return m_collect; }
    void collect(); // merges the ended runs (the button); collected() follows

Q_SIGNALS:
    void refreshed();
    void collected(int merged); // runs merged into the store now

private:
    struct Snapshot {
        std::vector<se::store::TaskState> states;
        std::string squeueNote;
    };
    struct Collected {
        int merged = 0;
        std::string error;
    };
    void showStates(const Snapshot &s);

    QString m_store, m_squeue;
    se::store::SlurmSubmission m_submission;
    bool m_ok = false;
    QTableWidget *m_table = nullptr;
    QLabel *m_summary = nullptr, *m_note = nullptr;
    QPushButton *m_collect = nullptr;
    QTimer *m_timer = nullptr;
    QFutureWatcher<Snapshot> m_watch;
    QFutureWatcher<Collected> m_collectWatch;
};

} // namespace se::ui
