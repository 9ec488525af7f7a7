// What the main window asks of each of its views: a title for its tab, and what the view does when the benchmark
// changes, when another run store is opened (or none), when the store's runs change, and how it exports CSV.
// MainWindow keeps a list of them and loops over it; a new view derives from QWidget and this, and is added to the
// list (README "Extending").
#pragma once

#include <QString>

#include <memory>

class QWidget;

namespace se::data {
struct Benchmark;
}

namespace se::ui {

class WorkbenchView
{
public:
    virtual ~WorkbenchView() = default;
    virtual QWidget *widget() = 0;
    virtual QString viewTitle() const = 0; // with its & shortcut: "&Compare"
    virtual void benchmarkChanged(const std::shared_ptr<const se::data::Benchmark> &) {}
    virtual void storeChanged(const QString & /*path, empty: none*/) {}
    virtual void runsChanged() {}
    virtual bool canExportCsv() const { return false; }
    // What the view shows, as CSV (core's RFC 4180 fields). False with *error set when it cannot.
    virtual bool exportCsv(const QString & /*file*/, QString *error) const
    {
        if (error)
            *error = QStringLiteral("this view has nothing to export as CSV");
        return false;
    }
};

} // namespace se::ui
