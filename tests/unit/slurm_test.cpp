// Slurm shard GRES (planner/slurm.hpp): shard arithmetic with hand-computed numbers, the gres.conf /
// slurm.conf text, the gres.conf and `scontrol show node` parsers (on output captured from a real
// Slurm 22.05, tests/slurm/data/), the per-GPU check, the in-job cap (scheduler and facade), and the
// `whisper-vram slurm` CLI in-process (exit 0 fits / 1 does not fit / 2 usage).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/cli_in_process.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/planner/slurm.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {
namespace {

using test::cli;
constexpr std::uint64_t gib = std::uint64_t{1} << 30;
constexpr std::uint64_t mib = std::uint64_t{1} << 20;

std::string read_data(const std::string& name) {
    // tests/slurm/data/ (tests/slurm/CMakeLists.txt defines the absolute path).
    const auto path = std::filesystem::path(WHISPER_VRAM_SLURM_DATA_DIR) / name;
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::filesystem::path temp_file(const std::string& name, const std::string& text) {
    auto path = std::filesystem::temp_directory_path() / (fmt::format("wv-slurm-{}-{}", ::getpid(), name));
    std::ofstream(path) << text;
    return path;
}

TEST(SlurmShards, PerGpuIsTheFloorOfUsableMinusHeadroom) {
    // The brief's figure: 80 GiB usable − 2 GiB headroom at 1 GiB = 78 shards.
    EXPECT_EQ(shards_per_gpu(80 * gib, 2 * gib, gib), 78U);
    // One byte short of 79 GiB left: still 78 (never more than the GPU holds).
    EXPECT_EQ(shards_per_gpu(81 * gib - 1, 2 * gib, gib), 78U);
    EXPECT_EQ(shards_per_gpu(81 * gib, 2 * gib, gib), 79U);
    // 24 GiB at 512 MiB: 48.
    EXPECT_EQ(shards_per_gpu(24 * gib, 0, 512 * mib), 48U);
    EXPECT_THROW((void)shards_per_gpu(80 * gib, 0, 0), usage_error);
    EXPECT_THROW((void)shards_per_gpu(80 * gib, 80 * gib, gib), usage_error);
    try {
        (void)shards_per_gpu(8 * gib, 9 * gib, gib);
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("--headroom 9.00 GiB"), std::string::npos) << e.what();
    }
}

TEST(SlurmShards, RequestRoundsUpNeverDown) {
    // large float16 30 s: recommended (5 + 0.75 + 0.95 + 1.4875) × 1.2 = 9.825 GiB → 10 shards.
    const auto recommended = static_cast<std::uint64_t>(9.825 * static_cast<double>(gib));
    EXPECT_EQ(shards_for_bytes(recommended, gib), 10U);
    EXPECT_EQ(shards_for_bytes(10 * gib, gib), 10U);      // exactly 10 GiB: 10
    EXPECT_EQ(shards_for_bytes(10 * gib + 1, gib), 11U);  // one byte over: 11
    EXPECT_EQ(shards_for_bytes(1, gib), 1U);
    EXPECT_EQ(shards_for_bytes(0, gib), 1U);  // a job always asks for one shard
    // No overflow near 2^64: ceil((2^64 − 1) / 2^30) = 2^34.
    EXPECT_EQ(shards_for_bytes(UINT64_MAX, gib), std::uint64_t{1} << 34);
    EXPECT_EQ(shards_for_bytes(3 * gib, 512 * mib), 6U);
    EXPECT_THROW((void)shards_for_bytes(gib, 0), usage_error);
}

TEST(SlurmShards, GranuleParsing) {
    EXPECT_EQ(parse_shard_granule("1GiB"), gib);
    EXPECT_EQ(parse_shard_granule("512MiB"), 512 * mib);
    EXPECT_EQ(parse_shard_granule("2"), 2 * gib);  // a bare number is GiB
    EXPECT_THROW((void)parse_shard_granule("0"), usage_error);
    EXPECT_THROW((void)parse_shard_granule("lots"), usage_error);
    try {
        (void)parse_shard_granule("0MiB", "--granule");
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("--granule '0MiB'"), std::string::npos) << e.what();
    }
}

