#include "core/model/sentencepiece.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>

namespace se::model {

namespace {

const std::string kSpace = "\xe2\x96\x81"; // U+2581 "▁"

// Protocol-buffer wire format, just enough for ModelProto.
class Reader
{
public:
    Reader(const char *p, size_t n, const std::string &origin) : m_p(p), m_end(p + n), m_origin(origin) {}
    bool done() const { return m_p >= m_end; }
    uint64_t varint()
    {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (m_p >= m_end)
                fail("truncated varint");
            const auto b = static_cast<unsigned char>(*m_p++);
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80))
                return v;
        }
        fail("varint longer than 10 bytes");
        return 0;
    }
    std::pair<const char *, size_t> bytes()
    {
        const uint64_t n = varint();
        if (n > uint64_t(m_end - m_p))
            fail("a field runs past the end (truncated?)");
        const char *start = m_p;
        m_p += n;
        return {start, static_cast<size_t>(n)};
    }
    float fixed32()
    {
        if (m_end - m_p < 4)
            fail("truncated fixed32");
        uint32_t u = 0;
        for (int i = 0; i < 4; ++i)
            u |= uint32_t(static_cast<unsigned char>(m_p[i])) << (8 * i);
        m_p += 4;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    void skip(int wire)
    {
        switch (wire) {
        case 0:
            varint();
            break;
        case 1:
            advance(8);
            break;
        case 2:
            bytes();
            break;
        case 5:
            advance(4);
            break;
        default:
            fail("unsupported wire type " + std::to_string(wire));
        }
    }
    [[noreturn]] void fail(const std::string &why) const
    {
        throw std::runtime_error(m_origin + ": not a SentencePiece model (" + why + ")");
    }

private:
    void advance(size_t n)
    {
        if (size_t(m_end - m_p) < n)
            fail("truncated field");
        m_p += n;
    }
    const char *m_p, *m_end;
    std::string m_origin;
};

size_t utf8Length(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c >> 5) == 0x6)
        return 2;
    if ((c >> 4) == 0xe)
        return 3;
    if ((c >> 3) == 0x1e)
        return 4;
    return 1; // a stray byte stands alone (and falls back to its byte piece)
}

} // namespace

SentencePieceModel SentencePieceModel::load(const std::string &file)
{
    struct stat sb {
    };
    if (::stat(file.c_str(), &sb) != 0)
        throw std::runtime_error(file + ": missing");
    if (!S_ISREG(sb.st_mode) || sb.st_size > (64 << 20))
        throw std::runtime_error(file + ": not a regular file of at most 64 MB");
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof())
        throw std::runtime_error(file + ": read error");
    return parse(ss.str(), file);
}

