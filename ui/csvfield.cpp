// The workbench's CSV (see csvfield.h).
#include "ui/csvfield.h"

#include <QAbstractItemModel>
#include <QSaveFile>
#include <QStringList>

#include <algorithm>

namespace se::ui {

QString modelCsv(const QAbstractItemModel &model, int columns)
{
    const int n = columns < 0 ? model.columnCount() : std::min(columns, model.columnCount());
    QString out;
    QStringList header;
    for (int c = 0; c < n; ++c)
        header << csvField(model.headerData(c, Qt::Horizontal, Qt::DisplayRole).toString());
    out += header.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (int r = 0; r < model.rowCount(); ++r) {
        QStringList fields;
        for (int c = 0; c < n; ++c)
            fields << csvField(model.index(r, c).data(Qt::DisplayRole).toString());
        out += fields.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    return out;
}

bool writeCsvFile(const QString &file, const QString &text, QString *error)
{
    QSaveFile f(file);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text) || f.write(text.toUtf8()) < 0 || !f.commit()) {
        if (error)
            *error = f.errorString();
        return false;
    }
    return true;
}

} // namespace se::ui
