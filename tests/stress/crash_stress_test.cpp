// Crash consistency of the file ledger under SIGKILL (issue 12, "Crash consistency").
//
// With two simulated GPUs and a fresh state folder, each round starts `whisper-vram run` processes
// (small models that are placed at once, large ones that must wait) whose job is `sleep 1000`,
// waits a random moment, and SIGKILLs a random choice of them at random points: in start-up, while
// waiting, while holding, in the middle of a ledger write, and also their jobs. Then it accesses
// the ledger (`whisper-vram tasks --json`, which reaps the dead) and, holding the ledger's lock,
// reads the file and checks:
//   1. the ledger parses without a warning;
//   2. no over-commit: per GPU, the live reservations add up to at most its total;
//   3. no record of a dead holder is left (the access reaped them), and every holder is one of ours;
//   4. no lost live reservation: a run seen holding, still alive and not told to stop (neither it
//      nor its job killed), still holds; a run seen waiting still waits or holds;
//   5. every run that ended did so because we killed it or its job (no other exit status).
// At the end every run is killed, and after one more access the ledger must be empty.
//
// The seed is printed (WHISPER_VRAM_STRESS_SEED=N reproduces the choices; the timing is the
// machine's); WHISPER_VRAM_STRESS_ROUNDS sets the number of rounds (default 100: about 350 kills;
// they stop early, saying so, at 70 s of wall time).
// Jobs orphaned when their run is killed are adopted by this process (PR_SET_CHILD_SUBREAPER), so
// none outlives the test; how many outlived their run is printed (issue 12: "the job dies with its
// runner", not checked here).

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Two GPUs: 24 GiB and 16 GiB (simulated UUIDs GPU-51a17a7e-…-000000000000 and …01).
constexpr const char* simulate_spec = "24GiB,16GiB";
constexpr std::uint64_t gib = 1ULL << 30U;
// The rounds stop at this wall time (ctest's TIMEOUT is 90 s); the summary says how many ran.
constexpr std::chrono::seconds wall_limit{70};

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return fallback;
    return std::stoull(value);
}

// One `whisper-vram run` we started.
struct run_process {
    pid_t pid = 0;
    std::string model;
    fs::path err_file;
    bool killed = false;      // we sent it SIGKILL
    bool job_killed = false;  // we sent its job SIGKILL: it releases and exits 137 by itself
    bool seen_holding = false;
    bool seen_waiting = false;
    bool ended = false;
    int raw_status = 0;
};

