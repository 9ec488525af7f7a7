// LLaVA-1.5 from Hugging Face folders (issue 8): tiny random checkpoints written in the exact llava-hf layout by
// tests/llava/make_tiny_llava.py (numpy only), compared with the golden values of tests/llava/golden/tiny_llava.json
// — computed by tests/llava/reference.py, an independent PyTorch transcription of transformers'
// LlavaForConditionalGeneration, CLIPImageProcessor (Pillow) and Llama tokenizer (python sentencepiece); no
// session so far had transformers itself (see tests/llava/README.md). Also: both weight namings and the three
// dtypes load and agree, KV-cached greedy equals uncached, batched left-padded greedy equals single, the errors
// name file and reason, and the CLI's ask / score print what the issue specifies.
#include "core/eval/generate.h"
#include "core/model/clipimage.h"
#include "core/model/llava.h"
#include "core/model/llavatokenizer.h"
#include "core/model/registry.h"
#include "core/model/safetensors.h"
#include "core/model/hftokenizer.h"
#include "core/model/hfweights.h"
#include "core/store/runstore.h"
#include "core/unlearn/engine.h"
#include "core/unlearn/method.h"
#include "core/unlearn/runservice.h"
#include "core/util/text.h"
#include "tests/common/chatserver.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <set>
#include <functional>
#include <nlohmann/json.hpp>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {
const std::string kSource = SE_SOURCE_DIR;
const std::string kImages = kSource + "/tests/llava/images/";

// Model options on the CPU with an adapter applied.
se::engine::ModelOptions cpuWith(const std::string &adapter)
{
    se::engine::ModelOptions o;
    o.device = "cpu";
    o.adapter = adapter;
    return o;
}

json golden()
{
    std::ifstream in(kSource + "/tests/llava/golden/tiny_llava.json");
    return json::parse(in);
}

struct Cli {
    int code;
    QByteArray out, err;
};
// The lowest and highest address at which this process maps `file` (from /proc/self/maps); {0, 0} when not mapped.
std::pair<std::uintptr_t, std::uintptr_t> mappedRange(const std::string &file)
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    std::uintptr_t lo = 0, hi = 0;
    const std::string canonical = fs::canonical(file).string();
    while (std::getline(maps, line)) {
        if (line.size() < canonical.size() || line.compare(line.size() - canonical.size(), canonical.size(), canonical))
            continue;
        const auto dash = line.find('-'), space = line.find(' ');
        const auto a = std::stoull(line.substr(0, dash), nullptr, 16),
                   b = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
        lo = lo ? std::min<std::uintptr_t>(lo, a) : a;
        hi = std::max<std::uintptr_t>(hi, b);
    }
    return {lo, hi};
}

// sha256 of every weights file of a folder, by name.
std::map<std::string, QByteArray> weightHashes(const std::string &dir)
{
    std::map<std::string, QByteArray> out;
    for (const auto &e : fs::directory_iterator(dir))
        if (e.path().extension() == ".safetensors") {
            QFile f(QString::fromStdString(e.path().string()));
            f.open(QIODevice::ReadOnly);
            out[e.path().filename().string()] = QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256);
        }
    return out;
}

Cli run(const QString &program, const QStringList &args)
{
    QProcess p;
    p.start(program, args);
    if (!p.waitForFinished(300000))
        return {-1, {}, "timeout"};
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(),
            p.readAllStandardError()};
}
} // namespace

