// The dlopen/dlsym seam of the NVML probe: the real dynamic_library and the loading order.

#include <dlfcn.h>
#include <fmt/format.h>
#include <link.h>
#include <sys/stat.h>

#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {
namespace {

class dl_library final : public dynamic_library {
public:
    dl_library(void* handle, std::string path) : handle_(handle), path_(std::move(path)) {}
    ~dl_library() override { ::dlclose(handle_); }
    dl_library(const dl_library&) = delete;
    dl_library& operator=(const dl_library&) = delete;

    [[nodiscard]] void* find_symbol(const char* name) const noexcept override { return ::dlsym(handle_, name); }
    [[nodiscard]] std::string path() const override { return path_; }
    [[nodiscard]] std::string resolved_path() const override {
        // The link map names the file the dynamic linker found for a bare SONAME.
        link_map* map = nullptr;
        if (::dlinfo(handle_, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr &&
            *map->l_name != '\0') {
            return map->l_name;
        }
        return path_;
    }

private:
    void* handle_;
    std::string path_;
};

std::string_view file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

}  // namespace

std::optional<std::string> check_library_file(const std::string& path) {
    if (path.find('/') == std::string::npos) return std::nullopt;  // a name the dynamic linker searches
    // stat (following links) opens nothing: a FIFO is never opened, so nothing blocks.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return std::nullopt;  // missing: dlopen says so
    return fmt::format(
        "{} is {}, not a library file; not loaded (WHISPER_VRAM_NVML_LIBRARY must name the NVML "
        "shared library, e.g. /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1)",
        path, file_kind(st.st_mode));
}

std::unique_ptr<dynamic_library> open_dynamic_library(const std::string& path, std::string& error) {
    // dlopen of a FIFO blocks (it opens it for reading), of a directory fails obscurely: refuse first.
    if (auto refused = check_library_file(path)) {
        error = std::move(*refused);
        return nullptr;
    }
    ::dlerror();  // clear a stale error
    // RTLD_LOCAL: we only use dlsym, and must not leak NVML's symbols into the process namespace.
    void* handle = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* text = ::dlerror();
        error = text != nullptr ? text : "dlopen failed without an error text";
        return nullptr;
    }
    return std::make_unique<dl_library>(handle, path);
}

std::vector<std::string> nvml_library_candidates(const std::optional<std::string>& override_path) {
    if (override_path && !override_path->empty()) return {*override_path};
    // The SONAME first: the unversioned name is often missing (only the .so.1 link is installed)
    // or is the CUDA toolkit's stub whose nvmlInit fails (openucx/ucx#9232).
    return {"libnvidia-ml.so.1", "libnvidia-ml.so"};
}

library_load_result load_first_library(const std::vector<std::string>& candidates, const library_opener& opener) {
    library_load_result result;
    for (const auto& path : candidates) {
        library_attempt attempt;
        attempt.path = path;
        std::string error;
        std::unique_ptr<dynamic_library> library = opener(path, error);
        attempt.loaded = library != nullptr;
        attempt.error = attempt.loaded ? std::string() : error;
        result.attempts.push_back(std::move(attempt));
        if (library) {
            result.library = std::move(library);
            break;
        }
    }
    return result;
}

library_load_result load_nvml_library(const std::optional<std::string>& override_path) {
    return load_first_library(nvml_library_candidates(override_path), open_dynamic_library);
}

}  // namespace whisper_vram
