// Image perturbations for robustness audits (see perturb.h).
#include "core/data/perturb.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <stdexcept>

namespace se::data {

const std::vector<std::string> &perturbations()
{
    static const std::vector<std::string> kinds{"blank", "blur", "crop", "jpeg", "mirror"};
    return kinds;
}

std::string perturbedExtension(const std::string &kind)
{
    return kind == "jpeg" ? ".jpg" : ".png";
}

void writePerturbed(const std::string &source, const std::string &target, const std::string &kind)
{
    const cv::Mat in = cv::imread(source, cv::IMREAD_COLOR);
    if (in.empty())
        throw std::runtime_error(source + ": cannot read the image to perturb");
    cv::Mat out;
    const int shorter = std::min(in.cols, in.rows);
    if (kind == "blank") {
        out = cv::Mat(in.rows, in.cols, CV_8UC3, cv::Scalar(128, 128, 128));
    } else if (kind == "blur") {
        const double sigma = std::max(1.0, shorter / 40.0);
        cv::GaussianBlur(in, out, cv::Size(0, 0), sigma);
    } else if (kind == "crop") {
        const int w = std::max(1, in.cols * 6 / 10), h = std::max(1, in.rows * 6 / 10);
        out = in(cv::Rect((in.cols - w) / 2, (in.rows - h) / 2, w, h)).clone();
    } else if (kind == "jpeg") {
        out = in;
    } else if (kind == "mirror") {
        cv::flip(in, out, 1);
    } else {
        throw std::runtime_error("unknown image perturbation '" + kind + "' (blank, blur, crop, jpeg, mirror)");
    }
    std::vector<int> params;
    if (kind == "jpeg")
        params = {cv::IMWRITE_JPEG_QUALITY, 10};
    bool ok = false;
    try {
        ok = cv::imwrite(target, out, params);
    } catch (const cv::Exception &e) {
        throw std::runtime_error(target + ": cannot write the perturbed image: " + e.what());
    }
    if (!ok)
        throw std::runtime_error(target + ": cannot write the perturbed image");
}

} // namespace se::data
