#include "whisper_vram/core/gpu_catalog.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

// Sources (../shared/spec/gpu-skus.md, "gpu-skus" below, which cites each nvidia-smi output):
// - usable memory: the `memory.total` nvidia-smi / NVML print for the SKU, in the card's default
//   configuration (ECC on for datacenter cards, off for GeForce and workstation cards); where
//   drivers differ (older drivers report the total net of the reserved region) the lowest figure.
// - compute capability: NVIDIA's "CUDA GPUs" and "legacy GPUs" tables (gpu-skus legend [NV]/[NVL]).
// - marketed size: NVIDIA's product pages; read as GiB only for the guide's own claims.
// A SKU without an nvidia-smi output in gpu-skus (its section F) gets its marketed MiB scaled by
// the lowest usable/marketed ratio measured on a card of its generation and memory type, rounded
// down, and says so in usable_memory_source ("assumed: …").

constexpr std::uint64_t mib = bytes_per_mib;

// Digits of a marketed label ("16GB" → 16).
constexpr std::uint64_t label_gb(std::string_view label) {
    std::uint64_t value = 0;
    for (const char c : label) {
        if (c < '0' || c > '9') break;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

constexpr gpu_model measured(std::string_view name, std::string_view label, std::uint64_t usable_mib, int major,
                             int minor, std::string_view family, std::string_view source, std::string_view nvml,
                             std::string_view aliases = {}) {
    return gpu_model{name, usable_mib * mib, major, minor, family, label, label_gb(label) * bytes_per_gib, source,
                     nvml, aliases};
}

// The lowest usable/marketed ratio measured in a generation, and the sentence that says so.
struct sibling_ratio {
    std::uint64_t usable_mib;
    std::uint64_t marketed_mib;
    std::string_view source;
};

constexpr sibling_ratio pascal_geforce{
    8110, 8192,
    "assumed: marketed MiB x 8110/8192, the lowest usable/marketed ratio measured on a Pascal GeForce "
    "(GTX 1080, older Linux driver); no nvidia-smi output seen"};
constexpr sibling_ratio turing_geforce{
    11019, 11264,
    "assumed: marketed MiB x 11019/11264, the lowest usable/marketed ratio measured on a Turing GeForce "
    "(RTX 2080 Ti via NVML, nvitop README); no nvidia-smi output seen"};
constexpr sibling_ratio ampere_gddr6{
    16376, 16384,
    "assumed: marketed MiB x 16376/16384, the lowest usable/marketed ratio measured on an Ampere GDDR6 card "
    "(RTX A4000, ECC off); no nvidia-smi output seen"};
constexpr sibling_ratio ada_gddr6{
    8188, 8192,
    "assumed: marketed MiB x 8188/8192, the lowest usable/marketed ratio measured on an Ada card "
    "(RTX 4060, 4070, 4080, 4090); no nvidia-smi output seen"};
constexpr sibling_ratio blackwell_gddr7{
    16303, 16384,
    "assumed: marketed MiB x 16303/16384, the lowest usable/marketed ratio measured on a Blackwell GDDR7 card "
    "(RTX 5070 Ti, RTX 5080); no nvidia-smi output seen"};

constexpr gpu_model assumed(std::string_view name, std::string_view label, const sibling_ratio& ratio, int major,
                            int minor, std::string_view family, std::string_view nvml, std::string_view aliases = {}) {
    const std::uint64_t marketed_mib = label_gb(label) * 1024;
    return measured(name, label, marketed_mib * ratio.usable_mib / ratio.marketed_mib, major, minor, family,
                    ratio.source, nvml, aliases);
}

constexpr gpu_model unified(std::string_view name, int major, int minor, std::string_view nvml,
                            std::string_view aliases) {
    return gpu_model{name,
                     0,
                     major,
                     minor,
                     "Unified",
                     "unified",
                     0,
                     "unified memory shared with the CPU: NVML reports no total (gpu-skus: Jetson 'N/A'); "
                     "plans need the memory given explicitly",
                     nvml,
                     aliases};
}

constexpr std::string_view geforce = "GeForce";
constexpr std::string_view workstation = "Workstation";
constexpr std::string_view datacenter = "Datacenter";

constexpr auto catalog = std::to_array<gpu_model>({
    // ---- GeForce 10 / 16 / 20 (Pascal 6.1, Turing 7.5) ----
    assumed("GTX 1060 6GB", "6GB", pascal_geforce, 6, 1, geforce, "NVIDIA GeForce GTX 1060 6GB|GeForce GTX 1060 6GB"),
    assumed("GTX 1070", "8GB", pascal_geforce, 6, 1, geforce, "NVIDIA GeForce GTX 1070|GeForce GTX 1070"),
    assumed("GTX 1070 Ti", "8GB", pascal_geforce, 6, 1, geforce, "NVIDIA GeForce GTX 1070 Ti|GeForce GTX 1070 Ti"),
    measured("GTX 1080", "8GB", 8110, 6, 1, geforce,
             "measured: nvidia-smi 8110-8119 MiB on older Linux drivers (8192 MiB on Windows WDDM)",
             "NVIDIA GeForce GTX 1080|GeForce GTX 1080"),
    measured("GTX 1080 Ti", "11GB", 11172, 6, 1, geforce,
             "measured: nvidia-smi 11172-11178 MiB on older Linux drivers (11264 MiB on Windows WDDM)",
             "NVIDIA GeForce GTX 1080 Ti|GeForce GTX 1080 Ti"),
    measured("GTX 1650", "4GB", 4096, 7, 5, geforce, "measured: nvidia-smi 4096 MiB",
             "NVIDIA GeForce GTX 1650|GeForce GTX 1650"),
    assumed("GTX 1660", "6GB", turing_geforce, 7, 5, geforce, "NVIDIA GeForce GTX 1660|GeForce GTX 1660"),
    assumed("GTX 1660 Super", "6GB", turing_geforce, 7, 5, geforce,
            "NVIDIA GeForce GTX 1660 SUPER|GeForce GTX 1660 SUPER"),
    assumed("GTX 1660 Ti", "6GB", turing_geforce, 7, 5, geforce, "NVIDIA GeForce GTX 1660 Ti|GeForce GTX 1660 Ti"),
    measured("RTX 2060", "6GB", 6144, 7, 5, geforce, "measured: nvidia-smi 6144 MiB",
             "NVIDIA GeForce RTX 2060|GeForce RTX 2060"),
    assumed("RTX 2060 Super", "8GB", turing_geforce, 7, 5, geforce,
            "NVIDIA GeForce RTX 2060 SUPER|GeForce RTX 2060 SUPER"),
    assumed("RTX 2070", "8GB", turing_geforce, 7, 5, geforce, "NVIDIA GeForce RTX 2070|GeForce RTX 2070"),
    assumed("RTX 2070 Super", "8GB", turing_geforce, 7, 5, geforce,
            "NVIDIA GeForce RTX 2070 SUPER|GeForce RTX 2070 SUPER"),
    assumed("RTX 2080", "8GB", turing_geforce, 7, 5, geforce, "NVIDIA GeForce RTX 2080|GeForce RTX 2080"),
    assumed("RTX 2080 Super", "8GB", turing_geforce, 7, 5, geforce,
            "NVIDIA GeForce RTX 2080 SUPER|GeForce RTX 2080 SUPER"),
    measured("RTX 2080 Ti", "11GB", 11019, 7, 5, geforce,
             "measured: NVML 11019 MiB (nvitop README); nvidia-smi 11264 MiB on newer drivers",
             "NVIDIA GeForce RTX 2080 Ti|GeForce RTX 2080 Ti"),
    // ---- GeForce 30 (Ampere 8.6) ----
    assumed("RTX 3050", "8GB", ampere_gddr6, 8, 6, geforce, "NVIDIA GeForce RTX 3050|GeForce RTX 3050"),
    assumed("RTX 3060 8GB", "8GB", ampere_gddr6, 8, 6, geforce, "NVIDIA GeForce RTX 3060|GeForce RTX 3060"),
    measured("RTX 3060 12GB", "12GB", 12288, 8, 6, geforce, "measured: nvidia-smi 12288 MiB",
             "NVIDIA GeForce RTX 3060|GeForce RTX 3060"),
    measured("RTX 3060 Ti", "8GB", 8192, 8, 6, geforce, "measured: nvidia-smi 8192 MiB",
             "NVIDIA GeForce RTX 3060 Ti|GeForce RTX 3060 Ti"),
    measured("RTX 3070", "8GB", 8192, 8, 6, geforce, "measured: nvidia-smi 8192 MiB",
             "NVIDIA GeForce RTX 3070|GeForce RTX 3070"),
    assumed("RTX 3070 Ti", "8GB", ampere_gddr6, 8, 6, geforce, "NVIDIA GeForce RTX 3070 Ti|GeForce RTX 3070 Ti"),
    measured("RTX 3080 10GB", "10GB", 10240, 8, 6, geforce, "measured: nvidia-smi 10240 MiB",
             "NVIDIA GeForce RTX 3080|GeForce RTX 3080"),
    measured("RTX 3080 12GB", "12GB", 12288, 8, 6, geforce, "measured: nvidia-smi 12288 MiB",
             "NVIDIA GeForce RTX 3080|GeForce RTX 3080"),
    assumed("RTX 3080 Ti", "12GB", ampere_gddr6, 8, 6, geforce, "NVIDIA GeForce RTX 3080 Ti|GeForce RTX 3080 Ti"),
    measured("RTX 3090", "24GB", 24576, 8, 6, geforce, "measured: nvidia-smi 24576 MiB",
             "NVIDIA GeForce RTX 3090|GeForce RTX 3090"),
    assumed("RTX 3090 Ti", "24GB", ampere_gddr6, 8, 6, geforce, "NVIDIA GeForce RTX 3090 Ti|GeForce RTX 3090 Ti"),
    measured("RTX 3060 Laptop", "6GB", 6144, 8, 6, geforce,
             "measured: nvidia-smi 6144 MiB (laptop attribution inferred from the truncated name and power cap)",
             "NVIDIA GeForce RTX 3060 Laptop GPU|GeForce RTX 3060 Laptop GPU"),
    // ---- GeForce 40 (Ada 8.9) ----
    measured("RTX 4060", "8GB", 8188, 8, 9, geforce, "measured: nvidia-smi 8188 MiB", "NVIDIA GeForce RTX 4060"),
    measured("RTX 4060 Ti 8GB", "8GB", 8188, 8, 9, geforce, "measured: nvidia-smi 8188 MiB",
             "NVIDIA GeForce RTX 4060 Ti"),
    measured("RTX 4060 Ti 16GB", "16GB", 16380, 8, 9, geforce, "measured: nvidia-smi 16380 MiB",
             "NVIDIA GeForce RTX 4060 Ti"),
    measured("RTX 4070", "12GB", 12282, 8, 9, geforce, "measured: nvidia-smi 12282 MiB", "NVIDIA GeForce RTX 4070"),
    assumed("RTX 4070 Super", "12GB", ada_gddr6, 8, 9, geforce, "NVIDIA GeForce RTX 4070 SUPER"),
    assumed("RTX 4070 Ti", "12GB", ada_gddr6, 8, 9, geforce, "NVIDIA GeForce RTX 4070 Ti"),
    assumed("RTX 4070 Ti Super", "16GB", ada_gddr6, 8, 9, geforce, "NVIDIA GeForce RTX 4070 Ti SUPER"),
    measured("RTX 4080", "16GB", 16376, 8, 9, geforce, "measured: nvidia-smi 16376 MiB", "NVIDIA GeForce RTX 4080"),
    assumed("RTX 4080 Super", "16GB", ada_gddr6, 8, 9, geforce, "NVIDIA GeForce RTX 4080 SUPER"),
    measured("RTX 4090", "24GB", 24564, 8, 9, geforce, "measured: nvidia-smi 24564 MiB", "NVIDIA GeForce RTX 4090"),
    measured("RTX 4060 Laptop", "8GB", 8188, 8, 9, geforce,
             "measured: nvidia-smi 8188 MiB (laptop attribution inferred from the truncated name)",
             "NVIDIA GeForce RTX 4060 Laptop GPU"),
    measured("RTX 4080 Laptop", "12GB", 12282, 8, 9, geforce,
             "measured: nvidia-smi 12282 MiB (laptop attribution inferred from the truncated name and power cap)",
             "NVIDIA GeForce RTX 4080 Laptop GPU"),
    measured("RTX 4090 Laptop", "16GB", 16376, 8, 9, geforce,
             "measured: nvidia-smi 16376 MiB (laptop attribution inferred from the truncated name and power cap)",
             "NVIDIA GeForce RTX 4090 Laptop GPU"),
    // ---- GeForce 50 (Blackwell 12.0) ----
    assumed("RTX 5060", "8GB", blackwell_gddr7, 12, 0, geforce, "NVIDIA GeForce RTX 5060"),
    assumed("RTX 5060 Ti 8GB", "8GB", blackwell_gddr7, 12, 0, geforce, "NVIDIA GeForce RTX 5060 Ti"),
    measured("RTX 5060 Ti 16GB", "16GB", 16311, 12, 0, geforce, "measured: nvidia-smi 16311 MiB",
             "NVIDIA GeForce RTX 5060 Ti"),
    assumed("RTX 5070", "12GB", blackwell_gddr7, 12, 0, geforce, "NVIDIA GeForce RTX 5070"),
    measured("RTX 5070 Ti", "16GB", 16303, 12, 0, geforce, "measured: nvidia-smi 16303 MiB",
             "NVIDIA GeForce RTX 5070 Ti"),
    measured("RTX 5080", "16GB", 16303, 12, 0, geforce, "measured: nvidia-smi 16303 MiB", "NVIDIA GeForce RTX 5080"),
    measured("RTX 5090", "32GB", 32607, 12, 0, geforce, "measured: nvidia-smi 32607 MiB", "NVIDIA GeForce RTX 5090"),
    // ---- Workstation: RTX A-series (Ampere 8.6), Ada (8.9), RTX PRO Blackwell (12.0); ECC off ----
    assumed("RTX A2000 6GB", "6GB", ampere_gddr6, 8, 6, workstation, "NVIDIA RTX A2000", "RTX A2000 6GB"),
    assumed("RTX A2000 12GB", "12GB", ampere_gddr6, 8, 6, workstation, "NVIDIA RTX A2000 12GB"),
    measured("RTX A2000 8GB Laptop", "8GB", 8192, 8, 6, workstation, "measured: nvidia-smi 8192 MiB",
             "NVIDIA RTX A2000 8GB Laptop GPU"),
    measured("RTX A4000", "16GB", 16376, 8, 6, workstation, "measured: nvidia-smi 16376 MiB, ECC off",
             "NVIDIA RTX A4000"),
    assumed("RTX A4500", "20GB", ampere_gddr6, 8, 6, workstation, "NVIDIA RTX A4500"),  // CC: GA102 family
    measured("RTX A5000", "24GB", 24564, 8, 6, workstation, "measured: nvidia-smi 24564 MiB, ECC off",
             "NVIDIA RTX A5000"),
    measured("RTX A6000", "48GB", 49140, 8, 6, workstation, "measured: nvidia-smi 49140 MiB, ECC off",
             "NVIDIA RTX A6000"),
    assumed("RTX 2000 Ada", "16GB", ada_gddr6, 8, 9, workstation, "NVIDIA RTX 2000 Ada Generation"),
    measured("RTX 4000 Ada", "20GB", 20475, 8, 9, workstation,
             "measured: nvidia-smi 20475 MiB, ECC off (19195 MiB with ECC on)",
             "NVIDIA RTX 4000 Ada Generation|NVIDIA RTX 4000 SFF Ada Generation", "RTX 4000 SFF Ada"),
    measured("RTX 4000 Ada Laptop", "12GB", 12282, 8, 9, workstation,
             "measured: nvidia-smi 12282 MiB (laptop attribution inferred from the truncated name and 115 W cap)",
             "NVIDIA RTX 4000 Ada Generation Laptop GPU"),
    assumed("RTX 4500 Ada", "24GB", ada_gddr6, 8, 9, workstation, "NVIDIA RTX 4500 Ada Generation"),
    measured("RTX 5000 Ada", "32GB", 32760, 8, 9, workstation, "measured: nvidia-smi 32760 MiB, ECC off",
             "NVIDIA RTX 5000 Ada Generation"),
    measured("RTX 6000 Ada", "48GB", 49140, 8, 9, workstation,
             "measured: nvidia-smi 49140 MiB, ECC off (46068 MiB with ECC on)", "NVIDIA RTX 6000 Ada Generation"),
    assumed("RTX PRO 2000 Blackwell", "16GB", blackwell_gddr7, 12, 0, workstation, "NVIDIA RTX PRO 2000 Blackwell",
            "RTX PRO 2000"),
    assumed("RTX PRO 4000 Blackwell", "24GB", blackwell_gddr7, 12, 0, workstation, "NVIDIA RTX PRO 4000 Blackwell",
            "RTX PRO 4000"),
    assumed("RTX PRO 4500 Blackwell", "32GB", blackwell_gddr7, 12, 0, workstation, "NVIDIA RTX PRO 4500 Blackwell",
            "RTX PRO 4500"),
    assumed("RTX PRO 5000 Blackwell", "48GB", blackwell_gddr7, 12, 0, workstation, "NVIDIA RTX PRO 5000 Blackwell",
            "RTX PRO 5000"),
    measured("RTX PRO 6000 Blackwell", "96GB", 97887, 12, 0, workstation,
             "measured: nvidia-smi 97887 MiB, with ECC on and off",
             "NVIDIA RTX PRO 6000 Blackwell Server Edition|NVIDIA RTX PRO 6000 Blackwell Workstation Edition|"
             "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition",
             "RTX PRO 6000|RTX PRO 6000 Server|RTX PRO 6000 Workstation|RTX PRO 6000 Max-Q"),
    // ---- Datacenter (ECC on, the shipped default) ----
    measured("P4", "8GB", 7611, 6, 1, datacenter, "measured: nvidia-smi 7611 MiB, ECC on (8192 MiB with ECC off)",
             "Tesla P4"),
    measured("P40", "24GB", 22919, 6, 1, datacenter, "measured: nvidia-smi 22919 MiB, ECC on", "Tesla P40"),
    measured("P100", "16GB", 16280, 6, 0, datacenter, "measured: nvidia-smi 16280 MiB (PCIe and SXM2)",
             "Tesla P100-PCIE-16GB|Tesla P100-SXM2-16GB", "P100 16GB|P100 PCIe|P100 SXM2"),
    measured("T4", "16GB", 15360, 7, 5, datacenter, "measured: nvidia-smi 15360 MiB, ECC on (16384 MiB with ECC off)",
             "Tesla T4"),
    measured("V100 16GB", "16GB", 16160, 7, 0, datacenter, "measured: nvidia-smi 16160 MiB (SXM2 and PCIe)",
             "Tesla V100-SXM2-16GB|Tesla V100-PCIE-16GB",
             "V100 SXM2 16GB|V100 PCIe 16GB|V100 16GB SXM2|V100 16GB PCIe"),
    measured("V100 32GB", "32GB", 32510, 7, 0, datacenter, "measured: nvidia-smi 32510 MiB (SXM2 and PCIe)",
             "Tesla V100-SXM2-32GB|Tesla V100-PCIE-32GB|Tesla V100-DGXS-32GB",
             "V100 SXM2 32GB|V100 PCIe 32GB|V100 32GB SXM2|V100 32GB PCIe"),
    measured("V100S", "32GB", 32510, 7, 0, datacenter, "measured: nvidia-smi 32510 MiB", "Tesla V100S-PCIE-32GB",
             "V100S 32GB|V100S PCIe|V100S PCIe 32GB"),
    measured("A2", "16GB", 15356, 8, 6, datacenter, "measured: nvidia-smi 15356 MiB, ECC on", "NVIDIA A2"),
    measured("A10", "24GB", 23028, 8, 6, datacenter, "measured: nvidia-smi 23028 MiB, ECC on (24564 MiB with ECC off)",
             "NVIDIA A10"),
    measured("A10G", "24GB", 23028, 8, 6, datacenter, "measured: nvidia-smi 23028 MiB, ECC on (AWS g5)", "NVIDIA A10G"),
    measured("A16", "16GB", 15356, 8, 6, datacenter, "measured: nvidia-smi 15356 MiB per GPU (the board has 4)",
             "NVIDIA A16"),
    measured("A30", "24GB", 24576, 8, 0, datacenter, "measured: nvidia-smi 24576 MiB, ECC on (HBM2: no ECC cost)",
             "NVIDIA A30"),
    measured("A40", "48GB", 46068, 8, 6, datacenter, "measured: nvidia-smi 46068 MiB, ECC on (49140 MiB with ECC off)",
             "NVIDIA A40"),
    measured("A100 40GB", "40GB", 40536, 8, 0, datacenter,
             "measured: nvidia-smi 40536 MiB on older drivers (40960 MiB on newer ones), PCIe and SXM4",
             "NVIDIA A100-PCIE-40GB|NVIDIA A100-SXM4-40GB|A100-SXM4-40GB|A100-PCIE-40GB",
             "A100 40GB PCIe|A100 40GB SXM|A100 40GB SXM4|A100 PCIe 40GB|A100 SXM 40GB|A100 SXM4 40GB"),
    measured("A100 80GB", "80GB", 81251, 8, 0, datacenter,
             "measured: nvidia-smi 81251 MiB (SXM4, older drivers); 81920 MiB on newer drivers and the PCIe card",
             "NVIDIA A100 80GB PCIe|NVIDIA A100-SXM4-80GB|A100-SXM4-80GB",
             "A100 80GB SXM|A100 80GB SXM4|A100 PCIe 80GB|A100 SXM 80GB|A100 SXM4 80GB"),
    measured("L4", "24GB", 23034, 8, 9, datacenter, "measured: nvidia-smi 23034 MiB, ECC on", "NVIDIA L4"),
    measured("L40", "48GB", 46068, 8, 9, datacenter, "measured: nvidia-smi 46068 MiB, ECC on (49140 MiB with ECC off)",
             "NVIDIA L40"),
    measured("L40S", "48GB", 46068, 8, 9, datacenter, "measured: nvidia-smi 46068 MiB, ECC on", "NVIDIA L40S"),
    measured("H100", "80GB", 81559, 9, 0, datacenter, "measured: nvidia-smi 81559 MiB (PCIe and SXM5)",
             "NVIDIA H100 PCIe|NVIDIA H100 80GB HBM3",
             "H100 80GB|H100 SXM|H100 SXM5|H100 SXM 80GB|H100 80GB SXM|H100 PCIe 80GB|H100 80GB PCIe"),
    measured("H100 NVL", "94GB", 95830, 9, 0, datacenter, "measured: nvidia-smi 95830 MiB", "NVIDIA H100 NVL",
             "H100 94GB|H100 NVL 94GB"),
    measured("H200", "141GB", 143771, 9, 0, datacenter,
             "measured: nvidia-smi 143771 MiB (SXM); the H200 NVL (same 141 GB) assumed equal",
             "NVIDIA H200|NVIDIA H200 NVL", "H200 SXM|H200 NVL|H200 141GB"),
    measured("GH200", "96GB", 97871, 9, 0, datacenter, "measured: nvidia-smi 97871 MiB (the 96 GB HBM3 GPU)",
             "NVIDIA GH200 480GB", "GH200 96GB|GH200 480GB"),
    measured("B200", "180GB", 183359, 10, 0, datacenter, "measured: nvidia-smi 183359 MiB", "NVIDIA B200",
             "B200 180GB"),
    // ---- Unified memory (shared with the CPU): planned on the memory the user gives ----
    unified("Jetson Orin", 8, 7, "Orin (nvgpu)|NVIDIA Tegra Orin (nvgpu)",
            "Jetson AGX Orin|Jetson Orin NX|Jetson Orin Nano|AGX Orin|Orin NX|Orin Nano"),
    unified("Jetson Xavier", 7, 2, "", "Jetson AGX Xavier|Jetson Xavier NX|AGX Xavier|Xavier NX"),
    unified("Jetson Thor", 11, 0, "", "Jetson AGX Thor|Jetson T5000|Jetson T4000|AGX Thor"),
    unified("GB10", 12, 1, "NVIDIA GB10", "DGX Spark|NVIDIA DGX Spark"),
});

constexpr auto guide_cards =
    std::to_array<std::string_view>({"GTX 1660", "RTX 3060 8GB", "RTX 3070", "RTX 3080 10GB", "RTX 3090", "RTX 4090"});

// Lower-case letters and digits only, without "nvidia"/"geforce"/"tesla":
// "NVIDIA GeForce RTX 3060 Ti" → "rtx3060ti"; "Tesla V100-SXM2-16GB" → "v100sxm216gb"; "Orin (nvgpu)" → "orinnvgpu".
std::string normalise(std::string_view name) {
    std::string key = detail::to_lower(name);
    for (const std::string_view word : {"nvidia", "geforce", "tesla"}) {
        for (auto pos = key.find(word); pos != std::string::npos; pos = key.find(word)) key.erase(pos, word.size());
    }
    std::erase_if(key, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0; });
    return key;
}

// The non-empty entries of a '|'-separated list.
std::vector<std::string_view> list_items(std::string_view list) {
    std::vector<std::string_view> items;
    for (const std::string_view item : detail::split(list, '|')) {
        if (!item.empty()) items.push_back(item);
    }
    return items;
}

// True when @p key (normalised) is one of the row's aliases or NVML names.
bool other_name_matches(const gpu_model& gpu, std::string_view key) {
    for (const auto list : {gpu.aliases, gpu.nvml_names}) {
        for (const auto item : list_items(list)) {
            if (normalise(item) == key) return true;
        }
    }
    return false;
}

// The name without its memory-variant word ("RTX 3060 12GB" → "rtx3060"), normalised.
std::string base_key(std::string_view catalog_name) {
    const auto space = catalog_name.rfind(' ');
    if (space != std::string_view::npos) {
        const std::string_view last = catalog_name.substr(space + 1);
        const bool memory_word = last.size() > 2 && last.ends_with("GB") &&
                                 std::all_of(last.begin(), last.end() - 2, [](char c) { return c >= '0' && c <= '9'; });
        if (memory_word) return normalise(catalog_name.substr(0, space));
    }
    return normalise(catalog_name);
}

std::vector<std::string> catalog_names() {
    std::vector<std::string> names;
    names.reserve(catalog.size());
    for (const auto& gpu : catalog) names.emplace_back(gpu.name);
    return names;
}

std::vector<std::string> names_of(const std::vector<const gpu_model*>& rows) {
    std::vector<std::string> names;
    names.reserve(rows.size());
    for (const auto* gpu : rows) names.emplace_back(gpu->name);
    return names;
}

// A name the nvidia-smi table cut short ("Tesla P100-PCIE...", "NVIDIA RTX 4000 Ada Gene..."):
// the text before the dots, or nullopt when @p text is not cut.
std::optional<std::string_view> truncated_prefix(std::string_view text) {
    for (const std::string_view dots : {std::string_view("..."), std::string_view("\xE2\x80\xA6")}) {
        if (text.ends_with(dots)) return text.substr(0, text.size() - dots.size());
    }
    return std::nullopt;
}

const gpu_model& find_truncated(std::string_view name, std::string_view prefix_text) {
    const std::string prefix = normalise(prefix_text);
    std::vector<const gpu_model*> hits;
    if (!prefix.empty()) {
        for (const auto& gpu : catalog) {
            bool hit = normalise(gpu.name).starts_with(prefix);
            for (const auto item : list_items(gpu.nvml_names)) hit = hit || normalise(item).starts_with(prefix);
            if (hit) hits.push_back(&gpu);
        }
    }
    if (hits.size() == 1) return *hits.front();
    if (hits.empty()) {
        throw usage_error(fmt::format("unknown GPU '{}': no catalog GPU has a name starting with '{}'. Known GPUs: {}",
                                      name, detail::trim(prefix_text), detail::join(catalog_names())));
    }
    throw usage_error(
        fmt::format("GPU '{}' is a name the nvidia-smi table cut short and fits several GPUs: say which one: {} "
                    "(nvidia-smi --query-gpu=name prints the whole name)",
                    name, detail::join(names_of(hits))));
}

}  // namespace

