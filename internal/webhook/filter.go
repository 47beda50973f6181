package webhook

import (
	"strings"

	"github.com/glusterbus/glusterbus/internal/journal"
)

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