TEST(SlurmGresConf, TextForTwoGpus) {
    const gres_plan plan = plan_gres("gpu01", {{0, "H100", 80 * gib, 2 * gib}, {1, "H100", 80 * gib, 2 * gib}}, gib);
    EXPECT_EQ(plan.total_shards, 156U);
    const std::string gres = gres_conf_text(plan);
    EXPECT_NE(gres.find("shard granule 1.00 GiB (1073741824 bytes)"), std::string::npos) << gres;
    EXPECT_NE(gres.find("# GPU 0 H100: usable 80.00 GiB - headroom 2.00 GiB = 78 shards"), std::string::npos) << gres;
    EXPECT_NE(gres.find("\nName=gpu File=/dev/nvidia0\nName=gpu File=/dev/nvidia1\n"
                        "Name=shard Count=78 File=/dev/nvidia0\nName=shard Count=78 File=/dev/nvidia1\n"),
              std::string::npos)
        << gres;
    const std::string conf = slurm_conf_text(plan);
    EXPECT_NE(conf.find("\nGresTypes=gpu,shard\nNodeName=gpu01 Gres=gpu:2,shard:156\n"), std::string::npos) << conf;
    // What it writes, it reads back: 78 per GPU.
    const auto nodes = parse_gres_conf(gres);
    ASSERT_EQ(nodes.size(), 1U);
    ASSERT_EQ(nodes[0].groups.size(), 1U);
    EXPECT_EQ(nodes[0].groups[0].gpus, 2U);
    EXPECT_EQ(nodes[0].groups[0].shards, 156U);
    EXPECT_EQ(nodes[0].groups[0].per_gpu, (std::vector<std::uint64_t>{78, 78}));
    EXPECT_EQ(gres.find("WARNING"), std::string::npos) << gres;  // equal GPUs: no warning
    // Unequal GPUs: 12 and 24 shards, and the warning about Slurm 22.05's even spread.
    const std::string unequal = gres_conf_text(plan_gres("n", {{0, "a", 12 * gib, 0}, {1, "b", 24 * gib, 0}}, gib));
    EXPECT_NE(unequal.find("# WARNING: unequal shard counts (12 to 24)"), std::string::npos) << unequal;
    const shard_check c = check_shards(parse_gres_conf(unequal), 20);
    EXPECT_TRUE(c.fits);
    EXPECT_TRUE(c.unequal);
    EXPECT_NE(c.reason.find("spreads a node's shards evenly"), std::string::npos) << c.reason;
    EXPECT_THROW((void)plan_gres("", {{0, "x", gib, 0}}, gib), usage_error);
    EXPECT_THROW((void)plan_gres("n1", {}, gib), usage_error);
    EXPECT_THROW((void)plan_gres("n1", {{0, "x", gib - 1, 0}}, gib), usage_error);  // no whole shard
}

TEST(SlurmGresConf, ParserRangesCountsAndNodes) {
    const auto nodes = parse_gres_conf(
        "# comment\n"
        "AutoDetect=off\n"
        "NodeName=a[1-2] Name=gpu Type=a100 File=/dev/nvidia[0-3]\n"
        "NodeName=a[1-2] Name=shard Type=a100 Count=42 File=/dev/nvidia[0-3]  # 11, 11, 10, 10\n"
        "nodename=b name=shard count=1K file=/dev/nvidia0\n"
        "NodeName=b Name=gpu File=/dev/nvidia0 Cores=0-7\n"
        "Name=mps Count=100\n");
    ASSERT_EQ(nodes.size(), 2U);
    EXPECT_EQ(nodes[0].node, "a[1-2]");
    ASSERT_EQ(nodes[0].groups.size(), 1U);
    EXPECT_EQ(nodes[0].groups[0].type, "a100");
    EXPECT_EQ(nodes[0].groups[0].gpus, 4U);
    EXPECT_EQ(nodes[0].groups[0].per_gpu, (std::vector<std::uint64_t>{11, 11, 10, 10}));
    EXPECT_EQ(nodes[1].groups[0].per_gpu, (std::vector<std::uint64_t>{1024}));
    EXPECT_THROW((void)parse_gres_conf("Name=shard Count=ten File=/dev/nvidia0\n"), usage_error);
    EXPECT_THROW((void)parse_gres_conf("Name=shard Count=1 File=/dev/nvidia[3-1]\n"), usage_error);
    EXPECT_THROW((void)parse_gres_conf("Count=1 File=/dev/nvidia0\n"), usage_error);
    EXPECT_THROW((void)parse_gres_conf("Name=shard Count=99999999999999999999\n"), usage_error);
    EXPECT_THROW((void)parse_gres_conf("Name=shard garbage\n"), usage_error);
}

