#include "ui/auditdialog.h"
#include "ui/csvfield.h"
#include "ui/plotsview.h"

#include "core/metrics/evaluation.h"
#include "core/metrics/statistics.h"
#include "core/unlearn/method.h"
#include "core/store/report.h"
#include "core/store/runstore.h"

#include <QColorDialog>
#include <QComboBox>
#include <QFile>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QFileDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMap>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <map>
#include <set>

namespace se::ui {

const QList<MetricChoice> &metricChoices()
{
    // Every metric of the table on each split it is shown on (val first), the paper's headline metric (SARR) first.
    static const QList<MetricChoice> c = [] {
        QList<MetricChoice> out;
        for (const auto &m : se::metrics::metricTable())
            for (auto it = m.splits.rbegin(); it != m.splits.rend(); ++it) {
                const MetricChoice choice{QString::fromStdString(m.title(*it)), QString::fromLatin1(m.name),
                                          QString::fromStdString(*it)};
                if (m.name == std::string(se::metrics::names::sarr))
                    out.prepend(choice);
                else
                    out.append(choice);
            }
        return out;
    }();
    return c;
}

QColor defaultRunColor(int i)
{
    static const QColor palette[] = {QColor("#1f77b4"), QColor("#d62728"), QColor("#2ca02c"), QColor("#ff7f0e"),
                                     QColor("#9467bd"), QColor("#8c564b"), QColor("#e377c2"), QColor("#17becf")};
    return palette[i % 8];
}

namespace {
QString runName(const se::store::RunInfo &r)
{
    // "#3 PO+PD", or "#3 my name (PO+PD)" when the run has a name of its own.
    const QString method = QString::fromStdString(se::unlearn::runLabel(r.method, r.pd));
    const QString name = QString::fromStdString(r.name);
    const bool plain = name.isEmpty() || name.compare(method, Qt::CaseInsensitive) == 0 ||
                       name.compare(QString::fromStdString(r.method), Qt::CaseInsensitive) == 0;
    return QStringLiteral("#%1 %2").arg(r.id).arg(plain ? method : QStringLiteral("%1 (%2)").arg(name, method));
}

void styleAxes(QCustomPlot *plot, double scale)
{
    const QPalette pal = plot->palette();
    const QColor fg = pal.color(QPalette::WindowText);
    plot->setBackground(pal.color(QPalette::Base));
    for (QCPAxis *ax : {plot->xAxis, plot->yAxis}) {
        ax->setBasePen(QPen(fg));
        ax->setTickPen(QPen(fg));
        ax->setSubTickPen(QPen(fg));
        ax->setTickLabelColor(fg);
        ax->setLabelColor(fg);
        QFont f = plot->font();
        f.setPointSizeF(f.pointSizeF() * scale);
        ax->setTickLabelFont(f);
        ax->setLabelFont(f);
        ax->grid()->setPen(QPen(pal.color(QPalette::Mid), 0, Qt::DotLine));
    }
    plot->legend->setBrush(pal.color(QPalette::Base));
    plot->legend->setTextColor(fg);
    plot->legend->setBorderPen(QPen(pal.color(QPalette::Mid)));
    QFont lf = plot->font();
    lf.setPointSizeF(lf.pointSizeF() * scale);
    plot->legend->setFont(lf);
}
} // namespace

PlotsView::PlotsView(QWidget *parent) : QWidget(parent)
{
    m_runs = new QListWidget;
    m_runs->setObjectName("plotRuns");
    m_runs->setToolTip(tr("Check runs to overlay; double-click a run to change its colour."));
    connect(m_runs, &QListWidget::itemChanged, this, &PlotsView::scheduleRedraw);
    connect(m_runs, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem *item) {
        const qint64 id = item->data(Qt::UserRole).toLongLong();
        const QColor c = QColorDialog::getColor(runColor(id), this, tr("Colour of %1").arg(item->text()));
        if (c.isValid())
            setRunColor(id, c);
    });
    m_metric = new QComboBox;
    m_metric->setObjectName("metricBox");
    for (const auto &m : metricChoices())
        m_metric->addItem(m.label);
    connect(m_metric, &QComboBox::currentIndexChanged, this, &PlotsView::scheduleRedraw);

