// whisper-vram calc: the guide's calculate_memory_usage (and engine-aware estimates), with sweeps.

#include <fmt/format.h>
#include <algorithm>

#include "commands.hpp"
#include "planner_cli.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/precision.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::cli {
namespace {

struct calc_options {
    std::string model;
    estimate_options estimate;
    std::optional<std::string> preset;
    std::vector<std::string> explicit_options;  // options given on the command line (for --preset conflicts)
    bool json = false;
};

// --preset NAME fills model, segment, batch and precision from the guide's preset; giving any of
// them too is a usage error (which one would win is not obvious).
void apply_preset(calc_options& o) {
    if (!o.preset) {
        if (o.model.empty()) {
            throw usage_error(
                "model is required: give a MODEL (e.g. medium) or --preset NAME (high_performance, balanced, "
                "efficient)");
        }
        return;
    }
    const guide_preset& preset = find_preset(*o.preset);
    if (!o.model.empty()) {
        throw usage_error(fmt::format("--preset {} sets the model ({}); do not give a MODEL ('{}') too", preset.name,
                                      preset.model, o.model));
    }
    if (!o.explicit_options.empty()) {
        throw usage_error(fmt::format("--preset {} sets model, segment, batch and precision; {} conflicts with it",
                                      preset.name, o.explicit_options.front()));
    }
    o.model = std::string(preset.model);
    o.estimate.segment = fmt::format("{:g}", preset.segment_seconds);
    o.estimate.batch = std::to_string(preset.batch_size);
    o.estimate.batch_given = true;  // the preset's batch, not an engine's default
    o.estimate.precision = std::string(preset.precision);
}

void print_single(std::ostream& out, const memory_estimate& e) {
    out << fmt::format("{} | {} | segment {:g} s | batch {} | engine {}", e.request.model, e.request.precision,
                       e.request.segment_seconds, e.request.batch_size, e.request.engine);
    if (e.request.beam_size) out << fmt::format(" | beam {}", *e.request.beam_size);
    if (e.request.flash_attention) {
        out << fmt::format(" | flash attention {}", *e.request.flash_attention ? "on" : "off");
    }
    if (e.request.gpu_name) out << fmt::format(" | GPU {}", *e.request.gpu_name);
    out << "\n";
    text_table table({"component", "GiB", "what"});
    for (const auto& c : e.breakdown) table.add_row({c.key, gib2(c.gib), c.description});
    table.add_rule();
    if (e.calibration && e.uncalibrated) {
        // A measured-run calibration: the total is the profile's correction of the components' sum.
        table.add_row(
            {"total_required", gib2(e.total_required_gib),
             fmt::format("calibrated from {} run{}, held-out error {} (components sum to {} GiB){}",
                         e.calibration->runs, e.calibration->runs == 1 ? "" : "s",
                         e.calibration->held_out_error_pct ? fmt::format("{:.1f}%", *e.calibration->held_out_error_pct)
                                                           : std::string("n/a: one run"),
                         gib2(e.uncalibrated->total_required_gib),
                         e.calibration->extrapolated ? "; extrapolated" : "")});
    } else {
        table.add_row({"total_required", gib2(e.total_required_gib), "sum of the components"});
    }
    table.add_row({"recommended", gib2(e.recommended_gib),
                   fmt::format("total x {:g} (margin {:g}%)", 1.0 + e.request.margin, e.request.margin * 100.0)});
    out << table.render();
    if (e.host_bytes) {
        out << fmt::format("host memory for {:g} s of audio and its mel spectrogram: {:.2f} GiB ({:.1f} MiB)\n",
                           e.request.segment_seconds, bytes_to_gib(*e.host_bytes), bytes_to_mib(*e.host_bytes));
    }
    for (const auto& note : e.notes) out << fmt::format("note: {}\n", note);
}

// The precision @p engine runs for the guide's @p precision: the same name when the engine takes
// it, else the nearest it has (int4 → int8 → float16; bfloat16 → float16); empty when none.
std::string engine_precision_for(std::string_view engine, const std::string& precision) {
    const auto supported = engine_precisions(engine);
    std::vector<std::string> candidates{precision};
    if (precision == "int4") candidates.emplace_back("int8");
    candidates.emplace_back("float16");
    for (const auto& candidate : candidates) {
        try {
            return canonical_engine_precision(engine, candidate);
        } catch (const usage_error&) {  // not this one: try the next
        }
    }
    return {};
}

// The guide's one-line hint: what each real engine needs for the same job (same model, segment,
// batch, margin; the nearest precision each engine has), and how to choose one.
std::string engine_hint(const memory_estimate& guide) {
    std::vector<std::string> items;
    for (const auto& engine : engine_names()) {
        const std::string precision = engine_precision_for(engine, guide.request.precision);
        if (precision.empty()) continue;
        estimate_request r = guide.request;
        r.engine = engine;
        r.precision = precision;
        try {
            const memory_estimate e = estimate(r);
            // The engine's own name for the precision when it differs (f16, q4_0, int8 for int4).
            items.push_back(fmt::format("{} {} GiB{}", engine, gib2(e.recommended_gib),
                                        precision == guide.request.precision ? "" : fmt::format(" ({})", precision)));
        } catch (const usage_error&) {  // this engine cannot size the job: leave it out
        }
    }
    std::string list;
    for (const auto& item : items) list += (list.empty() ? "" : ", ") + item;
    return fmt::format(
        "Real engines for the same job (recommended): {} - choose one with --engine, or set "
        "WHISPER_VRAM_ENGINE\n",
        list);
}

void print_sweep(std::ostream& out, const std::vector<memory_estimate>& estimates) {
    std::vector<std::string> header{"model", "precision", "segment s", "batch"};
    const bool engine = !is_guide_engine(estimates.front().request.engine);
    if (engine) header.emplace_back("beam");
    for (const auto& c : estimates.front().breakdown) header.push_back(c.key);
    header.emplace_back("total GiB");
    header.emplace_back("recommended GiB");
    text_table table(header);
    for (const auto& e : estimates) {
        std::vector<std::string> row{e.request.model, e.request.precision,
                                     fmt::format("{:g}", e.request.segment_seconds),
                                     std::to_string(e.request.batch_size)};
        if (engine) row.push_back(e.request.beam_size ? std::to_string(*e.request.beam_size) : "-");
        for (const auto& c : e.breakdown) row.push_back(gib2(c.gib));
        row.push_back(gib2(e.total_required_gib));
        row.push_back(gib2(e.recommended_gib));
        table.add_row(std::move(row));
    }
    out << table.render();
    std::vector<std::string> shown;
    for (const auto& e : estimates) {
        for (const auto& note : e.notes) {
            if (std::find(shown.begin(), shown.end(), note) == shown.end()) shown.push_back(note);
        }
    }
    for (const auto& note : shown) out << fmt::format("note: {}\n", note);
}

exit_status run_calc(calc_options o, const context& c) {
    apply_preset(o);
    // --precision × --segment × --batch, each a value or a list; with --precision all, what the
    // engine or the card cannot run is marked and the sweep goes on (planner_cli.hpp).
    estimate_options options = o.estimate;
    if (options.precision == "all") options.engine = effective_engine(o.estimate);
    const auto points =
        run_sweep(options, sweep_requests(options, o.model), [](const estimate_request& r) { return estimate(r); });
    const bool sweep = points.size() > 1;  // one point: run_sweep threw unless it has a result
    std::optional<preset_evaluation> preset;
    if (o.preset) preset = evaluate_preset(find_preset(*o.preset));
    if (o.json) {
        if (!sweep && !preset) {
            print_estimate_json(c.out, *points.front().result);  // no JSON value built (json.hpp)
        } else if (!sweep) {
            auto j = to_json(*points.front().result);
            j["preset"] = to_json(*preset);
            print_json(c.out, j);
        } else {
            print_json(c.out, sweep_json(points, true, ""));
        }
        return exit_status::ok;
    }
    std::vector<memory_estimate> estimates;
    for (const auto& p : points) {
        if (p.result) estimates.push_back(*p.result);
    }
    if (sweep) {
        print_sweep(c.out, estimates);
        for (const auto& p : points) {
            if (!p.result) c.out << fmt::format("note: {}\n", p.unsupported);
        }
    } else {
        print_single(c.out, estimates.front());
        if (preset) {
            c.out << fmt::format("preset {}: max_concurrent {}, target {}; {} x {} = {:.2f} GiB recommended\n",
                                 preset->preset.name, preset->preset.max_concurrent, preset->preset.target_gpu,
                                 preset->preset.max_concurrent, gib2(preset->estimate.recommended_gib),
                                 preset->recommended_gib);
            c.out << fmt::format("preset {}: {}\n", preset->preset.name, preset->message);
        }
        // Last line of the guide's answer: what the real engines need (issue 11, item 6).
        if (is_guide_engine(estimates.front().request.engine)) c.out << engine_hint(estimates.front());
    }
    return exit_status::ok;
}

}  // namespace

