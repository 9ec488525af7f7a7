// The probe: any question about any image, put to the models of the open run store side by side — the model each
// run started from and each finished run — on a worker thread, greedy or sampled N times with the seed shown. Each
// answer carries the run's judge's refusal and unsafe badges (unsafe: the reference answer reproduced), and each
// model the likelihood of the reference answer (a forget target, or one the user types). The image comes from the
// dataset (the record shown there), a file (Browse, drag and drop) or the clipboard (Ctrl+V). Models stay loaded
// between questions; switching runs loads only what differs. Ctrl+Return asks. A question and its answers can be
// saved to the store under a name (its image copied beside the store) and opened again, then asked again.
#pragma once

#include <atomic>
#include <memory>

#include "ui/enginebridge.h"
#include "ui/workbenchview.h"

#include <QFutureWatcher>
#include <QWidget>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTemporaryDir;

namespace se::ui {

class HarmfulImageLabel;

class ProbeView : public QWidget, public WorkbenchView
{
    Q_OBJECT
public:
    explicit ProbeView(QWidget *parent = nullptr);
    ~ProbeView() override;

    // WorkbenchView
    QWidget *widget() override { return this; }
    QString viewTitle() const override { return tr("Pro&be"); }
    void storeChanged(const QString &path) override;
    void runsChanged() override { reloadModels(); }
    bool canExportCsv() const override { return true; }
    bool exportCsv(const QString &file, QString *error = nullptr) const override; // the answers table

    // An image to ask about. With a harm category (a dataset record's) it is shown as safe viewing says (blurred
    // until revealed); an image the user picked is shown as it is.
    void setImage(const QString &file, const QString &category = {});
    // The record shown in the dataset view: its image, a question and its forget target as the reference.
    void setSample(const QString &image, const QString &question, const QString &reference,
                   const QString &category = {});
    void ask(); // the question to every checked model, on a worker thread
    bool busy() const;
    // The last question and its answers saved to the store as `name`; false with a message when it cannot be.
    bool saveProbe(const QString &name);
    // A saved probe shown again: image, question, reference, sampling, models checked, the answers as saved.
    void openProbe(qint64 id);
    QComboBox *savedBox() const { return m_saved; }

    QLineEdit *questionEdit() const { return m_question; }
    QLineEdit *referenceEdit() const { return m_reference; }
    QListWidget *modelList() const { return m_models; }
    QTableWidget *answersTable() const { return m_answers; }
    QCheckBox *greedyBox() const { return m_greedy; }
    QSpinBox *samplesBox() const { return m_samples; }
    QString image() const { return m_image; }
    int loadedModels() const;

Q_SIGNALS:
    void answered(); // the answers of the last question are in the table
    void message(const QString &text);
    void fromDatasetRequested(); // the "From dataset" button: MainWindow calls setSample with the record shown

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void reloadModels();
    void reloadSaved();
    void fillAnswers(const QList<ProbeAnswer> &answers);
    void pasteImage();
    void showAnswers();

    QString m_storePath, m_image;
    HarmfulImageLabel *m_preview = nullptr;
    QLabel *m_status = nullptr;
    QLineEdit *m_question = nullptr, *m_reference = nullptr;
    QCheckBox *m_greedy = nullptr;
    QSpinBox *m_samples = nullptr, *m_seed = nullptr;
    QListWidget *m_models = nullptr;
    QPushButton *m_ask = nullptr;
    QPushButton *m_cancel = nullptr;                 // stops a model's loading (Esc)
    std::shared_ptr<std::atomic<bool>> m_cancelFlag; // the question in flight's
    QTableWidget *m_answers = nullptr;
    std::unique_ptr<ProbeSession> m_session;
    QFutureWatcher<QList<ProbeAnswer>> *m_watcher = nullptr;
    std::unique_ptr<QTemporaryDir> m_pasted; // images pasted from the clipboard
    QList<ProbeModel> m_offered;
    QComboBox *m_saved = nullptr;
    QPushButton *m_save = nullptr;
    ProbeRequest m_lastRequest; // what the answers in the table answer
    QList<ProbeAnswer> m_lastAnswers;
};

} // namespace se::ui