    m_curves = new QCustomPlot;
    m_curves->setObjectName("curvePlot");
    m_curves->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom | QCP::iSelectPlottables);
    m_curves->legend->setVisible(true);
    // Top left: SARR and ASR curves of unlearning runs end low or high on the right, rarely high at the start.
    m_curves->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    m_curves->xAxis->setLabel(tr("optimiser step"));
    m_curves->setMouseTracking(true);
    connect(m_curves, &QCustomPlot::mouseMove, this, &PlotsView::onHover);
    m_bars = new QCustomPlot;
    m_bars->setObjectName("barPlot");
    m_bars->legend->setVisible(true);
    m_table = new QTableWidget;
    m_table->setToolTip(
        tr("Rates in percent; in brackets their 95% Wilson interval over the answers (the three samples "
           "of a question counted as independent, so a little narrow)"));
    m_table->setObjectName("resultsTable");
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);

    m_tabs = new QTabWidget;
    m_tabs->addTab(m_curves, tr("Curves"));
    m_tabs->addTab(m_bars, tr("Per category"));
    m_tabs->addTab(m_table, tr("Results table"));
    m_tabs->addTab(buildRobustnessPage(), tr("Robustness"));
    connect(m_tabs, &QTabWidget::currentChanged, this, &PlotsView::scheduleRedraw);
    m_readout = new QLabel(tr("Hover a curve for its values."));
    m_readout->setObjectName("plotReadout");

    auto *png = new QPushButton(tr("Export PNG…"));
    auto *pdf = new QPushButton(tr("Export PDF…"));
    auto *csv = new QPushButton(tr("Export CSV…"));
    connect(png, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export PNG"), "plot.png", "PNG (*.png)");
        if (!f.isEmpty() && !exportPng(f))
            Q_EMIT message(tr("Could not write %1").arg(f));
    });
    connect(pdf, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export PDF"), "plot.pdf", "PDF (*.pdf)");
        if (!f.isEmpty() && !exportPdf(f))
            Q_EMIT message(tr("Could not write %1").arg(f));
    });
    connect(csv, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export CSV"), "metrics.csv", "CSV (*.csv)");
        QString err;
        if (!f.isEmpty() && !exportCsv(f, &err))
            Q_EMIT message(tr("Could not write %1: %2").arg(f, err));
    });

    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(new QLabel(tr("Metric:")));
    leftLayout->addWidget(m_metric);
    leftLayout->addWidget(new QLabel(tr("Runs:")));
    leftLayout->addWidget(m_runs, 1);
    leftLayout->addWidget(png);
    leftLayout->addWidget(pdf);
    leftLayout->addWidget(csv);
    auto *right = new QWidget;
    auto *rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(m_tabs, 1);
    rightLayout->addWidget(m_readout);
    auto *split = new QSplitter;
    split->addWidget(left);
    split->addWidget(right);
    split->setStretchFactor(1, 1);
    split->setSizes({260, 900});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    m_redraw = new QTimer(this);
    m_redraw->setSingleShot(true);
    m_redraw->setInterval(40);
    connect(m_redraw, &QTimer::timeout, this, &PlotsView::redraw);
}

PlotsView::~PlotsView() = default;

void PlotsView::setStorePath(const QString &path)
{
    m_storePath = path;
    m_store.reset(); // opened again, once, on the next read
    reloadRuns();
}

se::store::RunStore *PlotsView::store()
{
    if (!m_store && !m_storePath.isEmpty())
        m_store = std::make_unique<se::store::RunStore>(m_storePath.toStdString(), true); // throws with the reason
    return m_store.get();
}

void PlotsView::reloadRuns()
{
    const QList<qint64> checked = checkedRuns();
    m_runs->blockSignals(true);
    m_runs->clear();
    m_names.clear();
    if (!m_storePath.isEmpty()) {
        try {
            int i = 0;
            for (const auto &r : store()->runs()) {
                auto *item = new QListWidgetItem(runName(r));
                item->setData(Qt::UserRole, qlonglong(r.id));
                item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
                item->setCheckState(checked.contains(r.id) ? Qt::Checked : Qt::Unchecked);
                if (!m_colors.contains(r.id))
                    m_colors[r.id] = defaultRunColor(i);
                QPixmap swatch(14, 14);
                swatch.fill(m_colors[r.id]);
                item->setIcon(swatch);
                m_names[r.id] = runName(r);
                m_runs->addItem(item);
                ++i;
            }
        } catch (const std::exception &e) {
            Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
        }
    }
    m_runs->blockSignals(false);
    scheduleRedraw();
}

