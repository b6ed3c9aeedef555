// Ray resources (planner/ray.hpp) and `whisper-vram ray resources|request`: golden outputs (Ray
// cannot be installed here), granule keys, rounding (capacity down, requests up to Ray's 0.0001).

#include <gtest/gtest.h>

#include <string>

#include "support/cli_in_process.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/ray.hpp"

namespace whisper_vram {
namespace {

using test::cli;
using test::cli_json;

constexpr std::uint64_t mib = bytes_per_mib;
constexpr std::uint64_t gib = bytes_per_gib;

TEST(Ray, KeysByGranule) {
    EXPECT_EQ(ray_memory_key(gib), "gpu_memory_gib");
    EXPECT_EQ(ray_memory_key(mib), "gpu_memory_mib");
    EXPECT_EQ(ray_memory_key(512 * mib), "gpu_memory_512mib");
    EXPECT_EQ(ray_memory_key(2 * gib), "gpu_memory_2048mib");
    EXPECT_THROW((void)ray_memory_key(0), usage_error);
    EXPECT_THROW((void)ray_memory_key(mib + 1), usage_error);
}

TEST(Ray, NodeResourcesRoundDownPerGpu) {
    std::vector<gpu_device> gpus(3);
    gpus[0].total_bytes = 80 * gib;
    gpus[1].total_bytes = 24 * gib - 1;  // 23 whole GiB
    gpus[2].total_bytes = 16 * gib;
    gpus[2].state = gpu_state::error;
    const auto r = ray_resources_for(gpus, gib);
    EXPECT_EQ(r.total_granules, 103U);
    EXPECT_EQ(ray_start_resources_json(r),
              R"({"gpu_memory_gib": 103, "gpu_memory_gib_0": 80, "gpu_memory_gib_1": 23})");
    EXPECT_FALSE(r.gpus[2].counted);
    EXPECT_EQ(ray_start_resources_json(ray_resources_for({}, gib)), R"({"gpu_memory_gib": 0})");
}

TEST(Ray, NumGpusRoundsUpToRayPrecision) {
    const auto exact = ray_request_for(10 * gib, 80 * gib, gib);  // 10/80 = 0.125 exactly
    EXPECT_EQ(exact.num_gpus_units, 1250U);
    EXPECT_EQ(exact.granules, 10U);
    EXPECT_TRUE(exact.fits());
    EXPECT_EQ(ray_task_options(exact), R"(num_gpus=0.125, resources={"gpu_memory_gib": 10})");
    const auto over = ray_request_for(10 * gib + 1, 80 * gib, gib);  // a byte more: the next 1/10000 and GiB
    EXPECT_EQ(over.num_gpus_units, 1251U);
    EXPECT_EQ(over.granules, 11U);
    EXPECT_EQ(ray_task_options(over), R"(num_gpus=0.1251, resources={"gpu_memory_gib": 11})");
    // The property: the fraction of the GPU covers the job, one unit less does not.
    EXPECT_GE(over.num_gpus_units * (80 * gib), over.recommended_bytes * ray_fraction_units);
    EXPECT_LT((over.num_gpus_units - 1) * (80 * gib), over.recommended_bytes * ray_fraction_units);
    const auto whole = ray_request_for(24 * gib, 24 * gib, gib);
    EXPECT_EQ(whole.num_gpus_units, 10000U);
    EXPECT_TRUE(whole.fits());
    const auto too_big = ray_request_for(30 * gib, 24 * gib, gib);
    EXPECT_EQ(too_big.num_gpus_units, 12500U);
    EXPECT_FALSE(too_big.fits());
    EXPECT_THROW((void)ray_request_for(0, gib, gib), usage_error);
}

TEST(Ray, FractionText) {
    EXPECT_EQ(format_ray_fraction(1251), "0.1251");
    EXPECT_EQ(format_ray_fraction(5000), "0.5");
    EXPECT_EQ(format_ray_fraction(10000), "1");
    EXPECT_EQ(format_ray_fraction(1), "0.0001");
    EXPECT_EQ(format_ray_fraction(12500), "1.25");
}

TEST(RayCli, ResourcesGolden) {
    const auto r = cli("ray resources --simulate 80GiB,24GiB");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "{\"gpu_memory_gib\": 104, \"gpu_memory_gib_0\": 80, \"gpu_memory_gib_1\": 24}\n");
    const auto m = cli("ray resources --simulate 8GiB --granule 512MiB");
    EXPECT_EQ(m.out, "{\"gpu_memory_512mib\": 16, \"gpu_memory_512mib_0\": 16}\n");
    const auto j = cli_json("ray resources --simulate 80GiB,24GiB --json");
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["resources"]["gpu_memory_gib_1"], 24);
    EXPECT_EQ(j["granule_bytes"], gib);
    EXPECT_EQ(cli("ray resources").status, 3);  // no GPU information
    test::expect_usage_errors(
        {{"ray resources --simulate 8GiB --granule 1000B", "--granule 1000 bytes is not a whole number of MiB"},
         {"ray resources --simulate 8GiB --granule 1.5MiB", "--granule"}});
}

TEST(RayCli, RequestGolden) {
    const auto e = cli_json("calc medium --json");
    ASSERT_FALSE(e.is_null());
    const std::uint64_t bytes = e["recommended_bytes"];
    const std::uint64_t gpu = 24 * gib;
    const std::uint64_t units = (bytes * 10000 + gpu - 1) / gpu;  // no overflow for a few GiB
    const std::uint64_t granules = bytes / gib + (bytes % gib != 0 ? 1 : 0);
    const auto r = cli("ray request medium --gpu-memory 24GiB");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "num_gpus=" + format_ray_fraction(units) +
                         ", resources={\"gpu_memory_gib\": " + std::to_string(granules) + "}\n");
    // From the node: the smallest GPU (24 GiB) decides.
    EXPECT_EQ(cli("ray request medium --simulate 80GiB,24GiB").out, r.out);
    const auto j = cli_json("ray request medium --gpu-memory 24GiB --json");
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["num_gpus_units"], units);
    EXPECT_EQ(j["fits"], true);
    EXPECT_EQ(j["gpu_memory_source"], "--gpu-memory");
}

TEST(RayCli, RequestTooBigForOneGpuExitsOne) {
    const auto r = cli("ray request large-v3 --gpu-memory 2GiB");
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.out.find("does not fit on one GPU"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("> 2.00 GiB (--gpu-memory)"), std::string::npos) << r.out;
    test::expect_usage_errors({{"ray request medium --gpu-memory lots", "--gpu-memory"},
                               {"ray frob", "unknown ray subcommand 'frob'; available: resources, request"}});
}

}  // namespace
}  // namespace whisper_vram
