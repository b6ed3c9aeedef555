#pragma once
// Every subcommand of whisper-vram: one file each (cmd_<name>.cpp), registered by main.cpp.
// setup_<name> adds the subcommand to the app and, when it is parsed, sets `action` to its run.

#include "cli_common.hpp"

namespace whisper_vram::cli {

void setup_calc(CLI::App& app, command_action& action);
void setup_models(CLI::App& app, command_action& action);
void setup_gpus(CLI::App& app, command_action& action);
void setup_debug(CLI::App& app, command_action& action);

void setup_best_model(CLI::App& app, command_action& action);
void setup_solve(CLI::App& app, command_action& action);
void setup_recommend(CLI::App& app, command_action& action);
void setup_presets(CLI::App& app, command_action& action);
void setup_check(CLI::App& app, command_action& action);

void setup_run(CLI::App& app, command_action& action);
void setup_tasks(CLI::App& app, command_action& action);
void setup_release_all(CLI::App& app, command_action& action);

}  // namespace whisper_vram::cli
