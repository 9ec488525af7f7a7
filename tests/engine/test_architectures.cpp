// Every architecture of the registry (core/model/architecture.h), hook by hook, on a small model of its kind
// (as llama.cpp's test-llama-archs walks its architectures): recognised from its files, described without loading
// (and the description agrees with the loaded model), loaded, its images as loaded and as packed, its chat format,
// its default LoRA, and what a run of it writes — adapters (saved, applied back, merged into a folder that loads) or
// whole checkpoints (the adapter hooks absent and refused by name). A new entry must come with a fixture below.
#include "tests/common/tinycard.h"
#include "core/model/architecture.h"
#include "core/model/checkpoint.h"
#include "core/model/vlm.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <set>

using namespace se::model;

namespace {
const std::string kSource = SE_SOURCE_DIR;
} // namespace

class TestArchitectures : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    std::map<std::string, std::string> m_fixture; // architecture → a model of it

    std::string path(const char *name) const { return m_dir.filePath(name).toStdString(); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        Checkpoint c;
        c.card = se::testing::tinyCard(1, 48, 16);
        c.tokenizer = Tokenizer::build({"the cup is red . I cannot help with that ."});
        c.model = makeVlm(c.card, c.tokenizer.size(), 5);
        saveCheckpoint(path("builtin.safetensors"), c);
        m_fixture[builtinArchitecture().name] = path("builtin.safetensors");

        QProcess p;
        p.start("/usr/bin/python3", {QString::fromStdString(kSource + "/tests/llava/make_tiny_llava.py"),
                                     QString::fromStdString(path("llava"))});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        m_fixture[llavaArchitecture().name] = path("llava");
    }

    void everyEntryHasAFixtureAndAName()
    {
        std::set<std::string> names;
        for (const auto *a : architectures()) {
            QVERIFY2(m_fixture.count(a->name), ("no fixture for architecture " + a->name).c_str());
            QVERIFY(names.insert(a->name).second); // unique
            QVERIFY(!a->modelTypes.empty());
            QCOMPARE(&architectureNamed(a->name), a);
        }
        QCOMPARE(knownArchitectures().size(), architectures().size());
        QVERIFY_EXCEPTION_THROWN(architectureNamed("gpt-2"), std::runtime_error);
    }

    void everyHookOfEveryEntry_data()
    {
        QTest::addColumn<QString>("name");
        for (const auto *a : architectures())
            QTest::newRow(a->name.c_str()) << QString::fromStdString(a->name);
    }

    void everyHookOfEveryEntry()
    {
        QFETCH(QString, name);
        const Architecture &a = architectureNamed(name.toStdString());
        const std::string model = m_fixture.at(a.name);
        // Recognised from its files, and only as itself.
        QCOMPARE(&architectureOf(model), &a);
        std::error_code ec;
        QCOMPARE(std::filesystem::is_directory(model, ec), a.folder);
        QVERIFY(a.describe && a.load && a.images && a.trainingTokens);

        // Described without loading, and the description is the loaded model's.
        const ModelFacts f = describeModel(model);
        QCOMPARE(f.architecture, a.name);
        QCOMPARE(f.adapters, a.writesAdapters);
        QCOMPARE(f.choosesDtype, a.choosesDtype);
        QCOMPARE(f.checkpointsLayers, a.checkpointsLayers);
        QVERIFY(!f.summary.empty() && f.parameters > 0 && f.fileBytes > 0 && f.layers > 0 && f.hidden > 0);
        QCOMPARE(f.defaultLora.targets, a.defaultLora.targets);
        for (const auto &t : a.defaultLora.targets) // the memory plan counts every default target
            QVERIFY2(f.loraFanSum.count(t), t.c_str());
        LoadedModel m = loadModel(model);
        QCOMPARE(m.arch, &a);
        QCOMPARE(m.architecture, a.name);
        QCOMPARE(int(m.net->imageTokens()), f.imageTokens);
        QCOMPARE(int(m.net->maxPositions()), f.maxSeq);
        QCOMPARE(trainingTokens(m), f.trainingTokens);
        QVERIFY(f.trainingTokens > f.imageTokens && f.trainingTokens <= f.maxSeq);
        int64_t loaded = 0;
        for (const auto &p : m.net->named_parameters())
            if (p.key().find("lora") == std::string::npos)
                loaded += p.value().numel();
        QCOMPARE(loaded, f.parameters);
        QCOMPARE(writesAdapters(m), a.writesAdapters);
        QCOMPARE(defaultLora(m).targets, a.defaultLora.targets);

        // Its images, as loaded and as packed without the weights: the same preprocessing.
        const auto images = modelImages(model);
        QCOMPARE(images->size(), m.images->size());
        QCOMPARE(images->pixels(), m.images->pixels());
        const std::string picture = kSource + "/tests/llava/images/wide.png";
        QVERIFY(torch::equal(images->get(picture), m.images->get(picture)));

        // Its chat format: a prompt, then the answer's tokens.
        const auto ex = m.chat->example("What colour is the cup?", "Red.");
        QVERIFY(ex.answerStart > 0 && ex.answerStart < int(ex.ids.size()));
        QVERIFY(m.chat->prompt("What colour is the cup?").ids.size() == size_t(ex.answerStart));

        // What a run writes.
        const std::string out = path(("adapter-" + a.name).c_str());
        if (a.writesAdapters) {
            QVERIFY(a.applyAdapter && a.saveAdapter && a.mergeAdapter);
            LoraSpec spec = defaultLora(m);
            spec.rank = 2;
            m.net->addAdapters(spec);
            saveAdapters(m, out, spec, {{"trained_by", "test"}});
            LoadedModel again = loadModel(model);
            again.net->addAdapters(spec);
            applyAdapterValues(again, out);
            const std::string merged = path(("merged-" + a.name).c_str());
            mergeAdapter(model, out, merged);
            QCOMPARE(&architectureOf(merged), &a);
            QCOMPARE(describeModel(merged).parameters, f.parameters);
        } else {
            QVERIFY(!a.applyAdapter && !a.saveAdapter && !a.mergeAdapter);
            try {
                saveAdapters(m, out, a.defaultLora, {});
                QFAIL("saveAdapters took a model that writes checkpoints");
            } catch (const std::runtime_error &e) {
                QVERIFY2(QString(e.what()).contains("writes whole checkpoints"), e.what());
            }
            try {
                mergeAdapter(model, out, path("merged"));
                QFAIL("mergeAdapter took a model that writes checkpoints");
            } catch (const std::runtime_error &e) {
                QVERIFY2(QString(e.what()).contains(QString::fromStdString(a.name)), e.what());
            }
        }
    }

    void anUnknownModelTypeNamesTheKnownOnes()
    {
        const QString dir = m_dir.filePath("gpt2");
        QVERIFY(QDir().mkpath(dir));
        QFile cfg(dir + "/config.json");
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write(R"({"model_type": "gpt2"})");
        cfg.close();
        try {
            architectureOf(dir.toStdString());
            QFAIL("an unknown architecture was taken");
        } catch (const std::runtime_error &e) {
            const QString what = e.what();
            QVERIFY2(what.contains("gpt2") && what.contains("llava") && what.contains("se-tiny-vlm"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestArchitectures)
#include "test_architectures.moc"