void PlotsView::showRuns(const QList<qint64> &runs)
{
    m_runs->blockSignals(true);
    for (int i = 0; i < m_runs->count(); ++i)
        m_runs->item(i)->setCheckState(runs.contains(m_runs->item(i)->data(Qt::UserRole).toLongLong()) ? Qt::Checked
                                                                                                       : Qt::Unchecked);
    m_runs->blockSignals(false);
    redraw();
}

void PlotsView::setMetric(const QString &name, const QString &split)
{
    const auto &c = metricChoices();
    for (int i = 0; i < c.size(); ++i)
        if (c[i].name == name && c[i].split == split)
            m_metric->setCurrentIndex(i);
    redraw();
}

void PlotsView::setRunColor(qint64 run, const QColor &color)
{
    m_colors[run] = color;
    for (int i = 0; i < m_runs->count(); ++i)
        if (m_runs->item(i)->data(Qt::UserRole).toLongLong() == run) {
            QPixmap swatch(14, 14);
            swatch.fill(color);
            m_runs->item(i)->setIcon(swatch);
        }
    scheduleRedraw();
}

QColor PlotsView::runColor(qint64 run) const
{
    return m_colors.value(run, defaultRunColor(0));
}

void PlotsView::setCurrentPage(int page)
{
    m_tabs->setCurrentIndex(page);
    redraw();
}

QList<qint64> PlotsView::checkedRuns() const
{
    QList<qint64> out;
    for (int i = 0; i < m_runs->count(); ++i)
        if (m_runs->item(i)->checkState() == Qt::Checked)
            out.append(m_runs->item(i)->data(Qt::UserRole).toLongLong());
    return out;
}

void PlotsView::scheduleRedraw()
{
    m_redraw->start();
}

void PlotsView::drawCurves(QCustomPlot *plot, se::store::RunStore *storePtr, const QList<qint64> &runs,
                           const QString &metric, const QString &split, const QHash<qint64, QColor> &colors,
                           QHash<qint64, QVector<QPointF>> *data, double fontScale)
{
    plot->clearGraphs();
    plot->clearItems();
    plot->clearPlottables(); // the error bars too
    styleAxes(plot, fontScale);
    if (data)
        data->clear();
    if (!storePtr)
        return plot->replot();
    const std::string name = metric.toStdString(), sp = split.toStdString();
    const se::metrics::MetricInfo *info = se::metrics::findMetric(name);
    const bool rate = info && info->rate(); // a share of answers: each point gets its interval
    const QString label = info ? QString::fromLatin1(info->label) : metric;
    double maxStep = 1;
    try {
        se::store::RunStore &store = *storePtr;
        for (qint64 id : runs) {
            const auto info = store.run(id);
            if (!info)
                continue;
            std::map<int, std::pair<double, int>> points; // step -> (value, answers)
            auto collect = [&](std::int64_t run, bool vanillaAtZero) {
                for (const auto &m : store.metrics(run)) {
                    if (m.name != name || m.split != sp || !m.category.empty())
                        continue;
                    if (m.stage == "vanilla")
                        points[vanillaAtZero ? 0 : m.step] = {m.value, m.count};
                    else if (!vanillaAtZero && (m.stage == "step" || m.stage == "final")) // not an audit's
                        points[m.step] = {m.value, m.count};
                }
            };
            if (info->parentId)
                collect(info->parentId, true);
            collect(id, false);
            QVector<double> xs, ys, below, above;
            QVector<QPointF> pts;
            for (const auto &[s, vc] : points) {
                const double v = vc.first;
                xs << s;
                ys << v * 100.0;
                pts << QPointF(s, v * 100.0);
                maxStep = std::max(maxStep, double(s));
                const auto ci = rate ? se::store::rateInterval(v, vc.second) : std::nullopt;
                below << (ci ? (v - ci->low) * 100.0 : 0.0);
                above << (ci ? (ci->high - v) * 100.0 : 0.0);
            }
            if (data)
                (*data)[id] = pts;
            QCPGraph *g = plot->addGraph();
            g->setName(runName(*info));
            const QColor c = colors.value(id, defaultRunColor(int(id)));
            g->setPen(QPen(c, 2.5 * std::max(1.0, fontScale * 0.8)));
            g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, c, c, 6 * fontScale));
            g->setData(xs, ys, true);
            g->setProperty("runId", id);
            if (rate && !xs.isEmpty()) { // the 95% Wilson interval of each point
                auto *bars = new QCPErrorBars(plot->xAxis, plot->yAxis);
                bars->removeFromLegend();
                bars->setDataPlottable(g);
                bars->setData(below, above);
                bars->setPen(QPen(c, 1.2 * std::max(1.0, fontScale * 0.8)));
                bars->setWhiskerWidth(6 * fontScale);
            }
        }
    } catch (const std::exception &) {
        // An unreadable store leaves an empty plot; the view reports the error when it lists the runs.
    }
    plot->xAxis->setRange(0, maxStep * 1.04);
    plot->yAxis->setRange(-2, 102);
    plot->yAxis->setLabel(rate ? QObject::tr("%1 (%2), %, bars: 95% Wilson interval").arg(label, split)
                               : QObject::tr("%1 (%2), %").arg(label, split));
    plot->xAxis->setLabel(QObject::tr("optimiser step"));
    plot->legend->setVisible(plot->graphCount() > 0);
    plot->replot();
}

