// The SafeEraser benchmark in memory: the records of the official format (SPEC §2), the forget,
// prompt-decouple and retain sets derived from each split, and every problem the reader found.
// Plain structs only — no Qt, no LibTorch — so the CLI, the engine and the UI can all include it cheaply.
#pragma once

#include <cstdint>
#include "core/data/imageheader.h"
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace se::data {

enum class Split { Train, Val };
enum class SetKind { Forget, PromptDecouple, Retain };

const char *splitName(Split s);     // "train" / "val"
const char *setName(SetKind s);     // "forget" / "pd" / "retain"
const char *splitFileName(Split s); // "all_train.json" / "all_val.json"

// The file the benchmark generator writes into a folder it made (its "harmful" images are drawn, not real).
constexpr const char *kGeneratedBenchmarkMarker = ".safeeraser-benchmark.json";

// The six harm categories of the paper, in the paper's order.
const std::vector<std::string> &harmCategories();

// One problem, with its place: file (relative to the dataset folder), 0-based record index (none for a
// file-level problem), field (a JSON path such as "unsafe_pairs[2].question"; empty when not about a
// field) and a reason a person can act on.
struct Problem {
    std::string file;
    std::optional<long> record;
    std::string field;
    std::string message;
    std::string toString() const; // "all_train.json: record 3: unsafe_pairs[0].question: missing"
};

struct UnsafePair {
    std::string question;
    std::vector<std::string> responses; // model_response, or model_response1..3 in evaluation files
    std::string sdResponse;
    bool forgetUsable = false; // question + a response + the harmful image are sound
    bool pdUsable = false;     // question + sd_response + the SD image are sound
};

// The record's four retain fields, in the order of UnharmPair's slots (SPEC §2).
inline constexpr const char *kUnharmKeys[4] = {"UnharmPair_text1", "UnharmPair_text2", "UnharmPair_image1",
                                               "UnharmPair_image2"};

struct UnharmPair {
    std::string key; // one of kUnharmKeys
    std::string question;
    std::string prediction;
    bool usable = false;
};

struct Record {
    long index = 0;          // 0-based position in its split file
    std::string imagePath;   // as written in the file
    std::string imageFile;   // resolved path on disk; empty when the image is refused
    std::string category;    // name of the harmful image's parent folder
    std::string sdImagePath; // as written
    std::string sdImageFile; // resolved; empty when refused
    std::vector<UnsafePair> unsafePairs;
    std::vector<UnharmPair> unharmPairs;
    bool sound = true; // no problem was found in this record
};

// One training / evaluation example of a derived set.
struct Sample {
    Split split = Split::Train;
    SetKind set = SetKind::Forget;
    long record = 0;       // index of the record in its split
    int pair = 0;          // index of the unsafe pair, or of the UnharmPair field (text1, text2, image1, image2)
    std::string category;  // the record's harm category (also for PD samples, whose SD image has none)
    std::string imageFile; // resolved image path
    std::string question;
    std::string answer; // forget: model_response (first one); PD: sd_response; retain: Prediction
};

struct SplitData {
    Split split = Split::Train;
    std::string file; // split file name as found ("all_train.json")
    bool present = false;
    std::vector<Record> records;
    std::vector<Sample> forget, pd, retain;
    const std::vector<Sample> &set(SetKind k) const;
};

struct Benchmark {
    std::string root; // the dataset folder, absolute
    SplitData train, val;
    std::vector<std::string> refusals; // prompt.json["idk"]
    std::vector<Problem> problems;
    std::string contentHash;                     // hex SHA-256 over the JSON files and every image's path and size
    std::map<std::string, long> categoryRecords; // records per category, both splits

    const SplitData &split(Split s) const { return s == Split::Train ? train : val; }
    SplitData &split(Split s) { return s == Split::Train ? train : val; }
};

struct ReadOptions {
    std::uint64_t maxPixels = kDefaultDecodeMaxPixels; // images above this are refused without decoding
    bool checkImages = true;                           // open each image and check its header
    std::uint64_t maxFileBytes = 2ull << 30;           // a split file larger than this is refused
};

// Reads a dataset folder in the official layout. Never throws on bad content: every problem lands in
// Benchmark::problems, and only sound samples enter the derived sets. Throws std::runtime_error only when
// the folder itself cannot be read (missing, not a directory).
Benchmark readBenchmark(const std::string &folder, const ReadOptions &options = {});

} // namespace se::data
