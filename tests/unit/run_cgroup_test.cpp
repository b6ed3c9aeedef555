// Issue 12 item 1, the cgroup part: where cgroup v2 is writable, `run` puts its job in a cgroup of its
// own and kills the whole cgroup when the job ends or run dies, so a process that left the job's
// process group (`setsid`) dies too. `debug` says which containment applies; where it is the process
// group only, these tests skip with that line.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process_group.hpp"
#include "support/cli_in_process.hpp"
#include "support/ledger_files.hpp"
#include "support/run_jobs.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

using test::run_cli;
namespace fs = std::filesystem;

class RunCgroup : public test::run_job_fixture {
protected:
    // The containment line of `debug --json` (its notes).
    [[nodiscard]] std::string containment() const {
        const auto r = run_cli("debug --json", env());
        EXPECT_EQ(r.status, 0);
        const auto j = nlohmann::json::parse(r.out);
        for (const auto& note : j["notes"]) {
            const auto text = note.get<std::string>();
            if (text.starts_with("job containment: ")) return text;
        }
        ADD_FAILURE() << "debug --json names no containment: " << r.out;
        return "";
    }

    void wait_for_one_task() const {
        for (int i = 0; i < 500; ++i) {
            const auto j = nlohmann::json::parse(run_cli("tasks --json", env()).out);
            if (j["tasks"].size() == 1 && j["tasks"][0]["child_pid"].get<int>() > 0) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ADD_FAILURE() << "the job's reservation never appeared";
    }
};

using test::alive;
using test::gone_within;
using test::wait_for_pid_file;

// The cgroup v2 path of @p pid ("" when unknown).
std::string cgroup_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("0::")) return line.substr(3);
    }
    return "";
}

// The escaped process: `setsid sleep 300 &` (not a group leader: setsid execs sleep in place, so $! is
// the sleep), in a session and process group of its own, beside the job's own `sleep 300`.
std::vector<std::string> escaping_job(const fs::path& pid_file, const std::string& then) {
    return {"run",          "--model", "tiny",
            "--kill-grace", "1",       "--",
            "sh",           "-c",      "setsid sleep 300 & echo $! > '" + pid_file.string() + "'; " + then};
}

TEST_F(RunCgroup, DebugSaysWhichContainmentRunUses) {
    const auto line = containment();
    EXPECT_TRUE(line.starts_with("job containment: per-job cgroup and process group: cgroup v2 at ") ||
                line.starts_with("job containment: process group only"))
        << line;
    // The human report says the same.
    const auto human = run_cli("debug", env());
    EXPECT_NE(human.out.find(line), std::string::npos) << human.out;
}

