#include "cli_common.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <charconv>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"
#include "whisper_vram/facade/calibration_file.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/slurm.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {

void add_estimate_options(CLI::App& command, estimate_options& o, estimate_option_set set) {
    if (set.segment) command.add_option("--segment", o.segment, "audio segment length in seconds (default 30)");
    if (set.batch) {
        command.add_option("--batch", o.batch, "batch size, an integer 1-4096 (default 1; whisperx: 16, its README's)")
            ->each([&o](const std::string&) { o.batch_given = true; });
    }
    if (set.precision) {
        command.add_option("--precision", o.precision,
                           engine_precisions_text() + " (aliases such as fp16 are accepted); all = sweep");
    }
    if (set.margin) command.add_option("--margin", o.margin, "safety margin, 0-10 (default 0.2 = 20%)");
    if (set.engine) {
        command.add_option("--engine", o.engine, engine_list_text() + " (default: WHISPER_VRAM_ENGINE, else guide)")
            ->each([&o](const std::string&) { o.engine_given = true; });
        command.add_option("--beam", o.beam, "beam size 1-64 (engines only; default: the engine's: 5, transformers 1)");
        command.add_option("--gpu", o.gpu, "GPU model the job runs on, e.g. \"T4\" (engines only)");
        command.add_option("--flash-attention", o.flash_attention, "on|off (engines only; default: the engine's)");
    }
    command.add_option("--cuda-module-loading", o.cuda_module_loading,
                       "lazy|eager: how the job's CUDA loads kernels (engines only; default: CUDA_MODULE_LOADING, "
                       "else not stated = sized as eager, the safe side)");
    command.add_option("--language", o.language,
                       "whisperx: language of the alignment model, e.g. en (default), fr, ja");
    command.add_flag("--no-align", o.no_align, "whisperx: no wav2vec2 alignment model");
    command.add_flag("--diarize", o.diarize, "whisperx: add the pyannote diarization pipeline");
    command.add_flag("--staged", o.staged,
                     "whisperx: size its CLI, which frees each stage's models before the next (default: its README's "
                     "Python example, every model resident)");
    command.add_option("--calibration", o.calibration,
                       "calibration profile (whisper-vram calibrate) for the engine estimates, or none (default: "
                       "WHISPER_VRAM_CALIBRATION, else calibration.json in the state folder when it exists; the "
                       "guide's formula is never calibrated)");
}

std::string effective_engine(const estimate_options& o) {
    if (o.engine_given || o.engine != "guide" || o.env == nullptr) return o.engine;
    return default_engine(o.env->engine);
}

estimate_request to_request(const estimate_options& o, const std::string& model) {
    estimate_request request;
    request.model = model;
    request.segment_seconds = parse_segment_seconds(o.segment);
    const std::string engine = effective_engine(o);
    // The core reads an empty engine as the guide; from --engine '' that would be a silent default.
    if (engine.find_first_not_of(" \t") == std::string::npos) (void)canonical_engine(engine);  // throws
    request.engine = engine;
    request.batch_size = !o.batch_given && o.batch == "1" ? default_batch_size(engine) : parse_batch_size(o.batch);
    request.precision = o.precision;
    request.margin = parse_margin(o.margin);
    if (o.beam) {
        const auto& text = *o.beam;
        int beam = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), beam);
        if (ec != std::errc{} || ptr != text.data() + text.size() || beam < 1 || beam > 64) {
            throw usage_error(fmt::format("beam size '{}' is invalid: must be an integer from 1 to 64", text));
        }
        request.beam_size = beam;
    }
    if (o.gpu) request.gpu_name = *o.gpu;
    if (o.flash_attention) {
        if (*o.flash_attention == "on") {
            request.flash_attention = true;
        } else if (*o.flash_attention == "off") {
            request.flash_attention = false;
        } else {
            throw usage_error(fmt::format("--flash-attention '{}' is invalid: accepted: on, off", *o.flash_attention));
        }
    }
    if (o.cuda_module_loading) {
        request.cuda_module_loading = parse_cuda_module_loading(*o.cuda_module_loading, "--cuda-module-loading");
    } else if (o.env != nullptr && o.env->cuda_module_loading && !is_guide_engine(engine) &&
               o.env->cuda_module_loading->find_first_not_of(" \t") != std::string::npos) {
        // The guide's formula has no runtime input: the variable is for CUDA, not an error there.
        request.cuda_module_loading = parse_cuda_module_loading(*o.env->cuda_module_loading, "CUDA_MODULE_LOADING");
    }
    if (o.language) request.language = *o.language;
    if (o.no_align) request.align = false;
    request.diarize = o.diarize;
    request.staged = o.staged;
    // The guide's formula is never calibrated (registry.cpp): for it the state folder's default
    // profile is not looked for (a stat of calibration.json for every estimate, and an error about
    // a file that cannot change the answer). A profile the user names (--calibration,
    // WHISPER_VRAM_CALIBRATION) is read whatever the engine, so a bad one is an error still.
    const bool named = o.calibration || (o.env != nullptr && o.env->calibration);
    if (!o.loaded_calibration && (named || !is_guide_engine(engine))) {
        environment bare;
        bare.state_dir = std::string();  // without the context's environment: no default profile
        o.loaded_calibration = find_calibration_profile(o.env != nullptr ? *o.env : bare, o.calibration);
    }
    if (o.loaded_calibration) request.calibration = *o.loaded_calibration;
    return request;
}

