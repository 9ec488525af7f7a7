// Safe viewing of harmful images. The official benchmark's harmful images are real violence, weapons and sexual
// content: every view shows them blurred beyond recognition by default — thumbnails, the record view, the
// comparison and presentation mode. The setting is per harm category and remembered (QSettings
// "safeViewing/blur/<Category>"); a benchmark this project generated (its "harmful" images are drawn glyphs) is
// shown unblurred unless the user chose otherwise. One image is revealed by a click on it or the V key, and veiled
// again when another image takes its place. Benign (SD) images are never blurred.
#pragma once

#include <QImage>
#include <QLabel>
#include <QObject>
#include <QPixmap>

namespace se::ui {

class SafeViewing : public QObject
{
    Q_OBJECT
public:
    static SafeViewing &instance();

    // Whether harmful images of `category` are shown blurred: the user's choice for it, else the default.
    bool blurred(const QString &category) const;
    void setBlurred(const QString &category, bool on); // remembered; emits changed()
    // The default of a category the user has not set: blur, except for a benchmark this project generated.
    void setGeneratedBenchmark(bool generated);
    bool generatedBenchmark() const { return m_generated; }

    // Unrecognisable: reduced to a few pixels a side and scaled back smoothly.
    static QImage blur(const QImage &image);
    static QPixmap blur(const QPixmap &pixmap);

Q_SIGNALS:
    void changed();

private:
    bool m_generated = false;
};

// A label that shows a harmful image, blurred while SafeViewing says so for its category, with a line saying how
// to reveal it; a click (or reveal()) shows it as it is until another image is set.
class HarmfulImageLabel : public QLabel
{
    Q_OBJECT
public:
    explicit HarmfulImageLabel(const QString &placeholder = {}, QWidget *parent = nullptr);
    void setHarmfulImage(const QImage &image, const QString &category);
    void clearImage(const QString &text); // a message instead of an image (loading, unavailable)
    bool showsBlurred() const { return m_showingBlurred; }
    bool hasImage() const { return !m_image.isNull(); }
    void toggleReveal();

protected:
    void mousePressEvent(QMouseEvent *event) override;

private:
    void refresh();
    QImage m_image;
    QString m_category;
    bool m_revealed = false;
    bool m_showingBlurred = false;
};

} // namespace se::ui
