// The service's pure parts, without a socket: request → CLI arguments, query strings, the token
// comparison, the loopback rule, profiles and the metrics text.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "serve_api.hpp"
#include "serve_http.hpp"
#include "serve_leases.hpp"
#include "serve_memo.hpp"
#include "serve_metrics.hpp"
#include "support/cli_in_process.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram::cli {
namespace {

using strings = std::vector<std::string>;

int status_of(const std::function<void()>& f, std::string* detail = nullptr) {
    try {
        f();
    } catch (const api_error& e) {
        if (detail != nullptr) *detail = e.what();
        return e.status();
    }
    return 0;
}

TEST(ServeApiArgs, FieldsBecomeTheSubcommandsOptions) {
    // nlohmann::json orders keys: diarize, engine, model, segment.
    const auto args =
        api_args("estimate", {{"model", "medium"}, {"segment", 60}, {"diarize", true}, {"engine", "whisperx"}});
    EXPECT_EQ(args, (strings{"calc", "--json", "--diarize", "--engine=whisperx", "--segment=60", "--", "medium"}));
}

TEST(ServeApiArgs, ArraysAreCommaListsFalseFlagsAndNullsAreOmitted) {
    const auto args =
        api_args("check", {{"model", "large"}, {"batch", {1, 2, 4}}, {"no_align", false}, {"gpu", nullptr}});
    EXPECT_EQ(args, (strings{"check", "--json", "--batch=1,2,4", "--", "large"}));
}

TEST(ServeApiArgs, IssueNamesAreAliasesOfTheCliOptions) {
    const auto args =
        api_args("estimate", {{"model", "small"}, {"segment_duration", 120}, {"batch_size", 2}, {"beam_size", 5}});
    EXPECT_EQ(args, (strings{"calc", "--json", "--batch=2", "--beam=5", "--segment=120", "--", "small"}));
    std::string detail;
    EXPECT_EQ(status_of([] { (void)api_args("estimate", {{"segment", 60}, {"segment_duration", 60}}); }, &detail), 400);
    EXPECT_NE(detail.find("given twice"), std::string::npos) << detail;
}

TEST(ServeApiArgs, ValuesThatLookLikeOptionsStayValues) {
    // '--model=--simulate=x' would be an option on a command line; here it is the model's value.
    const auto args = api_args("estimate", {{"model", "--simulate=24GiB"}, {"precision", "--json"}});
    EXPECT_EQ(args, (strings{"calc", "--json", "--precision=--json", "--", "--simulate=24GiB"}));
}

TEST(ServeApiArgs, SolveTakesItsSolverAsAField) {
    const auto args = api_args("solve", {{"solver", "max_batch"}, {"model", "medium"}, {"memory", "8"}});
    EXPECT_EQ(args, (strings{"solve", "max-batch", "--json", "--memory=8", "--", "medium"}));
    std::string detail;
    EXPECT_EQ(status_of([] { (void)api_args("solve", {{"solver", "fastest"}}); }, &detail), 400);
    EXPECT_NE(detail.find("max-segment, max-batch, max-concurrent, min-memory"), std::string::npos) << detail;
    EXPECT_EQ(status_of([] { (void)api_args("solve", {{"model", "medium"}}); }), 400);
}

TEST(ServeApiArgs, UnknownFieldsAreNamedWithTheAllowedOnes) {
    std::string detail;
    EXPECT_EQ(status_of([] { (void)api_args("estimate", {{"model", "medium"}, {"bogus", 1}}); }, &detail), 400);
    EXPECT_NE(detail.find("unknown field 'bogus'"), std::string::npos) << detail;
    EXPECT_NE(detail.find("segment"), std::string::npos) << detail;
    EXPECT_NE(detail.find("preset"), std::string::npos) << detail;  // calc's own option
    // The server's options are not the client's.
    for (const char* field : {"simulate", "json", "help", "calibration"}) {
        EXPECT_EQ(status_of([&] { (void)api_args("check", {{"model", "large"}, {field, "x"}}); }), 400) << field;
    }
    const auto allowed = allowed_fields("estimate");
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), "flash_attention"), allowed.end());
    EXPECT_EQ(std::find(allowed.begin(), allowed.end(), "simulate"), allowed.end());
}

