#pragma once
// Shared pieces of the whisper-vram subcommands: option groups, output helpers, the table printer.
// Each subcommand lives in its own file (cmd_*.cpp) and registers itself through commands.hpp.

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/facade/environment.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram::cli {

/// What every subcommand writes to and reads from: the streams it was given (std::cout/std::cerr in
/// the binary, string streams in the tests) and the environment main read once. Nothing in the
/// CLI prints anywhere else or reads the process environment.
struct context {
    std::ostream& out;       ///< results (tables, JSON)
    std::ostream& err;       ///< messages, warnings, `run`'s status line
    const environment& env;  ///< the variables as main read them
};

/// What a parsed subcommand will do; returns its exit status (main turns it into the int).
using command_action = std::function<exit_status(const context&)>;

/// Puts @p options back to what they are when @p command is first parsed (the values its setup
/// left: defaults, fixed fields) each time it is parsed again, so that a command_tree (commands.hpp)
/// parsed once per request never carries one request's options into the next.
template <class Options>
void restore_before_each_parse(CLI::App& command, const std::shared_ptr<Options>& options) {
    command.preparse_callback([options, initial = std::shared_ptr<const Options>()](std::size_t) mutable {
        if (!initial) {
            initial = std::make_shared<const Options>(*options);  // the first parse: the set-up state
        } else {
            *options = *initial;
        }
    });
}

/// Adds subcommand @p name to @p parent, running @p run on its options once parsed; returns the
/// subcommand and its (default) options, for binding the subcommand's flags to them.
template <class Options>
std::pair<CLI::App*, Options*> add_command(CLI::App& parent, command_action& action, std::string name,
                                           std::string description,
                                           exit_status (*run)(const Options&, const context&)) {
    auto options = std::make_shared<Options>();
    auto* command = parent.add_subcommand(std::move(name), std::move(description));
    restore_before_each_parse(*command, options);
    // Parsed → the action: the one place a subcommand's options meet what it does.
    command->callback([options, run, &action] {
        action = [options, run](const context& c) {
            // Options with the shared estimate options take their environment defaults
            // (WHISPER_VRAM_ENGINE, CUDA_MODULE_LOADING) from the context: see estimate_options::env.
            if constexpr (requires { options->estimate.env; }) options->estimate.env = &c.env;
            return run(*options, c);
        };
    });
    return {command, options.get()};
}

/// Sets @p command's help footer: @p intro (when not empty), then "Example:" or "Examples:" and
/// each of @p examples on its own line, indented by two spaces.
void add_footer(CLI::App& command, const std::string& intro, std::initializer_list<std::string> examples);

/// exit_status::ok when @p fits, else exit_status::does_not_fit (the planner subcommands' contract).
constexpr exit_status fit_status(bool fits) noexcept { return fits ? exit_status::ok : exit_status::does_not_fit; }

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
    std::optional<std::string> cuda_module_loading;  ///< --cuda-module-loading lazy|eager
    std::optional<std::string> language;             ///< --language (whisperx)
    bool no_align = false;                           ///< --no-align (whisperx)
    bool diarize = false;                            ///< --diarize (whisperx)
    bool staged = false;                             ///< --staged (whisperx: its CLI's stage-by-stage peak)
    bool engine_given = false;                       ///< --engine was on the command line
    bool batch_given = false;                        ///< --batch was on the command line
    /// --calibration PROFILE ("none" = uncalibrated); unset: WHISPER_VRAM_CALIBRATION, else the state
    /// folder's calibration.json when it exists (find_calibration_profile()).
    std::optional<std::string> calibration;
    /// The profile to_request() found, loaded once (null = uncalibrated); set on first use.
    mutable std::optional<std::shared_ptr<const calibration_profile>> loaded_calibration;
    /// The environment the defaults come from: WHISPER_VRAM_ENGINE when --engine is not given (and
    /// `engine` is still "guide"), CUDA_MODULE_LOADING when --cuda-module-loading is not given.
    /// add_command() sets it before a subcommand runs; nullptr = no environment defaults.
    const environment* env = nullptr;
};

/// Which of the shared options a subcommand offers.
struct estimate_option_set {
    bool segment = true;
    bool batch = true;
    bool precision = true;
    bool margin = true;
    bool engine = true;
};

/// Adds --segment --batch --precision --margin --engine --beam --gpu --flash-attention (as @p set
/// says) and, always, --cuda-module-loading --language --no-align --diarize --staged --calibration.
void add_estimate_options(CLI::App& command, estimate_options& options, estimate_option_set set = {});

/// The engine the options ask for: --engine, else WHISPER_VRAM_ENGINE (options.env), else "guide".
/// @throws usage_error naming WHISPER_VRAM_ENGINE and its value when that is not an engine.
std::string effective_engine(const estimate_options& options);

/// Builds a request for @p model from the options (single values; no lists), with the defaults
/// of effective_engine(): its batch when --batch is not given (whisperx: 16), and
/// CUDA_MODULE_LOADING for engine-aware estimates when --cuda-module-loading is not given, and the
/// calibration profile (--calibration, WHISPER_VRAM_CALIBRATION or the state folder's; loaded once).
/// @throws usage_error for bad values, a missing explicit profile or a corrupt one.
estimate_request to_request(const estimate_options& options, const std::string& model);

/// Adds --simulate SPEC (falls back to WHISPER_VRAM_SIMULATE).
void add_simulate_option(CLI::App& command, std::optional<std::string>& simulate);

/// Whether a subcommand's gpu_manager needs the reservation ledger.
enum class ledger_use {
    none,          ///< GPUs only: no state folder is touched
    state_folder,  ///< `run`, `release-all`: the ledger in state_dir(env)
};

/// A gpu_manager on the probe --simulate (else WHISPER_VRAM_SIMULATE, else NVML from
/// WHISPER_VRAM_NVML_LIBRARY or the usual names) asks for: the one place the CLI makes a probe.
/// With ledger_use::state_folder its scheduler uses the ledger in state_dir(c.env), honours
/// CUDA_VISIBLE_DEVICES from c.env and writes the ledger's warnings to c.err.
/// @throws usage_error for a bad spec (naming the variable when it came from the environment).
/// Inside a Slurm job with shards (SLURM_JOB_ID, SLURM_SHARDS_ON_NODE) reservations are capped at
/// the job's shards × @p shard_granule_bytes (`run --shard-granule`).
gpu_manager make_manager(const context& c, const std::optional<std::string>& simulate,
                         ledger_use ledger = ledger_use::none,
                         std::uint64_t shard_granule_bytes = std::uint64_t{1} << 30);

/// The ledger folder: WHISPER_VRAM_STATE_DIR, else $XDG_RUNTIME_DIR/whisper-vram, else /tmp/whisper-vram-$UID.
std::filesystem::path state_dir(const environment& env);

/// Writes "whisper-vram: warning: …" lines to c.err.
warning_sink warnings_to(const context& c);

/// Splits "a,b,c" into trimmed non-empty items; @throws usage_error on an empty item.
std::vector<std::string> split_list(const std::string& text, const std::string& what);

/// Writes @p value as indented JSON (and a newline) to @p out.
void print_json(std::ostream& out, const nlohmann::ordered_json& value);
/// The same for an estimate, written without building its JSON value (append_json_text(), json.hpp).
void print_estimate_json(std::ostream& out, const memory_estimate& estimate);

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
