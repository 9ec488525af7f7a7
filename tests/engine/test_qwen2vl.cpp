// Qwen2-VL's pieces against transformers (golden values written by tests/qwen2vl/make_image_golden.py in the
// reference environment): the image processor — smart_resize (Python's half-to-even rounding at 1.5 and 3.5 times
// 28, the shrinking and growing branches, the aspect-ratio refusal), Pillow's bicubic resampling, and the patches in
// 2 × 2 merge groups with the frame repeated — on the PNG pictures the LLaVA fixture uses. And the whole model: tiny
// random Qwen2-VL and Qwen2.5-VL folders that transformers writes (tests/qwen2vl/make_models.py, run here in the
// reference environment; skipped without it), in both layouts, against what transformers computes on them: prompt
// ids, 3-D positions, answer log-probabilities (float32, 1e-4), greedy continuations alone and batched with images of
// different sizes; and the architecture's facts and adapters.
#include "core/eval/generate.h"
#include "core/model/architecture.h"
#include "core/model/qwen2vl.h"
#include "core/model/qwen2vlimage.h"
#include "core/model/registry.h"
#include "core/unlearn/method.h"

#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {
const std::string kSource = SE_SOURCE_DIR;

nlohmann::json golden()
{
    std::ifstream in(kSource + "/tests/qwen2vl/golden_images.json");
    return nlohmann::json::parse(in);
}

struct Cli {
    int code;
    QByteArray out, err;
};
Cli cli(const QStringList &args)
{
    QProcess p;
    p.start(SE_CLI_PATH, args);
    if (!p.waitForFinished(180000))
        return {-1, {}, "timeout"};
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

se::model::Qwen2VlImageProcessor hubProcessor(long long minPixels, long long maxPixels)
{
    // What the hub's Qwen2-VL-2B-Instruct preprocessor_config.json says, with the bounds of the case.
    const std::string json = R"({"min_pixels": )" + std::to_string(minPixels) + R"(, "max_pixels": )" +
                             std::to_string(maxPixels) + R"(, "patch_size": 14, "temporal_patch_size": 2,
        "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2VLProcessor"})";
    return se::model::Qwen2VlImageProcessor::fromJson(json, "preprocessor_config.json");
}
} // namespace

class TestQwen2Vl : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    bool m_haveModels = false;
    nlohmann::json m_models;

    std::string folder(const std::string &name) const { return m_dir.path().toStdString() + "/" + name; }
    std::string image(const std::string &name) const { return kSource + "/tests/llava/images/" + name; }

