// The API as the CLI: a request's fields become the matching subcommand's options (serve_api.hpp).

#include "serve_api.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "commands.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram::cli {
namespace {

// Options of the subcommands a request may not set: the output form is the API's, the GPUs and the
// calibration are the server's (serve --simulate / --calibration), files are not the client's.
constexpr std::array<std::string_view, 6> server_options = {"help",        "json",     "simulate",
                                                            "calibration", "json_out", "json_fd"};

bool is_server_option(std::string_view name) {
    return std::find(server_options.begin(), server_options.end(), name) != server_options.end();
}

// Names a request may use beside the CLI's: the keys the JSON results print (and the issue names).
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> field_aliases = {
    {{"segment_duration", "segment"}, {"batch_size", "batch"}, {"beam_size", "beam"}}};

// The option name @p name is an alias of, or nullptr.
const std::string_view* alias_target(std::string_view name) {
    for (const auto& [alias, target] : field_aliases) {
        if (alias == name) return &target;
    }
    return nullptr;
}

// The solvers of `solve`, as the CLI names them.
constexpr std::array<std::string_view, 4> solvers = {"max-segment", "max-batch", "max-concurrent", "min-memory"};

std::string solver_list() {
    std::string text;
    for (const auto s : solvers) text += (text.empty() ? "" : ", ") + std::string(s);
    return text;
}

struct endpoint_command {
    std::string endpoint;
    std::string subcommand;
    setup_function* setup;  // the subcommand's setup (the only one a request builds)
    std::string path;       // "/api/v1/<endpoint>", for messages
};

const std::vector<endpoint_command>& endpoint_table() {
    static const std::vector<endpoint_command> table = [] {
        std::vector<endpoint_command> t = {
            {"estimate", "calc", setup_calc, {}}, {"check", "check", setup_check, {}},
            {"solve", "solve", setup_solve, {}},  {"recommend", "recommend", setup_recommend, {}},
            {"gpus", "gpus", setup_gpus, {}},     {"models", "models", setup_models, {}}};
        for (auto& e : t) e.path = "/api/v1/" + e.endpoint;
        return t;
    }();
    return table;
}

std::string field_name(const CLI::Option& option);

// A command's options a request may set, by field name.
using option_map = std::map<std::string, const CLI::Option*, std::less<>>;

option_map make_request_options(const CLI::App& command) {
    option_map options;
    for (const CLI::Option* option : command.get_options()) {
        const std::string name = field_name(*option);
        if (name.empty() || is_server_option(name)) continue;
        options.emplace(name, option);
    }
    return options;
}

// The CLI's subcommands, set up once (read only afterwards: their option lists are what requests
// are checked against, never a hand copy), with each (sub)command's option_map made once too:
// a request looks its fields up there instead of walking the options again.
struct command_catalog {
    CLI::App app;
    command_action action;
    std::map<const CLI::App*, option_map> options;
    command_catalog() {
        for (const auto& e : endpoint_table()) e.setup(app, action);
        add_options(app);
    }
    void add_options(const CLI::App& command) {
        options.emplace(&command, make_request_options(command));
        for (const CLI::App* sub : command.get_subcommands({})) add_options(*sub);
    }
};

const command_catalog& commands() {
    static const command_catalog catalog;
    return catalog;
}

// request_options' answer: the catalog's map for its commands, else one made in @p made.
const option_map& request_options(const CLI::App& command, option_map& made) {
    const auto& catalog = commands();
    if (const auto it = catalog.options.find(&command); it != catalog.options.end()) return it->second;
    made = make_request_options(command);
    return made;
}

const endpoint_command& find_endpoint(std::string_view endpoint) {
    const auto& table = endpoint_table();
    const auto it = std::find_if(table.begin(), table.end(), [&](const auto& e) { return e.endpoint == endpoint; });
    if (it == table.end()) throw api_error(404, "not_found", fmt::format("no endpoint '{}'", endpoint));
    return *it;
}

std::string snake(std::string name) {
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

std::string kebab(std::string name) {
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : std::string(separator)) + item;
    return text;
}

// The field's name for @p option: its first long name in snake_case, or a positional's name.
std::string field_name(const CLI::Option& option) {
    if (option.get_positional()) return snake(option.get_name());
    const auto& names = option.get_lnames();
    return names.empty() ? std::string() : snake(names.front());
}

const char* type_name(const nlohmann::json& value) {
    switch (value.type()) {
        case nlohmann::json::value_t::object:
            return "an object";
        case nlohmann::json::value_t::array:
            return "an array";
        case nlohmann::json::value_t::string:
            return "a string";
        case nlohmann::json::value_t::boolean:
            return "a boolean";
        case nlohmann::json::value_t::null:
            return "null";
        default:
            return "a number";
    }
}

// One scalar value as the CLI's text: strings as they are, numbers as JSON writes them.
std::string scalar_text(const std::string& field, const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number()) return value.dump();
    throw api_error(
        400, "bad_request",
        fmt::format("field '{}' is {}: expected a string or a number (or an array of them)", field, type_name(value)));
}