SentencePieceModel SentencePieceModel::parse(const std::string &bytes, const std::string &origin)
{
    SentencePieceModel m;
    Reader top(bytes.data(), bytes.size(), origin);
    int modelType = 1; // proto default: UNIGRAM
    bool charsmap = false;
    std::string normalizer;
    bool suffix = false;
    int unk = 0, bos = 1, eos = 2;
    while (!top.done()) {
        const uint64_t key = top.varint();
        const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
        if (field == 1 && wire == 2) { // SentencePiece
            auto [p, n] = top.bytes();
            Reader r(p, n, origin);
            std::string piece;
            float score = 0;
            int type = 1;
            while (!r.done()) {
                const uint64_t k = r.varint();
                const int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
                if (f == 1 && w == 2) {
                    auto [q, len] = r.bytes();
                    piece.assign(q, len);
                } else if (f == 2 && w == 5)
                    score = r.fixed32();
                else if (f == 3 && w == 0)
                    type = static_cast<int>(r.varint());
                else
                    r.skip(w);
            }
            if (type < 1 || type > 6)
                top.fail("piece '" + piece + "' has unknown type " + std::to_string(type));
            m.m_pieces.push_back(piece);
            m.m_scores.push_back(score);
            m.m_types.push_back(static_cast<PieceType>(type));
        } else if (field == 2 && wire == 2) { // TrainerSpec
            auto [p, n] = top.bytes();
            Reader r(p, n, origin);
            while (!r.done()) {
                const uint64_t k = r.varint();
                const int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
                if (w != 0) {
                    r.skip(w);
                    continue;
                }
                const auto v = r.varint();
                switch (f) {
                case 3:
                    modelType = static_cast<int>(v);
                    break;
                case 24:
                    suffix = v != 0;
                    break;
                case 35:
                    m.m_byteFallback = v != 0;
                    break;
                case 40:
                    unk = static_cast<int>(static_cast<int32_t>(v));
                    break;
                case 41:
                    bos = static_cast<int>(static_cast<int32_t>(v));
                    break;
                case 42:
                    eos = static_cast<int>(static_cast<int32_t>(v));
                    break;
                default:
                    break;
                }
            }
        } else if (field == 3 && wire == 2) { // NormalizerSpec
            auto [p, n] = top.bytes();
            Reader r(p, n, origin);
            while (!r.done()) {
                const uint64_t k = r.varint();
                const int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
                if (f == 1 && w == 2) {
                    auto [q, len] = r.bytes();
                    normalizer.assign(q, len);
                } else if (f == 2 && w == 2)
                    charsmap = r.bytes().second > 0;
                else if (f == 3 && w == 0)
                    m.m_addDummyPrefix = r.varint() != 0;
                else if (f == 4 && w == 0)
                    m.m_removeExtraWhitespaces = r.varint() != 0;
                else if (f == 5 && w == 0)
                    m.m_escapeWhitespaces = r.varint() != 0;
                else
                    r.skip(w);
            }
        } else {
            top.skip(wire);
        }
    }
    if (m.m_pieces.empty())
        top.fail("no pieces");
    if (modelType != 2)
        throw std::runtime_error(origin + ": a SentencePiece model of type " + std::to_string(modelType) +
                                 "; only BPE models (type 2, Llama's) are supported");
    if (charsmap)
        throw std::runtime_error(origin + ": the model's normaliser ('" + normalizer +
                                 "') uses a precompiled character map, which is not supported (Llama's is 'identity')");
    if (suffix)
        throw std::runtime_error(origin + ": treat_whitespace_as_suffix is not supported");
    const int n = static_cast<int>(m.m_pieces.size());
    for (int id : {unk, bos, eos})
        if (id >= n)
            top.fail("special id " + std::to_string(id) + " is beyond the " + std::to_string(n) + " pieces");
    m.m_unk = unk;
    m.m_bos = bos;
    m.m_eos = eos;
    std::fill(std::begin(m.m_byteIds), std::end(m.m_byteIds), -1);
    for (int i = 0; i < n; ++i) {
        const auto t = m.m_types[static_cast<size_t>(i)];
        const std::string &p = m.m_pieces[static_cast<size_t>(i)];
        if (t == PieceType::Byte) {
            unsigned v = 0;
            if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%2X>", &v) == 1 && v < 256)
                m.m_byteIds[v] = i;
            continue;
        }
        if (t == PieceType::UserDefined)
            m.m_userDefined.push_back(p);
        m.m_ids.emplace(p, i);
    }
    std::sort(m.m_userDefined.begin(), m.m_userDefined.end(),
              [](const std::string &a, const std::string &b) { return a.size() > b.size(); });
    if (m.m_byteFallback)
        for (int b = 0; b < 256; ++b)
            if (m.m_byteIds[b] < 0)
                top.fail("byte_fallback is on but piece <0x" + std::to_string(b) + "> is missing");
    return m;
}

int SentencePieceModel::pieceToId(const std::string &piece) const
{
    auto it = m_ids.find(piece);
    if (it != m_ids.end())
        return it->second;
    for (int b = 0; b < 256; ++b)
        if (m_byteIds[b] >= 0 && m_pieces[static_cast<size_t>(m_byteIds[b])] == piece)
            return m_byteIds[b];
    return -1;
}

const std::string &SentencePieceModel::idToPiece(int id) const
{
    return m_pieces.at(static_cast<size_t>(id));
}