TEST(ServeApiArgs, WrongTypesAreRefused) {
    EXPECT_EQ(status_of([] { (void)api_args("estimate", {{"diarize", "yes"}}); }), 400);       // flag: bool only
    EXPECT_EQ(status_of([] { (void)api_args("estimate", {{"segment", true}}); }), 400);        // value: no bool
    EXPECT_EQ(status_of([] { (void)api_args("estimate", {{"segment", {{"a", 1}}}}); }), 400);  // no object
    EXPECT_EQ(status_of([] { (void)api_args("estimate", {{"batch", nlohmann::json::array()}}); }), 400);
    EXPECT_EQ(status_of([] { (void)api_args("nothing", nlohmann::json::object()); }), 404);
}

TEST(ServeApiBody, OnlyAJsonObjectIsABody) {
    EXPECT_EQ(parse_body(""), nlohmann::json::object());
    EXPECT_EQ(parse_body(R"({"model":"tiny"})")["model"], "tiny");
    EXPECT_EQ(status_of([] { (void)parse_body("{\"model\":"); }), 400);
    EXPECT_EQ(status_of([] { (void)parse_body("[1,2]"); }), 400);
    EXPECT_EQ(status_of([] { (void)parse_body("\"medium\""); }), 400);
}

TEST(ServeApiQuery, PercentDecodingRepeatsAndFlags) {
    const auto q = parse_query("model=large-v3&gpu=RTX+3090&engine=faster%2Dwhisper&segment=30&segment=60&staged&&");
    EXPECT_EQ(q["model"], "large-v3");
    EXPECT_EQ(q["gpu"], "RTX 3090");
    EXPECT_EQ(q["engine"], "faster-whisper");
    EXPECT_EQ(q["segment"], nlohmann::json::array({"30", "60"}));
    EXPECT_EQ(q["staged"], true);
    EXPECT_EQ(api_args("estimate", q), (strings{"calc", "--json", "--engine=faster-whisper", "--gpu=RTX 3090",
                                                "--segment=30,60", "--staged", "--", "large-v3"}));
    EXPECT_EQ(status_of([] { (void)parse_query("model=%4"); }), 400);
    EXPECT_EQ(status_of([] { (void)parse_query("model=%zz"); }), 400);
    EXPECT_EQ(status_of([] { (void)parse_query("=medium"); }), 400);
}

TEST(ServeLeaseRequest, FieldsAndLimits) {
    const environment env;
    const lease_limits limits;
    const auto r = parse_lease_request({{"model", "large-v3"},
                                        {"engine", "faster-whisper"},
                                        {"precision", "int8"},
                                        {"ttl_seconds", 30},
                                        {"wait_seconds", 0.5}},
                                       env, limits);
    EXPECT_EQ(r.job.model, "large-v3");
    EXPECT_EQ(r.job.engine, "faster-whisper");
    EXPECT_EQ(r.ttl, std::chrono::milliseconds(30000));
    EXPECT_EQ(r.wait, std::chrono::milliseconds(500));
    const auto d = parse_lease_request({{"model", "tiny"}}, env, limits);
    EXPECT_EQ(d.ttl, std::chrono::milliseconds(60000));  // lease_limits::default_ttl
    EXPECT_EQ(d.wait, std::chrono::milliseconds(0));
    std::string detail;
    EXPECT_EQ(status_of([&] { (void)parse_lease_request({{"engine", "guide"}}, env, limits); }, &detail), 400);
    EXPECT_NE(detail.find("'model' is required"), std::string::npos) << detail;
    EXPECT_EQ(status_of([&] { (void)parse_lease_request({{"model", "tiny"}, {"ttl_seconds", 0}}, env, limits); }), 400);
    EXPECT_EQ(status_of([&] {
                  (void)parse_lease_request({{"model", "tiny"}, {"ttl_seconds", 86401}}, env, limits);
              }),
              400);
    EXPECT_EQ(status_of([&] {
                  (void)parse_lease_request({{"model", "tiny"}, {"wait_seconds", -1}}, env, limits);
              }),
              400);
    EXPECT_EQ(status_of([&] {
                  (void)parse_lease_request({{"model", "tiny"}, {"policy", "random"}}, env, limits);
              }),
              400);
    EXPECT_EQ(status_of([&] { (void)parse_lease_request({{"model", "tiny"}, {"batch", "0"}}, env, limits); }), 400);
    EXPECT_EQ(status_of([&] { (void)parse_lease_request({{"model", "tiny"}, {"gpus", ""}}, env, limits); }), 400);
    EXPECT_EQ(status_of(
                  [&] {
                      (void)parse_lease_request({{"model", "tiny"}, {"bogus", 1}}, env, limits);
                  },
                  &detail),
              400);
    EXPECT_NE(detail.find("ttl_seconds"), std::string::npos) << detail;  // the allowed list
}

