#include "core/model/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace {

struct DtypeInfo {
    const char *name;
    torch::ScalarType type;
    int size;
};
const DtypeInfo kDtypes[] = {{"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
                             {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
                             {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
                             {"BOOL", torch::kBool, 1}};

const DtypeInfo *byName(const std::string &n)
{
    for (const auto &d : kDtypes)
        if (n == d.name)
            return &d;
    return nullptr;
}
const DtypeInfo *byType(torch::ScalarType t)
{
    for (const auto &d : kDtypes)
        if (t == d.type)
            return &d;
    return nullptr;
}

// The largest header read: a 70 B checkpoint's shard lists a few hundred tensors in well under 1 MiB; a header of
// 100 MB was accepted and its metadata copied into every merged shard. And the metadata's share of it.
constexpr std::uint64_t kMaxHeader = 16ull << 20, kMaxMetadata = 1ull << 20;

} // namespace

const torch::Tensor *SafeTensors::find(const std::string &name) const
{
    for (const auto &t : tensors)
        if (t.first == name)
            return &t.second;
    return nullptr;
}

SafeTensorsWriter::SafeTensorsWriter(const std::string &file, const std::vector<Planned> &plan,
                                     const std::map<std::string, std::string> &metadata)
    : m_file(file), m_tmp(file + ".tmp"), m_plan(plan)
{
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto &t : plan) {
        if (t.name == "__metadata__" || header.contains(t.name))
            throw std::runtime_error(file + ": duplicate or reserved tensor name '" + t.name + "'");
        const DtypeInfo *d = byType(t.type);
        if (!d)
            throw std::runtime_error(file + ": tensor '" + t.name + "' has a dtype safetensors cannot hold");
        std::uint64_t bytes = static_cast<std::uint64_t>(d->size);
        for (int64_t n : t.shape) {
            if (n < 0)
                throw std::runtime_error(file + ": tensor '" + t.name + "' has a negative dimension");
            bytes *= static_cast<std::uint64_t>(n);
        }
        header[t.name] = {{"dtype", d->name}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    std::string h = header.dump();
    while (h.size() % 8) // the format pads the header with spaces so the data starts aligned
        h.push_back(' ');
    m_out.open(m_tmp, std::ios::binary | std::ios::trunc);
    if (!m_out)
        throw std::runtime_error(file + ": cannot write");
    unsigned char len[8];
    const std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    m_out.write(reinterpret_cast<const char *>(len), 8);
    m_out.write(h.data(), static_cast<std::streamsize>(h.size()));
}

SafeTensorsWriter::~SafeTensorsWriter()
{
    if (!m_done) { // an unfinished file never stays behind, under either name
        m_out.close();
        std::remove(m_tmp.c_str());
    }
}

void SafeTensorsWriter::write(const torch::Tensor &t)
{
    if (m_next >= m_plan.size())
        throw std::runtime_error(m_file + ": more tensors written than planned");
    const Planned &p = m_plan[m_next];
    if (t.scalar_type() != p.type || t.sizes().vec() != p.shape)
        throw std::runtime_error(m_file + ": tensor '" + p.name + "' is not of its planned dtype and shape");
    auto c = t.detach().to(torch::kCPU).contiguous();
    m_out.write(static_cast<const char *>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    if (!m_out)
        throw std::runtime_error(m_file + ": write failed (disk full?)");
    ++m_next;
}

void SafeTensorsWriter::finish()
{
    if (m_next != m_plan.size())
        throw std::runtime_error(m_file + ": " + std::to_string(m_plan.size() - m_next) +
                                 " planned tensors not written");
    m_out.flush();
    bool ok = static_cast<bool>(m_out);
    m_out.close();
    ok = ok && !m_out.fail();
    if (ok) { // on disk before it takes the final name: a crash never leaves a short file under that name
        const int fd = ::open(m_tmp.c_str(), O_RDONLY);
        ok = fd >= 0 && ::fsync(fd) == 0;
        if (fd >= 0)
            ::close(fd);
    }
    if (!ok)
        throw std::runtime_error(m_file + ": write failed (disk full?)");
    if (std::rename(m_tmp.c_str(), m_file.c_str()) != 0)
        throw std::runtime_error(m_file + ": cannot move the written file into place");
    m_done = true;
}

void writeSafeTensors(const std::string &file, const SafeTensors &content)
{
    std::vector<SafeTensorsWriter::Planned> plan;
    plan.reserve(content.tensors.size());
    for (const auto &[name, t] : content.tensors)
        plan.push_back({name, t.scalar_type(), t.sizes().vec()});
    SafeTensorsWriter w(file, plan, content.metadata);
    for (const auto &nt : content.tensors)
        w.write(nt.second);
    w.finish();
}

namespace {

// Checks the header of a safetensors image of `size` bytes at `data` and lists its tensors in offset order.
void parseHeader(const char *data, std::uint64_t size, const std::string &origin, std::vector<TensorEntry> &entries,
                 std::map<std::string, std::string> &metadata, std::uint64_t &dataStart)
{
    auto fail = [&](const std::string &why) -> void {
        throw std::runtime_error(origin + ": not a valid safetensors file: " + why);
    };
    if (size < 8)
        fail("shorter than the 8-byte header length (truncated?)");
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
        n |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[i])) << (8 * i);
    if (n > kMaxHeader)
        fail("header length " + std::to_string(n) + " is implausible");
    if (n > size - 8)
        fail("header length " + std::to_string(n) + " runs past the end of the file (truncated?)");
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(data + 8, data + 8 + n);
    } catch (const std::exception &e) {
        fail(std::string("header is not JSON: ") + e.what());
    }
    if (!header.is_object())
        fail("header is not a JSON object");
    dataStart = 8 + n;
    const std::uint64_t dataSize = size - dataStart;
    entries.clear();
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string &name = it.key();
        if (name == "__metadata__") {
            if (!it->is_object())
                fail("__metadata__ is not an object");
            std::uint64_t bytes = 0;
            for (auto m = it->begin(); m != it->end(); ++m) {
                if (!m->is_string())
                    fail("__metadata__ value '" + m.key() + "' is not a string");
                bytes += m.key().size() + m->get_ref<const std::string &>().size();
                if (bytes > kMaxMetadata)
                    fail("__metadata__ holds more than " + std::to_string(kMaxMetadata >> 20) +
                         " MiB of text (a checkpoint's is a few KB)");
                metadata[m.key()] = m->get<std::string>();
            }
            continue;
        }
        const auto &e = *it;
        if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
            fail("tensor '" + name + "' lacks dtype, shape or data_offsets");
        if (!e["dtype"].is_string())
            fail("tensor '" + name + "': dtype is not a string");
        const DtypeInfo *d = byName(e["dtype"].get<std::string>());
        if (!d)
            fail("tensor '" + name + "': unsupported dtype " + e["dtype"].get<std::string>());
        if (!e["shape"].is_array())
            fail("tensor '" + name + "': shape is not an array");
        TensorEntry t;
        t.name = name;
        t.dtype = d->name;
        t.type = d->type;
        std::uint64_t numel = 1;
        for (const auto &s : e["shape"]) {
            if (!s.is_number_unsigned())
                fail("tensor '" + name + "': shape holds a non-natural number");
            const auto v = s.get<std::uint64_t>();
            if (v > (1ull << 40) || (v && numel > (1ull << 40) / v))
                fail("tensor '" + name + "': shape is implausibly large");
            numel *= v;
            t.shape.push_back(static_cast<int64_t>(v));
        }
        const auto &o = e["data_offsets"];
        if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
            fail("tensor '" + name + "': data_offsets is not two natural numbers");
        t.begin = o[0].get<std::uint64_t>();
        t.end = o[1].get<std::uint64_t>();
        if (t.begin > t.end)
            fail("tensor '" + name + "': data_offsets begin after they end");
        if (t.end > dataSize)
            fail("tensor '" + name + "': data runs past the end of the file (truncated?)");
        if (t.end - t.begin != numel * static_cast<std::uint64_t>(d->size))
            fail("tensor '" + name + "': " + std::to_string(t.end - t.begin) +
                 " bytes do not match its shape and dtype");
        entries.push_back(std::move(t));
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const TensorEntry &a, const TensorEntry &b) { return a.begin < b.begin; });
    std::uint64_t covered = 0;
    for (const auto &s : entries) {
        if (s.begin < covered)
            fail("tensor '" + s.name + "' overlaps another tensor");
        if (s.begin > covered)
            fail("a gap of unindexed bytes before tensor '" + s.name + "'");
        covered = s.end;
    }
    if (covered != dataSize)
        fail(std::to_string(dataSize - covered) + " trailing bytes after the last tensor");
}

