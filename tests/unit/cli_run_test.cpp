// whisper-vram run / tasks / release-all as processes: admission across processes, exit statuses,
// SIGKILLed holders, a corrupt ledger, signal forwarding. Each test has its own state folder.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/run_cli.hpp"
#include "support/run_jobs.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

using test::run_cli;
namespace fs = std::filesystem;

class CliRun : public test::run_job_fixture {
protected:
    // Polls `tasks --json` until it lists @p count reservations, each with its child started
    // (run records the child's pid just after the fork), at most 10 s.
    nlohmann::json wait_for_tasks(std::size_t count) const {
        nlohmann::json j;
        for (int i = 0; i < 500; ++i) {
            const auto r = run_cli("tasks --json", env());
            j = nlohmann::json::parse(r.out);
            const bool children = std::all_of(j["tasks"].begin(), j["tasks"].end(),
                                              [](const nlohmann::json& t) { return t["child_pid"].get<int>() > 0; });
            if (j["tasks"].size() == count && children) return j;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ADD_FAILURE() << "never saw " << count << " task(s): " << j.dump();
        return j;
    }
};

using test::alive;
using test::gone_within;
using test::wait_for_pid_file;

std::int64_t read_number(const fs::path& path) {
    std::ifstream in(path);
    std::int64_t value = -1;
    in >> value;
    return value;
}

TEST_F(CliRun, SixLargeJobsOnA24GiBGpuRunAtMostTwoAtOnce) {
    // large/float16/30 s = (5 + 0.75 + 0.95 + 1.4875) × 1.2 = 9.825 GiB: 2 fit in 24 GiB (19.65), 3 do not (29.475).
    const std::vector<int> codes{0, 3, 5, 7, 9, 11};
    std::vector<pid_t> pids;
    for (std::size_t i = 0; i < codes.size(); ++i) {
        const std::string job = (dir_ / "out" / ("job" + std::to_string(i))).string();
        const std::string script = "date +%s%N > '" + job + ".start'; sleep 0.25; date +%s%N > '" + job +
                                   ".end'; exit " + std::to_string(codes[i]);
        pids.push_back(spawn({"run", "--model", "large", "--precision", "float16", "--", "sh", "-c", script}));
    }
    for (std::size_t i = 0; i < pids.size(); ++i) EXPECT_EQ(wait_status(pids[i]), codes[i]) << "job " << i;
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;
    for (std::size_t i = 0; i < codes.size(); ++i) {
        const auto base = dir_ / "out" / ("job" + std::to_string(i));
        spans.emplace_back(read_number(base.string() + ".start"), read_number(base.string() + ".end"));
        ASSERT_GT(spans.back().first, 0) << "job " << i << " did not run";
        ASSERT_GE(spans.back().second, spans.back().first) << "job " << i << " did not finish";
    }
    // At each job's start, count the jobs running then (started at or before, not yet ended).
    std::size_t most = 0;
    for (const auto& [start, end] : spans) {
        const auto running = std::count_if(spans.begin(), spans.end(),
                                           [at = start](const auto& s) { return s.first <= at && s.second > at; });
        most = std::max(most, static_cast<std::size_t>(running));
    }
    EXPECT_LE(most, 2U);
    EXPECT_TRUE(nlohmann::json::parse(run_cli("tasks --json", env()).out)["tasks"].empty());
}

TEST_F(CliRun, SigkilledHolderFreesItsCapacityAtTheNextAccess) {
    // One large job (9.825 GiB) fills a 12 GiB GPU; a second cannot be admitted while it lives.
    const pid_t holder = spawn({"run", "--model", "large", "--", "sleep", "30"}, "12GiB");
    const auto tasks = wait_for_tasks(1);
    EXPECT_EQ(tasks["tasks"][0]["pid"], holder);
    EXPECT_EQ(tasks["tasks"][0]["bytes"], 10549513421ULL);  // ceil(9.825 × 2^30)
    EXPECT_EQ(tasks["tasks"][0]["model"], "large float16 30s batch 1");
    const auto child = tasks["tasks"][0]["child_pid"].get<pid_t>();
    ASSERT_GT(child, 0);
    EXPECT_EQ(run_cli("run --model large --timeout 0 -- true", env("12GiB")).status, 124);
    ASSERT_EQ(::kill(holder, SIGKILL), 0);
    // Not reaped by us yet: the holder is a zombie, which is not a live holder.
    for (int i = 0; i < 200 && ::kill(holder, 0) == 0; ++i) {
        std::ifstream stat("/proc/" + std::to_string(holder) + "/stat");
        std::string text;
        std::getline(stat, text);
        if (text.find(") Z") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // The orphaned job is stopped too (guardian, parent-death signal), not left running unaccounted;
    // its reservation lasts until it is gone (LiveJobGroupKeepsTheReservation), then it is free.
    bool gone = false;
    for (int i = 0; i < 250 && !gone; ++i) {
        gone = !system_process_table().start_time(static_cast<std::uint32_t>(child));
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone);
    const auto r = run_cli("run --model large --timeout 0 -- true", env("12GiB"));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(wait_status(holder), 128 + SIGKILL);
}

TEST_F(CliRun, CorruptLedgerIsRebuiltWithAWarning) {
    fs::create_directories(state_);
    fs::permissions(state_, fs::perms::owner_all, fs::perm_options::replace);
    // An intact record of a live holder (this test process), then garbage and half a line.
    ledger_state s;
    reservation_record r;
    r.id = 4;
    r.gpu_uuid = "GPU-51a17a7e-0000-4000-8000-000000000000";
    r.holder = system_process_table().self();
    r.bytes = 1U << 30U;
    r.model = "kept";
    s.reservations.push_back(r);
    s.next_id = 5;
    std::string text = serialize_ledger(s);
    text = text.substr(0, text.rfind("{\"type\":\"end\""));  // drop the end marker
    text += "\x13garbage garbage\n{\"type\":\"reserv";
    std::ofstream(state_ / "ledger") << text;
    auto result = run_cli("tasks --json", env());
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.err.find("warning"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("corrupt"), std::string::npos) << result.err;
    auto j = nlohmann::json::parse(result.out);
    ASSERT_EQ(j["tasks"].size(), 1U);
    EXPECT_EQ(j["tasks"][0]["model"], "kept");
    result = run_cli("tasks --json", env());  // repaired: no second warning
    EXPECT_EQ(result.err, "");
    // Not a ledger at all (no ledger header): not ours, refused with exit 2 and left untouched (issue 12).
    std::ofstream(state_ / "ledger", std::ios::trunc) << "\xff\xfe not a ledger\n";
    result = run_cli("run --model tiny -- true", env());
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("is not a whisper-vram ledger"), std::string::npos) << result.err;
    std::ifstream in(state_ / "ledger");
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first, "\xff\xfe not a ledger");
}

TEST_F(CliRun, ExitStatusesAndSignalForwarding) {
    EXPECT_EQ(run_cli("run --model tiny -- sh -c 'exit 42'", env()).status, 42);
    EXPECT_EQ(run_cli("run --model tiny -- sh -c 'kill -TERM $$'", env()).status, 128 + SIGTERM);
    auto r = run_cli("run --model tiny -- /nonexistent/program", env());
    EXPECT_EQ(r.status, 127);
    EXPECT_NE(r.err.find("cannot execute '/nonexistent/program'"), std::string::npos) << r.err;
    r = run_cli("run --model tiny", env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no COMMAND"), std::string::npos) << r.err;
    r = run_cli("run --model large -- true", env("8GiB"));  // 9.825 GiB > 8 GiB total: at once
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("can never fit"), std::string::npos) << r.err;
    EXPECT_EQ(run_cli("run --model tiny --policy first-fit -- true", env()).status, 2);
    EXPECT_EQ(run_cli("run --model tiny --timeout soon -- true", env()).status, 2);
    EXPECT_EQ(run_cli("run --model tiny --gpus 5 -- true", env()).status, 2);
    // The child sees the chosen GPU by UUID.
    const auto out = (dir_ / "out" / "env").string();
    ASSERT_EQ(
        run_cli("run --model tiny --gpus 1 -- sh -c 'echo $CUDA_VISIBLE_DEVICES $WHISPER_VRAM_GPU_INDEX > " + out + "'",
                env("8GiB,8GiB"))
            .status,
        0);
    std::ifstream in(out);
    std::string uuid;
    std::string index;
    in >> uuid >> index;
    EXPECT_EQ(uuid, "GPU-51a17a7e-0000-4000-8000-000000000001");
    EXPECT_EQ(index, "1");
    // SIGTERM sent to run reaches the child, whose own exit status comes back.
    const auto ready = (dir_ / "out" / "ready").string();
    const pid_t pid = spawn({"run", "--model", "tiny", "--", "sh", "-c",
                             "trap 'exit 42' TERM; touch '" + ready + "'; while :; do sleep 0.05; done"});
    for (int i = 0; i < 500 && !fs::exists(ready); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(ready));
    ::kill(pid, SIGTERM);
    EXPECT_EQ(wait_status(pid), 42);
}

TEST_F(CliRun, TimeoutWaitsThenExits124AndReleaseAllNeedsForce) {
    const pid_t holder = spawn({"run", "--model", "large", "--", "sleep", "30"}, "12GiB");
    wait_for_tasks(1);
    auto r = run_cli("tasks", env("12GiB"));  // the human table: 9.825 GiB prints as 9.83
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("large float16 30s batch 1  9.83"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(std::to_string(holder)), std::string::npos) << r.out;
    r = run_cli("run --model large --timeout 0.2 -- true", env("12GiB"));
    EXPECT_EQ(r.status, 124);
    EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("waiting"), std::string::npos) << r.err;  // the status line
    r = run_cli("release-all --json", env("12GiB"));
    EXPECT_EQ(r.status, 1);
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["refused"], true);
    EXPECT_EQ(j["would_free_bytes"], 10549513421ULL);
    EXPECT_EQ(j["live"].size(), 1U);
    r = run_cli("release-all --force --json", env("12GiB"));
    EXPECT_EQ(r.status, 0);
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["dropped_bytes"], 10549513421ULL);
    EXPECT_EQ(j["dropped"][0]["pid"], holder);
    EXPECT_EQ(run_cli("run --model large --timeout 0 -- true", env("12GiB")).status, 0);
    ::kill(holder, SIGTERM);
    EXPECT_EQ(wait_status(holder), 128 + SIGTERM);  // sleep got SIGTERM forwarded and died of it
}

