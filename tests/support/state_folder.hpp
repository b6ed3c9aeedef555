#pragma once
// A fresh state folder in the temporary directory (mode 0700, what a state folder must be), removed
// with everything in it when the test is done.

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace whisper_vram::test {

struct state_folder {
    std::filesystem::path path;
    /// mkdtemp(TMPDIR/<prefix>-XXXXXX).
    explicit state_folder(const std::string& prefix = "wv-state") {
        std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        path = ::mkdtemp(pattern.data());
        std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    }
    ~state_folder() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    state_folder(const state_folder&) = delete;
    state_folder& operator=(const state_folder&) = delete;
};

}  // namespace whisper_vram::test
