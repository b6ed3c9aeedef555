// Issue 12 items 1, 7, 11 below the CLI: terminal/UTF-8 escaping, the state folder from the
// environment, an NVML override that is not a regular file, and the ledger keeping a reservation
// while its job's process group lives.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "core/text.hpp"
#include "support/cli_in_process.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/facade/environment.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;

TEST(TextEscape, InvalidUtf8BytesBecomeHexTextAndValidTextIsUnchanged) {
    EXPECT_EQ(escape_invalid_utf8("0,1"), "0,1");
    EXPECT_EQ(escape_invalid_utf8("GPU-\xc3\xa9"), "GPU-\xc3\xa9");                  // é: valid, kept
    EXPECT_EQ(escape_invalid_utf8("0\xff,1"), "0\\xff,1");                           // a stray byte
    EXPECT_EQ(escape_invalid_utf8("\xc3"), "\\xc3");                                 // truncated sequence
    EXPECT_EQ(escape_invalid_utf8("\xc0\xaf"), "\\xc0\\xaf");                        // overlong '/'
    EXPECT_EQ(escape_invalid_utf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");               // a surrogate
    EXPECT_EQ(escape_invalid_utf8("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");      // beyond U+10FFFF
    EXPECT_EQ(escape_invalid_utf8("\xf0\x9f\x8e\xa4"), "\xf0\x9f\x8e\xa4");          // U+1F3A4: kept
    EXPECT_EQ(escape_invalid_utf8(std::string("a\0b", 3)), std::string("a\0b", 3));  // NUL is valid UTF-8
}

TEST(TextEscape, ControlCharactersAreShownNotObeyed) {
    EXPECT_EQ(escape_for_terminal("large float16 30s batch 1"), "large float16 30s batch 1");
    EXPECT_EQ(escape_for_terminal("\x1b]0;pwned\x07x"), "\\x1b]0;pwned\\x07x");  // OSC title + BEL
    EXPECT_EQ(escape_for_terminal("a\nb\rc\td"), "a\\x0ab\\x0dc\\x09d");
    EXPECT_EQ(escape_for_terminal("\x7f"), "\\x7f");
    EXPECT_EQ(escape_for_terminal("\xc2\x9b"
                                  "2J"),
              "\\u009b2J");                                  // C1 CSI
    EXPECT_EQ(escape_for_terminal("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable: kept
    EXPECT_EQ(escape_for_terminal("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \\xff");
}

TEST(StateDirFromEnvironment, EmptyAndRelativeAreRefusedAbsoluteIsUsed) {
    environment env;
    env.uid = 1234;
    EXPECT_EQ(state_dir_from(env), fs::path("/tmp/whisper-vram-1234"));
    env.xdg_runtime_dir = "/run/user/1234";
    EXPECT_EQ(state_dir_from(env), fs::path("/run/user/1234/whisper-vram"));
    env.state_dir = "/srv/ledger";
    EXPECT_EQ(state_dir_from(env), fs::path("/srv/ledger"));
    env.state_dir = "";
    try {
        (void)state_dir_from(env);
        ADD_FAILURE() << "'' accepted";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("WHISPER_VRAM_STATE_DIR is set but empty"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("/run/user/1234/whisper-vram"), std::string::npos) << e.what();
    }
    env.state_dir = "state/here";
    try {
        (void)state_dir_from(env);
        ADD_FAILURE() << "a relative path accepted";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("'state/here' is a relative path"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("absolute path"), std::string::npos) << e.what();
    }
}

TEST(StateDirFromEnvironment, TheManagerRefusesOnlyWhenItNeedsTheLedger) {
    environment env;
    env.simulate = "24GiB";
    env.state_dir = "";
    const gpu_manager manager(env);
    EXPECT_GT(manager.calculate_memory_usage("medium").recommended_bytes, 0U);  // sizing needs no folder
    EXPECT_THROW((void)manager.get_scheduler(), usage_error);
}

TEST(NvmlLibraryFile, WhatIsNotARegularFileIsRefusedBeforeDlopen) {
    const auto dir = fs::temp_directory_path() / ("whisper-vram-nvml-file-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto fifo = dir / "libnvidia-ml.so.1";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const auto started = std::chrono::steady_clock::now();
    const auto result = load_nvml_library(fifo.string());  // would block forever in dlopen
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_FALSE(result.library);
    ASSERT_EQ(result.attempts.size(), 1U);
    EXPECT_NE(result.attempts[0].error.find("is a FIFO (named pipe), not a library file"), std::string::npos)
        << result.attempts[0].error;
    const auto directory = check_library_file(dir.string());
    ASSERT_TRUE(directory);
    EXPECT_NE(directory->find("is a directory"), std::string::npos) << *directory;
    const auto device = check_library_file("/dev/null");
    ASSERT_TRUE(device);
    EXPECT_NE(device->find("is a character device"), std::string::npos) << *device;
    EXPECT_FALSE(check_library_file("libnvidia-ml.so.1"));         // a bare name: the linker searches
    EXPECT_FALSE(check_library_file((dir / "missing").string()));  // missing: dlopen's error says so
    fs::remove_all(dir);
}

// A process table where the holder is dead and group 777 lives (or not).
class group_table final : public process_table {
public:
    bool group_lives = true;
    [[nodiscard]] std::optional<std::uint64_t> start_time(std::uint32_t) const override { return std::nullopt; }
    [[nodiscard]] process_identity self() const override { return {1, 1}; }
    [[nodiscard]] bool group_alive(std::uint32_t pgid) const override { return group_lives && pgid == 777; }
};

TEST(LedgerJobGroup, ADeadHoldersReservationStaysWhileItsJobGroupLives) {
    ledger_state state;
    reservation_record with_group;
    with_group.id = 1;
    with_group.holder = {4242, 99};
    with_group.child_pid = 777;
    with_group.bytes = 1;
    reservation_record without = with_group;
    without.id = 2;
    without.child_pid = 0;
    reservation_record other_group = with_group;
    other_group.id = 3;
    other_group.child_pid = 778;
    state.reservations = {with_group, without, other_group};
    group_table table;
    ledger_access access;
    reap_dead(state, table, access);
    ASSERT_EQ(state.reservations.size(), 1U);
    EXPECT_EQ(state.reservations[0].id, 1U);
    ASSERT_EQ(access.reaped_reservations.size(), 2U);
    table.group_lives = false;
    ledger_access later;
    reap_dead(state, table, later);
    EXPECT_TRUE(state.reservations.empty());
    EXPECT_EQ(later.reaped_reservations.size(), 1U);
}

TEST(LedgerJobGroup, SystemTableSeesALiveGroupAndNotAZombieOne) {
    const system_process_table table;
    const pid_t child = ::fork();
    if (child == 0) {
        ::setpgid(0, 0);
        ::pause();
        ::_exit(0);
    }
    ASSERT_GT(child, 0);
    ::setpgid(child, child);
    const auto pgid = static_cast<std::uint32_t>(child);
    EXPECT_TRUE(table.group_alive(pgid));
    ::kill(child, SIGKILL);
    // Until reaped, the child is a zombie: in its group for kill(), but it holds nothing.
    for (int i = 0; i < 200 && table.start_time(pgid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_FALSE(table.group_alive(pgid));
    int raw = 0;
    ::waitpid(child, &raw, 0);
    EXPECT_FALSE(table.group_alive(pgid));
    EXPECT_FALSE(table.group_alive(0));
    EXPECT_FALSE(table.group_alive(1));
}

// Issue 12 item 7: debug and gpus print whatever the environment holds (exit 0 / never 70).
TEST(DebugEnvironment, InvalidUtf8IsEscapedAndDebugExitsZero) {
    environment env = test::simulated_environment("8GiB");
    env.cuda_visible_devices = "0\xff";
    env.cuda_device_order = "\xc3";
    env.nvml_library = "/nonexistent/lib\xfe.so";
    const auto r = test::cli("debug --json", env);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);  // valid UTF-8 JSON
    EXPECT_EQ(j["environment"]["CUDA_VISIBLE_DEVICES"], "0\\xff");
    EXPECT_EQ(j["environment"]["CUDA_DEVICE_ORDER"], "\\xc3");
    EXPECT_EQ(j["environment"]["WHISPER_VRAM_NVML_LIBRARY"], "/nonexistent/lib\\xfe.so");
    const auto human = test::cli("debug", env);
    EXPECT_EQ(human.status, 0) << human.err;
    EXPECT_NE(human.out.find("CUDA_VISIBLE_DEVICES: '0\\xff'"), std::string::npos) << human.out;
    const auto gpus = test::cli("gpus --json", env);
    EXPECT_NE(gpus.status, 70) << gpus.err;
    EXPECT_EQ(gpus.err.find("internal error"), std::string::npos) << gpus.err;
    if (gpus.status == 0) {
        EXPECT_TRUE(nlohmann::json::accept(gpus.out)) << gpus.out;
    }
}

TEST(DebugEnvironment, ABadSimulationInTheEnvironmentIsANoteNotAnError) {
    environment env = test::simulated_environment("8GiB:used=9GiB");
    const auto r = test::cli("debug --json", env);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const std::string notes = j["notes"].dump();
    EXPECT_NE(notes.find("WHISPER_VRAM_SIMULATE='8GiB:used=9GiB' is invalid"), std::string::npos) << notes;
    EXPECT_NE(notes.find("job containment: "), std::string::npos) << notes;
    EXPECT_EQ(test::cli("debug --simulate 8GiB:used=9GiB", env).status, 2);  // the command line's is bad input
}

TEST(DebugEnvironment, AFifoNvmlOverrideIsReportedWithoutHanging) {
    const auto dir = fs::temp_directory_path() / ("whisper-vram-debug-fifo-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto fifo = dir / "nvml";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    environment env = test::no_gpu_environment();
    env.nvml_library = fifo.string();
    const auto r = test::cli("debug --json", env);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("is a FIFO (named pipe), not a library file"), std::string::npos) << r.out;
    const auto gpus = test::cli("gpus", env);
    EXPECT_EQ(gpus.status, 3) << gpus.err;
    fs::remove_all(dir);
}

}  // namespace
}  // namespace whisper_vram
