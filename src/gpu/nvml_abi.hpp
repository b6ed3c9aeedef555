#pragma once
// The few NVML types and constants the run-time loader needs, declared here so that no CUDA or
// NVML header is required to build (internal). Layouts and values from NVIDIA's public nvml.h
// (CUDA 13.3, API 13) as collected in shared/spec/nvml-abi.md; sizes are LP64 and asserted below.

#include <cstdint>
#include <string_view>

namespace whisper_vram::detail::nvml {

/// nvmlReturn_t is a C enum (int-sized); we keep it as int so unknown values pass through.
using return_t = int;

/// Opaque nvmlDevice_t (MIG device handles use the same type).
struct device_st;
using device_t = device_st*;

/// Our own copy of the nvmlReturn_t values we act on or name in messages.
enum class code : int {
    success = 0,
    uninitialized = 1,
    invalid_argument = 2,
    not_supported = 3,
    no_permission = 4,
    already_initialized = 5,
    not_found = 6,
    insufficient_size = 7,
    insufficient_power = 8,
    driver_not_loaded = 9,
    timeout = 10,
    irq_issue = 11,
    library_not_found = 12,
    function_not_found = 13,
    corrupted_inforom = 14,
    gpu_is_lost = 15,
    reset_required = 16,
    operating_system = 17,
    lib_rm_version_mismatch = 18,
    in_use = 19,
    memory = 20,
    no_data = 21,
    vgpu_ecc_not_supported = 22,
    insufficient_resources = 23,
    freq_not_supported = 24,
    argument_version_mismatch = 25,
    deprecated = 26,
    not_ready = 27,
    gpu_not_found = 28,
    invalid_state = 29,
    reset_type_not_supported = 30,
    unknown = 999,
};

constexpr bool is(return_t value, code c) noexcept { return value == static_cast<int>(c); }

/// "NVML_ERROR_GPU_IS_LOST"-style name of a return value; "NVML_ERROR_<n>" text for values we do
/// not know (the caller formats those).
std::string_view code_name(return_t value) noexcept;

/// A short English explanation of a return value (our own table, so messages work even when the
/// library does not export nvmlErrorString).
std::string_view code_text(return_t value) noexcept;

// ---- constants ----------------------------------------------------------------------------------
inline constexpr unsigned name_buffer_size = 96;            // NVML_DEVICE_NAME_V2_BUFFER_SIZE (450.51+)
inline constexpr unsigned uuid_buffer_size = 96;            // NVML_DEVICE_UUID_V2_BUFFER_SIZE (MIG UUIDs are longer)
inline constexpr unsigned pci_bus_id_buffer_size = 32;      // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE
inline constexpr unsigned system_version_buffer_size = 80;  // NVML_SYSTEM_{DRIVER,NVML}_VERSION_BUFFER_SIZE
inline constexpr unsigned init_flag_no_gpus = 1U << 0;      // NVML_INIT_FLAG_NO_GPUS: 0 GPUs is not an error
inline constexpr unsigned mig_enable = 1;                   // NVML_DEVICE_MIG_ENABLE
inline constexpr unsigned long long value_not_available = ~0ULL;  // NVML_VALUE_NOT_AVAILABLE (-1), e.g. WDDM

// ---- structs ------------------------------------------------------------------------------------
struct memory_v1_t {  // nvmlMemory_t
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;  // "Sum of Reserved and Allocated device memory"
};

struct memory_v2_t {       // nvmlMemory_v2_t
    unsigned int version;  // must be memory_v2_version, NOT 2 (nvidia-settings#78: 2 → error 13)
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
};

struct pci_info_t {  // nvmlPciInfo_t
    char bus_id_legacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id;
    unsigned int pci_sub_system_id;
    char bus_id[32];
};

struct utilization_t {  // nvmlUtilization_t, percent over the last sample period
    unsigned int gpu;
    unsigned int memory;
};

struct process_info_v1_t {  // nvmlProcessInfo_v1_t: the unversioned *RunningProcesses
    unsigned int pid;
    unsigned long long used_gpu_memory;
};

struct process_info_v2_t {  // nvmlProcessInfo_v2_t: _v2, and _v3 outside 535.43-535.86
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
};

struct process_detail_v1_t {  // nvmlProcessDetail_v1_t; also the 535.43.02-535.86 nvmlProcessInfo_t
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
    unsigned long long used_gpu_cc_protected_memory;
};

struct process_detail_list_v1_t {  // nvmlProcessDetailList_v1_t (535.104.05+)
    unsigned int version;          // process_detail_list_version
    unsigned int mode;             // 0 = compute
    unsigned int num_proc_array_entries;
    process_detail_v1_t* proc_array;
};

static_assert(sizeof(memory_v1_t) == 24);
static_assert(sizeof(memory_v2_t) == 40);
static_assert(sizeof(pci_info_t) == 68);
static_assert(sizeof(utilization_t) == 8);
static_assert(sizeof(process_info_v1_t) == 16);
static_assert(sizeof(process_info_v2_t) == 24);
static_assert(sizeof(process_detail_v1_t) == 32);
static_assert(sizeof(process_detail_list_v1_t) == 24);

/// NVML_STRUCT_VERSION(data, ver) = sizeof | ver << 24 (nvml.h:141).
constexpr unsigned struct_version(unsigned size, unsigned version) noexcept { return size | (version << 24U); }
inline constexpr unsigned memory_v2_version = struct_version(sizeof(memory_v2_t), 2);
inline constexpr unsigned process_detail_list_version = struct_version(sizeof(process_detail_list_v1_t), 1);
static_assert(memory_v2_version == 0x02000028U);
static_assert(process_detail_list_version == 0x01000018U);

// ---- function pointer types ---------------------------------------------------------------------
using init_fn = return_t (*)();
using init_with_flags_fn = return_t (*)(unsigned int);
using shutdown_fn = return_t (*)();
using error_string_fn = const char* (*)(return_t);
using count_fn = return_t (*)(unsigned int*);
using handle_by_index_fn = return_t (*)(unsigned int, device_t*);
using string_fn = return_t (*)(device_t, char*, unsigned int);
using pci_info_fn = return_t (*)(device_t, pci_info_t*);
using memory_v1_fn = return_t (*)(device_t, memory_v1_t*);
using memory_v2_fn = return_t (*)(device_t, memory_v2_t*);
using utilization_fn = return_t (*)(device_t, utilization_t*);
using processes_fn = return_t (*)(device_t, unsigned int*, void*);  // element type depends on the version
using process_detail_list_fn = return_t (*)(device_t, process_detail_list_v1_t*);
using system_string_fn = return_t (*)(char*, unsigned int);
using cuda_driver_version_fn = return_t (*)(int*);
using compute_capability_fn = return_t (*)(device_t, int*, int*);
using mig_mode_fn = return_t (*)(device_t, unsigned int*, unsigned int*);
using mig_count_fn = return_t (*)(device_t, unsigned int*);
using mig_handle_fn = return_t (*)(device_t, unsigned int, device_t*);

}  // namespace whisper_vram::detail::nvml
