// Text that is safe to write (core/util/text.h): valid UTF-8 as Python's errors="replace" makes it (one U+FFFD per
// maximal ill-formed subpart: the expected values were printed by Python 3.11's bytes.decode), and control characters
// escaped for a terminal.
#include "core/data/csv.h"
#include "core/util/text.h"

#include <QtTest>

class TestText : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void validUtf8_data()
    {
        QTest::addColumn<QByteArray>("in");
        QTest::addColumn<QByteArray>("out");
        const char *cases[][2] = {
            {"", ""},
            {"plain", "plain"},
            {"caf\xc3\xa9", "caf\xc3\xa9"},
            {"\xe2\x82", "\xef\xbf\xbd"},
            {"\xe2\x82\xac", "\xe2\x82\xac"},
            {"\xe2\x82x", "\xef\xbf\xbdx"},
            {"\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd"},
            {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
            {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
            {"\xf0\x9f\x98", "\xef\xbf\xbd"},
            {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
            {"\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd"},
            {"\x80\xbf", "\xef\xbf\xbd\xef\xbf\xbd"},
            {"a\xf0\x80\x80"
             "b",
             "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
             "b"},
            {"\xe0\x9f\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
            {"\xf5", "\xef\xbf\xbd"},
            {"\xc2", "\xef\xbf\xbd"},
        };
        for (const auto &c : cases)
            QTest::newRow(QByteArray(c[0]).toHex().constData()) << QByteArray(c[0]) << QByteArray(c[1]);
    }
    void validUtf8()
    {
        QFETCH(QByteArray, in);
        QFETCH(QByteArray, out);
        const std::string got = se::text::validUtf8(in.toStdString());
        QCOMPARE(QByteArray::fromStdString(got), out);
        QVERIFY(se::text::isValidUtf8(got));
        QCOMPARE(se::text::isValidUtf8(in.toStdString()), in == out);
    }

    void everyByte()
    {
        // Bytes 0x00-0xFF one by one and all together: the result is always valid, and U+FFFD only where needed.
        std::string all;
        for (int b = 0; b < 256; ++b)
            all.push_back(static_cast<char>(b));
        const std::string v = se::text::validUtf8(all);
        QVERIFY(se::text::isValidUtf8(v));
        QCOMPARE(v.substr(0, 128), all.substr(0, 128)); // ASCII untouched
        QVERIFY(se::text::isValidUtf8(se::data::csvField(all)));
    }

    void terminalSafe()
    {
        // ESC [2J clears the screen, ESC ] sets the title, BEL rings, CSI (U+009B) is a one-character ESC [.
        QCOMPARE(se::text::terminalSafe("a\x1b[2Jb"), std::string("a\\x1b[2Jb"));
        QCOMPARE(se::text::terminalSafe("\x1b]0;title\x07"), std::string("\\x1b]0;title\\x07"));
        QCOMPARE(se::text::terminalSafe("x\xc2\x9b"
                                        "31m"),
                 std::string("x\\u009b31m"));
        QCOMPARE(se::text::terminalSafe("line\nnext\ttab"), std::string("line\nnext\ttab"));
        QCOMPARE(se::text::terminalSafe("del\x7f"), std::string("del\\x7f"));
        QCOMPARE(se::text::terminalSafe("C:\\x1b is text"), std::string("C:\\\\x1b is text"));
        QCOMPARE(se::text::terminalSafe("caf\xc3\xa9 \xe2\x82"), std::string("caf\xc3\xa9 \xef\xbf\xbd"));
        for (int b = 0; b < 256; ++b) {
            const std::string out = se::text::terminalSafe(std::string(1, static_cast<char>(b)));
            QVERIFY(se::text::isValidUtf8(out));
            for (unsigned char c : out)
                QVERIFY(c >= 0x20 || c == '\n' || c == '\t');
        }
    }
};

QTEST_GUILESS_MAIN(TestText)
#include "test_text.moc"
