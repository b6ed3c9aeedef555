#pragma once
// What the ledger tests share: a process table they script (which pids live, since when, in which
// PID namespace and boot) and the files of a fresh private state folder.

#include <unistd.h>

#include <sys/stat.h>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram::test {

/// A process table whose live pids (pid → start time), own identity and host the test sets.
class fake_processes final : public process_table {
public:
    explicit fake_processes(std::map<std::uint32_t, std::uint64_t> live_pids = {}) : live(std::move(live_pids)) {}
    std::map<std::uint32_t, std::uint64_t> live;
    process_identity me{1, 1001};
    host_identity where{4026531836U, "boot-a"};
    [[nodiscard]] std::optional<std::uint64_t> start_time(std::uint32_t pid) const override {
        const auto it = live.find(pid);
        if (it == live.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] process_identity self() const override { return me; }
    [[nodiscard]] host_identity host() const override { return where; }
};

/// An empty folder <test binary dir>/<prefix>-<name>-<pid>, mode 0700 (what a state folder must be).
inline std::filesystem::path fresh_state_dir(const std::string& prefix, const std::string& name) {
    auto dir =
        std::filesystem::path(WHISPER_VRAM_TEST_BINARY_DIR) / (prefix + "-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0700);
    return dir;
}

/// The bytes of file @p p ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Replaces the content of @p p with @p text.
inline void put(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

}  // namespace whisper_vram::test
