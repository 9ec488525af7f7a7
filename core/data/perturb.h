// Image perturbations for robustness audits (issue "erased or only hidden"): the harmful image made weaker or
// replaced, written as a new file. OpenCV; not in a build without it (SE_WITH_OPENCV).
#pragma once

#include <string>
#include <vector>

namespace se::data {

// "blank" (mid-grey, the source's size), "blur" (Gaussian, σ a 40th of the shorter side), "crop" (the central
// 60%), "jpeg" (quality 10), "mirror" (left-right).
const std::vector<std::string> &perturbations();
// Writes `kind` of the image `source` to `target` (PNG, or JPEG for "jpeg"). Throws std::runtime_error naming the
// file and the reason (unreadable source, unknown kind, unwritable target).
void writePerturbed(const std::string &source, const std::string &target, const std::string &kind);
// The file name extension writePerturbed uses for `kind` (".png", ".jpg").
std::string perturbedExtension(const std::string &kind);

} // namespace se::data
