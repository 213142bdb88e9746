"""A real RFC 3161 time-stamp authority on loopback for the tests: OpenSSL's
``openssl ts -reply`` behind a small ``http.server`` handler."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kinoseal.credentials.pki import CertKey, make_tsa

_CONFIG = """
[ tsa ]
default_tsa = kinoseal_test_tsa

[ kinoseal_test_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class LoopbackTsa:
    """``with LoopbackTsa(ca) as tsa: ... tsa.url``; ``tsa.requests`` counts the stamps served."""

    def __init__(self, ca: CertKey) -> None:
        self.ca = ca
        self.unit = make_tsa("kinoseal test TSA", ca)
        self.requests = 0
        self._dir = Path(tempfile.mkdtemp(prefix="kinoseal-tsa-"))
        (self._dir / "tsa.pem").write_bytes(self.unit.cert_pem)
        (self._dir / "tsa.key").write_bytes(self.unit.key_pem)
        (self._dir / "chain.pem").write_bytes(self.unit.cert_pem + ca.cert_pem)
        (self._dir / "serial").write_text("01\n")
        (self._dir / "tsa.cnf").write_text(_CONFIG.format(dir=self._dir))
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def stamp(self, query: bytes) -> bytes:
        with self._lock:  # openssl ts bumps the serial file
            q, r = self._dir / "query.tsq", self._dir / "reply.tsr"
            q.write_bytes(query)
            subprocess.run(
                ["openssl", "ts", "-reply", "-config", str(self._dir / "tsa.cnf"), "-queryfile", str(q),
                 "-out", str(r)],
                check=True, capture_output=True, timeout=30,
            )
            self.requests += 1
            return r.read_bytes()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/tsa"

    def __enter__(self) -> "LoopbackTsa":
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    reply = tsa.stamp(body)
                except subprocess.CalledProcessError:
                    self.send_error(400, "bad time-stamp query")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
