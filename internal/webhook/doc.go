// Package webhook delivers journaled events to HTTP webhooks, as
// glustereventsd does, configured the way gluster-eventsapi configures it,
// but without losing events.
//
// # Configuration file
//
// The webhooks live where gluster-eventsapi keeps them,
// <glusterd workdir>/events/webhooks.json (normally
// /var/lib/glusterd/events/webhooks.json). It is one JSON object whose keys
// are the webhook URLs. A value is either the bearer token as a string, or
// an object with the keys "token" and "secret" (gluster-eventsapi
// webhook-add always writes the object, with "" for what was not given):
//
//	{
//	  "http://10.0.0.5:9000/listen": "",
//	  "https://hooks.example.com/gluster": {"token": "t0k3n", "secret": ""},
//	  "https://jwt.example.com/in": {"token": "", "secret": "s3cr3t"}
//	}
//
// Authorization is as glustereventsd sends it: none when token and secret
// are empty or null, "Bearer <token>" with a token, and with a secret (which
// wins over a token) "Bearer <JWT>", an HS256 JWT whose claims are
// {"exp": now+60s, "iat": the event's ts, "iss": "gluster", "sub": the event
// name}, keys in that (sorted) order, as utils.get_jwt_token builds it.
//
// # The "glusterbus" key
//
// What gluster-eventsapi cannot express sits in the webhook's object, under
// the key "glusterbus":
//
//	"https://hooks.example.com/gluster": {
//	  "token": "t0k3n", "secret": "",
//	  "glusterbus": {
//	    "events":    ["VOLUME_*", "BRICK_DISCONNECTED"],
//	    "volumes":   ["gv0", "gv1"],
//	    "sources":   ["native"],
//	    "no_verify": false,
//	    "ca_file":   "/etc/pki/hooks-ca.pem",
//	    "timeout":   5,
//	    "batch":     100
//	  }
//	}
//
// All of its keys are optional:
//
//   - events: event names, or name prefixes ending in "*", matched without
//     regard to case; an event is sent if it matches any of them. Absent or
//     empty: every event.
//   - volumes: volume names; an event is sent if it concerns one of them.
//     Events that name no volume (peers, services, ...) never match a
//     volumes filter. Absent or empty: every event.
//   - sources: "native" (GlusterFS's own events, what glustereventsd sends)
//     and/or "diff" (glusterbus's state-change events). Absent or empty:
//     ["native"], exactly glustereventsd's stream, so a receiver written for
//     glustereventsd never sees an event twice (state-change events share
//     names such as VOLUME_START with native ones); ["native", "diff"] adds
//     the state changes.
//   - no_verify: true turns off certificate verification for an https URL.
//     It is off by default and never turned off implicitly.
//   - ca_file: an absolute path to PEM certificates trusted for this
//     webhook instead of the system's roots (for a private CA or a
//     self-signed receiver, instead of no_verify).
//   - timeout: seconds one POST may take, response included (default 10).
//   - batch: 1 to MaxBatch POSTs a JSON array of up to that many events
//     (see Batches); 0 or absent, one event per POST as glustereventsd.
//
// Unknown keys inside "glusterbus" are errors, so that a typo does not
// silently widen a filter.
//
// The extension is inside each webhook's object rather than under a
// top-level key of its own because gluster-eventsapi and glustereventsd
// take every top-level key for a webhook URL: glustereventsd's
// webhook_monitor reads data["token"] and data["secret"] of every value (a
// value without them raises KeyError and takes the whole webhook process,
// and so every webhook, down; one with them becomes a webhook that fails on
// every event), and `gluster-eventsapi status` lists it. Keys inside a
// webhook's object other than "token" and "secret" are read by neither
// (glustereventsd reads those two; webhook-mod changes them in place and
// keeps the rest), so the file stays usable by gluster-eventsapi and by
// glustereventsd on nodes that still run it.
//
// # Loading and watching
//
// Load reads the file. A file that is not a JSON object of that shape
// (including an empty or half-written one) is an error, and a running
// Deliverer keeps its previous configuration and logs the error. A single
// webhook whose URL is not http(s) or whose "glusterbus" settings are
// invalid does not invalidate the file: it is reported in Config.Invalid and
// in Status with state "invalid", is not delivered to, and keeps its cursor
// so that it resumes where it stopped once fixed. A missing file means no
// webhooks (see Delivery for their cursors). The Deliverer watches the
// directory (the file is replaced by rename), making it at start if its
// parent exists (a copy from another node needs it), and also re-checks
// the file periodically, and applies changes without a restart.
//
// # Editing
//
// Add, Modify and Delete (gluster-eventsapi's webhook-add, webhook-mod and
// webhook-del) take an exclusive flock on webhooks.json.lock beside the
// file, and also lock the file itself as gluster-eventsapi's LockedOpen does
// (lock, then check that the path still names the locked file), so that
// they exclude each other and gluster-eventsapi. They read the file, change
// it, write a temporary file in the same directory, fsync it, rename it over
// the file and fsync the directory. Webhooks they do not change are written
// back as they were read. They change only the local file; copying it to
// the other nodes (gluster system:: copy file, as gluster-eventsapi does
// and glusterbus webhook does) is the caller's business.
//
// # Delivery
//
// A Deliverer runs one goroutine per webhook. Each reads the journal in
// bounded pages from its durable cursor (journal cursor "webhook:<url>"),
// POSTs the events its filters select in sequence order, one POST at a time
// (one event per POST, or a batch), and stores the cursor after every
// CursorEvery events, every CursorInterval,
// whenever it has caught up and when it stops. Delivery is therefore at
// least once: after a crash, the events since the cursor was last stored (at
// most CursorEvery, plus the POST in flight) are sent again, none skipped;
// an event whose answer did not come within the timeout is sent again too.
// X-Glusterbus-Sequence lets a receiver drop such duplicates. A slow or dead
// receiver delays no other: each webhook has its own goroutine and
// connections, and its backlog stays in the journal, not in memory.
//
// A webhook seen for the first time (no cursor) starts after the journal's
// last event at that moment: it is not sent the history, only what happens
// from then on, also if the daemon was down when it was added. A webhook
// removed from a file that was read has its cursor kept for
// Options.RemovedGrace (10 minutes; counted from the daemon's start for
// one removed while it was down), so that one removed and added again, as
// gluster-eventsapi webhook-del then webhook-add do, resumes where it
// stopped and gets what happened in between; after that the cursor is
// deleted and a webhook added again starts afresh. A missing file delivers
// to no webhook but deletes no cursor, however long it is missing: it may
// be gone for a moment (an editor's replace) or be looked for in the wrong
// place (a wrong working directory at boot), and every webhook resumes
// where it stopped once the file is back. A file that cannot be read or
// parsed keeps the previous configuration, cursors included.
//
// 2xx is success. Network errors, timeouts, 5xx, 408 and 429 are retried
// with capped exponential backoff and jitter, honouring Retry-After; other
// statuses (3xx, since redirects are not followed, and 4xx) count the event
// as failed and move on to the next. Events the journal's retention removed
// before they could be sent are counted as lost.
//
// # Batches
//
// A webhook with "batch" set gets, per POST, a JSON array of the bodies of
// up to that many of its events, in journal order: what the journal holds
// after the last POST, nothing waiting to fill the batch.
// X-Glusterbus-Sequence lists their sequence numbers in the array's order,
// X-Glusterbus-Source their sources; a secret's JWT is the first event's. A
// batch succeeds or fails as a whole: a retry sends the same array again,
// a refusal counts each of its events as failed. Delivery stays at least
// once and in order, so a receiver that failed half-way through a batch
// gets that half again. Changing "batch" while a batch is retried regroups
// its events.
//
// # Body and headers
//
// The body is glustereventsd's, byte for byte:
// {"event": NAME, "message": {...}, "nodeid": UUID, "ts": SECONDS}, as
// Python's json.dumps(..., sort_keys=True) writes it. Native events are
// rebuilt by the nativeevents package; state-change events have their
// fields as strings in "message". Two things glustereventsd keeps do not
// survive the journal: blanks around keys (AFR_SUBVOL* and AFR_QUORUM_*
// events, sent as "client-pid=-6; subvol=...", have the key " subvol" in
// glustereventsd's body and "subvol" in ours) and blanks ending the value
// before an empty "options=" of VOLUME_SET. Native events glustereventsd
// cannot parse (a value holding "=", "(null)" for BITROT_ENABLE) and drops
// are delivered. Headers are Content-Type:
// application/json and Authorization as above, plus X-Glusterbus-Sequence
// (the journal sequence number, for deduplication) and X-Glusterbus-Source
// ("native", "diff", or "test" for SendTest).
//
// Tokens, secrets, JWTs and URL passwords never appear in logs, errors or
// Status.
//
// # Use
//
//	d, err := webhook.New(webhook.Options{Journal: j, File: path, NodeID: uuid, Logger: log})
//	go d.Run(ctx) // until ctx ends; wait for it before closing the journal
//	d.Status()                // per webhook: cursor, lag, counters, last error
//	d.SendTest(ctx, url)      // the sample event to a configured webhook
//	d.ConfigError()           // when and why the file was last refused, if it was
//
// and, for the command line, Add, Modify, Delete, List and Test on the
// file directly.
package webhook
