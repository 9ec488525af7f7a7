// Safetensors files and checkpoints: round trips, and a clear refusal — naming the file and the reason — of
// truncated, corrupt and mismatched files. Also the model card and the tokenizer that checkpoints embed.
#include "tests/common/tinycard.h"
#include "core/model/checkpoint.h"
#include "core/model/safetensors.h"

#include <QTemporaryDir>
#include <QtTest>
#include <csignal>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fstream>
#include <sstream>

using namespace se::model;

namespace {
ModelCard tinyCard()
{
    return se::testing::tinyCard(1, 48, 16);
}
Tokenizer tinyTokenizer()
{
    return Tokenizer::build({"the cup is red . I cannot help with that ."});
}

std::string readAll(const std::string &f)
{
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
void writeAll(const std::string &f, const std::string &bytes)
{
    std::ofstream out(f, std::ios::binary | std::ios::trunc);
    out << bytes;
}
std::string headerOf(const std::string &bytes)
{
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
        n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
    return bytes.substr(8, n);
}
// Same data, new header (re-padded, length re-written).
std::string withHeader(const std::string &bytes, std::string header)
{
    const std::string data = bytes.substr(8 + headerOf(bytes).size());
    while (header.size() % 8)
        header.push_back(' ');
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[i] = char((header.size() >> (8 * i)) & 0xff);
    return out + header + data;
}
std::string replaced(std::string s, const std::string &from, const std::string &to)
{
    const auto p = s.find(from);
    if (p != std::string::npos)
        s.replace(p, from.size(), to);
    return s;
}
} // namespace

class TestCheckpoint : public QObject
{
    Q_OBJECT
    QTemporaryDir m_dir;
    std::string m_good;

    std::string path(const char *name) const { return m_dir.filePath(name).toStdString(); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_good = path("good.safetensors");
        Checkpoint c;
        c.card = tinyCard();
        c.tokenizer = tinyTokenizer();
        c.model = makeVlm(c.card, c.tokenizer.size(), 5);
        c.info["trained_by"] = "test";
        saveCheckpoint(m_good, c);
    }

    void safetensorsRoundTrip()
    {
        SafeTensors st;
        st.tensors.emplace_back("f", torch::arange(6, torch::kFloat).view({2, 3}));
        st.tensors.emplace_back("i", torch::tensor({int64_t(-1), int64_t(7)}));
        st.tensors.emplace_back("b", torch::tensor({1.5f, -2.0f}).to(torch::kBFloat16));
        st.tensors.emplace_back("empty", torch::zeros({0, 4}));
        st.metadata["k"] = "v";
        const auto f = path("rt.safetensors");
        writeSafeTensors(f, st);
        const auto bytes = readAll(f);
        QCOMPARE(headerOf(bytes).size() % 8, size_t(0));
        auto back = readSafeTensors(f);
        QCOMPARE(back.tensors.size(), size_t(4));
        QCOMPARE(back.metadata.at("k"), std::string("v"));
        for (size_t i = 0; i < 4; ++i) {
            QCOMPARE(back.tensors[i].first, st.tensors[i].first); // file order kept
            QVERIFY(back.tensors[i].second.equal(st.tensors[i].second));
        }
    }

    void checkpointRoundTrip()
    {
        Checkpoint c = loadCheckpoint(m_good);
        QCOMPARE(c.card.toJson(), tinyCard().toJson());
        QCOMPARE(c.tokenizer.toJson(), tinyTokenizer().toJson());
        QCOMPARE(c.info.at("trained_by"), std::string("test"));
        auto fresh = makeVlm(tinyCard(), tinyTokenizer().size(), 5);
        auto a = c.model->named_parameters();
        for (const auto &p : fresh->named_parameters())
            QVERIFY2(a[p.key()].equal(p.value()), p.key().c_str());
    }

    void loraIsFoldedIntoTheSavedWeights()
    {
        auto m = makeVlm(tinyCard(), tinyTokenizer().size(), 5);
        m->enableLora(4, 8, 0.0, {"q", "fc2"});
        {
            torch::NoGradGuard ng;
            for (auto &t : m->loraParameters())
                t.uniform_(-0.5, 0.5);
        }
        m->eval();
        auto ids = torch::tensor({int64_t(Tokenizer::Bos), int64_t(8), int64_t(9)}).unsqueeze(0);
        auto before = m->forward(ids, {});
        Checkpoint c;
        c.card = tinyCard();
        c.tokenizer = tinyTokenizer();
        c.model = m;
        const auto f = path("lora.safetensors");
        saveCheckpoint(f, c);
        auto back = loadCheckpoint(f);
        QVERIFY(torch::allclose(back.model->forward(ids, {}), before, 1e-4, 1e-5));
    }

