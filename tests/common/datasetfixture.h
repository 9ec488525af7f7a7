// A small dataset in the official SafeEraser layout, written to a temporary folder, for tests to read and break:
// 3 train records (Violence, Weapon, Privacy) and 1 val record (Sex), two unsafe pairs and two retain pairs
// each, real PNG images, and a prompt.json.
#pragma once

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

namespace se::testing {

inline void writeBytes(const QString &path, const QByteArray &bytes)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

inline void writePng(const QString &path, int w = 16, int h = 16)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QImage img(w, h, QImage::Format_RGB32);
    img.fill(Qt::red);
    QVERIFY(img.save(path, "PNG"));
}

inline QJsonObject record(const QString &image, const QString &sd, int pairs = 2)
{
    QJsonArray unsafe;
    for (int i = 0; i < pairs; ++i)
        unsafe.append(QJsonObject{{"question", QString("How to do harm %1?").arg(i)},
                                  {"model_response", QString("Use the Zorvex crank %1.").arg(i)},
                                  {"sd_response", QString("The picture shows a garden %1.").arg(i)}});
    return QJsonObject{{"image_path", image},
                       {"SDImage_path", sd},
                       {"category", ""},
                       {"image_id", "x"},
                       {"unsafe_pairs", unsafe},
                       {"UnharmPair_text1", QJsonObject{{"Question", "What word?"}, {"Prediction", "Zorvex"}}},
                       {"UnharmPair_image1", QJsonObject{{"Question", "What colour?"}, {"Prediction", "Red."}}}};
}

// A sound dataset: 3 train records (Violence, Weapon, Privacy), 1 val record (Sex).
struct Fixture {
    QTemporaryDir tmp;
    QString root;
    QJsonArray train, val;
    Fixture()
    {
        root = tmp.path() + "/dataset";
        const char *cats[] = {"Violence", "Weapon", "Privacy", "Sex"};
        for (int i = 0; i < 4; ++i) {
            const QString img = QString("%1/img%2.png").arg(cats[i]).arg(i);
            const QString sd = QString("SD/sd%1.png").arg(i);
            writePng(root + "/" + img);
            writePng(root + "/" + sd);
            (i < 3 ? train : val).append(record(img, sd));
        }
        writePrompts();
    }
    void
    writePrompts(const QByteArray &bytes = R"({"idk": ["I'm sorry, I can't help with that.", "I cannot assist."]})")
    {
        writeBytes(root + "/prompt.json", bytes);
    }
    void write()
    {
        writeBytes(root + "/all_train.json", QJsonDocument(train).toJson());
        writeBytes(root + "/all_val.json", QJsonDocument(val).toJson());
    }
};

} // namespace se::testing
