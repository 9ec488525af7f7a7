// A word-level diff of two answers: the longest common subsequence of their words (whitespace-separated
// tokens, punctuation kept), rendered as HTML with removed words struck through in red and added ones in
// green. Used by the comparison view to show what unlearning changed in an answer.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

namespace se::ui {

struct DiffOp {
    enum Kind { Same, Removed, Added } kind;
    QString word;
};

// Diffs word lists; above maxCells (n·m) words the middle falls back to "all removed, all added".
QVector<DiffOp> diffWords(const QStringList &before, const QStringList &after, qint64 maxCells = 4'000'000);
QVector<DiffOp> diffText(const QString &before, const QString &after);
// HTML of the diff (escaped), for a QTextBrowser or label.
QString diffHtml(const QString &before, const QString &after);

} // namespace se::ui
