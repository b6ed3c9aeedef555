// whisper-vram: will it fit, what should I run, how many at once, and is this GPU healthy.
// The exit status is chosen here from exit_status (error.hpp): 0 ok/fits, 1 does not fit, 2 usage
// or environment error, 3 GPU information unavailable, 70 a bug; `run` passes its job's through.

#include "cli.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <vector>

#include "commands.hpp"
#include "whisper_vram/version.hpp"

namespace whisper_vram::cli {
namespace {

// The order of --help.
constexpr setup_function* setups[] = {
    setup_calc,      setup_models,      setup_gpus,  setup_debug, setup_best_model, setup_solve,
    setup_recommend, setup_presets,     setup_check, setup_run,   setup_measure,    setup_calibrate,
    setup_tasks,     setup_release_all, setup_serve, setup_slurm, setup_k8s,        setup_ray,
};

// When @p word (not an option) names none of @p parent's subcommands: their names, comma-separated.
std::optional<std::string> unknown_subcommand(const CLI::App& parent, const std::string& word) {
    const auto subcommands = parent.get_subcommands({});
    if (subcommands.empty() || (!word.empty() && word.front() == '-')) return std::nullopt;
    const bool known = std::any_of(subcommands.begin(), subcommands.end(),
                                   [&](const CLI::App* sub) { return sub->get_name() == word; });
    if (known) return std::nullopt;
    std::string names;
    for (const auto* sub : subcommands) names += (names.empty() ? "" : ", ") + sub->get_name();
    return names;
}

}  // namespace

exit_status run(std::span<const std::string> args, std::ostream& out, std::ostream& err, const environment& env) {
    CLI::App app{"whisper-vram: GPU memory for OpenAI Whisper - calculate, check, plan and schedule"};
    app.name("whisper-vram");  // what a user types; parse() no longer sees argv[0]
    app.require_subcommand(1);
    app.set_version_flag("--version", fmt::format("whisper-vram {}", version_string));
    app.footer(
        "Examples:\n"
        "  whisper-vram calc medium\n"
        "  whisper-vram calc large --segment 600 --batch 2 --precision int8 --json\n"
        "Run 'whisper-vram SUBCOMMAND --help' for each subcommand's options.");
    command_action action;
    for (auto* setup : setups) setup(app, action);

    // A first word that is neither an option nor a subcommand: say so, and list the subcommands;
    // the same one level down (solve's solvers), where CLI11 would only say "A subcommand is required".
    if (!args.empty()) {
        if (const auto names = unknown_subcommand(app, args[0])) {
            err << "whisper-vram: unknown subcommand '" << args[0] << "'; available: " << *names << '\n';
            return exit_status::usage;
        }
    }
    if (args.size() > 1 && !args[0].empty() && args[0].front() != '-') {
        if (const auto names = unknown_subcommand(*app.get_subcommand(args[0]), args[1])) {
            err << "whisper-vram: unknown " << args[0] << " subcommand '" << args[1] << "'; available: " << *names
                << '\n';
            return exit_status::usage;
        }
    }
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        // --help, --version: CLI11 prints the (sub)command's help or the version to out.
        if (e.get_exit_code() == 0) return app.exit(e, out, err) == 0 ? exit_status::ok : exit_status::usage;
        err << "whisper-vram: " << e.what() << "\n(run 'whisper-vram --help' for usage)\n";
        return exit_status::usage;
    }
    const context c{out, err, env};
    try {
        return action ? action(c) : exit_status::usage;
    } catch (const usage_error& e) {
        err << "whisper-vram: " << e.what() << '\n';
        return exit_status::usage;
    } catch (const state_error& e) {
        err << "whisper-vram: " << e.what() << '\n';
        return exit_status::usage;
    } catch (const gpu_unavailable_error& e) {
        err << "whisper-vram: " << e.what() << '\n';
        return exit_status::gpu_unavailable;
    } catch (const std::exception& e) {
        err << "whisper-vram: internal error: " << e.what() << '\n';
        return exit_status::internal;
    }
}

}  // namespace whisper_vram::cli
