package webhook

import (
	"fmt"
	"strings"

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

// matcher applies a webhook's filters.
type matcher struct {
	names    map[string]bool
	prefixes []string
	all      bool // "*"
	volumes  map[string]bool
	sources  map[string]bool
}

func newMatcher(w *Webhook) matcher {
	m := matcher{}
	if len(w.Events) > 0 {
		m.names = map[string]bool{}
		for _, e := range w.Events {
			e = strings.ToUpper(e)
			if p, ok := strings.CutSuffix(e, "*"); ok {
				m.all = m.all || p == ""
				m.prefixes = append(m.prefixes, p)
			} else {
				m.names[e] = true
			}
		}
	}
	if len(w.Volumes) > 0 {
		m.volumes = map[string]bool{}
		for _, v := range w.Volumes {
			m.volumes[v] = true
		}
	}
	// Without a sources filter a webhook gets glustereventsd's stream, the
	// native events, and nothing twice: state-change events share names
	// with native ones (VOLUME_START, ...). "diff" is opt-in.
	m.sources = map[string]bool{SourceNative: true}
	if len(w.Sources) > 0 {
		m.sources = map[string]bool{}
		for _, s := range w.Sources {
			m.sources[s] = true
		}
	}
	return m
}

func (m *matcher) match(ev *journal.Event) bool {
	if m.sources != nil && !m.sources[ev.Source] {
		return false
	}
	if m.names != nil && !m.all {
		name := strings.ToUpper(ev.Name)
		ok := m.names[name]
		for _, p := range m.prefixes {
			ok = ok || strings.HasPrefix(name, p)
		}
		if !ok {
			return false
		}
	}
	if m.volumes != nil {
		v := eventVolume(ev)
		return v != "" && m.volumes[v]
	}
	return true
}
