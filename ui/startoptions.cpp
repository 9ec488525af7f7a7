// The workbench's start-up options (see startoptions.h).
#include "ui/startoptions.h"

#include "core/unlearn/method.h"
#include "ui/comparisonview.h"
#include "ui/launcherview.h"
#include "ui/mainwindow.h"
#include "ui/plotsview.h"

#include <QCommandLineParser>
#include <QGuiApplication>
#include <QStringList>

namespace se::ui {

void setWorkbenchIdentity(const QString &version)
{
    QCoreApplication::setApplicationName("safeeraser-workbench");
    QCoreApplication::setOrganizationName("SafeEraser");
    QGuiApplication::setApplicationDisplayName("SafeEraser Workbench");
    QCoreApplication::setApplicationVersion(version);
}

StartOptions::StartOptions()
    : store({"s", "store"}, "Open this run store (SQLite; created if missing).", "file"),
      themeOption("theme", "Colour theme: system (default), light or dark.", "name", "system"),
      view("view", "Start on this view: dataset, run, compare, plots or probe.", "name"),
      compare("compare", "Runs to compare, comma-separated ids (the first is the reference).", "ids"),
      model("model",
            "The model in the run launcher: a built-in checkpoint or a Hugging Face LLaVA-1.5 or Qwen2-VL folder.",
            "path"),
      adapter("adapter", "A PEFT adapter folder the launcher's runs start from (with a Hugging Face --model).",
              "folder"),
      preset("preset", "Training preset in the run launcher: default or paper.", "name")
{
}

void StartOptions::addTo(QCommandLineParser &parser) const
{
    QStringList methods;
    for (const auto &m : se::unlearn::methodTable())
        methods << QString::fromLatin1(m.label);
    parser.setApplicationDescription(
        QStringLiteral(
            "SafeEraser Workbench: browse a SafeEraser benchmark, run machine unlearning (%1, each with or "
            "without Prompt Decouple) on the built-in multimodal model or a LLaVA-1.5 or Qwen2-VL folder, and compare "
            "runs' answers and metric curves from a run store.")
            .arg(methods.join(", ")));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("benchmark", "A benchmark folder to open (official SafeEraser layout).");
    parser.addOptions({store, themeOption, view, compare, model, adapter, preset});
}

QList<qint64> StartOptions::runs(const QCommandLineParser &parser) const
{
    QList<qint64> out;
    for (const QString &id : parser.value(compare).split(',', Qt::SkipEmptyParts))
        out << id.toLongLong();
    return out;
}

QString StartOptions::theme(const QCommandLineParser &parser) const
{
    return parser.value(themeOption);
}

void StartOptions::apply(MainWindow &window, const QCommandLineParser &parser, const QString &viewName) const
{
    if (parser.isSet(store))
        window.openRunStore(parser.value(store));
    if (!parser.positionalArguments().isEmpty())
        window.openBenchmark(parser.positionalArguments().first());
    if (parser.isSet(model))
        window.launcher()->setModelFile(parser.value(model));
    if (parser.isSet(adapter))
        window.launcher()->setStartAdapter(parser.value(adapter));
    if (parser.isSet(preset))
        window.launcher()->applyPresetByName(parser.value(preset));
    const QStringList views = {"dataset", "run", "compare", "plots", "probe"};
    const QString name = viewName.isEmpty() ? parser.value(view) : viewName;
    if (views.contains(name))
        window.showView(MainWindow::View(views.indexOf(name)));
    const QList<qint64> ids = runs(parser);
    if (!ids.isEmpty()) {
        window.comparison()->compareRuns(ids);
        window.plots()->showRuns(ids);
    }
}

} // namespace se::ui
