// Committed measurements (data/measurements/*.csv, written by scripts/measure/) against the
// engine-aware estimates: every successful row within 10% of the measured process peak.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/engines/engines.hpp"

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

struct comparison {
    int compared = 0;
    std::vector<std::string> failures;  // rows outside the tolerance, or with recommended < 95% of the peak
};

// Compares every successful row of the CSVs in @p files with the engine-aware estimate.
comparison compare(const std::vector<fs::path>& files) {
    comparison result;
    for (const auto& file : files) {
        for (const auto& row : read_rows(file)) {
            if (row.at("status") != "ok") continue;  // an OOM row has no peak to compare
            const std::string where = file.filename().string() + ": " + row.at("model") + " " + row.at("precision") +
                                      " batch " + row.at("batch") + " beams " + row.at("beams");
            // The estimate assumes 128 cached tokens (4 start + 124 new), as the script forces.
            if (row.at("new_tokens") != "124") {
                result.failures.push_back(where + ": new_tokens " + row.at("new_tokens") +
                                          ", the estimate assumes 124");
                continue;
            }
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
            ++result.compared;
            if (std::abs(predicted - measured) > 0.10 * measured ||
                static_cast<double>(e.recommended_bytes) < 0.95 * measured) {
                result.failures.push_back(where + ": estimate " + std::to_string(predicted / 1048576.0) +
                                          " MiB, measured " + std::to_string(measured / 1048576.0) + " MiB");
            }
        }
    }
    return result;
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
    const comparison result = compare(files);
    EXPECT_GT(result.compared, 0) << "the committed CSVs hold no successful row";
    for (const auto& failure : result.failures) ADD_FAILURE() << failure;
}

// The reader understands what scripts/measure/measure_transformers.py writes (its COLUMNS, '#'
// header lines) and the tolerance rejects a row 20% off.
TEST(Measurements, ReaderAndToleranceOnTheScriptsFormat) {
    estimate_request r;
    r.engine = "transformers";
    r.model = "large-v3";
    r.batch_size = 4;
    r.beam_size = 5;
    r.flash_attention = true;
    r.gpu_name = "H100";
    const std::uint64_t exact = estimate(r).total_required_bytes;
    const fs::path dir = fs::path(WHISPER_VRAM_TEST_BINARY_DIR) / "measurements-format";
    fs::create_directories(dir);
    const fs::path file = dir / "transformers-nvidia-h100-80gb-hbm3.csv";
    {
        std::ofstream out(file);
        out << "# gpu: NVIDIA H100 80GB HBM3\n# driver: 550.54.15\n"
            << "engine,model,precision,batch,beams,attn_implementation,new_tokens,nvml_baseline_used_bytes,"
               "nvml_peak_used_bytes,process_peak_bytes,torch_max_reserved_bytes,torch_max_allocated_bytes,gpu,"
               "gpu_total_bytes,status\r\n";
        const auto row = [&](std::uint64_t peak, const char* status) {
            out << "transformers,large-v3,float16,4,5,sdpa,124,0," << peak << "," << peak
                << ",1,1,NVIDIA H100 80GB HBM3," << 85'520'809'984ULL << "," << status << "\n";
        };
        row(exact, "ok");
        row(exact * 12 / 10, "ok");  // the estimate is 1/1.2 of this: 16.7% low
        row(1, "oom");               // not compared
    }
    const comparison result = compare({file});
    EXPECT_EQ(result.compared, 2);
    ASSERT_EQ(result.failures.size(), 1U);
    EXPECT_NE(result.failures[0].find("large-v3 float16 batch 4 beams 5"), std::string::npos) << result.failures[0];
    fs::remove_all(dir);
}

}  // namespace
}  // namespace whisper_vram
