// Kubernetes requests (planner/kubernetes.hpp) and `whisper-vram k8s resources`: names, units,
// rounding up (never down), exact YAML, the DRA claim, bad flavors and names; the node capacity,
// JSON Pointer escaping, the patch body and the API server's error messages of `k8s advertise`.

#include <gtest/gtest.h>

#include <string>

#include "support/cli_in_process.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/kubernetes.hpp"

namespace whisper_vram {
namespace {

using test::cli;
using test::cli_json;

constexpr std::uint64_t mib = bytes_per_mib;
constexpr std::uint64_t gib = bytes_per_gib;

std::uint64_t limit(const k8s_resources& r, const std::string& name) {
    for (const auto& [n, q] : r.limits) {
        if (n == name) return q;
    }
    ADD_FAILURE() << "no limit " << name;
    return 0;
}

TEST(K8sResources, HamiAsksForOneGpuAndMibRoundedUp) {
    // 3 GiB exactly = 3072 MiB; one byte more is the 3073rd MiB.
    const auto exact = k8s_resources_for(k8s_flavor::hami, 3 * gib);
    ASSERT_EQ(exact.limits.size(), 2U);
    EXPECT_EQ(exact.limits[0].first, "nvidia.com/gpu");
    EXPECT_EQ(exact.limits[0].second, 1U);
    EXPECT_EQ(exact.limits[1].first, "nvidia.com/gpumem");
    EXPECT_EQ(exact.limits[1].second, 3072U);
    EXPECT_EQ(exact.requested_bytes, 3 * gib);
    const auto over = k8s_resources_for(k8s_flavor::hami, 3 * gib + 1);
    EXPECT_EQ(limit(over, "nvidia.com/gpumem"), 3073U);
    EXPECT_EQ(over.requested_bytes, 3073 * mib);
    EXPECT_GE(over.requested_bytes, over.recommended_bytes);
    EXPECT_LT(over.requested_bytes - mib, over.recommended_bytes);  // one MiB less would not cover it
    EXPECT_EQ(limit(k8s_resources_for(k8s_flavor::hami, 1), "nvidia.com/gpumem"), 1U);
}

TEST(K8sResources, GpushareAsksForWholeGibRoundedUp) {
    const auto exact = k8s_resources_for(k8s_flavor::gpushare, 4 * gib);
    ASSERT_EQ(exact.limits.size(), 1U);
    EXPECT_EQ(exact.limits[0].first, "aliyun.com/gpu-mem");
    EXPECT_EQ(exact.limits[0].second, 4U);
    EXPECT_EQ(limit(k8s_resources_for(k8s_flavor::gpushare, 4 * gib + 1), "aliyun.com/gpu-mem"), 5U);
    EXPECT_EQ(limit(k8s_resources_for(k8s_flavor::gpushare, 3 * gib + 512 * mib), "aliyun.com/gpu-mem"), 4U);
    EXPECT_EQ(k8s_resources_for(k8s_flavor::gpushare, 4 * gib + 1).requested_bytes, 5 * gib);
}

TEST(K8sResources, VolcanoAndExtendedInMib) {
    const auto v = k8s_resources_for(k8s_flavor::volcano, 10 * gib + 1);
    ASSERT_EQ(v.limits.size(), 2U);
    EXPECT_EQ(v.limits[0].first, "volcano.sh/vgpu-number");
    EXPECT_EQ(v.limits[0].second, 1U);
    EXPECT_EQ(v.limits[1].first, "volcano.sh/vgpu-memory");
    EXPECT_EQ(v.limits[1].second, 10241U);
    const auto e = k8s_resources_for(k8s_flavor::extended, 2 * gib);
    ASSERT_EQ(e.limits.size(), 1U);
    EXPECT_EQ(e.limits[0].first, "whisper-vram/gpu-memory-mib");
    EXPECT_EQ(e.limits[0].second, 2048U);
    k8s_render_options named;
    named.resource_name = "example.com/gpu-memory";
    EXPECT_EQ(k8s_resources_for(k8s_flavor::extended, 2 * gib, named).limits[0].first, "example.com/gpu-memory");
}

TEST(K8sResources, ExactYamlForHami) {
    k8s_render_options o;
    o.title = "medium | float16";
    const auto r = k8s_resources_for(k8s_flavor::hami, 5 * gib + 1, o);
    const std::string yaml = to_yaml(r);
    std::string comments;
    for (const auto& note : r.notes) comments += "# " + note + "\n";
    EXPECT_EQ(yaml, "# medium | float16\n" + comments +
                        "resources:\n"
                        "  limits:\n"
                        "    nvidia.com/gpu: 1\n"
                        "    nvidia.com/gpumem: 5121\n");
    ASSERT_EQ(r.notes.size(), 3U);
    EXPECT_EQ(r.notes[1],
              "recommended 5368709121 bytes rounded up to whole MiB: 5121 MiB = 5369757696 bytes requested");
    EXPECT_NE(r.notes[0].find("HAMi-core"), std::string::npos);
    EXPECT_EQ(r.notes[2].rfind("source: ", 0), 0U);
}

TEST(K8sResources, DraClaimTemplateRequestsMemoryCapacity) {
    k8s_render_options o;
    o.claim_name = "whisper-large-v3";
    const auto r = k8s_resources_for(k8s_flavor::dra, 11 * gib + 1, o);
    EXPECT_TRUE(r.limits.empty());
    EXPECT_EQ(r.memory_quantity, "11265Mi");
    std::string yaml = to_yaml(r);
    yaml = yaml.substr(yaml.find("apiVersion"));  // after the comment lines
    EXPECT_EQ(yaml,
              "apiVersion: resource.k8s.io/v1\n"
              "kind: ResourceClaimTemplate\n"
              "metadata:\n"
              "  name: whisper-large-v3\n"
              "spec:\n"
              "  spec:\n"
              "    devices:\n"
              "      requests:\n"
              "        - name: gpu\n"
              "          exactly:\n"
              "            deviceClassName: gpu.nvidia.com\n"
              "            allocationMode: ExactCount\n"
              "            count: 1\n"
              "            capacity:\n"
              "              requests:\n"
              "                memory: 11265Mi\n"
              "# In the pod: spec.resourceClaims: [{name: gpu, resourceClaimTemplateName: whisper-large-v3}]\n"
              "# and in its container: resources.claims: [{name: gpu}]\n");
    o.claim_name = "Bad_Name";
    EXPECT_THROW((void)k8s_resources_for(k8s_flavor::dra, gib, o), usage_error);
}

TEST(K8sResources, FlavorsParseAndBadOnesListTheAllowed) {
    EXPECT_EQ(k8s_flavor_list(), "hami, gpushare, volcano, extended, dra");
    for (const auto f : k8s_flavors()) EXPECT_EQ(parse_k8s_flavor(to_string(f)), f);
    try {
        (void)parse_k8s_flavor("HAMI");
        FAIL() << "HAMI accepted";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("'HAMI'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("hami, gpushare, volcano, extended, dra"), std::string::npos);
    }
}

TEST(K8sResources, ResourceAndNodeNamesAreValidated) {
    for (const char* good : {"whisper-vram/gpu-memory-mib", "example.com/gpu-mem", "a/b", "x.y/A_b.c-9"}) {
        EXPECT_NO_THROW(validate_k8s_resource_name(good, "--resource")) << good;
    }
    for (const char* bad : {"gpu-memory", "/x", "x/", "Example.com/x", "kubernetes.io/x", "foo.kubernetes.io/x",
                            "requests.example.com/x", "a/b/c", "a/-x", "a..b/x", "a/b~c"}) {
        try {
            validate_k8s_resource_name(bad, "--resource");
            ADD_FAILURE() << bad << " accepted";
        } catch (const usage_error& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("--resource '") + bad + "'"), std::string::npos)
                << e.what();
        }
    }
    EXPECT_NO_THROW(validate_k8s_node_name("gpu-node-1.example", "--node"));
    EXPECT_THROW(validate_k8s_node_name("GPU_1", "--node"), usage_error);
    EXPECT_THROW(validate_k8s_node_name("", "--node"), usage_error);
    EXPECT_THROW(validate_k8s_node_name(std::string(254, 'a'), "--node"), usage_error);
    EXPECT_EQ(k8s_object_name("whisper-Large_V3"), "whisper-large-v3");
    EXPECT_EQ(k8s_object_name("--"), "whisper");
}

TEST(K8sCapacity, SumsWholeMibOfUsableGpusRoundedDown) {
    std::vector<gpu_device> gpus(3);
    gpus[0].name = "A";
    gpus[0].total_bytes = 80 * gib;  // 81920 MiB
    gpus[1].name = "B";
    gpus[1].total_bytes = 24 * gib + mib - 1;  // one byte short of 24577 MiB: 24576
    gpus[2].name = "C";
    gpus[2].total_bytes = 16 * gib;
    gpus[2].state = gpu_state::lost;
    const auto c = k8s_capacity_for(gpus, "whisper-vram/gpu-memory-mib");
    EXPECT_EQ(c.total_mib, 81920U + 24576U);
    EXPECT_EQ(c.largest_gpu_mib, 81920U);
    ASSERT_EQ(c.gpus.size(), 3U);
    EXPECT_EQ(c.gpus[1].mib, 24576U);
    EXPECT_FALSE(c.gpus[2].counted);
    EXPECT_EQ(c.gpus[2].reason, "GPU state lost");
    EXPECT_EQ(c.gpus[2].mib, 0U);
}

TEST(K8sCapacity, JsonPointerEscapingAndPatchBody) {
    EXPECT_EQ(json_pointer_escape("whisper-vram/gpu-memory-mib"), "whisper-vram~1gpu-memory-mib");
    EXPECT_EQ(json_pointer_escape("a~b/c"), "a~0b~1c");
    EXPECT_EQ(json_pointer_escape("~1"), "~01");  // '~' first: "~1" must not come back as "/"
    EXPECT_EQ(k8s_capacity_patch("whisper-vram/gpu-memory-mib", 106496),
              R"([{"op":"add","path":"/status/capacity/whisper-vram~1gpu-memory-mib","value":"106496"}])");
    EXPECT_EQ(k8s_node_status_path("gpu-1"), "/api/v1/nodes/gpu-1/status");
}

TEST(K8sCapacity, ApiErrorMessages) {
    EXPECT_EQ(k8s_api_error_message(R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                                    R"("message":"nodes \"gpu-9\" not found","reason":"NotFound","code":404})"),
              "nodes \"gpu-9\" not found");
    EXPECT_EQ(k8s_api_error_message("404 page not found\n"), "404 page not found");  // trailing blanks trimmed
    EXPECT_EQ(k8s_api_error_message("a\nb"), "a\\x0ab");
    EXPECT_EQ(k8s_api_error_message(""), std::nullopt);
    EXPECT_EQ(k8s_api_error_message(R"({"message":"bad \u001b[31m"})"), "bad \\x1b[31m");
    EXPECT_EQ(k8s_api_error_message(R"({"message":5})"), R"({"message":5})");
    const auto long_one = k8s_api_error_message(std::string(1000, 'x'));
    ASSERT_TRUE(long_one.has_value());
    EXPECT_EQ(*long_one, std::string(400, 'x') + "...");
}

// ---- the CLI --------------------------------------------------------------------------------------

std::uint64_t recommended_bytes(const std::string& args) {
    const auto j = cli_json("calc " + args + " --json");
    return j.is_null() ? 0 : j["recommended_bytes"].get<std::uint64_t>();
}

TEST(K8sResourcesCli, StanzaFromTheEstimateRoundedUp) {
    const std::uint64_t bytes = recommended_bytes("medium");
    ASSERT_GT(bytes, 0U);
    const std::uint64_t mib_up = bytes / mib + (bytes % mib != 0 ? 1 : 0);
    const auto r = cli("k8s resources medium --flavor hami");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string tail =
        "resources:\n  limits:\n    nvidia.com/gpu: 1\n    nvidia.com/gpumem: " + std::to_string(mib_up) + "\n";
    ASSERT_GE(r.out.size(), tail.size());
    EXPECT_EQ(r.out.substr(r.out.size() - tail.size()), tail) << r.out;
    EXPECT_EQ(r.out.rfind("# medium | float16 | segment 30 s | batch 1 | engine guide: recommended ", 0), 0U) << r.out;

    const auto j = cli_json("k8s resources medium --flavor gpushare --json");
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["flavor"], "gpushare");
    EXPECT_EQ(j["recommended_bytes"], bytes);
    EXPECT_EQ(j["resources"]["limits"]["aliyun.com/gpu-mem"], bytes / gib + (bytes % gib != 0 ? 1 : 0));
    EXPECT_TRUE(j["resource_claim_template"].is_null());
    EXPECT_EQ(j["estimate"]["recommended_bytes"], bytes);
}

