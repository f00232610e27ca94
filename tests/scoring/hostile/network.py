# expect: forbidden
# The test listens on 127.0.0.1:__PORT__; the connection must fail.
import socket

socket.create_connection(("127.0.0.1", int("__PORT__")), timeout=2).sendall(b"escaped")
