#include "core/model/qwen2vlimage.h"

#include <tuple>

#include "core/model/smallfile.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace se::model {

using nlohmann::json;

Qwen2VlImageProcessor Qwen2VlImageProcessor::fromJson(const std::string &text, const std::string &origin)
{
    const json j = parseJsonObject(text, origin);
    auto fail = [&](const std::string &field, const std::string &why) {
        throw std::runtime_error(origin + ": " + field + ": " + why);
    };
    Qwen2VlImageProcessor p;
    p.origin = origin;
    // The resampling, rescale and normalisation settings are CLIP's keys; the size and crop are not used.
    json clip = j;
    clip.erase("size");
    clip.erase("crop_size");
    p.pixels = ClipPreprocessor::fromJson(clip.dump(), origin);
    p.pixels.doCenterCrop = false;
    p.pixels.shortestEdge = 0;
    p.pixels.origin = origin;
    auto count = [&](const json &v, const std::string &field, long long lo, long long hi) {
        if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
            fail(field, "not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return v.get<long long>();
    };
    constexpr long long kMostPixels = 1LL << 40;
    if (j.contains("size") && !j["size"].is_null()) {
        const json &s = j["size"];
        if (!s.is_object())
            fail("size", "not an object");
        for (const auto &[lo, hi] : {std::pair<const char *, const char *>{"shortest_edge", "longest_edge"},
                                     std::pair<const char *, const char *>{"min_pixels", "max_pixels"}}) {
            if (s.contains(lo))
                p.minPixels = count(s[lo], std::string("size.") + lo, 1, kMostPixels);
            if (s.contains(hi))
                p.maxPixels = count(s[hi], std::string("size.") + hi, 1, kMostPixels);
        }
    }
    if (j.contains("min_pixels") && !j["min_pixels"].is_null()) // transformers 4's keys win, as its processor's do
        p.minPixels = count(j["min_pixels"], "min_pixels", 1, kMostPixels);
    if (j.contains("max_pixels") && !j["max_pixels"].is_null())
        p.maxPixels = count(j["max_pixels"], "max_pixels", 1, kMostPixels);
    if (p.minPixels > p.maxPixels)
        fail("min_pixels", std::to_string(p.minPixels) + " is above max_pixels " + std::to_string(p.maxPixels));
    if (j.contains("patch_size"))
        p.patchSize = int(count(j["patch_size"], "patch_size", 1, 64));
    if (j.contains("temporal_patch_size"))
        p.temporalPatchSize = int(count(j["temporal_patch_size"], "temporal_patch_size", 1, 8));
    if (j.contains("merge_size"))
        p.mergeSize = int(count(j["merge_size"], "merge_size", 1, 8));
    return p;
}

std::pair<int, int> Qwen2VlImageProcessor::smartResize(int height, int width) const
{
    if (height < 1 || width < 1)
        throw std::runtime_error("an image of " + std::to_string(width) + "x" + std::to_string(height) + " pixels");
    const double factor = patchSize * mergeSize;
    if (double(std::max(height, width)) / std::min(height, width) > 200)
        throw std::runtime_error("an image of " + std::to_string(width) + "x" + std::to_string(height) +
                                 ": its aspect ratio is above 200, which Qwen2-VL's processor refuses");
    // Python's round: half to even (the default rounding mode of nearbyint).
    const int previous = std::fegetround();
    std::fesetround(FE_TONEAREST);
    double h = std::nearbyint(height / factor) * factor, w = std::nearbyint(width / factor) * factor;
    std::fesetround(previous);
    const double area = double(height) * width;
    if (h * w > double(maxPixels)) {
        const double beta = std::sqrt(area / double(maxPixels));
        h = std::max(factor, std::floor(height / beta / factor) * factor);
        w = std::max(factor, std::floor(width / beta / factor) * factor);
    } else if (h * w < double(minPixels)) {
        const double beta = std::sqrt(double(minPixels) / area);
        h = std::ceil(height * beta / factor) * factor;
        w = std::ceil(width * beta / factor) * factor;
    }
    if (h > 65536 || w > 65536)
        throw std::runtime_error("an image of " + std::to_string(width) + "x" + std::to_string(height) +
                                 " would be resized beyond 65536 pixels a side");
    return {int(h), int(w)};
}

std::vector<float> Qwen2VlImageProcessor::resized(const se::data::RgbImage &image, int &height, int &width) const
{
    std::tie(height, width) = smartResize(image.height, image.width);
    ClipPreprocessor c = pixels;
    c.doResize = true;
    c.resizeHeight = height;
    c.resizeWidth = width;
    return c.process(image);
}

std::vector<float> Qwen2VlImageProcessor::resizedFile(const std::string &file, int &height, int &width) const
{
    se::data::RgbImage img;
    std::string error;
    if (!se::data::decodeImageRgb8(file, img, error))
        throw std::runtime_error(error.find(file) == std::string::npos ? file + ": " + error : error);
    try {
        return resized(img, height, width);
    } catch (const std::runtime_error &e) { // smart_resize's refusal, named by the file
        throw std::runtime_error(file + ": " + e.what());
    }
}

std::string Qwen2VlImageProcessor::describe() const
{
    return "qwen2-vl pixels " + std::to_string(minPixels) + "-" + std::to_string(maxPixels) + " factor " +
           std::to_string(patchSize * mergeSize) + " " + pixels.describe();
}

Qwen2VlImageProcessor::Patches Qwen2VlImageProcessor::process(const se::data::RgbImage &image) const
{
    int h = 0, w = 0;
    const std::vector<float> chw = resized(image, h, w); // [3, h, w]
    Patches out;
    const int P = patchSize, M = mergeSize, T = temporalPatchSize;
    out.gridH = h / P;
    out.gridW = w / P;
    out.rowLength = 3 * T * P * P;
    out.values.resize(std::size_t(out.rows()) * std::size_t(out.rowLength));
    const std::size_t plane = std::size_t(h) * std::size_t(w);
    // Row ((bh · gw/M + bw) · M + mh) · M + mw holds patch (bh·M + mh, bw·M + mw); within it channel, frame, y, x.
    std::size_t row = 0;
    for (int bh = 0; bh < out.gridH / M; ++bh)
        for (int bw = 0; bw < out.gridW / M; ++bw)
            for (int mh = 0; mh < M; ++mh)
                for (int mw = 0; mw < M; ++mw, ++row) {
                    float *dst = out.values.data() + row * std::size_t(out.rowLength);
                    const int y0 = (bh * M + mh) * P, x0 = (bw * M + mw) * P;
                    for (int ch = 0; ch < 3; ++ch)
                        for (int t = 0; t < T; ++t)
                            for (int y = 0; y < P; ++y)
                                for (int x = 0; x < P; ++x)
                                    *dst++ = chw[std::size_t(ch) * plane + std::size_t(y0 + y) * std::size_t(w) +
                                                 std::size_t(x0 + x)];
                }
    return out;
}

Qwen2VlImageProcessor::Patches Qwen2VlImageProcessor::processFile(const std::string &file) const
{
    se::data::RgbImage img;
    std::string error;
    if (!se::data::decodeImageRgb8(file, img, error))
        throw std::runtime_error(error.find(file) == std::string::npos ? file + ": " + error : error);
    return process(img);
}

} // namespace se::model