void PlotsView::redraw()
{
    const MetricChoice m = metricChoices().value(m_metric->currentIndex());
    switch (m_tabs->currentIndex()) {
    case 0: {
        se::store::RunStore *s = nullptr;
        try {
            s = store();
        } catch (const std::exception &e) {
            Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
        }
        drawCurves(m_curves, s, checkedRuns(), m.name, m.split, m_colors, &m_curveData);
    } break;
    case 1:
        drawBars();
        break;
    case 2:
        fillTable();
        break;
    case 3:
        fillRobustness();
        break;
    }
}

QWidget *PlotsView::buildRobustnessPage()
{
    m_robustness = new QTableWidget;
    m_robustness->setObjectName("robustnessTable");
    m_robustness->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_robustness->setToolTip(tr("Each checked run's forget questions asked again under attacks (safeeraser audit): ASR "
                                "and RR of the run, and of the model it started from beside it"));
    m_relearn = new QCustomPlot;
    m_relearn->setObjectName("relearnPlot");
    m_relearn->xAxis->setLabel(tr("relearning step"));
    m_relearn->yAxis->setLabel(tr("ASR, %"));
    m_relearn->legend->setVisible(true);
    m_auditButton = new QPushButton(tr("Audit Selected Run"));
    m_auditButton->setObjectName("auditRun");
    m_auditButton->setToolTip(tr("Queue a robustness audit of the selected (or first checked) run in the Run view: "
                                 "rephrasings, weakened images, the targets' likelihood and relearning, as "
                                 "`safeeraser audit` with the Audit Options. The table and curves update when it "
                                 "ends."));
    connect(m_auditButton, &QPushButton::clicked, this, [this] {
        QListWidgetItem *item = m_runs->currentItem();
        if (!item || item->checkState() != Qt::Checked) {
            item = nullptr;
            for (int i = 0; i < m_runs->count() && !item; ++i)
                if (m_runs->item(i)->checkState() == Qt::Checked)
                    item = m_runs->item(i);
        }
        if (!item) {
            Q_EMIT message(tr("Check the run to audit in the run list."));
            return;
        }
        QSettings().setValue("plots/auditBaseline", m_auditBaseline->text());
        se::engine::AuditOptions options = savedAuditOptions();
        options.baseline = m_auditBaseline->text().trimmed().toStdString();
        Q_EMIT auditRequested(item->data(Qt::UserRole).toLongLong(), item->text(), options);
    });
    auto *optionsButton = new QPushButton(tr("Audit &Options…"));
    optionsButton->setObjectName("auditOptions");
    optionsButton->setToolTip(tr("What the audit asks: questions, rephrasing templates, image attacks, likelihood, "
                                 "relearning steps, device (safeeraser audit's flags)"));
    connect(optionsButton, &QPushButton::clicked, this, &PlotsView::editAuditOptions);
    m_auditSummary = new QLabel(describeAuditOptions(savedAuditOptions()));
    m_auditSummary->setObjectName("auditSummary");
    m_auditSummary->setWordWrap(true);
    m_auditBaseline = new QLineEdit(QSettings().value("plots/auditBaseline").toString());
    m_auditBaseline->setObjectName("auditBaseline");
    m_auditBaseline->setPlaceholderText(tr("optional: a model that never learned the forget targets"));
    m_auditBaseline->setToolTip(
        tr("The relearning on forget targets is repeated from this model, to compare with learning them afresh "
           "(the built-in model: safeeraser train-vanilla --without-forget). Empty: a LLaVA run that started from "
           "an adapter uses its base model; otherwise not measured."));
    auto *browse = new QPushButton(tr("Baseline…"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f =
            QFileDialog::getOpenFileName(this, tr("A model that never learned the forget targets"),
                                         m_auditBaseline->text(), tr("Checkpoints (*.safetensors);;All files (*)"));
        if (!f.isEmpty())
            m_auditBaseline->setText(f);
    });
    auto *bottom = new QWidget;
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    m_relearnMeasure = new QComboBox;
    m_relearnMeasure->setObjectName("relearnMeasure");
    m_relearnMeasure->addItems({tr("Relearning: ASR"), tr("Relearning: forget targets' NLL")});
    m_relearnMeasure->setToolTip(tr("What the relearning curves show: the audited questions' ASR, or their forget "
                                    "targets' mean NLL per token (how close the knowledge is to coming back)"));
    connect(m_relearnMeasure, &QComboBox::currentIndexChanged, this, [this] { fillRobustness(); });
    bottomLayout->addWidget(m_relearnMeasure, 0, Qt::AlignLeft);
    bottomLayout->addWidget(m_relearn, 1);
    auto *auditRow = new QHBoxLayout;
    auditRow->addWidget(m_auditButton);
    auditRow->addWidget(new QLabel(tr("Learning afresh from:")));
    auditRow->addWidget(m_auditBaseline, 1);
    auditRow->addWidget(browse);
    auditRow->addWidget(optionsButton);
    bottomLayout->addLayout(auditRow);
    bottomLayout->addWidget(m_auditSummary);
    auto *page = new QSplitter(Qt::Vertical);
    page->addWidget(m_robustness);
    page->addWidget(bottom);
    page->setSizes({300, 300});
    return page;
}

