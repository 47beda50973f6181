package httpapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// Bounds of an events query: a filter longer than this is a mistake.
const (
	maxFilterValues = 256
	maxFilterValue  = 256
)

// streamQuery is what GET /api/v1/events asks for.
type streamQuery struct {
	since  uint64 // the last event the client has
	resume bool   // since was given (Last-Event-ID or ?since); else start at the end
	filter *webhook.Filter
}

// parseStreamQuery reads ?since=N, ?events=, ?volumes=, ?sources= (each a
// comma-separated list, or repeated) and the Last-Event-ID header, which a
// reconnecting EventSource sends and which wins over ?since. Unknown
// parameters are errors, so that a misspelt filter does not silently
// select everything.
func parseStreamQuery(rawQuery, lastEventID string) (streamQuery, error) {
	var q streamQuery
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, fmt.Errorf("query: %v", err)
	}
	lists := map[string][]string{}
	for key, vals := range values {
		switch key {
		case "since":
			if len(vals) != 1 {
				return q, fmt.Errorf("since: give it once")
			}
			if q.since, err = parseSeq(vals[0]); err != nil {
				return q, fmt.Errorf("since: %v", err)
			}
			q.resume = true
		case "events", "volumes", "sources":
			list, err := splitList(key, vals)
			if err != nil {
				return q, err
			}
			lists[key] = list
		default:
			return q, fmt.Errorf("unknown parameter %q: want since, events, volumes or sources", key)
		}
	}
	if id := strings.TrimSpace(lastEventID); id != "" {
		if q.since, err = parseSeq(id); err != nil {
			return q, fmt.Errorf("Last-Event-ID: %v", err)
		}
		q.resume = true
	}
	sources := lists["sources"]
	if len(sources) == 0 {
		// A stream is every journaled event unless told otherwise; a
		// webhook's default (native only) is for glustereventsd's
		// receivers.
		sources = []string{events.SourceNative, events.SourceDiff}
	}
	if q.filter, err = webhook.NewFilter(lists["events"], lists["volumes"], sources); err != nil {
		return q, err
	}
	return q, nil
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a sequence number", s)
	}
	return n, nil
}

func splitList(key string, vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if len(item) > maxFilterValue {
				return nil, fmt.Errorf("%s: a value longer than %d bytes", key, maxFilterValue)
			}
			out = append(out, item)
			if len(out) > maxFilterValues {
				return nil, fmt.Errorf("%s: more than %d values", key, maxFilterValues)
			}
		}
	}
	return out, nil
}
