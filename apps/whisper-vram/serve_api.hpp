#pragma once
// The JSON API of `whisper-vram serve` as the CLI: each endpoint is a subcommand, a request's fields
// are the subcommand's options in snake_case, and the response is what `--json` prints. The mapping
// (request → argument vector) is pure and testable without a socket; run_api() runs it in-process.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/facade/environment.hpp"

namespace whisper_vram::cli {

/// A request the API refuses: the HTTP status, the error code (`bad_request`, `not_found`, …) and
/// the detail shown to the client (`{"error": code, "detail": what()}`).
class api_error : public std::runtime_error {
public:
    api_error(int status, std::string code, const std::string& detail)
        : std::runtime_error(detail), status_(status), code_(std::move(code)) {}
    [[nodiscard]] int status() const noexcept { return status_; }
    [[nodiscard]] const std::string& code() const noexcept { return code_; }

private:
    int status_;
    std::string code_;
};

/// `{"error": code, "detail": detail}` as the API writes it (one line).
std::string error_body(std::string_view code, std::string_view detail);

/// Parses a request body: a JSON object (an empty body is `{}`).
/// @throws api_error 400 for malformed JSON or anything but an object, naming what was found.
nlohmann::json parse_body(std::string_view body);

/// Parses a query string (`a=b&c=d`, percent-encoded, `+` = space) into an object of strings; a
/// field repeated becomes an array of its values (read as a comma list). A field without `=` is
/// `true` (a flag).
/// @throws api_error 400 for a bad percent escape or an empty field name.
nlohmann::json parse_query(std::string_view query);

/// The endpoints answered by a CLI subcommand: estimate (calc), check, solve (solve SOLVER), recommend,
/// gpus, models.
const std::vector<std::string>& api_endpoints();

/// The fields @p endpoint accepts, sorted (its subcommand's options in snake_case, the positional
/// `model`, solve's `solver`, the aliases).
/// @throws api_error 404 when @p endpoint is not one of api_endpoints().
std::vector<std::string> allowed_fields(std::string_view endpoint);

/// The argument vector of the subcommand for @p endpoint with @p fields, `--json` after the
/// subcommand (the command line that prints the answer; the service's trees skip the word): a
/// field `segment` becomes `--segment=VALUE`, a boolean `true` a flag, an array a comma list, a
/// null is as if not given; `model` is the positional argument.
/// @throws api_error 400 naming an unknown field (and listing the allowed ones) or a value of the
///         wrong type; 404 for an unknown endpoint.
std::vector<std::string> api_args(std::string_view endpoint, const nlohmann::json& fields);

/// The arguments for the options of @p command that @p fields names (snake_case names; see
/// api_args), in the order of @p fields; @p extra_fields are accepted and skipped, @p aliases map a
/// request name to the option's snake_case name. Positional options come last, after `--`.
/// @throws api_error 400 as api_args.
std::vector<std::string> fields_to_args(const CLI::App& command, const nlohmann::json& fields,
                                        const std::vector<std::string>& extra_fields, std::string_view what);

/// The fields fields_to_args() accepts for @p command (and @p extra_fields), sorted.
std::vector<std::string> command_fields(const CLI::App& command, const std::vector<std::string>& extra_fields = {});

/// A response: HTTP status and JSON body.
struct api_response {
    int status = 200;
    std::string body;
};

/// Runs @p endpoint for @p fields through the endpoint's subcommand in this process, with @p env
/// (thread-safe: each thread sets the subcommand up once, for its own calls): exit 0 → 200 with
/// what --json printed; 1 (does not fit: a verdict) → 200 too; 2 → 400 `bad_request` with the
/// CLI's message; 3 → 503 `gpu_unavailable`; anything else → 500.
/// Warnings the CLI printed are passed to @p warnings (one line each) when given.
api_response run_api(std::string_view endpoint, const nlohmann::json& fields, const environment& env,
                     std::vector<std::string>* warnings = nullptr);

/// run_api() for the arguments api_args() made for @p endpoint (when the caller needed them too).
api_response run_api_args(std::string_view endpoint, const std::vector<std::string>& args, const environment& env,
                          std::vector<std::string>* warnings = nullptr);

/// The GPU catalog as `{"gpus": [to_json(gpu_model)…]}` (GET /api/v1/gpu-catalog).
std::string gpu_catalog_body();

}  // namespace whisper_vram::cli