void PlotsView::editAuditOptions()
{
    AuditDialog d(savedAuditOptions(), this);
    if (d.exec() != QDialog::Accepted)
        return;
    saveAuditOptions(d.options());
    m_auditSummary->setText(describeAuditOptions(d.options()));
}

// The audits of the checked runs (stage "audit" and "relearn" metrics): attack × ASR / RR, the start model beside,
// the forget targets' NLL; relearning curves overlaid.
void PlotsView::fillRobustness()
{
    m_robustness->clear();
    m_robustness->setRowCount(0);
    m_relearn->clearGraphs();
    styleAxes(m_relearn, 1.0);
    if (m_storePath.isEmpty())
        return m_relearn->replot();
    try {
        se::store::RunStore &store = *this->store();
        QStringList attacks;                          // in the order the audit asked them
        QHash<qint64, QHash<QString, double>> values; // run -> "attack/name" -> value
        QHash<qint64, QHash<QString, long>> counts;   // run -> "attack/name" -> questions it was measured on
        QHash<qint64, QString> judges;
        QList<qint64> audited;
        int colour = 0;
        for (qint64 id : checkedRuns()) {
            const auto audit = store.metrics(id, "audit");
            if (audit.empty())
                continue;
            audited << id;
            for (const auto &m : audit) {
                if (!m.category.empty())
                    continue;
                const QString attack = QString::fromStdString(m.split);
                if (attack != "likelihood" && !attacks.contains(attack))
                    attacks << attack;
                values[id][attack + "/" + QString::fromStdString(m.name)] = m.value;
                counts[id][attack + "/" + QString::fromStdString(m.name)] = m.count;
                judges[id] = QString::fromStdString(m.judge);
            }
            // ASR (or the audited targets' NLL) over relearning steps: on retain data (solid), on other records'
            // forget targets (dashed), the same from a model that never learned them (dotted).
            const bool asr = m_relearnMeasure->currentIndex() == 0;
            const QString measure = asr ? tr("ASR") : tr("NLL");
            QMap<QString, QPair<QVector<double>, QVector<double>>> curves; // kind -> (steps, value)
            for (const auto &m : store.metrics(id, "relearn"))
                if (m.name == (asr ? "asr" : "target_nll")) {
                    auto &c = curves[QString::fromStdString(m.split)];
                    c.first << m.step;
                    c.second << (asr ? 100 : 1) * m.value;
                }
            const QColor c = m_colors.value(id, defaultRunColor(colour++));
            for (auto it = curves.constBegin(); it != curves.constEnd(); ++it) {
                QCPGraph *g = m_relearn->addGraph();
                const bool afresh = it.key() == "afresh";
                g->setName(afresh ? tr("%1 %2 (targets learned afresh by the baseline)").arg(m_names.value(id), measure)
                                  : tr("%1 %2 (relearn on %3)").arg(m_names.value(id), measure, it.key()));
                g->setPen(QPen(c, 2, it.key() == "retain" ? Qt::SolidLine : afresh ? Qt::DotLine : Qt::DashLine));
                g->setData(it.value().first, it.value().second, true);
            }
        }
        QStringList headers{tr("Attack")};
        for (qint64 id : audited)
            headers << tr("%1 ASR").arg(m_names.value(id)) << tr("RR") << tr("start ASR") << tr("start RR");
        m_robustness->setColumnCount(headers.size());
        m_robustness->setHorizontalHeaderLabels(headers);
        for (int i = 0; i < audited.size(); ++i)
            for (int k = 1; k <= 4; ++k)
                m_robustness->horizontalHeaderItem(4 * i + k)->setToolTip(
                    tr("%1, judged by %2; in brackets the 95% Wilson interval over the audited questions")
                        .arg(m_names.value(audited[i]), judges.value(audited[i])));
        // A rate in percent with its 95% Wilson interval over the questions it was measured on: "37.5 [22–56]".
        auto pct = [&counts](qint64 id, const QHash<QString, double> &v, const QString &key) {
            if (!v.contains(key))
                return QStringLiteral("—");
            const double rate = v.value(key);
            QString text = QString::number(100 * rate, 'f', 1);
            if (const auto ci = se::metrics::wilson(rate, counts[id].value(key)))
                text += QStringLiteral(" [%1–%2]").arg(100 * ci->low, 0, 'f', 0).arg(100 * ci->high, 0, 'f', 0);
            return text;
        };
        QStringList rows = attacks;
        rows << QStringLiteral("likelihood");
        for (const QString &attack : rows) {
            const int row = m_robustness->rowCount();
            m_robustness->insertRow(row);
            const bool nll = attack == "likelihood";
            m_robustness->setItem(row, 0, new QTableWidgetItem(nll ? tr("forget targets' NLL (nats/token)") : attack));
            int c = 1;
            for (qint64 id : audited) {
                const auto &v = values[id];
                const QStringList cells =
                    nll ? QStringList{v.contains("likelihood/target_nll_run")
                                          ? QString::number(v.value("likelihood/target_nll_run"), 'f', 3)
                                          : QStringLiteral("—"),
                                      QString(),
                                      v.contains("likelihood/target_nll_vanilla")
                                          ? QString::number(v.value("likelihood/target_nll_vanilla"), 'f', 3)
                                          : QStringLiteral("—"),
                                      QString()}
                        : QStringList{pct(id, v, attack + "/asr"), pct(id, v, attack + "/rr"),
                                      pct(id, v, attack + "/vanilla_asr"), pct(id, v, attack + "/vanilla_rr")};
                for (const QString &cell : cells) {
                    auto *item = new QTableWidgetItem(cell);
                    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                    m_robustness->setItem(row, c++, item);
                }
            }
        }
        if (audited.isEmpty())
            m_readout->setText(
                tr("No audit of the checked runs in this store: safeeraser audit --store FILE --run ID"));
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
    }
    m_robustness->resizeColumnsToContents();
    m_relearn->legend->setVisible(m_relearn->graphCount() > 0);
    m_relearn->rescaleAxes();
    if (m_relearnMeasure->currentIndex() == 0) {
        m_relearn->yAxis->setLabel(tr("ASR, %"));
        m_relearn->yAxis->setRange(0, 100);
    } else {
        m_relearn->yAxis->setLabel(tr("forget targets' NLL, nats/token"));
        m_relearn->yAxis->setRangeLower(0);
    }
    m_relearn->replot();
}

