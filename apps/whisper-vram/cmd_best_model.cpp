// whisper-vram best-model: the guide's assign_optimal_model for a given amount of memory.

#include <fmt/format.h>
#include <iostream>

#include "commands.hpp"
#include "planner_cli.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::cli {
namespace {

struct best_model_options {
    std::string memory;
    estimate_options estimate;
    bool english = false;
    bool json = false;
};

int run_best_model(const best_model_options& o) {
    const std::uint64_t memory = parse_size_bytes(o.memory, "--memory");
    const estimate_request request = to_request(o.estimate, "medium");  // model ignored: the ladder decides
    const best_model_result r = offline_manager().assign_optimal_model(memory, request, o.english);
    if (o.json) {
        print_json(to_json(r));
    } else {
        const auto& q = r.estimate.request;
        fmt::print("memory {} | {} | segment {:g} s | batch {} | engine {}\n", format_gib(memory), q.precision,
                   q.segment_seconds, q.batch_size, q.engine);
        if (r.fits) {
            fmt::print("best model: {} (recommended {})\n", r.model, format_gib(r.estimate.recommended_bytes));
        } else {
            fmt::print("best model: none fits; the smallest, {}, needs {} recommended\n", r.model,
                       format_gib(r.estimate.recommended_bytes));
        }
        fmt::print("ladder: {}\n", fmt::join(r.ladder, " > "));
        for (const auto& n : r.notes) fmt::print("note: {}\n", n);
    }
    if (!r.fits) std::cerr << "whisper-vram: " << r.message << '\n';
    return r.fits ? 0 : 1;
}

}  // namespace

void setup_best_model(CLI::App& app, command_action& action) {
    auto options = std::make_shared<best_model_options>();
    auto* command =
        app.add_subcommand("best-model", "the best model that fits in an amount of memory (assign_optimal_model)");
    command->add_option("--memory", options->memory, "available memory; a bare number is GiB (8, 7.5GiB, 8192MiB)")
        ->required();
    add_estimate_options(*command, options->estimate);
    command->add_flag("--english", options->english, "English-only ladder (.en and distil models)");
    command->add_flag("--json", options->json, "print JSON {model, fits, recommended, memory, ...}");
    command->footer(
        "Ladder (guide): large > medium > small > base > tiny. Exit 0 when a model fits, 1 when none does\n"
        "(the answer is then tiny, as the guide's function returns).\n"
        "Examples:\n"
        "  whisper-vram best-model --memory 8\n"
        "  whisper-vram best-model --memory 6GiB --segment 120 --precision int8 --json");
    command->callback([options, &action] { action = [options] { return run_best_model(*options); }; });
}

}  // namespace whisper_vram::cli
