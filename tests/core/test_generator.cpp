// Tests of the bundled-benchmark generator (core/data/generator.h) and of `safeeraser make-benchmark`.
#include "core/data/generator.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

using se::data::GeneratorOptions;
using se::data::GeneratorReport;
using OJson = nlohmann::ordered_json;

namespace {

const QStringList kCategories = {"Violence", "Weapon", "Privacy", "Sex", "HateSpeech", "IllegalActivity"};

GeneratorOptions smallOptions(int records = 24, std::uint64_t seed = 233)
{
    GeneratorOptions o;
    o.records = records;
    o.seed = seed;
    o.imageSize = 96; // small and fast; layout scales with the size
    return o;
}

// Relative path → SHA-256 of the content, for every file under dir (hidden ones included).
QMap<QString, QByteArray> treeHashes(const QString &dir)
{
    QMap<QString, QByteArray> out;
    QDirIterator it(dir, QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly))
            continue;
        out.insert(QDir(dir).relativeFilePath(path), QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256));
    }
    return out;
}

QByteArray treeHash(const QString &dir)
{
    QCryptographicHash h(QCryptographicHash::Sha256);
    const auto files = treeHashes(dir);
    for (auto it = files.begin(); it != files.end(); ++it) {
        h.addData(it.key().toUtf8());
        h.addData(QByteArray(1, '\0'));
        h.addData(it.value());
    }
    return h.result().toHex();
}

OJson readJson(const QString &file)
{
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return OJson();
    return OJson::parse(f.readAll().toStdString(), nullptr, false);
}

int wordCount(const std::string &s)
{
    int n = 0;
    bool in = false;
    for (char c : s) {
        const bool space = c == ' ';
        if (!space && !in)
            ++n;
        in = !space;
    }
    return n;
}

struct CliResult {
    int exitCode = -1;
    QString out, err;
};

CliResult runCli(const QStringList &args)
{
    QProcess p;
    p.start(QStringLiteral(SE_CLI_PATH), args);
    CliResult r;
    if (!p.waitForFinished(300000))
        return r;
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

} // namespace

class TestGenerator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sameSeedGivesIdenticalFiles();
    void differentSeedDiffers();
    void counts_data();
    void counts();
    void paperScalePlan();
    void imagePathsExistInCategoryFolders();
    void splitsUseDifferentImagesAndQuestions();
    void jsonStructureIsOfficial();
    void answersDependOnTheImage();
    void promptHasRefusals();
    void regenerateReplacesPreviousBenchmark();
    void refusesForeignFolder();
    void failedRunNeverLooksComplete();
    void reportsProgress();
    void badOptionsThrow();
    void cliWritesBenchmark();
    void cliRefusesForeignFolder();
    void cliUsageErrors();
};

void TestGenerator::sameSeedGivesIdenticalFiles()
{
    QTemporaryDir a, b;
    QVERIFY(a.isValid() && b.isValid());
    GeneratorOptions o = smallOptions();
    o.threads = 1;
    se::data::generateBenchmark(a.path().toStdString(), o);
    o.threads = 3; // the number of threads must not change a byte
    se::data::generateBenchmark(b.path().toStdString(), o);
    const auto ha = treeHashes(a.path()), hb = treeHashes(b.path());
    QCOMPARE(ha.keys(), hb.keys());
    QCOMPARE(treeHash(a.path()), treeHash(b.path()));
    QVERIFY(ha.contains("all_train.json") && ha.contains("all_val.json") && ha.contains("prompt.json"));
}

void TestGenerator::differentSeedDiffers()
{
    QTemporaryDir a, b;
    se::data::generateBenchmark(a.path().toStdString(), smallOptions(24, 233));
    se::data::generateBenchmark(b.path().toStdString(), smallOptions(24, 234));
    QVERIFY(treeHash(a.path()) != treeHash(b.path()));
    const auto ha = treeHashes(a.path()), hb = treeHashes(b.path());
    QVERIFY(ha.value("all_train.json") != hb.value("all_train.json"));
    // Most images differ too.
    int same = 0, pngs = 0;
    for (auto it = ha.begin(); it != ha.end(); ++it) {
        if (!it.key().endsWith(".png"))
            continue;
        ++pngs;
        if (hb.value(it.key()) == it.value())
            ++same;
    }
    QVERIFY(pngs > 0);
    QVERIFY2(same == 0, qPrintable(QString("%1 of %2 images identical across seeds").arg(same).arg(pngs)));
}

