// A fake libnvidia-ml.so.1 for the tests: exports the NVML functions the probe uses with the real
// C signatures and behaviours (memory v2 version check, size-query protocol, GPU_IS_LOST…),
// driven by a scenario file named by FAKE_NVML_SCENARIO, read at each first nvmlInit.
//
// Scenario lines ("#" starts a comment; fields are ';'-separated key=value, values may hold spaces):
//   set init=9;count=0;driver_version=550.127.08;nvml_version=12.550.127.08;cuda_v2=12;cuda_version=12040;
//       memory_v2_result=25;processes_insufficient_first=1
//   gpu name=NVIDIA GeForce RTX 3090;uuid=GPU-…;bus=00000000:01:00.0;total=B;used=B;free=B;reserved=B;
//       util=37,12;cc=8.6;memory=ok|not_supported;lost=1;handle=4;mig=on|off|unsupported
//   process gpu=0;pid=1234|self;used=B|na
//   mig gpu=0;slot=0;uuid=MIG-…;total=B;used=B;free=B
//   set live_dir=/path   (and gpu …;processes=not_supported: the process list answers NOT_SUPPORTED)
//
// The live timeline (for `measure`/`run` sampling tests): the fake cannot know a job's pids in
// advance, so the scripted job writes its own usage, and the fake re-reads live_dir at every query:
//   <live_dir>/<pid>     lines "GPU BYTES": process <pid> uses BYTES on GPU (listed while it lives;
//                        write a temporary dot-file and rename it, so a query never sees half a line)
//   <live_dir>/lost-<N>  exists: GPU N answers NVML_ERROR_GPU_IS_LOST from then on
// A GPU's used memory is its scenario `used` plus the live usage of living processes on it.
//
// Variants (compile definitions): FAKE_NVML_LEGACY drops every _v2/_v3 symbol, nvmlInitWithFlags,
// the detail list and nvmlErrorString (a pre-R319-style library: the probe must fall back);
// FAKE_NVML_BROKEN additionally drops both GetHandleByIndex symbols (a required function);
// FAKE_NVML_R535_43 exports _v3 with the 32-byte element of 535.43.02-535.86 and the
// confidential-computing marker, but neither _v2 nor the detail list.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

typedef int nvmlReturn_t;
struct nvmlDevice_st;
typedef nvmlDevice_st* nvmlDevice_t;

namespace {

struct memory_v1 {
    unsigned long long total, free, used;
};
struct memory_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};
struct pci_info {
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_sub_system_id;
    char bus_id[32];
};
struct utilization {
    unsigned int gpu, memory;
};
struct process_v1 {
    unsigned int pid;
    unsigned long long used;
};
struct process_v2 {
    unsigned int pid;
    unsigned long long used;
    unsigned int gi, ci;
};
struct process_detail {
    unsigned int pid;
    unsigned long long used;
    unsigned int gi, ci;
    unsigned long long cc_protected;
};
struct process_detail_list {
    unsigned int version, mode, count;
    process_detail* array;
};
static_assert(sizeof(memory_v2) == 40 && sizeof(pci_info) == 68 && sizeof(process_v2) == 24 &&
              sizeof(process_detail) == 32);

// [[maybe_unused]]: the legacy and broken variants leave some out (clang warns, g++ does not).
[[maybe_unused]] constexpr nvmlReturn_t ok = 0, uninitialized = 1, invalid_argument = 2, not_supported = 3,
                                        not_found = 6, insufficient_size = 7, function_not_found = 13, gpu_is_lost = 15;
[[maybe_unused]] constexpr unsigned memory_v2_version = 40U | (2U << 24U);
[[maybe_unused]] constexpr unsigned detail_list_version = 24U | (1U << 24U);

enum class kind : int { gpu = 0x6770, mig = 0x6d69 };

struct fake_mig {
    kind tag = kind::mig;
    unsigned slot = 0;
    std::string uuid;
    unsigned long long total = 0, used = 0, free = 0;
};

struct fake_process {
    unsigned pid = 0;
    unsigned long long used = 0;
};

