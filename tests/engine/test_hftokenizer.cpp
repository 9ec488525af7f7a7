// A byte-level BPE tokenizer (Qwen2's pipeline: NFC, Qwen2's split pattern, GPT-2's byte map, ranked merges, added
// and special tokens split out first) read from tokenizer.json by the project's reader (core/model/hftokenizer.h),
// against the ids and texts transformers gives for the same files (tests/qwen2vl/make_tokenizer.py, the reference
// environment, wrote both): contractions in any case, digits one by one, NFC, Unicode spaces and separators
// (VT and U+0085 as Oniguruma's \s has them), CJK, emoji, code, special tokens inside text, and a lone byte.
#include "core/model/hftokenizer.h"
#include "core/model/unicodetext.h"
#include "core/util/text.h"

#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {
const std::string kSource = SE_SOURCE_DIR;

nlohmann::json golden()
{
    std::ifstream in(kSource + "/tests/qwen2vl/golden_tokenizer.json");
    return nlohmann::json::parse(in);
}

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
} // namespace

class TestHfTokenizer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        if (!se::model::unicode::available())
            QSKIP("this build has no ICU: byte-level tokenizers are refused (tested below where ICU is)");
    }

    void asTransformers()
    {
        const auto tok = se::model::HfTokenizer::fromFolder(kSource + "/tests/qwen2vl/tokenizer");
        const auto g = golden();
        int n = 0;
        for (const auto &c : g["cases"]) {
            const auto want = c["ids"].get<std::vector<int>>();
            if (c["text"].is_string()) {
                const std::string text = c["text"].get<std::string>();
                const auto got = tok->encode(text, true);
                QVERIFY2(got == want, qPrintable(QString("%1: %2 ids, want %3")
                                                     .arg(QString::fromStdString(se::text::quoted(text, 60)))
                                                     .arg(got.size())
                                                     .arg(want.size())));
                ++n;
            }
            QCOMPARE(tok->decode(want), c["decoded"].get<std::string>());
        }
        QVERIFY(n >= 15);
        QCOMPARE(tok->eosId(), tok->id("<|endoftext|>"));
        QCOMPARE(tok->bosId(), -1); // Qwen2 has none
    }

    void theByteMap()
    {
        // GPT-2's: printable Latin-1 stands for itself, the space is U+0120 "Ġ", newline U+010A "Ċ", and back.
        QCOMPARE(se::model::unicode::byteChar('a'), std::string("a"));
        QCOMPARE(se::model::unicode::byteChar(' '), std::string("\xC4\xA0"));
        QCOMPARE(se::model::unicode::byteChar('\n'), std::string("\xC4\x8A"));
        for (int b = 0; b < 256; ++b) {
            const std::string c = se::model::unicode::byteChar(static_cast<unsigned char>(b));
            char32_t cp = static_cast<unsigned char>(c[0]);
            if (c.size() == 2)
                cp = ((cp & 0x1F) << 6) | (static_cast<unsigned char>(c[1]) & 0x3F);
            QCOMPARE(se::model::unicode::charByte(cp), b);
        }
    }

    void unsupportedIsNamed_data()
    {
        QTest::addColumn<QString>("from");
        QTest::addColumn<QString>("to");
        QTest::addColumn<QString>("expected");
        QTest::newRow("behavior") << "\"behavior\": \"Isolated\""
                                  << "\"behavior\": \"Removed\""
                                  << "pre_tokenizer.pretokenizers[0].behavior: 'Removed' is not supported";
        QTest::newRow("invert") << "\"invert\": false"
                                << "\"invert\": true"
                                << "pre_tokenizer.pretokenizers[0].invert: true is not supported";
        QTest::newRow("bad regex") << "(?i:'s|"
                                   << "(?i:'s|(("
                                   << "pre_tokenizer.pretokenizers[0].pattern: the pattern does not compile";
        QTest::newRow("prefix space") << "\"add_prefix_space\": false" // the pre-tokenizer's comes first
                                      << "\"add_prefix_space\": true"
                                      << "pre_tokenizer.pretokenizers[1].add_prefix_space: true is not supported";
    }

    void unsupportedIsNamed()
    {
        QFETCH(QString, from);
        QFETCH(QString, to);
        QFETCH(QString, expected);
        std::string json = readFile(kSource + "/tests/qwen2vl/tokenizer/tokenizer.json");
        const auto at = json.find(from.toStdString());
        QVERIFY2(at != std::string::npos, qPrintable(from));
        json.replace(at, from.toStdString().size(), to.toStdString());
        try {
            se::model::HfTokenizer t(json, "{\"eos_token\": \"<|endoftext|>\"}", "", "tokenizer.json");
            QFAIL("accepted");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestHfTokenizer)
#include "test_hftokenizer.moc"
