// Our own copy of NVML's return codes (nvml.h nvmlReturn_t, CUDA 13.3), so messages name the
// cause even when the library does not export nvmlErrorString.

#include <fmt/format.h>
#include <array>

#include "core/text.hpp"
#include "gpu/nvml_abi.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {
namespace detail::nvml {
namespace {

struct code_entry {
    int value;
    std::string_view name;
    std::string_view text;
};

constexpr auto codes = std::to_array<code_entry>({
    {0, "NVML_SUCCESS", "success"},
    {1, "NVML_ERROR_UNINITIALIZED", "NVML was not initialised"},
    {2, "NVML_ERROR_INVALID_ARGUMENT", "invalid argument"},
    {3, "NVML_ERROR_NOT_SUPPORTED", "not supported on this device"},
    {4, "NVML_ERROR_NO_PERMISSION", "no permission to access the NVIDIA driver or device"},
    {5, "NVML_ERROR_ALREADY_INITIALIZED", "already initialised"},
    {6, "NVML_ERROR_NOT_FOUND", "not found"},
    {7, "NVML_ERROR_INSUFFICIENT_SIZE", "buffer too small"},
    {8, "NVML_ERROR_INSUFFICIENT_POWER", "insufficient power"},
    {9, "NVML_ERROR_DRIVER_NOT_LOADED", "the NVIDIA kernel driver is not loaded"},
    {10, "NVML_ERROR_TIMEOUT", "timeout"},
    {11, "NVML_ERROR_IRQ_ISSUE", "interrupt request issue"},
    {12, "NVML_ERROR_LIBRARY_NOT_FOUND", "a library NVML needs (libcuda.so.1) was not found"},
    {13, "NVML_ERROR_FUNCTION_NOT_FOUND", "function not found (or a wrong struct version)"},
    {14, "NVML_ERROR_CORRUPTED_INFOROM", "corrupted inforom"},
    {15, "NVML_ERROR_GPU_IS_LOST", "the GPU has fallen off the bus"},
    {16, "NVML_ERROR_RESET_REQUIRED", "the GPU needs a reset"},
    {17, "NVML_ERROR_OPERATING_SYSTEM", "blocked by the operating system"},
    {18, "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
     "NVML library and kernel driver versions differ (driver upgraded without reboot?)"},
    {19, "NVML_ERROR_IN_USE", "in use"},
    {20, "NVML_ERROR_MEMORY", "out of memory"},
    {21, "NVML_ERROR_NO_DATA", "no data"},
    {22, "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED", "vGPU ECC not supported"},
    {23, "NVML_ERROR_INSUFFICIENT_RESOURCES", "insufficient resources"},
    {24, "NVML_ERROR_FREQ_NOT_SUPPORTED", "frequency not supported"},
    {25, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH", "struct version not supported by this driver"},
    {26, "NVML_ERROR_DEPRECATED", "deprecated"},
    {27, "NVML_ERROR_NOT_READY", "not ready"},
    {28, "NVML_ERROR_GPU_NOT_FOUND", "GPU not found"},
    {29, "NVML_ERROR_INVALID_STATE", "invalid state"},
    {30, "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED", "reset type not supported"},
    {999, "NVML_ERROR_UNKNOWN", "unknown error"},
});

const code_entry* find(return_t value) noexcept {
    for (const auto& c : codes) {
        if (c.value == value) return &c;
    }
    return nullptr;
}

}  // namespace

std::string_view code_name(return_t value) noexcept {
    const auto* c = find(value);
    return c != nullptr ? c->name : std::string_view();
}

std::string_view code_text(return_t value) noexcept {
    const auto* c = find(value);
    return c != nullptr ? c->text : std::string_view("unknown NVML return code");
}

}  // namespace detail::nvml

std::string nvml_return_name(int value) {
    const auto name = detail::nvml::code_name(value);
    return name.empty() ? fmt::format("NVML_ERROR_{}", value) : std::string(name);
}

std::string nvml_return_text(int value) { return std::string(detail::nvml::code_text(value)); }

std::string_view to_string(nvml_status status) noexcept {
    static constexpr auto names =
        std::to_array<std::string_view>({"ok", "library_not_found", "missing_symbol", "init_failed"});
    return detail::enum_name(names, status);
}

}  // namespace whisper_vram
