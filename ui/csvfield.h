// The workbench's CSV: core's RFC 4180 fields (core/data/csv.h) for QStrings, a model's rows as CSV, and the one way
// a view writes an export (QSaveFile: a failed write leaves what was there).
#pragma once

#include "core/data/csv.h"

#include <QString>

class QAbstractItemModel;

namespace se::ui {

inline QString csvField(const QString &s)
{
    return QString::fromStdString(se::data::csvField(s.toStdString()));
}

// The header and every row of `model`'s first `columns` columns (all when negative), display text.
QString modelCsv(const QAbstractItemModel &model, int columns = -1);

// Writes `text` as UTF-8 to `file`, replacing it only when the whole text is written. False with *error set.
bool writeCsvFile(const QString &file, const QString &text, QString *error);

} // namespace se::ui
