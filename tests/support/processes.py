"""What the loopback servers the tests start have in common: ports and start/stop as a context."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port free on loopback right now; nothing stops another process taking it next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StartedProcesses:
    """Context manager over ``start()``/``stop()``: a failed start still stops what did start."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
