"""A Kafka connect that fails closes its socket (kafka-python 3.0 leaves it to the garbage collector).

An open socket left behind warns (``ResourceWarning``, an error under the suite's warning filter) wherever the
collector happens to run, and holds a file descriptor until then: a client retrying a broker that is down
would accumulate them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from kafka.net.inet import KafkaNetSocket
from kafka.net.selector import NetworkSelector

from carewatch import broker


@pytest.fixture
def created() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()  # whatever the outcome, the test leaves nothing open


def recording_factory(created: list[socket.socket]) -> KafkaNetSocket:
    factory = KafkaNetSocket()
    make = factory.socket

    def record(*args: int) -> socket.socket:
        sock = make(*args)
        created.append(sock)
        return sock

    factory.socket = record  # type: ignore[method-assign]
    return factory


def loopback(port: int) -> tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int]]:
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))


def test_a_refused_connect_closes_its_socket(created: list[socket.socket]) -> None:
    assert broker.KafkaProducer  # the module that installs the fix is loaded
    net = NetworkSelector()
    factory = recording_factory(created)
    port = broker.free_port()  # nothing listens there
    try:
        with pytest.raises(KafkaConnectionError):
            net.run(factory.connect, net, loopback(port), (), time.monotonic() + 5)
    finally:
        net.close()
    assert len(created) == 1
    assert created[0].fileno() == -1


def test_a_timed_out_connect_closes_its_socket(created: list[socket.socket]) -> None:
    net = NetworkSelector()
    factory = recording_factory(created)
    with socket.create_server(("127.0.0.1", 0)) as server:
        try:
            with pytest.raises(KafkaTimeoutError):
                net.run(factory.connect, net, loopback(server.getsockname()[1]), (), time.monotonic() - 1)
        finally:
            net.close()
    assert len(created) == 1
    assert created[0].fileno() == -1


def test_a_successful_connect_keeps_its_socket_open(created: list[socket.socket]) -> None:
    net = NetworkSelector()
    factory = recording_factory(created)
    with socket.create_server(("127.0.0.1", 0)) as server:
        try:
            connected = net.run(factory.connect, net, loopback(server.getsockname()[1]), (), time.monotonic() + 5)
        finally:
            net.close()
    assert connected is created[0]
    assert connected.fileno() != -1
