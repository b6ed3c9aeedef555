#pragma once
// Runs whisper-vram in this process (cli::run from the whisper_vram_cli library) on string streams
// and a constructed environment: the same result as run_cli() gives for the binary, without a spawn.
// Not for `run` (it forks and installs signal handlers) nor for what the library below the CLI still
// reads from the process environment: those tests spawn the binary (run_cli.hpp).

#include <gtest/gtest.h>

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "support/run_cli.hpp"
#include "whisper_vram/facade/environment.hpp"

namespace whisper_vram::test {

/// Splits shell text into words as /bin/sh would for the tests' command lines: blanks separate,
/// '…' quotes literally, "…" quotes with \" and \\ escapes, \x outside quotes is x.
inline std::vector<std::string> shell_words(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (ch == ' ' || ch == '\t') {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
            continue;
        }
        in_word = true;
        if (ch == '\'') {
            const auto end = text.find('\'', i + 1);
            if (end == std::string::npos) throw std::invalid_argument("unterminated ' in: " + text);
            word += text.substr(i + 1, end - i - 1);
            i = end;
        } else if (ch == '"') {
            for (++i; i < text.size() && text[i] != '"'; ++i) {
                if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) ++i;
                word += text[i];
            }
            if (i >= text.size()) throw std::invalid_argument("unterminated \" in: " + text);
        } else if (ch == '\\' && i + 1 < text.size()) {
            word += text[++i];
        } else {
            word += ch;
        }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
}

/// No simulation, no CUDA_VISIBLE_DEVICES filter, and an NVML library that cannot be loaded: GPU
/// information is unavailable unless --simulate is given (what the binary tests got from
/// `env -u WHISPER_VRAM_SIMULATE -u CUDA_VISIBLE_DEVICES WHISPER_VRAM_NVML_LIBRARY=/nonexistent`).
inline environment no_gpu_environment() {
    environment env;
    env.nvml_library = "/nonexistent";
    return env;
}

/// no_gpu_environment() with WHISPER_VRAM_SIMULATE=@p spec.
inline environment simulated_environment(const std::string& spec) {
    environment env = no_gpu_environment();
    env.simulate = spec;
    return env;
}

/// Runs `whisper-vram ARGS` in-process (ARGS is shell text, split by shell_words) with @p env.
inline cli_result cli(const std::string& args, const environment& env = no_gpu_environment()) {
    const std::vector<std::string> words = shell_words(args);
    std::ostringstream out;
    std::ostringstream err;
    cli_result result;
    result.status = to_int(whisper_vram::cli::run(words, out, err, env));
    result.out = out.str();
    result.err = err.str();
    return result;
}

/// The JSON `whisper-vram ARGS` printed (in-process), expecting exit 0: a test failure otherwise,
/// with stderr, and null.
inline nlohmann::json cli_json(const std::string& args, const environment& env = no_gpu_environment()) {
    const cli_result r = cli(args, env);
    if (r.status != 0) {
        ADD_FAILURE() << "whisper-vram " << args << ": exit " << r.status << "\n" << r.err;
        return nullptr;
    }
    return nlohmann::json::parse(r.out);
}

/// Runs each `whisper-vram ARGS` (in-process) and expects a usage error: exit 2, stderr containing
/// the case's text (the bad value, what is allowed), nothing on stdout.
inline void expect_usage_errors(std::initializer_list<std::pair<const char*, const char*>> cases) {
    for (const auto& [args, needle] : cases) {
        const auto r = cli(args);
        EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << args << " -> " << r.err;
        EXPECT_TRUE(r.out.empty()) << args;
    }
}

}  // namespace whisper_vram::test
