// whisper-vram best-model: the guide's assign_optimal_model for a given amount of memory.

#include <fmt/format.h>

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

exit_status run_best_model(const best_model_options& o, const context& c) {
    const std::uint64_t memory = parse_size_bytes(o.memory, "--memory");
    const estimate_request request = to_request(o.estimate, "medium");  // model ignored: the ladder decides
    const best_model_result r = offline_manager().assign_optimal_model(memory, request, o.english);
    if (o.json) {
        print_json(c.out, to_json(r));
    } else {
        const auto& q = r.estimate.request;
        c.out << fmt::format("memory {} | {} | segment {:g} s | batch {} | engine {}\n", format_gib(memory),
                             q.precision, q.segment_seconds, q.batch_size, q.engine);
        if (r.fits) {
            c.out << fmt::format("best model: {} (recommended {})\n", r.model,
                                 format_gib(r.estimate.recommended_bytes));
        } else {
            c.out << fmt::format("best model: none fits; the smallest, {}, needs {} recommended\n", r.model,
                                 format_gib(r.estimate.recommended_bytes));
        }
        c.out << fmt::format("ladder: {}\n", fmt::join(r.ladder, " > "));
        for (const auto& n : r.notes) c.out << fmt::format("note: {}\n", n);
    }
    if (!r.fits) c.err << "whisper-vram: " << r.message << '\n';
    return fit_status(r.fits);
}

}  // namespace

void setup_best_model(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "best-model", "the best model that fits in an amount of memory (assign_optimal_model)",
                    run_best_model);
    command->add_option("--memory", options->memory, "available memory; a bare number is GiB (8, 7.5GiB, 8192MiB)")
        ->required();
    add_estimate_options(*command, options->estimate);
    command->add_flag("--english", options->english, "English-only ladder (.en and distil models)");
    command->add_flag("--json", options->json, "print JSON {model, fits, recommended, memory, ...}");
    add_footer(*command,
               "Ladder (guide): large > medium > small > base > tiny. Exit 0 when a model fits, 1 when none does\n"
               "(the answer is then tiny, as the guide's function returns).",
               {"whisper-vram best-model --memory 8",
                "whisper-vram best-model --memory 6GiB --segment 120 --precision int8 --json"});
}

}  // namespace whisper_vram::cli