std::string value_text(const std::string& field, const nlohmann::json& value) {
    if (!value.is_array()) return scalar_text(field, value);
    if (value.empty()) throw api_error(400, "bad_request", fmt::format("field '{}' is an empty array", field));
    std::vector<std::string> items;
    for (const auto& item : value) items.push_back(scalar_text(field, item));
    return join(items, ",");
}

int from_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view text) {
    std::string decoded;
    decoded.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            decoded += ' ';
        } else if (c == '%') {
            const int high = i + 2 < text.size() ? from_hex(text[i + 1]) : -1;
            const int low = high >= 0 ? from_hex(text[i + 2]) : -1;
            if (low < 0) {
                throw api_error(400, "bad_request",
                                fmt::format("query string: bad percent escape '{}' (expected %XX, X a hex digit)",
                                            text.substr(i, 3)));
            }
            decoded += static_cast<char>(high * 16 + low);
            i += 2;
        } else {
            decoded += c;
        }
    }
    return decoded;
}

std::string strip_cli_prefix(std::string line) {
    constexpr std::string_view prefix = "whisper-vram: ";
    if (line.starts_with(prefix)) line.erase(0, prefix.size());
    return line;
}

}  // namespace

std::string error_body(std::string_view code, std::string_view detail) {
    const nlohmann::ordered_json j{{"error", code}, {"detail", detail}};
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n';
}

nlohmann::json parse_body(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) throw api_error(400, "bad_request", "the body is not valid JSON: expected a JSON object");
    if (!j.is_object()) {
        throw api_error(400, "bad_request",
                        fmt::format("the body is {}: expected a JSON object of fields", type_name(j)));
    }
    return j;
}

nlohmann::json parse_query(std::string_view query) {
    nlohmann::json fields = nlohmann::json::object();
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        const std::string name = percent_decode(part.substr(0, eq));
        if (name.empty()) throw api_error(400, "bad_request", "query string: a field has no name");
        const nlohmann::json value =
            eq == std::string_view::npos ? nlohmann::json(true) : nlohmann::json(percent_decode(part.substr(eq + 1)));
        if (!fields.contains(name)) {
            fields[name] = value;
        } else {
            auto& slot = fields[name];
            if (!slot.is_array()) slot = nlohmann::json::array({slot});
            slot.push_back(value);
        }
    }
    return fields;
}

const std::vector<std::string>& api_endpoints() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> list;
        for (const auto& e : endpoint_table()) list.push_back(e.endpoint);
        return list;
    }();
    return names;
}

std::vector<std::string> command_fields(const CLI::App& command, const std::vector<std::string>& extra_fields) {
    std::set<std::string> names(extra_fields.begin(), extra_fields.end());
    option_map made;
    const auto& options = request_options(command, made);
    for (const auto& [name, option] : options) names.insert(name);
    for (const auto& [alias, target] : field_aliases) {
        if (options.contains(target)) names.insert(std::string(alias));
    }
    return {names.begin(), names.end()};
}

namespace {

// solve's subcommands all take the same options but for segment/batch: the union, for the list.
const CLI::App& solver_command(const std::string& solver) {
    return *commands().app.get_subcommand("solve")->get_subcommand(solver);
}

}  // namespace

std::vector<std::string> fields_to_args(const CLI::App& command, const nlohmann::json& fields,
                                        const std::vector<std::string>& extra_fields, std::string_view what) {
    if (!fields.is_object()) throw api_error(400, "bad_request", "expected a JSON object of fields");
    option_map made;
    const auto& options = request_options(command, made);
    std::vector<std::string> args;
    args.reserve(fields.size() + 2);
    std::vector<std::string> positionals;
    std::vector<const CLI::Option*> seen;  // a few fields: a list, not a set of names
    seen.reserve(fields.size());
    for (const auto& [given, value] : fields.items()) {
        if (std::find(extra_fields.begin(), extra_fields.end(), given) != extra_fields.end()) continue;
        std::string_view name = given;
        if (const auto* target = alias_target(name); target != nullptr && options.contains(*target)) name = *target;
        const auto it = options.find(name);
        if (it == options.end()) {
            throw api_error(400, "bad_request",
                            fmt::format("unknown field '{}' for {}; allowed: {}", given, what,
                                        join(command_fields(command, extra_fields), ", ")));
        }
        const CLI::Option& option = *it->second;
        if (std::find(seen.begin(), seen.end(), &option) != seen.end()) {
            throw api_error(400, "bad_request", fmt::format("field '{}' is given twice (as '{}' too)", name, given));
        }
        seen.push_back(&option);
        if (value.is_null()) continue;               // null: as if not given (the option's default)
        if (option.get_items_expected_max() == 0) {  // a flag
            if (!value.is_boolean()) {
                throw api_error(
                    400, "bad_request",
                    fmt::format("field '{}' is {}: it is a flag, expected true or false", given, type_name(value)));
            }
            if (value.get<bool>()) args.push_back("--" + kebab(std::string(name)));
            continue;
        }
        if (option.get_positional()) {
            positionals.push_back(value_text(given, value));
            continue;
        }
        const std::string text = value_text(given, value);
        std::string arg = "--";  // --name=value, the name in kebab-case
        arg.reserve(3 + name.size() + text.size());
        for (const char c : name) arg += c == '_' ? '-' : c;
        arg += '=';
        arg += text;
        args.push_back(std::move(arg));
    }
    if (!positionals.empty()) {
        args.emplace_back("--");
        args.insert(args.end(), positionals.begin(), positionals.end());
    }
    return args;
}

