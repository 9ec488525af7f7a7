#include "core/model/imagestore.h"

#include "core/data/imagedecode.h"
#include "core/model/safetensors.h"

#include <cmath>
#include <stdexcept>

namespace se::model {

namespace {
const char *const kPackFormat = "safeeraser-images";

std::string joined(const std::string &root, const std::string &rel)
{
    return root.empty() || (!rel.empty() && rel.front() == '/') ? rel : root + "/" + rel;
}

std::string normalise(std::string p)
{
    while (p.rfind("./", 0) == 0)
        p = p.substr(2);
    return p;
}
} // namespace

ImageStore::ImageStore(int size, std::string root) : m_size(size), m_root(std::move(root))
{
    while (m_root.size() > 1 && m_root.back() == '/')
        m_root.pop_back();
}

void ImageStore::setDecoder(Decoder decoder, std::size_t cacheBytes, std::string pixels)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_decoder = std::move(decoder);
    m_pixels = std::move(pixels);
    m_cacheLimit = cacheBytes;
    m_cache.clear();
    m_cacheBytes = 0;
}

void ImageStore::loadPacked(const std::string &file)
{
    SafeTensors st = readSafeTensors(file);
    auto it = st.metadata.find("format");
    if (it == st.metadata.end() || it->second != kPackFormat)
        throw std::runtime_error(file + ": not a packed image file (write one with `safeeraser pack-images`)");
    const auto px = st.metadata.find("pixels");
    const std::string pixels = px == st.metadata.end() ? "rgb" : px->second;
    if (pixels != m_pixels)
        throw std::runtime_error(file + ": its images were packed as \"" + pixels +
                                 "\" pixels, but this model takes \"" + m_pixels +
                                 "\"; pack them for it with `safeeraser pack-images --model` and the model");
    std::unordered_map<std::string, torch::Tensor> packed;
    for (auto &[name, t] : st.tensors) {
        const bool anySize = m_size == 0 && t.dim() == 3 && t.size(0) == 3 && t.size(1) > 0 && t.size(2) > 0;
        if (m_size == 0 && !anySize)
            throw std::runtime_error(file + ": image '" + name + "' is " + c10::str(t.sizes()) +
                                     ", the model needs [3, height, width]");
        if (!anySize && (t.dim() != 3 || t.size(0) != 3 || t.size(1) != m_size || t.size(2) != m_size))
            throw std::runtime_error(file + ": image '" + name + "' is " + c10::str(t.sizes()) +
                                     ", the model needs [3, " + std::to_string(m_size) + ", " + std::to_string(m_size) +
                                     "]");
        packed[name] = t.to(torch::kFloat).div(t.scalar_type() == torch::kUInt8 ? 255.0 : 1.0).contiguous();
    }
    std::lock_guard<std::mutex> lock(m_mutex);
    m_packed = std::move(packed);
    m_packedFile = file;
}

torch::Tensor ImageStore::decode(const std::string &file)
{
    if (!m_packedFile.empty()) {
        std::string key = normalise(file);
        if (!m_root.empty() && key.rfind(m_root + "/", 0) == 0)
            key = key.substr(m_root.size() + 1);
        auto it = m_packed.find(key);
        if (it != m_packed.end())
            return it->second;
        for (const auto &[k, t] : m_packed) // a path given from elsewhere: match by its tail
            if (key.size() > k.size() && key.compare(key.size() - k.size(), k.size(), k) == 0 &&
                key[key.size() - k.size() - 1] == '/')
                return t;
        if (!se::data::haveImageDecoder())
            throw std::runtime_error(file + ": not in the packed image file " + m_packedFile);
    }
    if (m_decoder)
        return m_decoder(file);
    std::vector<float> chw;
    std::string error;
    if (!se::data::decodeImageRgb(file, m_size, chw, error)) {
        if (error.find(file) == std::string::npos)
            error = file + ": " + (error.empty() ? "cannot decode image" : error);
        throw std::runtime_error(error);
    }
    if (chw.size() != static_cast<size_t>(3) * m_size * m_size)
        throw std::runtime_error(file + ": decoder returned the wrong number of values");
    return torch::from_blob(chw.data(), {3, m_size, m_size}, torch::kFloat).clone();
}