// serve sets each endpoint's subcommand up once per thread and parses it again for every request
// (command_tree): each answer must be what a fresh `whisper-vram ...` prints for the same fields,
// whatever the requests before it on the thread set. Each step sets options that the next leaves
// out; failures (a bad value after the parse, a parse error) come between. Without the options
// restored before each parse, "medium" after "large-v3 --engine faster-whisper" would still be a
// faster-whisper estimate, and "small" after "--preset balanced" a conflicting preset.
TEST(ServeApiReuse, EveryAnswerIsAFreshRunsWhateverCameBefore) {
    using json = nlohmann::json;
    const environment env = test::simulated_environment("RTX 3090,8GiB");
    const std::vector<std::pair<std::string, json>> steps = {
        {"estimate",
         {{"model", "large-v3"},
          {"engine", "faster-whisper"},
          {"precision", "int8"},
          {"batch", 16},
          {"beam", 2},
          {"gpu", "T4"},
          {"margin", 0.5}}},
        {"estimate", {{"model", "medium"}}},
        {"estimate",
         {{"model", "large-v3"}, {"engine", "whisperx"}, {"language", "de"}, {"no_align", true}, {"diarize", true}}},
        {"estimate", {{"model", "large-v3"}, {"engine", "whisperx"}}},
        {"estimate", {{"preset", "balanced"}}},
        {"estimate", {{"model", "small"}, {"segment", 600}}},
        {"estimate", {{"model", "small"}, {"batch", "0"}}},                // refused by the core: exit 2
        {"estimate", {{"model", "small"}, {"flash_attention", "maybe"}}},  // refused
        // After `--` a "--json" is the model's name, not the flag a JSON tree skips: refused as one.
        {"estimate", {{"model", "--json"}}},
        {"estimate", {{"model", "tiny"}}},
        {"estimate", {{"model", "base"}, {"segment", "30,60"}, {"precision", "all"}}},  // a sweep
        {"estimate", {{"model", "base"}}},
        {"check", {{"model", "large"}, {"gpus", "1"}, {"batch", 8}, {"ignore_reservations", true}}},  // exit 1
        {"check", {{"model", "medium"}}},
        {"solve", {{"solver", "max-batch"}, {"model", "medium"}, {"memory", "8"}, {"segment", 60}}},
        {"solve", {{"solver", "max-batch"}, {"model", "medium"}, {"memory", "8"}}},
        {"solve", {{"solver", "max-segment"}, {"model", "medium"}, {"memory", "8"}, {"batch", 2}}},
        {"solve", {{"solver", "max-segment"}, {"model", "medium"}, {"memory", "8"}}},
        {"recommend", {{"gpu", "RTX 3090,T4"}, {"engine", "faster-whisper"}, {"english", true}}},
        {"recommend", {{"gpu", "T4"}}},
        {"gpus", json::object()},
        {"models", json::object()},
        {"estimate", {{"model", "medium"}}},
    };
    std::size_t answers = 0;
    for (const auto& [endpoint, fields] : steps) {
        const auto args = api_args(endpoint, fields);
        std::ostringstream out;
        std::ostringstream err;
        const int fresh = to_int(run(args, out, err, env));  // every subcommand, set up anew
        const api_response answer = run_api(endpoint, fields, env);
        const std::string step = fmt::format("/api/v1/{} {}", endpoint, fields.dump());
        if (fresh == 0 || fresh == 1) {
            EXPECT_EQ(answer.status, 200) << step << "\n" << answer.body;
            EXPECT_EQ(answer.body, out.str()) << step;
            ++answers;
        } else {
            EXPECT_EQ(fresh, 2) << step << "\n" << err.str();
            EXPECT_EQ(answer.status, 400) << step << "\n" << answer.body;
            // The same message: the CLI's first line, less its "whisper-vram: " prefix.
            const std::string first = err.str().substr(0, err.str().find('\n'));
            const std::string detail = json::parse(answer.body).value("detail", "");
            EXPECT_NE(first.find(detail.substr(0, detail.find("; "))), std::string::npos) << step << "\n"
                                                                                          << detail << "\n"
                                                                                          << first;
        }
    }
    EXPECT_EQ(answers, steps.size() - 3);  // three steps are refused
}

