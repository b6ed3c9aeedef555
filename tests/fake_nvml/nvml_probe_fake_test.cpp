// The NVML probe against the fake libnvidia-ml.so.1, loaded through the real dlopen path.
#include <filesystem>
#include <fstream>

#include "fake_nvml/fake_nvml_support.hpp"
#include "whisper_vram/gpu/cuda_debug.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {
namespace {

using test::fake_nvml_path;
using test::gib;
using test::mib;

struct detail_memory_v2 {  // nvmlMemory_v2_t
    unsigned int version;
    unsigned long long total, reserved, free, used;
};

std::string self_comm() { return read_process_name(static_cast<std::uint32_t>(::getpid())); }

class NvmlFake : public test::fake_nvml_fixture {};

// Two GPUs: an RTX 3090 with two processes, an A100 80GB in MIG mode with two instances.
const char* const two_gpus =
    "set driver_version=550.127.08;nvml_version=12.550.127.08;cuda_version=12040\n"
    "gpu name=NVIDIA GeForce RTX 3090;uuid=GPU-8a3f0000-1111-2222-3333-444455556666;bus=00000000:01:00.0;"
    "total=25769803776;used=2147483648;reserved=314572800;util=37,12;cc=8.6\n"
    "process gpu=0;pid=self;used=1073741824\n"
    "process gpu=0;pid=4242;used=na\n"
    "gpu name=NVIDIA A100-SXM4-80GB;uuid=GPU-8b000000-1111-2222-3333-444455556666;bus=00000000:41:00.0;"
    "total=85899345920;used=0;reserved=0;cc=8.0;mig=on\n"
    "mig "
    "gpu=1;slot=0;uuid=MIG-aaaa0000-0000-0000-0000-000000000000;total=21474836480;used=1073741824;free=20401094656\n"
    "mig gpu=1;slot=3;uuid=MIG-bbbb0000-0000-0000-0000-000000000000;total=10737418240;used=0;free=10737418240\n";

TEST_F(NvmlFake, ReadsEveryFieldOfEveryGpu) {
    write_scenario(two_gpus);
    auto probe = make_nvml_probe(fake_nvml_path());
    ASSERT_EQ(probe->source(), probe_source::nvml);
    const auto s = probe->snapshot();
    ASSERT_EQ(s.source, probe_source::nvml) << s.unavailable_reason;
    ASSERT_EQ(s.gpus.size(), 2U);
    const auto& g = s.gpus[0];
    EXPECT_EQ(g.index, 0U);
    EXPECT_EQ(g.name, "NVIDIA GeForce RTX 3090");
    EXPECT_EQ(g.uuid, "GPU-8a3f0000-1111-2222-3333-444455556666");
    EXPECT_EQ(g.pci_bus_id, "00000000:01:00.0");
    EXPECT_EQ(g.state, gpu_state::ok);
    EXPECT_EQ(g.total_bytes, 24 * gib);
    EXPECT_EQ(g.used_bytes, 2 * gib);  // v2 "used" excludes the reserve
    ASSERT_TRUE(g.reserved_bytes.has_value());
    EXPECT_EQ(*g.reserved_bytes, 300 * mib);
    EXPECT_EQ(g.free_bytes, 24 * gib - 2 * gib - 300 * mib);  // 25769803776 - 2147483648 - 314572800
    EXPECT_EQ(g.utilization_gpu_percent, 37U);
    EXPECT_EQ(g.utilization_memory_percent, 12U);
    ASSERT_TRUE(g.capability.has_value());
    EXPECT_EQ(g.capability->major, 8);
    EXPECT_EQ(g.capability->minor, 6);
    EXPECT_FALSE(g.mig_enabled.has_value());  // NOT_SUPPORTED: not a MIG GPU
    EXPECT_EQ(g.catalog_name, "RTX 3090");
    ASSERT_TRUE(g.processes_known);
    ASSERT_EQ(g.processes.size(), 2U);
    EXPECT_EQ(g.processes[0].pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(g.processes[0].used_bytes, gib);
    EXPECT_FALSE(self_comm().empty());
    EXPECT_EQ(g.processes[0].name, self_comm());
    EXPECT_EQ(g.processes[1].pid, 4242U);
    EXPECT_FALSE(g.processes[1].used_bytes.has_value());  // NVML_VALUE_NOT_AVAILABLE

    const auto& a = s.gpus[1];
    EXPECT_EQ(a.name, "NVIDIA A100-SXM4-80GB");
    EXPECT_EQ(a.catalog_name, "A100 80GB");
    EXPECT_EQ(a.mig_enabled, true);
    EXPECT_FALSE(a.utilization_gpu_percent.has_value());  // not queried on MIG
    ASSERT_EQ(a.mig_devices.size(), 2U);
    EXPECT_EQ(a.mig_devices[0].index, 0U);
    EXPECT_EQ(a.mig_devices[0].uuid, "MIG-aaaa0000-0000-0000-0000-000000000000");
    EXPECT_EQ(a.mig_devices[0].total_bytes, 20 * gib);
    EXPECT_EQ(a.mig_devices[0].free_bytes, 19 * gib);
    EXPECT_EQ(a.mig_devices[1].index, 3U);  // slots 1, 2 are empty (NOT_FOUND)
    EXPECT_EQ(a.mig_devices[1].total_bytes, 10 * gib);

    // The v2 call carried NVML_STRUCT_VERSION(Memory, 2), and v1 was never needed.
    EXPECT_EQ(last_memory_v2_version(), 0x02000028U);
    EXPECT_EQ(calls("memory_v1"), 0U);
    EXPECT_GE(calls("processes_v2"), 1U);
    EXPECT_EQ(calls("processes_v3"), 0U);  // _v3 is never preferred over _v2
}

TEST_F(NvmlFake, FakeRejectsMemoryV2VersionTwoLikeTheDriver) {
    // The fake must model the trap it tests: version = 2 (the header comment's wording) → 13.
    write_scenario(two_gpus);
    const auto sym = [&](const char* name) { return ::dlsym(handle_, name); };
    using init_fn = int (*)();
    using handle_fn = int (*)(unsigned, void**);
    using memory_fn = int (*)(void*, detail_memory_v2*);
    ASSERT_EQ(reinterpret_cast<init_fn>(sym("nvmlInit_v2"))(), 0);
    void* device = nullptr;
    ASSERT_EQ(reinterpret_cast<handle_fn>(sym("nvmlDeviceGetHandleByIndex_v2"))(0, &device), 0);
    detail_memory_v2 m{};
    m.version = 2;
    EXPECT_EQ(reinterpret_cast<memory_fn>(sym("nvmlDeviceGetMemoryInfo_v2"))(device, &m), 13);  // FUNCTION_NOT_FOUND
    m.version = 0x02000028U;
    EXPECT_EQ(reinterpret_cast<memory_fn>(sym("nvmlDeviceGetMemoryInfo_v2"))(device, &m), 0);
    EXPECT_EQ(m.total, 24 * gib);
    EXPECT_EQ(reinterpret_cast<init_fn>(sym("nvmlShutdown"))(), 0);
}

TEST_F(NvmlFake, ShutdownBalancesInit) {
    write_scenario(two_gpus);
    {
        auto probe = make_nvml_probe(fake_nvml_path());
        ASSERT_EQ(probe->source(), probe_source::nvml);
        EXPECT_EQ(refcount(), 1);
        (void)probe->snapshot();
    }
    EXPECT_EQ(refcount(), 0);
    EXPECT_EQ(calls("shutdown"), 1U);
}

struct init_case {
    int code;
    const char* name;
};

class NvmlFakeInit : public test::fake_nvml_fixture, public ::testing::WithParamInterface<init_case> {};

TEST_P(NvmlFakeInit, InitFailureIsSourceNoneWithTheCode) {
    const auto c = GetParam();
    write_scenario("set init=" + std::to_string(c.code) + "\ngpu name=NVIDIA GeForce RTX 3090;total=25769803776\n");
    auto result = nvml_probe::open(std::shared_ptr<dynamic_library>([] {
        std::string e;
        return open_dynamic_library(fake_nvml_path(), e);
    }()));
    EXPECT_EQ(result.status, nvml_status::init_failed);
    EXPECT_EQ(result.probe, nullptr);
    ASSERT_TRUE(result.init_return.has_value());
    EXPECT_EQ(*result.init_return, c.code);
    EXPECT_EQ(result.init_symbol, "nvmlInitWithFlags");
    EXPECT_NE(result.reason.find(c.name), std::string::npos) << result.reason;
    EXPECT_EQ(result.reason.find('\n'), std::string::npos);

    auto probe = make_nvml_probe(fake_nvml_path());
    EXPECT_EQ(probe->source(), probe_source::none);
    const auto s = probe->snapshot();
    EXPECT_FALSE(s.available());
    EXPECT_NE(s.unavailable_reason.find(c.name), std::string::npos) << s.unavailable_reason;
    EXPECT_EQ(calls("shutdown"), 0U);  // a failed init is not shut down
}

INSTANTIATE_TEST_SUITE_P(Codes, NvmlFakeInit,
                         ::testing::Values(init_case{9, "NVML_ERROR_DRIVER_NOT_LOADED"},
                                           init_case{18, "NVML_ERROR_LIB_RM_VERSION_MISMATCH"},
                                           init_case{4, "NVML_ERROR_NO_PERMISSION"}));

TEST(NvmlMissingLibrary, IsSourceNoneWithTheDlerrorText) {
    const std::string path = std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/no-such-dir/libnvidia-ml.so.1";
    auto probe = make_nvml_probe(path);
    EXPECT_EQ(probe->source(), probe_source::none);
    const auto s = probe->snapshot();
    EXPECT_FALSE(s.available());
    EXPECT_NE(s.unavailable_reason.find(path), std::string::npos) << s.unavailable_reason;
    EXPECT_NE(s.unavailable_reason.find("No such file or directory"), std::string::npos) << s.unavailable_reason;
    // Only the override is tried: a wrong override is reported, not replaced by the system library.
    const auto loaded = load_nvml_library(path);
    ASSERT_EQ(loaded.attempts.size(), 1U);
    EXPECT_FALSE(loaded.attempts[0].loaded);
    EXPECT_EQ(loaded.library, nullptr);
}

TEST_F(NvmlFake, LostGpuIsMarkedAndTheOthersStillRead) {
    write_scenario(
        "gpu name=NVIDIA GeForce RTX 4090;total=25769803776;used=1073741824\n"
        "gpu name=NVIDIA GeForce RTX 4090;total=25769803776;lost=1\n");
    auto probe = make_nvml_probe(fake_nvml_path());
    const auto s = probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 2U);
    EXPECT_EQ(s.gpus[0].state, gpu_state::ok);
    EXPECT_EQ(s.gpus[0].used_bytes, gib);
    EXPECT_EQ(s.gpus[1].state, gpu_state::lost);
    EXPECT_NE(s.gpus[1].state_detail.find("NVML_ERROR_GPU_IS_LOST"), std::string::npos) << s.gpus[1].state_detail;
    EXPECT_EQ(s.gpus[1].total_bytes, 0U);
}

TEST_F(NvmlFake, NoPermissionForOneHandleIsAPerGpuError) {
    write_scenario("gpu name=NVIDIA L4;total=24152899584;handle=4\ngpu name=NVIDIA L4;total=24152899584\n");
    auto probe = make_nvml_probe(fake_nvml_path());
    const auto s = probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 2U);
    EXPECT_EQ(s.gpus[0].state, gpu_state::error);
    EXPECT_NE(s.gpus[0].state_detail.find("nvmlDeviceGetHandleByIndex_v2: NVML_ERROR_NO_PERMISSION"), std::string::npos)
        << s.gpus[0].state_detail;
    EXPECT_EQ(s.gpus[1].state, gpu_state::ok);
}

