// CLIPImageProcessor as transformers runs it (SPEC §8), from a folder's `preprocessor_config.json`: RGB, resize so
// the shortest edge is `size.shortest_edge` with Pillow's bicubic resampling (its separable fixed-point filter,
// antialiased when shrinking — OpenCV's INTER_CUBIC is a different filter), centre crop (top = (h − crop) // 2),
// rescale, normalise with the mean and std; optionally first pad to a square with the mean colour (original
// LLaVA's `image_aspect_ratio: pad`). Plain C++, no LibTorch; the engine wraps the floats in a tensor.
#pragma once

#include "core/data/imagedecode.h"

#include <array>
#include <string>
#include <vector>

namespace se::model {

struct ClipPreprocessor {
    bool doConvertRgb = true, doResize = true, doCenterCrop = true, doRescale = true, doNormalize = true;
    int shortestEdge = 336; // resize target (0 with an exact height × width below)
    int resizeHeight = 0, resizeWidth = 0;
    int cropHeight = 336, cropWidth = 336;
    double rescaleFactor = 1.0 / 255;
    std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f}, std{0.26862954f, 0.26130258f, 0.27577711f};
    int resample = 3; // Pillow's numbering: 2 bilinear, 3 bicubic
    bool padToSquare = false;
    std::string origin; // the file the settings came from (errors name it)

    int outputHeight() const;
    int outputWidth() const;
    // Every setting that changes the pixels, in one line ("clip convert 1 resize 336 …"): packed images record it.
    std::string describe() const;
    // Parses preprocessor_config.json; throws naming the file and the field.
    static ClipPreprocessor fromJson(const std::string &json, const std::string &origin);
    // [3, outputHeight, outputWidth] floats, channels first. Throws naming the image on a decode failure.
    std::vector<float> process(const se::data::RgbImage &image) const;
    std::vector<float> processFile(const std::string &file) const;
};

// Pillow's Image.resize((width, height), BICUBIC or BILINEAR) on an 8-bit RGB image, bit for bit.
se::data::RgbImage pillowResize(const se::data::RgbImage &in, int width, int height, int resample);
// LLaVA's expand2square: the image centred on a square of `fill`.
se::data::RgbImage padToSquareImage(const se::data::RgbImage &in, const std::array<unsigned char, 3> &fill);

} // namespace se::model