// A JSON tree (the service's): its answers are --json's with or without the word, as the CLI's.
TEST(ServeApiReuse, AJsonTreePrintsWhatJsonPrints) {
    const environment env = test::simulated_environment("RTX 3090");
    setup_function* const setups[] = {setup_calc, setup_solve};
    command_tree tree(setups, command_tree::output::json);
    const auto answer = [&](const strings& args) {
        std::ostringstream out;
        std::ostringstream err;
        EXPECT_EQ(tree.run(args, out, err, env), exit_status::ok) << err.str();
        return out.str();
    };
    const auto cli_answer = [&](const strings& args) {
        std::ostringstream out;
        std::ostringstream err;
        EXPECT_EQ(run(args, out, err, env), exit_status::ok) << err.str();
        return out.str();
    };
    const std::string calc_json = cli_answer({"calc", "--json", "--segment=60", "--", "medium"});
    EXPECT_TRUE(calc_json.starts_with("{\n  \"model\": \"medium\"")) << calc_json;
    EXPECT_EQ(answer({"calc", "--json", "--segment=60", "--", "medium"}), calc_json);
    EXPECT_EQ(answer({"calc", "--segment=60", "--", "medium"}), calc_json);
    EXPECT_EQ(answer({"calc", "--segment=60", "--json", "--json", "medium"}), calc_json);
    const strings solve = {"solve", "max-batch", "--json", "--memory=8", "--", "medium"};
    EXPECT_EQ(answer(solve), cli_answer(solve));
    EXPECT_EQ(answer({"solve", "max-batch", "--memory=8", "--", "medium"}), cli_answer(solve));
    // The plain CLI tree prints its table without --json.
    EXPECT_FALSE(cli_answer({"calc", "medium"}).starts_with("{"));
}

// The estimate memo (serve_memo.hpp): a key's answer within the TTL, nothing after it, nothing for
// another key; a newer key of the same slot replaces the older one; memory bounded by the slots.
TEST(ServeMemo, AnswersWithinTheTtlForTheSameKeyOnly) {
    using namespace std::chrono_literals;
    const answer_memo::clock_type::time_point t0{};
    answer_memo memo(64, 1s);
    EXPECT_EQ(memo.slot_count(), 64U);
    EXPECT_EQ(memo.find("a", t0), nullptr);
    const auto a = std::make_shared<const api_response>(api_response{200, "A"});
    memo.put("a", a, t0);
    EXPECT_EQ(memo.find("a", t0), a);
    EXPECT_EQ(memo.find("a", t0 + 999ms), a);
    EXPECT_EQ(memo.find("a", t0 + 1s), nullptr);  // the TTL is a strict bound
    EXPECT_EQ(memo.find("b", t0), nullptr);
    EXPECT_EQ(memo.find("", t0), nullptr);
    memo.put("a", std::make_shared<const api_response>(api_response{200, "A2"}), t0 + 2s);  // refreshed
    EXPECT_EQ(memo.find("a", t0 + 2500ms)->body, "A2");
}