// Issue 12 item 1: `run` killed by SIGKILL or SIGTERM leaves no process of its job behind, even one
// its wrapper (sh -c) started in the background.
TEST_F(CliRun, KilledRunLeavesNoSurvivorOfItsJob) {
    for (const int sig : {SIGKILL, SIGTERM}) {
        SCOPED_TRACE(sig);
        const auto pid_file = dir_ / "out" / ("sleep-" + std::to_string(sig));
        const pid_t runner = spawn({"run", "--model", "tiny", "--kill-grace", "1", "--", "sh", "-c",
                                    "sleep 300 & echo $! > '" + pid_file.string() + "'; wait"});
        const pid_t sleeper = wait_for_pid_file(pid_file);
        ASSERT_TRUE(alive(sleeper));
        wait_for_tasks(1);
        ASSERT_EQ(::kill(runner, sig), 0);
        EXPECT_EQ(wait_status(runner), 128 + sig);
        EXPECT_TRUE(gone_within(sleeper, std::chrono::seconds(10))) << "sleep " << sleeper << " survived";
        if (alive(sleeper)) ::kill(sleeper, SIGKILL);
        const auto j = nlohmann::json::parse(run_cli("tasks --json", env()).out);
        EXPECT_TRUE(j["tasks"].empty()) << j.dump();
    }
}