TEST_F(NvmlFake, UnifiedMemoryIsItsOwnStateWithoutGuessing) {
    write_scenario("gpu name=NVIDIA GB10;total=0;memory=not_supported;cc=12.1\n");
    auto probe = make_nvml_probe(fake_nvml_path());
    const auto s = probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 1U);
    EXPECT_EQ(s.gpus[0].state, gpu_state::unified_memory);
    EXPECT_EQ(s.gpus[0].total_bytes, 0U);
    EXPECT_EQ(s.gpus[0].free_bytes, 0U);
    EXPECT_NE(s.gpus[0].state_detail.find("NVML_ERROR_NOT_SUPPORTED"), std::string::npos);
    EXPECT_EQ(calls("memory_v2"), 1U);
    EXPECT_EQ(calls("memory_v1"), 0U);           // NOT_SUPPORTED is an answer, not a reason to ask v1
    EXPECT_EQ(s.gpus[0].capability->major, 12);  // other readings still there
}

TEST_F(NvmlFake, MemoryV2RejectedFallsBackToV1) {
    // A driver that rejects the v2 struct (ARGUMENT_VERSION_MISMATCH): v1 answers; its "used"
    // includes the reserve, and the reserve itself is unknown.
    write_scenario(
        "set memory_v2_result=25\ngpu name=NVIDIA GeForce RTX "
        "3090;total=25769803776;used=2147483648;reserved=314572800\n");
    auto probe = make_nvml_probe(fake_nvml_path());
    const auto s = probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 1U);
    EXPECT_EQ(s.gpus[0].state, gpu_state::ok);
    EXPECT_EQ(s.gpus[0].used_bytes, 2 * gib + 300 * mib);
    EXPECT_EQ(s.gpus[0].free_bytes, 24 * gib - 2 * gib - 300 * mib);
    EXPECT_FALSE(s.gpus[0].reserved_bytes.has_value());
    EXPECT_EQ(calls("memory_v2"), 1U);
    EXPECT_EQ(calls("memory_v1"), 1U);
}

