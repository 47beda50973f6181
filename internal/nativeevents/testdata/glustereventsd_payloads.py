#!/usr/bin/python3
# Feeds datagrams to the installed glustereventsd's own request handler and
# prints, for each, the JSON body it would POST to its webhooks, or null
# when it drops the datagram.
#
# Input: one JSON string per line, the datagram base64-encoded.
# Output: one JSON value per line: the payload text, or null.
# The node UUID is the first argument.
import base64
import json
import logging
import os
import sys

GFEVENTS = os.environ.get("GFEVENTS_DIR",
                          "/usr/lib/x86_64-linux-gnu/glusterfs/gfevents")
sys.path.insert(0, GFEVENTS)

import glustereventsd  # noqa: E402
import utils  # noqa: E402

logging.disable(logging.CRITICAL)


class Capture(object):
    def __init__(self):
        self.sent = []

    def send(self, event_type, event_ts, message_json):
        self.sent.append(message_json)


def main():
    pool = Capture()
    utils.NodeID = sys.argv[1] if len(sys.argv) > 1 else None
    utils.webhooks_pool = pool
    utils._webhooks = {"http://127.0.0.1:1/": ""}
    utils.autoload_webhooks = lambda: None
    for line in sys.stdin:
        datagram = base64.b64decode(json.loads(line))
        del pool.sent[:]
        try:
            glustereventsd.GlusterEventsRequestHandler(
                (datagram, None), ("127.0.0.1", 1), None)
        except Exception:
            pass
        out = pool.sent[0] if len(pool.sent) == 1 else None
        sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
