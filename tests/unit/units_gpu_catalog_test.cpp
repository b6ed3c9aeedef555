// Size parsing, GPU catalog lookups and the simulated probe.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <utility>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t GiB = 1ULL << 30;
constexpr std::uint64_t MiB = 1ULL << 20;

TEST(Units, ParseSizes) {
    EXPECT_EQ(parse_size_bytes("24GiB"), 24 * GiB);
    EXPECT_EQ(parse_size_bytes("8GB"), 8 * GiB);  // the guide's GB are GiB
    EXPECT_EQ(parse_size_bytes("12288MiB"), 12 * GiB);
    EXPECT_EQ(parse_size_bytes("12288 MB"), 12 * GiB);
    EXPECT_EQ(parse_size_bytes("7.5"), 7 * GiB + 512 * MiB);
    EXPECT_EQ(parse_size_bytes("1TiB"), 1024 * GiB);
    EXPECT_EQ(parse_size_bytes("512b"), 512U);
    for (const char* bad : {"", "GiB", "-1GiB", "8 parsecs", "nan", "inf", "1e30GiB"}) {
        EXPECT_THROW((void)parse_size_bytes(bad), usage_error) << bad;
    }
    try {
        (void)parse_size_bytes("8XB", "--memory");
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("invalid --memory '8XB'"), std::string::npos) << e.what();
    }
    // 1e400 overflows a double: "too large", not "not a number"; nan (and inf) stay "not a number".
    for (const auto& [text, why] : {std::pair{"1e400", "too large"}, std::pair{"-1e400", "must not be negative"},
                                    std::pair{"nan", "not a number"}}) {
        try {
            (void)parse_size_bytes(text, "--memory");
            ADD_FAILURE() << text;
        } catch (const usage_error& e) {
            EXPECT_NE(std::string(e.what()).find(fmt::format("'{}': {}", text, why)), std::string::npos) << e.what();
        }
    }
}

TEST(Units, Conversions) {
    EXPECT_EQ(gib_to_bytes_ceil(5.0625), 5435817984ULL);
    EXPECT_EQ(gib_to_bytes_floor(0.5), 512 * MiB);
    EXPECT_EQ(gib_to_bytes_ceil(0.2), 214748365ULL);  // 214748364.8 rounded up
    EXPECT_EQ(gib_to_bytes_floor(0.2), 214748364ULL);
    EXPECT_THROW((void)gib_to_bytes_ceil(-1.0), usage_error);
    EXPECT_DOUBLE_EQ(bytes_to_gib(3 * GiB / 2), 1.5);
    EXPECT_EQ(format_gib(24 * GiB), "24.00 GiB");
}

TEST(GpuCatalog, GuideCardsResolve) {
    // Marketed GB (the guide reads them as GiB) and the usable MiB NVML reports (gpu-skus.md; GTX 1660
    // and RTX 3060 8GB derived: no nvidia-smi output seen).
    struct card {
        const char* name;
        std::uint64_t marketed_gb;
        std::uint64_t usable_mib;
    };
    const card guide[] = {{"GTX 1660", 6, 6010},        {"RTX 3060 8GB", 8, 8188}, {"RTX 3070", 8, 8192},
                          {"RTX 3080 10GB", 10, 10240}, {"RTX 3090", 24, 24576},   {"RTX 4090", 24, 24564}};
    ASSERT_EQ(guide_gpu_names().size(), 6U);
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_EQ(guide_gpu_names()[i], guide[i].name);
        const auto& gpu = find_gpu_model(guide[i].name);
        EXPECT_EQ(gpu.marketed_bytes, guide[i].marketed_gb * GiB) << guide[i].name;
        EXPECT_EQ(gpu.memory_bytes, guide[i].usable_mib * MiB) << guide[i].name;
    }
}

TEST(GpuCatalog, ForgivingNamesAndVariants) {
    EXPECT_EQ(find_gpu_model("rtx3090").name, "RTX 3090");
    EXPECT_EQ(find_gpu_model("NVIDIA GeForce RTX 4090").name, "RTX 4090");
    EXPECT_EQ(find_gpu_model("a100-80gb").name, "A100 80GB");
    EXPECT_EQ(find_gpu_model("Tesla T4").cc_major, 7);
    EXPECT_EQ(find_gpu_model("H200").memory_bytes, 143771 * MiB);
    EXPECT_EQ(find_gpu_model("H200").marketed_bytes, 141 * GiB);
    try {
        (void)find_gpu_model("RTX 3060");
        FAIL() << "ambiguous";
    } catch (const usage_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("RTX 3060 8GB"), std::string::npos) << m;
        EXPECT_NE(m.find("RTX 3060 12GB"), std::string::npos) << m;
    }
    try {
        (void)find_gpu_model("RTX 3099");
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
    }
}

