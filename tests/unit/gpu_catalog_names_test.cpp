// GPU catalog: every name of the SKU sheet (../shared/spec/gpu-skus.md, copied here as a table, not
// read at test time) resolves to its row; usable memory is what NVML reports; names users type;
// unified-memory devices need an explicit size.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/cli_in_process.hpp"
#include "support/usage_message.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

using test::usage_message_of;

constexpr std::uint64_t MiB = 1ULL << 20;
constexpr std::uint64_t GiB = 1ULL << 30;

struct sheet_name {
    const char* nvml;     ///< the name as the sheet quotes it (NVML / nvidia-smi)
    std::uint64_t mib;    ///< a total the sheet quotes for it (0: none, unified memory)
    const char* row;      ///< the catalog row it must resolve to
    bool shared = false;  ///< the name stands for several memory variants (find_gpu_model refuses it)
};

// gpu-skus.md sections A, B, C: first column, with the alternative names given in parentheses.
const sheet_name sheet[] = {
    // A. Datacenter
    {"Tesla P4", 7611, "P4"},
    {"Tesla P40", 22919, "P40"},
    {"Tesla P100-PCIE-16GB", 16280, "P100"},
    {"Tesla P100-SXM2-16GB", 16280, "P100"},
    {"Tesla T4", 15360, "T4"},
    {"Tesla V100-SXM2-16GB", 16160, "V100 16GB"},
    {"Tesla V100-PCIE-16GB", 16160, "V100 16GB"},
    {"Tesla V100-SXM2-32GB", 32510, "V100 32GB"},
    {"Tesla V100-PCIE-32GB", 32510, "V100 32GB"},
    {"Tesla V100S-PCIE-32GB", 32510, "V100S"},
    {"NVIDIA A2", 15356, "A2"},
    {"NVIDIA A10", 23028, "A10"},
    {"NVIDIA A10G", 23028, "A10G"},
    {"NVIDIA A16", 15356, "A16"},
    {"NVIDIA A30", 24576, "A30"},
    {"NVIDIA A40", 46068, "A40"},
    {"NVIDIA A100-PCIE-40GB", 40960, "A100 40GB"},
    {"NVIDIA A100-SXM4-40GB", 40536, "A100 40GB"},
    {"A100-SXM4-40GB", 40536, "A100 40GB"},
    {"NVIDIA A100 80GB PCIe", 81920, "A100 80GB"},
    {"NVIDIA A100-SXM4-80GB", 81251, "A100 80GB"},
    {"NVIDIA L4", 23034, "L4"},
    {"NVIDIA L40", 46068, "L40"},
    {"NVIDIA L40S", 46068, "L40S"},
    {"NVIDIA H100 PCIe", 81559, "H100"},
    {"NVIDIA H100 80GB HBM3", 81559, "H100"},
    {"NVIDIA H100 NVL", 95830, "H100 NVL"},
    {"NVIDIA H200", 143771, "H200"},
    {"NVIDIA GH200 480GB", 97871, "GH200"},
    {"NVIDIA B200", 183359, "B200"},
    {"Orin (nvgpu)", 0, "Jetson Orin"},
    {"NVIDIA Tegra Orin (nvgpu)", 0, "Jetson Orin"},
    {"Jetson AGX Orin", 0, "Jetson Orin"},
    {"Orin NX", 0, "Jetson Orin"},
    {"Orin Nano", 0, "Jetson Orin"},
    {"Jetson AGX Xavier", 0, "Jetson Xavier"},
    {"Xavier NX", 0, "Jetson Xavier"},
    // B. Workstation
    {"NVIDIA RTX A2000", 6144, "RTX A2000 6GB"},
    {"NVIDIA RTX A2000 12GB", 12288, "RTX A2000 12GB"},
    {"NVIDIA RTX A2000 8GB Laptop GPU", 8192, "RTX A2000 8GB Laptop"},
    {"NVIDIA RTX A4000", 16376, "RTX A4000"},
    {"NVIDIA RTX A4500", 20480, "RTX A4500"},
    {"NVIDIA RTX A5000", 24564, "RTX A5000"},
    {"NVIDIA RTX A6000", 49140, "RTX A6000"},
    {"NVIDIA RTX 4000 Ada Generation", 20475, "RTX 4000 Ada"},
    {"NVIDIA RTX 4000 Ada Generation Laptop GPU", 12282, "RTX 4000 Ada Laptop"},
    {"NVIDIA RTX 5000 Ada Generation", 32760, "RTX 5000 Ada"},
    {"NVIDIA RTX 6000 Ada Generation", 49140, "RTX 6000 Ada"},
    {"NVIDIA RTX PRO 6000 Blackwell Server Edition", 97887, "RTX PRO 6000 Blackwell"},
    {"NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 97887, "RTX PRO 6000 Blackwell"},
    {"NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", 97887, "RTX PRO 6000 Blackwell"},
    // C. Consumer (old drivers print no "NVIDIA " prefix)
    {"GeForce GTX 1080", 8113, "GTX 1080"},
    {"GeForce RTX 2080 Ti", 11019, "RTX 2080 Ti"},
    {"NVIDIA GeForce GTX 1060 6GB", 6144, "GTX 1060 6GB"},
    {"NVIDIA GeForce GTX 1080", 8192, "GTX 1080"},
    {"NVIDIA GeForce GTX 1080 Ti", 11264, "GTX 1080 Ti"},
    {"NVIDIA GeForce GTX 1650", 4096, "GTX 1650"},
    {"NVIDIA GeForce RTX 2060", 6144, "RTX 2060"},
    {"NVIDIA GeForce RTX 2080 Ti", 11264, "RTX 2080 Ti"},
    {"NVIDIA GeForce RTX 3060", 12288, "RTX 3060 12GB", true},
    {"NVIDIA GeForce RTX 3060 Ti", 8192, "RTX 3060 Ti"},
    {"NVIDIA GeForce RTX 3070", 8192, "RTX 3070"},
    {"NVIDIA GeForce RTX 3080", 10240, "RTX 3080 10GB", true},
    {"NVIDIA GeForce RTX 3080", 12288, "RTX 3080 12GB", true},
    {"NVIDIA GeForce RTX 3090", 24576, "RTX 3090"},
    {"NVIDIA GeForce RTX 4060", 8188, "RTX 4060"},
    {"NVIDIA GeForce RTX 4060 Ti", 16380, "RTX 4060 Ti 16GB", true},
    {"NVIDIA GeForce RTX 4060 Ti", 8188, "RTX 4060 Ti 8GB", true},
    {"NVIDIA GeForce RTX 4070", 12282, "RTX 4070"},
    {"NVIDIA GeForce RTX 4080", 16376, "RTX 4080"},
    {"NVIDIA GeForce RTX 4090", 24564, "RTX 4090"},
    {"NVIDIA GeForce RTX 5060 Ti", 16311, "RTX 5060 Ti 16GB", true},
    {"NVIDIA GeForce RTX 5070 Ti", 16303, "RTX 5070 Ti"},
    {"NVIDIA GeForce RTX 5080", 16303, "RTX 5080"},
    {"NVIDIA GeForce RTX 5090", 32607, "RTX 5090"},
    {"NVIDIA GeForce RTX 3060 Laptop GPU", 6144, "RTX 3060 Laptop"},
    {"NVIDIA GeForce RTX 4060 Laptop GPU", 8188, "RTX 4060 Laptop"},
    {"NVIDIA GeForce RTX 4080 Laptop GPU", 12282, "RTX 4080 Laptop"},
    {"NVIDIA GeForce RTX 4090 Laptop GPU", 16376, "RTX 4090 Laptop"},
};

TEST(GpuCatalogNames, EverySheetNameResolvesToItsRow) {
    for (const auto& s : sheet) {
        SCOPED_TRACE(s.nvml);
        const gpu_model* matched = match_nvml_name(s.nvml, s.mib * MiB);
        ASSERT_NE(matched, nullptr);
        EXPECT_EQ(matched->name, s.row);
        if (s.shared) {
            const std::string message = usage_message_of([&] { (void)find_gpu_model(s.nvml); });
            EXPECT_NE(message.find("several memory variants"), std::string::npos) << message;
            EXPECT_NE(message.find(s.row), std::string::npos) << message;
        } else {
            EXPECT_EQ(find_gpu_model(s.nvml).name, s.row);
        }
    }
}

// The nvidia-smi table cuts long names ("Tesla P100-PCIE..."): unique prefixes resolve, the others
// are refused with the candidates.
TEST(GpuCatalogNames, NamesTheNvidiaSmiTableCutShort) {
    const std::pair<const char*, const char*> unique[] = {
        {"Tesla P100-PCIE...", "P100"},
        {"Tesla P100-SXM2...", "P100"},
        {"Tesla V100S-PCI...", "V100S"},
        {"NVIDIA A100-PCI...", "A100 40GB"},
        {"NVIDIA RTX A2000 8GB Lap...", "RTX A2000 8GB Laptop"},
        {"NVIDIA RTX PRO 6000 Blac...", "RTX PRO 6000 Blackwell"},
    };
    for (const auto& [name, row] : unique) EXPECT_EQ(find_gpu_model(name).name, row) << name;
    const std::pair<const char*, std::vector<const char*>> shared[] = {
        {"Tesla V100-SXM2...", {"V100 16GB", "V100 32GB"}},
        {"Tesla V100-PCIE...", {"V100 16GB", "V100 32GB"}},
        {"NVIDIA A100-SXM...", {"A100 40GB", "A100 80GB"}},
        {"NVIDIA RTX 4000 Ada Gene...", {"RTX 4000 Ada", "RTX 4000 Ada Laptop"}},
        {"GeForce GTX 108...", {"GTX 1080", "GTX 1080 Ti"}},
    };
    for (const auto& [name, rows] : shared) {
        const std::string message = usage_message_of([gpu = name] { (void)find_gpu_model(gpu); });
        EXPECT_NE(message.find("cut short"), std::string::npos) << message;
        for (const char* row : rows) EXPECT_NE(message.find(row), std::string::npos) << name << ": " << message;
    }
    EXPECT_NE(usage_message_of([] { (void)find_gpu_model("Voodoo..."); }).find("unknown GPU 'Voodoo...'"),
              std::string::npos);
}

TEST(GpuCatalogNames, NamesAsUsersWriteThem) {
    const std::pair<const char*, const char*> typed[] = {
        {"v100s", "V100S"},
        {"V100S 32GB", "V100S"},
        {"a100 80gb", "A100 80GB"},
        {"a100-40gb", "A100 40GB"},
        {"A100 SXM4 80GB", "A100 80GB"},
        {"h100-sxm", "H100"},
        {"H100 SXM5", "H100"},
        {"h100 pcie", "H100"},
        {"h100 nvl", "H100 NVL"},
        {"rtx4090", "RTX 4090"},
        {"RTX 4090 laptop", "RTX 4090 Laptop"},
        {"rtx 3060 12gb", "RTX 3060 12GB"},
        {"t4", "T4"},
        {"l40s", "L40S"},
        {"A10G", "A10G"},
        {"rtx pro 6000", "RTX PRO 6000 Blackwell"},
        {"rtx 6000 ada", "RTX 6000 Ada"},
        {"gtx1660", "GTX 1660"},
        {"GTX 1060", "GTX 1060 6GB"},  // one variant only
        {"jetson agx orin", "Jetson Orin"},
        {"DGX Spark", "GB10"},
        {"p100", "P100"},
        {"b200", "B200"},
        {"gh200", "GH200"},
    };
    for (const auto& [name, row] : typed) EXPECT_EQ(find_gpu_model(name).name, row) << name;
    const std::pair<const char*, std::vector<const char*>> variants[] = {
        {"A100", {"A100 40GB", "A100 80GB"}},
        {"V100", {"V100 16GB", "V100 32GB"}},
        {"rtx 4060 ti", {"RTX 4060 Ti 8GB", "RTX 4060 Ti 16GB"}},
    };
    for (const auto& [name, rows] : variants) {
        const std::string message = usage_message_of([gpu = name] { (void)find_gpu_model(gpu); });
        for (const char* row : rows) EXPECT_NE(message.find(row), std::string::npos) << name << ": " << message;
    }
    const std::string near = usage_message_of([] { (void)find_gpu_model("Tesla V100S-PCIE-32GX"); });
    EXPECT_NE(near.find("did you mean 'Tesla V100S-PCIE-32GB'"), std::string::npos) << near;
}

TEST(GpuCatalogNames, EveryRowResolvesByEachOfItsNames) {
    for (const auto& gpu : gpu_catalog()) {
        SCOPED_TRACE(gpu.name);
        EXPECT_EQ(&find_gpu_model(gpu.name), &gpu);
        for (const auto name : nvml_names_of(gpu)) {
            EXPECT_EQ(match_nvml_name(name, gpu.memory_bytes), &gpu) << name;
        }
    }
}

// Usable memory is NVML's memory.total (gpu-skus.md), the marketed size a label.
TEST(GpuCatalogMemory, UsableIsWhatNvmlReports) {
    const std::pair<const char*, std::uint64_t> measured[] = {
        {"T4", 15360},        {"A10", 23028},       {"A10G", 23028},         {"L4", 23034},
        {"V100 16GB", 16160}, {"V100S", 32510},     {"A100 40GB", 40536},    {"A100 80GB", 81251},
        {"H100", 81559},      {"H100 NVL", 95830},  {"H200", 143771},        {"B200", 183359},
        {"P4", 7611},         {"P40", 22919},       {"A40", 46068},          {"L40S", 46068},
        {"RTX 3090", 24576},  {"RTX 4090", 24564},  {"RTX 5090", 32607},     {"RTX 2080 Ti", 11019},
        {"GTX 1080", 8110},   {"RTX A6000", 49140}, {"RTX 6000 Ada", 49140}, {"RTX PRO 6000 Blackwell", 97887},
    };
    for (const auto& [name, mib] : measured) {
        const auto& gpu = find_gpu_model(name);
        EXPECT_EQ(gpu.memory_bytes, mib * MiB) << name;
        EXPECT_TRUE(gpu.usable_memory_source.starts_with("measured")) << name << ": " << gpu.usable_memory_source;
        EXPECT_FALSE(gpu.usable_memory_assumed()) << name;
    }
    const auto& t4 = find_gpu_model("T4");
    EXPECT_EQ(t4.marketed_label, "16GB");
    EXPECT_EQ(t4.marketed_bytes, 16 * GiB);
    EXPECT_EQ(planning_memory_bytes(t4), 15360 * MiB);
}

// Where the sheet has no nvidia-smi output: marketed MiB × the lowest usable/marketed ratio measured
// in the generation, rounded down, and marked "assumed".
TEST(GpuCatalogMemory, UnmeasuredCardsAreDerivedConservativelyAndMarked) {
    const std::pair<const char*, std::uint64_t> derived[] = {
        {"GTX 1660", 6010},                 // 6144 × 11019 / 11264 = 6010.4 (Turing: RTX 2080 Ti)
        {"GTX 1070", 8110},                 // 8192 × 8110 / 8192 (Pascal: GTX 1080)
        {"GTX 1060 6GB", 6082},             // 6144 × 8110 / 8192 = 6082.5
        {"RTX 2070", 8013},                 // 8192 × 11019 / 11264 = 8013.8
        {"RTX 3060 8GB", 8188},             // 8192 × 16376 / 16384 (Ampere: RTX A4000)
        {"RTX 3090 Ti", 24564},             // 24576 × 16376 / 16384
        {"RTX 4070 Ti", 12282},             // 12288 × 8188 / 8192 (Ada: RTX 4060 …)
        {"RTX 5070", 12227},                // 12288 × 16303 / 16384 = 12227.25 (Blackwell: RTX 5070 Ti)
        {"RTX PRO 5000 Blackwell", 48909},  // 49152 × 16303 / 16384
        {"RTX A4500", 20470},               // 20480 × 16376 / 16384
    };
    for (const auto& [name, mib] : derived) {
        const auto& gpu = find_gpu_model(name);
        EXPECT_EQ(gpu.memory_bytes, mib * MiB) << name;
        EXPECT_TRUE(gpu.usable_memory_assumed()) << name;
        EXPECT_NE(gpu.usable_memory_source.find("no nvidia-smi output seen"), std::string::npos) << name;
    }
}

TEST(GpuCatalogMemory, EveryRowIsConsistent) {
    for (const auto& gpu : gpu_catalog()) {
        SCOPED_TRACE(gpu.name);
        const auto& source = gpu.usable_memory_source;
        if (gpu.unified_memory()) {
            EXPECT_EQ(gpu.family, "Unified");
            EXPECT_EQ(gpu.marketed_bytes, 0U);
            EXPECT_TRUE(source.starts_with("unified")) << source;
            continue;
        }
        EXPECT_TRUE(source.starts_with("measured") || source.starts_with("assumed")) << source;
        // Usable is at most the marketed size and not below it by more than ECC's 1/16 and reserves (P4: 7611/8192).
        EXPECT_LE(gpu.memory_bytes, gpu.marketed_bytes);
        EXPECT_GE(static_cast<double>(gpu.memory_bytes), 0.92 * static_cast<double>(gpu.marketed_bytes));
        EXPECT_EQ(gpu.marketed_label, fmt::format("{}GB", gpu.marketed_bytes / GiB));
        EXPECT_GE(gpu.cc_major, 6);
        EXPECT_FALSE(nvml_names_of(gpu).empty());
    }
}

// Unified memory (Jetson, GB10): nothing fixed to plan on; a plan without an explicit size is a
// usage_error that says to pass --memory.
TEST(GpuCatalogMemory, UnifiedMemoryNeedsAnExplicitSize) {
    const auto& orin = find_gpu_model("Jetson AGX Orin");
    EXPECT_TRUE(orin.unified_memory());
    EXPECT_EQ(orin.cc_major, 8);
    EXPECT_EQ(orin.cc_minor, 7);
    const std::string message = usage_message_of([&] { (void)planning_memory_bytes(orin); });
    EXPECT_NE(message.find("unified memory"), std::string::npos) << message;
    EXPECT_NE(message.find("--memory"), std::string::npos) << message;
    EXPECT_NE(usage_message_of([] { (void)parse_simulation_spec("Jetson Orin"); }).find("--memory"), std::string::npos);
    const std::vector<std::string> names{"GB10"};
    EXPECT_NE(usage_message_of([&] { (void)recommend_for_catalog(names, {}); }).find("--memory"), std::string::npos);
    const auto r = test::cli("recommend --gpu \"Jetson Orin Nano\"");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--memory"), std::string::npos) << r.err;
    // The compute capability is still known: an engine estimate names the card without a memory note.
    estimate_request request;
    request.engine = "faster-whisper";
    request.model = "small";
    request.gpu_name = "Jetson Orin";
    const auto e = estimate(request);
    for (const auto& note : e.notes) EXPECT_EQ(note.find("exceeds"), std::string::npos) << note;
}

// recommend --gpu T4 plans on 15360 MiB: int8 large (5.0625 GiB) fits twice (10.125 ≤ 15), not three
// times (15.1875 > 15), which 16 GiB would have allowed.
TEST(GpuCatalogMemory, RecommendOnT4PlansOnItsUsableMemory) {
    const auto r = test::cli("recommend --gpu T4 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& g = j["gpus"][0];
    EXPECT_EQ(g["memory_bytes"], 15360 * MiB);
    EXPECT_DOUBLE_EQ(g["memory"].get<double>(), 15.0);
    EXPECT_EQ(g["int8"]["model"], "large");
    EXPECT_EQ(g["int8"]["max_concurrent"], 2);
    EXPECT_GT(3 * 5.0625, 15.0);
    EXPECT_LE(3 * 5.0625, 16.0);
    const auto sim = parse_simulation_spec("T4");
    EXPECT_EQ(sim.at(0).total_bytes, 15360 * MiB);
}

}  // namespace
}  // namespace whisper_vram
