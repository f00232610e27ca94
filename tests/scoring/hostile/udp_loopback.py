# expect: failed
# UDP needs no connection, so only the test's server can say whether this arrived.
import socket

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for _ in range(20):
        s.sendto(b"escaped", ("127.0.0.1", int("__UDP_PORT__")))
raise SystemExit("sent, but not to the host")
