// The one CSV writer (core/data/csv.h): RFC 4180 quoting of commas, quotes, CR and LF. Three of the four copies it
// replaced left a field with a CR (and the plots' one, a field with a newline) unquoted, which splits a row.
#include "core/data/csv.h"

#include <QtTest>

class TestCsv : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void fields_data()
    {
        QTest::addColumn<QString>("in");
        QTest::addColumn<QString>("out");
        QTest::newRow("plain") << "abc"
                               << "abc";
        QTest::newRow("empty") << ""
                               << "";
        QTest::newRow("comma") << "a,b"
                               << "\"a,b\"";
        QTest::newRow("quote") << "say \"hi\""
                               << "\"say \"\"hi\"\"\"";
        QTest::newRow("LF") << "a\nb"
                            << "\"a\nb\"";
        QTest::newRow("CR") << "a\rb"
                            << "\"a\rb\"";
        QTest::newRow("CRLF") << "a\r\nb"
                              << "\"a\r\nb\"";
        QTest::newRow("spaces kept") << " a "
                                     << " a ";
        QTest::newRow("UTF-8") << "Größe, 大小"
                               << "\"Größe, 大小\"";
        // Found by a hostile probe: an answer's ESC sequences reached the file raw (cat cleared the screen).
        QTest::newRow("ESC") << "a\x1b[2Jb"
                             << "a\\x1b[2Jb";
        QTest::newRow("BEL, NUL-free C0, DEL") << "x\x07y\x01z\x7f"
                                               << "x\\x07y\\x01z\\x7f";
        QTest::newRow("tab kept") << "a\tb"
                                  << "a\tb";
        QTest::newRow("formula") << "=HYPERLINK(\"http://x\",\"y\")"
                                 << "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"";
        QTest::newRow("at") << "@SUM(A1)"
                            << "'@SUM(A1)";
        QTest::newRow("plus text") << "+cmd"
                                   << "'+cmd";
        QTest::newRow("negative number") << "-0.25"
                                         << "-0.25";
        QTest::newRow("signed exponent") << "+1e-5"
                                         << "+1e-5";
        QTest::newRow("minus text") << "-- a list"
                                    << "'-- a list";
    }
    void fields()
    {
        QFETCH(QString, in);
        QFETCH(QString, out);
        QCOMPARE(QString::fromStdString(se::data::csvField(in.toStdString())), out);
    }

    void rows()
    {
        QCOMPARE(se::data::csvRow({"id", "answer"}), std::string("id,answer\n"));
        QCOMPARE(se::data::csvRow({"1", "x,\"y\"\r\n"}), std::string("1,\"x,\"\"y\"\"\r\n\"\n"));
        QCOMPARE(se::data::csvRow({}), std::string("\n"));
    }
};

QTEST_GUILESS_MAIN(TestCsv)
#include "test_csv.moc"