void PlotsView::drawBars()
{
    const MetricChoice m = metricChoices().value(m_metric->currentIndex());
    m_bars->clearPlottables();
    styleAxes(m_bars, 1.0);
    m_barCategories.clear();
    m_barRuns.clear();
    m_barValues.clear();
    if (m_storePath.isEmpty())
        return m_bars->replot();
    try {
        se::store::RunStore &store = *this->store();
        // Before and after: each chosen run's parent vanilla evaluation is shown once, then the runs.
        QList<qint64> shown;
        for (qint64 id : checkedRuns()) {
            const auto info = store.run(id);
            if (info && info->parentId && !shown.contains(info->parentId))
                shown.append(info->parentId);
            if (!shown.contains(id))
                shown.append(id);
        }
        std::set<std::string> cats;
        std::map<qint64, std::map<std::string, double>> values;
        for (qint64 id : shown) {
            const auto info = store.run(id);
            if (!info)
                continue;
            std::string stage;
            for (const auto &x : store.metrics(id))
                if (x.stage == "final" || (x.stage == "vanilla" && stage != "final"))
                    stage = x.stage;
            for (const auto &x : store.metrics(id, stage))
                if (x.name == m.name.toStdString() && x.split == m.split.toStdString() && !x.category.empty()) {
                    cats.insert(x.category);
                    values[id][x.category] = x.value * 100.0;
                }
        }
        for (const auto &c : cats)
            m_barCategories << QString::fromStdString(c);
        QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
        for (int i = 0; i < m_barCategories.size(); ++i)
            ticker->addTick(i + 1, m_barCategories[i]);
        m_bars->xAxis->setTicker(ticker);
        m_bars->xAxis->setRange(0.4, m_barCategories.size() + 0.6);
        m_bars->yAxis->setRange(0, 105);
        m_bars->yAxis->setLabel(QStringLiteral("%1 (%2), %").arg(m.name, m.split));
        auto *group = new QCPBarsGroup(m_bars);
        for (qint64 id : shown) {
            if (!values.count(id))
                continue;
            auto *bars = new QCPBars(m_bars->xAxis, m_bars->yAxis);
            bars->setName(m_names.value(id, QString::number(id)));
            const QColor c = m_colors.value(id, defaultRunColor(int(id)));
            bars->setPen(QPen(c.darker(120)));
            bars->setBrush(c);
            bars->setWidth(0.8 / std::max<qsizetype>(1, values.size()));
            bars->setBarsGroup(group);
            QVector<double> xs, ys;
            for (int i = 0; i < m_barCategories.size(); ++i) {
                xs << i + 1;
                const auto it = values[id].find(m_barCategories[i].toStdString());
                ys << (it == values[id].end() ? 0.0 : it->second);
            }
            bars->setData(xs, ys);
            m_barRuns << id;
            m_barValues[id] = ys;
        }
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
    }
    m_bars->legend->setVisible(!m_barRuns.isEmpty());
    m_bars->replot();
}

