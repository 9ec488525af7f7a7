// The word-level LCS diff of the comparison view: data-driven cases and the HTML it renders.
#include "ui/worddiff.h"

#include <QtTest>

class TestWordDiff : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void diff_data()
    {
        QTest::addColumn<QString>("before");
        QTest::addColumn<QString>("after");
        QTest::addColumn<QString>("ops"); // = same, - removed, + added, one per word
        QTest::newRow("equal") << "a b c"
                               << "a b c"
                               << "===";
        QTest::newRow("empty both") << ""
                                    << ""
                                    << "";
        QTest::newRow("all new") << ""
                                 << "x y"
                                 << "++";
        QTest::newRow("all gone") << "x y"
                                  << ""
                                  << "--";
        QTest::newRow("middle change") << "use the Zorvex crank"
                                       << "use the blue crank"
                                       << "==-+=";
        QTest::newRow("refusal") << "Use the Zorvex crank."
                                 << "I'm sorry, I can't help."
                                 << "----+++++";
        QTest::newRow("insert") << "a c"
                                << "a b c"
                                << "=+=";
        QTest::newRow("whitespace") << "a   b\nc"
                                    << "a b c"
                                    << "===";
    }
    void diff()
    {
        QFETCH(QString, before);
        QFETCH(QString, after);
        QFETCH(QString, ops);
        QString got;
        for (const auto &op : se::ui::diffText(before, after))
            got += op.kind == se::ui::DiffOp::Same ? '=' : op.kind == se::ui::DiffOp::Removed ? '-' : '+';
        QCOMPARE(got, ops);
    }
    void lcsIsMinimal()
    {
        // LCS keeps the longest common run: 4 of the 6 words survive.
        const auto ops = se::ui::diffText("the cat sat on the mat", "the dog sat on a mat");
        int same = 0;
        for (const auto &op : ops)
            same += op.kind == se::ui::DiffOp::Same;
        QCOMPARE(same, 4);
    }
    void largeFallsBack()
    {
        QStringList a, b;
        for (int i = 0; i < 3000; ++i) {
            a << QString::number(i);
            b << QString::number(i + 1);
        }
        const auto ops = se::ui::diffWords(a, b, 1000); // over the cell limit: no LCS table
        QCOMPARE(ops.size(), 6000);                     // all removed, all added (an LCS would give 2999 same + 2 ops)
        QCOMPARE(se::ui::diffWords(a.mid(0, 1000), b.mid(0, 1000)).size(), 1001); // 999 same + 2
    }
    void html()
    {
        const QString h = se::ui::diffHtml("say <b>", "say hi");
        QVERIFY(h.startsWith("say "));
        QVERIFY(h.contains("&lt;b&gt;")); // escaped
        QVERIFY(h.contains("line-through"));
        QVERIFY(h.contains(">hi</span>"));
    }
};

QTEST_MAIN(TestWordDiff)
#include "test_worddiff.moc"
