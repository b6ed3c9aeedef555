// The calculator page (GET /): a placeholder until the page lands.

#include "serve_page.hpp"

#include <httplib.h>

namespace whisper_vram::cli {

void add_page_routes(httplib::Server& server) {
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
        response.set_content(
            "<!doctype html><title>whisper-vram</title><p>whisper-vram serve: see /api/v1/estimate</p>\n",
            "text/html; charset=utf-8");
    });
}

}  // namespace whisper_vram::cli
