// visible_gpus (CUDA_VISIBLE_DEVICES) and select_gpus (--gpus ids).
#include <gtest/gtest.h>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram {
namespace {

gpu_device gpu(unsigned index, std::string uuid, std::string bus) {
    gpu_device g;
    g.index = index;
    g.name = "NVIDIA L4";
    g.uuid = std::move(uuid);
    g.pci_bus_id = std::move(bus);
    return g;
}

// Three GPUs; two UUIDs share the prefix "GPU-8a3f".
gpu_snapshot three() {
    gpu_snapshot s{probe_source::nvml, {}, {}};
    s.gpus.push_back(gpu(0, "GPU-8a3f1111-aaaa-bbbb-cccc-000000000000", "00000000:01:00.0"));
    s.gpus.push_back(gpu(1, "GPU-8a3f2222-aaaa-bbbb-cccc-000000000000", "00000000:65:00.0"));
    s.gpus.push_back(gpu(2, "GPU-c0ffee00-aaaa-bbbb-cccc-000000000000", "00000001:B3:00.0"));
    mig_device m;
    m.uuid = "MIG-d00d0000-aaaa-bbbb-cccc-000000000000";
    s.gpus[2].mig_devices.push_back(m);
    return s;
}

std::vector<unsigned> nvml_indices(const std::vector<visible_gpu>& v) {
    std::vector<unsigned> out;
    for (const auto& g : v) out.push_back(g.device.index);
    return out;
}

std::vector<unsigned> cuda_indices(const std::vector<visible_gpu>& v) {
    std::vector<unsigned> out;
    for (const auto& g : v) out.push_back(g.cuda_index);
    return out;
}

using list = std::vector<unsigned>;

TEST(VisibleGpus, UnsetShowsAllWithNvmlIndices) {
    const auto v = visible_gpus(three(), std::nullopt);
    EXPECT_EQ(nvml_indices(v), (list{0, 1, 2}));
    EXPECT_EQ(cuda_indices(v), (list{0, 1, 2}));
}

TEST(VisibleGpus, EmptyValueHidesEveryGpu) {
    EXPECT_TRUE(visible_gpus(three(), std::string()).empty());
    EXPECT_TRUE(visible_gpus(three(), std::string("-1")).empty());  // the usual "no GPU" idiom
}

TEST(VisibleGpus, IndicesRenumberInListedOrder) {
    const auto v = visible_gpus(three(), std::string("2,0"));
    EXPECT_EQ(nvml_indices(v), (list{2, 0}));
    EXPECT_EQ(cuda_indices(v), (list{0, 1}));
}

TEST(VisibleGpus, StopsAtTheFirstInvalidEntry) {
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("1,7,0"))), (list{1}));  // 7 does not exist
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("1,x,0"))), (list{1}));  // not an id
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("1,1,0"))), (list{1}));  // listed twice
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("0,,2"))), (list{0}));   // empty entry
    EXPECT_TRUE(visible_gpus(three(), std::string("3")).empty());
}

TEST(VisibleGpus, UuidsAndUniquePrefixes) {
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("GPU-c0ffee00-aaaa-bbbb-cccc-000000000000,0"))),
              (list{2, 0}));
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("GPU-8a3f2,GPU-c0"))), (list{1, 2}));
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("gpu-C0FFEE"))), (list{2}));  // hex case does not matter
    // An ambiguous prefix is invalid, so parsing stops there.
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("2,GPU-8a3f,0"))), (list{2}));
    // CUDA wants the "GPU-" prefix and knows no PCI ids: both stop the list.
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("0,c0ffee"))), (list{0}));
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("0,0000:65:00.0"))), (list{0}));
    EXPECT_TRUE(visible_gpus(three(), std::string("GPU-")).empty());
}

TEST(VisibleGpus, MigUuidSelectsItsGpu) {
    EXPECT_EQ(nvml_indices(visible_gpus(three(), std::string("MIG-d00d"))), (list{2}));
    EXPECT_TRUE(visible_gpus(three(), std::string("MIG-ffff")).empty());
}

