package httpapi

import (
	"strconv"
	"strings"
	"testing"

	"github.com/glusterbus/glusterbus/internal/journal"
)

func TestParseStreamQuery(t *testing.T) {
	q, err := parseStreamQuery("since=7&events=VOLUME_*,peer_connect&volumes=gv0&volumes=gv1", "")
	if err != nil || q.since != 7 || !q.resume {
		t.Fatalf("%+v %v", q, err)
	}
	if !q.filter.Match(&journal.Event{Name: "PEER_CONNECT", Source: "diff", Fields: []journal.Field{{Key: "volume", Value: "gv1"}}}) {
		t.Error("filter leaves out a selected event")
	}
	q, err = parseStreamQuery("since=7", " 12 ")
	if err != nil || q.since != 12 || !q.resume {
		t.Fatalf("Last-Event-ID does not win over since: %+v %v", q, err)
	}
	q, err = parseStreamQuery("", "")
	if err != nil || q.resume || !q.filter.Match(&journal.Event{Name: "ANY", Source: "diff"}) {
		t.Fatalf("no query: %+v %v", q, err)
	}
	long := strings.Repeat("a", maxFilterValue+1)
	many := strings.Repeat("v,", maxFilterValues+1)
	for _, bad := range []string{"since=-1", "since=18446744073709551616", "volumes=" + long, "volumes=" + many, "sources=native;diff", "a=1"} {
		if _, err := parseStreamQuery(bad, ""); err == nil {
			t.Errorf("%.60s accepted", bad)
		}
	}
}

// FuzzParseStreamQuery: any query and Last-Event-ID either parse into a
// usable filter or give an error; never a panic.
func FuzzParseStreamQuery(f *testing.F) {
	for _, s := range []string{"", "since=0", "since=5&events=VOLUME_*&volumes=gv0,gv1&sources=native,diff",
		"events=%2A", "volumes=a%00b", "since=1&since=2", "%zz", "sources=&events=,,,", ";"} {
		f.Add(s, "")
		f.Add(s, "42")
	}
	f.Add("since=3", "x")
	f.Fuzz(func(t *testing.T, rawQuery, lastEventID string) {
		q, err := parseStreamQuery(rawQuery, lastEventID)
		if err != nil {
			return
		}
		if q.filter == nil {
			t.Fatal("no filter without an error")
		}
		q.filter.Match(&journal.Event{Name: "VOLUME_SET", Source: "native", Fields: []journal.Field{{Key: "name", Value: "gv0"}}})
		if id := strings.TrimSpace(lastEventID); id != "" {
			n, perr := strconv.ParseUint(id, 10, 64)
			if perr != nil || q.since != n || !q.resume {
				t.Fatalf("Last-Event-ID %q gave since %d resume %v", lastEventID, q.since, q.resume)
			}
		}
	})
}
