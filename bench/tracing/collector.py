#!/usr/bin/env python3
"""A do-nothing OTLP/HTTP collector for the tracing benchmark: 127.0.0.1 only, answers
POST /v1/traces with 200 and counts requests (printed on SIGTERM). Keeps export cost real
(HTTP round trip, protobuf body) without needing Jaeger."""
import http.server, signal, sys

count = 0

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        count += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
def stop(*_):
    print(f"collector: {count} export requests", file=sys.stderr)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
server.serve_forever()
