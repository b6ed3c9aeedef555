#pragma once
/// @file text_escape.hpp
/// Making outside text safe to print and to serialise: strings from the environment (paths,
/// CUDA_VISIBLE_DEVICES) may hold bytes that are not UTF-8 (JSON and Python need UTF-8), and
/// strings from the ledger (model labels written by another process) may hold terminal escape
/// sequences. Pure.

#include <cstddef>
#include <string>
#include <string_view>

namespace whisper_vram {

/// Length of the well-formed UTF-8 sequence starting at @p text[@p pos] (1-4), 0 when the byte there
/// does not start one (stray continuation, overlong form, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) noexcept;

/// @p text with every byte that is not part of well-formed UTF-8 written as the four characters
/// "\xNN" (hex): valid text is returned unchanged, and the result is always valid UTF-8 (so it
/// can be put in JSON and handed to Python as str). Used for environment values and paths.
std::string escape_invalid_utf8(std::string_view text);

/// @p text made safe to print on a terminal: control characters (C0, DEL, and the C1 range
/// U+0080-U+009F), e.g. ESC, written as "\x1b" (C1 as "\u0085"), and invalid UTF-8 bytes as
/// "\xNN"; printable text, including non-ASCII, unchanged. For strings from the ledger or the
/// environment (model labels, paths) reaching human output.
std::string escape_for_terminal(std::string_view text);

}  // namespace whisper_vram