void add_footer(CLI::App& command, const std::string& intro, std::initializer_list<std::string> examples) {
    std::string text = intro.empty() ? "" : intro + '\n';
    text += examples.size() == 1 ? "Example:" : "Examples:";
    for (const auto& example : examples) text += "\n  " + example;
    command.footer(text);
}

void add_simulate_option(CLI::App& command, std::optional<std::string>& simulate) {
    command.add_option("--simulate", simulate,
                       "simulated GPUs instead of NVML, e.g. \"RTX 3090,8GiB:used=1GiB\" (env WHISPER_VRAM_SIMULATE)");
}

gpu_manager make_manager(const context& c, const std::optional<std::string>& simulate, ledger_use ledger,
                         std::uint64_t shard_granule_bytes) {
    probe_options options = probe_options_from(c.env);
    if (simulate) options.simulate = *simulate;
    // A bad spec from the environment must say where it came from: no flag on the command line shows it.
    const bool from_environment = !simulate && options.simulate.has_value();
    std::shared_ptr<gpu_probe> probe;
    try {
        probe = make_probe(options);
    } catch (const usage_error& e) {
        if (!from_environment) throw;
        throw usage_error(fmt::format("WHISPER_VRAM_SIMULATE='{}' is invalid: {}", *options.simulate, e.what()));
    }
    gpu_manager manager(probe, c.env, warnings_to(c));
    if (ledger == ledger_use::state_folder) {
        scheduler_options scheduling;
        scheduling.cuda_visible_devices = c.env.cuda_visible_devices;
        if (const auto cap = job_cap_from_slurm(c.env.slurm_job_id, c.env.slurm_shards_on_node, shard_granule_bytes)) {
            scheduling.job_cap_bytes = cap->bytes;
            scheduling.job_cap_source = cap->source;
        }
        auto file = std::make_shared<file_ledger>(state_dir(c.env), nullptr, warnings_to(c));
        manager.use_scheduler(std::make_shared<scheduler>(probe, std::move(file), std::move(scheduling)));
    }
    return manager;
}

std::filesystem::path state_dir(const environment& env) { return state_dir_from(env); }

warning_sink warnings_to(const context& c) {
    std::ostream* err = &c.err;
    return [err](const std::string& w) { *err << "whisper-vram: warning: " << w << '\n'; };
}

std::vector<std::string> split_list(const std::string& text, const std::string& what) {
    std::vector<std::string> items;
    std::size_t start = 0;
    for (;;) {
        const auto pos = text.find(',', start);
        std::string item = text.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (item.empty()) throw usage_error(fmt::format("{} '{}' has an empty item", what, text));
        items.push_back(std::move(item));
        if (pos == std::string::npos) return items;
        start = pos + 1;
    }
}

namespace {
void write_line(std::ostream& out, std::string& text) {
    text += '\n';
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
}
}  // namespace

void print_json(std::ostream& out, const nlohmann::ordered_json& value) {
    // Bytes that are not UTF-8 (from the environment: CUDA_VISIBLE_DEVICES, a library path) are
    // written as U+FFFD rather than throwing: a report must print whatever the environment holds.
    // json_text() writes what value.dump(2, ' ', false, replace) would, with a fraction of the work.
    std::string text = json_text(value);
    write_line(out, text);
}

void print_estimate_json(std::ostream& out, const memory_estimate& estimate) {
    std::string text;
    text.reserve(1024);
    append_json_text(text, estimate);
    write_line(out, text);
}

namespace {
bool numeric_cell(const std::string& cell) {
    // Right-align plain numbers ("4.22", "-1", "117", "12.5%"), not text that starts with a digit.
    bool digit = false;
    for (const char c : cell) {
        if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
            digit = true;
        } else if (c != '.' && c != '-' && c != '+' && c != '%') {
            return false;
        }
    }
    return digit;
}
}  // namespace

std::string text_table::render() const {
    std::vector<std::size_t> widths(header_.size(), 0);
    const auto measure = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    };
    measure(header_);
    for (const auto& row : rows_) measure(row);
    std::size_t total = 0;
    for (const auto w : widths) total += w + 2;
    const std::string rule(total > 2 ? total - 2 : 0, '-');
    std::string out;
    const auto line = [&](const std::vector<std::string>& row, bool header) {
        std::string text;
        for (std::size_t i = 0; i < widths.size(); ++i) {
            const std::string cell = i < row.size() ? row[i] : "";
            const bool right = !header && i > 0 && numeric_cell(cell);
            text += right ? fmt::format("{:>{}}", cell, widths[i]) : fmt::format("{:<{}}", cell, widths[i]);
            if (i + 1 < widths.size()) text += "  ";
        }
        text.erase(text.find_last_not_of(' ') + 1);
        out += text + '\n';
    };
    line(header_, true);
    out += rule + '\n';
    for (std::size_t r = 0; r < rows_.size(); ++r) {
        if (std::find(rules_.begin(), rules_.end(), r) != rules_.end()) out += rule + '\n';
        line(rows_[r], false);
    }
    return out;
}

std::string gib2(double gib) { return fmt::format("{:.2f}", gib); }

}  // namespace whisper_vram::cli
