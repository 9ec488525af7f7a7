// `safeeraser check`: exit statuses (0 sound, 1 problems, 2 usage or unreadable folder) and its JSON.
#include "tests/common/datasetfixture.h"

#include "tests/common/cli.h"
#include <QRegularExpression>
#include <QFile>

using namespace se::testing;

class TestCliCheck : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void soundDatasetJson()
    {
        Fixture f;
        f.write();
        const CliResult r = runCli({"check", f.root, "--json"});
        QCOMPARE(r.code, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        const QJsonObject train = o["splits"].toObject()["train"].toObject();
        QCOMPARE(train["records"].toInt(), 3);
        QCOMPARE(train["forget"].toInt(), 6);
        QCOMPARE(train["pd"].toInt(), 6);
        QCOMPARE(train["retain"].toInt(), 6);
        QCOMPARE(o["splits"].toObject()["val"].toObject()["records"].toInt(), 1);
        const QJsonObject cats = o["categories"].toObject();
        QCOMPARE(cats["Violence"].toInt(), 1);
        QCOMPARE(cats["Sex"].toInt(), 1);
        QCOMPARE(cats.size(), 4);
        QVERIFY(o["problems"].toArray().isEmpty());
    }

    void problemsJson()
    {
        Fixture f;
        QJsonObject rec = f.train[2].toObject();
        rec["image_path"] = "../escape.png";
        f.train[2] = rec;
        f.write();
        QFile::remove(f.root + "/prompt.json");
        const CliResult r = runCli({"check", f.root, "--json"});
        QCOMPARE(r.code, 1);
        const QJsonArray problems = QJsonDocument::fromJson(r.out).object()["problems"].toArray();
        QCOMPARE(problems.size(), 2);
        const QJsonObject p0 = problems[0].toObject();
        QCOMPARE(p0["file"].toString(), QString("all_train.json"));
        QCOMPARE(p0["record"].toInt(), 2);
        QCOMPARE(p0["field"].toString(), QString("image_path"));
        QVERIFY(p0["message"].toString().contains("leaves the dataset folder"));
        const QJsonObject p1 = problems[1].toObject();
        QCOMPARE(p1["file"].toString(), QString("prompt.json"));
        QVERIFY(p1["record"].isNull());
    }

    void readableSummary()
    {
        Fixture f;
        QJsonObject rec = f.train[1].toObject();
        rec.remove("unsafe_pairs");
        f.train[1] = rec;
        f.write();
        const CliResult r = runCli({"check", f.root});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.out.contains("all_train.json: 3 records — forget 4, prompt-decouple 4, retain 6"), r.out);
        QVERIFY2(r.out.contains("all_train.json: record 1: unsafe_pairs: missing"), r.out);
        QVERIFY2(r.out.contains("1 problem:"), r.out);
    }

    void controlCharactersNeverReachTheTerminal()
    {
        // Found by a hostile probe: values of a file were printed with their raw ESC and BEL (an image_path of
        // "\x1b[2J" cleared the screen). Every byte 0x00-0xFF in a field: the output is valid UTF-8 with no control
        // character but newline and tab, in the text and in the JSON report alike.
        Fixture f;
        QByteArray every;
        for (int b = 1; b < 256; ++b)
            every.append(char(b));
        QByteArray bytes = QJsonDocument(f.train).toJson(QJsonDocument::Compact);
        bytes.replace("\"Violence/img0.png\"", "\"Violence/\u001b[2J\u0007" + QByteArray("x\\u009b31m") + "\"");
        bytes.replace("\"Weapon/img1.png\"", "\"Weapon/" + every.toPercentEncoding() + "\"");
        bytes.replace("\"Privacy/img2.png\"", "\"\\u001b]0;title\\u0007/img2.png\""); // a category named with OSC
        writeBytes(f.root + "/all_train.json", bytes);
        writeBytes(f.root + "/all_val.json",
                   "[{\"image_path\": \"" + every.mid(0x20).replace("\"", "").replace("\\", "") + "\"}]");
        for (const QStringList &args : {QStringList{"check", f.root}, QStringList{"check", f.root, "--json"}}) {
            const CliResult r = runCli(args);
            QCOMPARE(r.code, 1);
            for (const QByteArray &out : {r.out, r.err}) {
                QVERIFY2(QString::fromUtf8(out).toUtf8() == out, "not valid UTF-8");
                for (char c : out)
                    QVERIFY2((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) || c == '\n' || c == '\t',
                             qPrintable(QString("control byte 0x%1 in: ")
                                            .arg(int(static_cast<unsigned char>(c)), 2, 16, QChar('0')) +
                                        QString::fromUtf8(out.left(2000))));
                QVERIFY(!out.contains("\xc2\x9b")); // C1 CSI escaped too
            }
        }
    }

    void maxPixelsOption()
    {
        Fixture f;
        f.write();
        QCOMPARE(runCli({"check", f.root, "--max-pixels", "255"}).code, 1); // images are 16x16 = 256 pixels
        QCOMPARE(runCli({"check", f.root, "--max-pixels", "256"}).code, 0);
    }

    void usageErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::newRow("no folder") << QStringList{"check"} << 2;
        QTest::newRow("missing folder") << QStringList{"check", "/nonexistent/dataset"} << 2;
        QTest::newRow("unknown option") << QStringList{"check", "/tmp", "--bogus"} << 2;
        QTest::newRow("bad max-pixels") << QStringList{"check", "/tmp", "--max-pixels", "-3"} << 2;
        QTest::newRow("no subcommand") << QStringList{} << 2;
        QTest::newRow("help") << QStringList{"check", "--help"} << 0;
    }

    void usageErrors()
    {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        const CliResult r = runCli(args);
        QCOMPARE(r.code, code);
    }

    void versionComesFromCMake()
    {
        // One version string: the project's, from CMakeLists.txt (it used to be typed into each program).
        QFile cmake(QStringLiteral(SE_SOURCE_DIR) + "/CMakeLists.txt");
        QVERIFY(cmake.open(QIODevice::ReadOnly));
        const QRegularExpression re("project\\(SafeEraserWorkbench VERSION ([0-9.]+)");
        const auto m = re.match(QString::fromUtf8(cmake.readAll()));
        QVERIFY(m.hasMatch());
        const CliResult r = runCli({"--version"});
        QCOMPARE(r.code, 0);
        QCOMPARE(QString::fromUtf8(r.out).trimmed(), "safeeraser " + m.captured(1));
    }
};

QTEST_GUILESS_MAIN(TestCliCheck)
#include "test_cli_check.moc"
