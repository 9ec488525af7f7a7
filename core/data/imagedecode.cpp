// OpenCV-backed image decoding for the models (see imagedecode.h).
#include "core/data/imagedecode.h"
#include "core/data/imageheader.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdint>

namespace se::data {

bool haveImageDecoder()
{
    return true;
}

namespace {
// The image as 8-bit BGR, or an empty Mat with `error` set. What is not an image, or is too large, is refused from
// its header before OpenCV allocates for it.
cv::Mat readBgr(const std::string &file, int flags, std::string &error, bool anyChannels = false)
{
    const ImageInfo info = readImageHeader(file);
    if (!info.ok) {
        error = info.error;
        return {};
    }
    if (info.width * info.height > kDefaultDecodeMaxPixels) {
        error = "image too large to decode (" + std::to_string(info.width) + "x" + std::to_string(info.height) + ")";
        return {};
    }
    cv::Mat bgr;
    try {
        bgr = cv::imread(file, flags);
    } catch (const cv::Exception &e) {
        error = std::string("cannot decode image: ") + e.what();
        return {};
    }
    if (bgr.empty() || (anyChannels ? bgr.depth() != CV_8U : bgr.type() != CV_8UC3)) {
        error = "cannot decode image (corrupt or unsupported data)";
        return {};
    }
    return bgr;
}
} // namespace

bool decodeImageRgb(const std::string &file, int size, std::vector<float> &chw, std::string &error)
{
    if (size <= 0) {
        error = "image size must be positive";
        return false;
    }
    const cv::Mat bgr = readBgr(file, cv::IMREAD_COLOR, error);
    if (bgr.empty())
        return false;
    cv::Mat resized;
    cv::resize(bgr, resized, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    const size_t plane = size_t(size) * size;
    chw.assign(3 * plane, 0.f);
    for (int y = 0; y < size; ++y) {
        const cv::Vec3b *row = resized.ptr<cv::Vec3b>(y);
        for (int x = 0; x < size; ++x) {
            const size_t i = size_t(y) * size + x;
            chw[i] = row[x][2] / 255.f;             // R
            chw[plane + i] = row[x][1] / 255.f;     // G
            chw[2 * plane + i] = row[x][0] / 255.f; // B
        }
    }
    return true;
}

// One channel of a pixel with coverage `a` composited over white, as Pillow's alpha_composite computes it (integer
// arithmetic with 7 extra bits; checked against Pillow 13 for every value and coverage): white where a = 0.
unsigned char overWhite(unsigned c, unsigned a)
{
    if (a == 0)
        return 255;
    const std::uint32_t t = c * a * 128 + 255 * (255 - a) * 128 + (0x80 << 7);
    return static_cast<unsigned char>((((t >> 8) + t) >> 8) >> 7);
}

bool decodeImageRgb8(const std::string &file, RgbImage &out, std::string &error)
{
    // Channels as stored: transparency (an alpha channel, a palette's or a grey image's transparent entry, which the
    // PNG decoder expands to alpha) is composited onto white, as transformers' convert_to_rgb does since 4.5x;
    // greyscale is replicated. 16-bit images go through OpenCV's 8-bit colour conversion.
    cv::Mat img = readBgr(file, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION, error, true);
    if (img.empty()) {
        error.clear();
        img = readBgr(file, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION, error);
        if (img.empty())
            return false;
    }
    const int channels = img.channels();
    if (channels != 1 && channels != 3 && channels != 4) {
        error = "cannot decode image (" + std::to_string(channels) + " channels)";
        return false;
    }
    out.width = img.cols;
    out.height = img.rows;
    out.rgb.resize(size_t(out.width) * out.height * 3);
    for (int y = 0; y < out.height; ++y) {
        const unsigned char *row = img.ptr<unsigned char>(y);
        unsigned char *dst = out.rgb.data() + size_t(y) * out.width * 3;
        for (int x = 0; x < out.width; ++x, dst += 3) {
            const unsigned char *p = row + size_t(x) * channels;
            if (channels == 1) {
                dst[0] = dst[1] = dst[2] = p[0];
            } else if (channels == 3) {
                dst[0] = p[2];
                dst[1] = p[1];
                dst[2] = p[0];
            } else {
                dst[0] = overWhite(p[2], p[3]);
                dst[1] = overWhite(p[1], p[3]);
                dst[2] = overWhite(p[0], p[3]);
            }
        }
    }
    return true;
}

} // namespace se::data
