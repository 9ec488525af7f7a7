// OpenCV-backed image decoding for the models (see imagedecode.h).
#include "core/data/imagedecode.h"
#include "core/data/imageheader.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace se::data {

bool haveImageDecoder()
{
    return true;
}

namespace {
// The image as 8-bit BGR, or an empty Mat with `error` set. What is not an image, or is too large, is refused from
// its header before OpenCV allocates for it.
cv::Mat readBgr(const std::string &file, int flags, std::string &error)
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
    if (bgr.empty() || bgr.type() != CV_8UC3) {
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

bool decodeImageRgb8(const std::string &file, RgbImage &out, std::string &error)
{
    const cv::Mat bgr = readBgr(file, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION, error);
    if (bgr.empty())
        return false;
    out.width = bgr.cols;
    out.height = bgr.rows;
    out.rgb.resize(size_t(out.width) * out.height * 3);
    for (int y = 0; y < out.height; ++y) {
        const cv::Vec3b *row = bgr.ptr<cv::Vec3b>(y);
        unsigned char *dst = out.rgb.data() + size_t(y) * out.width * 3;
        for (int x = 0; x < out.width; ++x) {
            dst[3 * x] = row[x][2];
            dst[3 * x + 1] = row[x][1];
            dst[3 * x + 2] = row[x][0];
        }
    }
    return true;
}

} // namespace se::data