std::vector<int> SentencePieceModel::encode(const std::string &input, bool dummyPrefix) const
{
    // Normalise: (optionally) squeeze spaces, add the dummy prefix, spaces as "▁".
    std::string text = input;
    if (m_removeExtraWhitespaces) {
        std::string t;
        bool space = true; // drops leading spaces
        for (char c : text) {
            if (c == ' ') {
                if (!space)
                    t.push_back(c);
                space = true;
            } else {
                t.push_back(c);
                space = false;
            }
        }
        while (!t.empty() && t.back() == ' ')
            t.pop_back();
        text = t;
    }
    if (text.empty())
        return {};
    if (dummyPrefix && m_addDummyPrefix)
        text = " " + text;
    std::string norm;
    norm.reserve(text.size() * 2);
    for (char c : text) {
        if (c == ' ' && m_escapeWhitespaces)
            norm += kSpace;
        else
            norm.push_back(c);
    }

    // Symbols: user-defined pieces whole, otherwise one UTF-8 character each.
    struct Symbol {
        int prev, next;
        size_t begin, len;
        bool frozen;
    };
    std::vector<Symbol> sym;
    for (size_t pos = 0; pos < norm.size();) {
        size_t len = 0;
        bool frozen = false;
        for (const auto &u : m_userDefined)
            if (norm.compare(pos, u.size(), u) == 0) {
                len = u.size();
                frozen = true;
                break;
            }
        if (!len)
            len = std::min(utf8Length(static_cast<unsigned char>(norm[pos])), norm.size() - pos);
        const int i = static_cast<int>(sym.size());
        sym.push_back({i - 1, i + 1, pos, len, frozen});
        pos += len;
    }
    if (!sym.empty())
        sym.back().next = -1;

    struct Pair {
        int left, right;
        float score;
        size_t size;
    };
    auto worse = [](const Pair &a, const Pair &b) {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
    auto consider = [&](int l, int r) {
        if (l < 0 || r < 0 || sym[l].frozen || sym[r].frozen)
            return;
        const std::string piece = norm.substr(sym[l].begin, sym[l].len + sym[r].len);
        auto it = m_ids.find(piece);
        if (it == m_ids.end())
            return;
        const auto t = m_types[static_cast<size_t>(it->second)];
        if (t != PieceType::Normal && t != PieceType::UserDefined)
            return;
        agenda.push({l, r, m_scores[static_cast<size_t>(it->second)], piece.size()});
    };
    for (size_t i = 1; i < sym.size(); ++i)
        consider(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!agenda.empty()) {
        const Pair top = agenda.top();
        agenda.pop();
        Symbol &l = sym[top.left], &r = sym[top.right];
        if (l.len == 0 || r.len == 0 || l.len + r.len != top.size || l.next != top.right)
            continue; // stale: one side was merged elsewhere meanwhile
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0)
            sym[r.next].prev = top.left;
        consider(l.prev, top.left);
        consider(top.left, l.next);
    }

    std::vector<int> ids;
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
        const std::string piece = norm.substr(sym[i].begin, sym[i].len);
        auto it = m_ids.find(piece);
        if (it != m_ids.end() && m_types[static_cast<size_t>(it->second)] != PieceType::Unused) {
            ids.push_back(it->second);
        } else if (m_byteFallback) {
            for (unsigned char c : piece)
                ids.push_back(m_byteIds[c]);
        } else if (!ids.empty() && ids.back() == m_unk) {
            // consecutive unknown symbols become one <unk>, as SentencePiece does
        } else {
            ids.push_back(m_unk);
        }
    }
    return ids;
}

std::string SentencePieceModel::decode(const std::vector<int> &ids) const
{
    std::string out;
    for (int id : ids) {
        if (id < 0 || id >= size())
            continue;
        const auto t = m_types[static_cast<size_t>(id)];
        if (t == PieceType::Control || t == PieceType::Unknown)
            continue;
        std::string piece;
        if (t == PieceType::Byte) {
            unsigned v = 0;
            std::sscanf(m_pieces[static_cast<size_t>(id)].c_str(), "<0x%2X>", &v);
            piece.push_back(static_cast<char>(v));
        } else {
            piece = m_pieces[static_cast<size_t>(id)];
        }
        out += piece;
    }
    // "▁" back to spaces; the dummy prefix's space at the very start goes.
    std::string text;
    for (size_t i = 0; i < out.size();) {
        if (out.compare(i, kSpace.size(), kSpace) == 0) {
            text.push_back(' ');
            i += kSpace.size();
        } else {
            text.push_back(out[i++]);
        }
    }
    if (m_addDummyPrefix && !text.empty() && text[0] == ' ')
        text.erase(0, 1);
    return text;
}

} // namespace se::model
