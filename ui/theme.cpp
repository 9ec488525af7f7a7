#include "ui/theme.h"

#include <QApplication>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>

namespace se::ui {

namespace {
bool systemPrefersDark()
{
    const QByteArray gtk = qgetenv("GTK_THEME").toLower();
    if (gtk.contains("dark"))
        return true;
    const QByteArray scheme = qgetenv("SAFEERASER_COLOR_SCHEME").toLower();
    if (scheme == "dark")
        return true;
    if (scheme == "light")
        return false;
    // The platform theme's own palette (KDE, GNOME with a dark theme, …): dark when its window is dark.
    const QColor window = QApplication::palette().color(QPalette::Window);
    return window.lightness() < 110;
}

QPalette darkPalette()
{
    QPalette p;
    const QColor window(45, 47, 51), base(33, 35, 38), text(224, 224, 224), disabled(130, 130, 130);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::ToolTipBase, base);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, window);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, Qt::red);
    p.setColor(QPalette::Link, QColor(90, 160, 240));
    p.setColor(QPalette::Highlight, QColor(52, 110, 200));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Mid, QColor(80, 82, 86));
    p.setColor(QPalette::PlaceholderText, disabled);
    for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, disabled);
    return p;
}
} // namespace

QString applyTheme(const QString &theme)
{
    const bool dark = theme == "dark" || (theme != "light" && systemPrefersDark());
    QApplication::setStyle(QStyleFactory::create("Fusion")); // the same look everywhere; palettes below
    QApplication::setPalette(dark ? darkPalette() : QApplication::style()->standardPalette());
    return dark ? "dark" : "light";
}

} // namespace se::ui
