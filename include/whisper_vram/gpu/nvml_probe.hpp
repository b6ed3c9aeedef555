#pragma once
/// @file nvml_probe.hpp
/// The NVML probe: libnvidia-ml loaded with dlopen at run time (never linked, no CUDA headers),
/// symbols resolved with dlsym and versioned fallbacks (see shared/spec/nvml-abi.md).
///
/// Loading order: the override path (WHISPER_VRAM_NVML_LIBRARY, probe_options::nvml_library) when
/// given — and then ONLY it, so a wrong override is reported instead of silently replaced by the
/// system library — else `libnvidia-ml.so.1` (the driver's SONAME), then `libnvidia-ml.so` (often
/// absent, or the CUDA toolkit's link-time stub). Flags RTLD_LAZY | RTLD_LOCAL.
///
/// dlopen/dlsym sit behind the dynamic_library seam, so tests can hand the probe a table of
/// hand-written functions instead of a real library.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {

/// A loaded shared library (the dlopen/dlsym seam).
class dynamic_library {
public:
    virtual ~dynamic_library() = default;
    /// The address of @p name, nullptr when the library does not export it. Never throws.
    [[nodiscard]] virtual void* find_symbol(const char* name) const noexcept = 0;
    /// The path or name it was opened with.
    [[nodiscard]] virtual std::string path() const = 0;
    /// The file the dynamic linker actually mapped (dlinfo), or path() when unknown.
    [[nodiscard]] virtual std::string resolved_path() const { return path(); }
};

/// Opens @p path; on failure returns nullptr and sets @p error (dlerror() text for the real one).
using library_opener = std::function<std::unique_ptr<dynamic_library>(const std::string& path, std::string& error)>;

/// Why @p path must not be handed to dlopen: it contains a '/' and names something that is not a
/// regular file (a FIFO would block dlopen, a directory or device fails obscurely); nullopt when it
/// is a regular file, is missing (dlopen's error says so), or is a bare name the linker searches.
std::optional<std::string> check_library_file(const std::string& path);

/// dlopen(@p path, RTLD_LAZY | RTLD_LOCAL); nullptr and the dlerror() text on failure. A path
/// check_library_file() refuses is not opened (its message is the error).
std::unique_ptr<dynamic_library> open_dynamic_library(const std::string& path, std::string& error);

/// One dlopen attempt.
struct library_attempt {
    std::string path;  ///< as passed to dlopen
    bool loaded = false;
    std::string error;  ///< dlerror() text when not loaded
};

/// What loading NVML did.
struct library_load_result {
    std::vector<library_attempt> attempts;     ///< in order, up to the first success
    std::shared_ptr<dynamic_library> library;  ///< null when every attempt failed
};

/// The paths tried, in order: {override} when given, else {"libnvidia-ml.so.1", "libnvidia-ml.so"}.
std::vector<std::string> nvml_library_candidates(const std::optional<std::string>& override_path);

/// Tries @p candidates in order with @p opener, stopping at the first that opens.
library_load_result load_first_library(const std::vector<std::string>& candidates, const library_opener& opener);

/// load_first_library(nvml_library_candidates(@p override_path), open_dynamic_library).
library_load_result load_nvml_library(const std::optional<std::string>& override_path);

/// Why an NVML probe could not be opened.
enum class nvml_status {
    ok,                 ///< initialised
    library_not_found,  ///< no candidate could be dlopen'ed
    missing_symbol,     ///< a required function is not exported (missing_symbol names it)
    init_failed,        ///< nvmlInit failed (init_return says how: 9 driver not loaded, 18 mismatch…)
};

/// Name of an nvml_status ("ok", "library_not_found", "missing_symbol", "init_failed").
std::string_view to_string(nvml_status status) noexcept;

/// "NVML_ERROR_DRIVER_NOT_LOADED"-style name of an nvmlReturn_t value ("NVML_SUCCESS" for 0,
/// "NVML_ERROR_<n>" for values this build does not know).
std::string nvml_return_name(int value);

/// A one-line English explanation of an nvmlReturn_t value (our own table).
std::string nvml_return_text(int value);

/// System-wide NVML facts for the debug report; each is nullopt when the query failed (the
/// matching *_error says why).
struct nvml_system_info {
    std::optional<std::string> driver_version;  ///< "550.127.08"
    std::string driver_version_error;
    std::optional<std::string> nvml_version;  ///< "12.550.127.08"
    std::string nvml_version_error;
    std::optional<int> cuda_driver_version;  ///< 12040 = CUDA 12.4
    std::string cuda_driver_version_symbol;  ///< the function that answered (v2, else v1)
    std::string cuda_driver_version_error;   ///< why v2 (and v1) failed
};

/// GPU readings through NVML. Created with open(); initialises NVML for its lifetime (NVML's init
/// is reference-counted, so it coexists with PyTorch/pynvml in one process) and shuts it down in
/// the destructor. snapshot() never throws for driver conditions: a lost GPU is gpu_state::lost,
/// memory NOT_SUPPORTED is gpu_state::unified_memory, other per-GPU failures gpu_state::error.
class nvml_probe final : public gpu_probe {
public:
    /// Reads /proc/PID/comm for a process name ("" when unreadable).
    using process_namer = std::function<std::string(std::uint32_t pid)>;

    /// The outcome of open().
    struct open_result {
        nvml_status status = nvml_status::library_not_found;
        std::unique_ptr<nvml_probe> probe;  ///< set when status is ok
        std::string reason;                 ///< one line, set when status is not ok
        std::string missing_symbol;         ///< e.g. "nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)"
        std::optional<int> init_return;     ///< nvmlReturn_t of the init call, when it was made
        std::string init_symbol;            ///< which init function was called
    };

    /// Resolves the symbols of @p library and initialises NVML. Never throws for driver conditions.
    /// @p namer defaults to reading /proc/PID/comm.
    static open_result open(std::shared_ptr<dynamic_library> library, process_namer namer = {});

    ~nvml_probe() override;
    nvml_probe(const nvml_probe&) = delete;
    nvml_probe& operator=(const nvml_probe&) = delete;

    gpu_snapshot snapshot() override;
    [[nodiscard]] probe_source source() const noexcept override { return probe_source::nvml; }

    /// Driver, NVML and CUDA driver versions.
    [[nodiscard]] nvml_system_info system_info() const;

    /// "purpose=symbol" for every function resolved (e.g. "memory=nvmlDeviceGetMemoryInfo_v2"),
    /// and "purpose=absent" for optional ones the library lacks.
    [[nodiscard]] std::vector<std::string> resolved_symbols() const;

    /// The library in use.
    [[nodiscard]] const dynamic_library& library() const noexcept;

    struct impl;

private:
    explicit nvml_probe(std::unique_ptr<impl> state);
    std::unique_ptr<impl> impl_;
};

/// The whole chain as make_probe() runs it when no simulation is asked for: load (see the file
/// comment), resolve, init. On failure the probe is make_unavailable_probe(reason) and the reason
/// is one line naming the cause (dlerror text, missing symbol, or the nvmlInit return code).
std::unique_ptr<gpu_probe> make_nvml_probe(const std::optional<std::string>& override_path);

/// Reads /proc/@p pid/comm without the trailing newline; "" when unreadable.
std::string read_process_name(std::uint32_t pid);

}  // namespace whisper_vram
