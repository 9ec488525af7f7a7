// The workbench's CSV fields: core's RFC 4180 writer (core/data/csv.h), for QStrings.
#pragma once

#include "core/data/csv.h"

#include <QString>

namespace se::ui {

inline QString csvField(const QString &s)
{
    return QString::fromStdString(se::data::csvField(s.toStdString()));
}

} // namespace se::ui
