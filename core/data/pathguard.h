// No command writes over its own inputs: an output path checked against every input (the run store, the model,
// the benchmark folder, an image pack, an adapter) before anything is written.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace se::data {

// Whether `a` and `b` name the same file or folder: through links, `.` / `..` and hard links when both exist (the same
// device and inode), by their normalised absolute paths otherwise.
bool samePath(const std::string &a, const std::string &b);
// Whether `inner` is `outer` or lies inside the folder `outer` (normalised absolute paths, links resolved).
bool insidePath(const std::string &inner, const std::string &outer);

// Throws std::runtime_error when `output` (what `outputRole` writes: "--out") is one of the inputs, an existing file
// or folder inside an input folder, or — since an output folder may be replaced whole — a folder holding an input;
// each input is (role, path), empty paths ignored (a new path inside an input folder is fine). Also
// refuses an output that is the SQLite store's journal or WAL file. The message names both roles and the path.
void refuseWritingOverInputs(const std::string &outputRole, const std::string &output,
                             const std::vector<std::pair<std::string, std::string>> &inputs);

// What the existing thing at `path` is, when it is something a command must not replace or open blindly: "a FIFO",
// "a socket", "a character device", "a block device", "a folder", "a SQLite database", "a safetensors file",
// "a benchmark split (JSON)", "a JSON file", "an image", "a text file"; "" when nothing is there. Reads at most the
// first 64 KiB of a regular file (and never opens anything but a regular file).
std::string existingKind(const std::string &path);

// For a command about to write a file of kind `writes` ("CSV", "JSON", "safetensors", "SQLite") at `output`:
// throws when something of another kind is there — a special file (a FIFO would block, a device would be replaced
// by the rename that finishes every write), a folder, or a file of another kind (a run store, a model's weights, a
// benchmark split, an image) — naming the path, what it is, and what would have been written.
void refuseReplacingAnotherKind(const std::string &outputRole, const std::string &output, const std::string &writes);

// For a path a command reads as a regular file (a store, a split, an image, a pack, an attack file): throws naming
// the path and what it is when it is a FIFO, a socket, a device or a folder — refused at once, never opened.
void refuseSpecialFile(const std::string &role, const std::string &path);

} // namespace se::data