TEST_F(NvmlFake, ProcessListGrowingBetweenCallsIsRetried) {
    write_scenario(
        "set processes_insufficient_first=1\n"
        "gpu name=NVIDIA GeForce RTX 3090;total=25769803776\n"
        "process gpu=0;pid=101;used=1073741824\n"
        "process gpu=0;pid=102;used=2147483648\n");
    auto probe = make_nvml_probe(fake_nvml_path());
    const auto s = probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 1U);
    ASSERT_TRUE(s.gpus[0].processes_known);
    ASSERT_EQ(s.gpus[0].processes.size(), 2U);
    EXPECT_EQ(s.gpus[0].processes[0].pid, 101U);
    EXPECT_EQ(s.gpus[0].processes[1].used_bytes, 2 * gib);
    // size query (INSUFFICIENT_SIZE, 2), first fill (INSUFFICIENT_SIZE, grown), second fill.
    EXPECT_EQ(calls("processes_v2"), 3U);
}

TEST_F(NvmlFake, LegacyLibraryUsesTheUnversionedFallbacks) {
    write_scenario(
        "gpu name=Tesla T4;total=16106127360;used=1073741824;reserved=268435456;cc=7.5\n"
        "process gpu=0;pid=7;used=536870912\n"
        "process gpu=0;pid=8;used=268435456\n"
        "process gpu=0;pid=9;used=na\n",
        "legacy");
    auto opened = nvml_probe::open(std::shared_ptr<dynamic_library>([] {
        std::string e;
        return open_dynamic_library(fake_nvml_path("legacy"), e);
    }()));
    ASSERT_EQ(opened.status, nvml_status::ok) << opened.reason;
    EXPECT_EQ(opened.init_symbol, "nvmlInit");
    const auto symbols = opened.probe->resolved_symbols();
    const auto has = [&](const std::string& s) {
        return std::find(symbols.begin(), symbols.end(), s) != symbols.end();
    };
    EXPECT_TRUE(has("count=nvmlDeviceGetCount"));
    EXPECT_TRUE(has("handle_by_index=nvmlDeviceGetHandleByIndex"));
    EXPECT_TRUE(has("memory_v2=absent"));
    EXPECT_TRUE(has("processes_v1=nvmlDeviceGetComputeRunningProcesses"));
    EXPECT_TRUE(has("error_string=absent"));
    const auto s = opened.probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 1U);
    EXPECT_EQ(s.gpus[0].catalog_name, "T4");
    EXPECT_EQ(s.gpus[0].used_bytes, gib + 256 * mib);  // v1: allocated + reserved
    EXPECT_FALSE(s.gpus[0].reserved_bytes.has_value());
    // 16-byte elements decoded as such: pids and sizes intact.
    ASSERT_EQ(s.gpus[0].processes.size(), 3U);
    EXPECT_EQ(s.gpus[0].processes[0].pid, 7U);
    EXPECT_EQ(s.gpus[0].processes[0].used_bytes, 512 * mib);
    EXPECT_EQ(s.gpus[0].processes[1].pid, 8U);
    EXPECT_EQ(s.gpus[0].processes[1].used_bytes, 256 * mib);
    EXPECT_EQ(s.gpus[0].processes[2].pid, 9U);
    EXPECT_FALSE(s.gpus[0].processes[2].used_bytes.has_value());
    const auto info = opened.probe->system_info();
    EXPECT_EQ(info.cuda_driver_version, 12040);
    EXPECT_EQ(info.cuda_driver_version_symbol, "nvmlSystemGetCudaDriverVersion");
}