struct fake_gpu {
    kind tag = kind::gpu;
    std::string name, uuid, bus = "00000000:01:00.0";
    unsigned long long total = 0, used = 0, free = 0, reserved = 0;
    unsigned util_gpu = 0, util_memory = 0;
    int cc_major = 8, cc_minor = 6;
    bool memory_supported = true, lost = false, processes_supported = true;
    unsigned long long base_used = 0;          // the scenario's used (live usage comes on top)
    std::vector<fake_process> base_processes;  // the scenario's processes
    nvmlReturn_t handle_result = ok;
    int mig = -1;  // -1 unsupported, 0 off, 1 on
    std::vector<fake_mig> migs;
    std::vector<fake_process> processes;
};

struct scenario {
    nvmlReturn_t init = ok, count = ok, cuda_v2 = ok, memory_v2_result = ok;
    std::string driver_version = "550.127.08", nvml_version = "12.550.127.08";
    int cuda_version = 12040;
    bool processes_insufficient_first = false;
    std::string live_dir;
    std::vector<fake_gpu> gpus;
};

scenario g_scenario;
int g_refcount = 0;
std::map<std::string, unsigned> g_calls;
unsigned g_last_memory_v2_version = 0;
unsigned g_process_fill_calls = 0;

std::map<std::string, std::string> fields(const std::string& text) {
    std::map<std::string, std::string> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ';')) {
        const auto eq = item.find('=');
        if (eq == std::string::npos) continue;
        auto key = item.substr(0, eq);
        key.erase(0, key.find_first_not_of(' '));
        out[key] = item.substr(eq + 1);
    }
    return out;
}

unsigned long long number(const std::string& text) { return std::strtoull(text.c_str(), nullptr, 10); }

void load_scenario() {
    g_scenario = scenario{};
    g_calls.clear();
    g_last_memory_v2_version = 0;
    g_process_fill_calls = 0;
    const char* path = std::getenv("FAKE_NVML_SCENARIO");
    if (path == nullptr) return;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.find(' ');
        const std::string what = line.substr(0, space);
        const auto f = fields(space == std::string::npos ? "" : line.substr(space + 1));
        const auto get = [&](const char* key, const std::string& fallback) {
            const auto it = f.find(key);
            return it == f.end() ? fallback : it->second;
        };
        if (what == "set") {
            auto& s = g_scenario;
            s.init = static_cast<int>(number(get("init", "0")));
            s.count = static_cast<int>(number(get("count", "0")));
            s.cuda_v2 = static_cast<int>(number(get("cuda_v2", "0")));
            s.cuda_version = static_cast<int>(number(get("cuda_version", "12040")));
            s.memory_v2_result = static_cast<int>(number(get("memory_v2_result", "0")));
            s.driver_version = get("driver_version", s.driver_version);
            s.nvml_version = get("nvml_version", s.nvml_version);
            s.processes_insufficient_first = get("processes_insufficient_first", "0") == "1";
            s.live_dir = get("live_dir", "");
        } else if (what == "gpu") {
            fake_gpu g;
            g.name = get("name", "NVIDIA Fake GPU");
            g.uuid = get("uuid", "GPU-00000000-0000-0000-0000-00000000000" + std::to_string(g_scenario.gpus.size()));
            g.bus = get("bus", g.bus);
            g.total = number(get("total", "0"));
            g.used = number(get("used", "0"));
            g.reserved = number(get("reserved", "0"));
            g.free = number(get("free", std::to_string(g.total - g.used - g.reserved)));
            const auto util = get("util", "0,0");
            g.util_gpu = static_cast<unsigned>(number(util.substr(0, util.find(','))));
            g.util_memory = static_cast<unsigned>(number(util.substr(util.find(',') + 1)));
            const auto cc = get("cc", "8.6");
            g.cc_major = static_cast<int>(number(cc.substr(0, cc.find('.'))));
            g.cc_minor = static_cast<int>(number(cc.substr(cc.find('.') + 1)));
            g.memory_supported = get("memory", "ok") != "not_supported";
            g.lost = get("lost", "0") == "1";
            g.processes_supported = get("processes", "ok") != "not_supported";
            g.handle_result = static_cast<int>(number(get("handle", "0")));
            const auto mig = get("mig", "unsupported");
            g.mig = mig == "on" ? 1 : mig == "off" ? 0 : -1;
            g.base_used = g.used;
            g_scenario.gpus.push_back(std::move(g));
        } else if (what == "process") {
            auto& gpu = g_scenario.gpus.at(number(get("gpu", "0")));
            fake_process p;
            const auto pid = get("pid", "1");
            p.pid = pid == "self" ? static_cast<unsigned>(::getpid()) : static_cast<unsigned>(number(pid));
            const auto used = get("used", "0");
            p.used = used == "na" ? ~0ULL : number(used);  // NVML_VALUE_NOT_AVAILABLE
            gpu.processes.push_back(p);
            gpu.base_processes.push_back(p);
        } else if (what == "mig") {
            auto& gpu = g_scenario.gpus.at(number(get("gpu", "0")));
            fake_mig m;
            m.slot = static_cast<unsigned>(number(get("slot", "0")));
            m.uuid = get("uuid", "MIG-00000000-0000-0000-0000-000000000000");
            m.total = number(get("total", "0"));
            m.used = number(get("used", "0"));
            m.free = number(get("free", "0"));
            gpu.migs.push_back(m);
        }
    }
}

