// The workbench's start-up options (a benchmark folder, --store, --theme, --view, --compare, --model, --adapter,
// --preset), shared by safeeraser-workbench and the screenshot tool (app/screenshots): declared once, applied once.
#pragma once

#include <QCommandLineOption>
#include <QList>
#include <QString>

class QCommandLineParser;

namespace se::ui {

class MainWindow;

// The application's name, display name, organisation (and so its settings) and version.
void setWorkbenchIdentity(const QString &version);

struct StartOptions {
    StartOptions();
    // The description, help and version options, the positional benchmark folder and the options below.
    void addTo(QCommandLineParser &parser) const;
    // Opens what the options name in `window` (store, benchmark, model, adapter, preset, runs to compare) and shows
    // the view called `viewName` (dataset, run, compare, plots; the --view option when empty).
    void apply(MainWindow &window, const QCommandLineParser &parser, const QString &viewName = {}) const;
    QList<qint64> runs(const QCommandLineParser &parser) const; // --compare's ids
    QString theme(const QCommandLineParser &parser) const;

    QCommandLineOption store, themeOption, view, compare, model, adapter, preset;
};

} // namespace se::ui
