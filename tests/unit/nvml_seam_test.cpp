// The NVML probe through the dynamic_library seam: hand-written function tables, no library.
#include <gtest/gtest.h>

#include <map>

#include "gpu/nvml_abi.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {
namespace {

namespace nv = detail::nvml;
constexpr std::uint64_t gib = 1024ULL * 1024 * 1024;

// A library that exports exactly the functions a test puts in it.
class table_library final : public dynamic_library {
public:
    std::map<std::string, void*> symbols;
    [[nodiscard]] void* find_symbol(const char* name) const noexcept override {
        const auto it = symbols.find(name);
        return it == symbols.end() ? nullptr : it->second;
    }
    [[nodiscard]] std::string path() const override { return "table"; }
    template <typename F>
    void add(const char* name, F function) {
        symbols[name] = reinterpret_cast<void*>(function);
    }
};

// State the hand-written functions read and record.
struct fake_state {
    int init_result = 0;
    int inits = 0, shutdowns = 0;
    unsigned flags = 99;
    int memory_v2_result = 0;  // after the version check
    unsigned memory_v2_version_seen = 0;
    int memory_v1_calls = 0, memory_v1_result = 0;
    int name_result = 0, uuid_calls = 0;
    std::vector<nv::process_detail_v1_t> processes;  // what the process functions report
    int process_calls = 0;
    unsigned grow_on_fill = 0;  // processes appearing just before the first fill
};
fake_state state;
nv::device_t const the_device = reinterpret_cast<nv::device_t>(0x1000);

nv::return_t init() {
    ++state.inits;
    return state.init_result;
}
nv::return_t init_with_flags(unsigned flags) {
    state.flags = flags;
    return init();
}
nv::return_t shutdown() {
    ++state.shutdowns;
    return 0;
}
nv::return_t count(unsigned* n) {
    *n = 1;
    return 0;
}
nv::return_t handle(unsigned, nv::device_t* d) {
    *d = the_device;
    return 0;
}
nv::return_t name(nv::device_t, char* out, unsigned length) {
    if (state.name_result != 0) return state.name_result;
    std::snprintf(out, length, "NVIDIA GeForce RTX 4090");
    return 0;
}
nv::return_t uuid(nv::device_t, char* out, unsigned length) {
    ++state.uuid_calls;
    std::snprintf(out, length, "GPU-4090");
    return 0;
}
nv::return_t memory_v2(nv::device_t, nv::memory_v2_t* m) {
    state.memory_v2_version_seen = m->version;
    if (m->version != 0x02000028U) return 13;  // the real driver's answer to version = 2
    if (state.memory_v2_result != 0) return state.memory_v2_result;
    m->total = 24 * gib;
    m->reserved = gib / 4;
    m->used = gib;
    m->free = 24 * gib - gib - gib / 4;
    return 0;
}
nv::return_t memory_v1(nv::device_t, nv::memory_v1_t* m) {
    ++state.memory_v1_calls;
    if (state.memory_v1_result != 0) return state.memory_v1_result;
    m->total = 24 * gib;
    m->used = gib + gib / 4;
    m->free = 24 * gib - gib - gib / 4;
    return 0;
}
// A process function writing elements of type E (stride sizeof(E)).
template <typename E>
nv::return_t processes(nv::device_t, unsigned* n, void* out) {
    ++state.process_calls;
    if (out != nullptr && state.grow_on_fill > 0) {
        // New processes started between the size query and the first fill.
        for (unsigned i = 0; i < state.grow_on_fill; ++i) {
            state.processes.push_back({static_cast<unsigned>(9000 + state.processes.size()), gib, 0, 0, 0});
        }
        state.grow_on_fill = 0;
    }
    const auto needed = static_cast<unsigned>(state.processes.size());
    if (out == nullptr || *n < needed) {
        *n = needed;
        return needed == 0 ? 0 : 7;
    }
    auto* elements = static_cast<E*>(out);
    for (unsigned i = 0; i < needed; ++i) {
        elements[i] = E{};
        elements[i].pid = state.processes[i].pid;
        elements[i].used_gpu_memory = state.processes[i].used_gpu_memory;
    }
    *n = needed;
    return 0;
}
nv::return_t detail_list(nv::device_t d, nv::process_detail_list_v1_t* list) {
    if (list->version != 0x01000018U || list->mode != 0) return 25;
    return processes<nv::process_detail_v1_t>(d, &list->num_proc_array_entries, list->proc_array);
}
nv::return_t conf_compute(nv::device_t, void*) { return 3; }

// The required set plus name/uuid; tests add or remove functions.
table_library base_library() {
    table_library lib;
    lib.add("nvmlInit_v2", init);
    lib.add("nvmlShutdown", shutdown);
    lib.add("nvmlDeviceGetCount_v2", count);
    lib.add("nvmlDeviceGetHandleByIndex_v2", handle);
    lib.add("nvmlDeviceGetMemoryInfo_v2", memory_v2);
    lib.add("nvmlDeviceGetMemoryInfo", memory_v1);
    lib.add("nvmlDeviceGetName", name);
    lib.add("nvmlDeviceGetUUID", uuid);
    return lib;
}

gpu_snapshot snapshot_of(table_library lib) {
    auto opened = nvml_probe::open(std::make_shared<table_library>(std::move(lib)),
                                   [](std::uint32_t pid) { return "proc" + std::to_string(pid); });
    EXPECT_EQ(opened.status, nvml_status::ok) << opened.reason;
    return opened.probe ? opened.probe->snapshot() : gpu_snapshot{};
}

class NvmlSeam : public ::testing::Test {
protected:
    void SetUp() override { state = fake_state{}; }
};

TEST_F(NvmlSeam, MemoryV2CarriesTheStructVersionNotTwo) {
    const auto s = snapshot_of(base_library());
    ASSERT_EQ(s.gpus.size(), 1U);
    EXPECT_EQ(state.memory_v2_version_seen, 0x02000028U);  // 40 | 2 << 24
    EXPECT_EQ(state.memory_v1_calls, 0);
    EXPECT_EQ(s.gpus[0].used_bytes, gib);
    EXPECT_EQ(s.gpus[0].reserved_bytes, gib / 4);
    EXPECT_EQ(s.gpus[0].free_bytes, 24 * gib - gib - gib / 4);
    EXPECT_EQ(s.gpus[0].catalog_name, "RTX 4090");
}

TEST_F(NvmlSeam, MemoryFallsBackToV1OnFunctionNotFoundAndVersionMismatch) {
    for (const int code : {13, 25}) {
        state = fake_state{};
        state.memory_v2_result = code;
        const auto s = snapshot_of(base_library());
        EXPECT_EQ(state.memory_v1_calls, 1) << code;
        EXPECT_EQ(s.gpus[0].state, gpu_state::ok);
        EXPECT_EQ(s.gpus[0].used_bytes, gib + gib / 4) << code;
        EXPECT_FALSE(s.gpus[0].reserved_bytes.has_value());
    }
}

TEST_F(NvmlSeam, NotSupportedMemoryIsUnifiedWithoutAskingV1) {
    state.memory_v2_result = 3;
    const auto s = snapshot_of(base_library());
    EXPECT_EQ(s.gpus[0].state, gpu_state::unified_memory);
    EXPECT_EQ(state.memory_v1_calls, 0);
    EXPECT_EQ(s.gpus[0].total_bytes, 0U);
    // Without v2, a v1 NOT_SUPPORTED means the same.
    state = fake_state{};
    state.memory_v1_result = 3;
    auto lib = base_library();
    lib.symbols.erase("nvmlDeviceGetMemoryInfo_v2");
    EXPECT_EQ(snapshot_of(std::move(lib)).gpus[0].state, gpu_state::unified_memory);
}

TEST_F(NvmlSeam, OtherMemoryErrorsAreAGpuError) {
    state.memory_v2_result = 17;  // OPERATING_SYSTEM
    const auto s = snapshot_of(base_library());
    EXPECT_EQ(s.gpus[0].state, gpu_state::error);
    EXPECT_EQ(s.gpus[0].state_detail,
              "nvmlDeviceGetMemoryInfo_v2: NVML_ERROR_OPERATING_SYSTEM (blocked by the operating system)");
}

TEST_F(NvmlSeam, LostGpuStopsQueryingIt) {
    state.name_result = 15;
    const auto s = snapshot_of(base_library());
    EXPECT_EQ(s.gpus[0].state, gpu_state::lost);
    EXPECT_EQ(s.gpus[0].state_detail, "nvmlDeviceGetName: NVML_ERROR_GPU_IS_LOST (the GPU has fallen off the bus)");
    EXPECT_EQ(state.uuid_calls, 0);
    EXPECT_EQ(state.memory_v2_version_seen, 0U);  // memory never asked
}

TEST_F(NvmlSeam, ProcessListGrowsUntilItFits) {
    state.processes = {{10, gib, 0, 0, 0}, {11, nv::value_not_available, 0, 0, 0}};
    state.grow_on_fill = 20;  // far more than count*2+5 = 9 headroom on the first fill
    auto lib = base_library();
    lib.add("nvmlDeviceGetComputeRunningProcesses_v2", processes<nv::process_info_v2_t>);
    const auto s = snapshot_of(std::move(lib));
    ASSERT_TRUE(s.gpus[0].processes_known);
    // query → 2; fill with 2*2+5 = 9 slots, but 22 now run → INSUFFICIENT_SIZE, 22; fill with 49 → ok.
    EXPECT_EQ(state.process_calls, 3);
    ASSERT_EQ(s.gpus[0].processes.size(), 22U);
    EXPECT_EQ(s.gpus[0].processes[21].pid, 9021U);
    EXPECT_EQ(s.gpus[0].processes[0].pid, 10U);
    EXPECT_EQ(s.gpus[0].processes[0].used_bytes, gib);
    EXPECT_EQ(s.gpus[0].processes[0].name, "proc10");
    EXPECT_FALSE(s.gpus[0].processes[1].used_bytes.has_value());  // NVML_VALUE_NOT_AVAILABLE
}

TEST_F(NvmlSeam, EmptyProcessListIsKnownAndEmpty) {
    auto lib = base_library();
    lib.add("nvmlDeviceGetComputeRunningProcesses_v2", processes<nv::process_info_v2_t>);
    const auto s = snapshot_of(std::move(lib));
    EXPECT_TRUE(s.gpus[0].processes_known);
    EXPECT_TRUE(s.gpus[0].processes.empty());
    EXPECT_EQ(state.process_calls, 1);  // the size query answered SUCCESS
}

TEST_F(NvmlSeam, V3StrideFollowsTheNvitopGuard) {
    state.processes = {{21, gib, 0, 0, 0}, {22, 2 * gib, 0, 0, 0}, {23, 3 * gib, 0, 0, 0}};
    // 535.43-535.86: _v3 + ConfCompute, no detail list → 32-byte elements.
    auto cc_era = base_library();
    cc_era.add("nvmlDeviceGetComputeRunningProcesses_v3", processes<nv::process_detail_v1_t>);
    cc_era.add("nvmlDeviceGetConfComputeMemSizeInfo", conf_compute);
    auto s = snapshot_of(std::move(cc_era));
    ASSERT_EQ(s.gpus[0].processes.size(), 3U);
    for (unsigned i = 0; i < 3; ++i) {
        EXPECT_EQ(s.gpus[0].processes[i].pid, 21U + i);
        EXPECT_EQ(s.gpus[0].processes[i].used_bytes, (i + 1) * gib);
    }
    // Before 535.43 (no ConfCompute): 24-byte elements.
    auto older = base_library();
    older.add("nvmlDeviceGetComputeRunningProcesses_v3", processes<nv::process_info_v2_t>);
    s = snapshot_of(std::move(older));
    ASSERT_EQ(s.gpus[0].processes.size(), 3U);
    EXPECT_EQ(s.gpus[0].processes[2].pid, 23U);
    EXPECT_EQ(s.gpus[0].processes[2].used_bytes, 3 * gib);
}

TEST_F(NvmlSeam, DetailListIsPreferredOverV3) {
    state.processes = {{31, gib, 0, 0, 0}, {32, 2 * gib, 0, 0, 0}};
    auto lib = base_library();
    // A _v3 that would scramble the list if it were called with the wrong stride.
    lib.add("nvmlDeviceGetComputeRunningProcesses_v3", processes<nv::process_info_v1_t>);
    lib.add("nvmlDeviceGetRunningProcessDetailList", detail_list);
    auto opened = nvml_probe::open(std::make_shared<table_library>(std::move(lib)));
    ASSERT_EQ(opened.status, nvml_status::ok);
    const auto symbols = opened.probe->resolved_symbols();
    EXPECT_NE(std::find(symbols.begin(), symbols.end(), "process_detail_list=nvmlDeviceGetRunningProcessDetailList"),
              symbols.end());
    const auto s = opened.probe->snapshot();
    ASSERT_EQ(s.gpus[0].processes.size(), 2U);
    EXPECT_EQ(s.gpus[0].processes[1].pid, 32U);
    EXPECT_EQ(s.gpus[0].processes[1].used_bytes, 2 * gib);
}

TEST_F(NvmlSeam, MissingRequiredSymbolsAreNamed) {
    const std::pair<const char*, std::string> cases[] = {
        {"nvmlInit_v2", "nvmlInit_v2 (or nvmlInit)"},
        {"nvmlShutdown", "nvmlShutdown"},
        {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount_v2 (or nvmlDeviceGetCount)"},
        {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)"},
    };
    for (const auto& [symbol, named] : cases) {
        auto lib = base_library();
        lib.symbols.erase(symbol);
        const auto opened = nvml_probe::open(std::make_shared<table_library>(std::move(lib)));
        EXPECT_EQ(opened.status, nvml_status::missing_symbol) << symbol;
        EXPECT_EQ(opened.missing_symbol, named);
        EXPECT_NE(opened.reason.find(named), std::string::npos) << opened.reason;
    }
    auto lib = base_library();
    lib.symbols.erase("nvmlDeviceGetMemoryInfo_v2");
    lib.symbols.erase("nvmlDeviceGetMemoryInfo");
    EXPECT_EQ(nvml_probe::open(std::make_shared<table_library>(std::move(lib))).missing_symbol,
              "nvmlDeviceGetMemoryInfo_v2 (or nvmlDeviceGetMemoryInfo)");
    EXPECT_EQ(state.inits, 0);
}

TEST_F(NvmlSeam, V1FallbacksAreUsedWhenV2IsAbsent) {
    auto lib = base_library();
    for (const char* v2 : {"nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2"})
        lib.symbols.erase(v2);
    lib.add("nvmlInit", init);
    lib.add("nvmlDeviceGetCount", count);
    lib.add("nvmlDeviceGetHandleByIndex", handle);
    auto opened = nvml_probe::open(std::make_shared<table_library>(std::move(lib)));
    ASSERT_EQ(opened.status, nvml_status::ok);
    EXPECT_EQ(opened.init_symbol, "nvmlInit");
    EXPECT_EQ(opened.probe->snapshot().gpus.size(), 1U);
}

TEST_F(NvmlSeam, InitWithFlagsAllowsZeroGpusAndShutdownBalances) {
    auto lib = base_library();
    lib.add("nvmlInitWithFlags", init_with_flags);
    {
        auto opened = nvml_probe::open(std::make_shared<table_library>(std::move(lib)));
        ASSERT_EQ(opened.status, nvml_status::ok);
        EXPECT_EQ(opened.init_symbol, "nvmlInitWithFlags");
        EXPECT_EQ(state.flags, 1U);  // NVML_INIT_FLAG_NO_GPUS
    }
    EXPECT_EQ(state.inits, 1);
    EXPECT_EQ(state.shutdowns, 1);
}

TEST_F(NvmlSeam, InitFailureIsAValue) {
    state.init_result = 9;
    const auto opened = nvml_probe::open(std::make_shared<table_library>(base_library()));
    EXPECT_EQ(opened.status, nvml_status::init_failed);
    EXPECT_EQ(opened.init_return, 9);
    EXPECT_EQ(opened.reason,
              "nvmlInit_v2 in table failed: NVML_ERROR_DRIVER_NOT_LOADED (the NVIDIA kernel driver is not loaded)");
    EXPECT_EQ(state.shutdowns, 0);
}

TEST(NvmlCodes, OwnTableNamesEveryCode) {
    EXPECT_EQ(nvml_return_name(0), "NVML_SUCCESS");
    EXPECT_EQ(nvml_return_name(9), "NVML_ERROR_DRIVER_NOT_LOADED");
    EXPECT_EQ(nvml_return_name(15), "NVML_ERROR_GPU_IS_LOST");
    EXPECT_EQ(nvml_return_name(18), "NVML_ERROR_LIB_RM_VERSION_MISMATCH");
    EXPECT_EQ(nvml_return_name(25), "NVML_ERROR_ARGUMENT_VERSION_MISMATCH");
    EXPECT_EQ(nvml_return_name(30), "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED");
    EXPECT_EQ(nvml_return_name(999), "NVML_ERROR_UNKNOWN");
    EXPECT_EQ(nvml_return_name(77), "NVML_ERROR_77");
    EXPECT_EQ(nvml_return_text(77), "unknown NVML return code");
}

TEST(NvmlLoader, CandidatesAndOrder) {
    EXPECT_EQ(nvml_library_candidates(std::nullopt),
              (std::vector<std::string>{"libnvidia-ml.so.1", "libnvidia-ml.so"}));
    EXPECT_EQ(nvml_library_candidates(std::string("/opt/nvml.so")), (std::vector<std::string>{"/opt/nvml.so"}));
    std::vector<std::string> tried;
    const auto result = load_first_library({"a.so", "b.so", "c.so"}, [&](const std::string& path, std::string& error) {
        tried.push_back(path);
        if (path == "a.so") {
            error = "a.so: cannot open shared object file";
            return std::unique_ptr<dynamic_library>();
        }
        return std::unique_ptr<dynamic_library>(std::make_unique<table_library>());
    });
    EXPECT_EQ(tried, (std::vector<std::string>{"a.so", "b.so"}));  // stops at the first that opens
    ASSERT_EQ(result.attempts.size(), 2U);
    EXPECT_FALSE(result.attempts[0].loaded);
    EXPECT_EQ(result.attempts[0].error, "a.so: cannot open shared object file");
    EXPECT_TRUE(result.attempts[1].loaded);
    EXPECT_NE(result.library, nullptr);
}

TEST(NvmlLoader, RealDlopenFailureCarriesDlerror) {
    std::string error;
    EXPECT_EQ(open_dynamic_library("/nonexistent/libnvidia-ml.so.1", error), nullptr);
    EXPECT_EQ(error, "/nonexistent/libnvidia-ml.so.1: cannot open shared object file: No such file or directory");
}

}  // namespace
}  // namespace whisper_vram