TEST(SelectGpus, EmptyIdsSelectAllVisible) {
    const auto v = visible_gpus(three(), std::string("2,1"));
    EXPECT_EQ(nvml_indices(select_gpus(v, "")), (list{2, 1}));
    EXPECT_EQ(nvml_indices(select_gpus(v, "  ")), (list{2, 1}));
}

TEST(SelectGpus, IndexIdsAreCudaIndices) {
    const auto v = visible_gpus(three(), std::string("2,1"));
    EXPECT_EQ(nvml_indices(select_gpus(v, "0")), (list{2}));  // cuda:0 is NVML GPU 2 here
    EXPECT_EQ(nvml_indices(select_gpus(v, "1,0")), (list{1, 2}));
    EXPECT_EQ(nvml_indices(select_gpus(v, "0,0")), (list{2}));  // a repeat is selected once
    EXPECT_THROW((void)select_gpus(v, ","), usage_error);       // an empty item is a typo, not "all"
    EXPECT_THROW((void)select_gpus(v, "0,"), usage_error);
    try {
        (void)select_gpus(v, "2");  // NVML 2 exists, but CUDA index 2 does not
        FAIL() << "expected usage_error";
    } catch (const usage_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("GPU id '2' does not exist"), std::string::npos) << m;
        EXPECT_NE(m.find("0 (NVIDIA L4, GPU-c0ffee00"), std::string::npos) << m;  // names the GPUs there are
    }
}

TEST(SelectGpus, UuidPrefixWithOrWithoutGpuDash) {
    const auto v = visible_gpus(three(), std::nullopt);
    EXPECT_EQ(nvml_indices(select_gpus(v, "GPU-c0ffee")), (list{2}));
    EXPECT_EQ(nvml_indices(select_gpus(v, "c0ffee")), (list{2}));
    EXPECT_EQ(nvml_indices(select_gpus(v, "8a3f2")), (list{1}));
    EXPECT_EQ(nvml_indices(select_gpus(v, "MIG-d00d")), (list{2}));
}

TEST(SelectGpus, AmbiguousPrefixIsAUsageError) {
    const auto v = visible_gpus(three(), std::nullopt);
    try {
        (void)select_gpus(v, "GPU-8a3f");
        FAIL() << "expected usage_error";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("matches 2 GPUs"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)select_gpus(v, "GPU-"), usage_error);
}

TEST(SelectGpus, PciBusIdsInEitherDomainWidth) {
    const auto v = visible_gpus(three(), std::nullopt);
    EXPECT_EQ(nvml_indices(select_gpus(v, "00000000:65:00.0")), (list{1}));  // NVML's 8-digit domain
    EXPECT_EQ(nvml_indices(select_gpus(v, "0000:65:00.0")), (list{1}));      // lspci / nvidia-smi's 4 digits
    EXPECT_EQ(nvml_indices(select_gpus(v, "65:00.0")), (list{1}));           // no domain = domain 0
    EXPECT_EQ(nvml_indices(select_gpus(v, "0001:b3:00.0")), (list{2}));      // domain 1, lower-case hex
    // Not a suffix match: bus 05 is not bus 65, and domain 1's b3 is not domain 0's.
    EXPECT_THROW((void)select_gpus(v, "5:00.0"), usage_error);
    EXPECT_THROW((void)select_gpus(v, "0000:b3:00.0"), usage_error);
    EXPECT_THROW((void)select_gpus(v, ":00.0"), usage_error);
}

TEST(SelectGpus, HiddenGpusCannotBeSelected) {
    const auto v = visible_gpus(three(), std::string("0"));
    EXPECT_THROW((void)select_gpus(v, "GPU-c0ffee"), usage_error);
    EXPECT_THROW((void)select_gpus(v, "0000:65:00.0"), usage_error);
    EXPECT_THROW((void)select_gpus(visible_gpus(three(), std::string()), "0"), usage_error);
}

}  // namespace
}  // namespace whisper_vram