std::span<const gpu_model> gpu_catalog() noexcept { return catalog; }

std::vector<std::string_view> nvml_names_of(const gpu_model& gpu) { return list_items(gpu.nvml_names); }

std::span<const std::string_view> guide_gpu_names() noexcept { return guide_cards; }

const gpu_model& find_gpu_model(std::string_view name) {
    const std::string_view text = detail::trim(name);
    if (const auto prefix = truncated_prefix(text)) return find_truncated(name, *prefix);
    const std::string key = normalise(text);
    if (!key.empty()) {
        for (const auto& gpu : catalog) {
            if (normalise(gpu.name) == key) return gpu;
        }
        // Aliases and NVML names; one NVML name can stand for several memory variants.
        std::vector<const gpu_model*> hits;
        for (const auto& gpu : catalog) {
            if (other_name_matches(gpu, key)) hits.push_back(&gpu);
        }
        if (hits.size() == 1) return *hits.front();
        if (hits.empty()) {
            // A catalog name without its memory word ("RTX 3060" for "RTX 3060 8GB" and "RTX 3060 12GB").
            for (const auto& gpu : catalog) {
                if (base_key(gpu.name) == key) hits.push_back(&gpu);
            }
            if (hits.size() == 1) return *hits.front();
        }
        if (!hits.empty()) {
            throw usage_error(fmt::format("GPU '{}' comes in several memory variants: say which one: {}", name,
                                          detail::join(names_of(hits))));
        }
    }
    std::vector<std::string> candidates = catalog_names();
    for (const auto& gpu : catalog) {
        for (const auto list : {gpu.aliases, gpu.nvml_names}) {
            for (const auto item : list_items(list)) candidates.emplace_back(item);
        }
    }
    const auto nearest = nearest_name(text, candidates);
    throw usage_error(fmt::format("unknown GPU '{}'{}. Known GPUs: {}", name,
                                  nearest.empty() ? "" : fmt::format(": did you mean '{}'?", nearest),
                                  detail::join(catalog_names())));
}