TEST(GpuCatalog, NvmlNamesMatchRows) {
    const auto match = [](const char* name, std::uint64_t total) {
        const auto* row = match_nvml_name(name, total);
        return row ? std::string(row->name) : std::string("<none>");
    };
    EXPECT_EQ(match("NVIDIA GeForce RTX 3090", 24 * GiB - 300 * MiB), "RTX 3090");
    EXPECT_EQ(match("NVIDIA GeForce RTX 3060", 12 * GiB - 200 * MiB), "RTX 3060 12GB");
    EXPECT_EQ(match("NVIDIA GeForce RTX 3060", 8 * GiB - 200 * MiB), "RTX 3060 8GB");
    EXPECT_EQ(match("NVIDIA GeForce RTX 3060 Ti", 8 * GiB), "RTX 3060 Ti");
    EXPECT_EQ(match("NVIDIA A100-SXM4-80GB", 80 * GiB - 500 * MiB), "A100 80GB");
    EXPECT_EQ(match("NVIDIA A100-PCIE-40GB", 40 * GiB - 500 * MiB), "A100 40GB");
    EXPECT_EQ(match("NVIDIA A10", 23 * GiB), "A10");
    EXPECT_EQ(match("Tesla T4", 15 * GiB), "T4");
    EXPECT_EQ(match("Tesla V100-SXM2-32GB", 32 * GiB), "V100 32GB");
    EXPECT_EQ(match("NVIDIA H100 80GB HBM3", 80 * GiB), "H100");
    EXPECT_EQ(match("NVIDIA H200", 141 * GiB), "H200");
    EXPECT_EQ(match("NVIDIA GeForce RTX 4070 Ti SUPER", 16 * GiB), "RTX 4070 Ti Super");
    EXPECT_EQ(match("NVIDIA RTX 6000 Ada Generation", 48 * GiB), "RTX 6000 Ada");
    EXPECT_EQ(match("Some Other Accelerator", 16 * GiB), "<none>");
}

TEST(SimulatedProbe, SpecForms) {
    const auto gpus = parse_simulation_spec("RTX 3090, 24GiB:used=2GiB ,8GB,12288MiB");
    ASSERT_EQ(gpus.size(), 4U);
    EXPECT_EQ(gpus[0].name, "RTX 3090");
    EXPECT_EQ(gpus[0].total_bytes, 24 * GiB);
    EXPECT_EQ(gpus[0].free_bytes, 24 * GiB);
    ASSERT_TRUE(gpus[0].capability.has_value());
    EXPECT_EQ(gpus[0].capability->major, 8);
    EXPECT_EQ(gpus[1].used_bytes, 2 * GiB);
    EXPECT_EQ(gpus[1].free_bytes, 22 * GiB);
    EXPECT_EQ(gpus[2].total_bytes, 8 * GiB);
    EXPECT_EQ(gpus[3].total_bytes, 12 * GiB);
    EXPECT_EQ(gpus[3].index, 3U);
    EXPECT_NE(gpus[0].uuid, gpus[1].uuid);
    const auto probe = make_simulated_probe("8GiB");
    const auto snap = probe->snapshot();
    EXPECT_EQ(snap.source, probe_source::simulated);
    EXPECT_TRUE(snap.available());
}

TEST(SimulatedProbe, BadSpecs) {
    for (const char* bad : {"", "8GiB,,4GiB", "0GiB", "8GiB:used=9GiB", "8GiB:free=1GiB", "RTX 9999", "RTX 3060"}) {
        EXPECT_THROW((void)parse_simulation_spec(bad), usage_error) << bad;
    }
}

TEST(UnavailableProbe, ReasonIsAValue) {
    const auto snap = make_unavailable_probe("no driver")->snapshot();
    EXPECT_FALSE(snap.available());
    EXPECT_EQ(snap.unavailable_reason, "no driver");
    EXPECT_TRUE(snap.gpus.empty());
}

}  // namespace
}  // namespace whisper_vram
