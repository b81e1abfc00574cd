"""The suite's own guard (tests/conftest.py): a test process connects to loopback only."""
import socket

import pytest


def test_connections_off_the_machine_are_refused():
    with pytest.raises(ConnectionRefusedError, match="only connect to loopback"):
        socket.create_connection(("10.255.255.1", 9), timeout=0.5)


def test_loopback_connections_still_work():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        socket.create_connection(server.getsockname(), timeout=2).close()
    finally:
        server.close()
