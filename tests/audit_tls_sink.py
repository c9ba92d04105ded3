#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A TLS syslog receiver for tests/audit.bats (RFC 5425 octet counting).

audit_tls_sink.py CERT KEY PORTFILE OUT [--min-tls 1.3] [--port N] [--max-tls]
    [--concurrent]
Listens on 127.0.0.1 (a free port, written to PORTFILE), accepts one
connection after another (with --concurrent: each in its own thread, as
a central receiver of several nodes' exporters does), splits each stream
by octet counting and appends every message to OUT as one line, byte for
byte (a message that holds a raw LF is flagged "<LF IN MESSAGE>"); lines
of different connections never mix.  A malformed frame ends the
connection.  Runs until killed.
"""
import socket
import ssl
import sys
import threading

LOCK = threading.Lock()


def serve(ctx, raw, out):
    """One connection: TLS, then messages appended to OUT under LOCK."""
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while True:
                sp = buf.find(b" ")
                if sp <= 0:
                    break
                n = int(buf[:sp])
                if len(buf) < sp + 1 + n:
                    break
                msg = buf[sp + 1:sp + 1 + n]
                buf = buf[sp + 1 + n:]
                # Our messages never hold a raw LF (JSON escapes it):
                # one would be a framing bug, flagged here.
                line = msg if b"\n" not in msg else \
                    b"<LF IN MESSAGE>" + msg.replace(b"\n", b"\\n")
                with LOCK, open(out, "ab") as f:
                    f.write(line + b"\n")
    except (ValueError, ssl.SSLError, OSError):
        pass
    conn.close()


def main():
    cert, key, portfile, out = sys.argv[1:5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if "--min-tls" in sys.argv and sys.argv[sys.argv.index("--min-tls") + 1] == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = 0
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
    if "--max-tls" in sys.argv:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    concurrent = "--concurrent" in sys.argv
    while True:
        raw, _ = srv.accept()
        if concurrent:
            threading.Thread(target=serve, args=(ctx, raw, out),
                             daemon=True).start()
        else:
            serve(ctx, raw, out)

if __name__ == "__main__":
    main()
