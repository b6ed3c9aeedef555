// Bad input found in review: each case exits 2 with a message naming the bad value and what is allowed.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "support/cli_in_process.hpp"

namespace whisper_vram {
namespace {

using test::cli;

TEST(CliBadInput, StateFolderThatCannotBeCreatedIsAUsageError) {
    // /proc accepts no new folders (ENOENT even for root): this was exit 70, "internal error".
    environment env = test::no_gpu_environment();
    env.state_dir = "/proc/whisper-vram-no-such/state";
    auto r = cli("tasks", env);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("cannot create the state folder '/proc/whisper-vram-no-such/state'"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("set WHISPER_VRAM_STATE_DIR"), std::string::npos) << r.err;

    const std::string file =
        std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/bad-input-file-" + std::to_string(::getpid());
    std::ofstream(file) << "not a folder\n";
    env.state_dir = file;
    r = cli("release-all", env);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("is not a directory"), std::string::npos) << r.err;
    std::filesystem::remove(file);
}

TEST(CliBadInput, UnknownSolverIsNamedWithTheSolvers) {
    const auto r = cli("solve bogus medium --memory 8");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("unknown solve subcommand 'bogus'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("max-segment, max-batch, max-concurrent, min-memory"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliBadInput, EmptyGpuIdInRunIsAnEmptyItem) {
    const std::string state =
        std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/bad-input-state-" + std::to_string(::getpid());
    // The binary: `run` forks and installs signal handlers.
    const auto r =
        test::run_cli("run --model tiny --simulate 24GiB --gpus 0, -- true", "WHISPER_VRAM_STATE_DIR='" + state + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("GPU ids '0,' have an empty item"), std::string::npos) << r.err;
    std::filesystem::remove_all(state);
}

TEST(CliBadInput, SimulateFromTheEnvironmentSaysSo) {
    const auto r = cli("gpus", test::simulated_environment("garbage"));
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("WHISPER_VRAM_SIMULATE='garbage' is invalid: unknown GPU 'garbage'"), std::string::npos)
        << r.err;
}

TEST(CliBadInput, EmptyEngineIsUnknownNotTheGuide) {
    // The core reads an empty engine as the guide; --engine '' must not be that silent default.
    const auto r = cli("calc medium --engine ''");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("unknown engine '': accepted: guide"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliBadInput, SimulateSpecWithoutANameOrWithUsedTwice) {
    auto r = cli("gpus --simulate ':used=1'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("simulated GPU ':used=1' has no name or size before ':'"), std::string::npos) << r.err;
    r = cli("gpus --simulate '8GiB:used=1GiB:used=2GiB'");  // the last used= silently won
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("gives used= more than once"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace whisper_vram
