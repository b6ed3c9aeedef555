#pragma once
// What the tests of `whisper-vram run` as a process share: a fixture with a state folder of its own
// per test, spawning the binary on a simulated GPU, and waiting for the pids its jobs write.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/run_cli.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram::test {

/// Each test gets <test binary dir>/<suite>-<test>-<pid>/ with an `out` folder and a `state` folder
/// (WHISPER_VRAM_STATE_DIR), removed afterwards.
class run_job_fixture : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = std::filesystem::path(WHISPER_VRAM_TEST_BINARY_DIR) /
               (std::string(info->test_suite_name()) + "-" + info->name() + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ / "out");
        state_ = dir_ / "state";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    /// The environment prefix of run_cli() for this test's state folder and simulated GPUs.
    [[nodiscard]] std::string env(const std::string& simulate = "24GiB") const {
        return "WHISPER_VRAM_STATE_DIR='" + state_.string() + "' WHISPER_VRAM_SIMULATE='" + simulate + "'";
    }

    /// Starts `whisper-vram ARGS…` in the background with this test's state folder (stderr to /dev/null).
    [[nodiscard]] pid_t spawn(const std::vector<std::string>& args, const std::string& simulate = "24GiB") const {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::setenv("WHISPER_VRAM_STATE_DIR", state_.c_str(), 1);
            ::setenv("WHISPER_VRAM_SIMULATE", simulate.c_str(), 1);
            std::vector<char*> argv{const_cast<char*>(WHISPER_VRAM_CLI_PATH)};
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            const int null = ::open("/dev/null", O_WRONLY);
            ::dup2(null, STDERR_FILENO);
            ::execv(WHISPER_VRAM_CLI_PATH, argv.data());
            ::_exit(99);
        }
        return pid;
    }

    /// Reaps @p pid: its exit status, or 128 + the signal that killed it.
    static int wait_status(pid_t pid) {
        int raw = 0;
        ::waitpid(pid, &raw, 0);
        return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    }

    std::filesystem::path dir_;
    std::filesystem::path state_;
};

/// Waits (at most 10 s) for @p path to hold a number (a pid a job wrote) and returns it.
inline pid_t wait_for_pid_file(const std::filesystem::path& path) {
    for (int i = 0; i < 1000; ++i) {
        std::ifstream in(path);
        pid_t pid = 0;
        if (in >> pid && pid > 0) return pid;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "no pid in " << path;
    return 0;
}

/// Alive and not a zombie (a zombie holds nothing).
inline bool alive(pid_t pid) { return pid > 0 && system_process_table().start_time(static_cast<std::uint32_t>(pid)); }

/// Polls until @p pid is gone, at most @p limit; true when it is.
inline bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (alive(pid)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace whisper_vram::test