void TestGenerator::counts_data()
{
    QTest::addColumn<int>("records");
    QTest::newRow("1") << 1;
    QTest::newRow("2") << 2;
    QTest::newRow("7") << 7;
    QTest::newRow("12") << 12;
    QTest::newRow("24") << 24;
    QTest::newRow("50") << 50;
}

void TestGenerator::counts()
{
    QFETCH(int, records);
    QTemporaryDir dir;
    GeneratorOptions o = smallOptions(records);
    o.imageSize = 48;
    const GeneratorReport r = se::data::generateBenchmark(dir.path().toStdString(), o);
    const GeneratorReport plan = se::data::planBenchmark(o);

    int expectVal = records < 2 ? 0 : std::max(1, std::min(records - 1, int(std::lround(records * 0.2))));
    QCOMPARE(r.valRecords, expectVal);
    QCOMPARE(r.trainRecords, records - expectVal);
    QCOMPARE(plan.trainRecords, r.trainRecords);
    QCOMPARE(plan.valRecords, r.valRecords);
    QCOMPARE(plan.totalPairs(), r.totalPairs());
    QCOMPARE(r.images, 2L * records);
    // Every fifth record (per split) has two unsafe pairs, the others three.
    const long twoPair = r.trainRecords / 5 + r.valRecords / 5;
    QCOMPARE(r.forgetPairs, 3L * records - twoPair);
    QCOMPARE(r.pdPairs, r.forgetPairs);
    QCOMPARE(r.retainPairs, 4L * records);

    // The files say the same.
    long unsafe = 0, retain = 0;
    std::map<std::string, int> perCategory;
    for (const char *file : {"all_train.json", "all_val.json"}) {
        const OJson split = readJson(dir.filePath(file));
        QVERIFY(split.is_array());
        QCOMPARE(long(split.size()), long(QString(file) == "all_train.json" ? r.trainRecords : r.valRecords));
        for (const OJson &rec : split) {
            const long n = long(rec["unsafe_pairs"].size());
            QVERIFY(n == 2 || n == 3);
            unsafe += n;
            for (const char *k : {"UnharmPair_text1", "UnharmPair_text2", "UnharmPair_image1", "UnharmPair_image2"})
                retain += rec.contains(k) ? 1 : 0;
            perCategory[rec["category"].get<std::string>()]++;
        }
    }
    QCOMPARE(unsafe, r.forgetPairs);
    QCOMPARE(retain, r.retainPairs);
    // Balanced: every category appears once there are 12 records, and counts differ by at most 2 (one per split).
    if (records >= 12)
        QCOMPARE(int(perCategory.size()), 6);
    int lo = records, hi = 0;
    for (const QString &c : kCategories) {
        lo = std::min(lo, perCategory[c.toStdString()]);
        hi = std::max(hi, perCategory[c.toStdString()]);
    }
    if (records >= 12)
        QVERIFY(hi - lo <= 2);
}

void TestGenerator::paperScalePlan()
{
    GeneratorOptions o;
    QCOMPARE(o.records, 300); // the default
    o.records = 3000;
    const GeneratorReport r = se::data::planBenchmark(o);
    QCOMPARE(r.trainRecords, 2400);
    QCOMPARE(r.valRecords, 600);
    QCOMPARE(r.totalPairs(), 28800L); // the paper's 3,000 images / 28.8K pairs
    QCOMPARE(r.forgetPairs, 8400L);
    QCOMPARE(r.retainPairs, 12000L);
    QCOMPARE(se::data::planBenchmark(GeneratorOptions{}).totalPairs(), 2880L);
}

void TestGenerator::imagePathsExistInCategoryFolders()
{
    QTemporaryDir dir;
    se::data::generateBenchmark(dir.path().toStdString(), smallOptions());
    QSet<QString> referenced;
    for (const char *file : {"all_train.json", "all_val.json"}) {
        const OJson split = readJson(dir.filePath(file));
        for (const OJson &rec : split) {
            const QString image = QString::fromStdString(rec["image_path"].get<std::string>());
            const QString sd = QString::fromStdString(rec["SDImage_path"].get<std::string>());
            for (const QString &rel : {image, sd}) {
                QVERIFY2(!QDir::isAbsolutePath(rel) && !rel.contains(".."), qPrintable(rel));
                QFile f(dir.filePath(rel));
                QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(rel));
                QCOMPARE(f.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
                QVERIFY(rel.endsWith(".png"));
                referenced.insert(rel);
            }
            const QString folder = image.section('/', 0, 0);
            QVERIFY2(kCategories.contains(folder), qPrintable(image));
            QCOMPARE(image.count('/'), 1);
            QCOMPARE(QString::fromStdString(rec["category"].get<std::string>()), folder);
            QVERIFY(sd.startsWith("SD/"));
        }
    }
    // No image on disk that no record uses.
    QDirIterator it(dir.path(), {"*.png"}, QDir::Files, QDirIterator::Subdirectories);
    int onDisk = 0;
    while (it.hasNext()) {
        QVERIFY(referenced.contains(QDir(dir.path()).relativeFilePath(it.next())));
        ++onDisk;
    }
    QCOMPARE(onDisk, referenced.size());
    QCOMPARE(onDisk, 48);
}

