#include "core/model/clipimage.h"

#include <sstream>
#include "core/model/smallfile.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace se::model {

using nlohmann::json;
using se::data::RgbImage;

// ---------------------------------------------------------------------------------------------- Pillow's resampling

namespace {

double bicubic(double x)
{
    const double a = -0.5; // Pillow's bicubic uses a = -0.5
    x = std::fabs(x);
    if (x < 1)
        return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

double bilinear(double x)
{
    x = std::fabs(x);
    return x < 1 ? 1 - x : 0;
}

constexpr int kPrecisionBits = 32 - 8 - 2;

// For every output index: the first input index, how many inputs, and their fixed-point weights. Shrinking
// stretches the filter by the scale (that is the antialiasing).
struct Coefficients {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<int> weights; // outSize × ksize
};

Coefficients coefficients(int inSize, int outSize, int resample)
{
    const double support0 = resample == 3 ? 2.0 : 1.0;
    const double scale = double(inSize) / outSize;
    const double filterScale = std::max(scale, 1.0);
    const double support = support0 * filterScale;
    Coefficients c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.first.resize(outSize);
    c.count.resize(outSize);
    c.weights.assign(size_t(outSize) * c.ksize, 0);
    std::vector<double> k(c.ksize);
    for (int xx = 0; xx < outSize; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterScale;
        int xmin = static_cast<int>(center - support + 0.5); // C truncation, as Pillow
        if (xmin < 0)
            xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > inSize)
            xmax = inSize;
        xmax -= xmin;
        double ww = 0;
        for (int x = 0; x < xmax; ++x) {
            const double w =
                resample == 3 ? bicubic((x + xmin - center + 0.5) * ss) : bilinear((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? k[x] / ww : k[x];
            c.weights[size_t(xx) * c.ksize + x] = v < 0 ? static_cast<int>(-0.5 + v * (1 << kPrecisionBits))
                                                        : static_cast<int>(0.5 + v * (1 << kPrecisionBits));
        }
        c.first[xx] = xmin;
        c.count[xx] = xmax;
    }
    return c;
}

unsigned char clip8(int v)
{
    v >>= kPrecisionBits; // arithmetic shift: floor
    return static_cast<unsigned char>(std::clamp(v, 0, 255));
}

RgbImage resampleHorizontal(const RgbImage &in, int outW, int resample)
{
    const Coefficients c = coefficients(in.width, outW, resample);
    RgbImage out;
    out.width = outW;
    out.height = in.height;
    out.rgb.resize(size_t(outW) * in.height * 3);
    for (int y = 0; y < in.height; ++y) {
        const unsigned char *row = in.rgb.data() + size_t(y) * in.width * 3;
        unsigned char *dst = out.rgb.data() + size_t(y) * outW * 3;
        for (int xx = 0; xx < outW; ++xx) {
            const int *k = &c.weights[size_t(xx) * c.ksize];
            int s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < c.count[xx]; ++x) {
                const unsigned char *p = row + size_t(x + c.first[xx]) * 3;
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            dst[3 * xx] = clip8(s0);
            dst[3 * xx + 1] = clip8(s1);
            dst[3 * xx + 2] = clip8(s2);
        }
    }
    return out;
}

RgbImage resampleVertical(const RgbImage &in, int outH, int resample)
{
    const Coefficients c = coefficients(in.height, outH, resample);
    RgbImage out;
    out.width = in.width;
    out.height = outH;
    out.rgb.resize(size_t(in.width) * outH * 3);
    const size_t stride = size_t(in.width) * 3;
    for (int yy = 0; yy < outH; ++yy) {
        const int *k = &c.weights[size_t(yy) * c.ksize];
        unsigned char *dst = out.rgb.data() + size_t(yy) * stride;
        for (size_t i = 0; i < stride; ++i) {
            int s = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < c.count[yy]; ++y)
                s += in.rgb[size_t(y + c.first[yy]) * stride + i] * k[y];
            dst[i] = clip8(s);
        }
    }
    return out;
}

} // namespace

RgbImage pillowResize(const RgbImage &in, int width, int height, int resample)
{
    if (resample != 2 && resample != 3)
        throw std::runtime_error("resampling filter " + std::to_string(resample) +
                                 " is not supported (2 bilinear, 3 bicubic)");
    if (width < 1 || height < 1 || in.width < 1 || in.height < 1)
        throw std::runtime_error("cannot resize an empty image");
    RgbImage out = in;
    // Pillow (since 10.x): two passes, each only when needed, the horizontal one first — unless the height shrinks by
    // more than twice as many pixels as the width does, when the vertical pass goes first. Each pass rounds to 8
    // bits, so the order shows in the result (a 33×71 image to 30×64: up to 21 levels apart).
    const bool verticalFirst = in.height - height > 0 && in.height - height > 2 * (in.width - width);
    if (verticalFirst && height != in.height)
        out = resampleVertical(out, height, resample);
    if (width != in.width)
        out = resampleHorizontal(out, width, resample);
    if (!verticalFirst && height != in.height)
        out = resampleVertical(out, height, resample);
    return out;
}

RgbImage padToSquareImage(const RgbImage &in, const std::array<unsigned char, 3> &fill)
{
    if (in.width == in.height)
        return in;
    const int side = std::max(in.width, in.height);
    RgbImage out;
    out.width = out.height = side;
    out.rgb.resize(size_t(side) * side * 3);
    for (size_t i = 0; i < out.rgb.size(); i += 3)
        std::copy(fill.begin(), fill.end(), out.rgb.begin() + static_cast<long>(i));
    const int x0 = (side - in.width) / 2, y0 = (side - in.height) / 2;
    for (int y = 0; y < in.height; ++y)
        std::copy_n(in.rgb.begin() + static_cast<long>(size_t(y) * in.width * 3), size_t(in.width) * 3,
                    out.rgb.begin() + static_cast<long>((size_t(y + y0) * side + x0) * 3));
    return out;
}

// ---------------------------------------------------------------------------------------------- the processor

int ClipPreprocessor::outputHeight() const
{
    return doCenterCrop ? cropHeight : (resizeHeight ? resizeHeight : shortestEdge);
}
int ClipPreprocessor::outputWidth() const
{
    return doCenterCrop ? cropWidth : (resizeWidth ? resizeWidth : shortestEdge);
}

std::string ClipPreprocessor::describe() const
{
    std::ostringstream os;
    os.precision(9);
    os << "clip convert " << doConvertRgb << " resize " << doResize << " " << shortestEdge << " " << resizeHeight << "x"
       << resizeWidth << " resample " << resample << " crop " << doCenterCrop << " " << cropHeight << "x" << cropWidth
       << " rescale " << doRescale << " " << rescaleFactor << " normalize " << doNormalize << " mean " << mean[0] << ","
       << mean[1] << "," << mean[2] << " std " << std[0] << "," << std[1] << "," << std[2] << " pad " << padToSquare;
    return os.str();
}

ClipPreprocessor ClipPreprocessor::fromJson(const std::string &text, const std::string &origin)
{
    const json j = parseJsonObject(text, origin);
    auto fail = [&](const std::string &field, const std::string &why) -> void {
        throw std::runtime_error(origin + ": " + field + ": " + why);
    };
    ClipPreprocessor p;
    auto flag = [&](const char *key, bool &dst) {
        if (j.contains(key) && !j[key].is_null()) {
            if (!j[key].is_boolean())
                fail(key, "not true or false");
            dst = j[key].get<bool>();
        }
    };
    flag("do_convert_rgb", p.doConvertRgb);
    flag("do_resize", p.doResize);
    flag("do_center_crop", p.doCenterCrop);
    flag("do_rescale", p.doRescale);
    flag("do_normalize", p.doNormalize);
    auto side = [&](const json &v, const std::string &field) {
        if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 8192)
            fail(field, "not a size in [1, 8192]");
        return static_cast<int>(v.get<int64_t>());
    };
    if (j.contains("size")) {
        const json &s = j["size"];
        if (s.is_number())
            p.shortestEdge = side(s, "size");
        else if (s.is_object() && s.contains("shortest_edge"))
            p.shortestEdge = side(s["shortest_edge"], "size.shortest_edge");
        else if (s.is_object() && s.contains("height") && s.contains("width")) {
            p.shortestEdge = 0;
            p.resizeHeight = side(s["height"], "size.height");
            p.resizeWidth = side(s["width"], "size.width");
        } else
            fail("size", "neither a number, {shortest_edge} nor {height, width}");
    }
    if (j.contains("crop_size")) {
        const json &s = j["crop_size"];
        if (s.is_number())
            p.cropHeight = p.cropWidth = side(s, "crop_size");
        else if (s.is_object() && s.contains("height") && s.contains("width")) {
            p.cropHeight = side(s["height"], "crop_size.height");
            p.cropWidth = side(s["width"], "crop_size.width");
        } else
            fail("crop_size", "neither a number nor {height, width}");
    }
    if (j.contains("rescale_factor")) {
        if (!j["rescale_factor"].is_number() || !(j["rescale_factor"].get<double>() > 0))
            fail("rescale_factor", "not a positive number");
        p.rescaleFactor = j["rescale_factor"].get<double>();
    }
    auto triple = [&](const char *key, std::array<float, 3> &dst, bool positive) {
        if (!j.contains(key))
            return;
        const json &v = j[key];
        if (!v.is_array() || v.size() != 3)
            fail(key, "not a list of three numbers");
        for (int i = 0; i < 3; ++i) {
            if (!v[i].is_number() || (positive && !(v[i].get<double>() > 0)))
                fail(std::string(key) + "[" + std::to_string(i) + "]",
                     positive ? "not a positive number" : "not a number");
            dst[i] = v[i].get<float>();
        }
    };
    triple("image_mean", p.mean, false);
    triple("image_std", p.std, true);
    if (j.contains("resample")) {
        if (!j["resample"].is_number_integer())
            fail("resample", "not an integer");
        p.resample = j["resample"].get<int>();
        if (p.resample != 2 && p.resample != 3)
            fail("resample", std::to_string(p.resample) + " is not supported (2 bilinear, 3 bicubic)");
    }
    if (j.contains("image_aspect_ratio") && j["image_aspect_ratio"].is_string())
        p.padToSquare = j["image_aspect_ratio"].get<std::string>() == "pad";
    if (p.doResize && p.doCenterCrop && p.shortestEdge > 0 &&
        (p.shortestEdge < p.cropHeight || p.shortestEdge < p.cropWidth))
        fail("crop_size", "larger than size.shortest_edge, which is not supported");
    return p;
}

