#include "ui/presentationview.h"

#include "core/metrics/evaluation.h"
#include "ui/safeview.h"

#include "core/unlearn/method.h"
#include "ui/plotsview.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QImageReader>
#include <QKeyEvent>
#include <QLabel>
#include <QStackedWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <nlohmann/json.hpp>
#include <qcustomplot.h>

namespace se::ui {

namespace {
QLabel *bigLabel(double scale, bool bold = false)
{
    auto *l = new QLabel;
    QFont f = l->font();
    f.setPointSizeF(f.pointSizeF() * scale);
    f.setBold(bold);
    l->setFont(f);
    l->setWordWrap(true);
    l->setTextFormat(Qt::RichText);
    return l;
}

QString badge(const se::store::AnswerRecord &a)
{
    if (!a.id)
        return QStringLiteral("<span style=\"color:#888\">(no answer)</span>");
    if (a.unsafe)
        return QStringLiteral("<span style=\"background:#d9463b;color:white\">&nbsp;UNSAFE&nbsp;</span>");
    if (a.refusal)
        return QStringLiteral("<span style=\"background:#5a8ce6;color:white\">&nbsp;REFUSES&nbsp;</span>");
    if (a.degenerate)
        return QStringLiteral("<span style=\"background:#888;color:white\">&nbsp;DEGENERATE&nbsp;</span>");
    return QStringLiteral("<span style=\"background:#3c9a4a;color:white\">&nbsp;ANSWERS&nbsp;</span>");
}
} // namespace

PresentationView::PresentationView(QWidget *parent) : QWidget(parent)
{
    setObjectName("presentation");
    setFocusPolicy(Qt::StrongFocus);
    m_stack = new QStackedWidget;

    auto *intro = new QWidget;
    auto *il = new QVBoxLayout(intro);
    m_intro = bigLabel(2.0);
    m_intro->setAlignment(Qt::AlignCenter);
    il->addWidget(m_intro);
    m_stack->addWidget(intro);
    m_stack->addWidget(exampleSlide(&m_t1, &m_i1, &m_b1, false)); // the SD image
    m_stack->addWidget(exampleSlide(&m_t2, &m_i2, &m_b2, true));  // a harmful image: blurred unless revealed
    auto *curve = new QWidget;
    auto *cl = new QVBoxLayout(curve);
    auto *ct = bigLabel(2.2, true);
    ct->setText(tr("Over-forgetting: SARR on benign images, PO vs PO+PD (lower is better)"));
    m_plot = new QCustomPlot;
    m_plot->setObjectName("presentationPlot");
    cl->addWidget(ct);
    cl->addWidget(m_plot, 1);
    m_stack->addWidget(curve);
    m_fixedSlides = m_stack->count();

    m_footer = bigLabel(1.2);
    m_footer->setAlignment(Qt::AlignCenter);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(40, 30, 40, 20);
    layout->addWidget(m_stack, 1);
    layout->addWidget(m_footer);

    m_watcher = new QFutureWatcher<Pick>(this);
    connect(m_watcher, &QFutureWatcherBase::finished, this, [this] { fill(m_watcher->result()); });
    goTo(0);
}

PresentationView::~PresentationView() = default; // a preparation still running holds no pointer to us

QWidget *PresentationView::exampleSlide(QLabel **title, QLabel **image, QLabel **body, bool harmful)
{
    auto *w = new QWidget;
    auto *v = new QVBoxLayout(w);
    *title = bigLabel(2.2, true);
    *image = harmful ? new HarmfulImageLabel : new QLabel;
    (*image)->setFixedSize(440, 440);
    (*image)->setAlignment(Qt::AlignCenter);
    (*image)->setFrameShape(QFrame::StyledPanel);
    *body = bigLabel(1.7);
    (*body)->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    auto *h = new QHBoxLayout;
    h->addWidget(*image, 0, Qt::AlignTop);
    h->addSpacing(30);
    h->addWidget(*body, 1);
    v->addWidget(*title);
    v->addSpacing(16);
    v->addLayout(h, 1);
    return w;
}

void PresentationView::setStorePath(const QString &path)
{
    m_storePath = path;
}

int PresentationView::slideCount() const
{
    return m_stack->count();
}
int PresentationView::currentSlide() const
{
    return m_stack->currentIndex();
}

void PresentationView::goTo(int slide)
{
    slide = std::clamp(slide, 0, slideCount() - 1);
    m_stack->setCurrentIndex(slide);
    m_footer->setText(tr("%1 / %2 — Space or → next, ← back, Esc leaves").arg(slide + 1).arg(slideCount()));
}

void PresentationView::keyPressEvent(QKeyEvent *e)
{
    switch (e->key()) {
    case Qt::Key_Space:
    case Qt::Key_Right:
    case Qt::Key_PageDown:
    case Qt::Key_Down:
        goTo(currentSlide() + 1);
        break;
    case Qt::Key_Left:
    case Qt::Key_Backspace:
    case Qt::Key_PageUp:
    case Qt::Key_Up:
        goTo(currentSlide() - 1);
        break;
    case Qt::Key_Home:
        goTo(0);
        break;
    case Qt::Key_End:
        goTo(slideCount() - 1);
        break;
    case Qt::Key_Escape:
        Q_EMIT leaveRequested();
        break;
    case Qt::Key_V: // the harmful image of the example on screen, shown only when asked
        if (auto *h = qobject_cast<HarmfulImageLabel *>(m_i2); h && m_stack->currentWidget()->isAncestorOf(h))
            h->toggleReveal();
        break;
    default:
        QWidget::keyPressEvent(e);
    }
}

void PresentationView::prepare()
{
    m_ready = false;
    m_intro->setText(tr("Preparing…"));
    const std::string path = m_storePath.toStdString();
    // Replaces a preparation still running: its result is not delivered.
    m_watcher->setFuture(QtConcurrent::run([path]() -> Pick {
        Pick p;
        if (path.empty()) {
            p.error = tr("Open a run store first (File ▸ Open Run Store…).");
            return p;
        }
        try {
            se::store::RunStore store(path, true);
            auto probes = store.probes();
            if (probes.size() > 3)
                probes.erase(probes.begin(), probes.end() - 3);
            p.probes = std::move(probes);
            se::store::RunInfo po, popd, vanilla;
            for (const auto &r : store.runs()) {
                if (r.status != se::store::RunStatus::Finished)
                    continue;
                if (r.method == "po" && !r.pd)
                    po = r;
                else if (r.method == "po" && r.pd)
                    popd = r;
                else if (r.method == "vanilla")
                    vanilla = r;
            }
            const std::int64_t parent = popd.parentId ? popd.parentId : po.parentId;
            if (parent)
                if (auto v = store.run(parent))
                    vanilla = *v;
            if (!po.id || !popd.id) {
                p.error = tr("This demo needs a finished PO run and a finished PO+PD run in the store.");
                return p;
            }
            std::vector<std::int64_t> ids;
            for (const auto *r : {&vanilla, &po, &popd}) {
                p.runs << r->id;
                p.names << (r->id ? QString::fromStdString(se::unlearn::runLabel(r->method, r->pd))
                                  : QStringLiteral("—"));
                if (r->id)
                    ids.push_back(r->id);
            }
            if (!vanilla.id)
                p.names[0] = tr("vanilla (not in store)");
            const auto index = se::store::buildComparison(store, ids);
            const int off = vanilla.id ? 0 : -1; // position of vanilla in ids; PO and PO+PD follow
            auto id = [&](const se::store::ComparisonEntry &e, int run) -> std::int64_t {
                const int k = run + off;
                return k >= 0 ? e.answerId[size_t(k)] : 0;
            };
            auto flag = [&](const std::vector<std::uint8_t> &v, int run) {
                return run + off >= 0 && v[size_t(run + off)];
            };
            // The clearest examples, held-out (val) ones preferred: on the benign image vanilla answers, PO
            // refuses, PO+PD answers; on the harmful image vanilla is unsafe and both refuse.
            const se::store::ComparisonEntry *pdPick = nullptr, *forgetPick = nullptr;
            int pdScore = -1, forgetScore = -1;
            for (const auto &e : index.entries) {
                if (!id(e, 1) || !id(e, 2))
                    continue;
                const int val = e.key.split == "val" ? 1 : 0;
                if (e.key.set == "pd") {
                    const int score = 4 * (flag(e.refusal, 1) && !flag(e.refusal, 2)) + 2 * !flag(e.refusal, 0) + val;
                    if (score > pdScore)
                        pdScore = score, pdPick = &e;
                } else if (e.key.set == "forget") {
                    const int score = 4 * (flag(e.refusal, 1) && flag(e.refusal, 2)) + 2 * flag(e.unsafe, 0) + val;
                    if (score > forgetScore)
                        forgetScore = score, forgetPick = &e;
                }
            }
            auto answersOf = [&](const se::store::ComparisonEntry *e) {
                std::vector<std::int64_t> want = {e ? id(*e, 0) : 0, e ? id(*e, 1) : 0, e ? id(*e, 2) : 0};
                return se::store::answersById(store, want);
            };
            p.pd = answersOf(pdPick);
            p.forget = answersOf(forgetPick);
        } catch (const std::exception &e) {
            p.error = QString::fromUtf8(e.what());
        }
        return p;
    }));
}

void PresentationView::addProbeSlide(const se::store::ProbeRecord &probe)
{
    QLabel *title = nullptr, *image = nullptr, *body = nullptr;
    m_stack->addWidget(exampleSlide(&title, &image, &body, true)); // the user's question may be about a harmful image
    title->setText(tr("Probe: %1").arg(QString::fromStdString(probe.name).toHtmlEscaped()));
    QImageReader r(QString::fromStdString(probe.image));
    const QSize s = r.size();
    if (s.isValid() && qint64(s.width()) * s.height() <= 16ll * 1000 * 1000) {
        r.setScaledSize(s.scaled(QSize(480, 480), Qt::KeepAspectRatio));
        qobject_cast<HarmfulImageLabel *>(image)->setHarmfulImage(r.read(), QString());
    } else {
        image->setText(tr("image not available"));
    }
    QString html = tr("<p><b>Q:</b> %1</p>").arg(QString::fromStdString(probe.question).toHtmlEscaped());
    const auto answers = nlohmann::json::parse(probe.answersJson, nullptr, false);
    if (answers.is_array())
        for (const auto &a : answers) {
            if (!a.is_object())
                continue;
            const auto texts = a.value("answers", nlohmann::json::array());
            const auto refusal = a.value("refusal", nlohmann::json::array());
            const auto unsafe = a.value("unsafe", nlohmann::json::array());
            se::store::AnswerRecord shown; // the badge of the first answer
            shown.id = texts.empty() ? 0 : 1;
            shown.refusal = !refusal.empty() && refusal[0].is_boolean() && refusal[0].get<bool>();
            shown.unsafe = !unsafe.empty() && unsafe[0].is_boolean() && unsafe[0].get<bool>();
            const QString text = !texts.empty() && texts[0].is_string()
                                     ? QString::fromStdString(texts[0].get<std::string>())
                                     : QString();
            html += QStringLiteral("<p><b>%1</b> %2<br>%3</p>")
                        .arg(QString::fromStdString(a.value("label", std::string())).toHtmlEscaped(), badge(shown),
                             text.toHtmlEscaped());
        }
    body->setText(html);
}

void PresentationView::fill(const Pick &p)
{
    m_ready = true;
    while (m_stack->count() > m_fixedSlides) { // the probe slides of an earlier preparation
        QWidget *old = m_stack->widget(m_stack->count() - 1);
        m_stack->removeWidget(old);
        delete old;
    }
    for (const auto &probe : p.probes)
        addProbeSlide(probe);
    if (!p.error.isEmpty()) {
        m_intro->setText(tr("<b>SafeEraser Workbench</b><br><br>%1").arg(p.error.toHtmlEscaped()));
        Q_EMIT ready();
        return;
    }
    m_intro->setText(tr("<b>Safety unlearning without over-forgetting</b><br><br>Prompt Decouple (PD) teaches the "
                        "model that refusing must depend on what the image shows.<br><br>Comparing %1, %2 and %3.")
                         .arg(p.names.value(0), p.names.value(1), p.names.value(2)));
    auto fillExample = [&](QLabel *title, QLabel *image, QLabel *body, const std::vector<se::store::AnswerRecord> &a,
                           const QString &heading) {
        const se::store::AnswerRecord *any = nullptr;
        for (const auto &x : a)
            if (x.id) {
                any = &x;
                break;
            }
        title->setText(heading);
        if (!any) {
            body->setText(tr("No example in the store."));
            return;
        }
        QImageReader r(QString::fromStdString(any->image));
        const QSize s = r.size();
        if (s.isValid() && qint64(s.width()) * s.height() <= 16ll * 1000 * 1000) {
            r.setScaledSize(s.scaled(image->size() - QSize(8, 8), Qt::KeepAspectRatio));
            const QImage img = r.read();
            if (auto *h = qobject_cast<HarmfulImageLabel *>(image))
                h->setHarmfulImage(img, QString::fromStdString(any->category));
            else
                image->setPixmap(QPixmap::fromImage(img));
        } else {
            image->setText(tr("image not available"));
        }
        QString html = tr("<p><b>Q:</b> %1</p>").arg(QString::fromStdString(any->question).toHtmlEscaped());
        for (int k = 0; k < 3 && k < int(a.size()); ++k)
            html += QStringLiteral("<p><b>%1</b> %2<br>%3</p>")
                        .arg(p.names.value(k).toHtmlEscaped(), badge(a[size_t(k)]),
                             QString::fromStdString(a[size_t(k)].answer).toHtmlEscaped());
        body->setText(html);
    };
    fillExample(m_t1, m_i1, m_b1, p.pd, tr("A harmful question about a <i>benign</i> image: it should be answered"));
    fillExample(m_t2, m_i2, m_b2, p.forget, tr("A harmful question about a <i>harmful</i> image: it must be refused"));
    QHash<qint64, QColor> colors;
    colors[p.runs.value(1)] = QColor("#d62728");
    colors[p.runs.value(2)] = QColor("#2ca02c");
    std::unique_ptr<se::store::RunStore> store;
    try {
        store = std::make_unique<se::store::RunStore>(m_storePath.toStdString(), true); // once per preparation
    } catch (const std::exception &) {
        // the picking above read this store; if it is gone now, the plot stays empty
    }
    PlotsView::drawCurves(m_plot, store.get(), {p.runs.value(1), p.runs.value(2)}, se::metrics::names::sarr, "val",
                          colors, nullptr, 1.8);
    Q_EMIT ready();
}

} // namespace se::ui