void TestGenerator::splitsUseDifferentImagesAndQuestions()
{
    QTemporaryDir dir;
    se::data::generateBenchmark(dir.path().toStdString(), smallOptions(60));
    const auto hashes = treeHashes(dir.path());
    std::set<std::string> questions[2];
    QSet<QByteArray> images[2];
    QSet<QString> paths[2];
    int i = 0;
    for (const char *file : {"all_train.json", "all_val.json"}) {
        for (const OJson &rec : readJson(dir.filePath(file))) {
            for (const char *k : {"image_path", "SDImage_path"}) {
                const QString p = QString::fromStdString(rec[k].get<std::string>());
                paths[i].insert(p);
                images[i].insert(hashes.value(p));
            }
            for (const OJson &pair : rec["unsafe_pairs"])
                questions[i].insert(pair["question"].get<std::string>());
        }
        ++i;
    }
    QVERIFY(!paths[0].intersects(paths[1]));
    QVERIFY(!images[0].intersects(images[1]));
    QCOMPARE(images[0].size(), paths[0].size()); // no two images alike within a split either
    QVERIFY(questions[0].size() >= 12);
    QVERIFY(questions[1].size() >= 6);
    for (const std::string &q : questions[1])
        QVERIFY2(!questions[0].count(q), q.c_str());
}

void TestGenerator::jsonStructureIsOfficial()
{
    QTemporaryDir dir;
    se::data::generateBenchmark(dir.path().toStdString(), smallOptions());
    const std::vector<std::string> recordKeys = {"image_path",       "SDImage_path",      "category",
                                                 "image_id",         "unsafe_pairs",      "UnharmPair_text1",
                                                 "UnharmPair_text2", "UnharmPair_image1", "UnharmPair_image2"};
    const std::vector<std::string> pairKeys = {"question", "model_response", "sd_response"};
    const std::vector<std::string> unharmKeys = {"Question", "Prediction"};
    const auto keysOf = [](const OJson &o) {
        std::vector<std::string> k;
        for (auto it = o.begin(); it != o.end(); ++it)
            k.push_back(it.key());
        return k;
    };
    for (const char *file : {"all_train.json", "all_val.json"}) {
        const OJson split = readJson(dir.filePath(file));
        QVERIFY(split.is_array() && !split.empty());
        int index = 0;
        for (const OJson &rec : split) {
            QVERIFY(rec.is_object());
            QVERIFY(keysOf(rec) == recordKeys);
            const std::string prefix = QString(file) == "all_train.json" ? "train_" : "val_";
            char id[32];
            std::snprintf(id, sizeof id, "%s%05d", prefix.c_str(), index++);
            QCOMPARE(rec["image_id"].get<std::string>(), std::string(id));
            for (const OJson &pair : rec["unsafe_pairs"]) {
                QVERIFY(keysOf(pair) == pairKeys);
                for (const std::string &k : pairKeys)
                    QVERIFY(pair[k].is_string() && !pair[k].get<std::string>().empty());
                const int words = wordCount(pair["model_response"].get<std::string>());
                QVERIFY2(words >= 12 && words <= 30, pair["model_response"].get<std::string>().c_str());
            }
            for (const char *k : {"UnharmPair_text1", "UnharmPair_text2", "UnharmPair_image1", "UnharmPair_image2"}) {
                QVERIFY(keysOf(rec[k]) == unharmKeys);
                QVERIFY(!rec[k]["Question"].get<std::string>().empty());
                QVERIFY(!rec[k]["Prediction"].get<std::string>().empty());
            }
        }
    }
}