torch::Tensor viewOf(const char *base, const TensorEntry &e)
{
    if (e.end == e.begin)
        return torch::empty(e.shape, torch::TensorOptions().dtype(e.type));
    return torch::from_blob(const_cast<char *>(base + e.begin), e.shape, torch::TensorOptions().dtype(e.type));
}

} // namespace

SafeTensors parseSafeTensors(const std::string &bytes, const std::string &origin)
{
    SafeTensors st;
    std::vector<TensorEntry> entries;
    std::uint64_t dataStart = 0;
    parseHeader(bytes.data(), bytes.size(), origin, entries, st.metadata, dataStart);
    for (const auto &e : entries) // file order is offset order, which is the order we wrote
        st.tensors.emplace_back(e.name, viewOf(bytes.data() + dataStart, e).clone());
    return st;
}

MappedSafeTensors::MappedSafeTensors(const std::string &file) : m_file(file)
{
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        throw std::runtime_error(file + ": cannot open (" + std::strerror(errno) + ")");
    struct stat sb {
    };
    if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ::close(fd);
        throw std::runtime_error(file + ": not a regular file");
    }
    m_size = static_cast<std::uint64_t>(sb.st_size);
    if (m_size > 0) {
        // Copy-on-write, with no swap reserved for it (a 14 GB shard is not counted against the commit limit); where
        // the system refuses that (strict overcommit accounting), read-only.
        void *p = ::mmap(nullptr, m_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        m_writable = p != MAP_FAILED;
        if (p == MAP_FAILED)
            p = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            throw std::runtime_error(file + ": cannot map into memory (" + std::strerror(errno) + ")");
        }
        m_data = static_cast<const char *>(p);
        // Large pages where the kernel and file system give them (page cache folios): a decoding step reads every
        // weight, and with 4 KiB pages reading the mapping was the slower (a 7B model's weights: 23 against 26 GiB/s,
        // one decoding step 0.61 against 0.54 s). A hint only.
        ::madvise(p, m_size, MADV_HUGEPAGE);
    }
    ::close(fd);
    try {
        parseHeader(m_data ? m_data : "", m_size, file, m_entries, m_metadata, m_dataStart);
    } catch (...) {
        if (m_data)
            ::munmap(const_cast<char *>(m_data), m_size);
        throw;
    }
    for (size_t i = 0; i < m_entries.size(); ++i)
        m_byName.emplace(m_entries[i].name, i);
}

