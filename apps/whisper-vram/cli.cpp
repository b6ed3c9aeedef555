// whisper-vram: will it fit, what should I run, how many at once, and is this GPU healthy.
// Every subcommand, in the order of --help, on a command_tree (command_tree.cpp chooses the exit
// status from exit_status, error.hpp); `run` passes its job's through.

#include "cli.hpp"

#include "commands.hpp"

namespace whisper_vram::cli {
namespace {

// The order of --help.
constexpr setup_function* setups[] = {
    setup_calc,      setup_models,      setup_gpus,  setup_debug, setup_best_model, setup_solve,
    setup_recommend, setup_presets,     setup_check, setup_run,   setup_measure,    setup_calibrate,
    setup_tasks,     setup_release_all, setup_serve, setup_slurm, setup_k8s,        setup_ray,
};

}  // namespace

exit_status run(std::span<const std::string> args, std::ostream& out, std::ostream& err, const environment& env) {
    return command_tree(setups).run(args, out, err, env);
}

}  // namespace whisper_vram::cli
