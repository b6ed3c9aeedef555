#pragma once
// Runs the built whisper-vram binary and captures stdout, stderr and the exit status.

#include <sys/wait.h>
#include <unistd.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace whisper_vram::test {

struct cli_result {
    int status = -1;
    std::string out;
    std::string err;
};

/// Runs `whisper-vram ARGS` through /bin/sh (ARGS is shell text: quote as needed).
/// @p env_prefix is prepended (e.g. "WHISPER_VRAM_SIMULATE=8GiB").
inline cli_result run_cli(const std::string& args, const std::string& env_prefix = "") {
    static int counter = 0;
    const std::string base = std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/cli-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++);
    const std::string out_path = base + ".out";
    const std::string err_path = base + ".err";
    const std::string command = env_prefix + " '" + std::string(WHISPER_VRAM_CLI_PATH) + "' " + args + " >'" +
                                out_path + "' 2>'" + err_path + "' </dev/null";
    const int raw = std::system(command.c_str());
    cli_result result;
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
    const auto slurp = [](const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    std::remove(out_path.c_str());
    std::remove(err_path.c_str());
    return result;
}

}  // namespace whisper_vram::test