TEST(SlurmScontrol, RealOutputOfSlurm2205) {
    // Captured by tests/slurm/real_slurm_test.sh from slurmctld 22.05.8 (two GPUs of 24 shards).
    for (const char* name : {"scontrol_show_node.txt", "scontrol_show_node_o.txt", "scontrol_show_node_d_busy.txt"}) {
        const auto nodes = parse_scontrol_nodes(read_data(name));
        ASSERT_EQ(nodes.size(), 1U) << name;
        EXPECT_EQ(nodes[0].node, "wvnode");
        ASSERT_EQ(nodes[0].groups.size(), 1U) << name;
        EXPECT_EQ(nodes[0].groups[0].gpus, 2U);
        EXPECT_EQ(nodes[0].groups[0].shards, 48U);  // 22.05 prints shard:SUM only
        EXPECT_TRUE(nodes[0].groups[0].per_gpu.empty());
        // Assumed even: 24 per GPU.
        EXPECT_TRUE(check_shards(nodes, 24).fits);
        const shard_check no = check_shards(nodes, 25);
        EXPECT_FALSE(no.fits);
        EXPECT_TRUE(no.assumed_even);
        EXPECT_EQ(no.best_gpu_shards, 24U);
        EXPECT_NE(no.reason.find("assumed spread evenly"), std::string::npos) << no.reason;
    }
    // The gres.conf the same run used has the real per-GPU counts: 24 fits on GPU 1, 25 nowhere.
    const auto gres = parse_gres_conf(read_data("gres.conf"));
    EXPECT_TRUE(check_shards(gres, 24).fits);
    const shard_check no = check_shards(gres, 25);
    EXPECT_FALSE(no.fits);
    EXPECT_FALSE(no.assumed_even);
    EXPECT_NE(no.reason.find("the most any single GPU has is 24"), std::string::npos) << no.reason;
}

TEST(SlurmScontrol, TypedGresAndSeveralNodes) {
    const auto nodes = parse_scontrol_nodes(
        "NodeName=n1 Arch=x86_64 Gres=gpu:a100:2(S:0-1),shard:a100:80(S:0,1) State=IDLE\n"
        "NodeName=n2 Arch=x86_64 Gres=gpu:v100:1,gpu:a100:1,shard:v100:16,shard:a100:40 State=IDLE\n"
        "NodeName=n3 Gres=(null)\n");
    ASSERT_EQ(nodes.size(), 3U);
    EXPECT_EQ(nodes[0].groups[0].shards, 80U);
    EXPECT_EQ(nodes[0].groups[0].gpus, 2U);
    ASSERT_EQ(nodes[1].groups.size(), 2U);
    EXPECT_TRUE(nodes[2].groups.empty());
    // 40 per GPU on n1 and on n2's a100: 40 fits (n1 first), 41 does not.
    const shard_check yes = check_shards(nodes, 40);
    EXPECT_TRUE(yes.fits);
    EXPECT_EQ(yes.node, "n1");
    EXPECT_FALSE(check_shards(nodes, 41).fits);
    EXPECT_THROW((void)parse_scontrol_nodes("NodeName=x Gres=gpu:two\n"), usage_error);
    EXPECT_THROW((void)parse_scontrol_nodes("NodeName=x Gres=gpu\n"), usage_error);
    EXPECT_FALSE(check_shards({}, 1).fits);
}

