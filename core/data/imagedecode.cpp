// OpenCV-backed image decoding for the models (see imagedecode.h).
#include "core/data/imagedecode.h"
#include "core/data/imageheader.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace se::data {

bool haveImageDecoder() { return true; }

bool decodeImageRgb(const std::string &file, int size, std::vector<float> &chw, std::string &error)
{
    if (size <= 0) {
        error = "image size must be positive";
        return false;
    }
    // Refuse what is not an image, or too large, before OpenCV allocates for it.
    ImageInfo info = readImageHeader(file);
    if (!info.ok) {
        error = info.error;
        return false;
    }
    if (info.width * info.height > kDefaultDecodeMaxPixels) {
        error = "image too large to decode (" + std::to_string(info.width) + "x" + std::to_string(info.height) + ")";
        return false;
    }
    cv::Mat bgr;
    try {
        bgr = cv::imread(file, cv::IMREAD_COLOR);
    } catch (const cv::Exception &e) {
        error = std::string("cannot decode image: ") + e.what();
        return false;
    }
    if (bgr.empty()) {
        error = "cannot decode image (corrupt or unsupported data)";
        return false;
    }
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
    ImageInfo info = readImageHeader(file);
    if (!info.ok) {
        error = info.error;
        return false;
    }
    if (info.width * info.height > kDefaultDecodeMaxPixels) {
        error = "image too large to decode (" + std::to_string(info.width) + "x" + std::to_string(info.height) + ")";
        return false;
    }
    cv::Mat bgr;
    try {
        bgr = cv::imread(file, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
    } catch (const cv::Exception &e) {
        error = std::string("cannot decode image: ") + e.what();
        return false;
    }
    if (bgr.empty() || bgr.type() != CV_8UC3) {
        error = "cannot decode image (corrupt or unsupported data)";
        return false;
    }
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
