#!/usr/bin/python3
# Runs GlusterFS's installed glustereventsd code on test inputs and prints
# what it would send, for comparison with the Go package.
#
# Usage: pyref.py MODE NODEID < input > output, one JSON value per line.
#
#   native   input: a datagram, base64-encoded. Output: the body
#            glustereventsd's request handler publishes for it, or null if
#            it drops it.
#   publish  input: {"event": NAME, "fields": [[k, v], ...], "ts": N}.
#            Output: the body utils.publish makes of that message (the
#            event name stands in for the event number).
#   jwt      input: {"secret": S, "event": NAME, "ts": N, "now": UNIX}.
#            Output: utils.get_jwt_token(S, NAME, N) at time "now". The
#            installed code cannot run under Python 3 (it base64-encodes
#            and HMACs str objects), so its base64 and hmac modules are
#            replaced by ones that encode str to UTF-8 first; the claims,
#            JSON layout and signing are its own.
import base64 as _base64
import datetime as _datetime
import hmac as _hmac
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


def _bytes(s):
    return s.encode("utf-8") if isinstance(s, str) else s


class Base64Shim(object):
    @staticmethod
    def urlsafe_b64encode(s):
        return _base64.urlsafe_b64encode(_bytes(s)).decode("ascii")


class HmacShim(object):
    @staticmethod
    def HMAC(key, msg, digestmod):
        return _hmac.HMAC(_bytes(key), _bytes(msg), digestmod)


def main():
    mode, node = sys.argv[1], sys.argv[2]
    pool = Capture()
    utils.NodeID = node
    utils.webhooks_pool = pool
    utils._webhooks = {"http://127.0.0.1:1/": ""}
    utils.autoload_webhooks = lambda: None
    for line in sys.stdin:
        inp = json.loads(line)
        del pool.sent[:]
        if mode == "native":
            datagram = _base64.b64decode(inp)
            try:
                glustereventsd.GlusterEventsRequestHandler(
                    (datagram, None), ("127.0.0.1", 1), None)
            except Exception:
                pass
            out = pool.sent[0] if len(pool.sent) == 1 else None
        elif mode == "publish":
            utils.get_event_type_name = lambda key: key
            utils.publish(str(inp["ts"]), inp["event"],
                          dict((k, v) for k, v in inp["fields"]))
            out = pool.sent[0]
        elif mode == "jwt":
            now = _datetime.datetime.utcfromtimestamp(inp["now"])

            class FixedDatetime(_datetime.datetime):
                @classmethod
                def utcnow(cls):
                    return now
            utils.datetime = FixedDatetime
            utils.base64 = Base64Shim
            utils.hmac = HmacShim
            out = utils.get_jwt_token(inp["secret"], inp["event"], inp["ts"])
        else:
            sys.exit("unknown mode " + mode)
        sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
