# expect: failed, forbidden
# Unix sockets on the host's filesystem and in its abstract namespace.
import socket

reached = []
for address in ("__UNIX_SOCKET__", "\0__ABSTRACT_SOCKET__"):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(address)
            s.sendall(b"escaped")
            reached.append(address)
        except OSError:
            pass
raise SystemExit(f"reached {reached}")
