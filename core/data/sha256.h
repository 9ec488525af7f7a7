// SHA-256 (FIPS 180-4), incremental, for dataset content hashes and checkpoint provenance.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace se::data {

class Sha256
{
public:
    Sha256();
    void update(const void *data, std::size_t n);
    void update(const std::string &s) { update(s.data(), s.size()); }
    std::array<std::uint8_t, 32> digest(); // finishes the hash; call once
    std::string hexDigest();

private:
    void block(const std::uint8_t *p);
    std::uint32_t m_h[8];
    std::uint8_t m_buf[64];
    std::size_t m_bufLen = 0;
    std::uint64_t m_total = 0;
};

std::string sha256Hex(const std::string &data);
// The hex SHA-256 of a file's bytes, read in 1 MiB pieces. Throws std::runtime_error naming `what` and the path when
// it cannot be opened.
std::string sha256File(const std::string &path, const std::string &what = "file");

} // namespace se::data
