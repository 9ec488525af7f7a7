// Reader and validator of the official SafeEraser benchmark format (see benchmark.h and SPEC §2).
//
// Split files are read as raw bytes and cut into records before any JSON parsing, so that one bad record —
// invalid UTF-8, a syntax error, a truncated tail — costs only that record, with its index and byte offset,
// instead of the whole file.
#include "core/data/benchmark.h"
#include "core/data/imageheader.h"
#include "core/data/jsonrecords.h"
#include "core/util/text.h"
#include "core/data/sha256.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace fs = std::filesystem;
using nlohmann::json;

namespace se::data {

const char *splitName(Split s)
{
    return s == Split::Train ? "train" : "val";
}
const char *splitFileName(Split s)
{
    return s == Split::Train ? "all_train.json" : "all_val.json";
}
const char *setName(SetKind s)
{
    switch (s) {
    case SetKind::Forget:
        return "forget";
    case SetKind::PromptDecouple:
        return "pd";
    case SetKind::Retain:
        return "retain";
    }
    return "?";
}

const std::vector<std::string> &harmCategories()
{
    static const std::vector<std::string> c{"Violence", "Weapon", "Privacy", "Sex", "HateSpeech", "IllegalActivity"};
    return c;
}

std::string Problem::toString() const
{
    std::string s = file;
    if (record)
        s += ": record " + std::to_string(*record);
    if (!field.empty())
        s += ": " + se::text::terminalSafe(field); // a field's path holds the file's own keys
    return s + ": " + message;                     // already quoted safely (RecordContext::problem)
}

const std::vector<Sample> &SplitData::set(SetKind k) const
{
    return k == SetKind::Forget ? forget : k == SetKind::PromptDecouple ? pd : retain;
}

namespace {

// ---- raw bytes and positions ---------------------------------------------------------------------------

struct SourceText {
    SourceText() = default;
    explicit SourceText(std::string b) : bytes(std::move(b)) {}
    std::string bytes;
    // "byte 1234 (line 56)" for an offset into bytes. The newlines are found once: a file of a million bad records
    // asks a million times (counting from the start each time took minutes).
    std::string where(std::size_t offset) const
    {
        if (!m_indexed) {
            for (std::size_t i = bytes.find('\n'); i != std::string::npos; i = bytes.find('\n', i + 1))
                m_newlines.push_back(i);
            m_indexed = true;
        }
        const std::size_t line =
            1 + std::size_t(std::lower_bound(m_newlines.begin(), m_newlines.end(), std::min(offset, bytes.size())) -
                            m_newlines.begin());
        return "byte " + std::to_string(offset) + " (line " + std::to_string(line) + ")";
    }
    void changed() { m_indexed = false, m_newlines.clear(); } // after bytes were edited

private:
    mutable std::vector<std::size_t> m_newlines;
    mutable bool m_indexed = false;
};

// Reads a file of the dataset folder `root`: a regular file (never a FIFO or device, which could block or never
// end) whose real path, links resolved, lies inside the folder (like the images). An empty root confines nothing.
bool readFile(const fs::path &root, const fs::path &p, std::string &out, std::uint64_t maxBytes, std::string &error)
{
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
        error = "not a regular file (a folder, FIFO or device); refused";
        return false;
    }
    const std::string realRoot = root.empty() ? "" : fs::weakly_canonical(root, ec).string();
    const std::string real = root.empty() ? "" : fs::weakly_canonical(p, ec).string();
    if (!root.empty() && (ec || real.compare(0, realRoot.size() + 1, realRoot + "/") != 0)) {
        error = "resolves outside the dataset folder (to " + real + "); refused";
        return false;
    }
    const auto size = fs::file_size(p, ec);
    if (ec) {
        error = "cannot read: " + ec.message();
        return false;
    }
    if (size > maxBytes) {
        error = "file is " + std::to_string(size) + " bytes, above the limit of " + std::to_string(maxBytes);
        return false;
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        error = "cannot open for reading";
        return false;
    }
    out.resize(size);
    in.read(out.data(), std::streamsize(size));
    out.resize(std::size_t(in.gcount()));
    return true;
}

// nlohmann's message without its "[json.exception.out_of_range.406] " prefix.
std::string jsonReason(const nlohmann::json::exception &e)
{
    std::string what = e.what();
    const auto close = what.find("] ");
    return close != std::string::npos && what.rfind("[json.exception", 0) == 0 ? what.substr(close + 2) : what;
}

// Index of the first byte that is not valid UTF-8, or npos.
std::size_t firstInvalidUtf8(const std::string &s, std::size_t from = 0)
{
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    const std::size_t n = s.size();
    for (std::size_t i = from; i < n;) {
        const unsigned char c = p[i];
        std::size_t len;
        std::uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else
            return i;
        if (i + len > n)
            return i;
        for (std::size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i; // overlong, out of range, or a surrogate
        i += len;
    }
    return std::string::npos;
}

// ---- cutting a split file into records -------------------------------------------------------------------

struct RawRecord {
    std::size_t offset = 0; // byte offset of the record's first byte in the file
    std::string text;
};

struct CutResult {
    std::vector<RawRecord> records;
    std::vector<std::pair<std::optional<long>, std::string>> problems; // (record, message)
    bool jsonLines = false;
};

// Scans one JSON value starting at `i` (which must not be whitespace) and returns one past its end, or npos
// when the file ends inside it. Strings are skipped with their escapes so brackets inside them don't count.
std::size_t scanValueEnd(const std::string &s, std::size_t i)
{
    const std::size_t n = s.size();
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        bool inString = false;
        for (; i < n; ++i) {
            const char c = s[i];
            if (inString) {
                if (c == '\\')
                    ++i;
                else if (c == '"')
                    inString = false;
            } else if (c == '"') {
                inString = true;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return std::string::npos;
    }
    if (s[i] == '"') {
        for (++i; i < n; ++i) {
            if (s[i] == '\\')
                ++i;
            else if (s[i] == '"')
                return i + 1;
        }
        return std::string::npos;
    }
    // scalar: up to the next delimiter
    while (i < n && s[i] != ',' && s[i] != ']' && s[i] != '}' && !std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
    return i;
}

bool isWs(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

CutResult cutArray(const SourceText &src, std::size_t start)
{
    CutResult r;
    const std::string &s = src.bytes;
    const std::size_t n = s.size();
    std::size_t i = start + 1; // after '['
    long index = 0;
    bool expectValue = true;
    // A run of stray separators is one mistake, not a million problems: the first kListed of each kind are listed,
    // the rest counted (bounded memory and output on a file of a million commas).
    constexpr long kListed = 20;
    long strays = 0, unexpected = 0;
    auto tallied = [&]() -> CutResult & {
        if (strays > kListed)
            r.problems.push_back({std::nullopt, "syntax error: " + std::to_string(strays) +
                                                    " empty elements (stray commas) in all; the first " +
                                                    std::to_string(kListed) + " are listed"});
        if (unexpected > kListed)
            r.problems.push_back({std::nullopt, "syntax error: " + std::to_string(unexpected) +
                                                    " unexpected characters between records in all; the first " +
                                                    std::to_string(kListed) + " are listed"});
        return r;
    };
    for (;;) {
        while (i < n && isWs(s[i]))
            ++i;
        if (i >= n) {
            r.problems.push_back({std::nullopt, "truncated file: the top-level array is not closed at " + src.where(n) +
                                                    " after " + std::to_string(index) + " records"});
            return tallied();
        }
        if (s[i] == ']') {
            std::size_t j = i + 1;
            while (j < n && isWs(s[j]))
                ++j;
            if (j < n)
                r.problems.push_back({std::nullopt, "unexpected content after the top-level array at " + src.where(j)});
            return tallied();
        }
        if (s[i] == ',') {
            if (expectValue && ++strays <= kListed)
                r.problems.push_back({index, "syntax error: empty element (stray comma) at " + src.where(i)});
            expectValue = true;
            ++i;
            continue;
        }
        if (!expectValue)
            r.problems.push_back({index, "syntax error: missing comma before the record at " + src.where(i)});
        const std::size_t end = scanValueEnd(s, i);
        if (end == i) { // no value starts here (a stray '}'): step over it, or this loop would never end
            if (++unexpected <= kListed)
                r.problems.push_back(
                    {index, std::string("syntax error: unexpected '") + s[i] + "' at " + src.where(i)});
            ++i;
            continue;
        }
        if (end == std::string::npos) {
            r.problems.push_back({index, "truncated record: the file ends inside it (record starts at " + src.where(i) +
                                             ", file ends at byte " + std::to_string(n) + ")"});
            return tallied();
        }
        r.records.push_back({i, s.substr(i, end - i)});
        ++index;
        expectValue = false;
        i = end;
    }
}

CutResult cutLines(const SourceText &src)
{
    CutResult r;
    r.jsonLines = true;
    const std::string &s = src.bytes;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t e = s.find('\n', i);
        if (e == std::string::npos)
            e = s.size();
        std::size_t a = i, b = e;
        while (a < b && isWs(s[a]))
            ++a;
        while (b > a && isWs(s[b - 1]))
            --b;
        if (a < b)
            r.records.push_back({a, s.substr(a, b - a)});
        i = e + 1;
    }
    return r;
}

// ---- field access with problems ---------------------------------------------------------------------------

class RecordContext
{
public:
    RecordContext(std::vector<Problem> &problems, std::string file, long index)
        : m_problems(problems), m_file(std::move(file)), m_index(index)
    {
    }
    void problem(const std::string &field, const std::string &text)
    {
        // A message quotes the value it is about: a 2 MB path would make a 2 MB line (and a million of them), and a
        // value's control characters would reach the terminal (shown escaped instead; valid UTF-8 always).
        m_problems.push_back({m_file, m_index, field, se::text::quoted(text)});
        m_count++;
    }
    int count() const { return m_count; }

    // A required or optional string member. Returns false (after reporting when required) if absent or bad.
    bool str(const json &obj, const char *key, const std::string &field, std::string &out, bool required = true)
    {
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (required)
                problem(field, "missing");
            return false;
        }
        if (!it->is_string()) {
            problem(field, std::string("expected a string, found ") + it->type_name());
            return false;
        }
        out = it->get<std::string>();
        if (out.find_first_not_of(" \t\r\n") == std::string::npos) {
            problem(field, "empty");
            return false;
        }
        return true;
    }

private:
    std::vector<Problem> &m_problems;
    std::string m_file;
    long m_index;
    int m_count = 0;
};

// ---- image paths -----------------------------------------------------------------------------------------

struct ImageCheck {
    bool ok = false;
    std::string file;     // resolved path
    std::string relative; // relative to the root, '/'-separated
    std::string error;
};

class ImageResolver
{
public:
    ImageResolver(const fs::path &root, const ReadOptions &options) : m_root(root), m_options(options)
    {
        std::error_code ec;
        m_canonicalRoot = fs::weakly_canonical(root, ec).string();
        m_rootName = root.filename().string();
    }

    ImageCheck resolve(const std::string &written)
    {
        auto cached = m_cache.find(written);
        if (cached != m_cache.end())
            return cached->second;
        ImageCheck c = check(written);
        m_cache.emplace(written, c);
        return c;
    }

    // Every distinct image that resolved, by relative path, for the content hash.
    std::map<std::string, std::uint64_t> resolvedSizes() const
    {
        std::map<std::string, std::uint64_t> out;
        for (const auto &[written, c] : m_cache)
            if (c.ok)
                out[c.relative] = m_sizes.count(c.relative) ? m_sizes.at(c.relative) : 0;
        return out;
    }

private:
    ImageCheck check(const std::string &written)
    {
        ImageCheck c;
        std::string p = written;
        std::replace(p.begin(), p.end(), '\\', '/');
        if (p.empty()) {
            c.error = "empty path";
            return c;
        }
        if (p[0] == '/' || (p.size() >= 2 && std::isalpha(static_cast<unsigned char>(p[0])) && p[1] == ':')) {
            c.error = "absolute path refused (image paths must be relative to the dataset folder): " + written;
            return c;
        }
        if (p.find('\0') != std::string::npos) {
            c.error = "path contains a NUL byte";
            return c;
        }
        std::vector<std::string> parts;
        std::stringstream ss(p);
        for (std::string part; std::getline(ss, part, '/');) {
            if (part == "..") {
                c.error = "path leaves the dataset folder ('..' refused): " + written;
                return c;
            }
            if (!part.empty() && part != ".")
                parts.push_back(part);
        }
        if (parts.empty()) {
            c.error = "empty path";
            return c;
        }
        auto join = [](const std::vector<std::string> &v, std::size_t from) {
            std::string s;
            for (std::size_t i = from; i < v.size(); ++i)
                s += (s.empty() ? "" : "/") + v[i];
            return s;
        };
        std::string rel = join(parts, 0);
        std::error_code ec;
        // Scripts run from the dataset's parent write "dataset/Violence/x.jpg": accept the folder's own name.
        if (!fs::exists(m_root / rel, ec) && parts.size() > 1 && parts[0] == m_rootName &&
            fs::exists(m_root / join(parts, 1), ec))
            rel = join(parts, 1);
        const fs::path full = m_root / rel;
        c.relative = rel;
        c.file = full.string();
        if (!fs::exists(full, ec)) {
            c.error = "image not found: " + rel;
            return c;
        }
        // A symbolic link may still lead out of the folder.
        const std::string canon = fs::weakly_canonical(full, ec).string();
        if (ec || canon.compare(0, m_canonicalRoot.size() + 1, m_canonicalRoot + "/") != 0) {
            c.error = "image path resolves outside the dataset folder: " + rel;
            return c;
        }
        if (!fs::is_regular_file(full, ec)) {
            c.error = "not a regular file: " + rel;
            return c;
        }
        if (m_options.checkImages) {
            const ImageInfo info = readImageHeader(c.file);
            if (!info.ok) {
                c.error = "bad image " + rel + ": " + info.error;
                return c;
            }
            if (info.width * info.height > m_options.maxPixels) {
                c.error = "image " + rel + " is " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                          " pixels, above the limit of " + std::to_string(m_options.maxPixels) + " (not decoded)";
                return c;
            }
            m_sizes[rel] = info.fileSize;
        } else {
            m_sizes[rel] = fs::file_size(full, ec);
        }
        c.ok = true;
        return c;
    }

    fs::path m_root;
    const ReadOptions &m_options;
    std::string m_canonicalRoot, m_rootName;
    std::unordered_map<std::string, ImageCheck> m_cache;
    std::map<std::string, std::uint64_t> m_sizes;
};

std::string categoryOf(const std::string &relative)
{
    const auto slash = relative.rfind('/');
    if (slash == std::string::npos)
        return {};
    const auto prev = relative.rfind('/', slash - 1);
    return relative.substr(prev == std::string::npos ? 0 : prev + 1,
                           slash - (prev == std::string::npos ? 0 : prev + 1));
}

// ---- one record ------------------------------------------------------------------------------------------

Record readRecord(const json &j, long index, RecordContext &ctx, ImageResolver &images)
{
    Record r;
    r.index = index;
    bool imageOk = false, sdOk = false;
    if (ctx.str(j, "image_path", "image_path", r.imagePath)) {
        const ImageCheck c = images.resolve(r.imagePath);
        if (c.ok) {
            r.imageFile = c.file;
            r.category = categoryOf(c.relative);
            imageOk = true;
            if (r.category.empty()) {
                ctx.problem("image_path", "image is not inside a category folder; category set to 'Unknown'");
                r.category = "Unknown";
            }
        } else {
            ctx.problem("image_path", c.error);
        }
    }
    if (ctx.str(j, "SDImage_path", "SDImage_path", r.sdImagePath)) {
        const ImageCheck c = images.resolve(r.sdImagePath);
        if (c.ok) {
            r.sdImageFile = c.file;
            sdOk = true;
        } else {
            ctx.problem("SDImage_path", c.error);
        }
    }
    // The category of a record whose image was refused still comes from the folder it names.
    if (r.category.empty() && !r.imagePath.empty()) {
        std::string p = r.imagePath;
        std::replace(p.begin(), p.end(), '\\', '/');
        r.category = categoryOf(p);
        if (r.category.empty())
            r.category = "Unknown";
    }

    auto up = j.find("unsafe_pairs");
    if (up == j.end()) {
        ctx.problem("unsafe_pairs", "missing");
    } else if (!up->is_array()) {
        ctx.problem("unsafe_pairs", std::string("expected an array, found ") + up->type_name());
    } else {
        if (up->empty())
            ctx.problem("unsafe_pairs", "empty: the record has no harmful question");
        for (std::size_t k = 0; k < up->size(); ++k) {
            const json &pj = (*up)[k];
            const std::string base = "unsafe_pairs[" + std::to_string(k) + "]";
            UnsafePair pair;
            if (!pj.is_object()) {
                ctx.problem(base, std::string("expected an object, found ") + pj.type_name());
                r.unsafePairs.push_back(pair);
                continue;
            }
            const bool q = ctx.str(pj, "question", base + ".question", pair.question);
            std::string resp;
            if (pj.contains("model_response")) {
                if (ctx.str(pj, "model_response", base + ".model_response", resp))
                    pair.responses.push_back(resp);
            } else {
                for (int m = 1; m <= 3; ++m) {
                    const std::string key = "model_response" + std::to_string(m);
                    if (pj.contains(key) && ctx.str(pj, key.c_str(), base + "." + key, resp))
                        pair.responses.push_back(resp);
                }
                if (pair.responses.empty() && !pj.contains("model_response1"))
                    ctx.problem(base + ".model_response", "missing (neither model_response nor model_response1..3)");
            }
            const bool sd = ctx.str(pj, "sd_response", base + ".sd_response", pair.sdResponse);
            pair.forgetUsable = q && !pair.responses.empty() && imageOk;
            pair.pdUsable = q && sd && sdOk;
            r.unsafePairs.push_back(std::move(pair));
        }
    }
    for (const char *key : kUnharmKeys) {
        UnharmPair u;
        u.key = key;
        auto it = j.find(key);
        if (it == j.end())
            continue; // any of them may be missing
        if (it->is_null()) {
            continue;
        }
        if (!it->is_object()) {
            ctx.problem(key, std::string("expected an object, found ") + it->type_name());
            r.unharmPairs.push_back(u);
            continue;
        }
        const bool q = ctx.str(*it, "Question", std::string(key) + ".Question", u.question);
        const bool a = ctx.str(*it, "Prediction", std::string(key) + ".Prediction", u.prediction);
        u.usable = q && a && imageOk;
        r.unharmPairs.push_back(std::move(u));
    }
    // Extra fields are tolerated. `category` may be empty or wrong: the parent folder wins.
    return r;
}

// Where a record whose bytes are not valid UTF-8 has them: the JSON paths of the strings holding
// replacement characters after a lenient decode. Best effort; empty if it cannot tell.
std::string invalidUtf8Fields(const std::string &text)
{
    std::string fields;
    // nlohmann can replace invalid sequences while dumping, not while parsing: replace them by hand.
    std::string fixed;
    fixed.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) { // linear: each scan starts where the last stopped (a copy of the rest was quadratic)
        const std::size_t bad = firstInvalidUtf8(text, i);
        if (bad == std::string::npos) {
            fixed.append(text, i, std::string::npos);
            break;
        }
        fixed.append(text, i, bad - i);
        fixed += "\xEF\xBF\xBD";
        i = bad + 1;
    }
    try {
        const json j = json::parse(fixed);
        // Depth-bounded: a record nested 100,000 levels deep must not exhaust the stack (found by probing).
        std::function<void(const json &, const std::string &, int)> walk = [&](const json &v, const std::string &path,
                                                                               int depth) {
            if (depth > 64)
                return;
            if (v.is_string()) {
                if (v.get<std::string>().find("\xEF\xBF\xBD") != std::string::npos)
                    fields += (fields.empty() ? "" : ", ") + path;
            } else if (v.is_object()) {
                for (auto it = v.begin(); it != v.end(); ++it)
                    walk(it.value(), path.empty() ? it.key() : path + "." + it.key(), depth + 1);
            } else if (v.is_array()) {
                for (std::size_t k = 0; k < v.size(); ++k)
                    walk(v[k], path + "[" + std::to_string(k) + "]", depth + 1);
            }
        };
        walk(j, "", 0);
    } catch (...) {
    }
    return fields;
}

// Cuts `src` (a JSON array, or JSON Lines) into records and parses each on its own; a record with a problem
// (reported with its index) has no value.
std::vector<JsonRecord> parseRecords(const std::string &file, SourceText &src, std::vector<Problem> &problems)
{
    std::vector<JsonRecord> out;
    std::size_t start = 0;
    if (src.bytes.compare(0, 3, "\xEF\xBB\xBF") == 0)
        start = 3; // UTF-8 byte-order mark
    while (start < src.bytes.size() && isWs(src.bytes[start]))
        ++start;
    if (start >= src.bytes.size()) {
        problems.push_back({file, std::nullopt, "", "empty file: no records"});
        return out;
    }
    CutResult cut;
    if (src.bytes[start] == '[') {
        cut = cutArray(src, start);
    } else {
        if (start > 0) {
            src.bytes.replace(0, start, std::string(start, ' '));
            src.changed();
        }
        cut = cutLines(src); // JSON Lines, which the official loader falls back to
    }
    for (const auto &[rec, msg] : cut.problems)
        problems.push_back({file, rec, "", msg});

    for (std::size_t k = 0; k < cut.records.size(); ++k) {
        const RawRecord &raw = cut.records[k];
        const long index = long(k);
        RecordContext ctx(problems, file, index);
        json j;
        const std::size_t badUtf8 = firstInvalidUtf8(raw.text);
        if (badUtf8 != std::string::npos) {
            const std::string fields = invalidUtf8Fields(raw.text);
            ctx.problem(fields, "invalid UTF-8 at " + src.where(raw.offset + badUtf8) + "; record skipped");
        } else {
            try {
                j = json::parse(raw.text);
            } catch (const json::parse_error &e) {
                const std::size_t at = raw.offset + (e.byte > 0 ? e.byte - 1 : 0);
                std::string what = e.what();
                const auto colon = what.find("syntax error");
                ctx.problem("", "invalid JSON at " + src.where(at) + ": " +
                                    (colon != std::string::npos ? what.substr(colon) : what) + "; record skipped");
            } catch (const json::exception &e) { // a number too large for a double (1e999), found by fuzzing
                ctx.problem("", "invalid JSON in the record at " + src.where(raw.offset) + ": " + jsonReason(e) +
                                    "; record skipped");
            }
        }
        if (ctx.count() == 0 && !j.is_object())
            ctx.problem("", std::string("expected a JSON object, found ") + j.type_name() + "; record skipped");
        out.push_back({index, ctx.count() == 0 ? std::optional<json>(std::move(j)) : std::nullopt});
    }
    return out;
}

void readSplit(const fs::path &root, SplitData &split, const ReadOptions &options, ImageResolver &images,
               std::vector<Problem> &problems, Sha256 &hash)
{
    split.file = splitFileName(split.split);
    const fs::path path = root / split.file;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        problems.push_back({split.file, std::nullopt, "", "missing split file"});
        return;
    }
    SourceText src;
    std::string error;
    if (!readFile(root, path, src.bytes, options.maxFileBytes, error)) {
        problems.push_back({split.file, std::nullopt, "", error});
        return;
    }
    split.present = true;
    hash.update(split.file + "\n" + std::to_string(src.bytes.size()) + "\n");
    hash.update(src.bytes);

    for (auto &rec : parseRecords(split.file, src, problems)) {
        RecordContext ctx(problems, split.file, rec.index);
        Record r;
        r.index = rec.index;
        if (rec.value)
            r = readRecord(*rec.value, rec.index, ctx, images);
        r.sound = rec.value && ctx.count() == 0;
        split.records.push_back(std::move(r));
    }

    // Derive the three sets from what is sound.
    for (const Record &r : split.records) {
        for (std::size_t k = 0; k < r.unsafePairs.size(); ++k) {
            const UnsafePair &p = r.unsafePairs[k];
            if (p.forgetUsable)
                split.forget.push_back({split.split, SetKind::Forget, r.index, int(k), r.category, r.imageFile,
                                        p.question, p.responses.front()});
            if (p.pdUsable)
                split.pd.push_back({split.split, SetKind::PromptDecouple, r.index, int(k), r.category, r.sdImageFile,
                                    p.question, p.sdResponse});
        }
        for (const UnharmPair &u : r.unharmPairs) {
            if (!u.usable)
                continue;
            const int slot = int(std::find_if(std::begin(kUnharmKeys), std::end(kUnharmKeys),
                                              [&](const char *key) { return u.key == key; }) -
                                 std::begin(kUnharmKeys));
            split.retain.push_back(
                {split.split, SetKind::Retain, r.index, slot, r.category, r.imageFile, u.question, u.prediction});
        }
    }
}

void readPrompts(const fs::path &root, Benchmark &b, const ReadOptions &options, Sha256 &hash)
{
    const std::string name = "prompt.json";
    std::error_code ec;
    if (!fs::exists(root / name, ec)) {
        b.problems.push_back({name, std::nullopt, "", "missing: preference optimisation needs its refusals"});
        return;
    }
    std::string bytes, error;
    if (!readFile(root, root / name, bytes, options.maxFileBytes, error)) {
        b.problems.push_back({name, std::nullopt, "", error});
        return;
    }
    hash.update(name + "\n" + std::to_string(bytes.size()) + "\n");
    hash.update(bytes);
    const std::size_t bad = firstInvalidUtf8(bytes);
    if (bad != std::string::npos) {
        SourceText src{bytes};
        b.problems.push_back({name, std::nullopt, "", "invalid UTF-8 at " + src.where(bad)});
        return;
    }
    json j;
    try {
        j = json::parse(bytes);
    } catch (const json::parse_error &e) {
        SourceText src{bytes};
        b.problems.push_back({name, std::nullopt, "", "invalid JSON at " + src.where(e.byte ? e.byte - 1 : 0)});
        return;
    } catch (const json::exception &e) {
        b.problems.push_back({name, std::nullopt, "", "invalid JSON: " + jsonReason(e)});
        return;
    }
    if (!j.is_object() || !j.contains("idk")) {
        b.problems.push_back({name, std::nullopt, "idk", "missing (expected an object with a list \"idk\")"});
        return;
    }
    const json &idk = j["idk"];
    if (!idk.is_array()) {
        b.problems.push_back({name, std::nullopt, "idk", std::string("expected an array, found ") + idk.type_name()});
        return;
    }
    for (std::size_t k = 0; k < idk.size(); ++k) {
        if (idk[k].is_string() && !idk[k].get<std::string>().empty())
            b.refusals.push_back(idk[k].get<std::string>());
        else
            b.problems.push_back({name, std::nullopt, "idk[" + std::to_string(k) + "]", "expected a non-empty string"});
    }
    if (b.refusals.empty())
        b.problems.push_back({name, std::nullopt, "idk", "no refusal sentences"});
}

} // namespace