std::vector<float> ClipPreprocessor::process(const RgbImage &input) const
{
    RgbImage img = input;
    if (padToSquare) {
        std::array<unsigned char, 3> fill{};
        for (int c = 0; c < 3; ++c) // LLaVA: tuple(int(x * 255) for x in image_mean)
            fill[c] = static_cast<unsigned char>(std::clamp(static_cast<int>(mean[c] * 255), 0, 255));
        img = padToSquareImage(img, fill);
    }
    if (doResize) {
        int w = resizeWidth, h = resizeHeight;
        if (shortestEdge > 0) {
            // transformers' get_resize_output_image_size(default_to_square=False): short side → size,
            // long side → int(size · long / short).
            const bool wide = img.width > img.height;
            const int shortSide = wide ? img.height : img.width, longSide = wide ? img.width : img.height;
            const int newLong = static_cast<int>(static_cast<double>(int64_t(shortestEdge) * longSide) / shortSide);
            w = wide ? newLong : shortestEdge;
            h = wide ? shortestEdge : newLong;
        }
        img = pillowResize(img, w, h, resample);
    }
    int top = 0, left = 0, oh = img.height, ow = img.width;
    if (doCenterCrop) {
        if (img.height < cropHeight || img.width < cropWidth)
            throw std::runtime_error("image of " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                     " is smaller than the crop");
        top = (img.height - cropHeight) / 2;
        left = (img.width - cropWidth) / 2;
        oh = cropHeight;
        ow = cropWidth;
    }
    const size_t plane = size_t(oh) * ow;
    std::vector<float> out(3 * plane);
    for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
            const unsigned char *p = img.rgb.data() + (size_t(y + top) * img.width + (x + left)) * 3;
            for (int c = 0; c < 3; ++c) {
                float v = doRescale ? static_cast<float>(p[c] * rescaleFactor) : static_cast<float>(p[c]);
                if (doNormalize)
                    v = (v - mean[c]) / std[c];
                out[c * plane + size_t(y) * ow + x] = v;
            }
        }
    return out;
}

std::vector<float> ClipPreprocessor::processFile(const std::string &file) const
{
    RgbImage img;
    std::string error;
    if (!se::data::decodeImageRgb8(file, img, error))
        throw std::runtime_error(error.find(file) == std::string::npos ? file + ": " + error : error);
    return process(img);
}

} // namespace se::model
