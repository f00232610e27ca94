# expect: forbidden
# The test listens on 127.0.0.1:__TCP_PORT__ on the host; the connection must fail.
import socket

socket.create_connection(("127.0.0.1", int("__TCP_PORT__")), timeout=2).sendall(b"escaped")