    void refusals_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("reason");
        QTest::newRow("empty") << "empty"
                               << "shorter than the 8-byte header";
        QTest::newRow("truncated data") << "truncated"
                                        << "past the end of the file";
        QTest::newRow("truncated header") << "truncated-header"
                                          << "runs past the end";
        QTest::newRow("huge header length") << "huge"
                                            << "implausible";
        QTest::newRow("header of 20 MB") << "header20mb"
                                         << "header length 2097";
        QTest::newRow("metadata of 2 MB") << "metadata2mb"
                                          << "__metadata__ holds more than 1 MiB";
        QTest::newRow("header not JSON") << "garbage"
                                         << "header is not JSON";
        QTest::newRow("unknown dtype") << "dtype"
                                       << "unsupported dtype";
        QTest::newRow("bytes do not match shape") << "shape"
                                                  << "do not match its shape";
        QTest::newRow("trailing bytes") << "trailing"
                                        << "trailing bytes";
        QTest::newRow("not a checkpoint") << "nometa"
                                          << "not a SafeEraser checkpoint";
        QTest::newRow("card mismatch") << "card"
                                       << "has shape";
        QTest::newRow("card asks for 150 G parameters") << "hugecard"
                                                        << "describes at least 154618822656 parameters";
        QTest::newRow("missing tensor") << "missing"
                                        << "is missing";
        QTest::newRow("NaN weights") << "nan"
                                     << "NaN or infinite";
        QTest::newRow("missing file") << "nofile"
                                      << "cannot open";
    }
    void aCardMustBeARegularFile()
    {
        // Found by a hostile probe: train-vanilla --card FIFO blocked for ever.
        const std::string fifo = path("card.fifo");
        QVERIFY(::mkfifo(fifo.c_str(), 0600) == 0);
        try {
            ModelCard::load(fifo);
            QFAIL("read a card from a FIFO");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains("not a regular file"), e.what());
        }
    }

    void refusals()
    {
        QFETCH(QString, kind);
        QFETCH(QString, reason);
        const std::string good = readAll(m_good);
        const std::string f = path("bad.safetensors");
        std::string bytes = good;
        const std::string k = kind.toStdString();
        if (k == "empty")
            bytes = "abc";
        else if (k == "truncated")
            bytes = good.substr(0, good.size() - 100);
        else if (k == "truncated-header")
            bytes = good.substr(0, 40);
        else if (k == "huge")
            bytes[7] = char(0x7f);
        else if (k == "garbage")
            bytes = withHeader(good, "{not json");
        else if (k == "header20mb") // found by a hostile probe: a 100 MB header was read and its metadata copied
            bytes = withHeader(good, headerOf(good) + std::string(20u << 20, ' '));
        else if (k == "metadata2mb")
            bytes = withHeader(good, replaced(headerOf(good), "\"__metadata__\":{",
                                              "\"__metadata__\":{\"junk\":\"" + std::string(2u << 20, 'j') + "\","));
        else if (k == "dtype")
            bytes = withHeader(good, replaced(headerOf(good), "\"F32\"", "\"Q7\""));
        else if (k == "shape")
            bytes = withHeader(good, replaced(headerOf(good), "\"shape\":[32]", "\"shape\":[31]"));
        else if (k == "trailing")
            bytes = good + "xxxxxxxx";
        else if (k == "nometa")
            bytes = withHeader(good, replaced(headerOf(good), "safeeraser-checkpoint", "something-else"));
        else if (k == "card")
            bytes = withHeader(good, replaced(headerOf(good), "\\\"d_model\\\": 32", "\\\"d_model\\\": 16"));
        else if (k == "hugecard") // found by probing: the model was allocated (600 GB) before any tensor was checked
            bytes = withHeader(
                good, replaced(replaced(replaced(headerOf(good), "\\\"d_model\\\": 32", "\\\"d_model\\\": 8192"),
                                        "\\\"layers\\\": 1", "\\\"layers\\\": 64"),
                               "\\\"ff_mult\\\": 2", "\\\"ff_mult\\\": 16"));
        else if (k == "missing") {
            // Drop one tensor by renaming it to a name the model has not: reported as unexpected or missing.
            SafeTensors st = parseSafeTensors(good, "good");
            st.tensors.erase(st.tensors.begin());
            writeSafeTensors(f, st);
        } else if (k == "nan") {
            SafeTensors st = parseSafeTensors(good, "good");
            st.tensors.back().second.view(-1)[0] = NAN;
            writeSafeTensors(f, st);
        }
        if (k != "missing" && k != "nan")
            writeAll(f, bytes);
        const std::string target = k == "nofile" ? path("absent.safetensors") : f;
        QVERIFY2(bytes != good || k == "missing" || k == "nan" || k == "nofile", "the corruption did not apply");
        try {
            loadCheckpoint(target);
            QFAIL("a bad checkpoint loaded");
        } catch (const std::runtime_error &e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find(target) != std::string::npos, msg.c_str());
            QVERIFY2(msg.find(reason.toStdString()) != std::string::npos, msg.c_str());
        }
    }

    void aWriteThatFailsLeavesTheOldFile()
    {
        // The disk fills while a checkpoint is written over an older one: a clear error, the older file intact
        // and loadable, no temporary file left. (The file is written to <name>.tmp, synced and renamed.)
        const std::string f = path("over.safetensors");
        saveCheckpoint(f, loadCheckpoint(m_good));
        const std::string before = readAll(f);
        Checkpoint bigger = loadCheckpoint(m_good);
        bigger.info["note"] = std::string(1000, 'x');
        rlimit old{};
        ::getrlimit(RLIMIT_FSIZE, &old);
        rlimit small = old;
        small.rlim_cur = 4096; // this process may not grow a file past 4 KB (the checkpoint is ~55 KB)
        auto previous = std::signal(SIGXFSZ, SIG_IGN);
        ::setrlimit(RLIMIT_FSIZE, &small);
        QString error;
        try {
            saveCheckpoint(f, bigger);
        } catch (const std::runtime_error &e) {
            error = e.what();
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, previous);
        QVERIFY2(error.contains("write failed (disk full?)"), qPrintable(error));
        QCOMPARE(readAll(f), before);
        QVERIFY(!QFile::exists(QString::fromStdString(f + ".tmp")));
        QCOMPARE(loadCheckpoint(f).card.toJson(), tinyCard().toJson());
    }

    void modelCardChecksFields()
    {
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, ModelCard::fromJson("{\"heads\": 5}", "x.json"));
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, ModelCard::fromJson("[1]", "x.json"));
        try {
            ModelCard::fromJson("{\"d_model\": \"wide\"}", "card.json");
            QFAIL("accepted a string width");
        } catch (const std::runtime_error &e) {
            QVERIFY(std::string(e.what()).find("card.json") != std::string::npos);
        }
        const ModelCard shipped = ModelCard::load(std::string(SE_SOURCE_DIR) + "/models/builtin-tiny.json");
        QCOMPARE(shipped.toJson(), ModelCard().toJson()); // the built-in default is the shipped card
        QCOMPARE(shipped.imageTokens(), 16);
    }

    void tokenizer()
    {
        QCOMPARE(Tokenizer::split("I'm sorry, but no-one can't."),
                 (std::vector<std::string>{"I'm", "sorry", ",", "but", "no-one", "can't", "."}));
        const Tokenizer t = Tokenizer::build({"a b b c", "c c", ", ."});
        QCOMPARE(t.size(), int(Tokenizer::SpecialCount) + 5);
        QCOMPARE(t.id("c"), int(Tokenizer::SpecialCount)); // most frequent first
        QCOMPARE(t.id("zzz"), int(Tokenizer::Unk));
        QCOMPARE(t.decode(t.encode("a zzz")), std::string("a <unk>"));
        QCOMPARE(t.decode(t.encode("c b , a .")), std::string("c b, a."));
        auto ids = t.encode("a b");
        ids.push_back(Tokenizer::Eos);
        ids.push_back(t.id("c"));
        QCOMPARE(t.decode(ids), std::string("a b")); // stops at <eos>
        const Tokenizer back = Tokenizer::fromJson(t.toJson(), "x");
        QCOMPARE(back.toJson(), t.toJson());
        QVERIFY_THROWS_EXCEPTION(std::runtime_error,
                                 Tokenizer::fromJson("{\"type\":\"se-word\",\"tokens\":[\"a\"]}", "x"));
        const auto chat = chatPrompt(t, 3, "a b");
        QCOMPARE(chat.ids, (std::vector<int>{Tokenizer::Bos, Tokenizer::Image, Tokenizer::Image, Tokenizer::Image,
                                             Tokenizer::User, t.id("a"), t.id("b"), Tokenizer::Assistant}));
    }
};

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "test_checkpoint.moc"