torch::Tensor ImageStore::get(const std::string &file)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        auto it = m_cache.find(file);
        if (it != m_cache.end())
            return it->second;
    }
    torch::Tensor t;
    {
        std::lock_guard<std::mutex> lock(m_mutex); // packed lookups read m_packed
        if (!m_packedFile.empty())
            t = decode(file);
    }
    if (!t.defined())
        t = decode(file); // decoding outside the lock lets several threads decode at once
    std::lock_guard<std::mutex> lock(m_mutex);
    const std::size_t bytes = t.nbytes();
    if (m_cacheLimit > 0 && m_cacheBytes + bytes > m_cacheLimit) {
        m_cache.clear(); // bounded: a benchmark of 3,000 LLaVA images would hold 8 GB of pixels
        m_cacheBytes = 0;
    }
    if (m_cache.emplace(file, t).second)
        m_cacheBytes += bytes;
    return t;
}

void ImageStore::setSizer(Sizer sizer)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_sizer = std::move(sizer);
}

std::pair<int64_t, int64_t> ImageStore::outputSize(const std::string &file)
{
    Sizer sizer;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (auto it = m_cache.find(file); it != m_cache.end())
            return {it->second.size(1), it->second.size(2)};
        if (m_packedFile.empty())
            sizer = m_sizer;
    }
    if (sizer)
        return sizer(file);
    const auto t = get(file);
    return {t.size(1), t.size(2)};
}

torch::Tensor ImageStore::batch(const std::vector<std::string> &files)
{
    std::vector<torch::Tensor> ts;
    ts.reserve(files.size());
    int64_t height = 0, width = 0;
    bool same = true;
    for (const auto &f : files) {
        ts.push_back(get(f));
        same = same && (ts.size() == 1 || ts.back().sizes() == ts.front().sizes());
        height = std::max(height, ts.back().size(1));
        width = std::max(width, ts.back().size(2));
    }
    if (same)
        return torch::stack(ts);
    // Images of different sizes (a model that takes any size): each at the top left of the largest, NaN around it.
    auto out = torch::full({static_cast<int64_t>(ts.size()), 3, height, width}, std::nan(""), torch::kFloat);
    for (size_t i = 0; i < ts.size(); ++i)
        out[static_cast<int64_t>(i)].narrow(1, 0, ts[i].size(1)).narrow(2, 0, ts[i].size(2)).copy_(ts[i]);
    return out;
}

std::pair<int64_t, int64_t> imageExtent(const torch::Tensor &padded)
{
    const auto rows = torch::isnan(padded.select(0, 0).select(1, 0)).logical_not().sum().item<int64_t>();
    const auto cols = torch::isnan(padded.select(0, 0).select(0, 0)).logical_not().sum().item<int64_t>();
    return {rows, cols};
}

void ImageStore::pack(const std::string &root, const std::vector<std::string> &relativeFiles, int size,
                      const std::string &outFile)
{
    ImageStore store(size, root);
    SafeTensors st;
    for (const auto &rel : relativeFiles) {
        auto t = store.decode(joined(root, rel));
        // float32, exactly what the decoder gave, so packed and decoded runs are the same run.
        st.tensors.emplace_back(normalise(rel), t);
    }
    st.metadata["format"] = kPackFormat;
    st.metadata["size"] = std::to_string(size);
    writeSafeTensors(outFile, st);
}

void ImageStore::packTo(const std::string &root, const std::vector<std::string> &relativeFiles,
                        const std::string &outFile)
{
    SafeTensors st;
    for (const auto &rel : relativeFiles)
        st.tensors.emplace_back(normalise(rel), decode(joined(root, rel)).contiguous());
    st.metadata["format"] = kPackFormat;
    st.metadata["size"] = std::to_string(m_size);
    st.metadata["pixels"] = m_pixels;
    writeSafeTensors(outFile, st);
}

} // namespace se::model
