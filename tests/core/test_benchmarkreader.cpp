// The benchmark reader on hand-made datasets in the official layout: the sound case, every accepted variant,
// and each class of bad input, asserting the exact file, record and field reported.
#include "core/data/benchmark.h"
#include "core/data/imageheader.h"
#include "core/data/sha256.h"
#include "tests/common/datasetfixture.h"

#include <QBuffer>
#include <QtTest>
#include <QTemporaryDir>
#include <sys/stat.h>

using namespace se::data;
using namespace se::testing;

namespace {

bool hasProblem(const Benchmark &b, const std::string &file, std::optional<long> rec, const std::string &field,
                const std::string &messagePart)
{
    for (const auto &p : b.problems)
        if (p.file == file && p.record == rec && p.field == field && p.message.find(messagePart) != std::string::npos)
            return true;
    return false;
}

QString dump(const Benchmark &b)
{
    QString s;
    for (const auto &p : b.problems)
        s += QString::fromStdString(p.toString()) + "\n";
    return s;
}

} // namespace

class TestBenchmarkReader : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void soundDataset()
    {
        Fixture f;
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(b.problems.empty(), qPrintable(dump(b)));
        QCOMPARE(b.train.records.size(), size_t(3));
        QCOMPARE(b.val.records.size(), size_t(1));
        QCOMPARE(b.train.forget.size(), size_t(6));
        QCOMPARE(b.train.pd.size(), size_t(6));
        QCOMPARE(b.train.retain.size(), size_t(6));
        QCOMPARE(b.refusals.size(), size_t(2));
        QCOMPARE(b.categoryRecords.at("Violence"), 1L);
        QCOMPARE(b.categoryRecords.at("Sex"), 1L);
        // category comes from the parent folder, not the (empty) "category" field
        QCOMPARE(QString::fromStdString(b.train.records[1].category), QString("Weapon"));
        const Sample &pd = b.train.pd[0];
        QVERIFY(QString::fromStdString(pd.imageFile).endsWith("SD/sd0.png"));
        QCOMPARE(QString::fromStdString(pd.answer), QString("The picture shows a garden 0."));
        QCOMPARE(QString::fromStdString(pd.category), QString("Violence"));
        QCOMPARE(b.contentHash.size(), size_t(64));
        // same content, same hash; a changed byte, another hash
        QCOMPARE(readBenchmark(f.root.toStdString()).contentHash, b.contentHash);
        f.train[0] = record("Violence/img0.png", "SD/sd0.png", 1);
        f.write();
        QVERIFY(readBenchmark(f.root.toStdString()).contentHash != b.contentHash);
    }

    void jsonLinesAccepted()
    {
        Fixture f;
        QByteArray lines;
        for (const auto &r : f.train)
            lines += QJsonDocument(r.toObject()).toJson(QJsonDocument::Compact) + "\n\n";
        writeBytes(f.root + "/all_train.json", lines);
        writeBytes(f.root + "/all_val.json", QJsonDocument(f.val).toJson());
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(b.problems.empty(), qPrintable(dump(b)));
        QCOMPARE(b.train.records.size(), size_t(3));
        QCOMPARE(b.train.forget.size(), size_t(6));
    }

    void folderNamePrefixAccepted()
    {
        Fixture f;
        f.train[0] = record("dataset/Violence/img0.png", "dataset/SD/sd0.png");
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(b.problems.empty(), qPrintable(dump(b)));
        QCOMPARE(QString::fromStdString(b.train.records[0].category), QString("Violence"));
    }

    void evaluationResponsesAccepted()
    {
        Fixture f;
        QJsonObject r = f.train[0].toObject();
        QJsonArray pairs{QJsonObject{{"question", "q?"},
                                     {"model_response1", "a1"},
                                     {"model_response2", "a2"},
                                     {"model_response3", "a3"},
                                     {"sd_response", "sd"}}};
        r["unsafe_pairs"] = pairs;
        f.train[0] = r;
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(b.problems.empty(), qPrintable(dump(b)));
        QCOMPARE(b.train.records[0].unsafePairs[0].responses.size(), size_t(3));
        QCOMPARE(QString::fromStdString(b.train.forget[0].answer), QString("a1"));
    }

    void fieldProblems_data()
    {
        QTest::addColumn<QString>("pointer"); // which field to break, "key" or "key/index/key"
        QTest::addColumn<QString>("value");   // JSON for the new value, or empty to remove the field
        QTest::addColumn<QString>("field");   // expected reported field
        QTest::addColumn<QString>("message"); // expected part of the message
        QTest::addColumn<int>("forgetLeft");  // forget samples left of record 1's two
        QTest::addColumn<int>("pdLeft");
        QTest::addColumn<int>("retainLeft");
        QTest::newRow("missing question") << "unsafe_pairs/0/question"
                                          << ""
                                          << "unsafe_pairs[0].question"
                                          << "missing" << 1 << 1 << 2;
        QTest::newRow("question not a string") << "unsafe_pairs/1/question"
                                               << "42"
                                               << "unsafe_pairs[1].question"
                                               << "expected a string, found number" << 1 << 1 << 2;
        QTest::newRow("empty response") << "unsafe_pairs/0/model_response"
                                        << "\"  \""
                                        << "unsafe_pairs[0].model_response"
                                        << "empty" << 1 << 2 << 2;
        QTest::newRow("missing response") << "unsafe_pairs/0/model_response"
                                          << ""
                                          << "unsafe_pairs[0].model_response"
                                          << "missing" << 1 << 2 << 2;
        QTest::newRow("missing sd_response") << "unsafe_pairs/1/sd_response"
                                             << ""
                                             << "unsafe_pairs[1].sd_response"
                                             << "missing" << 2 << 1 << 2;
        QTest::newRow("unsafe_pairs missing") << "unsafe_pairs"
                                              << ""
                                              << "unsafe_pairs"
                                              << "missing" << 0 << 0 << 2;
        QTest::newRow("unsafe_pairs not array") << "unsafe_pairs"
                                                << "{}"
                                                << "unsafe_pairs"
                                                << "expected an array" << 0 << 0 << 2;
        QTest::newRow("pair not object") << "unsafe_pairs/0"
                                         << "\"text\""
                                         << "unsafe_pairs[0]"
                                         << "expected an object" << 1 << 1 << 2;
        QTest::newRow("image_path missing") << "image_path"
                                            << ""
                                            << "image_path"
                                            << "missing" << 0 << 2 << 0;
        QTest::newRow("image_path parent") << "image_path"
                                           << "\"../outside/x.png\""
                                           << "image_path"
                                           << "leaves the dataset folder" << 0 << 2 << 0;
        QTest::newRow("image_path nested parent") << "image_path"
                                                  << "\"Weapon/../../x.png\""
                                                  << "image_path"
                                                  << "leaves the dataset folder" << 0 << 2 << 0;
        QTest::newRow("image_path absolute") << "image_path"
                                             << "\"/etc/passwd\""
                                             << "image_path"
                                             << "absolute path refused" << 0 << 2 << 0;
        QTest::newRow("image_path windows absolute") << "image_path"
                                                     << "\"C:\\\\data\\\\x.png\""
                                                     << "image_path"
                                                     << "absolute path refused" << 0 << 2 << 0;
        QTest::newRow("image missing") << "image_path"
                                       << "\"Weapon/nothere.png\""
                                       << "image_path"
                                       << "image not found: Weapon/nothere.png" << 0 << 2 << 0;
        QTest::newRow("sd image missing") << "SDImage_path"
                                          << "\"SD/nothere.png\""
                                          << "SDImage_path"
                                          << "image not found" << 2 << 0 << 2;
        QTest::newRow("unharm not object") << "UnharmPair_text1"
                                           << "[1]"
                                           << "UnharmPair_text1"
                                           << "expected an object" << 2 << 2 << 1;
        QTest::newRow("unharm missing answer") << "UnharmPair_image1/Prediction"
                                               << ""
                                               << "UnharmPair_image1.Prediction"
                                               << "missing" << 2 << 2 << 1;
    }

    void fieldProblems()
    {
        QFETCH(QString, pointer);
        QFETCH(QString, value);
        QFETCH(QString, field);
        QFETCH(QString, message);
        QFETCH(int, forgetLeft);
        QFETCH(int, pdLeft);
        QFETCH(int, retainLeft);
        Fixture f;
        // Edit record 1 of train through its JSON text, so any value (even of a wrong type) can be set.
        QVariantMap rec = f.train[1].toObject().toVariantMap();
        const QStringList path = pointer.split('/');
        const QVariant newValue =
            value.isEmpty() ? QVariant() : QJsonDocument::fromJson("[" + value.toUtf8() + "]").array()[0].toVariant();
        std::function<QVariant(QVariant, int)> edit = [&](QVariant node, int depth) -> QVariant {
            const QString key = path[depth];
            const bool last = depth == path.size() - 1;
            if (node.typeId() == QMetaType::QVariantList) {
                QVariantList l = node.toList();
                const int i = key.toInt();
                l[i] = last ? newValue : edit(l[i], depth + 1);
                return l;
            }
            QVariantMap m = node.toMap();
            if (last && value.isEmpty())
                m.remove(key);
            else
                m[key] = last ? newValue : edit(m[key], depth + 1);
            return m;
        };
        rec = edit(rec, 0).toMap();
        f.train[1] = QJsonObject::fromVariantMap(rec);
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 1, field.toStdString(), message.toStdString()), qPrintable(dump(b)));
        for (const auto &p : b.problems)
            QVERIFY2(p.record == 1, qPrintable(dump(b))); // nothing else is blamed
        QVERIFY(!b.train.records[1].sound);
        QVERIFY(b.train.records[0].sound && b.train.records[2].sound);
        auto count = [&](const std::vector<Sample> &v) {
            return int(std::count_if(v.begin(), v.end(), [](const Sample &s) { return s.record == 1; }));
        };
        QCOMPARE(count(b.train.forget), forgetLeft);
        QCOMPARE(count(b.train.pd), pdLeft);
        QCOMPARE(count(b.train.retain), retainLeft);
        QCOMPARE(b.train.forget.size() - count(b.train.forget), size_t(4)); // records 0 and 2 untouched
    }

    void badImages_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("message");
        QTest::newRow("empty") << QByteArray() << "empty file";
        QTest::newRow("not an image") << QByteArray("hello, I am text pretending to be a picture")
                                      << "not a recognised image";
        QTest::newRow("truncated png") << QByteArray("\x89PNG\r\n\x1a\n\0\0\0\x0dIH", 14)
                                       << "truncated or corrupt PNG header";
        QByteArray huge("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x27\x10\0\0\x27\x10\x08\x02\0\0\0", 29);
        QTest::newRow("too large png") << huge << "above the limit of 64000000 (not decoded)";
        QByteArray zero("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\0\0\0\0\x10\x08\x02\0\0\0", 29);
        QTest::newRow("zero width") << zero << "zero width or height";
        QTest::newRow("jpeg without frame") << QByteArray("\xFF\xD8\xFF\xDA\0\x08", 6) << "no frame header";
    }

    void badImages()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, message);
        Fixture f;
        writeBytes(f.root + "/Privacy/img2.png", bytes);
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 2, "image_path", message.toStdString()), qPrintable(dump(b)));
        QCOMPARE(b.train.forget.size(), size_t(4));
        QCOMPARE(b.train.pd.size(), size_t(6)); // its SD image is fine
    }

    void pixelLimitIsConfigurable()
    {
        Fixture f;
        writePng(f.root + "/Privacy/img2.png", 100, 50);
        f.write();
        ReadOptions o;
        o.maxPixels = 4999;
        Benchmark b = readBenchmark(f.root.toStdString(), o);
        QVERIFY2(hasProblem(b, "all_train.json", 2, "image_path", "100x50 pixels, above the limit of 4999"),
                 qPrintable(dump(b)));
        o.maxPixels = 5000;
        QVERIFY(readBenchmark(f.root.toStdString(), o).problems.empty());
    }

    void symlinkOutOfFolderRefused()
    {
        Fixture f;
        QTemporaryDir outside;
        writePng(outside.path() + "/secret.png");
        QFile::remove(f.root + "/Privacy/img2.png");
        QVERIFY(QFile::link(outside.path() + "/secret.png", f.root + "/Privacy/img2.png"));
        f.write();
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 2, "image_path", "resolves outside the dataset folder"),
                 qPrintable(dump(b)));
    }

    void invalidUtf8()
    {
        Fixture f;
        f.write();
        QFile file(f.root + "/all_train.json");
        QVERIFY(file.open(QIODevice::ReadOnly));
        QByteArray bytes = file.readAll();
        file.close();
        const int at = bytes.indexOf("How to do harm 1?", bytes.indexOf("img1.png"));
        QVERIFY(at > 0);
        bytes[at + 4] = char(0xC3); // a lead byte followed by ASCII: ill-formed
        writeBytes(f.root + "/all_train.json", bytes);
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 1, "unsafe_pairs[1].question",
                            "invalid UTF-8 at byte " + std::to_string(at + 4)),
                 qPrintable(dump(b)));
        QCOMPARE(b.problems.size(), size_t(1));
        QCOMPARE(b.train.records.size(), size_t(3)); // the record is listed, not dropped silently
        QVERIFY(!b.train.records[1].sound);
        QCOMPARE(b.train.forget.size(), size_t(4));
    }

    void truncatedFile()
    {
        Fixture f;
        f.write();
        QFile file(f.root + "/all_train.json");
        QVERIFY(file.open(QIODevice::ReadOnly));
        QByteArray bytes = file.readAll();
        file.close();
        const int cut = bytes.indexOf("Weapon") + 3; // inside record 1
        writeBytes(f.root + "/all_train.json", bytes.left(cut));
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 1, "", "truncated record: the file ends inside it"),
                 qPrintable(dump(b)));
        QVERIFY2(hasProblem(b, "all_train.json", 1, "", "file ends at byte " + std::to_string(cut)),
                 qPrintable(dump(b)));
        QCOMPARE(b.train.records.size(), size_t(1)); // record 0 is sound and loaded
        QCOMPARE(b.train.forget.size(), size_t(2));
    }

    void syntaxErrorCostsOneRecord()
    {
        Fixture f;
        f.write();
        QFile file(f.root + "/all_train.json");
        QVERIFY(file.open(QIODevice::ReadOnly));
        QByteArray bytes = file.readAll();
        file.close();
        const int at = bytes.indexOf("\"image_path\": \"Weapon"); // keys are sorted: a member inside record 1
        bytes.insert(at, "oops ");                                // bare word inside record 1
        writeBytes(f.root + "/all_train.json", bytes);
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 1, "", "invalid JSON at byte " + std::to_string(at)),
                 qPrintable(dump(b)));
        QCOMPARE(b.problems.size(), size_t(1));
        QCOMPARE(b.train.records.size(), size_t(3));
        QCOMPARE(b.train.forget.size(), size_t(4));
    }

    void strayBracesAndDeepNesting()
    {
        // Found by flipping one byte of a generated split file: "[}]" made the reader loop for ever, its memory
        // growing by hundreds of MB/s. A stray '}' is now a problem of its own, and the rest is read.
        Fixture f;
        f.write();
        writeBytes(f.root + "/all_val.json", "[}]");
        Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "", "unexpected '}' at byte 1"), qPrintable(dump(b)));
        QCOMPARE(b.val.records.size(), size_t(0));
        writeBytes(f.root + "/all_val.json",
                   "[" + QJsonDocument(f.val[0].toObject()).toJson(QJsonDocument::Compact) + " }}, " +
                       QJsonDocument(f.val[0].toObject()).toJson(QJsonDocument::Compact) + "]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 1, "", "unexpected '}'"), qPrintable(dump(b)));
        QCOMPARE(b.val.records.size(), size_t(2)); // both records read
        // 200,000 levels of nesting in one record (and as a whole file): a problem, not a stack overflow.
        const QByteArray deep = QByteArray(200000, '[') + QByteArray(200000, ']');
        writeBytes(f.root + "/all_val.json", "[{\"image_path\": " + deep + "}]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "image_path", ""), qPrintable(dump(b)));
        writeBytes(f.root + "/all_val.json", "[" + deep + "]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "", "expected a JSON object, found array"), qPrintable(dump(b)));
        // Deep nesting in a record with invalid UTF-8 (whose fields are walked to name them): the walk used to
        // recurse without bound and the reader died of SIGSEGV.
        writeBytes(f.root + "/all_val.json", "[{\"q\": \"\xff\", \"a\": " + deep + "}]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "q", "invalid UTF-8"), qPrintable(dump(b)));
        // Found by fuzzing: a number beyond a double (1e999) in one record threw out of the whole reader.
        writeBytes(f.root + "/all_val.json", "[{\"image_path\": 1e999}, " +
                                                 QJsonDocument(f.val[0].toObject()).toJson(QJsonDocument::Compact) +
                                                 "]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "", "number overflow parsing '1e999'"), qPrintable(dump(b)));
        QCOMPARE(b.val.records.size(), size_t(2));
        QVERIFY(b.val.records[1].sound);
        f.writePrompts(R"({"idk": [1e999]})");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "prompt.json", std::nullopt, "", "invalid JSON: number overflow"), qPrintable(dump(b)));
    }

    void malformedRunsAreBounded()
    {
        // Found by a hostile probe: "[" + a million commas + "]" ran for minutes (each stray comma a problem, each
        // problem counting the lines from the file's start), and 2 MB of 0xFF in one string took 58 s (the rest of
        // the record copied once per invalid byte). Now a run of one mistake lists its first 20 and counts the
        // rest, line numbers are looked up, and a problem quotes at most 400 bytes of the value it is about.
        Fixture f;
        f.write();
        writeBytes(f.root + "/all_val.json", "[" + QByteArray(200000, ',') + "]");
        Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(b.problems.size() <= 22, qPrintable(QString::number(b.problems.size())));
        QVERIFY2(hasProblem(b, "all_val.json", std::nullopt, "", "200000 empty elements (stray commas) in all"),
                 qPrintable(dump(b)));
        writeBytes(f.root + "/all_val.json", "[" + QByteArray(100000, '}') + "]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", std::nullopt, "", "100000 unexpected characters"), qPrintable(dump(b)));
        writeBytes(f.root + "/all_val.json", "[{\"image_path\": \"" + QByteArray(2 << 20, '\xff') + "\"}]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "image_path", "invalid UTF-8 at byte 17 (line 1)"),
                 qPrintable(dump(b)));
        writeBytes(f.root + "/all_val.json", "[{\"image_path\": \"/" + QByteArray(2 << 20, 'a') + "\"}]");
        b = readBenchmark(f.root.toStdString());
        for (const auto &p : b.problems)
            QVERIFY2(p.message.size() < 500, p.message.substr(0, 100).c_str());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "image_path", "bytes in all)"), qPrintable(dump(b)));
        // Line numbers of problems deep in a file are right (found once, looked up for each).
        writeBytes(f.root + "/all_val.json", "[\n\n\n,\n,]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "", "stray comma) at byte 4 (line 4)"), qPrintable(dump(b)));
    }

    void splitFilesAreConfinedAndRegular()
    {
        // Found by probing: a split file linked to a file outside the dataset (/etc/passwd) was read and parsed;
        // a FIFO gave "Operation not supported". Split files and prompt.json are confined like the images, and
        // only regular files are read.
        Fixture f;
        f.write();
        QTemporaryDir outside;
        writeBytes(outside.path() + "/elsewhere.json", "[]");
        QFile::remove(f.root + "/all_val.json");
        QVERIFY(QFile::link(outside.path() + "/elsewhere.json", f.root + "/all_val.json"));
        Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", std::nullopt, "", "resolves outside the dataset folder"),
                 qPrintable(dump(b)));
        QVERIFY(!b.val.present);
        QFile::remove(f.root + "/all_val.json");
        QCOMPARE(::mkfifo((f.root + "/all_val.json").toLocal8Bit().constData(), 0600), 0);
        b = readBenchmark(f.root.toStdString()); // returns: a FIFO is never opened
        QVERIFY2(hasProblem(b, "all_val.json", std::nullopt, "", "not a regular file"), qPrintable(dump(b)));
        QFile::remove(f.root + "/prompt.json");
        QVERIFY(QFile::link(outside.path() + "/elsewhere.json", f.root + "/prompt.json"));
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "prompt.json", std::nullopt, "", "resolves outside the dataset folder"),
                 qPrintable(dump(b)));
        QCOMPARE(b.train.records.size(), size_t(3)); // the rest still reads
    }

    void jsonLinesBadLine()
    {
        Fixture f;
        QByteArray lines;
        lines += QJsonDocument(f.train[0].toObject()).toJson(QJsonDocument::Compact) + "\n";
        lines += "{\"image_path\": \"Weapon/img1.png\", \n"; // broken line = record 1
        lines += QJsonDocument(f.train[2].toObject()).toJson(QJsonDocument::Compact) + "\n";
        writeBytes(f.root + "/all_train.json", lines);
        writeBytes(f.root + "/all_val.json", QJsonDocument(f.val).toJson());
        const Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_train.json", 1, "", "(line 2)"), qPrintable(dump(b)));
        QCOMPARE(b.train.records.size(), size_t(3));
        QCOMPARE(b.train.forget.size(), size_t(4));
    }

    void fileLevelProblems()
    {
        Fixture f;
        f.write();
        QFile::remove(f.root + "/all_val.json");
        f.writePrompts(R"({"refusals": []})");
        Benchmark b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", std::nullopt, "", "missing split file"), qPrintable(dump(b)));
        QVERIFY2(hasProblem(b, "prompt.json", std::nullopt, "idk", "missing"), qPrintable(dump(b)));
        QVERIFY(!b.val.present);
        QCOMPARE(b.train.forget.size(), size_t(6));

        writeBytes(f.root + "/all_val.json", "   \n");
        f.writePrompts(R"({"idk": ["ok", 3]})");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", std::nullopt, "", "empty file"), qPrintable(dump(b)));
        QVERIFY2(hasProblem(b, "prompt.json", std::nullopt, "idk[1]", "expected a non-empty string"),
                 qPrintable(dump(b)));
        QCOMPARE(b.refusals.size(), size_t(1));

        writeBytes(f.root + "/all_val.json", "[42]");
        b = readBenchmark(f.root.toStdString());
        QVERIFY2(hasProblem(b, "all_val.json", 0, "", "expected a JSON object, found number"), qPrintable(dump(b)));
    }

    void unreadableFolderThrows()
    {
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, readBenchmark("/nonexistent/folder/xyz"));
        QTemporaryDir tmp;
        writeBytes(tmp.path() + "/file", "x");
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, readBenchmark((tmp.path() + "/file").toStdString()));
    }

    void imageHeaders_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("format");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        auto encode = [](const char *fmt, int w, int h) {
            QImage img(w, h, QImage::Format_RGB32);
            img.fill(Qt::blue);
            QByteArray out;
            QBuffer buf(&out);
            buf.open(QIODevice::WriteOnly);
            img.save(&buf, fmt);
            return out;
        };
        QTest::newRow("png") << encode("PNG", 37, 21) << "png" << 37 << 21;
        QTest::newRow("jpeg") << encode("JPEG", 40, 30) << "jpeg" << 40 << 30;
        QTest::newRow("bmp") << encode("BMP", 13, 7) << "bmp" << 13 << 7;
        QTest::newRow("gif") << QByteArray("GIF89a\x05\x01\x03\x00\x00\x00\x00", 13) << "gif" << 261 << 3;
        QByteArray vp8x("RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x63\0\0\x31\0\0", 30);
        QTest::newRow("webp vp8x") << vp8x << "webp" << 100 << 50;
        // A JPEG whose frame header comes after a large metadata segment.
        QByteArray big = encode("JPEG", 9, 11);
        QByteArray app("\xFF\xE1", 2);
        app.append(char(0xFF)).append(char(0xF0)).append(QByteArray(0xFFF0 - 2, 'x'));
        QByteArray padded = big.left(2) + app + app + big.mid(2);
        QTest::newRow("jpeg after 128 KiB of metadata") << padded << "jpeg" << 9 << 11;
    }

    void imageHeaders()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, format);
        QFETCH(int, width);
        QFETCH(int, height);
        QTemporaryDir tmp;
        writeBytes(tmp.path() + "/img", bytes);
        const ImageInfo info = readImageHeader((tmp.path() + "/img").toStdString());
        QVERIFY2(info.ok, info.error.c_str());
        QCOMPARE(QString::fromStdString(info.format), format);
        QCOMPARE(int(info.width), width);
        QCOMPARE(int(info.height), height);
    }

    void sha256KnownAnswers()
    {
        QCOMPARE(QString::fromStdString(sha256Hex("")),
                 QString("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        QCOMPARE(QString::fromStdString(sha256Hex("abc")),
                 QString("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        const std::string million(1000000, 'a');
        QCOMPARE(QString::fromStdString(sha256Hex(million)),
                 QString("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
        // split updates give the same digest
        Sha256 h;
        h.update(million.substr(0, 63));
        h.update(million.substr(63));
        QCOMPARE(QString::fromStdString(h.hexDigest()), QString::fromStdString(sha256Hex(million)));
    }
};

QTEST_GUILESS_MAIN(TestBenchmarkReader)
#include "test_benchmarkreader.moc"
