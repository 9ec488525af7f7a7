// `safeeraser check`: reads a dataset in the official layout and prints what is there and what is wrong.
#include "app/cli/commands.h"
#include "core/util/text.h"
#include "core/data/imageheader.h"
#include "core/data/benchmark.h"

#include <nlohmann/json.hpp>

#include <iostream>

namespace se::cli {
namespace {

struct CheckOptions {
    std::string folder;
    bool json = false;
    std::uint64_t maxPixels = se::data::kDefaultDecodeMaxPixels;
    bool noImages = false;
    std::size_t maxShown = 50;
};

nlohmann::ordered_json splitSummary(const data::SplitData &s)
{
    return {
        {"records", s.records.size()}, {"forget", s.forget.size()}, {"pd", s.pd.size()}, {"retain", s.retain.size()}};
}

int runCheck(const CheckOptions &o)
{
    data::ReadOptions ro;
    ro.maxPixels = o.maxPixels;
    ro.checkImages = !o.noImages;
    data::Benchmark b;
    try {
        b = data::readBenchmark(o.folder, ro);
    } catch (const std::exception &e) {
        std::cerr << "safeeraser check: " << e.what() << "\n";
        return 2;
    }
    if (o.json) {
        nlohmann::ordered_json out;
        out["splits"] = {{"train", splitSummary(b.train)}, {"val", splitSummary(b.val)}};
        nlohmann::ordered_json cats = nlohmann::ordered_json::object();
        for (const auto &[name, n] : b.categoryRecords)
            cats[name] = n;
        out["categories"] = cats;
        out["refusals"] = b.refusals.size();
        out["content_hash"] = b.contentHash;
        nlohmann::ordered_json probs = nlohmann::ordered_json::array();
        for (const auto &p : b.problems) {
            probs.push_back({{"file", p.file},
                             {"record", p.record ? nlohmann::ordered_json(*p.record) : nlohmann::ordered_json(nullptr)},
                             {"field", p.field},
                             {"message", p.message}});
        }
        out["problems"] = probs;
        // Invalid bytes from a broken file can reach a message: replace them rather than fail to print.
        std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    } else {
        std::cout << "Dataset " << se::text::terminalSafe(b.root) << "\n";
        for (const data::SplitData *s : {&b.train, &b.val}) {
            std::cout << "  " << s->file << ": ";
            if (!s->present) {
                std::cout << "missing\n";
                continue;
            }
            std::cout << s->records.size() << " records — forget " << s->forget.size() << ", prompt-decouple "
                      << s->pd.size() << ", retain " << s->retain.size() << "\n";
        }
        std::cout << "  prompt.json: " << b.refusals.size() << " refusals\n";
        std::cout << "  categories (records, both splits):";
        for (const auto &[name, n] : b.categoryRecords) // a category is a folder name the file chose
            std::cout << " " << se::text::terminalSafe(name) << " " << n << ";";
        std::cout << "\n  content hash: " << b.contentHash << "\n";
        if (b.problems.empty()) {
            std::cout << "No problems found.\n";
        } else {
            std::cout << b.problems.size() << (b.problems.size() == 1 ? " problem:\n" : " problems:\n");
            listFirst(
                std::cout, b.problems.size(), o.maxShown, "  ", [&](std::size_t i) { return b.problems[i].toString(); },
                " (use --json or --max-shown 0 for all)");
        }
    }
    return b.problems.empty() ? 0 : 1;
}

} // namespace

void addDataCommands(CLI::App &app, int &exitCode)
{
    auto opts = std::make_shared<CheckOptions>();
    CLI::App *check = app.add_subcommand(
        "check", "Check a dataset in the official SafeEraser layout (all_train.json, all_val.json, prompt.json,\n"
                 "images in category folders). Exit status: 0 no problem, 1 problems found, 2 usage error or\n"
                 "unreadable folder.");
    check->add_option("DIR", opts->folder, "Dataset folder")->required();
    check->add_flag("--json", opts->json, "Print one JSON object: splits, categories, problems");
    check->add_option("--max-pixels", opts->maxPixels, "Refuse images above this many pixels without decoding")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    check->add_flag("--no-images", opts->noImages, "Do not open images (paths are still resolved and checked)");
    check->add_option("--max-shown", opts->maxShown, "Problems listed in the readable summary (0: all)")
        ->capture_default_str();
    check->callback([opts, &exitCode] { exitCode = guarded("check", [&] { return runCheck(*opts); }); });
}

} // namespace se::cli
