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

} // namespace se::data
