#pragma once
/// @file warning_sink.hpp
/// The one type through which the library says anything besides its results: it never prints.

#include <functional>
#include <string>

namespace whisper_vram {

/// Receives the library's warnings (a corrupt ledger line recovered, a reservation reaped…): the
/// CLI writes them to stderr ("whisper-vram: warning: …"), Python turns them into
/// warnings.warn(RuntimeWarning). An empty sink drops them.
using warning_sink = std::function<void(const std::string& message)>;

}  // namespace whisper_vram
