#pragma once
// Helpers for the tests that load the fake libnvidia-ml.so.1 through the real loader.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <string>

namespace whisper_vram::test {

/// The fake library of @p variant (full, legacy, broken, r535_43).
inline std::string fake_nvml_path(const std::string& variant = "full") {
    return std::string(FAKE_NVML_DIR) + "/" + variant + "/libnvidia-ml.so.1";
}

inline constexpr unsigned long long gib = 1024ULL * 1024 * 1024;
inline constexpr unsigned long long mib = 1024ULL * 1024;

/// Writes a scenario file and points FAKE_NVML_SCENARIO at it for this process (and the CLI
/// children, through env_prefix()); keeps the fake library loaded so its counters can be read.
class fake_nvml_fixture : public ::testing::Test {
protected:
    void write_scenario(const std::string& text, const std::string& variant = "full") {
        std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        for (char& c : name) {
            if (c == '/') c = '_';  // parameterised test names
        }
        path_ =
            std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/scenario-" + std::to_string(::getpid()) + "-" + name + ".txt";
        std::ofstream out(path_);
        out << text;
        ASSERT_TRUE(out.good()) << path_;
        ::setenv("FAKE_NVML_SCENARIO", path_.c_str(), 1);
        if (handle_ == nullptr) handle_ = ::dlopen(fake_nvml_path(variant).c_str(), RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(handle_, nullptr) << ::dlerror();
    }
    void TearDown() override {
        ::unsetenv("FAKE_NVML_SCENARIO");
        if (!path_.empty()) std::remove(path_.c_str());
        if (handle_ != nullptr) ::dlclose(handle_);
    }
    /// How often the fake saw @p function ("memory_v1", "processes_v2", "shutdown"…).
    unsigned calls(const char* function) const {
        using fn = unsigned (*)(const char*);
        return reinterpret_cast<fn>(::dlsym(handle_, "fake_nvml_calls"))(function);
    }
    int refcount() const { return reinterpret_cast<int (*)()>(::dlsym(handle_, "fake_nvml_refcount"))(); }
    unsigned last_memory_v2_version() const {
        return reinterpret_cast<unsigned (*)()>(::dlsym(handle_, "fake_nvml_last_memory_v2_version"))();
    }
    /// "FAKE_NVML_SCENARIO=… WHISPER_VRAM_NVML_LIBRARY=…" for run_cli.
    std::string env_prefix(const std::string& variant = "full") const {
        return "env -u WHISPER_VRAM_SIMULATE -u CUDA_VISIBLE_DEVICES FAKE_NVML_SCENARIO='" + path_ +
               "' WHISPER_VRAM_NVML_LIBRARY='" + fake_nvml_path(variant) + "'";
    }

    std::string path_;
    void* handle_ = nullptr;
};

}  // namespace whisper_vram::test
