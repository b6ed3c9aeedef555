// The whisper-vram executable itself, spawned: main's exit statuses 0/1/2/3, --help, --version and an
// unknown subcommand (the rest of the CLI is tested in-process; `run`'s signals in cli_run_test.cpp).
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <filesystem>

#include "support/cli_in_process.hpp"
#include "support/run_cli.hpp"
#include "whisper_vram/version.hpp"

namespace whisper_vram {
namespace {

using test::run_cli;

// As test::no_gpu_environment(), for the spawned binary.
const std::string no_gpu =
    "env -u WHISPER_VRAM_SIMULATE -u CUDA_VISIBLE_DEVICES WHISPER_VRAM_NVML_LIBRARY=/nonexistent";

TEST(CliBinary, ExitStatusesReachTheShell) {
    auto r = run_cli("calc medium --json", no_gpu);  // 0: done
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\"recommended\": 5.0625"), std::string::npos) << r.out;
    r = run_cli("best-model --memory 1", no_gpu);  // 1: does not fit
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("nothing fits"), std::string::npos) << r.err;
    r = run_cli("calc mediun", no_gpu);  // 2: usage error
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("did you mean 'medium'"), std::string::npos) << r.err;
    r = run_cli("gpus", no_gpu);  // 3: GPU information unavailable
    EXPECT_EQ(r.status, 3);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliBinary, HelpVersionAndUnknownSubcommand) {
    auto r = run_cli("--help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("Usage: whisper-vram [OPTIONS] SUBCOMMAND"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("release-all"), std::string::npos) << r.out;
    r = run_cli("--version");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "whisper-vram 0.1.0\n");
    r = run_cli("frobnicate");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("unknown subcommand 'frobnicate'; available: calc, models, gpus"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliInProcess, VersionComesFromVersionHpp) {
    const auto r = test::cli("--version");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, std::string("whisper-vram ") + version_string + "\n");
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliInProcess, TheEnvironmentValueIsWhatTheCommandsRead) {
    // The state folder and CUDA_VISIBLE_DEVICES come from the environment passed in, not the process's.
    environment env = test::simulated_environment("24GiB,8GiB");
    env.state_dir = std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/in-process-state-" + std::to_string(::getpid());
    env.cuda_visible_devices = "1";
    auto j = test::cli_json("tasks --json", env);
    EXPECT_EQ(j["state_dir"], *env.state_dir);
    EXPECT_TRUE(j["tasks"].empty()) << j.dump();
    j = test::cli_json("gpus --json", env);
    EXPECT_EQ(j["cuda_visible_devices"], "1");
    EXPECT_EQ(j["gpu_count"], 2);
    ASSERT_EQ(j["gpus"].size(), 1U) << j.dump();
    EXPECT_EQ(j["gpus"][0]["total_bytes"], 8ULL << 30) << j.dump();
    std::filesystem::remove_all(*env.state_dir);
}

TEST(CliInProcess, ShellWordsSplitLikeTheShell) {
    const std::vector<std::string> expected{"recommend",   "--gpu", "RTX 3090,T4", "--simulate",
                                            "8GiB:used=1", "",      "a\"b"};
    EXPECT_EQ(test::shell_words(R"(recommend  --gpu "RTX 3090,T4" --simulate '8GiB:used=1' '' "a\"b")"), expected);
}

}  // namespace
}  // namespace whisper_vram
