// Qwen2-VL's image processor as transformers runs it with Pillow (Qwen2VLImageProcessorPil; SPEC §10), from a
// folder's `preprocessor_config.json`: smart_resize to multiples of patch × merge (28) within [min_pixels,
// max_pixels], Pillow's bicubic resampling, rescale, CLIP's normalisation (ClipPreprocessor does those three), then
// the patches flattened in 2 × 2 merge groups with the frame repeated over the temporal patch: rows of
// 3 · 2 · 14 · 14 = 1176 values, grid (1, H / 14, W / 14). Plain C++, no LibTorch.
#pragma once

#include "core/model/clipimage.h"

#include <string>
#include <utility>
#include <vector>

namespace se::model {

struct Qwen2VlImageProcessor {
    int patchSize = 14, temporalPatchSize = 2, mergeSize = 2;
    long long minPixels = 56 * 56, maxPixels = 28 * 28 * 1280; // transformers' defaults; the hub's files say theirs
    ClipPreprocessor pixels;                                   // rescale, normalise, resampling (no crop)
    std::string origin;

    // preprocessor_config.json: min_pixels / max_pixels (transformers 4) or size {shortest_edge, longest_edge}
    // (transformers 5) or size {min_pixels, max_pixels}; patch_size, temporal_patch_size, merge_size, image_mean,
    // image_std, rescale_factor, resample, do_*. Throws naming the file and the field.
    static Qwen2VlImageProcessor fromJson(const std::string &json, const std::string &origin);

    // transformers' smart_resize(height, width, factor = patch · merge, min_pixels, max_pixels): (height, width);
    // throws for an aspect ratio above 200.
    std::pair<int, int> smartResize(int height, int width) const;

    struct Patches {
        std::vector<float> values; // [gridH · gridW, channels · temporal · patch · patch], row-major
        int gridT = 1, gridH = 0, gridW = 0;
        int rowLength = 0;
        int rows() const { return gridH * gridW; }
    };
    Patches process(const se::data::RgbImage &image) const;
    Patches processFile(const std::string &file) const;
    // The picture the patches are cut from: smart-resized, rescaled and normalised, [3, height, width] row-major
    // (the model cuts the patches itself; qwen2vl.h).
    std::vector<float> resized(const se::data::RgbImage &image, int &height, int &width) const;
    std::vector<float> resizedFile(const std::string &file, int &height, int &width) const;
    // Names the preprocessing with its settings (a packed image file records it).
    std::string describe() const;
};

} // namespace se::model