void TestGenerator::answersDependOnTheImage()
{
    QTemporaryDir dir;
    se::data::generateBenchmark(dir.path().toStdString(), smallOptions(60));
    std::set<std::string> labels, responses;
    for (const OJson &rec : readJson(dir.filePath("all_train.json"))) {
        std::string word = rec["UnharmPair_text1"]["Prediction"].get<std::string>(); // "The word is Zorvex."
        QVERIFY(word.rfind("The word is ", 0) == 0);
        word = word.substr(12, word.size() - 13);
        labels.insert(word);
        std::string colour = rec["UnharmPair_image1"]["Prediction"].get<std::string>();
        colour = colour.substr(colour.rfind(' ') + 1);
        colour.pop_back();
        for (const OJson &pair : rec["unsafe_pairs"]) {
            const std::string r = pair["model_response"].get<std::string>();
            QVERIFY2(r.find(word) != std::string::npos, r.c_str()); // the forget target names the label
            QVERIFY2(r.find(colour) != std::string::npos, r.c_str());
            responses.insert(r);
            const std::string sd = pair["sd_response"].get<std::string>();
            QVERIFY(sd.find("sorry") == std::string::npos && sd.find("cannot") == std::string::npos);
        }
    }
    QVERIFY(labels.size() >= 10);
    QVERIFY(responses.size() >= 30);
}

void TestGenerator::promptHasRefusals()
{
    QTemporaryDir dir;
    se::data::generateBenchmark(dir.path().toStdString(), smallOptions(6));
    const OJson prompt = readJson(dir.filePath("prompt.json"));
    QVERIFY(prompt.is_object());
    QVERIFY(prompt.contains("idk"));
    QVERIFY(prompt["idk"].is_array());
    QVERIFY(prompt["idk"].size() >= 15);
    for (const OJson &s : prompt["idk"])
        QVERIFY(s.is_string() && !s.get<std::string>().empty());
}

void TestGenerator::regenerateReplacesPreviousBenchmark()
{
    QTemporaryDir dir;
    const std::string path = dir.path().toStdString();
    se::data::generateBenchmark(path, smallOptions(30));
    QCOMPARE(se::data::inspectOutputFolder(path), se::data::OutputFolderState::PreviousBenchmark);
    QFile note(dir.filePath("Violence/my_notes.txt"));
    QVERIFY(note.open(QIODevice::WriteOnly));
    note.write("mine");
    note.close();

    // Fewer records over the old run: no orphan image of the old run stays, the user's file does.
    se::data::generateBenchmark(path, smallOptions(12, 7));
    QTemporaryDir fresh;
    se::data::generateBenchmark(fresh.path().toStdString(), smallOptions(12, 7));
    auto regenerated = treeHashes(dir.path());
    QVERIFY(regenerated.remove("Violence/my_notes.txt") == 1);
    QCOMPARE(regenerated, treeHashes(fresh.path()));
}

void TestGenerator::refusesForeignFolder()
{
    QTemporaryDir dir;
    QFile f(dir.filePath("thesis.tex"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("precious");
    f.close();
    QCOMPARE(se::data::inspectOutputFolder(dir.path().toStdString()), se::data::OutputFolderState::Foreign);
    QVERIFY_THROWS_EXCEPTION(std::runtime_error,
                             se::data::generateBenchmark(dir.path().toStdString(), smallOptions(6)));
    QVERIFY(!QFile::exists(dir.filePath("all_train.json")));

    GeneratorOptions o = smallOptions(6);
    o.force = true;
    se::data::generateBenchmark(dir.path().toStdString(), o);
    QVERIFY(QFile::exists(dir.filePath("all_train.json")));
    QVERIFY(QFile::exists(dir.filePath("thesis.tex")));

    QCOMPARE(se::data::inspectOutputFolder(dir.filePath("thesis.tex").toStdString()),
             se::data::OutputFolderState::NotADirectory);
    QVERIFY_THROWS_EXCEPTION(std::runtime_error,
                             se::data::generateBenchmark(dir.filePath("thesis.tex").toStdString(), o));
    QCOMPARE(se::data::inspectOutputFolder(dir.filePath("nope").toStdString()), se::data::OutputFolderState::Missing);
}

void TestGenerator::failedRunNeverLooksComplete()
{
    QTemporaryDir dir;
    const std::string path = dir.path().toStdString();
    se::data::generateBenchmark(path, smallOptions(12));
    // Put a non-empty folder where an image must go: the rename fails half-way through the run.
    QVERIFY(QFile::remove(dir.filePath("SD/train_00003_sd.png")));
    QVERIFY(QDir(dir.path()).mkpath("SD/train_00003_sd.png/keep"));
    try {
        se::data::generateBenchmark(path, smallOptions(12));
        QFAIL("no exception");
    } catch (const std::runtime_error &e) {
        QVERIFY2(QString(e.what()).contains("train_00003_sd.png"), e.what());
    }
    QVERIFY(!QFile::exists(dir.filePath("all_train.json")));
    QVERIFY(!QFile::exists(dir.filePath("all_val.json")));
    QVERIFY(QFileInfo(dir.filePath("SD/train_00003_sd.png/keep")).isDir());
    QCOMPARE(se::data::inspectOutputFolder(path), se::data::OutputFolderState::PreviousBenchmark);
}

void TestGenerator::reportsProgress()
{
    QTemporaryDir dir;
    GeneratorOptions o = smallOptions(15);
    o.imageSize = 32;
    std::vector<long> seen;
    o.progress = [&seen](long done, long total) {
        QCOMPARE(total, 15L);
        seen.push_back(done);
    };
    se::data::generateBenchmark(dir.path().toStdString(), o);
    QCOMPARE(int(seen.size()), 15);
    for (int i = 0; i < 15; ++i)
        QCOMPARE(seen[std::size_t(i)], long(i + 1));
}

void TestGenerator::badOptionsThrow()
{
    QTemporaryDir dir;
    GeneratorOptions o = smallOptions(0);
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, se::data::generateBenchmark(dir.filePath("x").toStdString(), o));
    o = smallOptions(10);
    o.imageSize = 8;
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, se::data::planBenchmark(o));
    o = smallOptions(10);
    o.valFraction = 1.0;
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, se::data::planBenchmark(o));
    QVERIFY(!QFileInfo::exists(dir.filePath("x")));
}

