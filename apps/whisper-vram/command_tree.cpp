// command_tree (commands.hpp): the command line with some subcommands, set up once and parsed for
// each call. The exit status is chosen here from exit_status (error.hpp): 0 ok/fits, 1 does not
// fit, 2 usage or environment error, 3 GPU information unavailable, 70 a bug.

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "whisper_vram/version.hpp"

namespace whisper_vram::cli {
namespace {

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

// Sets the `--json` flag of @p command and of every subcommand below it to true: the value its
// options hold from now on, and are put back to before each parse (restore_before_each_parse()
// takes their state at the first parse).
void set_json_flags(CLI::App& command) {
    if (CLI::Option* json = command.get_option_no_throw("--json"); json != nullptr) json->default_val("true");
    for (CLI::App* sub : command.get_subcommands({})) set_json_flags(*sub);
}

}  // namespace

command_tree::command_tree(std::span<setup_function* const> subcommands, output form)
    : app_(std::make_unique<CLI::App>(
          "whisper-vram: GPU memory for OpenAI Whisper - calculate, check, plan and schedule")),
      form_(form) {
    CLI::App& app = *app_;
    app.name("whisper-vram");  // what a user types; parse() no longer sees argv[0]
    app.require_subcommand(1);
    app.set_version_flag("--version", fmt::format("whisper-vram {}", version_string));
    app.footer(
        "Examples:\n"
        "  whisper-vram calc medium\n"
        "  whisper-vram calc large --segment 600 --batch 2 --precision int8 --json\n"
        "Run 'whisper-vram SUBCOMMAND --help' for each subcommand's options.");
    for (auto* setup : subcommands) setup(app, action_);
    if (form_ == output::json) set_json_flags(app);
}

command_tree::~command_tree() = default;

exit_status command_tree::run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
                              const environment& env) {
    CLI::App& app = *app_;
    command_action& action = action_;
    action = nullptr;  // a parse that fails must not run the previous call's action
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
        std::vector<std::string> reversed;  // CLI11 takes them last first
        reversed.reserve(args.size());
        const auto end_of_options = std::find(args.begin(), args.end(), "--");
        for (auto it = args.rbegin(); it != args.rend(); ++it) {
            // A JSON tree's --json is already set (the constructor): not looked up again.
            if (form_ == output::json && it.base() <= end_of_options && *it == "--json") continue;
            reversed.push_back(*it);
        }
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
