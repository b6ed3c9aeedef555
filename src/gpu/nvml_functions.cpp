// Symbol resolution for the NVML probe: versioned names first, older names as fallbacks.

#include <initializer_list>

#include "gpu/nvml_functions.hpp"

namespace whisper_vram::detail::nvml {
namespace {

class resolver {
public:
    resolver(const dynamic_library& library, functions& table) : library_(library), table_(table) {}

    // The first of @p names the library exports, recorded under @p purpose; null when none is.
    template <typename F>
    F pick(const char* purpose, std::initializer_list<const char*> names, std::string* symbol = nullptr) {
        for (const char* name : names) {
            if (void* address = library_.find_symbol(name); address != nullptr) {
                table_.chosen.emplace_back(purpose, name);
                if (symbol != nullptr) *symbol = name;
                // POSIX guarantees that dlsym's object pointer converts to a function pointer.
                return reinterpret_cast<F>(address);
            }
        }
        table_.chosen.emplace_back(purpose, "absent");
        return nullptr;
    }

    [[nodiscard]] bool has(const char* name) const { return library_.find_symbol(name) != nullptr; }

private:
    const dynamic_library& library_;
    functions& table_;
};

std::string alternatives(std::initializer_list<const char*> names) {
    std::string text;
    for (const char* name : names) {
        if (text.empty()) {
            text = name;
        } else {
            text += text.find(" (or ") == std::string::npos ? " (or " : ", ";
            text += name;
        }
    }
    if (text.find(" (or ") != std::string::npos) text += ')';
    return text;
}

}  // namespace

resolve_result resolve(const dynamic_library& library) {
    resolve_result result;
    functions& t = result.table;
    resolver r(library, t);

    // Required: without these the probe cannot answer "how much memory is free".
    t.init = r.pick<init_fn>("init", {"nvmlInit_v2", "nvmlInit"}, &t.init_symbol);
    if (t.init == nullptr) return {t, alternatives({"nvmlInit_v2", "nvmlInit"})};
    t.shutdown = r.pick<shutdown_fn>("shutdown", {"nvmlShutdown"});
    if (t.shutdown == nullptr) return {t, "nvmlShutdown"};
    t.count = r.pick<count_fn>("count", {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}, &t.count_symbol);
    if (t.count == nullptr) return {t, alternatives({"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"})};
    t.handle_by_index = r.pick<handle_by_index_fn>(
        "handle_by_index", {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}, &t.handle_symbol);
    if (t.handle_by_index == nullptr) {
        return {t, alternatives({"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"})};
    }
    // v1 and v2 have different signatures, so both are resolved (go-nvml#95); v2 is preferred.
    t.memory_v2 = r.pick<memory_v2_fn>("memory_v2", {"nvmlDeviceGetMemoryInfo_v2"});
    t.memory_v1 = r.pick<memory_v1_fn>("memory_v1", {"nvmlDeviceGetMemoryInfo"});
    if (t.memory_v2 == nullptr && t.memory_v1 == nullptr) {
        return {t, alternatives({"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo"})};
    }

    // Optional: each reading is nullopt/empty when its function is absent.
    t.init_with_flags = r.pick<init_with_flags_fn>("init_with_flags", {"nvmlInitWithFlags"});
    t.error_string = r.pick<error_string_fn>("error_string", {"nvmlErrorString"});
    t.name = r.pick<string_fn>("name", {"nvmlDeviceGetName"});
    t.uuid = r.pick<string_fn>("uuid", {"nvmlDeviceGetUUID"});
    t.pci_info =
        r.pick<pci_info_fn>("pci_info", {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"});
    t.utilization = r.pick<utilization_fn>("utilization", {"nvmlDeviceGetUtilizationRates"});
    t.driver_version = r.pick<system_string_fn>("driver_version", {"nvmlSystemGetDriverVersion"});
    t.nvml_version = r.pick<system_string_fn>("nvml_version", {"nvmlSystemGetNVMLVersion"});
    t.cuda_driver_version_v2 =
        r.pick<cuda_driver_version_fn>("cuda_driver_version_v2", {"nvmlSystemGetCudaDriverVersion_v2"});
    t.cuda_driver_version_v1 =
        r.pick<cuda_driver_version_fn>("cuda_driver_version_v1", {"nvmlSystemGetCudaDriverVersion"});
    t.compute_capability = r.pick<compute_capability_fn>("compute_capability", {"nvmlDeviceGetCudaComputeCapability"});
    t.mig_mode = r.pick<mig_mode_fn>("mig_mode", {"nvmlDeviceGetMigMode"});
    t.mig_count = r.pick<mig_count_fn>("mig_count", {"nvmlDeviceGetMaxMigDeviceCount"});
    t.mig_handle = r.pick<mig_handle_fn>("mig_handle", {"nvmlDeviceGetMigDeviceHandleByIndex"});

    // Process lists (ABI hazard 2): _v2 has a fixed 24-byte element since 450.66; the versioned
    // RunningProcessDetailList (535.104.05+) is next; _v3 only with nvitop's guard, because
    // 535.43.02-535.86 filled it with 32-byte elements under the same name; the unversioned
    // function (16-byte elements) last.
    if (auto* f = r.pick<processes_fn>("processes", {"nvmlDeviceGetComputeRunningProcesses_v2"}, &t.process_symbol);
        f != nullptr) {
        t.processes = f;
        t.processes_layout = process_layout::v2_24;
    } else if (auto* d = r.pick<process_detail_list_fn>("process_detail_list",
                                                        {"nvmlDeviceGetRunningProcessDetailList"}, &t.process_symbol);
               d != nullptr) {
        t.process_detail_list = d;
        t.processes_layout = process_layout::detail_32;
    } else if (auto* v3 =
                   r.pick<processes_fn>("processes_v3", {"nvmlDeviceGetComputeRunningProcesses_v3"}, &t.process_symbol);
               v3 != nullptr) {
        t.processes = v3;
        // nvitop libnvml.py: the 32-byte struct only when the library has the confidential-
        // computing API (535.43.02+) but not yet RunningProcessDetailList (535.104.05+).
        const bool cc_era =
            r.has("nvmlDeviceGetConfComputeMemSizeInfo") && !r.has("nvmlDeviceGetRunningProcessDetailList");
        t.processes_layout = cc_era ? process_layout::detail_32 : process_layout::v2_24;
    } else if (auto* v1 =
                   r.pick<processes_fn>("processes_v1", {"nvmlDeviceGetComputeRunningProcesses"}, &t.process_symbol);
               v1 != nullptr) {
        t.processes = v1;
        t.processes_layout = process_layout::v1_16;
    }
    return result;
}

}  // namespace whisper_vram::detail::nvml