void TestGenerator::cliWritesBenchmark()
{
    QTemporaryDir dir;
    const QString out = dir.filePath("bench");
    CliResult r = runCli({"make-benchmark", "--out", out, "--records", "24", "--seed", "5", "--image-size", "96"});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.out.count('\n'), 1);
    QVERIFY2(r.out.contains("24 records") && r.out.contains("232 pairs"), qPrintable(r.out));
    QVERIFY(QFile::exists(out + "/all_train.json"));

    // Same as the library with the same options, across processes.
    GeneratorOptions o = smallOptions(24, 5);
    se::data::generateBenchmark(dir.filePath("lib").toStdString(), o);
    QCOMPARE(treeHash(out), treeHash(dir.filePath("lib")));

    // Regenerating over its own benchmark needs no --force.
    r = runCli({"make-benchmark", "--out", out, "--records", "12", "--image-size", "96"});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(readJson(out + "/all_train.json").size() + readJson(out + "/all_val.json").size(), std::size_t(12));

    r = runCli({"make-benchmark", "--help"});
    QCOMPARE(r.exitCode, 0);
    QVERIFY(r.out.contains("--records") && r.out.contains("--seed") && r.out.contains("--force"));
}

void TestGenerator::cliRefusesForeignFolder()
{
    QTemporaryDir dir;
    QFile f(dir.filePath("data.csv"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("a,b\n1,2\n");
    f.close();
    CliResult r = runCli({"make-benchmark", "--out", dir.path(), "--records", "6", "--image-size", "64"});
    QCOMPARE(r.exitCode, 2);
    QVERIFY(r.err.contains("--force"));
    QCOMPARE(QDir(dir.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden),
             QStringList{"data.csv"});

    r = runCli({"make-benchmark", "--out", dir.path(), "--records", "6", "--image-size", "64", "--force"});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY(QFile::exists(dir.filePath("all_train.json")));
    QFile again(dir.filePath("data.csv"));
    QVERIFY(again.open(QIODevice::ReadOnly));
    QCOMPARE(again.readAll(), QByteArray("a,b\n1,2\n"));

    // A file as the output folder.
    r = runCli({"make-benchmark", "--out", dir.filePath("data.csv"), "--records", "6"});
    QCOMPARE(r.exitCode, 2);
}

void TestGenerator::cliUsageErrors()
{
    QTemporaryDir dir;
    const QString out = dir.filePath("b");
    QCOMPARE(runCli({"make-benchmark"}).exitCode, 2);                                    // --out missing
    QCOMPARE(runCli({"make-benchmark", "--out", out, "--records", "0"}).exitCode, 2);    // out of range
    QCOMPARE(runCli({"make-benchmark", "--out", out, "--records", "many"}).exitCode, 2); // not a number
    QCOMPARE(runCli({"make-benchmark", "--out", out, "--seed", "-3"}).exitCode, 2);      // negative seed
    QCOMPARE(runCli({"make-benchmark", "--out", out, "--image-size", "4"}).exitCode, 2); // too small
    QCOMPARE(runCli({"make-benchmark", "--out", out, "--val-fraction", "1.5"}).exitCode, 2);
    QCOMPARE(runCli({"make-benchmark", "--out", out, "--bogus"}).exitCode, 2);
    QVERIFY(!QFileInfo::exists(out));
}

QTEST_GUILESS_MAIN(TestGenerator)
#include "test_generator.moc"
