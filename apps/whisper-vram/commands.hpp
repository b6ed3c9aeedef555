#pragma once
// Every subcommand of whisper-vram: one file each (cmd_<name>.cpp), registered by cli.cpp in the
// order of --help. setup_<name> adds the subcommand to the app and, when it is parsed, sets
// `action` to its run.

#include <span>

#include "cli_common.hpp"

namespace whisper_vram::cli {

/// Adds one subcommand to @p app; when it is parsed, sets @p action to what it does.
using setup_function = void(CLI::App& app, command_action& action);

setup_function setup_calc, setup_models, setup_gpus, setup_debug;                           // sizing, GPUs
setup_function setup_best_model, setup_solve, setup_recommend, setup_presets, setup_check;  // planning
setup_function setup_run, setup_measure, setup_calibrate, setup_tasks, setup_release_all;   // scheduling, measuring
setup_function setup_serve;                                                                 // service
setup_function setup_slurm, setup_k8s, setup_ray;                                           // clusters

/// The command line with some subcommands set up once and parsed again for each call: run() is
/// cli::run() (cli.hpp) — the same parse, messages and exit status — over these subcommands only.
/// cli::run() builds one with all of them per call; `whisper-vram serve` keeps one per worker
/// thread and endpoint, as building the subcommand took most of a request's time.
/// A subcommand's options must be back at their set-up values before each parse: add_command()
/// and restore_before_each_parse() (cli_common.hpp) see to it. Not thread-safe: one per thread.
class command_tree {
public:
    /// What a tree's subcommands print: as given on the command line, or always their --json.
    enum class output { as_given, json };

    /// @p form json (the service's trees): every (sub)command's `--json` flag is true from its
    /// set-up on, so its answer is what `--json` prints, and a `--json` word in run()'s arguments
    /// (before any `--`) is skipped, not parsed — CLI11 looks a long option up by copying each
    /// option's names, and `--json`, added last, cost a quarter of a request's parse.
    explicit command_tree(std::span<setup_function* const> subcommands, output form = output::as_given);
    ~command_tree();
    command_tree(const command_tree&) = delete;
    command_tree& operator=(const command_tree&) = delete;

    /// Runs `whisper-vram ARGS...` as cli::run() does.
    [[nodiscard]] exit_status run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
                                  const environment& env);

private:
    std::unique_ptr<CLI::App> app_;
    command_action action_;
    output form_;
};

}  // namespace whisper_vram::cli
