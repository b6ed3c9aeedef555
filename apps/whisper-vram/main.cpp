// whisper-vram's executable: reads the environment once, runs the command line (cli.hpp) on the
// process's streams, and turns the exit_status into the process's exit code — the only place one is.

#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return whisper_vram::to_int(whisper_vram::cli::run(args, std::cout, std::cerr, whisper_vram::read_environment()));
}
