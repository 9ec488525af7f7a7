// Qwen2-VL's pieces against transformers (golden values written by tests/qwen2vl/make_image_golden.py in the
// reference environment): the image processor — smart_resize (Python's half-to-even rounding at 1.5 and 3.5 times
// 28, the shrinking and growing branches, the aspect-ratio refusal), Pillow's bicubic resampling, and the patches in
// 2 × 2 merge groups with the frame repeated — on the PNG pictures the LLaVA fixture uses.
#include "core/model/qwen2vlimage.h"

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
private Q_SLOTS:
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
