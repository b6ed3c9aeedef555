#pragma once
// Every subcommand of whisper-vram: one file each (cmd_<name>.cpp), registered by cli.cpp in the
// order of --help. setup_<name> adds the subcommand to the app and, when it is parsed, sets
// `action` to its run.

#include "cli_common.hpp"

namespace whisper_vram::cli {

/// Adds one subcommand to @p app; when it is parsed, sets @p action to what it does.
using setup_function = void(CLI::App& app, command_action& action);

setup_function setup_calc, setup_models, setup_gpus, setup_debug;                           // sizing, GPUs
setup_function setup_best_model, setup_solve, setup_recommend, setup_presets, setup_check;  // planning
setup_function setup_run, setup_measure, setup_calibrate, setup_tasks, setup_release_all;   // scheduling, measuring
setup_function setup_serve;                                                                 // service
setup_function setup_slurm, setup_k8s, setup_ray;                                           // clusters

}  // namespace whisper_vram::cli
