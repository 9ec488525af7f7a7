#include "ui/worddiff.h"

#include <QRegularExpression>
#include <vector>

namespace se::ui {

QVector<DiffOp> diffWords(const QStringList &a, const QStringList &b, qint64 maxCells)
{
    // Trim the common head and tail first: answers often differ in a few words only.
    int head = 0;
    while (head < a.size() && head < b.size() && a[head] == b[head])
        ++head;
    int tail = 0;
    while (tail < a.size() - head && tail < b.size() - head && a[a.size() - 1 - tail] == b[b.size() - 1 - tail])
        ++tail;
    const int n = a.size() - head - tail, m = b.size() - head - tail;
    QVector<DiffOp> out;
    for (int i = 0; i < head; ++i)
        out.append({DiffOp::Same, a[i]});
    if (qint64(n) * m > maxCells) {
        for (int i = 0; i < n; ++i)
            out.append({DiffOp::Removed, a[head + i]});
        for (int j = 0; j < m; ++j)
            out.append({DiffOp::Added, b[head + j]});
    } else {
        // lcs[i][j] = LCS length of a[head+i..] and b[head+j..]
        std::vector<int> lcs(size_t(n + 1) * size_t(m + 1), 0);
        auto at = [&](int i, int j) -> int & { return lcs[size_t(i) * size_t(m + 1) + size_t(j)]; };
        for (int i = n - 1; i >= 0; --i)
            for (int j = m - 1; j >= 0; --j)
                at(i, j) = a[head + i] == b[head + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
        int i = 0, j = 0;
        while (i < n && j < m) {
            if (a[head + i] == b[head + j]) {
                out.append({DiffOp::Same, a[head + i]});
                ++i;
                ++j;
            } else if (at(i + 1, j) >= at(i, j + 1)) {
                out.append({DiffOp::Removed, a[head + i++]});
            } else {
                out.append({DiffOp::Added, b[head + j++]});
            }
        }
        while (i < n)
            out.append({DiffOp::Removed, a[head + i++]});
        while (j < m)
            out.append({DiffOp::Added, b[head + j++]});
    }
    for (int i = a.size() - tail; i < a.size(); ++i)
        out.append({DiffOp::Same, a[i]});
    return out;
}

QVector<DiffOp> diffText(const QString &before, const QString &after)
{
    static const QRegularExpression ws(QStringLiteral("\\s+"));
    return diffWords(before.split(ws, Qt::SkipEmptyParts), after.split(ws, Qt::SkipEmptyParts));
}

QString diffHtml(const QString &before, const QString &after)
{
    QString html;
    for (const DiffOp &op : diffText(before, after)) {
        const QString w = op.word.toHtmlEscaped();
        switch (op.kind) {
        case DiffOp::Same:
            html += w;
            break;
        case DiffOp::Removed:
            html += QStringLiteral(
                        "<span style=\"background:#f8d0d0;color:#8a1010;text-decoration:line-through\">%1</span>")
                        .arg(w);
            break;
        case DiffOp::Added:
            html += QStringLiteral("<span style=\"background:#cdeccd;color:#0b5a0b\">%1</span>").arg(w);
            break;
        }
        html += QLatin1Char(' ');
    }
    return html.trimmed();
}

} // namespace se::ui