TEST_F(NvmlFake, MissingRequiredSymbolIsNamed) {
    write_scenario("gpu name=Tesla T4;total=16106127360\n", "broken");
    auto opened = nvml_probe::open(std::shared_ptr<dynamic_library>([] {
        std::string e;
        return open_dynamic_library(fake_nvml_path("broken"), e);
    }()));
    EXPECT_EQ(opened.status, nvml_status::missing_symbol);
    EXPECT_EQ(opened.missing_symbol, "nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)");
    EXPECT_NE(opened.reason.find("nvmlDeviceGetHandleByIndex_v2"), std::string::npos) << opened.reason;
    EXPECT_EQ(calls("init"), 0U);  // nothing is initialised when a required function is missing
    auto probe = make_nvml_probe(fake_nvml_path("broken"));
    EXPECT_EQ(probe->source(), probe_source::none);
    EXPECT_NE(probe->snapshot().unavailable_reason.find("nvmlDeviceGetHandleByIndex"), std::string::npos);
}

TEST_F(NvmlFake, R535_43StrideIsDecodedAs32Bytes) {
    // 535.43.02-535.86 filled _v3 with 32-byte elements; read as 24 the second pid would be the
    // first element's CC-protected memory (0). Three processes make every stride error visible.
    write_scenario(
        "gpu name=NVIDIA H100 80GB HBM3;total=85520809984\n"
        "process gpu=0;pid=1001;used=1073741824\n"
        "process gpu=0;pid=1002;used=2147483648\n"
        "process gpu=0;pid=1003;used=3221225472\n",
        "r535_43");
    auto probe = make_nvml_probe(fake_nvml_path("r535_43"));
    const auto s = probe->snapshot();
    ASSERT_EQ(s.gpus.size(), 1U);
    ASSERT_EQ(s.gpus[0].processes.size(), 3U);
    for (unsigned i = 0; i < 3; ++i) {
        EXPECT_EQ(s.gpus[0].processes[i].pid, 1001U + i);
        EXPECT_EQ(s.gpus[0].processes[i].used_bytes, (i + 1) * gib);
    }
    EXPECT_GE(calls("processes_v3"), 2U);
}