TEST_F(RunCgroup, AProcessThatLeftTheJobsGroupDiesWithItsRunner) {
    const auto line = containment();
    if (!line.starts_with("job containment: per-job cgroup")) GTEST_SKIP() << line;
    for (const int sig : {SIGKILL, SIGTERM}) {
        SCOPED_TRACE(sig);
        const auto pid_file = dir_ / "out" / ("escaped-" + std::to_string(sig));
        const pid_t runner = spawn(escaping_job(pid_file, "sleep 300"));
        const pid_t escaped = wait_for_pid_file(pid_file);
        wait_for_one_task();
        ASSERT_TRUE(alive(escaped));
        EXPECT_EQ(::getsid(escaped), escaped);  // it left the job's session and process group
        const auto cgroup = cgroup_of(escaped);
        EXPECT_NE(cgroup.find("/whisper-vram-run-" + std::to_string(runner) + "-"), std::string::npos) << cgroup;
        ASSERT_EQ(::kill(runner, sig), 0);
        EXPECT_EQ(wait_status(runner), 128 + sig);
        EXPECT_TRUE(gone_within(escaped, std::chrono::seconds(10))) << "setsid sleep " << escaped << " survived";
        if (alive(escaped)) ::kill(escaped, SIGKILL);
        // The cgroup is removed (by the guardian when run was killed: give it its moment).
        const auto folder = line.substr(line.find(" at ") + 4, line.find(" is ") - line.find(" at ") - 4);
        // The guardian's bound for that is 10 s of wall time (process_group.cpp, removal_bound).
        const auto prefix = "whisper-vram-run-" + std::to_string(runner) + "-";
        std::string left;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        do {
            left.clear();
            for (const auto& e : fs::directory_iterator(folder)) {
                if (e.path().filename().string().starts_with(prefix)) left = e.path().string();
            }
            if (!left.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } while (!left.empty() && std::chrono::steady_clock::now() < deadline);
        EXPECT_TRUE(left.empty()) << left << " is left; cgroup.procs: '" << test::slurp(left + "/cgroup.procs")
                                  << "', cgroup.events: '" << test::slurp(left + "/cgroup.events") << "'";
        const auto j = nlohmann::json::parse(run_cli("tasks --json", env()).out);
        EXPECT_TRUE(j["tasks"].empty()) << j.dump();
    }
}

// A run and its guardian both SIGKILLed before they removed the job's cgroup (a supervisor that
// kills every process of a session) leave it behind: the next run removes it when it is empty and
// its run is dead. A plain folder stands for the cgroup folder (rmdir refuses a folder that is not
// empty as the kernel refuses a cgroup that holds a process).
TEST(RunCgroupSweep, EmptyJobCgroupsOfDeadRunsAreRemovedNothingElse) {
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ASSERT_GT(dead, 0);
    ::waitpid(dead, nullptr, 0);  // reaped: its pid names no process (until reused, far off)
    const auto dir = fs::path(WHISPER_VRAM_TEST_BINARY_DIR) / ("cgroup-sweep-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const auto name = [&](pid_t run, const std::string& job) {
        return dir / ("whisper-vram-run-" + std::to_string(run) + "-" + job);
    };
    const auto stale = name(dead, "11");
    const auto populated = name(dead, "12");
    const auto live = name(::getpid(), "13");
    const auto init = name(1, "14");
    const std::vector<fs::path> kept{populated,
                                     live,
                                     init,
                                     dir / "whisper-vram-run-x1-15",
                                     dir / "whisper-vram-run--16",
                                     dir / "whisper-vram-run-99999999999999-17",
                                     dir / "some-other-cgroup"};
    fs::create_directories(stale);
    for (const auto& p : kept) fs::create_directories(p);
    std::ofstream(populated / "cgroup.procs") << "4242\n";
    EXPECT_EQ(cli::sweep_stale_job_cgroups(dir.string()), 1U);
    EXPECT_FALSE(fs::exists(stale));
    for (const auto& p : kept) EXPECT_TRUE(fs::exists(p)) << p;
    EXPECT_EQ(cli::sweep_stale_job_cgroups(dir.string()), 0U);                // nothing more to do
    EXPECT_EQ(cli::sweep_stale_job_cgroups((dir / "missing").string()), 0U);  // no folder: nothing, no error
    fs::remove_all(dir);
}

// The names run makes carry its PID namespace. Of this namespace: as above, by the run's pid. Of
// another (a container sharing the cgroup folder, whose pids mean nothing here): the pid is not
// looked at; an empty one is removed only once its folder is stale_job_cgroup_age old, so a live
// run's job cgroup in the moment before the job moves in is never taken from it.
TEST(RunCgroupSweep, AnotherPidNamespacesJobCgroupIsRemovedOnlyOnceItIsOld) {
    const auto own = cli::own_pid_namespace();
    ASSERT_TRUE(own.has_value());
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ASSERT_GT(dead, 0);
    ::waitpid(dead, nullptr, 0);
    const auto dir = fs::path(WHISPER_VRAM_TEST_BINARY_DIR) / ("cgroup-sweep-ns-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const auto name = [&](pid_t run, std::uint64_t ns, const std::string& job) {
        return dir / ("whisper-vram-run-" + std::to_string(run) + "-ns" + std::to_string(ns) + "-" + job);
    };
    const auto ours_dead = name(dead, *own, "21");
    const auto ours_live = name(::getpid(), *own, "22");
    const auto theirs_young = name(dead, *own + 1, "23");      // a dead pid here says nothing of theirs
    const auto theirs_old = name(::getpid(), *own + 1, "24");  // nor does a live one
    const auto theirs_populated = name(dead, *own + 1, "25");  // old, but holds a process
    for (const auto& p : {ours_dead, ours_live, theirs_young, theirs_old, theirs_populated}) fs::create_directories(p);
    std::ofstream(theirs_populated / "cgroup.procs") << "4242\n";
    const auto aged = fs::file_time_type::clock::now() - cli::stale_job_cgroup_age - std::chrono::seconds(1);
    for (const auto& p : {ours_dead, ours_live, theirs_old, theirs_populated}) fs::last_write_time(p, aged);
    EXPECT_EQ(cli::sweep_stale_job_cgroups(dir.string()), 2U);
    EXPECT_FALSE(fs::exists(ours_dead));
    EXPECT_FALSE(fs::exists(theirs_old));
    for (const auto& p : {ours_live, theirs_young, theirs_populated}) EXPECT_TRUE(fs::exists(p)) << p;
    // Young a second short of the age: kept; one second past it: removed.
    fs::last_write_time(theirs_young,
                        fs::file_time_type::clock::now() - cli::stale_job_cgroup_age + std::chrono::seconds(1));
    EXPECT_EQ(cli::sweep_stale_job_cgroups(dir.string()), 0U);
    fs::last_write_time(theirs_young, aged);
    EXPECT_EQ(cli::sweep_stale_job_cgroups(dir.string()), 1U);
    EXPECT_FALSE(fs::exists(theirs_young));
    fs::remove_all(dir);
}

TEST(RunCgroupSweep, NamesAreReadInBothForms) {
    const auto now = cli::parse_job_cgroup_name("whisper-vram-run-123-ns4026531836-456");
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->run_pid, 123);
    EXPECT_EQ(now->pid_namespace, std::optional<std::uint64_t>(4026531836ULL));
    const auto older = cli::parse_job_cgroup_name("whisper-vram-run-123-456");
    ASSERT_TRUE(older.has_value());
    EXPECT_EQ(older->run_pid, 123);
    EXPECT_FALSE(older->pid_namespace.has_value());
    for (const char* other : {"whisper-vram-run-x1-15", "whisper-vram-run--16", "whisper-vram-run-99999999999999-17",
                              "whisper-vram-run-123", "whisper-vram-run-123-ns-4", "whisper-vram-run-123-nsx-4",
                              "whisper-vram-run-123-ns4", "some-other-cgroup", ""}) {
        EXPECT_FALSE(cli::parse_job_cgroup_name(other).has_value()) << other;
    }
}

TEST_F(RunCgroup, AProcessThatLeftTheJobsGroupEndsWhenTheJobEnds) {
    const auto line = containment();
    if (!line.starts_with("job containment: per-job cgroup")) GTEST_SKIP() << line;
    const auto pid_file = dir_ / "out" / "escaped";
    const pid_t runner = spawn(escaping_job(pid_file, "exit 5"));
    EXPECT_EQ(wait_status(runner), 5);  // the job's own status
    const pid_t escaped = wait_for_pid_file(pid_file);
    EXPECT_FALSE(alive(escaped)) << "setsid sleep " << escaped << " outlived its job's run";
    if (alive(escaped)) ::kill(escaped, SIGKILL);
}

}  // namespace
}  // namespace whisper_vram
