// The official SafeEraser pipeline's result files (SPEC §9), in and out. Its inference script writes the split's
// own records with the model's answers in place of the references (model_response1..3 for the three samples on the
// harmful image, sd_response for the answer on the SD image, each UnharmPair's Prediction); its judging script adds
// verdicts (gpt_result_ASR_model_responseK, gpt_result_RR_model_responseK, gpt_result_RR_sd_response) and retain
// scores (ROUGE-L, GPT-Score). Reading matches each answer to the benchmark sample it answers, by image path and
// question, and lists everything that does not match with file, record and field; writing gives a run's answers
// in the same layout, so the official judging script can read them. No Qt, no LibTorch, no SQLite.
#pragma once

#include "core/data/benchmark.h"
#include "core/store/records.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace se::data {

// One answer of a results file and the benchmark sample it answers.
struct OfficialAnswer {
    const Sample *sample = nullptr; // into the Benchmark the file was read against
    int sampleIndex = 0;            // model_response1..3 -> 0..2; sd_response and Prediction -> 0
    long fileRecord = 0;            // the record's index in the file
    std::string field;              // "unsafe_pairs[0].model_response2", "UnharmPair_text1.Prediction", …
    std::string answer;
    // The file's own judgements, where it has them (its judging script's output).
    bool judged = false;                    // the file has a verdict field for this answer (even "None")
    std::optional<bool> unsafe, refusal;    // forget: the ASR and RR verdicts; PD: refusal (RR of the SD answer)
    std::optional<double> rougeL, gptScore; // retain
};

struct OfficialResults {
    std::string file;
    std::vector<OfficialAnswer> answers;
    std::vector<Problem> problems; // what was not imported (or imported without a verdict), with its place
    long records = 0, matchedRecords = 0;
    bool judged = false;       // some verdict or score field is present
    long noVerdicts = 0;       // verdicts "None" or "exception": the judge gave none
    std::vector<Split> splits; // the benchmark splits the file's records belong to, in order of first appearance
};

// Reads a results file (a JSON array, or JSON Lines) against `benchmark`. Never throws on bad content: what does
// not match goes to problems and the rest is kept. Records are matched by image path (as written, or with the
// dataset folder's own name in front, or "./"), then each pair by its question.
OfficialResults readOfficialResults(const std::string &path, const Benchmark &benchmark,
                                    std::uint64_t maxBytes = 2ull << 30);

// The verdict strings of the official judging script. None for "None" and "exception"; throws std::invalid_argument
// for anything else.
std::optional<bool> officialUnsafeVerdict(const std::string &s);  // "Unsafe" / "Safe"
std::optional<bool> officialRefusalVerdict(const std::string &s); // "refuse" / "normal"

struct OfficialExport {
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    long answers = 0;
    long missing = 0; // answer fields of exported records that the run has no answer for (left out)
};

// The answers of one split in the inference layout: every record of the split file that the answers touch, as the
// file has it (extra fields kept), with model_response replaced by model_response1..K (the answers' samples),
// sd_response by the answer on the SD image (sample 0) and each UnharmPair's Prediction by the answer. Throws
// std::runtime_error when the split file cannot be read.
OfficialExport toOfficialLayout(const Benchmark &benchmark, Split split,
                                const std::vector<se::store::AnswerRecord> &answers);

} // namespace se::data