TEST_F(NvmlFake, CudaDriverVersionFallsBackToV1WhenLibcudaIsMissing) {
    write_scenario("set cuda_v2=12;cuda_version=12020\ngpu name=NVIDIA L4;total=24152899584\n");
    auto opened = nvml_probe::open(std::shared_ptr<dynamic_library>([] {
        std::string e;
        return open_dynamic_library(fake_nvml_path(), e);
    }()));
    ASSERT_EQ(opened.status, nvml_status::ok);
    const auto info = opened.probe->system_info();
    EXPECT_EQ(info.driver_version, "550.127.08");
    EXPECT_EQ(info.nvml_version, "12.550.127.08");
    EXPECT_EQ(info.cuda_driver_version, 12020);
    EXPECT_EQ(info.cuda_driver_version_symbol, "nvmlSystemGetCudaDriverVersion");
    EXPECT_NE(info.cuda_driver_version_error.find("nvmlSystemGetCudaDriverVersion_v2: NVML_ERROR_LIBRARY_NOT_FOUND"),
              std::string::npos)
        << info.cuda_driver_version_error;
}

TEST_F(NvmlFake, CountFailureIsSourceNone) {
    write_scenario("set count=15\ngpu name=NVIDIA L4;total=24152899584\n");
    auto probe = make_nvml_probe(fake_nvml_path());
    const auto s = probe->snapshot();
    EXPECT_FALSE(s.available());
    EXPECT_NE(s.unavailable_reason.find("nvmlDeviceGetCount_v2: NVML_ERROR_GPU_IS_LOST"), std::string::npos);
}

