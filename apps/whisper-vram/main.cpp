// whisper-vram: will it fit, what should I run, how many at once, and is this GPU healthy.
// Exit statuses are chosen here only: 0 ok/fits, 1 does not fit, 2 usage error,
// 3 GPU information unavailable; a subcommand may return others (run: the child's status, 124 timeout).

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "commands.hpp"
#include "whisper_vram/core/error.hpp"

int main(int argc, char** argv) {
    using namespace whisper_vram;
    CLI::App app{"whisper-vram: GPU memory for OpenAI Whisper - calculate, check, plan and schedule"};
    app.require_subcommand(1);
    app.footer(
        "Examples:\n"
        "  whisper-vram calc medium\n"
        "  whisper-vram calc large --segment 600 --batch 2 --precision int8 --json\n"
        "Run 'whisper-vram SUBCOMMAND --help' for each subcommand's options.");

    cli::command_action action;
    cli::setup_calc(app, action);
    cli::setup_models(app, action);
    cli::setup_gpus(app, action);
    cli::setup_debug(app, action);

    cli::setup_best_model(app, action);
    cli::setup_solve(app, action);
    cli::setup_recommend(app, action);
    cli::setup_presets(app, action);
    cli::setup_check(app, action);

    cli::setup_run(app, action);
    cli::setup_tasks(app, action);
    cli::setup_release_all(app, action);

    // A first word that is neither an option nor a subcommand: say so, and list the subcommands.
    const auto subcommands = app.get_subcommands({});
    const bool known = argc > 1 && std::any_of(subcommands.begin(), subcommands.end(),
                                               [&](const CLI::App* sub) { return sub->get_name() == argv[1]; });
    if (argc > 1 && argv[1][0] != '-' && !known) {
        std::string names;
        for (const auto* sub : subcommands) names += (names.empty() ? "" : ", ") + sub->get_name();
        std::cerr << "whisper-vram: unknown subcommand '" << argv[1] << "'; available: " << names << '\n';
        return 2;
    }
    // The same one level down (solve's solvers): CLI11 would only say "A subcommand is required".
    if (known && argc > 2 && argv[2][0] != '-') {
        const auto* parent = app.get_subcommand(argv[1]);
        const auto nested = parent->get_subcommands({});
        const bool nested_known =
            std::any_of(nested.begin(), nested.end(), [&](const CLI::App* sub) { return sub->get_name() == argv[2]; });
        if (!nested.empty() && !nested_known) {
            std::string names;
            for (const auto* sub : nested) names += (names.empty() ? "" : ", ") + sub->get_name();
            std::cerr << "whisper-vram: unknown " << argv[1] << " subcommand '" << argv[2] << "'; available: " << names
                      << '\n';
            return 2;
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help: prints the (sub)command's help
        std::cerr << "whisper-vram: " << e.what() << "\n(run 'whisper-vram --help' for usage)\n";
        return 2;
    }
    try {
        return action ? action() : 2;
    } catch (const usage_error& e) {
        std::cerr << "whisper-vram: " << e.what() << '\n';
        return 2;
    } catch (const state_error& e) {  // state folder / ledger I/O: the user's to fix
        std::cerr << "whisper-vram: " << e.what() << '\n';
        return 2;
    } catch (const gpu_unavailable_error& e) {
        std::cerr << "whisper-vram: " << e.what() << '\n';
        return 3;
    } catch (const std::exception& e) {
        std::cerr << "whisper-vram: internal error: " << e.what() << '\n';
        return 70;
    }
}