const gpu_model* match_nvml_name(std::string_view nvml_name, std::uint64_t total_bytes) noexcept {
    try {
        const std::string key = normalise(nvml_name);
        if (key.empty()) return nullptr;
        const auto gap = [total_bytes](const gpu_model& gpu) {
            return gpu.memory_bytes > total_bytes ? gpu.memory_bytes - total_bytes : total_bytes - gpu.memory_bytes;
        };
        // A listed name: among the rows sharing it (memory variants), the one closest to the total.
        const gpu_model* best = nullptr;
        for (const auto& gpu : catalog) {
            if (normalise(gpu.name) != key && !other_name_matches(gpu, key)) continue;
            if (best == nullptr || gap(gpu) < gap(*best)) best = &gpu;
        }
        if (best != nullptr) return best;
        // Otherwise the longest catalog base name the NVML name contains ("rtx3060ti" before
        // "rtx3060"); among its memory variants the one closest to the reported total.
        std::size_t best_length = 0;
        for (const auto& gpu : catalog) {
            const std::string base = base_key(gpu.name);
            const auto pos = key.find(base);
            if (pos == std::string::npos) continue;
            // The base must end the name or be followed by a form-factor/memory suffix, not a
            // model-number continuation ("rtx3060" must not match "rtx3060ti").
            const std::string rest = key.substr(pos + base.size());
            const bool suffix_ok = rest.empty() || rest.starts_with("pcie") || rest.starts_with("sxm") ||
                                   rest.starts_with("nvl") || rest.starts_with("hbm") || rest.starts_with("laptop") ||
                                   rest.starts_with("generation") ||
                                   (rest.front() >= '0' && rest.front() <= '9' && rest.find("gb") != std::string::npos);
            if (!suffix_ok) continue;
            if (best == nullptr || base.size() > best_length || (base.size() == best_length && gap(gpu) < gap(*best))) {
                best = &gpu;
                best_length = base.size();
            }
        }
        return best;
    } catch (...) {
        return nullptr;
    }
}

std::uint64_t planning_memory_bytes(const gpu_model& gpu) {
    if (gpu.unified_memory()) {
        throw usage_error(fmt::format(
            "GPU '{}' shares its memory with the CPU (unified memory): the catalog has no GPU memory to plan on; "
            "pass the memory to plan on with --memory SIZE (e.g. --memory 16GiB), or simulate the GPU as a size "
            "(--simulate 16GiB)",
            gpu.name));
    }
    return gpu.memory_bytes;
}

}  // namespace whisper_vram