std::vector<std::string> allowed_fields(std::string_view endpoint) {
    const auto& e = find_endpoint(endpoint);
    if (e.subcommand == "solve") {
        std::set<std::string> names{"solver"};
        for (const auto solver : solvers) {
            for (auto& name : command_fields(solver_command(std::string(solver)), {})) names.insert(std::move(name));
        }
        return {names.begin(), names.end()};
    }
    return command_fields(*commands().app.get_subcommand(e.subcommand), {});
}

std::vector<std::string> api_args(std::string_view endpoint, const nlohmann::json& fields) {
    const auto& e = find_endpoint(endpoint);
    if (!fields.is_object()) throw api_error(400, "bad_request", "expected a JSON object of fields");
    std::vector<std::string> args{e.subcommand};
    const CLI::App* command = nullptr;
    std::vector<std::string> extra;
    if (e.subcommand == "solve") {
        const auto solver = fields.find("solver");
        if (solver == fields.end() || !solver->is_string()) {
            throw api_error(400, "bad_request",
                            fmt::format("field 'solver' is required (a string): one of {}", solver_list()));
        }
        const std::string name = kebab(solver->get<std::string>());
        if (std::find(solvers.begin(), solvers.end(), std::string_view(name)) == solvers.end()) {
            throw api_error(
                400, "bad_request",
                fmt::format("solver '{}' is unknown: one of {}", solver->get<std::string>(), solver_list()));
        }
        args.push_back(name);
        command = &solver_command(name);
        extra.emplace_back("solver");
    } else {
        command = commands().app.get_subcommand(e.subcommand);
    }
    auto rest = fields_to_args(*command, fields, extra, e.path);
    // --json before the options: after a `--` it would be read as a positional.
    args.emplace_back("--json");
    args.insert(args.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    return args;
}

api_response run_api(std::string_view endpoint, const nlohmann::json& fields, const environment& env,
                     std::vector<std::string>* warnings) {
    return run_api_args(endpoint, api_args(endpoint, fields), env, warnings);
}

api_response run_api_args(std::string_view endpoint, const std::vector<std::string>& args, const environment& env,
                          std::vector<std::string>* warnings) {
    // The subcommand's output and messages: one pair of streams per thread, emptied for each call
    // (making a stream, with its locale, cost about 6% of an estimate's instructions). Nothing the
    // subcommands write changes a stream's format flags (they format with fmt).
    thread_local std::ostringstream out;
    thread_local std::ostringstream err;
    for (std::ostringstream* stream : {&out, &err}) {
        stream->str({});
        stream->clear();
    }
    // The endpoint's subcommand, set up once per thread and endpoint (command_tree). A pool shared
    // by the threads (the most recently used tree first, for the caches) was tried: no difference
    // measurable on this machine's noise (bench/serve_bench.cpp).
    const auto& table = endpoint_table();
    const auto index = static_cast<std::size_t>(&find_endpoint(endpoint) - table.data());
    thread_local std::vector<std::unique_ptr<command_tree>> trees(table.size());
    if (!trees[index]) {
        setup_function* const setup = table[index].setup;
        trees[index] = std::make_unique<command_tree>(std::span(&setup, 1), command_tree::output::json);
    }
    const exit_status status = trees[index]->run(args, out, err, env);
    std::vector<std::string> messages;
    if (err.tellp() > 0) {
        std::istringstream lines(err.str());
        std::string line;
        while (std::getline(lines, line)) {
            if (line.empty() || line.starts_with("(run 'whisper-vram --help'")) continue;
            messages.push_back(strip_cli_prefix(line));
        }
    }
    const bool result = status == exit_status::ok || status == exit_status::does_not_fit;
    if (result && out.tellp() > 0) {
        if (warnings != nullptr) {
            for (const auto& m : messages) {
                if (m.starts_with("warning: ")) warnings->push_back(m);
            }
        }
        return {200, std::move(out).str()};
    }
    const std::string detail = messages.empty() ? std::string("no message") : join(messages, "; ");
    switch (status) {
        case exit_status::usage:
            return {400, error_body("bad_request", detail)};
        case exit_status::gpu_unavailable:
            return {503, error_body("gpu_unavailable", detail)};
        default:
            return {500, error_body("internal", fmt::format("exit status {}: {}", to_int(status), detail))};
    }
}

std::string gpu_catalog_body() {
    nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
    for (const auto& g : gpu_catalog()) gpus.push_back(to_json(g));
    const nlohmann::ordered_json j{{"gpus", gpus}};
    return j.dump(2) + '\n';
}

}  // namespace whisper_vram::cli
