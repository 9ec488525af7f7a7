// Images as the model eats them: [3, S, S] float tensors in [0, 1], decoded once per file and kept in memory — or,
// for a model that takes images of any size (Qwen2-VL; size 0), [3, H, W] as its preprocessing sizes each.
// Decodes through se::data::decodeImageRgb (OpenCV) or takes them from a packed file written by
// `safeeraser pack-images` (a safetensors file keyed by path relative to the dataset folder), which is how a
// build without OpenCV (the GPU machine) gets its images. Thread-safe.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <torch/torch.h>
#include <unordered_map>
#include <utility>
#include <vector>

namespace se::model {

class ImageStore
{
public:
    // `root`: the dataset folder, so absolute paths under it find their packed key.
    explicit ImageStore(int size, std::string root = {});

    // A model's own preprocessing instead of the plain resize to size×size ([3, size, size] floats): LLaVA's
    // CLIP pipeline. With `cacheBytes` > 0 the cache is emptied whenever it would grow past that.
    // `pixels` names that preprocessing ("clip …" with its settings): a packed file must have been written with the
    // same (its "pixels" metadata; files without it hold the plain resize, "rgb").
    using Decoder = std::function<torch::Tensor(const std::string &file)>;
    void setDecoder(Decoder decoder, std::size_t cacheBytes = 0, std::string pixels = "rgb");
    const std::string &pixels() const { return m_pixels; }
    // For a preprocessing whose output size follows from the picture's size (Qwen2-VL's smart_resize): (height,
    // width) from the file's header, so outputSize() need not decode.
    using Sizer = std::function<std::pair<int64_t, int64_t>(const std::string &file)>;
    void setSizer(Sizer sizer);
    // [height, width] of get(file): from the cache, the packed file, the sizer, or else by decoding it.
    std::pair<int64_t, int64_t> outputSize(const std::string &file);

    // Loads every image of a packed file; throws when its size differs or the file is malformed.
    void loadPacked(const std::string &file);
    int size() const { return m_size; }

    // [3, S, S] float on the CPU. Throws std::runtime_error naming the file and the reason.
    torch::Tensor get(const std::string &file);
    // [B, 3, S, S]; images of different sizes at the top left of [B, 3, largest H, largest W], NaN elsewhere.
    torch::Tensor batch(const std::vector<std::string> &files);

    // Writes `files` (keys: paths relative to `root`) decoded at `size` into a packed file.
    static void pack(const std::string &root, const std::vector<std::string> &relativeFiles, int size,
                     const std::string &outFile);
    // The same through this store's decoder (a model's preprocessing): keys are `relativeFiles`, read under `root`.
    void packTo(const std::string &root, const std::vector<std::string> &relativeFiles, const std::string &outFile);

private:
    torch::Tensor decode(const std::string &file);
    int m_size;
    Decoder m_decoder;
    Sizer m_sizer;
    std::size_t m_cacheLimit = 0, m_cacheBytes = 0;
    std::string m_root;
    std::string m_packedFile;
    std::string m_pixels = "rgb";
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, torch::Tensor> m_cache;  // by the path asked for
    std::unordered_map<std::string, torch::Tensor> m_packed; // by relative path
};

// One image of a batch() [3, H, W]: its own height and width (the extent before the NaN padding).
std::pair<int64_t, int64_t> imageExtent(const torch::Tensor &padded);

} // namespace se::model
