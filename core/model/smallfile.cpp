#include "core/model/smallfile.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace se::model {

namespace fs = std::filesystem;

std::string readSmallFile(const std::string &path, std::uintmax_t limit)
{
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw std::runtime_error(path + ": missing or not a regular file");
    if (fs::file_size(path, ec) > limit)
        throw std::runtime_error(path + ": larger than " + std::to_string(limit >> 10) + " KB");
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof())
        throw std::runtime_error(path + ": read error");
    return ss.str();
}

nlohmann::json parseJson(const std::string &text, const std::string &origin)
{
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception &e) {
        throw std::runtime_error(origin + ": not valid JSON: " + e.what());
    }
}

nlohmann::json parseJsonObject(const std::string &text, const std::string &origin)
{
    nlohmann::json j = parseJson(text, origin);
    if (!j.is_object())
        throw std::runtime_error(origin + ": (top level): not a JSON object");
    return j;
}

} // namespace se::model