TEST(ServeMemo, OneSlotHoldsTheNewestKeyAndFreesTheOlderAnswer) {
    using namespace std::chrono_literals;
    const answer_memo::clock_type::time_point t0{};
    answer_memo memo(1, 10s);
    auto a = std::make_shared<const api_response>(api_response{200, "A"});
    const std::weak_ptr<const api_response> watch = a;
    memo.put("a", std::move(a), t0);
    memo.put("b", std::make_shared<const api_response>(api_response{200, "B"}), t0);
    EXPECT_EQ(memo.find("a", t0), nullptr);  // replaced, not kept beside
    EXPECT_EQ(memo.find("b", t0)->body, "B");
    EXPECT_TRUE(watch.expired());                    // the memo held the only reference: freed on replacement
    EXPECT_EQ(answer_memo(0, 1s).slot_count(), 1U);  // at least one slot
}

TEST(ServeMemo, ManyKeysKeepAtMostOneAnswerPerSlotAndNeverAnotherKeys) {
    using namespace std::chrono_literals;
    const answer_memo::clock_type::time_point t0{};
    answer_memo memo(16, 10s);
    std::vector<std::weak_ptr<const api_response>> answers;
    for (int i = 0; i < 1000; ++i) {
        auto answer = std::make_shared<const api_response>(api_response{200, fmt::format("body {}", i)});
        answers.push_back(answer);
        memo.put(fmt::format("key {}", i), std::move(answer), t0);
    }
    std::size_t alive = 0;
    for (int i = 0; i < 1000; ++i) {
        if (answers[static_cast<std::size_t>(i)].expired()) continue;
        ++alive;
        const auto found = memo.find(fmt::format("key {}", i), t0);
        ASSERT_NE(found, nullptr) << i;  // alive means still in its slot
        EXPECT_EQ(found->body, fmt::format("body {}", i));
    }
    EXPECT_GE(alive, 1U);
    EXPECT_LE(alive, 16U);
}

TEST(ServeSecurity, TokenComparison) {
    EXPECT_TRUE(token_matches("s3cret-token", "s3cret-token"));
    EXPECT_FALSE(token_matches("s3cret-tokem", "s3cret-token"));
    EXPECT_FALSE(token_matches("s3cret", "s3cret-token"));  // a prefix
    EXPECT_FALSE(token_matches("s3cret-token-", "s3cret-token"));
    EXPECT_FALSE(token_matches("", "s3cret-token"));
    EXPECT_TRUE(token_matches("", ""));
}

TEST(ServeCompression, BrotliIsDroppedFromAcceptEncoding) {
    EXPECT_EQ(without_brotli("gzip, deflate, br"), "gzip, deflate");  // Chromium, Firefox
    EXPECT_EQ(without_brotli("br;q=1.0, gzip;q=0.8, *;q=0.1"), "gzip;q=0.8, *;q=0.1");
    EXPECT_EQ(without_brotli(" BR , gzip"), "gzip");
    EXPECT_EQ(without_brotli("br"), "");
    EXPECT_EQ(without_brotli("gzip"), "gzip");
    EXPECT_EQ(without_brotli("brotli, gzip"), "brotli, gzip");  // not the br coding
    EXPECT_EQ(without_brotli(",,identity,"), "identity");
    EXPECT_EQ(without_brotli(""), "");
}

TEST(ServeSecurity, LoopbackHosts) {
    for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"})
        EXPECT_TRUE(is_loopback_host(host)) << host;
    for (const char* host : {"0.0.0.0", "::", "192.0.2.1", "127.0.0.1.example.org", "127.example", ""}) {
        EXPECT_FALSE(is_loopback_host(host)) << host;
    }
}

