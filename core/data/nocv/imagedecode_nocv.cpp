// Image decoding in a build without OpenCV (the GPU machine): images must come pre-decoded
// (`safeeraser pack-images` on a machine with OpenCV writes them).
#include "core/data/imagedecode.h"

namespace se::data {

bool haveImageDecoder()
{
    return false;
}

bool decodeImageRgb(const std::string &file, int, std::vector<float> &, std::string &error)
{
    error = "this build has no image decoder (built without OpenCV); pass pre-decoded images: " + file;
    return false;
}

bool decodeImageRgb8(const std::string &file, RgbImage &, std::string &error)
{
    error = "this build has no image decoder (built without OpenCV); pass pre-decoded images: " + file;
    return false;
}

} // namespace se::data