// The reservation is not released while any process of the job lives: a job that ignores SIGTERM
// keeps it through the grace period, until the guardian's SIGKILL.
TEST_F(CliRun, LiveJobGroupKeepsTheReservationAfterRunIsKilled) {
    const auto pid_file = dir_ / "out" / "sleep";
    const pid_t runner = spawn({"run", "--model", "large", "--kill-grace", "1.5", "--", "sh", "-c",
                                "trap '' TERM; sleep 300 & echo $! > '" + pid_file.string() + "'; wait"},
                               "12GiB");
    const pid_t sleeper = wait_for_pid_file(pid_file);
    wait_for_tasks(1);
    ASSERT_EQ(::kill(runner, SIGKILL), 0);
    EXPECT_EQ(wait_status(runner), 128 + SIGKILL);
    // While the sleep lives (checked after each look at the ledger), the reservation is listed and
    // a second large job is not admitted beside it.
    int looks_while_alive = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (;;) {
        const auto r = run_cli("tasks --json", env("12GiB"));
        const auto j = nlohmann::json::parse(r.out);
        if (!alive(sleeper)) break;
        ++looks_while_alive;
        ASSERT_EQ(j["tasks"].size(), 1U) << "released while the job's sleep " << sleeper << " lives: " << j.dump();
        EXPECT_EQ(j["tasks"][0]["child_pid"].get<pid_t>() > 0, true);
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "sleep never ended";
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GE(looks_while_alive, 3);  // the 1.5 s grace: SIGTERM is ignored, SIGKILL ends it
    EXPECT_TRUE(gone_within(sleeper, std::chrono::seconds(5)));
    const auto j = nlohmann::json::parse(run_cli("tasks --json", env("12GiB")).out);
    EXPECT_TRUE(j["tasks"].empty()) << j.dump();
    EXPECT_EQ(run_cli("run --model large --timeout 0 -- true", env("12GiB")).status, 0);
}

// When the job's leader exits, what it left running in its group is ended before the reservation
// goes; --json-out reports it.
TEST_F(CliRun, LeftoverProcessesOfTheJobEndWithItAndJsonOutSaysSo) {
    const auto pid_file = dir_ / "out" / "sleep";
    const auto json_file = dir_ / "out" / "run.json";
    const auto r = run_cli("run --model tiny --kill-grace 0.5 --json-out '" + json_file.string() +
                               "' -- sh -c 'sleep 300 & echo $! > " + pid_file.string() + "; exit 3'",
                           env());
    EXPECT_EQ(r.status, 3) << r.err;
    const pid_t sleeper = wait_for_pid_file(pid_file);
    EXPECT_FALSE(alive(sleeper));  // already gone when run returned
    std::ifstream in(json_file);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["outcome"], "exited");
    EXPECT_EQ(j["exit_code"], 3);
    EXPECT_EQ(j["exit_status"], 3);
    EXPECT_EQ(j["survivors_killed"], true);
    EXPECT_EQ(j["reservation"]["status"], "granted");
    EXPECT_EQ(j["placement"]["gpu_uuid"], "GPU-51a17a7e-0000-4000-8000-000000000000");
    EXPECT_EQ(j["placement"]["gpu_index"], 0);
    // tiny/float16/30 s = (0.8 + 0.12 + 0.32 + 0.28) × 1.2 = 1.824 GiB
    EXPECT_EQ(j["placement"]["reserved_bytes"], 1958505087ULL);
    EXPECT_EQ(j["command"],
              nlohmann::json::array({"sh", "-c", "sleep 300 & echo $! > " + pid_file.string() + "; exit 3"}));
    EXPECT_GT(j["pid"].get<int>(), 0);
    EXPECT_TRUE(nlohmann::json::parse(run_cli("tasks --json", env()).out)["tasks"].empty());
}