void count(const char* function) { ++g_calls[function]; }

bool alive(unsigned pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// Re-reads the live timeline (see the file comment) into @p gpu.
void refresh_live(fake_gpu& gpu) {
    if (g_scenario.live_dir.empty()) return;
    const auto index = static_cast<unsigned>(&gpu - g_scenario.gpus.data());
    struct stat st {};
    const std::string lost = g_scenario.live_dir + "/lost-" + std::to_string(index);
    if (::stat(lost.c_str(), &st) == 0) gpu.lost = true;
    gpu.processes = gpu.base_processes;
    gpu.used = gpu.base_used;
    DIR* dir = ::opendir(g_scenario.live_dir.c_str());
    if (dir == nullptr) return;
    while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto pid = static_cast<unsigned>(number(name));
        if (!alive(pid)) continue;
        std::ifstream in(g_scenario.live_dir + "/" + name);
        unsigned gpu_index = 0;
        unsigned long long bytes = 0;
        while (in >> gpu_index >> bytes) {
            if (gpu_index != index) continue;
            gpu.processes.push_back(fake_process{pid, bytes});
            gpu.used += bytes;
        }
    }
    ::closedir(dir);
    if (gpu.used + gpu.reserved <= gpu.total) gpu.free = gpu.total - gpu.used - gpu.reserved;
}

// The device behind a handle, or an error for a bad/lost one.
nvmlReturn_t device(nvmlDevice_t handle, fake_gpu*& gpu, fake_mig*& mig) {
    gpu = nullptr;
    mig = nullptr;
    if (g_refcount == 0) return uninitialized;
    if (handle == nullptr) return invalid_argument;
    const kind tag = *reinterpret_cast<const kind*>(handle);
    if (tag == kind::mig) {
        mig = reinterpret_cast<fake_mig*>(handle);
        return ok;
    }
    if (tag != kind::gpu) return invalid_argument;
    gpu = reinterpret_cast<fake_gpu*>(handle);
    refresh_live(*gpu);
    return gpu->lost ? gpu_is_lost : ok;
}

nvmlReturn_t copy_string(const std::string& value, char* out, unsigned length) {
    if (out == nullptr) return invalid_argument;
    if (value.size() + 1 > length) return insufficient_size;
    std::memcpy(out, value.c_str(), value.size() + 1);
    return ok;
}

nvmlReturn_t do_init() {
    if (g_refcount == 0) load_scenario();
    count("init");
    if (g_scenario.init != ok) return g_scenario.init;
    ++g_refcount;
    return ok;
}

nvmlReturn_t do_count(unsigned int* n) {
    count("count");
    if (g_refcount == 0) return uninitialized;
    if (n == nullptr) return invalid_argument;
    if (g_scenario.count != ok) return g_scenario.count;
    *n = static_cast<unsigned>(g_scenario.gpus.size());
    return ok;
}