Benchmark readBenchmark(const std::string &folder, const ReadOptions &options)
{
    std::error_code ec;
    const fs::path root = fs::absolute(fs::path(folder), ec);
    if (ec || !fs::exists(root, ec))
        throw std::runtime_error("dataset folder not found: " + folder);
    if (!fs::is_directory(root, ec))
        throw std::runtime_error("not a folder: " + folder);

    Benchmark b;
    b.root = root.lexically_normal().string();
    if (b.root.size() > 1 && b.root.back() == '/')
        b.root.pop_back();
    b.train.split = Split::Train;
    b.val.split = Split::Val;
    Sha256 hash;
    ImageResolver images(fs::path(b.root), options);
    readSplit(b.root, b.train, options, images, b.problems, hash);
    readSplit(b.root, b.val, options, images, b.problems, hash);
    readPrompts(b.root, b, options, hash);
    for (const auto &[rel, size] : images.resolvedSizes())
        hash.update("image\n" + rel + "\n" + std::to_string(size) + "\n");
    b.contentHash = hash.hexDigest();

    for (const SplitData *s : {&b.train, &b.val})
        for (const Record &r : s->records)
            if (!r.category.empty())
                b.categoryRecords[r.category]++;
    return b;
}

std::vector<JsonRecord> readJsonRecords(const std::string &path, std::vector<Problem> &problems, std::uint64_t maxBytes)
{
    const std::string name = fs::path(path).filename().string();
    SourceText src;
    std::string error;
    if (!readFile({}, path, src.bytes, maxBytes, error)) {
        problems.push_back({name, std::nullopt, "", error});
        return {};
    }
    return parseRecords(name, src, problems);
}

} // namespace se::data
