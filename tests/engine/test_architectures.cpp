// Every architecture of the registry (core/model/architecture.h), hook by hook, on a small model of its kind
// (as llama.cpp's test-llama-archs walks its architectures): recognised from its files, described without loading
// (and the description agrees with the loaded model), loaded, its images as loaded and as packed, its chat format,
// its default LoRA, and what a run of it writes — adapters (saved, applied back, merged into a folder that loads) or
// whole checkpoints (the adapter hooks absent and refused by name). A new entry must come with a fixture below.
#include "tests/common/tinycard.h"
#include "core/model/architecture.h"
#include "core/model/checkpoint.h"
#include "core/model/qwen2vl.h"
#include "core/model/registry.h"
#include "core/model/safetensors.h"
#include "core/model/vlm.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <set>

using namespace se::model;

namespace {
const std::string kSource = SE_SOURCE_DIR;

// A tiny Qwen2.5-VL folder written here (its numbers against transformers are test_qwen2vl's): transformers 5's
// config.json, the image processor's settings, the committed tiny Qwen2 tokenizer, random weights under the hub's
// names.
void writeQwenFolder(const std::string &dir)
{
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    const std::string config = R"({"model_type": "qwen2_5_vl", "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "image_token_id": 518, "video_token_id": 519, "vision_start_token_id": 516, "vision_end_token_id": 517,
        "tie_word_embeddings": true, "dtype": "float32",
        "text_config": {"vocab_size": 520, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 1024, "rms_norm_eps": 1e-6,
          "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}},
        "vision_config": {"depth": 2, "hidden_size": 16, "intermediate_size": 24, "num_heads": 2,
          "out_hidden_size": 32, "window_size": 112, "fullatt_block_indexes": [1], "hidden_act": "silu"}})";
    std::ofstream(dir + "/config.json") << config;
    std::ofstream(dir + "/preprocessor_config.json")
        << R"({"min_pixels": 3136, "max_pixels": 50176, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
              "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]})";
    for (const char *f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(kSource + "/tests/qwen2vl/tokenizer/" + f, dir + "/" + f);
    torch::manual_seed(3);
    Qwen2Vl net(Qwen2VlConfig::fromJson(config, "config.json"), torch::TensorOptions().dtype(torch::kFloat));
    SafeTensors st;
    for (const auto &p : net->named_parameters())
        st.tensors.emplace_back(qwen2VlLegacyName(p.key()), torch::randn(p.value().sizes()) * 0.1);
    st.metadata["format"] = "pt";
    writeSafeTensors(dir + "/model.safetensors", st);
}
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
        writeQwenFolder(path("qwen2vl"));
        m_fixture[qwen2vlArchitecture().name] = path("qwen2vl");
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

        // Its chat format: a prompt holding the image's tokens, then the answer's.
        const int imageTokens = imageTokensOf(m, picture);
        QVERIFY(imageTokens > 0);
        const auto ex = m.chat->example("What colour is the cup?", "Red.", imageTokens);
        QVERIFY(ex.answerStart > imageTokens && ex.answerStart < int(ex.ids.size()));
        QVERIFY(m.chat->prompt("What colour is the cup?", imageTokens).ids.size() == size_t(ex.answerStart));
        const auto pixels = m.images->get(picture).unsqueeze(0);
        const auto logits =
            m.net->logits(torch::tensor(std::vector<int64_t>(ex.ids.begin(), ex.ids.end())).unsqueeze(0), pixels);
        QCOMPARE(logits.size(1), int64_t(ex.ids.size()));
        QVERIFY(torch::isfinite(logits).all().item<bool>());

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
