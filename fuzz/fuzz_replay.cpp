// Replays the harnesses' corpus and regression files without libFuzzer (built with the tests):
//   fuzz_replay HARNESS CORPUS_ROOT REGRESSIONS_ROOT
// runs every file of CORPUS_ROOT/HARNESS/ and REGRESSIONS_ROOT/HARNESS/ through the harness body
// (a finding aborts, failing the test) and fails when the harness is unknown or its corpus folder
// is missing or empty. `fuzz_replay --list` prints the harness names.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

namespace whisper_vram::fuzz {
namespace {

std::map<std::string, harness_body>& harnesses() {
    static std::map<std::string, harness_body> table;
    return table;
}

// Runs every regular file of @p dir (sorted, for a stable order); returns how many, -1 when @p dir is missing.
int replay_folder(const std::filesystem::path& dir, harness_body body) {
    if (!std::filesystem::is_directory(dir)) return -1;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().filename() != ".gitkeep") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::fprintf(stderr, "replay %s\n", file.c_str());
        body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    return static_cast<int>(files.size());
}

}  // namespace

registration::registration(const char* name, harness_body body) noexcept { harnesses()[name] = body; }

}  // namespace whisper_vram::fuzz

int main(int argc, char** argv) {
    using whisper_vram::fuzz::harnesses;
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "--list") {
        for (const auto& [name, body] : harnesses()) std::printf("%s\n", name.c_str());
        return 0;
    }
    if (args.size() != 3) {
        std::fprintf(stderr, "usage: fuzz_replay HARNESS CORPUS_ROOT REGRESSIONS_ROOT | --list\n");
        return 2;
    }
    const auto it = harnesses().find(args[0]);
    if (it == harnesses().end()) {
        std::fprintf(stderr, "fuzz_replay: unknown harness '%s' (fuzz_replay --list names them)\n", args[0].c_str());
        return 2;
    }
    const int corpus = whisper_vram::fuzz::replay_folder(std::filesystem::path(args[1]) / args[0], it->second);
    if (corpus <= 0) {
        std::fprintf(stderr, "fuzz_replay: no seed corpus in %s/%s\n", args[1].c_str(), args[0].c_str());
        return 1;
    }
    const int regressions = whisper_vram::fuzz::replay_folder(std::filesystem::path(args[2]) / args[0], it->second);
    std::printf("%s: %d corpus file(s), %d regression file(s) replayed, no finding\n", args[0].c_str(), corpus,
                std::max(regressions, 0));
    return 0;
}
