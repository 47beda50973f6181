package events

import (
	"regexp"
	"strings"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/state"
)

// HiddenValue stands for the value of a secret option (see
// gluster.IsSecretOption) in native events.
const HiddenValue = "(hidden)"

// FromNative returns the journal event for a native GlusterFS event: its
// name and fields as decoded, the sender's time, and the volume's object
// path when the event names a volume. Secret values are hidden (see
// hideSecrets): this is the only way native events reach the journal, and
// from it the bus and webhooks.
func FromNative(ev nativeevents.Event, node string, pathOf func(state.Ref) string) journal.Event {
	out := journal.Event{Time: ev.Time, Node: node, Name: ev.Name, Source: SourceNative}
	if kind, vol := ev.Trigger(); kind == nativeevents.TriggerVolume {
		out.Object = pathOf(state.Ref{Kind: state.KindVolume, Key: vol})
	}
	out.Fields = hideSecrets(ev.Fields)
	return out
}

// hideSecrets converts the fields, with HiddenValue for the value of each
// field named like a secret option, and for VOLUME_SET's option.<name>
// fields as hideOptions says.
func hideSecrets(fields []nativeevents.Field) []journal.Field {
	out := make([]journal.Field, 0, len(fields))
	for i := 0; i < len(fields); i++ {
		if isOption(fields[i]) {
			end := i + 1
			for end < len(fields) && isOption(fields[end]) {
				end++
			}
			out = append(out, hideOptions(fields[i:end])...)
			i = end - 1
			continue
		}
		f := journal.Field{Key: fields[i].Key, Value: fields[i].Value}
		if gluster.IsSecretOption(f.Key) {
			f.Value = HiddenValue
		}
		out = append(out, f)
	}
	return out
}

func isOption(f nativeevents.Field) bool { return strings.HasPrefix(f.Key, nativeevents.OptionPrefix) }

// hideOptions converts one run of option.<name> fields. They were paired
// from the flat list "name1,value1,name2,value2" the CLI sends, which does
// not escape the commas of values: a secret's value with a comma runs into
// the following pairs (its tail becomes a name), and a comma in an earlier
// value shifts a secret's name into a value. So the list is cut at the
// first secret name, wherever it fell: that option keeps its name with
// HiddenValue, and everything after it is dropped.
func hideOptions(opts []nativeevents.Field) []journal.Field {
	flat := make([]string, 0, 2*len(opts))
	for _, f := range opts {
		flat = append(flat, strings.TrimPrefix(f.Key, nativeevents.OptionPrefix), f.Value)
	}
	cut := -1
	for i, s := range flat {
		// A value is taken for a shifted name only if it looks like one:
		// a path such as /etc/ssl/secret/ca.pem stays a value.
		if gluster.IsSecretOption(s) && (i%2 == 0 || optionName.MatchString(s)) {
			cut = i
			break
		}
	}
	if cut < 0 {
		cut = len(flat)
	}
	out := make([]journal.Field, 0, len(opts))
	for i := 0; i < cut; i += 2 {
		f := journal.Field{Key: nativeevents.OptionPrefix + flat[i]}
		if i+1 < cut {
			f.Value = flat[i+1]
		}
		out = append(out, f)
	}
	if cut < len(flat) {
		out = append(out, journal.Field{Key: nativeevents.OptionPrefix + flat[cut], Value: HiddenValue})
	}
	return out
}

// optionName is what a volume option's name looks like.
var optionName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