MappedSafeTensors::~MappedSafeTensors()
{
    if (m_data)
        ::munmap(const_cast<char *>(m_data), m_size);
}

const TensorEntry *MappedSafeTensors::find(const std::string &name) const
{
    auto it = m_byName.find(name);
    return it == m_byName.end() ? nullptr : &m_entries[it->second];
}

torch::Tensor MappedSafeTensors::view(const TensorEntry &e) const
{
    return viewOf(m_data + m_dataStart, e);
}

torch::Tensor MappedSafeTensors::share(const std::shared_ptr<const MappedSafeTensors> &self, const TensorEntry &e)
{
    if (e.end == e.begin)
        return torch::empty(e.shape, torch::TensorOptions().dtype(e.type));
    auto keep = self; // the deleter holds the mapping until the last tensor over it goes
    return torch::from_blob(
        const_cast<char *>(self->bytes(e)), e.shape, [keep](void *) mutable { keep.reset(); },
        torch::TensorOptions().dtype(e.type));
}

void MappedSafeTensors::release(const TensorEntry &e) const
{
    static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(bytes(e)), end = begin + (e.end - e.begin);
    const std::uintptr_t first = (begin + page - 1) / page * page, last = end / page * page; // whole pages only
    if (last > first)
        ::madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
}

SafeTensors readSafeTensors(const std::string &file)
{
    MappedSafeTensors m(file);
    SafeTensors st;
    st.metadata = m.metadata();
    for (const auto &e : m.entries())
        st.tensors.emplace_back(e.name, m.view(e).clone());
    return st;
}

} // namespace se::model
