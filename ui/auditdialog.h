// Plots ▸ Robustness ▸ Audit Options…: what the workbench's robustness audit asks, as `safeeraser audit`'s flags —
// how many forget questions (a fixed seeded subset), the rephrasing templates (built-in or a file, checked when
// chosen), the image attacks and the likelihood comparison, the relearning attacks' steps, and the device. Kept in
// the user's settings; the defaults are the engine's (AuditOptions).
#pragma once

#include "core/unlearn/robustness.h"

#include <QDialog>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace se::ui {

// The audit settings the user chose last (QSettings "audit/…"), over AuditOptions' defaults; no store, run or baseline.
se::engine::AuditOptions savedAuditOptions();
void saveAuditOptions(const se::engine::AuditOptions &o);
// One line for the page: "24 questions · 7 rephrasings + images · likelihood · relearning 30 steps".
QString describeAuditOptions(const se::engine::AuditOptions &o);

class AuditDialog : public QDialog
{
    Q_OBJECT
public:
    explicit AuditDialog(const se::engine::AuditOptions &start, QWidget *parent = nullptr);

    se::engine::AuditOptions options() const; // what the fields say
    void setOptions(const se::engine::AuditOptions &o);
    // Checks the fields (the templates file is read); on a problem says it in errorLabel() and returns false.
    bool check();
    void accept() override; // check() first; stays open on a problem
    void restoreDefaults();

    QSpinBox *questionsBox() const { return m_questions; }
    QSpinBox *relearnStepsBox() const { return m_relearnSteps; }
    QLineEdit *attacksEdit() const { return m_attacks; }
    QCheckBox *imagesBox() const { return m_images; }
    QCheckBox *startModelBox() const { return m_startModel; }
    QLabel *errorLabel() const { return m_error; }

private:
    QSpinBox *m_questions = nullptr, *m_seed = nullptr, *m_relearnSteps = nullptr, *m_relearnEvery = nullptr,
             *m_relearnTargets = nullptr;
    QLineEdit *m_attacks = nullptr;
    QLabel *m_attacksNote = nullptr, *m_error = nullptr;
    QCheckBox *m_images = nullptr, *m_likelihood = nullptr, *m_startModel = nullptr;
    QComboBox *m_device = nullptr;
};

} // namespace se::ui
