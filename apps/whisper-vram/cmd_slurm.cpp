// whisper-vram slurm: Slurm's `shard` GRES sized by GPU memory (planner/slurm.hpp).
//   slurm gres-conf  the gres.conf / slurm.conf lines for this node's GPUs
//   slurm request    the --gres=shard:K a job asks for, optionally checked against a gres.conf or the
//                    live cluster (`scontrol show node -o`)

#include <unistd.h>

#include <fmt/format.h>

#include <sys/wait.h>
#include <array>
#include <climits>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "commands.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/slurm.hpp"

namespace whisper_vram::cli {
namespace {

struct gres_conf_options {
    std::string granule = "1GiB";
    std::optional<std::string> headroom;
    std::optional<std::string> node;
    std::optional<std::string> only;
    std::optional<std::string> simulate;
    bool json = false;
};

struct request_options {
    std::string model;
    estimate_options estimate;
    std::string granule = "1GiB";
    std::optional<std::string> check;
    bool check_live = false;
    std::string scontrol = "scontrol";
    bool option_only = false;
    bool json = false;
};

// The short host name: Slurm's NodeName is usually `hostname -s`.
std::string short_hostname() {
    std::array<char, HOST_NAME_MAX + 1> name{};
    if (::gethostname(name.data(), name.size()) != 0) {
        throw usage_error(
            "--node is needed: the host name could not be read; give --node NAME (slurm.conf's NodeName)");
    }
    std::string host(name.data());
    if (const auto dot = host.find('.'); dot != std::string::npos) host.resize(dot);
    return host;
}

exit_status run_gres_conf(const gres_conf_options& o, const context& c) {
    const std::uint64_t granule = parse_shard_granule(o.granule, "--granule");
    std::optional<std::uint64_t> headroom;
    if (o.headroom) headroom = parse_size_bytes(*o.headroom, "--headroom");
    if (o.only && *o.only != "gres.conf" && *o.only != "slurm.conf") {
        throw usage_error(fmt::format("--only '{}' is not a section: use gres.conf or slurm.conf", *o.only));
    }
    auto manager = make_manager(c, o.simulate);
    const gpu_snapshot snapshot = manager.get_gpu_memory_info();
    if (!snapshot.available()) {
        throw gpu_unavailable_error(
            fmt::format("no GPU information: {} (use --simulate SPEC to write a gres.conf for "
                        "other GPUs)",
                        snapshot.unavailable_reason));
    }
    // Every GPU of the node (Slurm's gres.conf names devices, not CUDA_VISIBLE_DEVICES's view).
    std::vector<shard_gpu_input> gpus;
    for (const auto& g : snapshot.gpus) {
        if (g.state != gpu_state::ok || g.total_bytes == 0) {
            c.err << fmt::format("whisper-vram: warning: GPU {} ({}) left out: {} {}\n", g.index, g.name,
                                 to_string(g.state), g.state_detail);
            continue;
        }
        // Default headroom: the driver/firmware reserve NVML (memory v2) counts as used, else 0.
        gpus.push_back({g.index, g.name, g.total_bytes, headroom ? *headroom : g.reserved_bytes.value_or(0)});
    }
    const gres_plan plan = plan_gres(o.node ? *o.node : short_hostname(), gpus, granule);
    if (o.json) {
        print_json(c.out, to_json(plan));
        return exit_status::ok;
    }
    if (!o.only || *o.only == "gres.conf") c.out << gres_conf_text(plan);
    if (!o.only) c.out << "\n";
    if (!o.only || *o.only == "slurm.conf") c.out << slurm_conf_text(plan);
    return exit_status::ok;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw usage_error(
            fmt::format("--check '{}' cannot be read: give a gres.conf or saved `scontrol show node` output", path));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// `scontrol show node -o` output (bounded: scontrol's own MessageTimeout applies; `timeout` caps it at 60 s).
std::string scontrol_output(const std::string& scontrol) {
    if (scontrol.find_first_of("'\n") != std::string::npos) {
        throw usage_error(fmt::format("--scontrol '{}' contains a quote or newline: give a plain path", scontrol));
    }
    const std::string command = fmt::format("timeout 60 '{}' show node -o 2>&1", scontrol);
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw usage_error(fmt::format("--check-live: cannot run {}", scontrol));
    std::string text;
    std::array<char, 4096> buffer{};
    while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) text.append(buffer.data(), n);
    const int status = ::pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const int code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        throw usage_error(
            fmt::format("--check-live: `{} show node -o` failed (exit {}): {}; run it where the Slurm "
                        "client reaches slurmctld, or use --check FILE",
                        scontrol, code, text.substr(0, 300)));
    }
    return text;
}

// A file is `scontrol show node` output when it has NodeName=… with Gres=…; else a gres.conf.
std::vector<node_shards> parse_check_text(const std::string& text) {
    if (text.find("NodeName=") != std::string::npos && text.find(" Gres=") != std::string::npos) {
        return parse_scontrol_nodes(text);
    }
    return parse_gres_conf(text);
}

exit_status run_request(const request_options& o, const context& c) {
    const std::uint64_t granule = parse_shard_granule(o.granule, "--granule");
    if (o.check && o.check_live) throw usage_error("--check FILE and --check-live exclude each other: give one");
    const estimate_request request = to_request(o.estimate, o.model);
    const memory_estimate e = estimate(request);
    const std::uint64_t shards = shards_for_bytes(e.recommended_bytes, granule);
    const std::string option = fmt::format("--gres=shard:{}", shards);
    std::optional<shard_check> check;
    std::string source;
    if (o.check) {
        source = *o.check;
        check = check_shards(parse_check_text(read_file(*o.check)), shards);
    } else if (o.check_live) {
        source = fmt::format("{} show node -o", o.scontrol);
        check = check_shards(parse_scontrol_nodes(scontrol_output(o.scontrol)), shards);
    }
    if (o.json) {
        nlohmann::ordered_json j;
        j["model"] = e.request.model;
        put_configuration(j, e.request);
        put_bytes(j, "recommended", e.recommended_gib, e.recommended_bytes);
        put_bytes(j, "granule", granule);
        j["shards"] = shards;
        put_bytes(j, "shard_memory", shards * granule);
        j["option"] = option;
        j["check"] = check ? to_json(*check) : nlohmann::ordered_json();
        if (check) j["check"]["source"] = source;
        j["notes"] = e.notes;
        print_json(c.out, j);
    } else if (o.option_only) {
        if (!check || check->fits) c.out << option << '\n';  // nothing for $(...) when it cannot run
    } else {
        c.out << fmt::format("{} | {} | segment {:g} s | batch {} | engine {}: recommended {} ({} bytes)\n",
                             e.request.model, e.request.precision, e.request.segment_seconds, e.request.batch_size,
                             e.request.engine, format_gib(e.recommended_bytes), e.recommended_bytes);
        c.out << fmt::format("shards: ceil({} / {}) = {} (granule {}; {} reserved for the job)\n", e.recommended_bytes,
                             granule, shards, format_gib(granule), format_gib(shards * granule));
        c.out << fmt::format("#SBATCH {}\n", option);
        c.out << fmt::format(
            "srun {} COMMAND...   (inside the job: whisper-vram run --model {} with the same "
            "estimate options -- COMMAND...)\n",
            option, e.request.model);
        if (check) c.out << fmt::format("check ({}): {}\n", source, check->reason);
    }
    if (check && !check->fits) {
        c.err << "whisper-vram: " << check->reason << '\n';
        return exit_status::does_not_fit;
    }
    return exit_status::ok;
}

}  // namespace