// ---- debug report --------------------------------------------------------------------------------

TEST_F(NvmlFake, DebugReportWithTheFullLibrary) {
    write_scenario(two_gpus);
    debug_environment env;
    env.nvml_library = fake_nvml_path();
    env.cuda_visible_devices = "1";
    const auto info = collect_cuda_debug_info(env);
    EXPECT_EQ(info.source, probe_source::nvml);
    EXPECT_EQ(info.nvml, nvml_status::ok);
    ASSERT_EQ(info.library_attempts.size(), 1U);
    EXPECT_TRUE(info.library_attempts[0].loaded);
    EXPECT_EQ(info.loaded_library, fake_nvml_path());
    EXPECT_FALSE(info.stub_library);
    const auto j = to_json(info);
    EXPECT_EQ(j["source"], "nvml");
    EXPECT_EQ(j["nvml"]["status"], "ok");
    EXPECT_EQ(j["nvml"]["init_symbol"], "nvmlInitWithFlags");
    EXPECT_EQ(j["nvml"]["init_return_name"], "NVML_SUCCESS");
    EXPECT_EQ(j["driver_version"], "550.127.08");
    EXPECT_EQ(j["nvml_version"], "12.550.127.08");
    EXPECT_EQ(j["cuda_driver_version"], "12.4");  // 12040: 12040/1000 = 12, (12040%1000)/10 = 4
    EXPECT_EQ(j["cuda_driver_version_source"], "nvmlSystemGetCudaDriverVersion_v2");
    EXPECT_EQ(j["environment"]["CUDA_VISIBLE_DEVICES"], "1");
    EXPECT_TRUE(j["environment"]["CUDA_DEVICE_ORDER"].is_null());
    EXPECT_EQ(j["gpu_count"], 2);
    EXPECT_EQ(j["visible_gpu_count"], 1);
    EXPECT_TRUE(j["gpus"][0]["cuda_index"].is_null());  // hidden by CUDA_VISIBLE_DEVICES=1
    EXPECT_EQ(j["gpus"][1]["cuda_index"], 0);
    EXPECT_EQ(j["gpus"][1]["index"], 1);
    EXPECT_EQ(j["gpus"][1]["mig_devices"].size(), 2U);
    // Different models and no CUDA_DEVICE_ORDER=PCI_BUS_ID: the report warns about the numbering.
    const std::string notes = j["notes"].dump();
    EXPECT_NE(notes.find("CUDA_DEVICE_ORDER"), std::string::npos) << notes;
}

