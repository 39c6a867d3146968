"""A loopback HTTP server for the image-URL tests: /img serves the file given,
/redirect/N redirects N times before it, /slow stalls, /big is 8 MB, /missing
is 404. Prints its port. Usage: python3 image-host.py IMAGE"""
import http.server
import sys
import threading
import time

data = open(sys.argv[1], "rb").read()


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="image/png", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path
        if p == "/img":
            self.send(200, data)
        elif p.startswith("/redirect/"):
            n = int(p.rsplit("/", 1)[1])
            self.send(302, b"", extra=[("Location", "/img" if n <= 1 else f"/redirect/{n - 1}")])
        elif p == "/slow":
            time.sleep(5)
            self.send(200, data)
        elif p == "/big":
            self.send(200, b"\x89PNG" + b"\0" * (8 << 20))
        elif p == "/file-redirect":
            self.send(302, b"", extra=[("Location", "file:///etc/passwd")])
        else:
            self.send(404, b"not found", "text/plain")


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
