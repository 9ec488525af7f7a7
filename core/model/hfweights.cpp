#include "core/model/hfweights.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
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
            m_files.push_back(std::make_shared<MappedSafeTensors>((dir / f).string()));
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
        m_files.push_back(std::make_shared<MappedSafeTensors>(single.string()));
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

torch::Tensor HfWeights::mapped(const std::string &name) const
{
    return MappedSafeTensors::share(m_files[m_where.at(name)], entry(name));
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

namespace {

// Whether any of `n` floats of `width` bytes at `p` is NaN or infinite: all of its exponent bits set. Plain integer
// reads (memcpy: a tensor need not be aligned in its file), which the compiler vectorises: memory speed, no temporary.
template <typename U> bool anyAllOnes(const char *p, std::size_t n, U mask)
{
    unsigned bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
        U v;
        std::memcpy(&v, p + i * sizeof(U), sizeof(U));
        bad |= (v & mask) == mask;
    }
    return bad != 0;
}

bool allFinite(const char *p, std::uint64_t bytes, torch::ScalarType t)
{
    switch (t) {
    case torch::kFloat:
        return !anyAllOnes<std::uint32_t>(p, bytes / 4, 0x7F800000u);
    case torch::kBFloat16:
        return !anyAllOnes<std::uint16_t>(p, bytes / 2, 0x7F80u);
    case torch::kHalf:
        return !anyAllOnes<std::uint16_t>(p, bytes / 2, 0x7C00u);
    default:
        return true;
    }
}

void checkFloat(const TensorEntry &e, const std::string &file, const std::string &name)
{
    if (e.type != torch::kFloat32 && e.type != torch::kFloat16 && e.type != torch::kBFloat16)
        throw std::runtime_error(file + ": tensor '" + name + "' has dtype " + e.dtype +
                                 " (supported: F32, F16, BF16)");
}

std::runtime_error nonFinite(const std::string &file, const std::string &name)
{
    return std::runtime_error(file + ": tensor '" + name + "' holds NaN or infinite values");
}

} // namespace

void HfWeights::loadInto(const std::string &name, torch::Tensor &dst) const
{
    const TensorEntry &e = entry(name);
    const std::string file = fileOf(name);
    checkFloat(e, file, name);
    const auto want = dst.sizes().vec();
    if (e.shape != want)
        throw std::runtime_error(file + ": tensor '" + name + "' has shape " + shapeString(e.shape) + ", expected " +
                                 shapeString(want));
    const MappedSafeTensors &m = *m_files[m_where.at(name)];
    torch::NoGradGuard ng;
    if (!allFinite(m.bytes(e), e.end - e.begin, e.type))
        throw nonFinite(file, name);
    dst.copy_(m.view(e)); // converts the dtype and moves to the device in one go
}

LoadReport HfWeights::loadInto(std::vector<Wanted> wanted, const torch::Device &device, const LoadProgressFn &progress,
                               int threads) const
{
    const auto t0 = std::chrono::steady_clock::now();
    struct Item {
        const TensorEntry *entry;
        const MappedSafeTensors *file;
        std::size_t fileIndex;
        bool shared; // the parameter becomes the mapped bytes
    };
    std::vector<Item> items;
    items.reserve(wanted.size());
    LoadReport report;
    std::uint64_t total = 0;
    // Everything that can be checked without reading values, first: a wrong folder fails before any work.
    for (const auto &w : wanted) {
        const TensorEntry &e = entry(w.name);
        const std::size_t fi = m_where.at(w.name);
        const MappedSafeTensors &m = *m_files[fi];
        checkFloat(e, m.file(), w.name);
        if (e.shape != w.param.sizes().vec())
            throw std::runtime_error(m.file() + ": tensor '" + w.name + "' has shape " + shapeString(e.shape) +
                                     ", expected " + shapeString(w.param.sizes().vec()));
        const bool aligned = reinterpret_cast<std::uintptr_t>(m.bytes(e)) % torch::elementSize(e.type) == 0;
        const bool shared = !w.ownMemory && device.is_cpu() && w.param.scalar_type() == e.type && aligned;
        items.push_back({&e, &m, fi, shared});
        total += e.end - e.begin;
    }
    // The work in the files' order (sequential reads from a cold disk): a shared tensor is only read (in pieces of
    // 64 MiB, so that one large tensor keeps every core busy), a converted one is read and converted in one job.
    struct Job {
        std::size_t item;
        std::uint64_t from, to; // bytes of the tensor
    };
    std::vector<Job> jobs;
    constexpr std::uint64_t kPiece = 64ull << 20;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::uint64_t n = items[i].entry->end - items[i].entry->begin;
        if (!items[i].shared || n <= kPiece)
            jobs.push_back({i, 0, n});
        else
            for (std::uint64_t f = 0; f < n; f += kPiece)
                jobs.push_back({i, f, std::min(n, f + kPiece)});
    }
    std::stable_sort(jobs.begin(), jobs.end(), [&](const Job &a, const Job &b) {
        const Item &x = items[a.item], &y = items[b.item];
        return std::tie(x.fileIndex, x.entry->begin, a.from) < std::tie(y.fileIndex, y.entry->begin, b.from);
    });

    std::vector<torch::Tensor> converted(items.size());
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> done{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable wake;
    std::exception_ptr error;
    std::size_t running = 0;
    auto work = [&] {
        try {
            torch::NoGradGuard ng;
            for (std::size_t j; !stop && (j = next++) < jobs.size();) {
                const Job &job = jobs[j];
                const Item &it = items[job.item];
                if (!allFinite(it.file->bytes(*it.entry) + job.from, job.to - job.from, it.entry->type))
                    throw nonFinite(it.file->file(), it.entry->name);
                if (!it.shared) {
                    const torch::Tensor &p = wanted[job.item].param;
                    converted[job.item] = it.file->view(*it.entry).to(device, p.scalar_type(), false, true);
                    it.file->release(*it.entry); // its pages leave the resident memory as it goes
                }
                done += job.to - job.from;
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!error)
                error = std::current_exception();
            stop = true;
        }
        std::lock_guard<std::mutex> lock(mutex);
        --running;
        wake.notify_all();
    };
    const int n = std::max(1, std::min<int>(threads > 0 ? threads : int(std::thread::hardware_concurrency()),
                                            int(std::max<std::size_t>(1, jobs.size()))));
    std::vector<std::thread> pool;
    running = static_cast<std::size_t>(n);
    for (int i = 0; i < n; ++i)
        pool.emplace_back(work);
    bool cancelled = false;
    {
        std::unique_lock<std::mutex> lock(mutex);
        while (running > 0) {
            wake.wait_for(lock, std::chrono::milliseconds(100));
            if (progress && !cancelled && !stop) {
                lock.unlock();
                const bool go = progress(done.load(), total);
                lock.lock();
                if (!go)
                    cancelled = stop = true;
            }
        }
    }
    for (auto &t : pool)
        t.join();
    if (error)
        std::rethrow_exception(error);
    if (cancelled)
        throw LoadCancelled(m_folder + ": loading cancelled");
    if (progress)
        progress(total, total);
    torch::NoGradGuard ng;
    for (std::size_t i = 0; i < items.size(); ++i) {
        torch::Tensor &p = wanted[i].param;
        if (items[i].shared) {
            p.set_data(MappedSafeTensors::share(m_files[items[i].fileIndex], *items[i].entry));
            ++report.shared;
        } else {
            p.set_data(converted[i]);
            converted[i] = torch::Tensor();
            ++(items[i].entry->type == p.scalar_type() ? report.copied : report.converted);
        }
    }
    report.bytes = total;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

} // namespace se::model