TEST_F(NvmlFake, DebugReportExplainsInitFailures) {
    write_scenario("set init=18\n");
    debug_environment env;
    env.nvml_library = fake_nvml_path();
    const auto j = to_json(collect_cuda_debug_info(env));
    EXPECT_EQ(j["source"], "none");
    EXPECT_EQ(j["nvml"]["status"], "init_failed");
    EXPECT_EQ(j["nvml"]["init_return"], 18);
    EXPECT_EQ(j["nvml"]["init_return_name"], "NVML_ERROR_LIB_RM_VERSION_MISMATCH");
    EXPECT_NE(j["notes"].dump().find("reboot"), std::string::npos);
    EXPECT_TRUE(j["driver_version"].is_null());
}

TEST_F(NvmlFake, DebugReportFlagsAToolkitStub) {
    write_scenario("gpu name=NVIDIA L4;total=24152899584\n");
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::path(WHISPER_VRAM_TEST_BINARY_DIR) / ("cuda-" + std::to_string(::getpid())) / "lib64" / "stubs";
    fs::create_directories(dir);
    fs::copy_file(fake_nvml_path(), dir / "libnvidia-ml.so", fs::copy_options::overwrite_existing);
    debug_environment env;
    env.nvml_library = (dir / "libnvidia-ml.so").string();
    const auto info = collect_cuda_debug_info(env);
    EXPECT_TRUE(info.stub_library);
    const auto j = to_json(info);
    EXPECT_EQ(j["nvml"]["stub_library"], true);
    EXPECT_NE(j["notes"].dump().find("stub"), std::string::npos);
    // A stub whose init fails: the one-line reason of `gpus` says so too.
    write_scenario("set init=9\n");
    const auto s = make_nvml_probe((dir / "libnvidia-ml.so").string())->snapshot();
    EXPECT_NE(s.unavailable_reason.find("NVML_ERROR_DRIVER_NOT_LOADED"), std::string::npos) << s.unavailable_reason;
    EXPECT_NE(s.unavailable_reason.find("CUDA toolkit's stub library"), std::string::npos) << s.unavailable_reason;
    fs::remove_all(dir.parent_path().parent_path());
}

TEST_F(NvmlFake, InitAnsweringLikeAStubIsFlagged) {
    // A real driver's init fails with 9/18/4; LIBRARY_NOT_FOUND from init itself is a stub's answer.
    write_scenario("set init=12\n");
    debug_environment env;
    env.nvml_library = fake_nvml_path();
    const auto info = collect_cuda_debug_info(env);
    EXPECT_EQ(info.nvml, nvml_status::init_failed);
    EXPECT_TRUE(info.stub_library);
    write_scenario("set init=9\n");
    EXPECT_FALSE(collect_cuda_debug_info(env).stub_library);
}

TEST(NvmlDebugMissingLibrary, ReportsEveryAttempt) {
    debug_environment env;
    env.nvml_library = std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/nowhere/libnvidia-ml.so.1";
    const auto j = to_json(collect_cuda_debug_info(env));
    EXPECT_EQ(j["source"], "none");
    EXPECT_EQ(j["nvml"]["status"], "library_not_found");
    ASSERT_EQ(j["nvml"]["library_candidates"].size(), 1U);
    EXPECT_EQ(j["nvml"]["library_candidates"][0]["loaded"], false);
    EXPECT_NE(j["nvml"]["library_candidates"][0]["error"].get<std::string>().find("No such file"), std::string::npos);
    EXPECT_TRUE(j["nvml"]["loaded_library"].is_null());
    EXPECT_EQ(j["gpu_count"], 0);
}

}  // namespace
}  // namespace whisper_vram
