package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glusterbus/glusterbus/internal/nativeevents"
)

// shape is one datagram of the mix, as a GlusterFS process sent it.
type shape struct {
	to   netip.Addr // where it was sent (the port is ours)
	body string     // the datagram without its timestamp
	name string     // the event name both daemons publish it as
}

// loadMix reads the captured datagrams and keeps those that both
// glusterbus and glustereventsd publish (payloads.jsonl holds
// glustereventsd's verdict for each).
func loadMix(captured, payloads string) ([]shape, error) {
	accepted := map[string]bool{}
	err := eachLine(payloads, func(line []byte) error {
		var p struct {
			Datagram string  `json:"datagram"`
			Payload  *string `json:"payload"`
		}
		if err := json.Unmarshal(line, &p); err != nil {
			return err
		}
		accepted[p.Datagram] = p.Payload != nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	var mix []shape
	err = eachLine(captured, func(line []byte) error {
		var c struct {
			To       string `json:"to"`
			Datagram string `json:"datagram"`
		}
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		if !accepted[c.Datagram] {
			return nil
		}
		ev, err := nativeevents.Parse([]byte(c.Datagram))
		if err != nil {
			return nil
		}
		ap, err := netip.ParseAddrPort(c.To)
		if err != nil {
			return err
		}
		_, body, _ := strings.Cut(c.Datagram, " ")
		mix = append(mix, shape{to: ap.Addr(), body: body, name: ev.Name})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(mix) == 0 {
		return nil, fmt.Errorf("no datagram of %s is accepted by both daemons", captured)
	}
	return mix, nil
}

func eachLine(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return sc.Err()
}

// sender sends the mix in turn, each datagram with a unique bench_id
// field, to the captured destination address and the given port.
type sender struct {
	mix   []shape
	conns map[netip.Addr]*net.UDPConn
	next  int64 // the next bench_id
	buf   []byte
}

func newSender(mix []shape, port int) (*sender, error) {
	s := &sender{mix: mix, conns: map[netip.Addr]*net.UDPConn{}}
	for _, m := range mix {
		if s.conns[m.to] != nil {
			continue
		}
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(m.to, uint16(port))))
		if err != nil {
			s.close()
			return nil, err
		}
		s.conns[m.to] = c
	}
	return s, nil
}

func (s *sender) close() {
	for _, c := range s.conns {
		c.Close()
	}
}

// shapeOf returns the shape sent with a bench_id.
func (s *sender) shapeOf(id int64) shape { return s.mix[id%int64(len(s.mix))] }

// send sends one datagram and returns its bench_id.
func (s *sender) send() (int64, error) {
	id := s.next
	s.next++
	m := s.shapeOf(id)
	s.buf = strconv.AppendInt(s.buf[:0], time.Now().Unix(), 10)
	s.buf = append(s.buf, ' ')
	s.buf = append(s.buf, m.body...)
	s.buf = append(s.buf, ";bench_id="...)
	s.buf = strconv.AppendInt(s.buf, id, 10)
	_, err := s.conns[m.to].Write(s.buf)
	return id, err
}

// sendResult is what one paced run sent.
type sendResult struct {
	FirstID, Sent, Errors int64
	// MaxLate is the most datagrams the sender was behind its schedule by,
	// and then sent back to back to catch up.
	MaxLate int64
	Seconds float64 // from the first datagram to the last
	Rate    float64 // achieved datagrams per second
	Start   time.Time
}

// paced sends at rate datagrams per second for d, spreading them evenly:
// it sleeps whenever it is ahead of the schedule. When it is late (it was
// descheduled), it catches up at full speed; MaxLate records by how much.
// A sender that cannot keep up shows as an achieved rate below the target.
func (s *sender) paced(rate float64, d time.Duration) sendResult {
	r := sendResult{FirstID: s.next, Start: time.Now()}
	total := int64(rate * d.Seconds())
	for r.Sent < total {
		due := min(total, int64(rate*time.Since(r.Start).Seconds())+1)
		r.MaxLate = max(r.MaxLate, due-r.Sent-1)
		for r.Sent < due {
			if _, err := s.send(); err != nil {
				r.Errors++
			}
			r.Sent++
		}
		if ahead := float64(r.Sent)/rate - time.Since(r.Start).Seconds(); ahead > 0 {
			time.Sleep(time.Duration(ahead * float64(time.Second)))
		}
	}
	r.Seconds = time.Since(r.Start).Seconds()
	r.Rate = float64(r.Sent) / r.Seconds
	return r
}

// bitset records which bench_ids were seen.
type bitset struct {
	mu   sync.Mutex
	bits []uint64
}

// set marks id and reports whether it was already marked.
func (b *bitset) set(id int64) (dup bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := int(id / 64)
	if w >= len(b.bits) {
		grown := make([]uint64, max(w+1, 2*len(b.bits)))
		copy(grown, b.bits)
		b.bits = grown
	}
	m := uint64(1) << (id % 64)
	dup = b.bits[w]&m != 0
	b.bits[w] |= m
	return dup
}

// count returns how many ids in [from, to) are marked.
func (b *bitset) count(from, to int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for id := from; id < to; id++ {
		if w := int(id / 64); w < len(b.bits) && b.bits[w]&(uint64(1)<<(id%64)) != 0 {
			n++
		}
	}
	return n
}