void setup_slurm(CLI::App& app, command_action& action) {
    auto* slurm = app.add_subcommand("slurm", "Slurm shard GRES sized by GPU memory: gres.conf lines, job requests");
    slurm->require_subcommand(1);
    add_footer(*slurm,
               "One shard = one granule of GPU memory (1 GiB by default). Slurm places a shard job on one GPU with\n"
               "enough free shards but does not fence memory: inside the job `whisper-vram run` caps reservations\n"
               "at SLURM_SHARDS_ON_NODE x granule.",
               {"whisper-vram slurm gres-conf --node gpu01 > /etc/slurm/gres.conf.new",
                "sbatch $(whisper-vram slurm request large-v3 --option-only) job.sh"});

    const auto [gres, g] = add_command(*slurm, action, "gres-conf",
                                       "gres.conf and slurm.conf lines giving each GPU floor((usable - headroom) / "
                                       "granule) shards",
                                       run_gres_conf);
    gres->add_option("--granule", g->granule, "GPU memory per shard (default 1GiB; a bare number is GiB)");
    gres->add_option("--headroom", g->headroom,
                     "memory per GPU kept out of the shards (default: the driver reserve NVML reports, else 0)");
    gres->add_option("--node", g->node, "slurm.conf NodeName (default: the short host name)");
    gres->add_option("--only", g->only, "print one section: gres.conf or slurm.conf");
    add_simulate_option(*gres, g->simulate);
    gres->add_flag("--json", g->json, "print JSON {node, granule, total_shards, gpus, gres_conf, slurm_conf}");
    add_footer(*gres,
               "Shards per GPU = floor((usable - headroom) / granule); usable = total memory as NVML reports it.",
               {"whisper-vram slurm gres-conf --node gpu01",
                "whisper-vram slurm gres-conf --simulate 'H100,H100' --headroom 2GiB --only gres.conf"});

    const auto [req, r] = add_command(
        *slurm, action, "request", "the --gres=shard:K a job asks for (K = ceil(recommended / granule))", run_request);
    req->add_option("model", r->model, "model name, e.g. large-v3, medium")->required();
    add_estimate_options(*req, r->estimate);
    req->add_option("--granule", r->granule, "GPU memory per shard, as in gres.conf (default 1GiB)");
    req->add_option(
        "--check", r->check,
        "exit 1 when no single GPU in FILE (a gres.conf or saved `scontrol show node` output) has K shards");
    req->add_flag("--check-live", r->check_live, "the same check on `scontrol show node -o` of the live cluster");
    req->add_option("--scontrol", r->scontrol, "the scontrol --check-live runs (default: scontrol on PATH)");
    req->add_flag("--option-only", r->option_only, "print only --gres=shard:K (for $(...) in sbatch/srun)");
    req->add_flag("--json", r->json, "print JSON {model, recommended, granule, shards, option, check, ...}");
    add_footer(*req,
               "Exit 0, or 1 when --check/--check-live finds no single GPU with K shards (Slurm would accept the\n"
               "job and leave it pending forever).",
               {"whisper-vram slurm request large-v3 --engine faster-whisper --precision int8",
                "whisper-vram slurm request medium --batch 8 --check /etc/slurm/gres.conf",
                "gres=$(whisper-vram slurm request large-v3 --option-only --check-live) && sbatch \"$gres\" job.sh"});
}

}  // namespace whisper_vram::cli
