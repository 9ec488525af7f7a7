// Decoding an image file into the layout the models eat: RGB, channels-first, floats in [0, 1], resized to a
// square side. Built on OpenCV when the build has it; without OpenCV (the GPU machine) it reports that images
// must come pre-decoded. No LibTorch here: the engine wraps the floats in a tensor itself.
#pragma once

#include <string>
#include <vector>

namespace se::data {

// True when this build can decode image files itself.
bool haveImageDecoder();

// Decodes `file`, resizes it to size×size (area interpolation) and writes 3·size·size floats (R plane, G plane,
// B plane) to `chw`. Returns false with a reason in `error` on any failure; never throws.
bool decodeImageRgb(const std::string &file, int size, std::vector<float> &chw, std::string &error);

// An 8-bit RGB image, rows top to bottom, 3 bytes a pixel.
struct RgbImage {
    int width = 0, height = 0;
    std::vector<unsigned char> rgb;
};

// Decodes `file` at its own size into RGB as transformers' image processors see it (convert_to_rgb): greyscale
// replicated, transparency composited onto white with Pillow's arithmetic, EXIF orientation ignored. Same refusals
// and limits as decodeImageRgb; never throws.
bool decodeImageRgb8(const std::string &file, RgbImage &out, std::string &error);

} // namespace se::data