[[maybe_unused]] nvmlReturn_t do_handle(unsigned int index, nvmlDevice_t* out) {
    count("handle");
    if (g_refcount == 0) return uninitialized;
    if (out == nullptr || index >= g_scenario.gpus.size()) return invalid_argument;
    auto& gpu = g_scenario.gpus[index];
    if (gpu.handle_result != ok) return gpu.handle_result;
    *out = reinterpret_cast<nvmlDevice_t>(&gpu);
    return ok;
}

nvmlReturn_t do_pci(nvmlDevice_t handle, pci_info* pci) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr || pci == nullptr) return invalid_argument;
    *pci = pci_info{};
    std::strncpy(pci->bus_id, gpu->bus.c_str(), sizeof pci->bus_id - 1);
    return ok;
}

// The size-query protocol: count 0 + null → SUCCESS (none) or INSUFFICIENT_SIZE with the count.
template <typename Element, typename Fill>
nvmlReturn_t do_processes(nvmlDevice_t handle, unsigned int* n, Element* out, Fill fill) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr || n == nullptr) return invalid_argument;
    if (!gpu->processes_supported) return not_supported;
    const auto needed = static_cast<unsigned>(gpu->processes.size());
    if (*n > 0 && out != nullptr) {
        ++g_process_fill_calls;
        // A process started between the size query and the fill: the first fill is too small.
        if (g_scenario.processes_insufficient_first && g_process_fill_calls == 1) {
            *n = needed + 100;
            return insufficient_size;
        }
    }
    if (*n < needed || (needed > 0 && out == nullptr)) {
        *n = needed;
        return needed == 0 ? ok : insufficient_size;
    }
    for (unsigned i = 0; i < needed; ++i) fill(out[i], gpu->processes[i]);
    *n = needed;
    return ok;
}

}  // namespace

// ---- test-only introspection ----------------------------------------------------------------------
FAKE_EXPORT unsigned fake_nvml_calls(const char* function) { return g_calls[function]; }
FAKE_EXPORT int fake_nvml_refcount() { return g_refcount; }
FAKE_EXPORT unsigned fake_nvml_last_memory_v2_version() { return g_last_memory_v2_version; }

// ---- init / shutdown / errors -----------------------------------------------------------------------
FAKE_EXPORT nvmlReturn_t nvmlInit() { return do_init(); }
FAKE_EXPORT nvmlReturn_t nvmlShutdown() {
    count("shutdown");
    if (g_refcount == 0) return uninitialized;
    --g_refcount;
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int* n) { return do_count(n); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t handle, char* name, unsigned int length) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    return gpu != nullptr ? copy_string(gpu->name, name, length) : copy_string("MIG device", name, length);
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t handle, char* uuid, unsigned int length) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    return copy_string(gpu != nullptr ? gpu->uuid : mig->uuid, uuid, length);
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t handle, pci_info* pci) { return do_pci(handle, pci); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t handle, memory_v1* memory) {
    count("memory_v1");
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (memory == nullptr) return invalid_argument;
    if (mig != nullptr) {
        *memory = memory_v1{mig->total, mig->free, mig->used};
        return ok;
    }
    if (!gpu->memory_supported) return not_supported;
    // v1 "used" is reserved + allocated (rust-nvml/nvml-wrapper#57).
    *memory = memory_v1{gpu->total, gpu->free, gpu->used + gpu->reserved};
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t handle, utilization* u) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr || u == nullptr) return invalid_argument;
    if (gpu->mig == 1) return not_supported;
    *u = utilization{gpu->util_gpu, gpu->util_memory};
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t handle, unsigned int* n, process_v1* out) {
    count("processes_v1");
    return do_processes(handle, n, out, [](process_v1& e, const fake_process& p) { e = process_v1{p.pid, p.used}; });
}
FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
    if (g_refcount == 0) return uninitialized;
    return copy_string(g_scenario.driver_version, version, length);
}
FAKE_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char* version, unsigned int length) {
    if (g_refcount == 0) return uninitialized;
    return copy_string(g_scenario.nvml_version, version, length);
}
FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* version) {
    if (g_refcount == 0) return uninitialized;
    *version = g_scenario.cuda_version;
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t handle, int* major, int* minor) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr) return not_supported;
    *major = gpu->cc_major;
    *minor = gpu->cc_minor;
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t handle, unsigned int* current, unsigned int* pending) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr || gpu->mig < 0) return not_supported;
    *current = static_cast<unsigned>(gpu->mig);
    *pending = static_cast<unsigned>(gpu->mig);
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t handle, unsigned int* n) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr || gpu->mig < 0) return not_supported;
    *n = 7;  // an A100/H100 has 7 MIG slots
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t handle, unsigned int index,
                                                             nvmlDevice_t* out) {
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (gpu == nullptr || out == nullptr) return invalid_argument;
    for (auto& m : gpu->migs) {
        if (m.slot == index) {
            *out = reinterpret_cast<nvmlDevice_t>(&m);
            return ok;
        }
    }
    return not_found;
}

