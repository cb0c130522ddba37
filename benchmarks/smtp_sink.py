"""A local SMTP server for the mail benchmark, in a process of its own (aiosmtpd).

Its own process, so that the server's work does not share the measured process's
interpreter. It accepts every message, counts them and their Message-IDs (to check that
none went twice), and answers on stdin/stdout:

    stats   -> {"messages": n, "distinct_ids": k}
    reset   -> forget what was received
"""
from __future__ import annotations

import json
import re
import sys
import threading

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Counting:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = 0
        self.ids: set[bytes] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        found = _MESSAGE_ID.search(content)
        with self.lock:
            self.messages += 1
            if found:
                self.ids.add(found.group(1))
        return "250 Message accepted"

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"messages": self.messages, "distinct_ids": len(self.ids)}

    def reset(self) -> None:
        with self.lock:
            self.messages = 0
            self.ids.clear()


def main(port: int) -> None:
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(handler.stats()), flush=True)
            elif command == "reset":
                handler.reset()
                print("{}", flush=True)
    finally:
        controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