TEST(ServeProfiles, ModelEnginePrecisionBatch) {
    const auto r = parse_profile("large-v3:faster-whisper:int8:16");
    EXPECT_EQ(r.model, "large-v3");
    EXPECT_EQ(r.engine, "faster-whisper");
    EXPECT_EQ(r.precision, "int8");
    EXPECT_EQ(r.batch_size, 16);
    EXPECT_THROW((void)parse_profile("large-v3:faster-whisper:int8"), usage_error);
    EXPECT_THROW((void)parse_profile("large-v3:faster-whisper:int8:0"), usage_error);
    EXPECT_THROW((void)parse_profile("huge:faster-whisper:int8:1"), usage_error);
    EXPECT_THROW((void)parse_profile("large-v3::int8:1"), usage_error);
}

TEST(ServeMetrics, LabelEscaping) {
    EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(escape_label_value("RTX 3090"), "RTX 3090");
}

TEST(ServeMetrics, HistogramIsCumulativeWithCountAndSum) {
    http_metrics m;
    m.observe_request("estimate", 200, 0.0009765625);  // 2^-10: ≤ 0.001
    m.observe_request("estimate", 200, 0.00390625);    // 2^-8: ≤ 0.005
    m.observe_request("estimate", 400, 20.0);          // only +Inf
    m.observe_request("other", 404, std::nullopt);
    m.count_admission("granted");
    m.count_admission("granted");
    metrics_input in;
    in.counters = m.snapshot();
    in.version = "1.2.3";
    const std::string text = render_metrics(in);
    const auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_bucket{handler="estimate",le="0.0005"} 0)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_bucket{handler="estimate",le="0.001"} 1)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_bucket{handler="estimate",le="0.005"} 2)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_bucket{handler="estimate",le="10"} 2)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_bucket{handler="estimate",le="+Inf"} 3)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_count{handler="estimate"} 3)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_request_duration_seconds_sum{handler="estimate"} 20.0048828125)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_requests_total{handler="estimate",code="200"} 2)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_http_requests_total{handler="other",code="404"} 1)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_admissions_total{result="granted"} 2)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_nvml_up 0)")) << text;
    EXPECT_TRUE(has(R"(whisper_vram_build_info{version="1.2.3",driver_version="",cuda_driver_version=""} 1)")) << text;
    EXPECT_EQ(text.find("_bucket{handler=\"other\""), std::string::npos);  // no duration known: no histogram
}

TEST(ServeMetrics, GpuFamiliesHaveHelpTypeAndLabels) {
    metrics_input in;
    in.nvml_up = true;
    in.gpus.push_back({"0", "GPU-1", "NVIDIA \"X\"", 100, 40, 60, 30, 20});
    in.leases = 3;
    in.job_capacity = {{"large-v3:faster-whisper:int8:16", 2}};
    const std::string text = render_metrics(in);
    for (const char* name : {"total", "used", "free", "reserved", "admittable"}) {
        const std::string family = fmt::format("whisper_vram_gpu_memory_{}_bytes", name);
        EXPECT_NE(text.find("# HELP " + family + " "), std::string::npos) << family;
        EXPECT_NE(text.find("# TYPE " + family + " gauge\n"), std::string::npos) << family;
    }
    EXPECT_NE(
        text.find(
            "whisper_vram_gpu_memory_total_bytes{gpu=\"0\",uuid=\"GPU-1\",model_name=\"NVIDIA \\\"X\\\"\"} 100\n"),
        std::string::npos)
        << text;
    EXPECT_NE(
        text.find(
            "whisper_vram_gpu_memory_admittable_bytes{gpu=\"0\",uuid=\"GPU-1\",model_name=\"NVIDIA \\\"X\\\"\"} 20\n"),
        std::string::npos);
    EXPECT_NE(text.find("whisper_vram_leases 3\n"), std::string::npos);
    EXPECT_NE(text.find("whisper_vram_job_capacity{profile=\"large-v3:faster-whisper:int8:16\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("whisper_vram_nvml_up 1\n"), std::string::npos);
}

}  // namespace
}  // namespace whisper_vram::cli
