// Package journal is glusterbus's durable, replayable event journal.
//
// Events are stored in a single bbolt file. Each event is keyed by its
// sequence number as a big-endian uint64, so keys sort in sequence order and
// a replay from any point is one B+tree seek followed by a sequential scan.
// Values use a compact, versioned binary encoding (see [Event]).
//
// # Group commit
//
// Append returns only after the events are fsynced. One fsync per event
// limits a journal to a few thousand events per second on ordinary disks, so
// a single writer goroutine collects every Append waiting at that moment and
// commits them in one transaction with one fsync. Under load the batches grow
// by themselves and throughput rises with them; an idle journal commits a
// lone event at once, with no added delay. If a commit fails (disk full, I/O
// error), every Append in that batch gets the error, none of their sequence
// numbers are consumed, and [Journal.Health] reports the error until a later
// commit succeeds.
//
// # Sequence numbers
//
// Sequence numbers start at 1, increase by one per event and are never
// reused, also across restarts. Retention deletes the oldest events, and may
// delete all of them, so the last stored key alone cannot tell where to
// continue. Every commit therefore also records a high-water mark (the last
// sequence number assigned) in a metadata bucket, in the same transaction as
// the events; on Open the next number is one past the larger of the
// high-water mark and the last stored key. Consumers that remember a sequence
// number can thus always tell "nothing new" from "the journal was reset".
//
// # Retention
//
// Old events are removed by count ([Options.MaxEvents]) and by age
// ([Options.MaxAge]) in the background: right after Open, after commits (at
// most every few seconds) and once a minute while idle. Deletion runs in
// bounded batches, each its own short transaction, so pruning a large
// backlog never holds up appends for long. Age is judged from the oldest
// event forward and stops at the first event that is young enough, by when
// each event was journaled (stored with it), not by [Event.Time]: senders'
// clocks need not follow the sequence, the journal's does. Events stored
// before that time was recorded count as journaled at their own time, or
// when the journal was opened if that is earlier.
//
// # Cursors
//
// Named cursors (for example the delivery position of a webhook) are stored
// durably in a bucket of their own, independent of event retention.
package journal