class TestLlava : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    json m_golden;
    std::unique_ptr<se::model::LoadedModel> m_base;
    std::map<std::string, std::map<std::string, QByteArray>> m_fixtureHashes; // folder → file → sha256

    std::string folder(const char *name) const { return m_dir.filePath(name).toStdString(); }
    void make(const char *name, const QStringList &flags)
    {
        const Cli r =
            run("/usr/bin/python3", QStringList{QString::fromStdString(kSource + "/tests/llava/make_tiny_llava.py"),
                                                QString::fromStdString(folder(name))} +
                                        flags);
        QVERIFY2(r.code == 0, r.err.constData());
    }
    // A run of the tiny v5 folder on the tests' benchmark: greedy evaluations of one question per set.
    se::engine::RunRequest tinyRun(const QTemporaryDir &tmp, se::unlearn::Method method, int steps, int evalEvery) const
    {
        se::engine::RunRequest r;
        r.storePath = tmp.filePath("runs.sqlite").toStdString();
        r.unlearn.dataDir = folder("bench");
        r.unlearn.modelFile = folder("v5");
        r.unlearn.method = method;
        r.unlearn.train.steps = steps;
        r.unlearn.train.batchSize = 2;
        r.eval.greedy = true;
        r.eval.subsetPerSet = 1;
        r.evalEvery = evalEvery;
        r.curveSubset = 1;
        return r;
    }
    std::vector<double> scoreCase(se::model::LoadedModel &m, const json &c)
    {
        const auto ex = m.chat->example(c["question"].get<std::string>(), c["answer"].get<std::string>());
        auto pixels = m.images->get(kImages + c["image"].get<std::string>()).unsqueeze(0);
        return se::eval::answerLogProbs(*m.net, pixels, ex.ids, ex.answerStart);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_golden = golden();
        make("v5", {});
        make("v4-sharded", {"--naming", "v4", "--shards", "3"});
        make("v5-f16", {"--dtype", "f16", "--shards", "2"});
        make("v4-bf16", {"--naming", "v4", "--dtype", "bf16"});
        m_base = std::make_unique<se::model::LoadedModel>(se::model::loadModel(folder("v4-sharded")));
        const Cli g = run(SE_CLI_PATH, {"make-benchmark", "--out", QString::fromStdString(folder("bench")), "--records",
                                        "12", "--image-size", "64"});
        QVERIFY2(g.code == 0, g.err.constData()); // the benchmark the unlearning tests use
        for (const char *f : {"v5", "v4-sharded", "v5-f16", "v4-bf16"})
            m_fixtureHashes[f] = weightHashes(folder(f));
    }

    // Every test loads these folders' weights without copying them (where dtypes agree), folds adapters into them,
    // trains beside them, merges them: not one byte of the files may change.
    void cleanupTestCase()
    {
        for (const auto &[f, hashes] : m_fixtureHashes)
            QVERIFY2(weightHashes(folder(f.c_str())) == hashes, f.c_str());
    }

    void parametersAreTheMappedFileBytes()
    {
        se::model::LoadOptions o;
        o.dtype = torch::kFloat;
        auto m = se::model::loadModel(folder("v5"), o); // a float32 file in float32 on the CPU: shared
        const auto [lo, hi] = mappedRange(folder("v5") + "/model.safetensors");
        QVERIFY(lo && hi > lo);
        int shared = 0;
        for (const auto &p : m.net->named_parameters()) {
            const auto a = reinterpret_cast<std::uintptr_t>(p.value().data_ptr());
            const bool projector = p.key().rfind("model.multi_modal_projector.", 0) == 0;
            // The projector, which trains in full, has memory of its own; everything else is the file's bytes.
            QVERIFY2((a >= lo && a < hi) != projector, p.key().c_str());
            shared += !projector;
        }
        QVERIFY(shared > 40);
        QVERIFY2(QString::fromStdString(m.info["load"]).startsWith(QString::number(shared) + " tensors mapped"),
                 m.info["load"].c_str());
        // Converted (bfloat16 from a float32 file): nothing points into the file, whose pages were let go.
        o.dtype = torch::kBFloat16;
        auto b = se::model::loadModel(folder("v5"), o);
        const auto [lo2, hi2] = mappedRange(folder("v5") + "/model.safetensors");
        for (const auto &p : b.net->parameters()) {
            const auto a = reinterpret_cast<std::uintptr_t>(p.data_ptr());
            QVERIFY(a < lo2 || a >= hi2);
            QCOMPARE(p.scalar_type(), torch::kBFloat16);
        }
    }

    void writesIntoLoadedWeightsNeverReachTheFile()
    {
        const auto before = weightHashes(folder("v4-sharded"));
        {
            se::model::LoadOptions o;
            o.dtype = torch::kFloat;
            auto m = se::model::loadModel(folder("v4-sharded"), o);
            torch::NoGradGuard ng;
            for (auto &p : m.net->parameters()) // every parameter in place, mapped or not
                p.mul_(-3.0).add_(1.0);
            QVERIFY(m.net->parameters().front().abs().sum().item<double>() > 0);
        }
        QVERIFY(weightHashes(folder("v4-sharded")) == before);
        // And a model loaded afresh is the file's: it scores as the golden values say.
        auto again = se::model::loadModel(folder("v4-sharded"));
        const auto &c = m_golden["cases"][0];
        const auto lp = scoreCase(again, c), want = c["logprobs"].get<std::vector<double>>();
        for (size_t i = 0; i < lp.size(); ++i)
            QVERIFY(std::abs(lp[i] - want[i]) < 1e-4);
    }

    void aLoadThatCannotFitSaysWhatWould()
    {
        se::engine::ModelOptions f32, bf16, automatic;
        f32.device = bf16.device = automatic.device = "cpu";
        f32.dtype = "float32";
        bf16.dtype = "bfloat16";
        const auto p32 = se::engine::planModelLoad(folder("v5"), f32),
                   p16 = se::engine::planModelLoad(folder("v5"), bf16);
        QVERIFY(p32.need > p16.need);
        // As if only the space between the two were free (SAFEERASER_MEMORY_LIMIT, which users set to leave room).
        qputenv("SAFEERASER_MEMORY_LIMIT", QByteArray::number(qulonglong((p32.need + p16.need) / 2)));
        const auto refused = se::engine::planModelLoad(folder("v5"), f32);
        QVERIFY(!refused.fits);
        QString message;
        try {
            se::engine::Assistant a(folder("v5"), f32);
        } catch (const std::exception &e) {
            message = e.what();
        }
        QVERIFY2(message.contains("does not fit in memory") && message.contains("--dtype bfloat16") &&
                     message.contains("free"),
                 qPrintable(message));
        // Unasked, the dtype that fits is chosen, and says why.
        const auto chosen = se::engine::planModelLoad(folder("v5"), automatic);
        QCOMPARE(chosen.dtype, std::string("bfloat16"));
        QVERIFY2(QString::fromStdString(chosen.reason).contains("float32 would not fit"), chosen.reason.c_str());
        // The CLI: an error with the way out, not a signal; and --no-memory-check tries anyway.
        const auto &c = m_golden["cases"][0];
        const QStringList ask{"ask",
                              "--model",
                              QString::fromStdString(folder("v5")),
                              "--image",
                              QString::fromStdString(kImages + c["image"].get<std::string>()),
                              "--question",
                              "What is it?",
                              "--greedy",
                              "--max-new-tokens",
                              "2",
                              "--dtype",
                              "float32"};
        const Cli r = run(SE_CLI_PATH, ask);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("does not fit in memory") && r.err.contains("--dtype bfloat16"), r.err.constData());
        QCOMPARE(run(SE_CLI_PATH, ask + QStringList{"--no-memory-check"}).code, 0);
        qunsetenv("SAFEERASER_MEMORY_LIMIT");
    }

    void architectureFromConfig()
    {
        QCOMPARE(se::model::modelArchitecture(folder("v5")), std::string("llava"));
        QCOMPARE(se::model::modelArchitecture(folder("v4-sharded")), std::string("llava"));
    }

    void pixelValuesMatchClipImageProcessor()
    {
        const auto pre = se::model::ClipPreprocessor::fromJson(
            [&] {
                std::ifstream in(folder("v5") + "/preprocessor_config.json");
                return std::string(std::istreambuf_iterator<char>(in), {});
            }(),
            "preprocessor_config.json");
        for (auto it = m_golden["pixel_values"].begin(); it != m_golden["pixel_values"].end(); ++it) {
            const auto ours = pre.processFile(kImages + it.key());
            const auto &want = *it;
            QCOMPARE(ours.size(), want.size());
            double worst = 0;
            for (size_t i = 0; i < ours.size(); ++i)
                worst = std::max(worst, std::abs(double(ours[i]) - want[i].get<double>()));
            // Pillow's resampling reproduced bit for bit: the only differences are float rounding.
            QVERIFY2(worst < 1e-5, (it.key() + ": max difference " + std::to_string(worst)).c_str());
        }
    }

    void tokenizerMatchesReference()
    {
        // tokenizer.model (the project's SentencePiece reader), transformers 5's tokenizer.json and the hub's style of
        // tokenizer.json (the project's tokenizers reader) against transformers, the sentencepiece library and the
        // tokenizers library.
        se::model::SentencePieceTokenizer sp(folder("v5"));
        const auto saved = se::model::HfTokenizer::fromFolder(kSource + "/tests/llava/transformers5");
        std::string hubJson;
        {
            std::ifstream in(kSource + "/tests/llava/tokenizer-hub-style.json");
            hubJson.assign(std::istreambuf_iterator<char>(in), {});
        }
        const se::model::HfTokenizer hub(hubJson, "{\"eos_token\": \"</s>\"}", "", "tokenizer-hub-style.json");
        for (const auto &c : m_golden["tokenizer_cases"]) {
            const std::string text = c["text"].get<std::string>();
            const auto want = c["ids"].get<std::vector<int>>();
            QVERIFY2(sp.encode(text, true) == want, text.c_str());
            QVERIFY2(saved->encode(text, true) == c["ids_tokenizer_json"].get<std::vector<int>>(), text.c_str());
            QVERIFY2(hub.encode(text, true) == c["ids_hub_style_json"].get<std::vector<int>>(), text.c_str());
            if (c.contains("ids_sentencepiece"))
                QVERIFY2(sp.encode(text, true) == c["ids_sentencepiece"].get<std::vector<int>>(), text.c_str());
        }
        for (const se::model::TextTokenizer *t : {static_cast<const se::model::TextTokenizer *>(&sp),
                                                  static_cast<const se::model::TextTokenizer *>(saved.get())}) {
            QCOMPARE(t->decode(t->encode("The circle is red.", true)), std::string("The circle is red."));
            QCOMPARE(t->id("<image>"), 500);
            QCOMPARE(t->padId(), 501);
            QCOMPARE(t->eosId(), 2);
            QCOMPARE(t->bosId(), 1);
        }
    }

    void decodesAsTransformers()
    {
        // Byte pieces: a valid run becomes its characters, a run that is not UTF-8 one U+FFFD per piece; special
        // tokens skipped; control characters kept (escaping them is the terminal's business) — and always UTF-8.
        se::model::SentencePieceTokenizer sp(folder("v5"));
        const auto saved = se::model::HfTokenizer::fromFolder(kSource + "/tests/llava/transformers5");
        for (const auto &c : m_golden["decode_cases"]) {
            const auto ids = c["ids"].get<std::vector<int>>();
            const std::string want = c["text"].get<std::string>();
            QCOMPARE(QByteArray::fromStdString(sp.decode(ids)), QByteArray::fromStdString(want));
            QCOMPARE(QByteArray::fromStdString(saved->decode(ids)), QByteArray::fromStdString(want));
        }
    }

    void byteFallbackAnswersAsTransformers()
    {
        // A model that favours byte pieces (as a collapsed unlearned model does): its greedy answers, ids and text, as
        // transformers generates and decodes them; ask --json prints them, plain ask escapes the control characters.
        make("bytes", {"--byte-pieces"});
        auto m = se::model::loadModel(folder("bytes"));
        se::eval::GenerateOptions o;
        o.greedy = true;
        o.maxNewTokens = 16;
        o.eosId = m.chat->eosId();
        o.padId = m.chat->padId();
        for (const auto &c : m_golden["byte_pieces"]) {
            const auto p = m.chat->prompt(c["question"].get<std::string>()).ids;
            QVERIFY(p == c["prompt_ids"].get<std::vector<int>>());
            auto pixels = m.images->get(kImages + c["image"].get<std::string>()).unsqueeze(0);
            const auto ids = se::eval::generate(*m.net, pixels, {p}, o).front();
            QVERIFY(ids == c["greedy_ids"].get<std::vector<int>>());
            QCOMPARE(QByteArray::fromStdString(m.chat->decode(ids)),
                     QByteArray::fromStdString(c["greedy_text"].get<std::string>()));
        }
        const auto &c = m_golden["byte_pieces"][1]; // its answer holds U+0001 and U+FFFD
        const QStringList ask{"ask",
                              "--model",
                              QString::fromStdString(folder("bytes")),
                              "--image",
                              QString::fromStdString(kImages + c["image"].get<std::string>()),
                              "--question",
                              QString::fromStdString(c["question"].get<std::string>()),
                              "--greedy",
                              "--max-new-tokens",
                              "16"};
        const Cli j = run(SE_CLI_PATH, ask + QStringList{"--json"});
        QVERIFY2(j.code == 0, j.err.constData());
        QCOMPARE(json::parse(j.out.toStdString())["answer"].get<std::string>(), c["greedy_text"].get<std::string>());
        const Cli plain = run(SE_CLI_PATH, ask);
        QVERIFY2(plain.code == 0, plain.err.constData());
        QVERIFY2(!plain.out.contains('\x01') && plain.out.contains("\\x01") && plain.out.contains("\xEF\xBF\xBD"),
                 plain.out.constData());
    }

    void everyOutputIsUtf8WhateverTheModelSays()
    {
        // The byte-favouring model's answers (byte runs that are not UTF-8, control characters) through an evaluation
        // judged by a real local chat-completions server, the store, report and every export format: all valid
        // UTF-8, the judge's requests too.
        if (!QFile::exists(QString::fromStdString(folder("bytes") + "/config.json")))
            make("bytes", {"--byte-pieces"});
        se::testing::ChatServer server;
        const quint16 port = server.start();
        const QString store = m_dir.filePath("bytes.sqlite");
        const Cli e = run(SE_CLI_PATH, {"evaluate", "--store", store, "--data", QString::fromStdString(folder("bench")),
                                        "--model", QString::fromStdString(folder("bytes")), "--subset", "1", "--greedy",
                                        "--max-new-tokens", "16", "--judge", "llm", "--llm-url",
                                        QString("http://127.0.0.1:%1/v1").arg(port), "--llm-model", "judge-test"});
        QVERIFY2(e.code == 0, e.err.constData());
        const QString id = QString::fromUtf8(e.out).trimmed();
        QVERIFY(server.requests > 0);
        QCOMPARE(int(server.notUtf8), 0);
        bool replaced = false;
        for (const QStringList &args :
             {QStringList{"report", "--store", store, "--json"}, QStringList{"report", "--store", store},
              QStringList{"export", "--store", store, "--run", id, "--format", "csv", "--out", m_dir.filePath("x.csv")},
              QStringList{"export", "--store", store, "--run", id, "--format", "json", "--out",
                          m_dir.filePath("x.json")},
              QStringList{"export", "--store", store, "--run", id, "--format", "safeeraser", "--out",
                          m_dir.filePath("x-val.json")}}) {
            const Cli r = run(SE_CLI_PATH, args);
            QVERIFY2(r.code == 0, (args.join(' ') + ": " + r.err).toUtf8().constData());
            QByteArray out = r.out;
            if (args.contains("--out")) {
                QFile f(args.last());
                QVERIFY(f.open(QIODevice::ReadOnly));
                out = f.readAll();
            }
            QVERIFY2(se::text::isValidUtf8(out.toStdString()), qPrintable(args.join(' ')));
            replaced = replaced || out.contains("\xEF\xBF\xBD") || out.contains("\\ufffd");
        }
        QVERIFY(replaced); // the model did say bytes that are not UTF-8
    }

    void folderSavedByTransformers5()
    {
        // What transformers 5's save_pretrained writes (tests/llava/transformers5: tokenizer.json and no
        // tokenizer.model, processor_config.json and no preprocessor_config.json, rope_parameters), with the v5
        // fixture's weights: loaded, scored and answered as transformers does from that folder.
        const QString dir = m_dir.filePath("saved5");
        QDir().mkpath(dir);
        for (const auto &e : fs::directory_iterator(kSource + "/tests/llava/transformers5"))
            QVERIFY(QFile::copy(QString::fromStdString(e.path().string()),
                                dir + "/" + QString::fromStdString(e.path().filename().string())));
        QVERIFY(QFile::copy(QString::fromStdString(folder("v5") + "/model.safetensors"), dir + "/model.safetensors"));
        QVERIFY(!QFile::exists(dir + "/tokenizer.model") && !QFile::exists(dir + "/preprocessor_config.json"));
        auto m = se::model::loadModel(dir.toStdString());
        QCOMPARE(m.info["tokenizer"], std::string("tokenizer.json"));
        for (const auto &c : m_golden["transformers5_cases"]) {
            const auto ex = m.chat->example(c["question"].get<std::string>(), c["answer"].get<std::string>());
            QVERIFY(ex.ids == c["input_ids"].get<std::vector<int>>());
            QCOMPARE(ex.answerStart, c["answer_start"].get<int>());
            const auto lp = scoreCase(m, c);
            const auto want = c["logprobs"].get<std::vector<double>>();
            for (size_t i = 0; i < lp.size(); ++i)
                QVERIFY(std::abs(lp[i] - want[i]) < 1e-4);
        }
        // The CLI on it: ask greedy gives transformers' continuation.
        const auto &c = m_golden["transformers5_cases"][0];
        const Cli a = run(SE_CLI_PATH, {"ask", "--model", dir, "--image",
                                        QString::fromStdString(kImages + c["image"].get<std::string>()), "--question",
                                        QString::fromStdString(c["question"].get<std::string>()), "--greedy",
                                        "--max-new-tokens", "12", "--json"});
        QVERIFY2(a.code == 0, a.err.constData());
        QVERIFY(json::parse(a.out.toStdString())["answer_ids"].get<std::vector<int>>() ==
                c["greedy_ids"].get<std::vector<int>>());
    }

    void scoreMatchesGolden()
    {
        auto m = se::model::loadModel(folder("v5"));
        for (const auto &c : m_golden["cases"]) {
            const auto ex = m.chat->example(c["question"].get<std::string>(), c["answer"].get<std::string>());
            QVERIFY(ex.ids == c["input_ids"].get<std::vector<int>>());
            QCOMPARE(ex.answerStart, c["answer_start"].get<int>());
            QCOMPARE(m.chat->promptText(c["question"].get<std::string>()), c["prompt"].get<std::string>());
            const auto lp = scoreCase(m, c);
            const auto want = c["logprobs"].get<std::vector<double>>();
            QCOMPARE(lp.size(), want.size());
            for (size_t i = 0; i < lp.size(); ++i)
                QVERIFY2(std::abs(lp[i] - want[i]) < 1e-4,
                         (std::to_string(lp[i]) + " vs " + std::to_string(want[i])).c_str());
        }
    }

    void greedyMatchesGoldenCachedAndUncached()
    {
        auto m = se::model::loadModel(folder("v5"));
        se::eval::GenerateOptions o;
        o.greedy = true;
        o.maxNewTokens = 12;
        o.eosId = m.chat->eosId();
        o.padId = m.chat->padId();
        std::vector<std::vector<int>> prompts;
        std::vector<std::string> files;
        for (const auto &c : m_golden["cases"]) {
            const auto p = m.chat->prompt(c["question"].get<std::string>()).ids;
            auto pixels = m.images->get(kImages + c["image"].get<std::string>()).unsqueeze(0);
            o.useCache = true;
            const auto cached = se::eval::generate(*m.net, pixels, {p}, o).front();
            o.useCache = false;
            const auto uncached = se::eval::generate(*m.net, pixels, {p}, o).front();
            QVERIFY(cached == c["greedy_ids"].get<std::vector<int>>());
            QVERIFY(uncached == cached);
            QCOMPARE(m.chat->decode(cached), c["greedy_text"].get<std::string>());
            prompts.push_back(p);
            files.push_back(kImages + c["image"].get<std::string>());
        }
        // One left-padded batch gives what each prompt gives alone.
        o.useCache = true;
        const auto batched = se::eval::generate(*m.net, m.images->batch(files), prompts, o);
        const auto want = m_golden["batch_greedy"]["greedy_ids"].get<std::vector<std::vector<int>>>();
        QCOMPARE(batched.size(), want.size());
        for (size_t i = 0; i < batched.size(); ++i)
            QVERIFY(batched[i] == want[i]);
    }

    void namingsShardsAndDtypesAgree()
    {
        auto ref = se::model::loadModel(folder("v5"));
        auto v4 = se::model::loadModel(folder("v4-sharded"));
        QCOMPARE(ref.info["weights_naming"], std::string("transformers-5"));
        QCOMPARE(v4.info["weights_naming"], std::string("transformers-4"));
        auto f16 = se::model::loadModel(folder("v5-f16"));
        auto bf16 = se::model::loadModel(folder("v4-bf16"));
        for (const auto &c : m_golden["cases"]) {
            const auto a = scoreCase(ref, c), b = scoreCase(v4, c), h = scoreCase(f16, c), g = scoreCase(bf16, c);
            for (size_t i = 0; i < a.size(); ++i) {
                QCOMPARE(a[i], b[i]); // the same float32 weights under the other names: identical
                // f16 / bf16 files are roundings of the same weights, computed in float32 here; the reference
                // measured at most 0.018 and 0.23 of difference.
                QVERIFY(std::abs(a[i] - h[i]) < 0.05);
                QVERIFY(std::abs(a[i] - g[i]) < 0.5);
            }
        }
    }

    void bfloat16WeightsOnTheCpu()
    {
        se::model::LoadOptions o;
        o.dtype = torch::kBFloat16;
        auto m = se::model::loadModel(folder("v5"), o);
        QCOMPARE(m.net->dtype(), torch::kBFloat16);
        const auto &c = m_golden["cases"][0];
        const auto lp = scoreCase(m, c);
        const auto want = c["logprobs"].get<std::vector<double>>();
        for (size_t i = 0; i < lp.size(); ++i)
            QVERIFY(std::abs(lp[i] - want[i]) < 0.5);
    }

    void errorsNameFileAndReason_data()
    {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing shard") << "rm model-00002-of-00003.safetensors"
                                       << "model-00002-of-00003.safetensors: shard listed";
        QTest::newRow("truncated shard") << "truncate model-00001-of-00003.safetensors"
                                         << "truncated";
        QTest::newRow("tensor missing") << "drop language_model.model.norm.weight"
                                        << "tensor 'language_model.model.norm.weight' is missing";
        QTest::newRow("wrong shape") << "reshape language_model.lm_head.weight"
                                     << "has shape [512, 32], expected [512, 64]";
        QTest::newRow("unsupported dtype") << "int language_model.lm_head.weight"
                                           << "dtype I32";
        QTest::newRow("unknown architecture") << "config model_type mistral"
                                              << "architecture 'mistral' is not supported";
        QTest::newRow("config field out of range") << "config hidden 0"
                                                   << "text_config.hidden_size: 0 is out of range";
        QTest::newRow("pickle only") << "pickle"
                                     << "pickle checkpoint";
        QTest::newRow("no tokenizer") << "rm tokenizer.model"
                                      << "tokenizer.model: missing";
        QTest::newRow("corrupt tokenizer") << "corrupt tokenizer.model"
                                           << "not a SentencePiece model";
        // Found by a hostile probe: an added token past the embedding was LibTorch's "index out of range in self".
        QTest::newRow("added token past the vocabulary") << "added 99999"
                                                         << "token id 99999 is beyond the model's vocabulary of 512";
    }

    void errorsNameFileAndReason()
    {
        QFETCH(QString, damage);
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        const fs::path dir = tmp.filePath("m").toStdString();
        fs::copy(folder("v4-sharded"), dir, fs::copy_options::recursive);
        const auto words = damage.split(' ');
        const std::string what = words[0].toStdString(), arg = words.size() > 1 ? words[1].toStdString() : "";
        auto rewrite = [&](const std::string &tensor, auto &&change) {
            // Find the shard holding `tensor` and rewrite it with our own safetensors writer.
            for (const auto &e : fs::directory_iterator(dir)) {
                if (e.path().extension() != ".safetensors")
                    continue;
                auto st = se::model::readSafeTensors(e.path().string());
                if (!st.find(tensor))
                    continue;
                change(st);
                se::model::writeSafeTensors(e.path().string(), st);
            }
        };
        if (what == "rm") {
            fs::remove(dir / arg);
        } else if (what == "truncate") {
            fs::resize_file(dir / arg, fs::file_size(dir / arg) - 100);
        } else if (what == "drop") {
            rewrite(arg, [&](se::model::SafeTensors &st) {
                st.tensors.erase(
                    std::remove_if(st.tensors.begin(), st.tensors.end(), [&](const auto &t) { return t.first == arg; }),
                    st.tensors.end());
            });
            // The index must not name it either, or the loader reports the index's inconsistency instead.
            std::ifstream in(dir / "model.safetensors.index.json");
            json idx = json::parse(in);
            idx["weight_map"].erase(arg);
            std::ofstream(dir / "model.safetensors.index.json") << idx.dump();
        } else if (what == "reshape") {
            rewrite(arg, [&](se::model::SafeTensors &st) {
                for (auto &t : st.tensors)
                    if (t.first == arg)
                        t.second = t.second.slice(1, 0, 32).contiguous();
            });
        } else if (what == "int") {
            rewrite(arg, [&](se::model::SafeTensors &st) {
                for (auto &t : st.tensors)
                    if (t.first == arg)
                        t.second = t.second.to(torch::kInt);
            });
        } else if (what == "config") {
            std::ifstream in(dir / "config.json");
            json cfg = json::parse(in);
            if (arg == "model_type")
                cfg["model_type"] = words[2].toStdString();
            else
                cfg["text_config"]["hidden_size"] = 0;
            std::ofstream(dir / "config.json") << cfg.dump();
        } else if (what == "pickle") {
            for (const auto &e : fs::directory_iterator(dir))
                if (e.path().string().find("model") != std::string::npos &&
                    e.path().string().find("safetensors") != std::string::npos)
                    fs::remove(e.path());
            std::ofstream(dir / "pytorch_model.bin") << "not unpickled";
        } else if (what == "corrupt") {
            std::ofstream(dir / arg, std::ios::trunc) << "\xff\xff\xff garbage";
        } else if (what == "added") {
            std::ifstream in(dir / "tokenizer_config.json");
            json cfg = json::parse(in);
            cfg["added_tokens_decoder"][arg] = {{"content", "<far>"}, {"lstrip", false},      {"normalized", false},
                                                {"rstrip", false},    {"single_word", false}, {"special", true}};
            std::ofstream(dir / "tokenizer_config.json") << cfg.dump();
        }
        try {
            se::model::loadModel(dir.string());
            QFAIL("loaded a damaged model");
        } catch (const std::runtime_error &e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find(expected.toStdString()) != std::string::npos, msg.c_str());
            QVERIFY2(msg.find(dir.string()) != std::string::npos, msg.c_str()); // names the file
        }
    }

    void unlearningWritesPeftAdapters_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<bool>("pd");
        for (const std::string &m : se::unlearn::methodNames()) // every row of the method table
            for (bool pd : {false, true})
                QTest::newRow((m + (pd ? "+pd" : "")).c_str()) << QString::fromStdString(m) << pd;
    }

    void unlearningWritesPeftAdapters()
    {
        QFETCH(QString, method);
        QFETCH(bool, pd);
        se::engine::UnlearnConfig c;
        c.dataDir = folder("bench");
        c.modelFile = folder("v4-sharded");
        c.method = *se::unlearn::parseMethod(method.toStdString());
        c.pd = pd;
        c.train.steps = 2;
        c.train.batchSize = 2;
        c.train.lr = 1e-3;
        c.outFile = folder("adapter-") + method.toStdString() + (pd ? "-pd" : "");
        const auto r = se::engine::unlearn(c);
        QVERIFY2(r.status == se::engine::RunStatus::Finished, r.message.c_str());
        if (method == "kl") { // the adapters-off reference equals the model before the first step
            double kl = -1;
            for (const auto &[name, v] : r.firstLosses)
                if (name == "kl")
                    kl = v;
            QVERIFY2(std::abs(kl) < 1e-6, std::to_string(kl).c_str());
        }
        // Only adapters and the projector are in the folder, in PEFT's names and the base folder's naming.
        se::model::MappedSafeTensors st(c.outFile + "/adapter_model.safetensors");
        int loraA = 0;
        for (const auto &e : st.entries()) {
            QVERIFY2(e.name.rfind("base_model.model.", 0) == 0, e.name.c_str());
            const bool lora = e.name.find(".lora_A.weight") != std::string::npos ||
                              e.name.find(".lora_B.weight") != std::string::npos;
            QVERIFY2(lora ? e.name.find("language_model.model.layers.") != std::string::npos
                          : e.name.find("multi_modal_projector.linear_") != std::string::npos,
                     e.name.c_str());
            loraA += e.name.find(".lora_A.weight") != std::string::npos;
            if (e.name.find(".lora_A.weight") != std::string::npos)
                QCOMPARE(e.shape[0], int64_t(32));
        }
        QCOMPARE(loraA, 2 * 7); // 2 layers × q k v o gate up down
        QCOMPARE(se::engine::savedModelMetadata(c.outFile).at("steps"), std::string("2"));

        // --adapter, and the adapter folded in by hand as W + (alpha / r)·B·A, give the same log-probabilities.
        auto adapted = se::model::loadModel(c.modelFile, [&] {
            se::model::LoadOptions o;
            o.adapterDir = c.outFile;
            return o;
        }());
        auto manual = se::model::loadModel(c.modelFile);
        {
            torch::NoGradGuard ng;
            auto params = manual.net->named_parameters();
            std::map<std::string, torch::Tensor> a, b;
            for (const auto &e : st.entries()) {
                std::string key = e.name.substr(std::string("base_model.model.").size());
                auto t = st.view(e).to(torch::kFloat);
                auto cut = [&](const std::string &suffix) {
                    return se::model::llavaCanonicalName(key.substr(0, key.size() - suffix.size()));
                };
                if (key.find(".lora_A.weight") != std::string::npos)
                    a[cut(".lora_A.weight")] = t;
                else if (key.find(".lora_B.weight") != std::string::npos)
                    b[cut(".lora_B.weight")] = t;
                else
                    params[se::model::llavaCanonicalName(key)].copy_(t);
            }
            for (const auto &[module, A] : a)
                params[module + ".weight"].add_(torch::matmul(b[module], A) * (256.0 / 32));
        }
        const auto &kase = m_golden["cases"][0];
        const auto x = scoreCase(adapted, kase), y = scoreCase(manual, kase), base = scoreCase(*m_base, kase);
        double moved = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            QVERIFY2(std::abs(x[i] - y[i]) < 1e-4, (std::to_string(x[i]) + " vs " + std::to_string(y[i])).c_str());
            moved = std::max(moved, std::abs(x[i] - base[i]));
        }
        QVERIFY(moved > 1e-4); // two steps at lr 1e-3 changed the model
    }

    void checkpointingGivesTheSameGradients()
    {
        // Activation checkpointing recomputes each decoder layer in backward: the same loss and the same gradients
        // of adapters and projector, with LoRA dropout on (the recompute restores the random state).
        auto m = se::model::loadModel(folder("v5"));
        se::model::LoraSpec spec = se::model::defaultLora(m);
        spec.dropout = 0.2;
        m.net->addAdapters(spec);
        std::vector<torch::Tensor> trainable = m.net->adapterParameters();
        for (auto &p : m.net->projectorParameters())
            trainable.push_back(p);
        {
            torch::NoGradGuard ng;
            for (auto &p : m.net->parameters())
                p.set_requires_grad(false);
            torch::manual_seed(3);
            for (auto &p : m.net->adapterParameters())
                p.normal_(0, 0.05); // B = 0 at the start would leave A without gradient
        }
        for (auto &p : trainable)
            p.set_requires_grad(true);
        m.net->train();
        const auto &kase = m_golden["cases"][0];
        const auto ex = m.chat->example(kase["question"].get<std::string>(), kase["answer"].get<std::string>());
        std::vector<int64_t> ids(ex.ids.begin(), ex.ids.end());
        auto idsT = torch::tensor(ids, torch::kLong).unsqueeze(0);
        auto pixels = m.images->get(kImages + kase["image"].get<std::string>()).unsqueeze(0);
        QVERIFY(m.net->setActivationCheckpointing(false)); // LLaVA supports it
        auto run = [&](bool checkpointed, uint64_t seed) {
            m.net->setActivationCheckpointing(checkpointed);
            for (auto &p : trainable)
                if (p.grad().defined())
                    p.mutable_grad().zero_();
            torch::manual_seed(seed);
            auto logits = m.net->headLogits(m.net->hidden(idsT, pixels, {}, {}, nullptr, 0));
            auto lp = logits.log_softmax(-1).slice(1, ex.answerStart - 1, int64_t(ids.size()) - 1);
            auto target = idsT.slice(1, ex.answerStart).unsqueeze(-1);
            auto loss = -lp.gather(-1, target).mean();
            loss.backward();
            std::vector<torch::Tensor> grads;
            for (auto &p : trainable)
                grads.push_back(p.grad().clone());
            return std::make_pair(loss.item<double>(), grads);
        };
        const auto plain = run(false, 11), checkpointed = run(true, 11), otherDropout = run(false, 12);
        QVERIFY2(std::abs(plain.first - otherDropout.first) > 1e-6,
                 "dropout does not change the loss: the test is blind");
        QVERIFY2(std::abs(plain.first - checkpointed.first) < 1e-6,
                 (std::to_string(plain.first) + " vs " + std::to_string(checkpointed.first)).c_str());
        double largest = 0;
        for (size_t i = 0; i < plain.second.size(); ++i) {
            QVERIFY2(torch::allclose(plain.second[i], checkpointed.second[i], 1e-4, 1e-6), std::to_string(i).c_str());
            largest = std::max(largest, plain.second[i].abs().max().item<double>());
        }
        QVERIFY(largest > 1e-4);
        m.net->setActivationCheckpointing(false);
    }

    void mergeAdapterWritesAFolderThatAgrees()
    {
        const std::string adapter = folder("adapter-po-pd"), base = folder("v4-sharded"), out = folder("merged");
        QVERIFY(fs::exists(adapter));
        const Cli m = run(SE_CLI_PATH, {"merge-adapter", "--model", QString::fromStdString(base), "--adapter",
                                        QString::fromStdString(adapter), "--out", QString::fromStdString(out)});
        QVERIFY2(m.code == 0, m.err.constData());
        QVERIFY2(m.out.contains("14 adapted weights merged, 4 replaced"), m.out.constData());
        QVERIFY(!fs::exists(out + ".partial"));
        // the same files, shards, tensor names and dtypes as the base
        std::set<std::string> baseFiles, outFiles;
        for (const auto &e : fs::directory_iterator(base))
            baseFiles.insert(e.path().filename().string());
        for (const auto &e : fs::directory_iterator(out))
            outFiles.insert(e.path().filename().string());
        QVERIFY(baseFiles == outFiles);
        se::model::HfWeights bw(base), ow(out);
        QVERIFY(bw.names() == ow.names());
        for (const auto &n : bw.names())
            QCOMPARE(QString::fromStdString(ow.entry(n).dtype), QString::fromStdString(bw.entry(n).dtype));
        // the merged folder, loaded plainly, scores as the base with the adapter applied
        auto adapted = se::model::loadModel(base, [&] {
            se::model::LoadOptions o;
            o.adapterDir = adapter;
            return o;
        }());
        auto merged = se::model::loadModel(out);
        for (const auto &kase : m_golden["cases"]) {
            const auto x = scoreCase(adapted, kase), y = scoreCase(merged, kase);
            QCOMPARE(x.size(), y.size());
            for (size_t i = 0; i < x.size(); ++i)
                QVERIFY2(std::abs(x[i] - y[i]) < 1e-4, (std::to_string(x[i]) + " vs " + std::to_string(y[i])).c_str());
        }
        // The adapter's keys are in the base's naming; merging into the other naming and float16 works too.
        const std::string out16 = folder("merged-f16");
        QCOMPARE(
            QString::fromStdString(se::engine::mergeAdapter(folder("v5-f16"), adapter, out16)).contains("14 adapted"),
            true);
        QCOMPARE(QString::fromStdString(se::model::HfWeights(out16).entry("lm_head.weight").dtype), QString("F16"));

        // Refusals: an existing folder, an input as the output, an adapter for another model; nothing is written.
        auto refuses = [&](const std::string &model, const std::string &ad, const std::string &o, const char *reason) {
            try {
                se::engine::mergeAdapter(model, ad, o);
                QFAIL(("merge into " + o + " did not fail").c_str());
            } catch (const std::runtime_error &e) {
                QVERIFY2(QString(e.what()).contains(reason), e.what());
            }
        };
        refuses(base, adapter, out, "exists and is not an empty folder");
        refuses(base, adapter, base, "is an input of the merge");
        refuses(base, adapter, adapter, "is an input of the merge");
        refuses(base, adapter, base + "/merged", "is inside an input of the merge"); // found by a hostile probe
        {
            // A link to a file outside the folder is not copied into the output; a Hugging Face cache's snapshot,
            // whose files link to its blobs, merges.
            const std::string linked = folder("linked-base");
            fs::create_directories(linked);
            for (const auto &e : fs::directory_iterator(base))
                fs::copy_file(e.path(), linked + "/" + e.path().filename().string());
            fs::create_symlink("/etc/hostname", linked + "/notes.txt");
            refuses(linked, adapter, folder("merged-x"), "outside the model folder");
            const std::string repo = folder("hub/models--tiny--llava");
            fs::create_directories(repo + "/blobs");
            fs::create_directories(repo + "/snapshots/abc");
            int n = 0;
            for (const auto &e : fs::directory_iterator(base)) {
                const std::string blob = repo + "/blobs/b" + std::to_string(n++);
                fs::copy_file(e.path(), blob);
                fs::create_symlink("../../blobs/" + fs::path(blob).filename().string(),
                                   repo + "/snapshots/abc/" + e.path().filename().string());
            }
            se::engine::mergeAdapter(repo + "/snapshots/abc", adapter, folder("merged-hub"));
            QVERIFY(fs::is_regular_file(folder("merged-hub") + "/config.json") &&
                    !fs::is_symlink(folder("merged-hub") + "/config.json"));
        }
        refuses(base, folder("nope"), folder("merged-x"), "not an adapter folder");
        refuses(kSource + "/tests/llava/images/wide.png", adapter, folder("merged-x"), "wide.png");
        QVERIFY(!fs::exists(folder("merged-x")) && !fs::exists(folder("merged-x.partial")));
        // an adapter whose shapes do not fit this model: the vision layers' size is not the language model's
        fs::create_directories(folder("bad-adapter"));
        fs::copy_file(adapter + "/adapter_config.json", folder("bad-adapter") + "/adapter_config.json");
        {
            se::model::SafeTensors st;
            st.tensors.emplace_back("base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight",
                                    torch::zeros({4, 7}));
            st.tensors.emplace_back("base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight",
                                    torch::zeros({9, 4}));
            se::model::writeSafeTensors(folder("bad-adapter") + "/adapter_model.safetensors", st);
        }
        refuses(base, folder("bad-adapter"), folder("merged-x"), "expected [r, ");
        QVERIFY(!fs::exists(folder("merged-x")) && !fs::exists(folder("merged-x.partial")));

        // Found by a hostile probe: PEFT settings this program does not apply were ignored (a rank_pattern adapter
        // merged at PEFT's default scale), and lora_alpha 3e38 merged into infinite weights. Each is refused by
        // name; a merge whose result overflows writes nothing.
        json config;
        {
            std::ifstream in(adapter + "/adapter_config.json");
            config = json::parse(in);
        }
        int variant = 0;
        auto withConfig = [&](const std::function<void(json &)> &edit) {
            const std::string dir = folder(("adapter-variant-" + std::to_string(variant++)).c_str());
            fs::create_directories(dir);
            fs::copy_file(adapter + "/adapter_model.safetensors", dir + "/adapter_model.safetensors");
            json c = config;
            edit(c);
            std::ofstream(dir + "/adapter_config.json") << c.dump(2);
            return dir;
        };
        refuses(base, withConfig([](json &c) {
                    c["rank_pattern"] = {{"q_proj", 8}};
                }),
                folder("merged-x"), "rank_pattern: per-module ranks");
        refuses(base, withConfig([](json &c) {
                    c["alpha_pattern"] = {{"v_proj", 64}};
                }),
                folder("merged-x"), "alpha_pattern");
        refuses(base, withConfig([](json &c) { c["use_dora"] = true; }), folder("merged-x"), "use_dora: DoRA");
        refuses(base, withConfig([](json &c) { c["layers_to_transform"] = {0}; }), folder("merged-x"),
                "layers_to_transform");
        refuses(base, withConfig([](json &c) { c["target_modules"] = "(unclosed"; }), folder("merged-x"),
                "target_modules: not a regular expression");
        refuses(base, withConfig([](json &c) { c["target_modules"] = "nothing_matches"; }), folder("merged-x"),
                "target_modules: does not match");
        refuses(base, withConfig([](json &c) { c["target_modules"] = {"o_proj"}; }), folder("merged-x"),
                "target_modules: does not match");
        refuses(base, withConfig([](json &c) { c["lora_alpha"] = 3e38; }), folder("merged-x"), "beyond ±1e6");
        refuses(base, withConfig([](json &c) { c["lora_alpha"] = -1e30; }), folder("merged-x"), "beyond ±1e6");
        // Finite factors whose product overflows float32: the merged result is checked.
        {
            const std::string dir = withConfig([](json &c) { c["lora_alpha"] = 1e6; });
            se::model::MappedSafeTensors in(dir + "/adapter_model.safetensors");
            se::model::SafeTensors st;
            for (const auto &e : in.entries())
                st.tensors.emplace_back(e.name, torch::full(e.shape, 1e30f));
            fs::remove(dir + "/adapter_model.safetensors");
            se::model::writeSafeTensors(dir + "/adapter_model.safetensors", st);
            refuses(base, dir, folder("merged-x"), "gives infinite weights");
            try {
                se::model::LoadOptions o;
                o.adapterDir = dir;
                se::model::loadModel(base, o);
                QFAIL("an adapter that overflows the weights was folded");
            } catch (const std::runtime_error &e) {
                QVERIFY2(QString(e.what()).contains("gives infinite weights"), e.what());
            }
        }
        // The same list a PEFT user writes is fine: names, or the suffix of a module's name.
        {
            const std::string dir = withConfig([](json &c) {
                c["target_modules"] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
                c["rank_pattern"] = json::object();
                c["use_dora"] = false;
            });
            se::model::LoadOptions o;
            o.adapterDir = dir;
            QVERIFY(se::model::loadModel(base, o).net);
        }
        QVERIFY(!fs::exists(folder("merged-x")) && !fs::exists(folder("merged-x.partial")));
    }

    void runEvaluatesTheLiveModel()
    {
        // A run's final evaluation runs on the model in memory (adapters on); the adapter it wrote, loaded from
        // disk, answers the same.
        QTemporaryDir tmp;
        se::engine::RunRequest r = tinyRun(tmp, se::unlearn::Method::GA, 2, 1);
        r.unlearn.train.lr = 5e-3;
        r.eval.subsetPerSet = 2;
        const auto out = se::engine::executeRun(r);
        QVERIFY2(out.status == se::store::RunStatus::Finished, out.message.c_str());
        se::store::RunStore store(r.storePath);
        const auto run = store.run(out.runId);
        const auto answers = store.answers(out.runId, "final");
        QVERIFY(!answers.empty());
        se::engine::Assistant fromDisk(folder("v5"), cpuWith(run->outputModel));
        std::vector<std::pair<std::string, std::string>> qs;
        for (const auto &a : answers)
            qs.emplace_back(a.image, a.question);
        se::engine::AskOptions greedy;
        greedy.greedy = true;
        const auto again = fromDisk.askMany(qs, greedy, 64);
        for (size_t i = 0; i < answers.size(); ++i)
            QCOMPARE(QString::fromStdString(again[i]), QString::fromStdString(answers[i].answer));
    }

    void describeAndPlanA7bShape()
    {
        make("7b-config", {"--shape", "7b", "--config-only"});
        const auto d = se::engine::describeModel(folder("7b-config"));
        QCOMPARE(d.architecture, std::string("llava"));
        QVERIFY(d.adapters);
        QVERIFY2(QString::fromStdString(d.summary).contains("32 layers × 4096 · CLIP 336 px (576 image tokens)"),
                 d.summary.c_str());
        se::engine::TrainOptions t = se::engine::UnlearnConfig::preset("paper");
        t.device = "cpu";
        const auto plan = se::engine::planMemory(folder("7b-config"), t, se::unlearn::Method::PO, true);
        // PEFT reports 79,953,920 trainable LoRA parameters for Llama-7B at r 32 on the seven projections; the
        // projector (1024→4096→4096, with biases) trains in full beside them.
        QCOMPARE(plan.trainableParameters, int64_t(79953920 + 20979712));
        QCOMPARE(plan.trainable, std::uint64_t(plan.trainableParameters) * 16);
        // The weights in the dtype the load will choose (float32 where it fits, else bfloat16: autoDtype).
        se::engine::ModelOptions cpu;
        cpu.device = "cpu";
        const auto load = se::engine::planModelLoad(folder("7b-config"), cpu);
        QCOMPARE(plan.dtype, load.dtype);
        QCOMPARE(plan.weights, std::uint64_t(d.parameters) * (load.dtype == "float32" ? 4 : 2));
        QCOMPARE(plan.reference, std::uint64_t(0)); // the reference is the adapters switched off
        QCOMPARE(plan.tokens, 512 + 576 - 1);
        QCOMPARE(plan.passes, 3); // refusals, retain, PD
        QCOMPARE(plan.microBatch, 4);
        // The paper preset checkpoints activations per layer: each layer's input plus one layer's activations.
        QVERIFY(plan.checkpointed);
        t.checkpointLayers = false;
        const auto full = se::engine::planMemory(folder("7b-config"), t, se::unlearn::Method::PO, true);
        QVERIFY(!full.checkpointed);
        QVERIFY2(plan.activations * 10 < full.activations, plan.describe().c_str());
        t.loraRank = 8;
        QCOMPARE(se::engine::planMemory(folder("7b-config"), t).trainableParameters, int64_t(79953920 / 4 + 20979712));
        se::engine::MemoryPlan small = plan;
        small.available = plan.certain() - 1;
        QVERIFY(!small.fits());
        small.available = plan.certain();
        QVERIFY(small.fits() && !small.comfortable());
        QVERIFY(QString::fromStdString(plan.describe()).contains("micro-batch 4 × 1087 tokens"));
        // A tiny folder: everything known, and it fits.
        const auto tiny = se::engine::planMemory(folder("v5"), t);
        QVERIFY(tiny.fits());
    }

    void resumeALlavaRunFromItsCurveAdapter()
    {
        // Interrupted after step 3 of 4 with curve adapters every 2 steps: the resumed run continues after step 2
        // from <out>.step (an adapter folder), under the same id, and finishes with an adapter.
        QTemporaryDir tmp;
        se::engine::RunRequest r = tinyRun(tmp, se::unlearn::Method::NPO, 4, 2);
        r.unlearn.train.progressEvery = 1;
        r.eval.maxNewTokens = 4;
        se::engine::CancelToken cancel;
        const auto first = se::engine::executeRun(
            r,
            [&](const se::engine::RunEvent &e) {
                if (e.kind == se::engine::RunEvent::Kind::Progress && e.step == 3)
                    cancel.cancel();
            },
            &cancel);
        QCOMPARE(first.status, se::store::RunStatus::Cancelled);
        se::store::RunStore store(r.storePath);
        const std::string out = store.run(first.runId)->outputModel;
        QCOMPARE(se::engine::savedModelMetadata(out + ".step").at("steps"), std::string("2"));

        se::engine::RunRequest again;
        again.storePath = r.storePath;
        again.resumeRun = first.runId;
        int firstStep = -1;
        const auto second = se::engine::executeRun(again, [&](const se::engine::RunEvent &e) {
            if (e.kind == se::engine::RunEvent::Kind::Progress && firstStep < 0)
                firstStep = e.step;
        });
        QVERIFY2(second.status == se::store::RunStatus::Finished, second.message.c_str());
        QCOMPARE(second.runId, first.runId);
        QCOMPARE(firstStep, 3);
        QCOMPARE(se::engine::savedModelMetadata(out).at("steps"), std::string("4"));
        QCOMPARE(se::engine::savedModelMetadata(out).at("status"), std::string("finished"));
        QCOMPARE(int(store.steps(first.runId).size()), 4);
    }

    void runFromModelPlusAdapter()
    {
        // A run from v5 + A₁ (A₁ itself a run's adapter: rank 8 on q_proj / v_proj): A₁ is folded into the weights,
        // the frozen reference is v5 + A₁ (KL 0 before the first step), and the run writes one adapter of v5 — A₁
        // and its own stacked, r 8 + 32 — that --adapter and merge-adapter turn into the run's model.
        QTemporaryDir tmp;
        se::engine::RunRequest first = tinyRun(tmp, se::unlearn::Method::GA, 2, 0);
        first.unlearn.train.lr = 5e-3;
        first.unlearn.train.loraRank = 8;
        first.unlearn.train.loraAlpha = 16;
        first.unlearn.train.loraTargets = {"q_proj", "v_proj"};
        const auto a = se::engine::executeRun(first);
        QVERIFY2(a.status == se::store::RunStatus::Finished, a.message.c_str());
        const std::string a1 = se::store::RunStore(first.storePath).run(a.runId)->outputModel;

        se::engine::UnlearnConfig c;
        c.dataDir = folder("bench");
        c.modelFile = folder("v5");
        c.adapter = a1;
        c.method = se::unlearn::Method::KL;
        c.train.steps = 2;
        c.train.batchSize = 2;
        c.train.lr = 5e-3;
        c.outFile = tmp.filePath("stacked").toStdString();
        const auto r = se::engine::unlearn(c);
        QVERIFY2(r.status == se::engine::RunStatus::Finished, r.message.c_str());
        for (const auto &[name, v] : r.firstLosses)
            if (name == "kl")
                QVERIFY2(std::abs(v) < 1e-6, std::to_string(v).c_str());
        {
            std::ifstream in(c.outFile + "/adapter_config.json");
            const json cfg = json::parse(in);
            QCOMPARE(cfg["r"].get<int>(), 40);
            QCOMPARE(cfg["lora_alpha"].get<double>(), 40.0);
            QCOMPARE(cfg["target_modules"].get<std::string>(),
                     std::string(".*language_model.*\\.(down_proj|gate_proj|k_proj|o_proj|q_proj|up_proj|v_proj)"));
            QCOMPARE(se::engine::savedModelMetadata(c.outFile).at("start_adapter"), a1);
        }
        // The live model, the stacked adapter applied to v5, and v5 merged with it score alike; all differ from
        // v5 + A₁ (the run moved) and from v5 (A₁ is in there).
        auto assistant = [&](const std::string &model, const std::string &adapter) {
            return std::make_unique<se::engine::Assistant>(model, cpuWith(adapter));
        };
        const auto &kase = m_golden["cases"][0];
        auto score = [&](se::engine::Assistant &m) {
            return m
                .score(kImages + kase["image"].get<std::string>(), kase["question"].get<std::string>(),
                       kase["answer"].get<std::string>())
                .logprobs;
        };
        const std::string merged = tmp.filePath("merged").toStdString();
        se::engine::mergeAdapter(folder("v5"), c.outFile, merged);
        const auto live = score(*r.model), x = score(*assistant(folder("v5"), c.outFile)),
                   y = score(*assistant(merged, {})), s0 = score(*assistant(folder("v5"), a1)),
                   p0 = score(*assistant(folder("v5"), {}));
        double fromStart = 0, fromPlain = 0;
        for (size_t i = 0; i < live.size(); ++i) {
            QVERIFY2(std::abs(live[i] - x[i]) < 1e-4,
                     (std::to_string(live[i]) + " vs " + std::to_string(x[i])).c_str());
            QVERIFY2(std::abs(live[i] - y[i]) < 1e-4,
                     (std::to_string(live[i]) + " vs " + std::to_string(y[i])).c_str());
            fromStart = std::max(fromStart, std::abs(live[i] - s0[i]));
            fromPlain = std::max(fromPlain, std::abs(s0[i] - p0[i]));
        }
        QVERIFY(fromStart > 1e-4 && fromPlain > 1e-4);

        // Resuming: the stacked folder loads back into a run's adapters on top of the folded A₁.
        {
            se::model::LoadOptions o;
            o.adapterDir = a1;
            auto resumed = se::model::loadModel(folder("v5"), o);
            auto *llava = dynamic_cast<se::model::LlavaImpl *>(resumed.net.get());
            QVERIFY(llava && llava->folded && llava->folded->rank == 8);
            resumed.net->addAdapters(se::model::defaultLora(resumed));
            se::model::loadAdapterFolder(*llava, c.outFile);
            const auto back = scoreCase(resumed, kase);
            QVERIFY(!back.empty() && back.size() <= live.size());
            for (size_t i = 0; i < back.size(); ++i)
                QVERIFY2(std::abs(live[i] - back[i]) < 1e-4,
                         (std::to_string(live[i]) + " vs " + std::to_string(back[i])).c_str());
        }

        // Through the run service and the CLI: the vanilla evaluation is of v5 + A₁ (its own), and an interrupted
        // run from v5 + A₁ resumes from its stacked curve checkpoint.
        se::engine::RunRequest second = tinyRun(tmp, se::unlearn::Method::NPO, 4, 2);
        second.unlearn.adapter = a1;
        second.unlearn.train.progressEvery = 1;
        second.eval.maxNewTokens = 4;
        se::engine::CancelToken cancel;
        const auto b = se::engine::executeRun(
            second,
            [&](const se::engine::RunEvent &e) {
                if (e.kind == se::engine::RunEvent::Kind::Progress && e.step == 3)
                    cancel.cancel();
            },
            &cancel);
        QCOMPARE(b.status, se::store::RunStatus::Cancelled);
        se::store::RunStore store(second.storePath);
        QVERIFY(b.vanillaRunId != a.vanillaRunId);
        QVERIFY2(QString::fromStdString(store.run(b.vanillaRunId)->name).startsWith("vanilla + "),
                 store.run(b.vanillaRunId)->name.c_str());
        se::engine::RunRequest again;
        again.storePath = second.storePath;
        again.resumeRun = b.runId;
        const auto resumedRun = se::engine::executeRun(again);
        QVERIFY2(resumedRun.status == se::store::RunStatus::Finished, resumedRun.message.c_str());
        QCOMPARE(se::engine::savedModelMetadata(store.run(b.runId)->outputModel).at("start_adapter"), a1);

        // Refused: LoRA on a projector the start adapter saved in full (it would be written twice).
        se::engine::UnlearnConfig bad = c;
        bad.outFile = tmp.filePath("bad").toStdString();
        bad.train.loraTargets = {"q_proj", "linear_1"};
        QString error;
        try {
            const auto br = se::engine::unlearn(bad);
            error = QString::fromStdString(br.status == se::engine::RunStatus::Finished ? "finished" : br.message);
        } catch (const std::exception &e) {
            error = e.what();
        }
        QVERIFY2(error.contains("saved the projector in full"), error.toUtf8().constData());
    }

    void runOnALlavaFolder()
    {
        QTemporaryDir tmp;
        const QString store = tmp.filePath("runs.sqlite");
        const Cli r = run(SE_CLI_PATH, {"run",
                                        "--store",
                                        store,
                                        "--data",
                                        QString::fromStdString(folder("bench")),
                                        "--model",
                                        QString::fromStdString(folder("v5")),
                                        "--method",
                                        "po",
                                        "--pd",
                                        "--steps",
                                        "2",
                                        "--batch",
                                        "2",
                                        "--eval-every",
                                        "1",
                                        "--subset",
                                        "1",
                                        "--greedy",
                                        "--lora-targets",
                                        "q_proj,v_proj",
                                        "--lora-rank",
                                        "8",
                                        "--lora-alpha",
                                        "16"});
        QVERIFY2(r.code == 0, r.err.constData());
        const QString adapter = store + ".models/run-" + QString::fromUtf8(r.out.trimmed()) + ".adapter";
        QVERIFY2(fs::exists(adapter.toStdString() + "/adapter_model.safetensors"), adapter.toUtf8().constData());
        { // the LoRA flags of `run` reach the adapter
            std::ifstream in(adapter.toStdString() + "/adapter_config.json");
            const json cfg = json::parse(in);
            QCOMPARE(cfg["r"].get<int>(), 8);
            QCOMPARE(cfg["lora_alpha"].get<double>(), 16.0);
            QCOMPARE(cfg["target_modules"].get<std::string>(), std::string(".*language_model.*\\.(q_proj|v_proj)"));
        }
        QVERIFY(
            fs::exists(adapter.toStdString() + ".step/adapter_config.json")); // the curve checkpoint is an adapter too
        { // `run --adapter`: a run from v5 + that adapter writes the two stacked (r 8 + 32)
            const Cli r2 = run(SE_CLI_PATH, {"run",
                                             "--store",
                                             store,
                                             "--data",
                                             QString::fromStdString(folder("bench")),
                                             "--model",
                                             QString::fromStdString(folder("v5")),
                                             "--adapter",
                                             adapter,
                                             "--method",
                                             "ga",
                                             "--steps",
                                             "1",
                                             "--batch",
                                             "2",
                                             "--subset",
                                             "1",
                                             "--greedy",
                                             "--max-new-tokens",
                                             "4"});
            QVERIFY2(r2.code == 0, r2.err.constData());
            std::ifstream in(store.toStdString() + ".models/run-" + r2.out.trimmed().toStdString() +
                             ".adapter/adapter_config.json");
            QCOMPARE(json::parse(in)["r"].get<int>(), 40);
        }
        const Cli s = run(SE_CLI_PATH,
                          {"score", "--model", QString::fromStdString(folder("v5")), "--adapter", adapter, "--image",
                           QString::fromStdString(kImages + "wide.png"), "--question", "q", "--answer", "a", "--json"});
        QVERIFY2(s.code == 0, s.err.constData());
        // `evaluate --adapter`: an evaluation of base + adapter of its own, reused only for the same adapter.
        auto evaluate = [&](const QStringList &extra) {
            const Cli e = run(SE_CLI_PATH, QStringList{"evaluate", "--store", store, "--data",
                                                       QString::fromStdString(folder("bench")), "--model",
                                                       QString::fromStdString(folder("v5")), "--subset", "1",
                                                       "--greedy", "--max-new-tokens", "4", "--quiet"} +
                                               extra);
            return e.code == 0 ? e.out.trimmed().toLongLong() : -1;
        };
        const qint64 withAdapter = evaluate({"--adapter", adapter});
        QVERIFY(withAdapter > 0);
        QCOMPARE(evaluate({"--adapter", adapter}), withAdapter); // reused
        const qint64 plain = evaluate({});
        QVERIFY(plain > 0 && plain != withAdapter);
        const Cli q = run(SE_CLI_PATH, {"quick-eval", "--model", QString::fromStdString(folder("v5")), "--adapter",
                                        adapter, "--data", QString::fromStdString(folder("bench")), "--limit", "1"});
        QVERIFY2(q.code == 0 && q.out.contains("forget 1: refused"), (q.out + q.err).constData());
        const Cli bad = run(SE_CLI_PATH, {"quick-eval", "--model", QString::fromStdString(folder("v5")), "--adapter",
                                          store, "--data", QString::fromStdString(folder("bench"))});
        QVERIFY2(bad.code != 0 && bad.err.contains("not an adapter folder"), bad.err.constData());
        const Cli rep = run(SE_CLI_PATH, {"report", "--store", store, "--json"});
        QVERIFY2(rep.code == 0 && rep.out.contains("finished"), rep.out.constData());
    }

    void cliAskAndScore()
    {
        const auto &c = m_golden["cases"][1];
        const QString model = QString::fromStdString(folder("v4-sharded"));
        const QString image = QString::fromStdString(kImages + c["image"].get<std::string>());
        const QString question = QString::fromStdString(c["question"].get<std::string>());
        const Cli a = run(SE_CLI_PATH, {"ask", "--model", model, "--image", image, "--question", question, "--greedy",
                                        "--max-new-tokens", "12", "--json"});
        QVERIFY2(a.code == 0, a.err.constData());
        const json aj = json::parse(a.out.toStdString());
        QVERIFY(aj["answer_ids"].get<std::vector<int>>() == c["greedy_ids"].get<std::vector<int>>());
        QCOMPARE(aj["answer"].get<std::string>(), c["greedy_text"].get<std::string>());

        const Cli s = run(SE_CLI_PATH, {"score", "--model", model, "--image", image, "--question", question, "--answer",
                                        QString::fromStdString(c["answer"].get<std::string>()), "--json"});
        QVERIFY2(s.code == 0, s.err.constData());
        const json sj = json::parse(s.out.toStdString());
        QCOMPARE(sj["prompt"].get<std::string>(), c["prompt"].get<std::string>());
        QVERIFY(sj["input_ids"] == c["input_ids"]);
        QCOMPARE(sj["answer_start"].get<int>(), c["answer_start"].get<int>());
        QVERIFY(std::abs(sj["sum_logprob"].get<double>() - c["sum_logprob"].get<double>()) < 1e-3);
        QVERIFY(std::abs(sj["mean_nll"].get<double>() - c["mean_nll"].get<double>()) < 1e-4);

        const Cli bad = run(SE_CLI_PATH, {"score", "--model", QString::fromStdString(folder("nope")), "--image", image,
                                          "--question", "q", "--answer", "a"});
        QVERIFY(bad.code != 0);
        QVERIFY2(bad.err.contains("no such file or folder"), bad.err.constData());
    }

    // A machine without an image decoder (the GPU build) takes LLaVA's images packed as the model takes them
    // (pack-images --model: CLIP's preprocessing), and they score as the golden values say; a plain pack (resized
    // only) is refused with the command that makes the right one.
    void packedImagesAsTheModelTakesThem()
    {
        const auto &c = m_golden["cases"][0];
        const QString model = QString::fromStdString(folder("v5"));
        const QString image = QString::fromStdString(kImages + c["image"].get<std::string>());
        const QString pack = m_dir.filePath("golden-pack.safetensors"), plain = m_dir.filePath("plain.safetensors");
        const Cli p = run(SE_CLI_PATH, {"pack-images", "--image", image, "--model", model, "--out", pack});
        QVERIFY2(p.code == 0, p.err.constData());
        QVERIFY2(p.out.contains("1 images as"), p.out.constData());
        const QStringList score = {"score",
                                   "--model",
                                   model,
                                   "--image",
                                   image,
                                   "--question",
                                   QString::fromStdString(c["question"].get<std::string>()),
                                   "--answer",
                                   QString::fromStdString(c["answer"].get<std::string>()),
                                   "--json"};
        const Cli s = run(SE_CLI_PATH, QStringList(score) << "--images" << pack);
        QVERIFY2(s.code == 0, s.err.constData());
        const auto lp = json::parse(s.out.toStdString())["logprobs"].get<std::vector<double>>();
        const auto want = c["logprobs"].get<std::vector<double>>();
        QCOMPARE(lp.size(), want.size());
        for (size_t i = 0; i < lp.size(); ++i)
            QVERIFY2(std::abs(lp[i] - want[i]) < 1e-4,
                     (std::to_string(lp[i]) + " vs " + std::to_string(want[i])).c_str());

        const Cli q = run(SE_CLI_PATH, {"pack-images", "--image", image, "--size", "30", "--out", plain});
        QVERIFY2(q.code == 0, q.err.constData());
        const Cli refused = run(SE_CLI_PATH, QStringList(score) << "--images" << plain);
        QVERIFY(refused.code != 0);
        QVERIFY2(refused.err.contains("plain.safetensors") && refused.err.contains("pack-images --model"),
                 refused.err.constData());
        // The pack is not written over the image it reads, nor without a source.
        const Cli over = run(SE_CLI_PATH, {"pack-images", "--image", image, "--model", model, "--out", image});
        QVERIFY(over.code != 0);
        const Cli none = run(SE_CLI_PATH, {"pack-images", "--model", model, "--out", m_dir.filePath("x.safetensors")});
        QVERIFY(none.code != 0);
        QVERIFY2(none.err.contains("--image"), none.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestLlava)
#include "test_llava.moc"
