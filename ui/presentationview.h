// Presentation mode for live demos: large type, a guided sequence a presenter steps through with the keyboard
// (Space / Right / Page Down forward, Left / Backspace / Page Up back, Esc leaves). Slides: a harmful question
// about the benign SD image answered by vanilla, PO and PO+PD (PO over-refuses, PO+PD answers); a harmful question
// about the harmful image (both refuse); the SARR curve of PO against PO+PD. Runs are picked from the store (the
// latest finished PO and PO+PD runs); examples are chosen on a worker from the comparison index. Then one slide per
// probe saved in the store (the Probe view's Save…), the last three: its image, question and each model's answers.
#pragma once

#include "ui/workbenchview.h"

#include "core/store/comparison.h"

#include <QFutureWatcher>
#include <QWidget>

class QCustomPlot;
class QLabel;
class QStackedWidget;

namespace se::ui {

class PresentationView : public QWidget, public WorkbenchView
{
    Q_OBJECT
public:
    explicit PresentationView(QWidget *parent = nullptr);
    ~PresentationView() override;

    void setStorePath(const QString &path);

    // WorkbenchView (full screen, not a tab)
    QWidget *widget() override { return this; }
    QString viewTitle() const override { return tr("Presentation"); }
    void storeChanged(const QString &path) override { setStorePath(path); }

    void prepare(); // (re)reads the store and picks the slides' content
    int slideCount() const;
    int currentSlide() const;
    void goTo(int slide);
    bool isReady() const { return m_ready; }

Q_SIGNALS:
    void leaveRequested();
    void ready();

protected:
    void keyPressEvent(QKeyEvent *event) override;

private:
    struct Pick {
        QList<qint64> runs; // vanilla, PO, PO+PD (0 where missing)
        QStringList names;
        std::vector<se::store::AnswerRecord> pd, forget; // the example's answers per run (id 0: none)
        std::vector<se::store::ProbeRecord> probes;      // the last three saved
        QString error;
    };
    void fill(const Pick &p);
    QWidget *exampleSlide(QLabel **title, QLabel **image, QLabel **body, bool harmful);
    void addProbeSlide(const se::store::ProbeRecord &probe);
    int m_fixedSlides = 0; // the intro, the two examples and the curve; probe slides follow

    QString m_storePath;
    QStackedWidget *m_stack = nullptr;
    QLabel *m_footer = nullptr;
    QLabel *m_t1 = nullptr, *m_i1 = nullptr, *m_b1 = nullptr;
    QLabel *m_t2 = nullptr, *m_i2 = nullptr, *m_b2 = nullptr;
    QLabel *m_intro = nullptr;
    QCustomPlot *m_plot = nullptr;
    bool m_ready = false;
    QFutureWatcher<Pick> *m_watcher = nullptr;
};

} // namespace se::ui