TEST(SlurmJobCap, FromTheJobsVariables) {
    const auto cap = job_cap_from_slurm("42", "10", gib);
    ASSERT_TRUE(cap);
    EXPECT_EQ(cap->bytes, 10 * gib);
    EXPECT_NE(cap->source.find("SLURM_SHARDS_ON_NODE=10 x 1.00 GiB"), std::string::npos) << cap->source;
    EXPECT_EQ(job_cap_from_slurm("42", "3", 512 * mib)->bytes, 1536 * mib);
    EXPECT_FALSE(job_cap_from_slurm(std::nullopt, "10", gib));  // not in a job
    EXPECT_FALSE(job_cap_from_slurm("42", std::nullopt, gib));  // a job without shards
    EXPECT_FALSE(job_cap_from_slurm("", "10", gib));
    try {
        (void)job_cap_from_slurm("42", "ten", gib);
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("SLURM_SHARDS_ON_NODE='ten'"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)job_cap_from_slurm("42", "99999999999", gib), usage_error);  // × 2^30 overflows
}

TEST(SlurmJobCap, SchedulerRefusesAboveTheCapAndAdmitsAtIt) {
    scheduler_options options;
    options.job_cap_bytes = 10 * gib;
    options.job_cap_source = "Slurm job 7's shards (SLURM_SHARDS_ON_NODE=10 x 1.00 GiB)";
    scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("80GiB")), std::make_shared<memory_ledger>(),
                    options);
    reserve_request r;
    r.model = "large-v3";
    r.timeout = std::chrono::milliseconds(0);
    r.bytes = 10 * gib + 1;  // one byte over the job's shards: refused though the GPU has 80 GiB free
    auto over = sched.reserve(r);
    EXPECT_EQ(over.status, reserve_status::never_fits);
    EXPECT_NE(over.message.find("SLURM_SHARDS_ON_NODE=10"), std::string::npos) << over.message;
    r.bytes = 10 * gib;  // exactly the cap: granted
    auto at = sched.reserve(r);
    EXPECT_EQ(at.status, reserve_status::granted) << at.message;
}

TEST(SlurmJobCap, FacadeReadsTheEnvironmentWithItsGranule) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("wv-slurm-facade-{}", ::getpid());
    std::filesystem::create_directories(dir);
    environment env;
    env.state_dir = dir.string();
    env.slurm_job_id = "7";
    env.slurm_shards_on_node = "10";
    manager_options options = manager_options_from(env);
    EXPECT_EQ(options.shard_granule_bytes, gib);
    // large float16 30 s: 9.825 GiB recommended ≤ 10 GiB: granted; at 512 MiB shards (5 GiB cap): refused.
    {
        gpu_manager m(std::shared_ptr<gpu_probe>(make_simulated_probe("80GiB")), options);
        reserve_options ro;
        ro.request.model = "large";
        ro.timeout_seconds = 0;
        auto r = m.reserve(ro);
        EXPECT_EQ(r.status, reserve_status::granted) << r.message;
    }
    options.shard_granule_bytes = 512 * mib;
    {
        gpu_manager m(std::shared_ptr<gpu_probe>(make_simulated_probe("80GiB")), options);
        reserve_options ro;
        ro.request.model = "large";
        ro.timeout_seconds = 0;
        auto r = m.reserve(ro);
        EXPECT_EQ(r.status, reserve_status::never_fits);
        EXPECT_NE(r.message.find("5.00 GiB"), std::string::npos) << r.message;
    }
    std::filesystem::remove_all(dir);
}