void PlotsView::fillTable()
{
    m_table->clear();
    QStringList headers = {tr("Run"), tr("Stage"), tr("Judge")};
    for (const auto &c : se::metrics::tabledMetrics())
        headers << QString::fromStdString(c.metric->header(c.split));
    m_table->setColumnCount(headers.size());
    m_table->setHorizontalHeaderLabels(headers);
    m_table->setRowCount(0);
    if (m_storePath.isEmpty())
        return;
    try {
        se::store::RunStore &store = *this->store();
        const QList<qint64> chosen = checkedRuns();
        int row = 0;
        for (const auto &s : se::store::summarizeRuns(store)) {
            if (!chosen.isEmpty() && !chosen.contains(s.run.id))
                continue;
            m_table->insertRow(row);
            auto pct = [](double v) { return v < 0 ? QStringLiteral("—") : QString::number(v * 100.0, 'f', 1); };
            // A rate with its 95% Wilson interval: "12.5 (8.1–18.2)".
            auto rate = [&pct](double v, int n) {
                const auto ci = se::store::rateInterval(v, n);
                return ci ? QStringLiteral("%1 (%2–%3)")
                                .arg(pct(v))
                                .arg(ci->low * 100.0, 0, 'f', 1)
                                .arg(ci->high * 100.0, 0, 'f', 1)
                          : pct(v);
            };
            QStringList cells = {runName(s.run), QString::fromStdString(s.stage), QString::fromStdString(s.judge)};
            for (const auto &c : se::metrics::tabledMetrics()) {
                const auto f = s.overall.get(c.metric->name, c.split);
                cells << (c.metric->rate()    ? rate(f.value, f.n)
                          : c.metric->percent ? pct(f.value)
                          : f.value < 0       ? QStringLiteral("—")
                                              : QString::number(f.value, 'f', 3));
            }
            for (int c = 0; c < cells.size(); ++c) {
                auto *item = new QTableWidgetItem(cells[c]);
                if (c >= 3)
                    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                m_table->setItem(row, c, item);
            }
            ++row;
        }
    } catch (const std::exception &e) {
        Q_EMIT message(tr("Run store: %1").arg(QString::fromUtf8(e.what())));
    }
    m_table->resizeColumnsToContents();
}

