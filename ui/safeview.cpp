#include "ui/safeview.h"

#include <QMouseEvent>
#include <QPainter>
#include <QSettings>

namespace se::ui {

namespace {
QString key(const QString &category)
{
    return QStringLiteral("safeViewing/blur/") + (category.isEmpty() ? QStringLiteral("(none)") : category);
}
} // namespace

SafeViewing &SafeViewing::instance()
{
    static SafeViewing s;
    return s;
}

bool SafeViewing::blurred(const QString &category) const
{
    const QVariant v = QSettings().value(key(category));
    return v.isValid() ? v.toBool() : !m_generated;
}

void SafeViewing::setBlurred(const QString &category, bool on)
{
    QSettings().setValue(key(category), on);
    Q_EMIT changed();
}

void SafeViewing::setGeneratedBenchmark(bool generated)
{
    if (generated == m_generated)
        return;
    m_generated = generated;
    Q_EMIT changed();
}

QImage SafeViewing::blur(const QImage &image)
{
    if (image.isNull())
        return image;
    // A few pixels a side keep the colours and nothing of the content.
    const QImage tiny = image.scaled(12, 12, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return tiny.scaled(image.size(), Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
}

QPixmap SafeViewing::blur(const QPixmap &pixmap)
{
    return pixmap.isNull() ? pixmap : QPixmap::fromImage(blur(pixmap.toImage()));
}

HarmfulImageLabel::HarmfulImageLabel(const QString &placeholder, QWidget *parent) : QLabel(placeholder, parent)
{
    setAlignment(Qt::AlignCenter);
    connect(&SafeViewing::instance(), &SafeViewing::changed, this, &HarmfulImageLabel::refresh);
}

void HarmfulImageLabel::setHarmfulImage(const QImage &image, const QString &category)
{
    m_image = image;
    m_category = category;
    m_revealed = false; // a new image is veiled again
    refresh();
}

void HarmfulImageLabel::clearImage(const QString &text)
{
    m_image = {};
    m_revealed = false;
    m_showingBlurred = false;
    setToolTip({});
    setText(text);
}

void HarmfulImageLabel::toggleReveal()
{
    if (m_image.isNull())
        return;
    m_revealed = !m_revealed;
    refresh();
}

void HarmfulImageLabel::mousePressEvent(QMouseEvent *event)
{
    if (event->button() == Qt::LeftButton && !m_image.isNull()) {
        toggleReveal();
        event->accept();
        return;
    }
    QLabel::mousePressEvent(event);
}

void HarmfulImageLabel::refresh()
{
    if (m_image.isNull())
        return;
    m_showingBlurred = !m_revealed && SafeViewing::instance().blurred(m_category);
    if (!m_showingBlurred) {
        setPixmap(QPixmap::fromImage(m_image));
        setToolTip(tr("Harmful image (%1). Click or press V to blur it again.").arg(m_category));
        return;
    }
    QImage veiled = SafeViewing::blur(m_image).convertToFormat(QImage::Format_ARGB32_Premultiplied);
    QPainter p(&veiled);
    QFont f = p.font();
    f.setPixelSize(std::max(11, veiled.height() / 14));
    f.setBold(true);
    p.setFont(f);
    const QRect band(0, veiled.height() / 2 - f.pixelSize() * 2, veiled.width(), f.pixelSize() * 4);
    p.fillRect(band, QColor(0, 0, 0, 150));
    p.setPen(Qt::white);
    p.drawText(
        band, Qt::AlignCenter | Qt::TextWordWrap,
        tr("%1 — blurred\nclick or press V to show").arg(m_category.isEmpty() ? tr("Harmful image") : m_category));
    p.end();
    setPixmap(QPixmap::fromImage(veiled));
    setToolTip(tr("Harmful images of %1 are blurred (View ▸ Blur Harmful Images). Click or press V to show this one.")
                   .arg(m_category));
}

} // namespace se::ui
