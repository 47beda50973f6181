// Package natsstream publishes the journal to a NATS JetStream stream that
// the daemons of a GlusterFS pool share, so a consumer reads the pool's
// events in one place, each cluster change once whichever daemons saw it.
// See docs/events.md for the stream, the subjects and the id rule.
package natsstream

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/journal"
)

const (
	// StreamName is the JetStream stream the events go to.
	StreamName = "GLUSTERFS"
	// SubjectRoot starts every subject of the stream.
	SubjectRoot = "glusterfs"
	// CursorName is the journal cursor of the last event the stream
	// acknowledged.
	CursorName = "nats"
)

// Subject is the subject of an event of the given name in cluster's stream:
// glusterfs.<cluster>.events.<NAME>.
func Subject(cluster, name string) string {
	return SubjectRoot + "." + token(cluster) + ".events." + token(name)
}

// SubjectFilter matches every event of cluster.
func SubjectFilter(cluster string) string {
	return SubjectRoot + "." + token(cluster) + ".events.>"
}

// token makes s one subject token: NATS subjects split on dots and give
// '*', '>' and blanks a meaning.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}

// Message is an event as the stream carries it, as JSON: the names are
// those of `glusterbus events --json` and the D-Bus Event signal. Seq is the
// sequence number in the journal of the node that published it (Node is the
// node where it happened).
type Message struct {
	Seq    uint64            `json:"seq"`
	Name   string            `json:"name"`
	Time   time.Time         `json:"time"`
	Node   string            `json:"node"`
	Object string            `json:"object"`
	Fields map[string]string `json:"fields"`
}

// MessageOf is ev as a Message; the source is the field "source", as on
// D-Bus, and a repeated key keeps its last value, as in webhook bodies.
func MessageOf(ev journal.Event) Message {
	fields := make(map[string]string, len(ev.Fields)+1)
	for _, f := range ev.Fields {
		fields[f.Key] = f.Value
	}
	fields["source"] = ev.Source
	return Message{Seq: ev.Seq, Name: ev.Name, Time: ev.Time, Node: ev.Node, Object: ev.Object, Fields: fields}
}

// ClusterScoped tells whether ev gets the same id on every node that
// journals it: a change of a volume's configuration, which glusterd commits
// on every node with the same version. Other diff events (a brick's or a
// peer's reachability, a volume's health, peers attached or detached,
// glusterd up or down) are one node's view, and native events come to one
// node.
func ClusterScoped(ev journal.Event) bool {
	return ev.Source == events.SourceDiff && events.IsConfigEvent(ev.Name)
}

// MsgID is the Nats-Msg-Id of ev in cluster's stream. A configuration change
// (ClusterScoped) is named by the cluster, its name, object and fields,
// which include the volume's configuration version: every daemon that saw
// the same change names it alike, and JetStream keeps the first. Any other
// event is named by its node of origin, its journal sequence number, time
// and content, so it is never taken for another node's, and publishing it
// again after a crash is recognised.
func MsgID(cluster string, ev journal.Event) string {
	h := sha256.New()
	add := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	scope := "c"
	if !ClusterScoped(ev) {
		scope = "n"
		add(ev.Node)
		add(strconv.FormatUint(ev.Seq, 10))
		add(strconv.FormatInt(ev.Time.UnixMicro(), 10))
	}
	add(cluster)
	add(ev.Source)
	add(ev.Name)
	add(ev.Object)
	fields := slices.Clone(ev.Fields)
	slices.SortStableFunc(fields, func(a, b journal.Field) int { return strings.Compare(a.Key, b.Key) })
	for _, f := range fields {
		add(f.Key)
		add(f.Value)
	}
	return scope + "-" + hex.EncodeToString(h.Sum(nil)[:16])
}
