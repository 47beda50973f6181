package gluster

import (
	"sync"

	"github.com/glusterbus/glusterbus/internal/digest"
)

// memo keeps the last result of a whole-cluster read together with the
// digest of the output it was parsed from. A reconcile of a quiet cluster
// gets the same bytes again, and parsing them is most of what it costs: at
// thousands of volumes, hundreds of milliseconds of CPU for nothing.
type memo[T any] struct {
	mu     sync.Mutex
	digest digest.Sum
	result []T
	valid  bool
}

// parse returns parse(out), or the result of the previous call when out is
// the same output (same digest). The result is shared between calls.
func (m *memo[T]) parse(out []byte, parse func([]byte) ([]T, error)) ([]T, error) {
	return m.get(digest.Of(out), func() ([]T, error) { return parse(out) })
}

// get returns the result of the output whose digest is sum: the
// memo's when it is the last output's, or else parse().
func (m *memo[T]) get(sum digest.Sum, parse func() ([]T, error)) ([]T, error) {
	m.mu.Lock()
	if m.valid && m.digest == sum {
		result := m.result
		m.mu.Unlock()
		return result, nil
	}
	m.mu.Unlock()

	result, err := parse()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.digest, m.result, m.valid = sum, result, true
	m.mu.Unlock()
	return result, nil
}

// size is the length of the last result, which the next is likely to have.
func (m *memo[T]) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.result)
}
