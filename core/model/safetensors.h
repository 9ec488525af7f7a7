// Reading and writing safetensors files with the project's own code: an 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw
// little-endian tensor bytes. Checkpoints and packed image files use it; nothing is ever pickled.
// Every malformed file (truncated, bad header, overlapping or out-of-range offsets, unknown dtype) is an
// error naming the file and the reason.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

namespace se::model {

struct SafeTensors {
    std::vector<std::pair<std::string, torch::Tensor>> tensors; // file order
    std::map<std::string, std::string> metadata;

    const torch::Tensor *find(const std::string &name) const;
};

// Tensors are written from CPU copies, contiguous, in the given order. Writes to `file`.tmp and renames, so
// a crash never leaves a half-written file under the final name. Throws std::runtime_error on failure.
void writeSafeTensors(const std::string &file, const SafeTensors &content);
SafeTensors readSafeTensors(const std::string &file); // through MappedSafeTensors, then copied

// Writes a safetensors file one tensor at a time, so a multi-gigabyte shard is never whole in memory: the header
// from the planned names, dtypes and shapes first, then each tensor's bytes in the planned order. finish() moves
// `file`.tmp into place; a writer destroyed unfinished (an error, an exception) removes its partial file.
class SafeTensorsWriter
{
public:
    struct Planned {
        std::string name;
        torch::ScalarType type;
        std::vector<int64_t> shape;
    };
    SafeTensorsWriter(const std::string &file, const std::vector<Planned> &plan,
                      const std::map<std::string, std::string> &metadata = {});
    ~SafeTensorsWriter();
    SafeTensorsWriter(const SafeTensorsWriter &) = delete;
    SafeTensorsWriter &operator=(const SafeTensorsWriter &) = delete;
    void write(const torch::Tensor &t); // the next planned tensor, of its planned dtype and shape
    void finish();

private:
    std::string m_file, m_tmp;
    std::vector<Planned> m_plan;
    std::size_t m_next = 0;
    std::ofstream m_out;
    bool m_done = false;
};
// Same as readSafeTensors on bytes in memory; `origin` names them in errors.
SafeTensors parseSafeTensors(const std::string &bytes, const std::string &origin);

// One tensor of a file's header: name, dtype ("F32", "BF16", …), shape and byte range within the data.
struct TensorEntry {
    std::string name, dtype;
    torch::ScalarType type = torch::kFloat32;
    std::vector<int64_t> shape;
    std::uint64_t begin = 0, end = 0;
};

// A safetensors file mapped into memory: the header is parsed and checked (sizes against the file, offsets
// contiguous) when it is opened, and tensor data is touched only when a tensor is viewed, so a 10 GB shard costs no
// memory until its tensors are read. The mapping is private and copy-on-write: a write into a view changes a private
// copy of the touched pages, never the file (read-only where the system refuses such a mapping). Only regular files
// are accepted (a FIFO or a device is refused, never waited on or read without end). Not copyable.
class MappedSafeTensors
{
public:
    explicit MappedSafeTensors(const std::string &file);
    ~MappedSafeTensors();
    MappedSafeTensors(const MappedSafeTensors &) = delete;
    MappedSafeTensors &operator=(const MappedSafeTensors &) = delete;

    const std::string &file() const { return m_file; }
    const std::vector<TensorEntry> &entries() const { return m_entries; } // offset order
    const std::map<std::string, std::string> &metadata() const { return m_metadata; }
    const TensorEntry *find(const std::string &name) const;
    // A CPU tensor over the mapping, valid while this object lives; clone() or to() it to keep it.
    torch::Tensor view(const TensorEntry &e) const;
    // The same bytes as a tensor that keeps the mapping alive itself (`self` owns this object): a model's parameter
    // that *is* the file's bytes, with no copy.
    static torch::Tensor share(const std::shared_ptr<const MappedSafeTensors> &self, const TensorEntry &e);
    // The bytes of `e` leave this process's resident memory (the page cache keeps them; a later read faults them in
    // again): after they were converted into a tensor of their own. Private changes to them are dropped.
    void release(const TensorEntry &e) const;
    const char *bytes(const TensorEntry &e) const { return m_data + m_dataStart + e.begin; }
    bool writable() const { return m_writable; } // copy-on-write (true) or read-only

private:
    std::string m_file;
    const char *m_data = nullptr;
    std::uint64_t m_size = 0, m_dataStart = 0;
    bool m_writable = false;
    std::vector<TensorEntry> m_entries;
    std::map<std::string, std::string> m_metadata;
    std::map<std::string, size_t> m_byName;
};

} // namespace se::model
