// Reading an image's format and dimensions from its first bytes, without decoding pixels, so the reader can
// check thousands of images quickly and refuse oversized ones before any decoder allocates for them.
// Knows PNG, JPEG, BMP, GIF and WebP.
#pragma once

#include <cstdint>
#include <string>

namespace se::data {

// The one pixel limit: an image above it is refused (reader, decoders, the workbench) without decoding it.
constexpr std::uint64_t kDefaultDecodeMaxPixels = 64ull * 1000 * 1000;

struct ImageInfo {
    bool ok = false;
    std::string format; // "png", "jpeg", "bmp", "gif", "webp"
    std::uint64_t width = 0, height = 0;
    std::uint64_t fileSize = 0;
    std::string error; // why not ok: missing, unreadable, empty, unknown format, truncated header…
};

ImageInfo readImageHeader(const std::string &file);
// Same, on bytes already in memory (the first bytes of a file; `fileSize` is the whole file's size).
ImageInfo parseImageHeader(const unsigned char *data, std::size_t n, std::uint64_t fileSize);

} // namespace se::data