void PlotsView::onHover(QMouseEvent *event)
{
    // The nearest point of any curve, within 20 pixels.
    double best = 20.0 * 20.0;
    QString text;
    for (int i = 0; i < m_curves->graphCount(); ++i) {
        QCPGraph *g = m_curves->graph(i);
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
            const double px = m_curves->xAxis->coordToPixel(it->key), py = m_curves->yAxis->coordToPixel(it->value);
            const double d = (px - event->position().x()) * (px - event->position().x()) +
                             (py - event->position().y()) * (py - event->position().y());
            if (d < best) {
                best = d;
                text = tr("%1 — step %2: %3%").arg(g->name()).arg(it->key).arg(it->value, 0, 'f', 1);
            }
        }
    }
    m_readout->setText(text.isEmpty() ? tr("Hover a curve for its values.") : text);
}

QCustomPlot *PlotsView::currentPlot() const
{
    return m_tabs->currentIndex() == 1 ? m_bars : m_tabs->currentIndex() == 3 ? m_relearn : m_curves;
}

bool PlotsView::exportPng(const QString &file, int width, int height)
{
    redraw();
    return currentPlot()->savePng(file, width, height);
}

bool PlotsView::exportPdf(const QString &file, int width, int height)
{
    redraw();
    return currentPlot()->savePdf(file, width, height);
}

bool PlotsView::exportCsv(const QString &file, QString *error) const
{
    QString out;
    auto field = [](const QString &s) { return csvField(s); };
    const MetricChoice m = metricChoices().value(m_metric->currentIndex());
    if (m_tabs->currentIndex() == 3)
        return writeCsvFile(file, modelCsv(*m_robustness->model()), error);
    if (m_tabs->currentIndex() == 2) {
        QStringList h;
        for (int c = 0; c < m_table->columnCount(); ++c)
            h << field(m_table->horizontalHeaderItem(c)->text());
        out += h.join(',') + '\n';
        for (int r = 0; r < m_table->rowCount(); ++r) {
            QStringList f;
            for (int c = 0; c < m_table->columnCount(); ++c)
                f << field(m_table->item(r, c) ? m_table->item(r, c)->text() : QString());
            out += f.join(',') + '\n';
        }
    } else if (m_tabs->currentIndex() == 1) {
        out += "run,category," + m.name + "_" + m.split + "_percent\n";
        for (qint64 id : m_barRuns)
            for (int i = 0; i < m_barCategories.size(); ++i)
                out += QStringLiteral("%1,%2,%3\n")
                           .arg(field(m_names.value(id)), m_barCategories[i])
                           .arg(m_barValues[id].value(i), 0, 'f', 2);
    } else {
        out += "run,step," + m.name + "_" + m.split + "_percent\n";
        for (auto it = m_curveData.constBegin(); it != m_curveData.constEnd(); ++it)
            for (const QPointF &p : it.value())
                out +=
                    QStringLiteral("%1,%2,%3\n").arg(field(m_names.value(it.key()))).arg(p.x()).arg(p.y(), 0, 'f', 2);
    }
    return writeCsvFile(file, out, error);
}

} // namespace se::ui
