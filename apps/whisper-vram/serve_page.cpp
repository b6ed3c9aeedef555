// The calculator page (GET /): one HTML document built into the binary (apps/whisper-vram/page/, embedded
// by cmake/embed_page.cmake). It reads every number from the API; nothing is loaded from elsewhere.

#include "serve_page.hpp"

#include <httplib.h>

#include <string>

#include "page/page_html.hpp"

namespace whisper_vram::cli {

void add_page_routes(httplib::Server& server) {
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
        // The page's own style and script are inline; it fetches only this server's API (connect-src
        // 'self') and inserts API strings as text, so no other origin may run or load anything in it.
        response.set_header("Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                            "frame-ancestors 'none'");
        response.set_header("X-Content-Type-Options", "nosniff");
        response.set_header("Referrer-Policy", "no-referrer");
        response.set_header("Cache-Control", "no-cache");
        const std::string_view page = page_html();
        response.set_content(std::string(page), "text/html; charset=utf-8");
    });
}

}  // namespace whisper_vram::cli
