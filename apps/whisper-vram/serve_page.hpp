#pragma once
// The calculator page of `whisper-vram serve` (GET /): one page built into the binary. The server
// (serve_http.cpp) calls add_page_routes() once while it sets up its routes.

namespace httplib {
class Server;
}  // namespace httplib

namespace whisper_vram::cli {

/// Adds the page's routes (GET /, and whatever assets it serves) to @p server.
void add_page_routes(httplib::Server& server);

}  // namespace whisper_vram::cli
