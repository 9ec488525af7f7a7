// Every fuzz target's seeds and every input the fuzzer ever found (tests/fuzz/regressions/TARGET/, each fixed) run
// through the same target bodies as scripts/fuzz.sh, in the normal build: none may crash, hang or throw anything but
// the documented error. The runconfig seed must also parse, so the corpus stays a valid starting point.
#include "core/unlearn/runservice.h"
#include "tests/fuzz/modeltargets.h"

#include <QtTest>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;

class TestFuzzRegressions : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void replayCorpus()
    {
        int replayed = 0;
        std::vector<se::fuzz::Target> all = se::fuzz::targets();
        for (const auto &t : se::fuzz::modelTargets())
            all.push_back(t);
        for (const auto &t : all) {
            for (const char *kind : {"seeds", "regressions"}) {
                const fs::path dir = fs::path(SE_SOURCE_DIR) / "tests/fuzz" / kind / t.name;
                if (!fs::is_directory(dir))
                    continue;
                for (const auto &e : fs::directory_iterator(dir)) {
                    std::ifstream in(e.path(), std::ios::binary);
                    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                    try {
                        QCOMPARE(t.run(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size()), 0);
                    } catch (const std::exception &ex) {
                        QFAIL(qPrintable(
                            QString("%1 %2: %3").arg(t.name, QString::fromStdString(e.path().string()), ex.what())));
                    }
                    ++replayed;
                }
            }
        }
        QVERIFY2(replayed >= 20, qPrintable(QString::number(replayed)));
        std::ifstream in(fs::path(SE_SOURCE_DIR) / "tests/fuzz/seeds/runconfig/full.json");
        const std::string full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        QCOMPARE(se::engine::requestFromJson(full).unlearn.train.steps, 300);
    }
};

QTEST_GUILESS_MAIN(TestFuzzRegressions)
#include "test_fuzzregressions.moc"
