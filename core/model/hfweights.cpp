#include "core/model/hfweights.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;

std::string shapeString(const std::vector<int64_t> &shape)
{
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < shape.size(); ++i)
        os << (i ? ", " : "") << shape[i];
    os << ']';
    return os.str();
}

HfWeights::HfWeights(const std::string &folder) : m_folder(folder)
{
    const fs::path dir(folder);
    const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
    std::error_code ec;
    std::vector<std::string> files;
    if (fs::exists(index, ec)) {
        const nlohmann::json j = parseJson(readSmallFile(index.string(), 64u << 20), index.string());
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw std::runtime_error(index.string() + ": no \"weight_map\" object");
        std::map<std::string, size_t> fileIndex;
        std::map<std::string, std::string> wanted; // tensor → shard file
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it->is_string())
                throw std::runtime_error(index.string() + ": weight_map[\"" + it.key() + "\"] is not a file name");
            const std::string f = it->get<std::string>();
            if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
                throw std::runtime_error(index.string() + ": weight_map[\"" + it.key() + "\"] names '" + f +
                                         "', which is not a file of this folder");
            wanted[it.key()] = f;
            if (!fileIndex.count(f)) {
                fileIndex[f] = files.size();
                files.push_back(f);
            }
        }
        for (const auto &f : files)
            if (!fs::exists(dir / f, ec))
                throw std::runtime_error((dir / f).string() +
                                         ": shard listed in model.safetensors.index.json is missing");
        for (const auto &f : files)
            m_files.push_back(std::make_unique<MappedSafeTensors>((dir / f).string()));
        for (const auto &[name, f] : wanted) {
            const size_t i = fileIndex[f];
            if (!m_files[i]->find(name))
                throw std::runtime_error((dir / f).string() + ": tensor '" + name +
                                         "' is listed for this shard by the index but is not in it");
            m_where[name] = i;
        }
        return;
    }
    if (fs::exists(single, ec)) {
        m_files.push_back(std::make_unique<MappedSafeTensors>(single.string()));
        for (const auto &e : m_files[0]->entries())
            m_where[e.name] = 0;
        return;
    }
    for (const char *pickle : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.bin"})
        if (fs::exists(dir / pickle, ec))
            throw std::runtime_error((dir / pickle).string() +
                                     ": a pickle checkpoint, which this program never loads (unpickling runs code "
                                     "from the file). Convert it to safetensors first, e.g. in Python: "
                                     "model.save_pretrained(out_dir, safe_serialization=True)");
    throw std::runtime_error(folder + ": no model.safetensors or model.safetensors.index.json");
}

std::vector<std::string> HfWeights::names() const
{
    std::vector<std::string> out;
    for (const auto &kv : m_where)
        out.push_back(kv.first);
    return out;
}

const TensorEntry &HfWeights::entry(const std::string &name) const
{
    auto it = m_where.find(name);
    if (it == m_where.end())
        throw std::runtime_error(m_folder + ": tensor '" + name + "' is missing");
    return *m_files[it->second]->find(name);
}

std::string HfWeights::fileOf(const std::string &name) const
{
    auto it = m_where.find(name);
    return it == m_where.end() ? m_folder : m_files[it->second]->file();
}

std::uint64_t HfWeights::totalBytes() const
{
    std::uint64_t n = 0;
    for (const auto &f : m_files)
        for (const auto &e : f->entries())
            n += e.end - e.begin;
    return n;
}

torch::Tensor HfWeights::load(const std::string &name, const std::vector<int64_t> &shape, torch::ScalarType dtype,
                              const torch::Device &device) const
{
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype).device(device));
    loadInto(name, t);
    return t;
}

void HfWeights::loadInto(const std::string &name, torch::Tensor &dst) const
{
    const TensorEntry &e = entry(name);
    const std::string file = fileOf(name);
    if (e.type != torch::kFloat32 && e.type != torch::kFloat16 && e.type != torch::kBFloat16)
        throw std::runtime_error(file + ": tensor '" + name + "' has dtype " + e.dtype +
                                 " (supported: F32, F16, BF16)");
    const auto want = dst.sizes().vec();
    if (e.shape != want)
        throw std::runtime_error(file + ": tensor '" + name + "' has shape " + shapeString(e.shape) + ", expected " +
                                 shapeString(want));
    const MappedSafeTensors &m = *m_files[m_where.at(name)];
    torch::NoGradGuard ng;
    auto src = m.view(e);
    if (!torch::isfinite(src).all().item<bool>())
        throw std::runtime_error(file + ": tensor '" + name + "' holds NaN or infinite values");
    dst.copy_(src); // converts the dtype and moves to the device in one go
}

} // namespace se::model