#if !defined(FAKE_NVML_LEGACY) && !defined(FAKE_NVML_BROKEN)
FAKE_EXPORT const char* nvmlErrorString(nvmlReturn_t result) { return result == 0 ? "Success" : "Fake NVML error"; }
FAKE_EXPORT nvmlReturn_t nvmlInit_v2() { return do_init(); }
FAKE_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int /*flags*/) { return do_init(); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* n) { return do_count(n); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* out) {
    return do_handle(index, out);
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t handle, pci_info* pci) { return do_pci(handle, pci); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t handle, memory_v2* memory) {
    count("memory_v2");
    fake_gpu* gpu = nullptr;
    fake_mig* mig = nullptr;
    if (const auto r = device(handle, gpu, mig); r != ok) return r;
    if (memory == nullptr) return invalid_argument;
    g_last_memory_v2_version = memory->version;
    // The real driver checks the struct version: 2 (the header comment's "must be 2") → error 13
    // (NVIDIA/nvidia-settings#78).
    if (memory->version != memory_v2_version) return function_not_found;
    if (g_scenario.memory_v2_result != ok) return g_scenario.memory_v2_result;  // e.g. 25 on an old driver
    if (mig != nullptr) {
        *memory = memory_v2{memory->version, mig->total, 0, mig->free, mig->used};
        return ok;
    }
    if (!gpu->memory_supported) return not_supported;
    *memory = memory_v2{memory->version, gpu->total, gpu->reserved, gpu->free, gpu->used};
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* version) {
    if (g_refcount == 0) return uninitialized;
    if (g_scenario.cuda_v2 != ok) return g_scenario.cuda_v2;  // 12: libcuda.so.1 missing
    *version = g_scenario.cuda_version;
    return ok;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t, void*) { return not_supported; }
#if defined(FAKE_NVML_R535_43)
// 535.43.02-535.86: _v3 filled 32-byte elements; no _v2 here, so the probe must use the guard.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t handle, unsigned int* n,
                                                                 process_detail* out) {
    count("processes_v3");
    return do_processes(handle, n, out, [](process_detail& e, const fake_process& p) {
        e = process_detail{p.pid, p.used, ~0U, ~0U, 0};
    });
}
#else
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t handle, unsigned int* n,
                                                                 process_v2* out) {
    count("processes_v2");
    return do_processes(handle, n, out, [](process_v2& e, const fake_process& p) {
        e = process_v2{p.pid, p.used, ~0U, ~0U};
    });
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t handle, unsigned int* n,
                                                                 process_v2* out) {
    count("processes_v3");
    return do_processes(handle, n, out, [](process_v2& e, const fake_process& p) {
        e = process_v2{p.pid, p.used, ~0U, ~0U};
    });
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t handle, process_detail_list* list) {
    count("process_detail_list");
    if (list == nullptr || list->version != detail_list_version) return 25;  // ARGUMENT_VERSION_MISMATCH
    return do_processes(handle, &list->count, list->array, [](process_detail& e, const fake_process& p) {
        e = process_detail{p.pid, p.used, ~0U, ~0U, 0};
    });
}
#endif
#endif

#if !defined(FAKE_NVML_BROKEN)
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* out) {
    return do_handle(index, out);
}
#endif
