package webhook

import (
	"fmt"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// Filter selects events as a webhook's events, volumes and sources settings
// do (see the package documentation), for other readers of the journal.
type Filter struct{ m matcher }

// NewFilter checks the filters as a webhook's are checked and returns the
// Filter. As for a webhook, no sources means the native events only.
func NewFilter(events, volumes, sources []string) (*Filter, error) {
	if err := checkFilters(events, volumes, sources); err != nil {
		return nil, err
	}
	return &Filter{m: newMatcher(&Webhook{Events: events, Volumes: volumes, Sources: sources})}, nil
}

// Match reports whether the filter selects the event.
func (f *Filter) Match(ev *journal.Event) bool { return f.m.match(ev) }

func checkFilters(events, volumes, sources []string) error {
	for _, e := range events {
		if !eventPattern.MatchString(e) {
			return fmt.Errorf("event filter %q: want an event name or a prefix ending in *", e)
		}
	}
	for _, v := range volumes {
		if v == "" {
			return fmt.Errorf("empty volume name in filter")
		}
	}
	for _, s := range sources {
		if s != SourceNative && s != SourceDiff {
			return fmt.Errorf("source %q: want %q or %q", s, SourceNative, SourceDiff)
		}
	}
	return nil
}
