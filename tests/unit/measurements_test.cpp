// Committed measurements (data/measurements/*.csv, written by scripts/measure/) against the
// engine-aware estimates: every successful row within 10% of the measured process peak.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "whisper_vram/engines.hpp"
#include "whisper_vram/estimate.hpp"
#include "whisper_vram/gpu_catalog.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;

// tests/unit/<this file> → <repo>/data/measurements (CMake passes absolute source paths).
fs::path measurements_dir() {
    return fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "measurements";
}

std::vector<std::string> split_csv_line(const std::string& line) {
    // The script writes plain fields (no quotes or commas inside); a quoted field is kept whole.
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false;
    for (const char c : line) {
        if (c == '"') {
            quoted = !quoted;
        } else if (c == ',' && !quoted) {
            fields.push_back(field);
            field.clear();
        } else if (c != '\r') {
            field += c;
        }
    }
    fields.push_back(field);
    return fields;
}

std::vector<std::map<std::string, std::string>> read_rows(const fs::path& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<std::string> header;
    std::vector<std::map<std::string, std::string>> rows;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        const auto fields = split_csv_line(line);
        if (header.empty()) {
            header = fields;
            continue;
        }
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
        rows.push_back(std::move(row));
    }
    return rows;
}

TEST(Measurements, CommittedMeasurementsWithinTenPercent) {
    std::vector<fs::path> files;
    if (fs::is_directory(measurements_dir())) {
        for (const auto& entry : fs::directory_iterator(measurements_dir())) {
            if (entry.path().extension() == ".csv") files.push_back(entry.path());
        }
    }
    if (files.empty()) {
        GTEST_SKIP() << "no measurement CSV committed in " << measurements_dir().string()
                     << " yet: run scripts/measure/run.sh on a GPU machine and commit its CSV";
    }
    int compared = 0;
    for (const auto& file : files) {
        for (const auto& row : read_rows(file)) {
            const std::string where = file.filename().string() + ": " + row.at("model") + " " + row.at("precision") +
                                      " batch " + row.at("batch") + " beams " + row.at("beams");
            if (row.at("status") != "ok") continue;  // an OOM row has no peak to compare
            // The estimate assumes 128 cached tokens (4 start + 124 new), as the script forces.
            ASSERT_EQ(row.at("new_tokens"), "124") << where;
            estimate_request r;
            r.engine = row.at("engine");
            r.model = row.at("model");
            r.precision = row.at("precision");
            r.batch_size = std::stoi(row.at("batch"));
            r.beam_size = std::stoi(row.at("beams"));
            r.flash_attention = row.at("attn_implementation") != "eager";
            if (const auto* gpu = match_nvml_name(row.at("gpu"), std::stoull(row.at("gpu_total_bytes")))) {
                r.gpu_name = std::string(gpu->name);
            }
            const auto e = estimate(r);
            const double measured = std::stod(row.at("process_peak_bytes"));
            const double predicted = static_cast<double>(e.total_required_bytes);
            EXPECT_NEAR(predicted, measured, 0.10 * measured) << where << ": estimate " << predicted / 1048576.0
                                                              << " MiB, measured " << measured / 1048576.0 << " MiB";
            EXPECT_GE(static_cast<double>(e.recommended_bytes), 0.95 * measured) << where;
            ++compared;
        }
    }
    EXPECT_GT(compared, 0) << "the committed CSVs hold no successful row";
}

}  // namespace
}  // namespace whisper_vram
