// The NVML probe: per-GPU readings through the resolved function table. Every driver condition
// becomes a value (gpu_state, std::nullopt), never an exception.

#include "whisper_vram/gpu/nvml_probe.hpp"

#include <fmt/format.h>
#include <array>
#include <cstring>
#include <fstream>

#include "gpu/nvml_functions.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"

namespace whisper_vram {

using namespace detail::nvml;

struct nvml_probe::impl {
    std::shared_ptr<dynamic_library> library;
    functions fns;
    process_namer namer;
};

namespace {

// "nvmlDeviceGetName: NVML_ERROR_GPU_IS_LOST (the GPU has fallen off the bus)"
std::string failure(std::string_view symbol, return_t r) {
    return fmt::format("{}: {} ({})", symbol, nvml_return_name(r), nvml_return_text(r));
}

template <std::size_t N>
std::string from_buffer(const std::array<char, N>& buffer) {
    return std::string(buffer.data(), ::strnlen(buffer.data(), N));
}

// Marks the GPU lost (and says which call noticed) when @p r is GPU_IS_LOST; true if it was.
bool lost(gpu_device& gpu, std::string_view symbol, return_t r) {
    if (!is(r, code::gpu_is_lost)) return false;
    gpu.state = gpu_state::lost;
    gpu.state_detail = failure(symbol, r);
    return true;
}

void note_error(gpu_device& gpu, std::string_view symbol, return_t r) {
    if (gpu.state == gpu_state::ok) gpu.state = gpu_state::error;
    if (!gpu.state_detail.empty()) gpu.state_detail += "; ";
    gpu.state_detail += failure(symbol, r);
}

struct memory_reading {
    return_t result = 0;
    std::string symbol;
    std::uint64_t total = 0, used = 0, free = 0;
    std::optional<std::uint64_t> reserved;
};

// ABI hazard 1: v2 needs version = 0x02000028; a driver that rejects it answers 13 or 25, and
// then v1 is the answer. NOT_SUPPORTED from v2 means no framebuffer (UMA): v1 is not asked.
memory_reading read_memory(const functions& f, device_t handle) {
    memory_reading m;
    if (f.memory_v2 != nullptr) {
        memory_v2_t v2{};
        v2.version = memory_v2_version;
        m.symbol = "nvmlDeviceGetMemoryInfo_v2";
        m.result = f.memory_v2(handle, &v2);
        if (is(m.result, code::success)) {
            m.total = v2.total;
            m.used = v2.used;
            m.free = v2.free;
            m.reserved = v2.reserved;
            return m;
        }
        const bool version_rejected =
            is(m.result, code::function_not_found) || is(m.result, code::argument_version_mismatch);
        if (!version_rejected || f.memory_v1 == nullptr) return m;
    }
    memory_v1_t v1{};
    m.symbol = "nvmlDeviceGetMemoryInfo";
    m.result = f.memory_v1(handle, &v1);
    if (is(m.result, code::success)) {
        m.total = v1.total;
        m.used = v1.used;
        m.free = v1.free;
    }
    return m;
}

std::uint64_t value_or_unknown(unsigned long long value, std::optional<std::uint64_t>& out) {
    out = value == value_not_available ? std::nullopt : std::optional<std::uint64_t>(value);
    return value;
}

// The size-query + grow protocol of the process-list functions: ask with 0 entries; SUCCESS means
// none, INSUFFICIENT_SIZE gives the count; allocate with headroom (nvitop: count*2+5) and retry
// while the list keeps growing. Returns the last NVML result.
template <typename Element, typename Call>
return_t read_process_list(Call call, std::vector<Element>& out) {
    unsigned int count = 0;
    return_t r = call(&count, nullptr);
    for (int attempt = 0; attempt < 8 && is(r, code::insufficient_size); ++attempt) {
        out.assign(static_cast<std::size_t>(count) * 2 + 5, Element{});
        count = static_cast<unsigned int>(out.size());
        r = call(&count, out.data());
    }
    if (!is(r, code::success)) {
        out.clear();
        return r;
    }
    out.resize(std::min<std::size_t>(count, out.size()));
    return r;
}

return_t read_processes(const functions& f, device_t handle, std::vector<gpu_process>& processes) {
    const auto add = [&](unsigned pid, unsigned long long used) {
        gpu_process p;
        p.pid = pid;
        value_or_unknown(used, p.used_bytes);  // NVML_VALUE_NOT_AVAILABLE → nullopt
        processes.push_back(std::move(p));
    };
    if (f.process_detail_list != nullptr) {
        std::vector<process_detail_v1_t> list;
        const return_t r = read_process_list<process_detail_v1_t>(
            [&](unsigned int* count, process_detail_v1_t* data) {
                process_detail_list_v1_t request{};
                request.version = process_detail_list_version;
                request.mode = 0;  // NVML_PROCESS_MODE_COMPUTE
                request.num_proc_array_entries = *count;
                request.proc_array = data;
                const return_t result = f.process_detail_list(handle, &request);
                *count = request.num_proc_array_entries;
                return result;
            },
            list);
        for (const auto& p : list) add(p.pid, p.used_gpu_memory);
        return r;
    }
    const auto call_with = [&](auto element) {
        using element_t = decltype(element);
        std::vector<element_t> list;
        const return_t r = read_process_list<element_t>(
            [&](unsigned int* count, element_t* data) { return f.processes(handle, count, data); }, list);
        for (const auto& p : list) add(p.pid, p.used_gpu_memory);
        return r;
    };
    switch (f.processes_layout) {
        case process_layout::v1_16:
            return call_with(process_info_v1_t{});
        case process_layout::v2_24:
            return call_with(process_info_v2_t{});
        case process_layout::detail_32:
            return call_with(process_detail_v1_t{});
    }
    return static_cast<return_t>(code::unknown);
}

void read_mig(const functions& f, device_t handle, gpu_device& gpu) {
    if (f.mig_count == nullptr || f.mig_handle == nullptr) return;
    unsigned int max_count = 0;
    if (const return_t r = f.mig_count(handle, &max_count); !is(r, code::success)) {
        if (!lost(gpu, "nvmlDeviceGetMaxMigDeviceCount", r)) note_error(gpu, "nvmlDeviceGetMaxMigDeviceCount", r);
        return;
    }
    for (unsigned int i = 0; i < max_count; ++i) {
        device_t mig = nullptr;
        const return_t r = f.mig_handle(handle, i, &mig);
        if (is(r, code::not_found)) continue;  // an empty slot
        if (!is(r, code::success)) {
            if (lost(gpu, "nvmlDeviceGetMigDeviceHandleByIndex", r)) return;
            note_error(gpu, "nvmlDeviceGetMigDeviceHandleByIndex", r);
            continue;
        }
        mig_device device;
        device.index = i;
        if (f.uuid != nullptr) {
            std::array<char, uuid_buffer_size> buffer{};
            if (is(f.uuid(mig, buffer.data(), uuid_buffer_size), code::success)) device.uuid = from_buffer(buffer);
        }
        // "Per-instance information can be queried by using specific MIG device handles."
        const memory_reading m = read_memory(f, mig);
        if (!is(m.result, code::success)) {
            if (lost(gpu, m.symbol, m.result)) return;
            note_error(gpu, fmt::format("{} (MIG {})", m.symbol, i), m.result);
            continue;
        }
        device.total_bytes = m.total;
        device.used_bytes = m.used;
        device.free_bytes = m.free;
        gpu.mig_devices.push_back(std::move(device));
    }
}

gpu_device read_device(const functions& f, unsigned index, device_t handle, const nvml_probe::process_namer& namer) {
    gpu_device gpu;
    gpu.index = index;
    if (f.name != nullptr) {
        std::array<char, name_buffer_size> buffer{};
        const return_t r = f.name(handle, buffer.data(), name_buffer_size);
        if (lost(gpu, "nvmlDeviceGetName", r)) return gpu;
        if (is(r, code::success)) gpu.name = from_buffer(buffer);
    }
    if (f.uuid != nullptr) {
        std::array<char, uuid_buffer_size> buffer{};
        const return_t r = f.uuid(handle, buffer.data(), uuid_buffer_size);
        if (lost(gpu, "nvmlDeviceGetUUID", r)) return gpu;
        if (is(r, code::success)) gpu.uuid = from_buffer(buffer);
    }
    if (f.pci_info != nullptr) {
        pci_info_t pci{};
        const return_t r = f.pci_info(handle, &pci);
        if (lost(gpu, "nvmlDeviceGetPciInfo", r)) return gpu;
        if (is(r, code::success)) gpu.pci_bus_id = std::string(pci.bus_id, ::strnlen(pci.bus_id, sizeof pci.bus_id));
    }

    const memory_reading m = read_memory(f, handle);
    if (lost(gpu, m.symbol, m.result)) return gpu;
    if (is(m.result, code::not_supported) || (is(m.result, code::success) && m.total == 0)) {
        // ABI hazard 3 (GB10 / DGX Spark): no dedicated framebuffer. Reported as its own state,
        // with zero figures, rather than guessed from system RAM.
        gpu.state = gpu_state::unified_memory;
        gpu.state_detail = fmt::format("unified memory: no dedicated framebuffer, NVML reports no memory size ({})",
                                       is(m.result, code::success) ? "total 0" : failure(m.symbol, m.result));
    } else if (is(m.result, code::success)) {
        gpu.total_bytes = m.total;
        gpu.used_bytes = m.used;
        gpu.free_bytes = m.free;
        gpu.reserved_bytes = m.reserved;
    } else {
        note_error(gpu, m.symbol, m.result);
    }

    if (f.compute_capability != nullptr) {
        int major = 0;
        int minor = 0;
        const return_t r = f.compute_capability(handle, &major, &minor);
        if (lost(gpu, "nvmlDeviceGetCudaComputeCapability", r)) return gpu;
        if (is(r, code::success)) gpu.capability = compute_capability{major, minor};
    }
    if (f.mig_mode != nullptr) {
        unsigned int current = 0;
        unsigned int pending = 0;
        const return_t r = f.mig_mode(handle, &current, &pending);
        if (lost(gpu, "nvmlDeviceGetMigMode", r)) return gpu;
        if (is(r, code::success)) gpu.mig_enabled = current == mig_enable;  // NOT_SUPPORTED: not a MIG GPU
    }
    if (gpu.mig_enabled.value_or(false)) {
        read_mig(f, handle, gpu);
        if (gpu.state == gpu_state::lost) return gpu;
    } else if (f.utilization != nullptr) {
        // Skipped on MIG: "querying device utilization rates is not currently supported".
        utilization_t u{};
        const return_t r = f.utilization(handle, &u);
        if (lost(gpu, "nvmlDeviceGetUtilizationRates", r)) return gpu;
        if (is(r, code::success)) {
            gpu.utilization_gpu_percent = u.gpu;
            gpu.utilization_memory_percent = u.memory;
        }
    }
    if (f.processes != nullptr || f.process_detail_list != nullptr) {
        const return_t r = read_processes(f, handle, gpu.processes);
        if (lost(gpu, f.process_symbol, r)) return gpu;
        gpu.processes_known = is(r, code::success);
        for (auto& p : gpu.processes) p.name = namer(p.pid);
    }
    if (const gpu_model* model = match_nvml_name(gpu.name, gpu.total_bytes); model != nullptr) {
        gpu.catalog_name = std::string(model->name);
    }
    return gpu;
}

}  // namespace

std::string read_process_name(std::uint32_t pid) {
    std::ifstream in(fmt::format("/proc/{}/comm", pid));
    std::string name;
    if (!in || !std::getline(in, name)) return {};
    return name;
}

nvml_probe::nvml_probe(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

nvml_probe::~nvml_probe() {
    // Reference-counted by NVML: this only undoes our own init.
    impl_->fns.shutdown();
}

const dynamic_library& nvml_probe::library() const noexcept { return *impl_->library; }

nvml_probe::open_result nvml_probe::open(std::shared_ptr<dynamic_library> library, process_namer namer) {
    open_result result;
    if (!library) {
        result.status = nvml_status::library_not_found;
        result.reason = "no NVML library was given";
        return result;
    }
    auto resolved = resolve(*library);
    if (!resolved.missing.empty()) {
        result.status = nvml_status::missing_symbol;
        result.missing_symbol = resolved.missing;
        result.reason = fmt::format(
            "NVML library {} lacks the required function {}; the NVIDIA driver is too old or "
            "this is not a real libnvidia-ml",
            library->resolved_path(), resolved.missing);
        return result;
    }
    functions& f = resolved.table;
    // nvmlInitWithFlags(NO_GPUS) (415.13+) makes "driver present, 0 GPUs" a success with count 0.
    return_t r = 0;
    if (f.init_with_flags != nullptr) {
        result.init_symbol = "nvmlInitWithFlags";
        r = f.init_with_flags(init_flag_no_gpus);
    } else {
        result.init_symbol = f.init_symbol;
        r = f.init();
    }
    result.init_return = r;
    if (!is(r, code::success)) {
        result.status = nvml_status::init_failed;
        const std::string file = library->resolved_path();
        result.reason = fmt::format(
            "{} in {} failed: {} ({}){}", result.init_symbol, file, nvml_return_name(r), nvml_return_text(r),
            file.find("/stubs/") != std::string::npos ? "; this is the CUDA toolkit's stub library, not the driver's"
                                                      : "");
        return result;
    }
    auto state = std::make_unique<impl>();
    state->library = std::move(library);
    state->fns = std::move(f);
    state->namer = namer ? std::move(namer) : process_namer(read_process_name);
    result.status = nvml_status::ok;
    result.probe = std::unique_ptr<nvml_probe>(new nvml_probe(std::move(state)));
    return result;
}

gpu_snapshot nvml_probe::snapshot() {
    const functions& f = impl_->fns;
    unsigned int count = 0;
    const return_t r = f.count(&count);
    if (!is(r, code::success)) {
        return gpu_snapshot{
            probe_source::none, {}, fmt::format("NVML cannot count the GPUs: {}", failure(f.count_symbol, r))};
    }
    gpu_snapshot snapshot{probe_source::nvml, {}, {}};
    for (unsigned int i = 0; i < count; ++i) {
        device_t handle = nullptr;
        const return_t h = f.handle_by_index(i, &handle);
        if (!is(h, code::success)) {
            // _v2 counts devices we may not open: NO_PERMISSION here is per GPU, not fatal.
            gpu_device gpu;
            gpu.index = i;
            if (!lost(gpu, f.handle_symbol, h)) note_error(gpu, f.handle_symbol, h);
            snapshot.gpus.push_back(std::move(gpu));
            continue;
        }
        snapshot.gpus.push_back(read_device(f, i, handle, impl_->namer));
    }
    return snapshot;
}

nvml_system_info nvml_probe::system_info() const {
    const functions& f = impl_->fns;
    nvml_system_info info;
    const auto read_string = [](system_string_fn fn, const char* symbol, std::optional<std::string>& out,
                                std::string& error) {
        if (fn == nullptr) {
            error = fmt::format("{} is not exported", symbol);
            return;
        }
        std::array<char, system_version_buffer_size> buffer{};
        const return_t r = fn(buffer.data(), system_version_buffer_size);
        if (is(r, code::success)) {
            out = from_buffer(buffer);
        } else {
            error = failure(symbol, r);
        }
    };
    read_string(f.driver_version, "nvmlSystemGetDriverVersion", info.driver_version, info.driver_version_error);
    read_string(f.nvml_version, "nvmlSystemGetNVMLVersion", info.nvml_version, info.nvml_version_error);
    // v2 asks libcuda (LIBRARY_NOT_FOUND when libcuda.so.1 is missing); v1 "returns a known
    // supported version number" from the driver.
    std::vector<std::string> errors;
    const std::pair<cuda_driver_version_fn, const char*> versions[] = {
        {f.cuda_driver_version_v2, "nvmlSystemGetCudaDriverVersion_v2"},
        {f.cuda_driver_version_v1, "nvmlSystemGetCudaDriverVersion"}};
    for (const auto& [fn, symbol] : versions) {
        if (fn == nullptr) {
            errors.push_back(fmt::format("{} is not exported", symbol));
            continue;
        }
        int version = 0;
        const return_t r = fn(&version);
        if (is(r, code::success)) {
            info.cuda_driver_version = version;
            info.cuda_driver_version_symbol = symbol;
            break;
        }
        errors.push_back(failure(symbol, r));
    }
    for (const auto& e : errors) {
        info.cuda_driver_version_error += (info.cuda_driver_version_error.empty() ? "" : "; ") + e;
    }
    return info;
}

std::vector<std::string> nvml_probe::resolved_symbols() const {
    std::vector<std::string> out;
    for (const auto& [purpose, symbol] : impl_->fns.chosen) out.push_back(fmt::format("{}={}", purpose, symbol));
    return out;
}

std::unique_ptr<gpu_probe> make_nvml_probe(const std::optional<std::string>& override_path) {
    library_load_result loaded = load_nvml_library(override_path);
    if (!loaded.library) {
        std::string tried;
        for (const auto& a : loaded.attempts) {
            tried += fmt::format("{}{}", tried.empty() ? "" : "; ", a.error.empty() ? a.path : a.error);
        }
        if (override_path && !override_path->empty()) {
            return make_unavailable_probe(fmt::format(
                "the NVML library override (WHISPER_VRAM_NVML_LIBRARY) could not be loaded: {}; point it at the "
                "driver's libnvidia-ml.so.1 or unset it",
                tried));
        }
        return make_unavailable_probe(
            fmt::format("NVIDIA driver library not found (is the NVIDIA driver installed?): {}", tried));
    }
    auto opened = nvml_probe::open(std::move(loaded.library));
    if (opened.status != nvml_status::ok) return make_unavailable_probe(opened.reason);
    return std::move(opened.probe);
}

}  // namespace whisper_vram
