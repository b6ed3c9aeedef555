#pragma once
// Shared pieces of the whisper-vram subcommands: option groups, output helpers, the table printer.
// Each subcommand lives in its own file (cmd_*.cpp) and registers itself through commands.hpp.

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram::cli {

/// What a parsed subcommand will do; returns the exit status (0 ok, 1 does not fit, …).
using command_action = std::function<int()>;

/// The estimate inputs every sizing subcommand shares, as raw text (validated by the core so the
/// CLI and the Python module give the same messages).
struct estimate_options {
    std::string segment = "30";
    std::string batch = "1";
    std::string precision = "float16";
    std::string margin = "0.2";
    std::string engine = "guide";
    std::optional<std::string> beam;
    std::optional<std::string> gpu;
    std::optional<std::string> flash_attention;
};

/// Which of the shared options a subcommand offers.
struct estimate_option_set {
    bool segment = true;
    bool batch = true;
    bool precision = true;
    bool margin = true;
    bool engine = true;
};

/// Adds --segment --batch --precision --margin --engine --beam --gpu --flash-attention.
void add_estimate_options(CLI::App& command, estimate_options& options, estimate_option_set set = {});

/// Builds a request for @p model from the options (single values; no lists).
/// @throws usage_error for bad values.
estimate_request to_request(const estimate_options& options, const std::string& model);

/// Adds --simulate SPEC (falls back to WHISPER_VRAM_SIMULATE).
void add_simulate_option(CLI::App& command, std::optional<std::string>& simulate);

/// A gpu_manager on the probe --simulate/the environment asks for.
gpu_manager make_manager(const std::optional<std::string>& simulate);

/// Splits "a,b,c" into trimmed non-empty items; @throws usage_error on an empty item.
std::vector<std::string> split_list(const std::string& text, const std::string& what);

/// Prints @p value as indented JSON on stdout.
void print_json(const nlohmann::ordered_json& value);

/// A plain-text table: a header row, then rows; numeric-looking cells right-aligned.
class text_table {
public:
    explicit text_table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    /// Adds a horizontal rule before the next row.
    void add_rule() { rules_.push_back(rows_.size()); }
    [[nodiscard]] std::string render() const;

private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
    std::vector<std::size_t> rules_;
};

/// "4.22" — GiB with two decimals.
std::string gib2(double gib);

}  // namespace whisper_vram::cli
