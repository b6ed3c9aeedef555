// The service's request parsing (apps/whisper-vram/serve_api.hpp, serve_leases.hpp) on any bytes:
// byte 0 picks what the rest is — a JSON body (b: estimate, check, solve, recommend, lease) or a
// query string (q) — and which endpoint. Expected: an api_error 400/404 with a message, or fields
// that map to a CLI argument vector whose options are `--name[=value]` of allowed options only
// (never one of the server's: --simulate, --calibration, --json-out, --help) and whose values
// follow a `--`.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.hpp"
#include "serve_api.hpp"
#include "serve_leases.hpp"

namespace whisper_vram::fuzz {
namespace {

const char* const endpoints[] = {"estimate", "check", "solve", "recommend", "gpus", "models"};

// Runs @p body; an api_error is an expected answer when it is a 400 or 404 with a message (and
// usage_error/state_error as every harness expects them). Returns true when @p body returned.
template <typename Body>
bool api_outcome(Body&& body) {
    bool returned = false;
    (void)expected_outcome([&] {
        try {
            body();
            returned = true;
        } catch (const cli::api_error& e) {
            require(e.status() == 400 || e.status() == 404, "api_error with a status other than 400/404");
            require(*e.what() != '\0', "api_error with an empty message");
            require(!e.code().empty(), "api_error without a code");
        }
    });
    return returned;
}

void check_args(const std::vector<std::string>& args) {
    require(!args.empty(), "no subcommand");
    bool json = false;
    bool positional = false;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (positional) continue;  // values: anything
        if (a == "--") {
            positional = true;
            continue;
        }
        if (a == "--json") {
            json = true;
            continue;
        }
        if (i == 1 && args[0] == "solve") continue;  // the solver
        require(a.size() > 2 && a.starts_with("--"), "an argument before '--' that is not an option");
        const std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
        for (const char* server_only : {"simulate", "calibration", "json-out", "json-fd", "help", "json"}) {
            require(name != server_only, "a request set a server option");
        }
    }
    require(json, "no --json");
}

void fuzz_serve_request(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    const unsigned selector = data[0];
    const auto text = as_text(data + 1, size - 1);
    const bool query = (selector & 0x80U) != 0;
    const unsigned which = (selector & 0x7FU) % 7;  // 0-5 endpoints, 6 = leases
    nlohmann::json fields;
    const bool parsed = api_outcome([&] { fields = query ? cli::parse_query(text) : cli::parse_body(text); });
    if (!parsed) return;
    require(fields.is_object(), "parsed fields are not an object");
    if (query) {
        for (const auto& [name, value] : fields.items()) {
            require(!name.empty(), "a query field without a name");
            require(value.is_string() || value.is_boolean() || value.is_array(), "a query value of another type");
        }
    }
    if (which == 6) {
        const environment env;
        const cli::lease_limits limits;
        (void)api_outcome([&] {
            const auto r = cli::parse_lease_request(fields, env, limits);
            require(r.ttl.count() > 0, "a lease without a TTL");
            require(r.ttl <= std::chrono::milliseconds(limits.max_ttl), "a TTL above the limit");
            require(r.wait <= std::chrono::milliseconds(limits.max_wait), "a wait above the limit");
        });
        return;
    }
    std::vector<std::string> args;
    if (api_outcome([&] { args = cli::api_args(endpoints[which], fields); })) check_args(args);
}

}  // namespace
}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("serve_request", fuzz_serve_request)