TEST_F(CliRun, JsonFdGetsTheOutcomeAndStdoutStaysTheJobs) {
    const auto json_file = dir_ / "out" / "fd.json";
    auto r = run_cli(
        "run --model tiny --json-fd 3 -- sh -c 'echo job-output; kill -TERM $$' 3>'" + json_file.string() + "'", env());
    EXPECT_EQ(r.status, 128 + SIGTERM);
    EXPECT_EQ(r.out, "job-output\n");
    std::ifstream in(json_file);
    auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["outcome"], "signaled");
    EXPECT_EQ(j["signal"], SIGTERM);
    EXPECT_EQ(j["exit_code"], nullptr);
    EXPECT_EQ(j["exit_status"], 128 + SIGTERM);
    // Not admitted: the outcome still comes, with no placement.
    r = run_cli("run --model large --json-fd 3 -- true 3>'" + json_file.string() + "'", env("8GiB"));
    EXPECT_EQ(r.status, 1);
    std::ifstream again(json_file);
    j = nlohmann::json::parse(again);
    EXPECT_EQ(j["outcome"], "not_started");
    EXPECT_EQ(j["reservation"]["status"], "never_fits");
    EXPECT_EQ(j["placement"], nullptr);
    EXPECT_EQ(j["exit_status"], 1);
    // Bad destinations are usage errors before anything runs.
    r = run_cli("run --model tiny --json-fd 7 -- true", env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--json-fd 7 is not a file descriptor open for writing"), std::string::npos) << r.err;
    r = run_cli("run --model tiny --json-fd x3 -- true", env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--json-fd 'x3' is invalid"), std::string::npos) << r.err;
    r = run_cli("run --model tiny --json-out '" + (dir_ / "no" / "such" / "dir.json").string() + "' -- true", env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("cannot be opened for writing"), std::string::npos) << r.err;
    r = run_cli("run --model tiny --json-out a --json-fd 3 -- true 3>/dev/null", env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;
}

// Issue 12 item 11: strict --timeout, --gpus '' as check has it, and the state folder variable.
TEST_F(CliRun, StrictTimeoutEmptyGpusAndStateDirAreUsageErrors) {
    for (const std::string bad : {"0x10", "1e3", "-1", "+5", "inf", "nan", "", "1.2.3", " 5"}) {
        const auto r = run_cli("run --model tiny --timeout '" + bad + "' -- true", env());
        EXPECT_EQ(r.status, 2) << bad;
        EXPECT_NE(r.err.find("--timeout '" + bad + "' is invalid: decimal seconds"), std::string::npos) << r.err;
    }
    EXPECT_EQ(run_cli("run --model tiny --timeout 0.5 -- true", env()).status, 0);
    EXPECT_EQ(run_cli("run --model tiny --timeout 10 -- true", env()).status, 0);
    EXPECT_EQ(run_cli("run --model tiny --kill-grace 0x5 -- true", env()).status, 2);
    const auto run = run_cli("run --model tiny --gpus '' -- true", env());
    const auto check = run_cli("check tiny --gpus ''", env());
    EXPECT_EQ(run.status, 2);
    EXPECT_EQ(check.status, 2);
    EXPECT_EQ(run.err, check.err);
    EXPECT_NE(run.err.find("--gpus '' has an empty item"), std::string::npos) << run.err;
    auto r = run_cli("run --model tiny -- true", "WHISPER_VRAM_STATE_DIR= WHISPER_VRAM_SIMULATE=24GiB");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("WHISPER_VRAM_STATE_DIR is set but empty"), std::string::npos) << r.err;
    r = run_cli("tasks", "WHISPER_VRAM_STATE_DIR=relative/state WHISPER_VRAM_SIMULATE=24GiB");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("'relative/state' is a relative path"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists("relative"));
}

// Outside text reaching the terminal is escaped: a command name cannot carry an escape sequence.
TEST_F(CliRun, CannotExecuteMessageEscapesControlCharacters) {
    const auto r = run_cli("run --model tiny -- \"$(printf '\\033[31mred')\"", env());
    EXPECT_EQ(r.status, 127);
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("cannot execute '\\x1b[31mred'"), std::string::npos) << r.err;
}