TEST(K8sResourcesCli, DraAndExtendedNames) {
    const auto dra = cli_json("k8s resources large-v3 --flavor dra --json");
    ASSERT_FALSE(dra.is_null());
    EXPECT_EQ(dra["resource_claim_template"]["metadata"]["name"], "whisper-large-v3");
    const auto& request = dra["resource_claim_template"]["spec"]["spec"]["devices"]["requests"][0];
    EXPECT_EQ(request["exactly"]["deviceClassName"], "gpu.nvidia.com");
    const std::uint64_t bytes = dra["recommended_bytes"];
    EXPECT_EQ(request["exactly"]["capacity"]["requests"]["memory"],
              std::to_string(bytes / mib + (bytes % mib != 0 ? 1 : 0)) + "Mi");
    const auto ext = cli("k8s resources medium --flavor extended --resource example.com/vram-mib");
    ASSERT_EQ(ext.status, 0) << ext.err;
    EXPECT_NE(ext.out.find("\n    example.com/vram-mib: "), std::string::npos) << ext.out;
}

TEST(K8sResourcesCli, BadInputExitsTwoNamingIt) {
    test::expect_usage_errors({
        {"k8s resources medium", "--flavor is required: one of hami, gpushare, volcano, extended, dra"},
        {"k8s resources medium --flavor mig",
         "unknown --flavor 'mig': use one of hami, gpushare, volcano, extended, dra"},
        {"k8s resources medium --flavor extended --resource gpu-mem", "--resource 'gpu-mem'"},
        {"k8s resources medium --flavor dra --name Big_Name", "--name 'Big_Name'"},
        {"k8s resources medium --flavor hami --yaml --json", "--yaml and --json"},
        {"k8s resources nosuchmodel --flavor hami", "nosuchmodel"},
        {"k8s frobnicate", "unknown k8s subcommand 'frobnicate'; available: resources, advertise"},
    });
}

}  // namespace
}  // namespace whisper_vram
