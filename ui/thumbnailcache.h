// Thumbnails for the dataset grid: decoded in the background (QtConcurrent, QImageReader's scaled read, so a
// large image is never decoded at full size), cached in memory and on disk under the cache location keyed by
// path, size and modification time, and a placeholder until ready. Requests are de-duplicated and bounded;
// thumbnailReady() tells the views which file to repaint.
#pragma once

#include <QCache>
#include <QFutureWatcher>
#include <QHash>
#include <QImage>
#include <QObject>
#include <QPixmap>
#include <QSet>
#include <QStringList>

namespace se::ui {

class ThumbnailCache : public QObject
{
    Q_OBJECT
public:
    explicit ThumbnailCache(int side = 128, QObject *parent = nullptr);
    ~ThumbnailCache() override;

    // The thumbnail if it is ready; otherwise the placeholder, and a background decode is queued.
    QPixmap thumbnail(const QString &file);
    bool isReady(const QString &file) const { return m_memory.contains(file); }
    QPixmap placeholder() const { return m_placeholder; }
    int side() const { return m_side; }
    // Forget queued (not yet started) requests, e.g. when the grid shows other records now.
    void clearQueue();
    int pending() const { return m_queue.size() + m_inFlight.size(); }

    // Decodes one thumbnail of at most side×side (also used by the workers). Reads and writes the disk cache
    // in `cacheDir` when it is not empty.
    static QImage makeThumbnail(const QString &file, int side, const QString &cacheDir);

Q_SIGNALS:
    void thumbnailReady(const QString &file);

private:
    void pump();
    int m_side;
    QString m_cacheDir;
    QPixmap m_placeholder;
    QCache<QString, QPixmap> m_memory;
    QStringList m_queue; // most recent request first: what the user looks at now
    QSet<QString> m_queued, m_inFlight;
    QList<QFutureWatcher<QImage> *> m_watchers;
};

} // namespace se::ui