// On a terminal the job's group gets the terminal: it reads it (no SIGTTIN stop), and Ctrl-C
// reaches the whole job, a backgrounded sleep included. Needs script(1) for a pseudo-terminal.
TEST_F(CliRun, OnATerminalTheJobGroupGetsCtrlC) {
    if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/script for a pseudo-terminal";
    const auto ready = dir_ / "out" / "ready";
    const auto pid_file = dir_ / "out" / "sleep";
    const auto out = dir_ / "out" / "tty.out";
    const std::string job = "read line; echo got:$line; sleep 300 & echo $! > " + pid_file.string() + "; touch " +
                            ready.string() + "; wait";
    const std::string inner = "WHISPER_VRAM_STATE_DIR=" + state_.string() + " WHISPER_VRAM_SIMULATE=24GiB " +
                              WHISPER_VRAM_CLI_PATH + " run --model tiny -- sh -c '" + job + "'; echo rc=$?";
    const std::string feeder = "(echo hello; i=0; while [ ! -e " + ready.string() +
                               " ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; printf '\\003'; sleep 2)";
    std::string quoted;  // inside "…" for the outer sh: every $ is the inner shell's
    for (const char ch : inner) {
        if (ch == '$') quoted += '\\';
        quoted += ch;
    }
    const std::string command = feeder + " | timeout 30 script -qec \"" + quoted + "\" /dev/null > " + out.string();
    (void)std::system(command.c_str());
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("got:hello"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("rc=130"), std::string::npos) << text.str();  // sh died of SIGINT
    const pid_t sleeper = wait_for_pid_file(pid_file);
    EXPECT_TRUE(gone_within(sleeper, std::chrono::seconds(5)));
}

}  // namespace
}  // namespace whisper_vram