private Q_SLOTS:
    void initTestCase()
    {
        // transformers writes the folders and computes the golden values (about 12 s); exit 77: not installed.
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(QString::fromStdString(kSource + "/tests/reference/run.sh"),
                {"../qwen2vl/make_models.py", m_dir.path()});
        QVERIFY(p.waitForFinished(300000));
        if (p.exitCode() == 77)
            return;
        QVERIFY2(p.exitCode() == 0, p.readAll().constData());
        std::ifstream in(folder("golden.json"));
        m_models = nlohmann::json::parse(in);
        m_haveModels = true;
    }

    void modelsAsTransformers_data()
    {
        QTest::addColumn<QString>("name");
        for (const char *name : {"qwen2vl", "qwen2vl-452", "qwen25vl"})
            QTest::newRow(name) << QString(name);
    }

    void modelsAsTransformers()
    {
        if (!m_haveModels)
            QSKIP("the reference environment is not installed (./test.sh installs it)");
        QFETCH(QString, name);
        const auto &g = m_models["folders"][name.toStdString()];
        se::model::LoadOptions o;
        o.dtype = torch::kFloat;
        auto m = se::model::loadModel(folder(name.toStdString()), o);
        QCOMPARE(QString::fromStdString(m.architecture), QString("qwen2-vl"));
        // transformers 5 writes the hub's names back; 4.52-4.57 wrote model.language_model.* / model.visual.*
        QCOMPARE(m.info.at("weights_naming"), std::string(name == "qwen2vl-452" ? "transformers-5" : "transformers-4"));
        auto *net = dynamic_cast<se::model::Qwen2VlImpl *>(m.net.get());
        QVERIFY(net);
        se::eval::GenerateOptions gen;
        gen.maxNewTokens = 8;
        gen.eosId = m.chat->eosId();
        gen.alsoStopsAt = m.chat->alsoStopsAt();
        gen.padId = m.chat->padId();
        for (const auto &c : g["cases"]) {
            const std::string file = image(c["image"].get<std::string>()), q = c["question"].get<std::string>();
            const QString where = name + " " + QString::fromStdString(c["image"].get<std::string>());
            const int tokens = se::model::imageTokensOf(m, file);
            QCOMPARE(tokens, c["grid_thw"][1].get<int>() * c["grid_thw"][2].get<int>() / 4);
            const auto prompt = m.chat->prompt(q, tokens);
            QVERIFY2(prompt.ids == c["prompt_ids"].get<std::vector<int>>(), qPrintable(where));
            const auto ex = m.chat->example(q, c["answer"].get<std::string>(), tokens);
            QVERIFY2(ex.ids == c["ids"].get<std::vector<int>>(), qPrintable(where));
            QCOMPARE(ex.answerStart, c["answer_start"].get<int>());

            // 3-D positions and the decoding offset
            const auto pixels = m.images->get(file).unsqueeze(0);
            const int64_t gh = pixels.size(2) / 28, gw = pixels.size(3) / 28;
            torch::Tensor delta;
            const auto ids = torch::tensor(std::vector<int64_t>(ex.ids.begin(), ex.ids.end())).unsqueeze(0);
            const auto pos = net->ropeIndex(ids, {}, {{gh, gw}}, &delta);
            const auto want = c["positions"].get<std::vector<std::vector<int64_t>>>();
            for (int a = 0; a < 3; ++a)
                QVERIFY2(std::vector<int64_t>(pos[a][0].data_ptr<int64_t>(),
                                              pos[a][0].data_ptr<int64_t>() + pos.size(2)) == want[size_t(a)],
                         qPrintable(where + QString(": positions of axis %1").arg(a)));
            QCOMPARE(delta[0].item<int64_t>(), c["rope_delta"].get<int64_t>());

            const auto logp = se::eval::answerLogProbs(*m.net, pixels, ex.ids, ex.answerStart);
            const auto wantLogp = c["answer_logprobs"].get<std::vector<double>>();
            QCOMPARE(logp.size(), wantLogp.size());
            double worst = 0;
            for (size_t i = 0; i < logp.size(); ++i)
                worst = std::max(worst, std::abs(logp[i] - wantLogp[i]));
            QVERIFY2(worst < 1e-4, qPrintable(where + QString(": log-probabilities differ by %1").arg(worst)));

            const auto greedy = se::eval::generate(*m.net, pixels, {prompt.ids}, gen).front();
            auto wantGreedy = c["greedy"].get<std::vector<int>>();
            for (size_t i = 0; i < wantGreedy.size(); ++i)
                if (wantGreedy[i] == gen.eosId || wantGreedy[i] == gen.alsoStopsAt) {
                    wantGreedy.resize(i);
                    break;
                }
            QVERIFY2(greedy == wantGreedy, qPrintable(where + ": greedy continuation"));
            auto slow = gen;
            slow.useCache = false; // the whole sequence again at every step: positions from the ids alone
            QVERIFY2(se::eval::generate(*m.net, pixels, {prompt.ids}, slow).front() == wantGreedy, qPrintable(where));
        }
        // Two prompts with pictures of different sizes, generated together (left padding, NaN-padded pixels).
        const auto &b = g["batch"];
        std::vector<std::string> files;
        std::vector<std::vector<int>> prompts;
        for (size_t i = 0; i < 2; ++i) {
            files.push_back(image(b["images"][i].get<std::string>()));
            prompts.push_back(
                m.chat->prompt(b["questions"][i].get<std::string>(), se::model::imageTokensOf(m, files.back())).ids);
        }
        const auto pixels = m.images->batch(files);
        QVERIFY(torch::isnan(pixels).any().item<bool>()); // they differ in size
        const auto rows = se::eval::generate(*m.net, pixels, prompts, gen);
        QVERIFY(rows[0] == b["greedy"][0].get<std::vector<int>>());
        QVERIFY(rows[1] == b["greedy"][1].get<std::vector<int>>());
    }

    // The commands on a Qwen2.5-VL folder as a user runs them: ask (transformers' greedy answer), images packed as the
    // model takes them (any size), every method ± PD, a run with its curve and evaluation, its audit, merge-adapter.
    void commandsOnAQwenFolder()
    {
        if (!m_haveModels)
            QSKIP("the reference environment is not installed (./test.sh installs it)");
        const QString model = QString::fromStdString(folder("qwen25vl"));
        const auto &c = m_models["folders"]["qwen25vl"]["cases"][0];
        const QString first = QString::fromStdString(image(c["image"].get<std::string>()));
        const Cli a = cli({"ask", "--model", model, "--image", first, "--question",
                           QString::fromStdString(c["question"].get<std::string>()), "--greedy", "--max-new-tokens",
                           "8", "--json"});
        QVERIFY2(a.code == 0, a.err.constData());
        auto want = c["greedy"].get<std::vector<int>>();
        QVERIFY(nlohmann::json::parse(a.out.toStdString())["answer_ids"].get<std::vector<int>>() == want);

        const QString bench = m_dir.filePath("bench"), store = m_dir.filePath("runs.sqlite");
        QCOMPARE(cli({"make-benchmark", "--out", bench, "--records", "8", "--image-size", "64"}).code, 0);
        const QString pack = m_dir.filePath("pack.safetensors");
        const Cli p = cli({"pack-images", "--data", bench, "--model", model, "--out", pack});
        QVERIFY2(p.code == 0, p.err.constData());
        const QString picture = bench + "/SD/train_00001_sd.png";
        const QStringList ask = {"ask",        "--model",     model,      "--image",          picture,
                                 "--question", "What is it?", "--greedy", "--max-new-tokens", "4"};
        const Cli decoded = cli(ask), packed = cli(QStringList(ask) << "--images" << pack);
        QVERIFY2(packed.code == 0, packed.err.constData());
        QCOMPARE(packed.out, decoded.out);

        for (const std::string &method : se::unlearn::methodNames())
            for (const bool pd : {false, true}) {
                QStringList args = {"unlearn",
                                    "--data",
                                    bench,
                                    "--model",
                                    model,
                                    "--method",
                                    QString::fromStdString(method),
                                    "--steps",
                                    "1",
                                    "--batch",
                                    "2",
                                    "--out",
                                    m_dir.filePath("u.adapter")};
                if (pd)
                    args << "--pd";
                const Cli u = cli(args);
                QVERIFY2(u.code == 0 && u.out.contains("finished after 1 step"),
                         qPrintable(QString::fromStdString(method) + (pd ? "+pd: " : ": ") + u.err));
            }

        const Cli r = cli({"run",          "--store", store,      "--data",  bench,      "--model",          model,
                           "--method",     "npo",     "--pd",     "--steps", "2",        "--batch",          "2",
                           "--eval-every", "1",       "--subset", "1",       "--greedy", "--max-new-tokens", "4"});
        QVERIFY2(r.code == 0, r.err.constData());
        const QString id = QString::fromUtf8(r.out.trimmed());
        const Cli au = cli({"audit", "--store", store, "--run", id, "--questions", "2", "--relearn-steps", "2",
                            "--relearn-every", "1", "--relearn-targets", "2"});
        QVERIFY2(au.code == 0, au.err.constData());
        const QString adapter = store + ".models/run-" + id + ".adapter";
        const Cli mg =
            cli({"merge-adapter", "--model", model, "--adapter", adapter, "--out", m_dir.filePath("merged")});
        QVERIFY2(mg.code == 0, mg.err.constData());
        auto score = [&](const QStringList &extra) {
            const Cli s = cli(
                QStringList{"score", "--image", first, "--question", "What is it?", "--answer", "A cup.", "--json"} +
                extra);
            return s.code == 0 ? nlohmann::json::parse(s.out.toStdString())["sum_logprob"].get<double>() : 1.0;
        };
        const double merged = score({"--model", m_dir.filePath("merged")}),
                     withAdapter = score({"--model", model, "--adapter", adapter}), plain = score({"--model", model});
        QVERIFY(merged < 0 && std::abs(merged - withAdapter) < 1e-3);
        QVERIFY(std::abs(plain - withAdapter) > 1e-4); // the run changed the model
    }

    // A folder that is not quite Qwen2-VL is refused naming the file and the field; a picture the processor refuses
    // (aspect ratio above 200) names the picture.
    void badFoldersNameFileAndField()
    {
        auto fails = [](const std::string &json, const QString &expected) {
            try {
                se::model::Qwen2VlConfig::fromJson(json, "config.json");
                return QString("accepted");
            } catch (const std::runtime_error &e) {
                return QString(e.what()).contains(expected) ? QString() : QString(e.what());
            }
        };
        const std::string vision =
            R"("vision_config": {"depth": 1, "embed_dim": 16, "num_heads": 2, "hidden_size": 32})";
        const std::string text = R"("hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "vocab_size": 152000)";
        QCOMPARE(fails(R"({"model_type": "llava"})", "config.json: model_type: 'llava' is not"), QString());
        QCOMPARE(fails(R"({"model_type": "qwen2_vl", )" + text + "}", "vision_config: missing"), QString());
        QCOMPARE(
            fails(R"({"model_type": "qwen2_vl", )" + vision + ", " + text + "}", "rope_scaling.mrope_section: missing"),
            QString());
        QCOMPARE(fails(R"({"model_type": "qwen2_vl", )" + vision + ", " + text +
                           R"(, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 4]}})",
                       "mrope_section: sums to 9, not head_dim / 2 = 8"),
                 QString());
        QCOMPARE(fails(R"({"model_type": "qwen2_vl", )" + vision + ", " + text +
                           R"(, "rope_scaling": {"type": "yarn", "mrope_section": [2, 3, 3]}})",
                       "'yarn' is not supported"),
                 QString());
        QCOMPARE(fails(R"({"model_type": "qwen2_vl", "vision_config": {"depth": 1, "embed_dim": 16, "num_heads": 2,
                           "hidden_size": 48}, )" +
                           text + R"(, "rope_scaling": {"mrope_section": [2, 3, 3]}})",
                       "the merger's output (48) is not the language model's width (32)"),
                 QString());
        QCOMPARE(fails(R"({"model_type": "qwen2_5_vl", )" + vision + ", " + text +
                           R"(, "rope_scaling": {"mrope_section": [2, 3, 3]}})",
                       "vision_config.intermediate_size: missing"),
                 QString());
        QCOMPARE(fails(R"({"model_type": "qwen2_vl", )" + vision + R"(, "text_config": {)" + text +
                           R"(, "use_sliding_window": true, "rope_parameters": {"mrope_section": [2, 3, 3]}}})",
                       "use_sliding_window: sliding-window attention is not supported"),
                 QString());
        // Both layouts read the same: transformers 5's text_config and the hub's flat fields.
        const auto flat = se::model::Qwen2VlConfig::fromJson(
            R"({"model_type": "qwen2_vl", )" + vision + ", " + text +
                R"(, "rope_theta": 5000, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}})",
            "config.json");
        const auto nested = se::model::Qwen2VlConfig::fromJson(
            R"({"model_type": "qwen2_vl", )" + vision + R"(, "text_config": {)" + text +
                R"(, "rope_parameters": {"rope_theta": 5000, "mrope_section": [2, 3, 3]}}})",
            "config.json");
        QCOMPARE(flat.parameterCount(), nested.parameterCount());
        QCOMPARE(flat.ropeTheta, 5000.0);
        QCOMPARE(nested.ropeTheta, 5000.0);
        QCOMPARE(flat.headDim, 16);
        { // the hub's Qwen2-VL-2B-Instruct config.json: its published 2,208,985,600 parameters
            std::ifstream in(kSource + "/tests/fuzz/seeds/qwen2vlconfig/qwen2-vl-2b-hub-style.json");
            const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            const auto hub = se::model::Qwen2VlConfig::fromJson(text, "config.json");
            QCOMPARE(hub.parameterCount(), int64_t(2208985600));
            QVERIFY(hub.tieEmbeddings && hub.imageTokenId == 151655 &&
                    hub.mropeSection == std::vector<int>({16, 24, 24}));
        }

        if (!m_haveModels)
            QSKIP("the reference environment is not installed (./test.sh installs it)");
        auto m = se::model::loadModel(folder("qwen2vl"));
        const QString strip = m_dir.filePath("strip.png");
        QImage(4000, 10, QImage::Format_RGB32).save(strip); // 400:1
        try {
            se::model::imageTokensOf(m, strip.toStdString());
            QFAIL("a 4000 x 10 picture was taken");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains(strip) && QString(e.what()).contains("4000x10"), e.what());
        }
        try {
            m.images->get(strip.toStdString());
            QFAIL("a 4000 x 10 picture was decoded");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains(strip), e.what());
        }
    }

    // The folder in bfloat16 (as a large checkpoint loads on a CPU that multiplies it): the same answer's
    // log-probabilities within bfloat16's rounding.
    void bfloat16NearFloat32()
    {
        if (!m_haveModels)
            QSKIP("the reference environment is not installed (./test.sh installs it)");
        const auto &c = m_models["folders"]["qwen25vl"]["cases"][1];
        se::model::LoadOptions o;
        o.dtype = torch::kBFloat16;
        auto m = se::model::loadModel(folder("qwen25vl"), o);
        QCOMPARE(m.net->dtype(), torch::kBFloat16);
        const std::string file = image(c["image"].get<std::string>());
        const auto ex = m.chat->example(c["question"].get<std::string>(), c["answer"].get<std::string>(),
                                        se::model::imageTokensOf(m, file));
        const auto logp = se::eval::answerLogProbs(*m.net, m.images->get(file).unsqueeze(0), ex.ids, ex.answerStart);
        const auto want = c["answer_logprobs"].get<std::vector<double>>();
        double sum = 0, wantSum = 0;
        for (size_t i = 0; i < want.size(); ++i) {
            QVERIFY(std::isfinite(logp[i]));
            sum += logp[i];
            wantSum += want[i];
        }
        QVERIFY2(std::abs(sum - wantSum) < 0.05 * std::abs(wantSum),
                 qPrintable(QString("%1 vs %2").arg(sum).arg(wantSum)));
    }

    void factsAndHooks()
    {
        if (!m_haveModels)
            QSKIP("the reference environment is not installed (./test.sh installs it)");
        for (const char *name : {"qwen2vl", "qwen25vl"}) {
            const auto f = se::model::describeModel(folder(name));
            QCOMPARE(QString::fromStdString(f.architecture), QString("qwen2-vl"));
            QVERIFY(f.adapters);
            auto m = se::model::loadModel(folder(name));
            QCOMPARE(f.parameters, m.net->parameterCount()); // config.json's count is what loads
            QVERIFY(QString::fromStdString(f.summary).startsWith(std::string(name) == "qwen25vl" ? "Qwen2.5-VL"
                                                                                                 : "Qwen2-VL "));
            // LoRA on the language model only: Qwen2.5-VL's vision MLP has gate_proj / up_proj / down_proj too.
            m.net->addAdapters(se::model::defaultLora(m));
            auto *net = dynamic_cast<se::model::Qwen2VlImpl *>(m.net.get());
            int adapted = 0;
            for (const auto &[module, lin] : net->linears()) {
                if (lin->hasAdapter()) {
                    ++adapted;
                    QVERIFY2(module.rfind("model.language_model.", 0) == 0, module.c_str());
                }
            }
            QCOMPARE(adapted, 7 * 2);
            QVERIFY_THROWS_EXCEPTION(std::runtime_error, m.net->addAdapters([] {
                se::model::LoraSpec s;
                s.rank = 4;
                s.targets = {"qkv"};
                return s;
            }()));
        }
    }

    void smartResizeAsTransformers()
    {
        const auto p = hubProcessor(3136, 12845056);
        const auto g = golden(); // kept: a range-for over golden()[...] would iterate a destroyed temporary
        for (const auto &c : g["smart_resize"]) {
            const int h = c["size"][0], w = c["size"][1];
            if (c.contains("error")) {
                QVERIFY_THROWS_EXCEPTION(std::runtime_error, p.smartResize(h, w));
                continue;
            }
            const auto got = p.smartResize(h, w);
            QCOMPARE(got.first, c["resized"][0].get<int>());
            QCOMPARE(got.second, c["resized"][1].get<int>());
        }
    }

    void patchesAsTransformers()
    {
        const auto g = golden();
        for (const auto &c : g["cases"]) {
            const auto p = hubProcessor(c["min_pixels"], c["max_pixels"]);
            const std::string name = c["image"].get<std::string>();
            const std::string file =
                kSource + (name == "noise.png" ? "/tests/qwen2vl/" : "/tests/llava/images/") + name;
            const auto got = p.processFile(file);
            const QString where = QString::fromStdString(c["image"].get<std::string>() + " " + c["max_pixels"].dump());
            QCOMPARE(got.gridT, c["grid_thw"][0].get<int>());
            QCOMPARE(got.gridH, c["grid_thw"][1].get<int>());
            QCOMPARE(got.gridW, c["grid_thw"][2].get<int>());
            QCOMPARE(got.rows(), c["shape"][0].get<int>());
            QCOMPARE(got.rowLength, c["shape"][1].get<int>());
            double sum = 0, absSum = 0;
            for (float v : got.values) {
                sum += v;
                absSum += std::abs(v);
            }
            QVERIFY2(std::abs(sum - c["sum"].get<double>()) < 1e-3 * std::max(1.0, c["abs_sum"].get<double>() / 1e4),
                     qPrintable(where + QString(": sum %1, want %2").arg(sum).arg(c["sum"].get<double>())));
            QVERIFY2(std::abs(absSum - c["abs_sum"].get<double>()) < 1e-2, qPrintable(where));
            for (const auto &s : c["samples"]) {
                const std::size_t i = s[0].get<std::size_t>();
                QVERIFY2(
                    std::abs(got.values.at(i) - s[1].get<double>()) < 1e-5,
                    qPrintable(
                        where +
                        QString(": value %1 is %2, want %3").arg(i).arg(got.values.at(i)).arg(s[1].get<double>())));
            }
        }
    }

    void configErrorsNameTheField()
    {
        auto fails = [](const std::string &json, const QString &expected) {
            try {
                se::model::Qwen2VlImageProcessor::fromJson(json, "preprocessor_config.json");
                return QString("accepted");
            } catch (const std::runtime_error &e) {
                return QString(e.what()).contains(expected) ? QString() : QString(e.what());
            }
        };
        QCOMPARE(fails(R"({"min_pixels": 0})", "preprocessor_config.json: min_pixels: not an integer"), QString());
        QCOMPARE(fails(R"({"min_pixels": 5000, "max_pixels": 4000})", "min_pixels: 5000 is above max_pixels 4000"),
                 QString());
        QCOMPARE(fails(R"({"merge_size": "2"})", "merge_size: not an integer"), QString());
        QCOMPARE(fails(R"({"size": {"shortest_edge": 3136, "longest_edge": -1}})", "size.longest_edge"), QString());
        // transformers 5's form of the bounds
        const auto v5 = se::model::Qwen2VlImageProcessor::fromJson(
            R"({"size": {"shortest_edge": 100, "longest_edge": 200000}})", "p.json");
        QCOMPARE(v5.minPixels, 100LL);
        QCOMPARE(v5.maxPixels, 200000LL);
    }
};

QTEST_GUILESS_MAIN(TestQwen2Vl)
#include "test_qwen2vl.moc"
