// Light and dark palettes for the workbench. "system" follows the desktop: the platform theme's palette when it
// is dark, or a GTK / Qt style hint naming a dark theme (Qt 6.4 has no colour-scheme query yet).
#pragma once

#include <QString>

namespace se::ui {

// theme: "system", "light" or "dark". Returns the theme applied ("light" or "dark").
QString applyTheme(const QString &theme);

} // namespace se::ui