class crash_stress {
public:
    crash_stress() : dir_(make_dir()), state_dir_(dir_ / "state") {
        env_.push_back("WHISPER_VRAM_STATE_DIR=" + state_dir_.string());
        env_.push_back(std::string("WHISPER_VRAM_SIMULATE=") + simulate_spec);
        env_.emplace_back("LC_ALL=C");
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string entry(*e);
            if (entry.starts_with("PATH=") || entry.starts_with("HOME=")) env_.push_back(entry);
        }
    }
    crash_stress(const crash_stress&) = delete;
    crash_stress& operator=(const crash_stress&) = delete;
    ~crash_stress() {
        kill_everything();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    void run(std::uint64_t seed, std::uint64_t rounds) {
        rng_.seed(seed);
        read_totals();
        const auto started = std::chrono::steady_clock::now();
        for (std::uint64_t round = 1; round <= rounds && !::testing::Test::HasFailure(); ++round) {
            if (std::chrono::steady_clock::now() - started > wall_limit) {  // a slow machine: fewer rounds, said
                std::cout << "crash_stress: stopped after " << round_ << " of " << rounds << " rounds at the "
                          << wall_limit.count() << " s bound\n";
                break;
            }
            round_ = round;
            spawn_some();
            std::this_thread::sleep_for(std::chrono::milliseconds(pick(20, 300)));
            kill_some();
            reap();
            check();
        }
        kill_everything();
        check_final();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::cout << "crash_stress: seed " << seed << ", " << round_ << " rounds, " << runs_.size() << " runs, "
                  << kills_total() << " SIGKILLs (" << kills_starting_ << " starting, " << kills_waiting_
                  << " waiting, " << kills_holding_ << " holding runs, " << kills_jobs_ << " jobs), max "
                  << max_reservations_ << " reservations at once, " << checks_ << " checks, " << orphans_
                  << " jobs outlived their killed run, " << seconds << " s\n";
    }

    [[nodiscard]] std::uint64_t rounds_done() const { return round_; }
    [[nodiscard]] std::uint64_t kills_total() const {
        return kills_starting_ + kills_waiting_ + kills_holding_ + kills_jobs_;
    }

private:
    static fs::path make_dir() {
        std::string tmpl = (fs::temp_directory_path() / "whisper-vram-stress-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        return tmpl;
    }

    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

    // Starts whisper-vram ARGS with the test environment, stdout and stderr to files.
    pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
        std::vector<std::string> argv{WHISPER_VRAM_CLI_PATH};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> argv_c;
        argv_c.reserve(argv.size() + 1);
        for (auto& a : argv) argv_c.push_back(a.data());
        argv_c.push_back(nullptr);
        std::vector<char*> env_c;
        env_c.reserve(env_.size() + 1);
        for (auto& e : env_) env_c.push_back(e.data());
        env_c.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid = 0;
        const int rc = posix_spawn(&pid, argv_c[0], &actions, nullptr, argv_c.data(), env_c.data());
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw std::runtime_error("posix_spawn failed: " + std::to_string(rc));
        return pid;
    }

    // `whisper-vram ARGS` to its end (10 s at most): {exit status, stdout, stderr}.
    std::tuple<int, std::string, std::string> run_cli(const std::vector<std::string>& args) {
        const auto out = dir_ / "cli.out";
        const auto err = dir_ / "cli.err";
        const pid_t pid = spawn(args, out, err);
        int raw = 0;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (::waitpid(pid, &raw, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, &raw, 0);
                ADD_FAILURE() << "round " << round_ << ": whisper-vram " << args.front() << " hung for 10 s";
                break;
            }
            std::this_thread::sleep_for(2ms);
        }
        const int status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
        return {status, slurp(out), slurp(err)};
    }

    void read_totals() {
        const auto [status, out, err] = run_cli({"gpus", "--json"});
        ASSERT_EQ(status, 0) << err;
        const auto j = nlohmann::json::parse(out);
        for (const auto& g : j.at("gpus")) {
            totals_[g.at("uuid").get<std::string>()] = g.at("total_bytes").get<std::uint64_t>();
        }
        ASSERT_EQ(totals_.size(), 2U) << out;
    }

    [[nodiscard]] std::size_t live_runs() const {
        std::size_t n = 0;
        for (const auto& r : runs_) n += r.ended ? 0 : 1;
        return n;
    }

    // Keeps about ten runs alive: small models are placed at once while there is room, large ones
    // mostly wait (9.83 GiB each: two fit on the 24 GiB GPU, one on the 16 GiB one).
    void spawn_some() {
        static const std::vector<std::string> models{"tiny", "base", "small", "medium", "large-v3", "large-v3"};
        const int n = pick(2, 6);
        for (int i = 0; i < n && live_runs() < 10; ++i) {
            run_process r;
            r.model = models[static_cast<std::size_t>(pick(0, static_cast<int>(models.size()) - 1))];
            const auto base = dir_ / ("run-" + std::to_string(runs_.size()));
            r.err_file = base.string() + ".err";
            r.pid = spawn({"run", "--model", r.model, "--", "sleep", "1000"}, base.string() + ".out", r.err_file);
            runs_.push_back(std::move(r));
        }
    }

    // SIGKILLs 2…5 of: runs holding, runs waiting, runs not yet seen in the ledger (starting up,
    // or in the middle of a ledger write), and jobs (from the ledger's child_pid), each kind as
    // likely as the others while there is one.
    void kill_some() {
        const int n = pick(2, 5);
        for (int i = 0; i < n; ++i) {
            std::vector<std::size_t> holding, waiting, starting, jobs;
            for (std::size_t k = 0; k < runs_.size(); ++k) {
                const auto& r = runs_[k];
                if (r.ended || r.killed) continue;
                if (r.seen_holding) {
                    holding.push_back(k);
                    const auto job = jobs_.find(r.pid);
                    if (job != jobs_.end() && !r.job_killed && job_alive(job->second, r.pid)) jobs.push_back(k);
                } else if (r.seen_waiting) {
                    waiting.push_back(k);
                } else {
                    starting.push_back(k);
                }
            }
            std::vector<std::vector<std::size_t>*> kinds;
            for (auto* kind : {&holding, &waiting, &starting, &jobs}) {
                if (!kind->empty()) kinds.push_back(kind);
            }
            if (kinds.empty()) return;
            auto* kind = kinds[static_cast<std::size_t>(pick(0, static_cast<int>(kinds.size()) - 1))];
            auto& r = runs_[(*kind)[static_cast<std::size_t>(pick(0, static_cast<int>(kind->size()) - 1))]];
            if (kind == &jobs) {  // the run sees its job end, releases, and exits 128+9 by itself
                ::kill(jobs_[r.pid], SIGKILL);
                r.job_killed = true;
                ++kills_jobs_;
            } else {
                ::kill(r.pid, SIGKILL);
                r.killed = true;
                ++(kind == &holding ? kills_holding_ : kind == &waiting ? kills_waiting_ : kills_starting_);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(pick(0, 15)));
        }
    }

    // The parent pid and state of @p pid (from /proc/PID/stat), {0, ""} when there is none.
    static std::pair<pid_t, std::string> parent_and_state(pid_t pid) {
        const auto stat = slurp(fs::path("/proc") / std::to_string(pid) / "stat");
        const auto close = stat.rfind(')');
        if (close == std::string::npos || close + 2 >= stat.size()) return {0, ""};
        std::istringstream fields(stat.substr(close + 2));
        std::string state;
        pid_t ppid = 0;
        fields >> state >> ppid;
        return {ppid, state};
    }

    // A job pid from the ledger is ours to kill only while it is the run's child (or, orphaned, ours).
    static bool job_alive(pid_t job, pid_t run) {
        const auto [ppid, state] = parent_and_state(job);
        return (ppid == run || ppid == ::getpid()) && state != "Z";
    }

    // Our children that are not runs: jobs whose run was killed (adopted as their subreaper).
    std::vector<pid_t> adopted_jobs() const {
        std::vector<pid_t> found;
        for (const auto& entry : fs::directory_iterator("/proc")) {
            const auto name = entry.path().filename().string();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            const pid_t pid = std::stoi(name);
            const auto [ppid, state] = parent_and_state(pid);
            if (ppid != ::getpid() || state == "Z") continue;
            bool is_run = false;
            for (const auto& r : runs_) is_run = is_run || r.pid == pid;
            if (!is_run) found.push_back(pid);
        }
        return found;
    }

    // Ends the adopted jobs, collects every ended child: our runs (their statuses) and adopted jobs.
    void reap() {
        for (const pid_t orphan : adopted_jobs()) {  // their run is dead: end them as the test goes
            ::kill(orphan, SIGKILL);
            ++orphans_;
        }
        // kill() returns before its target is gone: wait for every run we killed, so that the
        // access below cannot see one still alive (and rightly keep its record).
        for (auto& r : runs_) {
            if (r.killed && !r.ended) {
                while (::waitpid(r.pid, &r.raw_status, 0) < 0 && errno == EINTR) {
                }
                r.ended = true;
                check_exit(r);
            }
        }
        for (;;) {
            int raw = 0;
            const pid_t pid = ::waitpid(-1, &raw, WNOHANG);
            if (pid <= 0) return;
            for (auto& r : runs_) {
                if (r.pid == pid && !r.ended) {
                    r.ended = true;
                    r.raw_status = raw;
                    check_exit(r);
                }
            }
        }
    }

    void check_exit(const run_process& r) {
        const bool by_our_kill = WIFSIGNALED(r.raw_status) && WTERMSIG(r.raw_status) == SIGKILL && r.killed;
        const bool by_job_kill = WIFEXITED(r.raw_status) && WEXITSTATUS(r.raw_status) == 128 + SIGKILL && r.job_killed;
        if (!by_our_kill && !by_job_kill) {
            ADD_FAILURE() << "round " << round_ << ": run " << r.pid << " (" << r.model << ") ended by itself: "
                          << (WIFEXITED(r.raw_status) ? "exit " + std::to_string(WEXITSTATUS(r.raw_status))
                                                      : "signal " + std::to_string(WTERMSIG(r.raw_status)))
                          << "; stderr: " << slurp(r.err_file);
        }
    }

    // The ledger file under its lock (as every access takes it), parsed.
    ledger_state locked_ledger(std::vector<std::string>& warnings) {
        const auto lock_path = state_dir_ / "ledger.lock";
        const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ADD_FAILURE() << "round " << round_ << ": cannot open " << lock_path;
            return {};
        }
        while (::flock(fd, LOCK_EX) != 0) {
        }
        const std::string text = slurp(state_dir_ / "ledger");
        ::close(fd);
        return parse_ledger(text, warnings);
    }

    void check() {
        ++checks_;
        const auto [status, out, err] = run_cli({"tasks", "--json"});
        ASSERT_EQ(status, 0) << "round " << round_ << ": tasks --json failed: " << err;
        const auto tasks = nlohmann::json::parse(out, nullptr, false);
        ASSERT_FALSE(tasks.is_discarded()) << "round " << round_ << ": tasks --json is not JSON: " << out;
        ASSERT_TRUE(tasks.contains("tasks") && tasks.at("tasks").is_array()) << out;

        std::vector<std::string> warnings;
        const ledger_state state = locked_ledger(warnings);
        // 1. parses cleanly after an access (a kill in mid-write was repaired by it).
        for (const auto& w : warnings) ADD_FAILURE() << "round " << round_ << ": ledger warning: " << w;

        std::map<pid_t, std::size_t> by_pid;
        for (std::size_t k = 0; k < runs_.size(); ++k) {
            if (!runs_[k].ended) by_pid[runs_[k].pid] = k;
        }
        const system_process_table processes;
        std::map<std::string, std::uint64_t> reserved;
        std::set<pid_t> holding;
        std::set<pid_t> waiting;
        std::vector<reservation_record> of_dead_holders;
        for (const auto& r : state.reservations) {
            reserved[r.gpu_uuid] += r.bytes;
            holding.insert(static_cast<pid_t>(r.holder.pid));
            EXPECT_TRUE(totals_.contains(r.gpu_uuid)) << "round " << round_ << ": unknown GPU " << r.gpu_uuid;
            if (r.child_pid != 0) jobs_[static_cast<pid_t>(r.holder.pid)] = static_cast<pid_t>(r.child_pid);
            if (!processes.alive(r.holder)) {
                of_dead_holders.push_back(r);
                continue;
            }
            // 3. only our runs hold.
            EXPECT_TRUE(by_pid.contains(static_cast<pid_t>(r.holder.pid)))
                << "round " << round_ << ": reservation " << r.id << " of pid " << r.holder.pid << " (not a live run)";
        }
        // 3. no dead holder once reaped. A killed run's record stays while its job's process group
        // lives (it still holds the GPU memory; the run's guardian ends the group): that group may
        // have ended between the access above (tasks) and this read. So a record of a dead holder
        // whose job is gone now must be gone after one more access.
        std::set<std::uint64_t> must_go;
        for (const auto& r : of_dead_holders) {
            if (r.child_pid == 0 || !processes.group_alive(r.child_pid)) must_go.insert(r.id);
        }
        if (!must_go.empty()) {
            const auto [again, again_out, again_err] = run_cli({"tasks", "--json"});
            ASSERT_EQ(again, 0) << "round " << round_ << ": tasks --json failed: " << again_err;
            std::vector<std::string> again_warnings;
            for (const auto& r : locked_ledger(again_warnings).reservations) {
                EXPECT_FALSE(must_go.contains(r.id))
                    << "round " << round_ << ": reservation " << r.id << " of dead holder " << r.holder.pid
                    << " left after its job (group " << r.child_pid << ") ended";
            }
        }
        for (const auto& w : state.waiters) {
            waiting.insert(static_cast<pid_t>(w.holder.pid));
            EXPECT_TRUE(processes.alive(w.holder))
                << "round " << round_ << ": waiter " << w.id << " of dead process " << w.holder.pid << " left";
            EXPECT_TRUE(by_pid.contains(static_cast<pid_t>(w.holder.pid)))
                << "round " << round_ << ": waiter " << w.id << " of pid " << w.holder.pid << " (not a live run)";
        }
        max_reservations_ = std::max(max_reservations_, state.reservations.size());
        // 2. no over-commit.
        for (const auto& [uuid, bytes] : reserved) {
            EXPECT_LE(bytes, totals_[uuid])
                << "round " << round_ << ": over-commit on " << uuid << ": " << static_cast<double>(bytes) / gib
                << " GiB reserved of " << static_cast<double>(totals_[uuid]) / gib;
        }
        // 4. no lost live reservation or waiter.
        for (auto& r : runs_) {
            if (r.ended) continue;
            const bool holds = holding.contains(r.pid);
            const bool waits = waiting.contains(r.pid);
            const bool told_to_stop = r.killed || r.job_killed;
            if (!told_to_stop) {
                EXPECT_FALSE(r.seen_holding && !holds)
                    << "round " << round_ << ": run " << r.pid << " (" << r.model << ") lost its reservation";
                EXPECT_FALSE(r.seen_waiting && !holds && !waits)
                    << "round " << round_ << ": run " << r.pid << " (" << r.model << ") lost its place in the queue";
            }
            EXPECT_FALSE(r.seen_holding && waits && !holds)
                << "round " << round_ << ": run " << r.pid << " went from holding back to waiting";
            r.seen_holding = r.seen_holding || holds;
            r.seen_waiting = r.seen_waiting || waits;
        }
    }

    // Kills every run and every process adopted from them, reaps them all.
    void kill_everything() {
        for (auto& r : runs_) {
            if (!r.ended) {
                ::kill(r.pid, SIGKILL);
                r.killed = true;
            }
        }
        for (int pass = 0; pass < 200; ++pass) {
            for (const pid_t orphan : adopted_jobs()) {
                ::kill(orphan, SIGKILL);
                ++orphans_;
            }
            for (;;) {
                int raw = 0;
                const pid_t pid = ::waitpid(-1, &raw, WNOHANG);
                if (pid <= 0) break;
                for (auto& r : runs_) {
                    if (r.pid == pid && !r.ended) {
                        r.ended = true;
                        r.raw_status = raw;
                    }
                }
            }
            if (live_runs() == 0 && adopted_jobs().empty()) return;
            std::this_thread::sleep_for(5ms);
        }
        ADD_FAILURE() << "processes left after killing everything";
    }

    void check_final() {
        const auto [status, out, err] = run_cli({"tasks", "--json"});
        ASSERT_EQ(status, 0) << err;
        const auto tasks = nlohmann::json::parse(out);
        EXPECT_TRUE(tasks.at("tasks").empty()) << "reservations left after every holder died: " << out;
        EXPECT_TRUE(tasks.at("waiting").empty()) << "waiters left after every waiter died: " << out;
        std::vector<std::string> warnings;
        const auto state = locked_ledger(warnings);
        EXPECT_TRUE(warnings.empty()) << (warnings.empty() ? "" : warnings.front());
        EXPECT_TRUE(state.reservations.empty() && state.waiters.empty());
        check_no_job_cgroup_left();
    }

    // Where run gives each job a cgroup: once one more run has started, no cgroup of our runs is
    // left, although we SIGKILLed guardians (adopted orphans) before they removed theirs.
    void check_no_job_cgroup_left() {
        const auto [status, out, err] = run_cli({"debug", "--json"});
        ASSERT_EQ(status, 0) << err;
        std::string folder;  // the cgroup v2 folder run makes job cgroups in ("" when it does not)
        const auto report = nlohmann::json::parse(out);  // named: a range-for over a temporary's member dangles
        for (const auto& note : report.at("notes")) {
            const auto text = note.get<std::string>();
            constexpr std::string_view head = "job containment: per-job cgroup and process group: cgroup v2 at ";
            if (text.starts_with(head)) folder = text.substr(head.size(), text.find(" is ") - head.size());
        }
        if (folder.empty()) return;
        const auto [run_status, run_out, run_err] = run_cli({"run", "--model", "tiny", "--", "true"});
        ASSERT_EQ(run_status, 0) << run_err;
        std::set<std::string> prefixes;
        for (const auto& r : runs_) prefixes.insert("whisper-vram-run-" + std::to_string(r.pid) + "-");
        std::size_t left = 0;
        for (const auto& entry : fs::directory_iterator(folder)) {
            const auto name = entry.path().filename().string();
            const auto dash = name.find('-', std::string_view("whisper-vram-run-").size());
            if (dash != std::string::npos && prefixes.contains(name.substr(0, dash + 1))) {
                if (left++ < 5) ADD_FAILURE() << entry.path() << " is left";
            }
        }
        EXPECT_EQ(left, 0U) << "job cgroups of our runs left in " << folder;
    }

    fs::path dir_;
    fs::path state_dir_;
    std::vector<std::string> env_;
    std::mt19937_64 rng_;
    std::map<std::string, std::uint64_t> totals_;
    std::vector<run_process> runs_;
    std::map<pid_t, pid_t> jobs_;  // run pid → its job's pid (the ledger's child_pid)
    std::uint64_t round_ = 0;
    std::uint64_t kills_starting_ = 0, kills_waiting_ = 0, kills_holding_ = 0, kills_jobs_ = 0;
    std::uint64_t checks_ = 0, orphans_ = 0;
    std::size_t max_reservations_ = 0;
};

TEST(CrashStress, SigkillsNeverOvercommitLoseOrLeakReservations) {
    // Orphaned jobs (their run killed) become our children, so none outlives the test.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    const auto seed =
        env_number("WHISPER_VRAM_STRESS_SEED",
                   static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
    const auto rounds = env_number("WHISPER_VRAM_STRESS_ROUNDS", 100);
    std::cout << "crash_stress: seed " << seed << " (WHISPER_VRAM_STRESS_SEED=" << seed << " to repeat the choices), "
              << rounds << " rounds\n";
    crash_stress stress;
    stress.run(seed, rounds);
    EXPECT_GE(stress.kills_total(), stress.rounds_done() * 2) << "fewer kills than planned: the test did not stress";
}

}  // namespace
}  // namespace whisper_vram
