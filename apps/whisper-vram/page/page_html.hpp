#pragma once
// The calculator page of `whisper-vram serve`, built into the binary: apps/whisper-vram/page/index.html
// with page.css and page.js inlined, embedded by cmake/embed_page.cmake at build time.

#include <string_view>

namespace whisper_vram::cli {

/// The page (one HTML document, UTF-8, with its style and script inline), as served at GET /.
std::string_view page_html();

}  // namespace whisper_vram::cli
