// Model catalog: exact parameter counts (derived from openai/whisper model.py) and lookups.
#include <gtest/gtest.h>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/models.hpp"

namespace whisper_vram {
namespace {

struct expected_counts {
    const char* model;
    std::uint64_t encoder;
    std::uint64_t decoder;
    std::uint64_t total;
};

// whisper-facts.md §2 (derived from model.py): encoder without / total with the 1500·d buffer.
constexpr expected_counts published[] = {
    {"tiny", 7'632'384, 29'552'256, 37'760'640},
    {"tiny.en", 7'632'384, 29'551'872, 37'760'256},
    {"base", 19'822'592, 52'003'328, 72'593'920},
    {"base.en", 19'822'592, 52'002'816, 72'593'408},
    {"small", 87'002'112, 153'580'800, 241'734'912},
    {"small.en", 87'002'112, 153'580'032, 241'734'144},
    {"medium", 305'680'384, 456'641'536, 763'857'920},
    {"medium.en", 305'680'384, 456'640'512, 763'856'896},
    {"large-v1", 634'864'640, 906'520'320, 1'543'304'960},
    {"large-v2", 634'864'640, 906'520'320, 1'543'304'960},
    {"large-v3", 635'048'960, 906'521'600, 1'543'490'560},
    {"large", 635'048'960, 906'521'600, 1'543'490'560},
    {"large-v3-turbo", 635'048'960, 171'909'120, 808'878'080},
    {"distil-large-v2", 634'864'640, 119'435'520, 756'220'160},
    {"distil-large-v3", 635'048'960, 119'436'800, 756'405'760},
    {"distil-large-v3.5", 635'048'960, 119'436'800, 756'405'760},  // distil-large-v3's architecture
    {"distil-medium.en", 305'680'384, 87'158'784, 394'375'168},
    {"distil-small.en", 87'002'112, 77'978'112, 166'132'224},
};

TEST(Models, ExactParameterCounts) {
    for (const auto& p : published) {
        const auto counts = count_parameters(find_model(p.model).architecture);
        EXPECT_EQ(counts.encoder, p.encoder) << p.model;
        EXPECT_EQ(counts.decoder, p.decoder) << p.model;
        EXPECT_EQ(counts.total(), p.total) << p.model;
    }
}

TEST(Models, EveryCatalogModelIsCoveredAndNearItsPublishedFigure) {
    EXPECT_EQ(model_catalog().size(), std::size(published));
    for (const auto& m : model_catalog()) {
        const double total = static_cast<double>(count_parameters(m.architecture).total());
        // The READMEs round (39M for 37.76M, 1550M for 1543M…): the derived counts are within 4% of them.
        EXPECT_NEAR(total / static_cast<double>(m.published_parameters), 1.0, 0.04) << m.name;
    }
}

TEST(Models, AliasesAndCase) {
    EXPECT_EQ(find_model("turbo").name, "large-v3-turbo");
    EXPECT_EQ(find_model("LARGE-V2").name, "large-v2");
    EXPECT_EQ(find_model(" medium.en ").name, "medium.en");
    EXPECT_EQ(try_find_model("huge"), nullptr);
    EXPECT_THROW((void)find_model("huge"), usage_error);
}

TEST(Models, GuideRows) {
    EXPECT_EQ(find_model("large-v3").guide, guide_row::large);
    EXPECT_EQ(find_model("medium.en").guide, guide_row::medium);
    EXPECT_FALSE(find_model("turbo").guide.has_value());
    EXPECT_FALSE(find_model("distil-medium.en").guide.has_value());
    EXPECT_FALSE(find_model("distil-large-v3.5").guide.has_value());
    EXPECT_TRUE(find_model("distil-large-v3.5").distilled);
    EXPECT_EQ(find_model("distil-large-v3.5").architecture.decoder_layers, 2);
    EXPECT_EQ(find_model("distil-large-v3.5").architecture.n_mels, 128);
}

TEST(Models, NearestName) {
    const std::vector<std::string> names{"tiny", "medium", "large-v2"};
    EXPECT_EQ(nearest_name("larg-v2", names), "large-v2");
    EXPECT_EQ(nearest_name("MEDIUM", names), "medium");
    EXPECT_EQ(nearest_name("xxxxxxxxxxxx", names), "");
}

}  // namespace
}  // namespace whisper_vram
