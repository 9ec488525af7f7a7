// The phase profile (core/util/profile.h): nested phases are charged exclusively, the figures add up to the time
// profiled, entries are counted, and nothing is recorded while it is off. Accounting, not speed.
#include "core/util/profile.h"

#include <QtTest>
#include <chrono>
#include <cmath>

namespace {
// Burns CPU on this thread for about `ms` milliseconds of wall time.
double spin(int ms)
{
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    volatile double x = 0;
    while (std::chrono::steady_clock::now() < end)
        for (int i = 0; i < 1000; ++i)
            x = x + std::sqrt(double(i));
    return x;
}

const se::profile::Figure *find(const std::vector<se::profile::Figure> &all, const std::string &name)
{
    for (const auto &f : all)
        if (f.phase == name)
            return &f;
    return nullptr;
}
} // namespace

class TestProfile : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void offRecordsNothing()
    {
        se::profile::enable(false);
        se::profile::reset();
        {
            se::profile::Phase p("training");
            spin(5);
        }
        QVERIFY(se::profile::figures().empty());
    }

    void nestedPhasesAreExclusive()
    {
        const auto t0 = std::chrono::steady_clock::now(); // before the profile starts: the bracket holds it all
        se::profile::enable();
        se::profile::reset();
        spin(20); // outside any phase: "other"
        for (int round = 0; round < 2; ++round) {
            se::profile::Phase outer("unlearn: steps");
            spin(30);
            se::profile::Phase inner("evaluate step: generate");
            spin(30);
        }
        const auto all = se::profile::figures();
        se::profile::enable(false);
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QCOMPARE(int(all.size()), 3);
        QCOMPARE(all[0].phase, std::string("other")); // in the order first entered
        const auto *outer = find(all, "unlearn: steps");
        const auto *inner = find(all, "evaluate step: generate");
        QVERIFY(outer && inner);
        QCOMPARE(outer->entries, 2L);
        QCOMPARE(inner->entries, 2L);
        // Each spun 2 × 30 ms in its own right (lower bounds only: a busy machine makes a phase longer, never shorter).
        QVERIFY2(outer->wall >= 0.06 && inner->wall >= 0.06,
                 qPrintable(QString("outer %1 s, inner %2 s").arg(outer->wall).arg(inner->wall)));
        QVERIFY(inner->user + inner->sys > 0); // it burned CPU
        // Charged exclusively: the figures add up to no more than the bracket around the whole profile. Had the outer
        // phase also counted the inner one's time, the sum would pass it by the inner one's 60 ms.
        double sum = 0;
        for (const auto &f : all)
            sum += f.wall;
        QVERIFY2(sum <= elapsed && sum >= 0.14, qPrintable(QString("sum %1 s, elapsed %2 s").arg(sum).arg(elapsed)));
        const std::string table = se::profile::format();
        QVERIFY(table.find("evaluate step: generate") != std::string::npos);
        QVERIFY(table.find("total") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestProfile)
#include "test_profile.moc"