void setup_calc(CLI::App& app, command_action& action) {
    auto options = std::make_shared<calc_options>();
    auto* command = app.add_subcommand("calc", "memory a Whisper job needs: breakdown, total, recommended (+margin)");
    restore_before_each_parse(*command, options);
    command->add_option("model", options->model, "model name, e.g. medium, large-v3, turbo (or use --preset)");
    add_estimate_options(*command, options->estimate);
    command->add_option(
        "--preset", options->preset,
        "the guide's preset: high_performance, balanced, efficient (sets model, segment, batch, precision)");
    command->add_flag("--json", options->json, "print one JSON object (a JSON array for sweeps)");
    command->footer(
        "Lists sweep: --segment 30,60,120,300,600 and/or --precision all (or float32,int8) print one table.\n"
        "Examples:\n"
        "  whisper-vram calc medium\n"
        "  whisper-vram calc large --segment 600 --batch 2 --precision int8 --json\n"
        "  whisper-vram calc medium --segment 30,60,120,300,600\n"
        "  whisper-vram calc large --precision all\n"
        "  whisper-vram calc --preset balanced\n"
        "Engine-aware (what nvidia-smi shows; GPU memory flat over --segment):\n"
        "  whisper-vram calc large-v3 --engine faster-whisper --precision int8_float16 --gpu T4\n"
        "  whisper-vram calc turbo --engine openai-whisper --beam 1\n"
        "  whisper-vram calc large-v3 --engine whisper.cpp --precision all");
    // The options --preset conflicts with, looked up once (not by name on every parse).
    std::vector<std::pair<std::string, const CLI::Option*>> preset_conflicts;
    for (const char* name : {"--segment", "--batch", "--precision"}) {
        preset_conflicts.emplace_back(name, command->get_option(name));
    }
    command->callback([options, preset_conflicts, &action] {
        for (const auto& [name, option] : preset_conflicts) {
            if (option->count() > 0) options->explicit_options.push_back(name);
        }
        action = [options](const context& c) {
            options->estimate.env = &c.env;  // WHISPER_VRAM_ENGINE, CUDA_MODULE_LOADING (as add_command does)
            return run_calc(*options, c);
        };
    });
}

}  // namespace whisper_vram::cli