TEST(CliSlurm, GresConfFromSimulatedGpus) {
    auto r = cli("slurm gres-conf --simulate 80GiB,80GiB --headroom 2GiB --node gpu01 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["total_shards"], 156);
    EXPECT_EQ(j["gpus"][1]["shards"], 78);
    EXPECT_EQ(j["gpus"][1]["device_file"], "/dev/nvidia1");
    EXPECT_EQ(j["granule_bytes"], gib);
    r = cli("slurm gres-conf --simulate 12GiB,24GiB --node n --only slurm.conf");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("NodeName=n Gres=gpu:2,shard:36\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Name=shard"), std::string::npos) << r.out;
    r = cli("slurm gres-conf --simulate 24GiB --node n --granule 512MiB --only gres.conf");
    EXPECT_NE(r.out.find("Name=shard Count=48 File=/dev/nvidia0\n"), std::string::npos) << r.out;
    EXPECT_EQ(cli("slurm gres-conf --simulate 24GiB --node n --granule 0").status, 2);
    r = cli("slurm gres-conf --simulate 24GiB --node n --headroom 24GiB");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--headroom 24.00 GiB"), std::string::npos) << r.err;
    EXPECT_EQ(cli("slurm gres-conf --simulate 24GiB --node n --only both").status, 2);
    EXPECT_EQ(cli("slurm gres-conf --node n").status, 3);  // no GPU information
    EXPECT_EQ(cli("slurm").status, 2);                     // a sub-subcommand is required
}

TEST(CliSlurm, RequestAndChecks) {
    auto r = cli("slurm request large --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["shards"], 10);  // 9.825 GiB → 10
    EXPECT_EQ(j["option"], "--gres=shard:10");
    EXPECT_TRUE(j["check"].is_null());
    r = cli("slurm request large --granule 512MiB --option-only");
    EXPECT_EQ(r.out, "--gres=shard:20\n");  // 9.825 / 0.5 = 19.65 → 20
    r = cli("slurm request large");
    EXPECT_NE(r.out.find("#SBATCH --gres=shard:10\n"), std::string::npos) << r.out;

    // gres.conf with 24 and 24 shards: large (10) fits; at 256 MiB shards (40) it does not on one GPU.
    const auto gres = temp_file("gres.conf", read_data("gres.conf"));
    r = cli("slurm request large --check " + gres.string() + " --json");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(nlohmann::json::parse(r.out)["check"]["fits"].get<bool>());
    r = cli("slurm request large --granule 256MiB --check " + gres.string());  // 40 shards > 24
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("pending forever"), std::string::npos) << r.err;
    r = cli("slurm request large --granule 256MiB --option-only --check " + gres.string());
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");  // nothing for $(...) when the job cannot run
    // scontrol output (22.05, 48 shards on 2 GPUs: 24 assumed per GPU) from a file and "live".
    const auto node = temp_file("node.txt", read_data("scontrol_show_node.txt"));
    EXPECT_EQ(cli("slurm request large --check " + node.string()).status, 0);
    EXPECT_EQ(cli("slurm request large --granule 512MiB --check " + node.string()).status, 0);  // 20 ≤ 24
    EXPECT_EQ(cli("slurm request large --granule 384MiB --check " + node.string()).status, 1);  // 27 > 24
    const auto fake = temp_file("scontrol", "#!/bin/sh\ncat '" + node.string() + "'\n");
    std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
    EXPECT_EQ(cli("slurm request large --check-live --scontrol " + fake.string()).status, 0);
    r = cli("slurm request large --granule 384MiB --check-live --scontrol " + fake.string());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("the most any single GPU has is 24"), std::string::npos) << r.err;
    const auto broken =
        temp_file("scontrol-broken", "#!/bin/sh\necho 'slurm_load_node error: Unable to contact'\nexit 1\n");
    std::filesystem::permissions(broken, std::filesystem::perms::owner_all);
    r = cli("slurm request large --check-live --scontrol " + broken.string());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("Unable to contact"), std::string::npos) << r.err;
    EXPECT_EQ(cli("slurm request large --check /nonexistent/gres.conf").status, 2);
    EXPECT_EQ(cli("slurm request large --check " + gres.string() + " --check-live").status, 2);
    EXPECT_EQ(cli("slurm request large --granule 0").status, 2);
    EXPECT_EQ(cli("slurm request nosuchmodel").status, 2);
    for (const auto& p : {gres, node, fake, broken}) std::filesystem::remove(p);
}

}  // namespace
}  // namespace whisper_vram
