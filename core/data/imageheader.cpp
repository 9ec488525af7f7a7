// Image format and dimensions from the first bytes of a file (see imageheader.h).
#include "core/data/imageheader.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace se::data {
namespace {

std::uint32_t be16(const unsigned char *p)
{
    return (std::uint32_t(p[0]) << 8) | p[1];
}
std::uint32_t be32(const unsigned char *p)
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
std::uint32_t le16(const unsigned char *p)
{
    return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8);
}
std::uint32_t le24(const unsigned char *p)
{
    return le16(p) | (std::uint32_t(p[2]) << 16);
}
std::uint32_t le32(const unsigned char *p)
{
    return le24(p) | (std::uint32_t(p[3]) << 24);
}

ImageInfo fail(ImageInfo info, const std::string &why)
{
    info.ok = false;
    info.error = why;
    return info;
}

bool isJpegSof(unsigned char m)
{
    return (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

ImageInfo parseJpeg(const unsigned char *d, std::size_t n, ImageInfo info)
{
    std::size_t i = 2;
    while (i < n) {
        if (d[i] != 0xFF)
            return fail(info, "corrupt JPEG header: expected a marker at byte " + std::to_string(i));
        while (i < n && d[i] == 0xFF)
            ++i; // fill bytes
        if (i >= n)
            break;
        const unsigned char m = d[i++];
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue; // markers without a length
        if (m == 0xD9 || m == 0xDA)
            return fail(info, "corrupt JPEG header: no frame header before the image data");
        if (i + 2 > n)
            break;
        const std::uint32_t len = be16(d + i);
        if (len < 2)
            return fail(info, "corrupt JPEG header: segment length " + std::to_string(len));
        if (isJpegSof(m)) {
            if (i + 7 > n)
                break;
            info.height = be16(d + i + 3);
            info.width = be16(d + i + 5);
            info.ok = true;
            return info;
        }
        i += len;
    }
    return fail(info, "truncated JPEG header: no frame header in the first " + std::to_string(n) + " bytes");
}

} // namespace

ImageInfo parseImageHeader(const unsigned char *d, std::size_t n, std::uint64_t fileSize)
{
    ImageInfo info;
    info.fileSize = fileSize;
    if (n == 0)
        return fail(info, "empty file");
    static const unsigned char pngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && std::memcmp(d, pngSig, 8) == 0) {
        info.format = "png";
        if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0)
            return fail(info, "truncated or corrupt PNG header (no IHDR chunk)");
        info.width = be32(d + 16);
        info.height = be32(d + 20);
    } else if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        info.format = "jpeg";
        info = parseJpeg(d, n, info);
        if (!info.ok)
            return info;
    } else if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
        info.format = "gif";
        if (n < 10)
            return fail(info, "truncated GIF header");
        info.width = le16(d + 6);
        info.height = le16(d + 8);
    } else if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
        info.format = "bmp";
        if (n < 26)
            return fail(info, "truncated BMP header");
        const std::uint32_t dib = le32(d + 14);
        if (dib == 12) {
            info.width = le16(d + 18);
            info.height = le16(d + 20);
        } else if (dib >= 40) {
            const std::int32_t w = std::int32_t(le32(d + 18)), h = std::int32_t(le32(d + 22));
            if (w < 0)
                return fail(info, "corrupt BMP header: negative width");
            info.width = std::uint64_t(w);
            info.height = std::uint64_t(h < 0 ? -std::int64_t(h) : h); // negative height = top-down rows
        } else {
            return fail(info, "corrupt BMP header: unknown DIB header size " + std::to_string(dib));
        }
    } else if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
        info.format = "webp";
        if (n < 30)
            return fail(info, "truncated WebP header");
        if (std::memcmp(d + 12, "VP8 ", 4) == 0) {
            if (d[23] != 0x9D || d[24] != 0x01 || d[25] != 0x2A)
                return fail(info, "corrupt WebP header: bad VP8 start code");
            info.width = le16(d + 26) & 0x3FFF;
            info.height = le16(d + 28) & 0x3FFF;
        } else if (std::memcmp(d + 12, "VP8L", 4) == 0) {
            if (d[20] != 0x2F)
                return fail(info, "corrupt WebP header: bad VP8L signature");
            const std::uint32_t bits = le32(d + 21);
            info.width = (bits & 0x3FFF) + 1;
            info.height = ((bits >> 14) & 0x3FFF) + 1;
        } else if (std::memcmp(d + 12, "VP8X", 4) == 0) {
            info.width = le24(d + 24) + 1;
            info.height = le24(d + 27) + 1;
        } else {
            return fail(info, "corrupt WebP header: unknown chunk");
        }
    } else {
        return fail(info, "not a recognised image (PNG, JPEG, BMP, GIF or WebP)");
    }
    if (info.width == 0 || info.height == 0)
        return fail(info, "corrupt " + info.format + " header: zero width or height");
    info.ok = true;
    return info;
}

ImageInfo readImageHeader(const std::string &file)
{
    ImageInfo info;
    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!f)
        return fail(info, std::string("cannot open: ") + std::strerror(errno));
    if (std::fseek(f.get(), 0, SEEK_END) != 0)
        return fail(info, "cannot seek (not a regular file?)");
    const long size = std::ftell(f.get());
    if (size < 0)
        return fail(info, "cannot tell the file's size");
    std::fseek(f.get(), 0, SEEK_SET);
    // JPEG metadata segments (EXIF, ICC) can push the frame header past the first bytes: read more on demand.
    std::size_t want = std::min<std::size_t>(std::size_t(size), 64 * 1024);
    std::vector<unsigned char> buf;
    for (;;) {
        const std::size_t have = buf.size();
        buf.resize(want);
        const std::size_t got = std::fread(buf.data() + have, 1, want - have, f.get());
        buf.resize(have + got);
        info = parseImageHeader(buf.data(), buf.size(), std::uint64_t(size));
        const bool moreJpeg = !info.ok && info.format == "jpeg" && info.error.rfind("truncated", 0) == 0;
        if (!moreJpeg || buf.size() >= std::size_t(size) || buf.size() >= 16u * 1024 * 1024 || got == 0)
            return info;
        want = std::min<std::size_t>(std::size_t(size), buf.size() * 4);
    }
}

} // namespace se::data
