#pragma once
// The NVML function table the probe calls through, resolved from a dynamic_library with the
// versioned fallbacks of shared/spec/nvml-abi.md (internal).

#include <string>
#include <utility>
#include <vector>

#include "nvml_abi.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram::detail::nvml {

/// Which element layout a process-list function fills.
enum class process_layout { v1_16, v2_24, detail_32 };

/// Every function the probe may call; optional ones are null when absent.
struct functions {
    // required
    init_fn init = nullptr;                        // nvmlInit_v2 | nvmlInit
    shutdown_fn shutdown = nullptr;                // nvmlShutdown
    count_fn count = nullptr;                      // nvmlDeviceGetCount_v2 | nvmlDeviceGetCount
    handle_by_index_fn handle_by_index = nullptr;  // nvmlDeviceGetHandleByIndex_v2 | nvmlDeviceGetHandleByIndex
    memory_v2_fn memory_v2 = nullptr;              // nvmlDeviceGetMemoryInfo_v2 } at least one
    memory_v1_fn memory_v1 = nullptr;              // nvmlDeviceGetMemoryInfo    }
    // optional
    init_with_flags_fn init_with_flags = nullptr;
    error_string_fn error_string = nullptr;
    string_fn name = nullptr;
    string_fn uuid = nullptr;
    pci_info_fn pci_info = nullptr;  // _v3 | _v2 | unversioned (same struct)
    utilization_fn utilization = nullptr;
    processes_fn processes = nullptr;  // see process_symbol / process_layout
    process_detail_list_fn process_detail_list = nullptr;
    process_layout processes_layout = process_layout::v2_24;
    system_string_fn driver_version = nullptr;
    system_string_fn nvml_version = nullptr;
    cuda_driver_version_fn cuda_driver_version_v2 = nullptr;
    cuda_driver_version_fn cuda_driver_version_v1 = nullptr;
    compute_capability_fn compute_capability = nullptr;
    mig_mode_fn mig_mode = nullptr;
    mig_count_fn mig_count = nullptr;
    mig_handle_fn mig_handle = nullptr;

    std::string init_symbol;
    std::string count_symbol;
    std::string handle_symbol;
    std::string process_symbol;  // the process-list function in use ("" when none)
    /// purpose → symbol ("absent" for a missing optional one), in resolution order.
    std::vector<std::pair<std::string, std::string>> chosen;
};

/// The table, or the name of the first missing required function
/// ("nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)").
struct resolve_result {
    functions table;
    std::string missing;
};

resolve_result resolve(const dynamic_library& library);

}  // namespace whisper_vram::detail::nvml
