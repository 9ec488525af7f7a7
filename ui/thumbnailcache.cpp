#include "ui/thumbnailcache.h"
#include "core/data/imageheader.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QImageReader>
#include <QPainter>
#include <QStandardPaths>
#include <QThread>
#include <algorithm>
#include <QtConcurrent/QtConcurrentRun>

namespace se::ui {

namespace {
// Decodes in flight: half the cores, so a training run and the UI thread keep theirs.
int maxInFlight()
{
    return std::max(1, QThread::idealThreadCount() / 2);
}
} // namespace

ThumbnailCache::ThumbnailCache(int side, QObject *parent) : QObject(parent), m_side(side), m_memory(4000)
{
    m_cacheDir = QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + "/thumbnails";
    QDir().mkpath(m_cacheDir);
    QImage ph(side, side, QImage::Format_ARGB32_Premultiplied);
    ph.fill(Qt::transparent);
    QPainter p(&ph);
    p.setPen(QPen(QColor(128, 128, 128, 140), 2, Qt::DashLine));
    p.drawRoundedRect(QRectF(4, 4, side - 8, side - 8), 8, 8);
    p.end();
    m_placeholder = QPixmap::fromImage(ph);
}

ThumbnailCache::~ThumbnailCache()
{
    m_queue.clear();
    for (auto *w : std::as_const(m_watchers))
        w->waitForFinished(); // a decode takes milliseconds; none may outlive us
}

QImage ThumbnailCache::makeThumbnail(const QString &file, int side, const QString &cacheDir)
{
    const QFileInfo fi(file);
    QString cached;
    if (!cacheDir.isEmpty()) {
        const QByteArray key = QStringLiteral("%1|%2|%3|%4")
                                   .arg(fi.absoluteFilePath())
                                   .arg(fi.size())
                                   .arg(fi.lastModified().toMSecsSinceEpoch())
                                   .arg(side)
                                   .toUtf8();
        cached = cacheDir + "/" + QCryptographicHash::hash(key, QCryptographicHash::Sha1).toHex() + ".png";
        QImage img;
        if (img.load(cached, "PNG"))
            return img;
    }
    QImageReader reader(file);
    reader.setAutoTransform(true);
    const QSize full = reader.size();
    if (full.isValid()) {
        if (quint64(full.width()) * quint64(full.height()) > se::data::kDefaultDecodeMaxPixels)
            return {}; // the reader's limit: never decode a bomb for a thumbnail
        reader.setScaledSize(full.scaled(side, side, Qt::KeepAspectRatio));
    }
    QImage img = reader.read();
    if (img.isNull())
        return {};
    if (img.width() > side || img.height() > side)
        img = img.scaled(side, side, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    if (!cached.isEmpty())
        img.save(cached, "PNG");
    return img;
}

QPixmap ThumbnailCache::thumbnail(const QString &file)
{
    if (QPixmap *pm = m_memory.object(file))
        return *pm;
    if (!file.isEmpty() && !m_inFlight.contains(file)) {
        if (m_queued.contains(file))
            m_queue.removeOne(file);
        m_queued.insert(file);
        m_queue.prepend(file);
        pump();
    }
    return m_placeholder;
}

void ThumbnailCache::clearQueue()
{
    m_queue.clear();
    m_queued.clear();
}

void ThumbnailCache::pump()
{
    while (m_inFlight.size() < maxInFlight() && !m_queue.isEmpty()) {
        const QString file = m_queue.takeFirst();
        m_queued.remove(file);
        m_inFlight.insert(file);
        auto *w = new QFutureWatcher<QImage>(this);
        m_watchers.append(w);
        connect(w, &QFutureWatcherBase::finished, this, [this, w, file] {
            m_watchers.removeOne(w);
            w->deleteLater();
            m_inFlight.remove(file);
            const QImage img = w->result();
            // A file that cannot be decoded keeps a visible "broken" mark rather than the placeholder forever.
            QPixmap pm = img.isNull() ? m_placeholder : QPixmap::fromImage(img);
            if (img.isNull()) {
                QPainter p(&pm);
                p.setPen(QPen(QColor(200, 60, 60), 3));
                p.drawLine(12, 12, m_side - 12, m_side - 12);
                p.drawLine(m_side - 12, 12, 12, m_side - 12);
            }
            m_memory.insert(file, new QPixmap(pm));
            Q_EMIT thumbnailReady(file);
            pump();
        });
        const int side = m_side;
        const QString dir = m_cacheDir;
        // (Idle priority for these decodes was measured worse: a SCHED_IDLE thread holding a lock the UI thread
        // needs stalled it for up to a second.)
        w->setFuture(QtConcurrent::run([file, side, dir] { return makeThumbnail(file, side, dir); }));
    }
}

} // namespace se::ui
