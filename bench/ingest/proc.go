package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// freePort returns a UDP port free on both 127.0.0.1 and ::1.
func freePort() (int, error) {
	var err error
	for range 50 {
		var c4, c6 net.PacketConn
		c4, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := c4.LocalAddr().(*net.UDPAddr).Port
		c6, err = net.ListenPacket("udp6", net.JoinHostPort("::1", strconv.Itoa(port)))
		c4.Close()
		if err == nil {
			c6.Close()
			return port, nil
		}
	}
	return 0, err
}

// procTree returns pid and its descendants.
func procTree(pid int) []int {
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if f := statFields(p); len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields returns /proc/pid/stat's fields after the command name,
// starting with the state (field 3).
func statFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// cpuTicks returns a process's user+system time in clock ticks: all its
// threads, also those that have exited, and its children that have exited
// and were waited for (the commands a daemon runs).
func cpuTicks(pid int) int64 {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, v := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(v, 10, 64)
		sum += n
	}
	return sum
}

// childTicks returns the user+system time of a process's children that
// have exited and were waited for.
func childTicks(pid int) int64 {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	c, _ := strconv.ParseInt(f[13], 10, 64)
	s, _ := strconv.ParseInt(f[14], 10, 64)
	return c + s
}

// rssKiB returns a process's resident set size and its anonymous part.
func rssKiB(pid int) (rss, anon int64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		}
	}
	return rss, anon
}

// systemTicks returns the busy and total CPU time of the machine.
func systemTicks() (busy, total int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// Usage is a process tree's consumption over a measured interval.
type Usage struct {
	CPUPercent float64 `json:"cpu_percent"` // of one core
	// CommandsCPUPercent is the part of CPUPercent spent by the commands
	// the tree's root ran and waited for.
	CommandsCPUPercent float64 `json:"commands_cpu_percent"`
	CPUSeconds         float64 `json:"cpu_s"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	// PeakAnonMiB is the peak of the anonymous part of the RSS (heap,
	// stacks); the rest is file pages mapped, such as the journal.
	PeakAnonMiB float64 `json:"peak_anon_mib"`
}

// meter measures the CPU and peak RSS of named process trees, and the
// machine's busy time, from start to stop.
type meter struct {
	roots   map[string]int
	start   time.Time
	child   map[string]int64 // at start, per root: its waited-for children's ticks
	seen    map[int]int64    // per pid: ticks at start (0 for pids born later)
	sysBusy int64
	sysAll  int64

	mu    sync.Mutex
	peak  map[string]int64
	anon  map[string]int64
	stopc chan struct{}
	done  chan struct{}
}

func startMeter(roots map[string]int) *meter {
	m := &meter{roots: roots, start: time.Now(), child: map[string]int64{}, seen: map[int]int64{},
		peak: map[string]int64{}, anon: map[string]int64{}, stopc: make(chan struct{}), done: make(chan struct{})}
	for name, root := range roots {
		m.child[name] = childTicks(root)
		for _, p := range procTree(root) {
			m.seen[p] = cpuTicks(p)
		}
	}
	m.sysBusy, m.sysAll = systemTicks()
	go m.sample()
	return m
}

func (m *meter) sample() {
	defer close(m.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		m.mu.Lock()
		for name, root := range m.roots {
			var rss, anon int64
			for _, p := range procTree(root) {
				r, a := rssKiB(p)
				rss, anon = rss+r, anon+a
				if _, ok := m.seen[p]; !ok {
					m.seen[p] = 0 // born during the interval
				}
			}
			m.peak[name] = max(m.peak[name], rss)
			m.anon[name] = max(m.anon[name], anon)
		}
		m.mu.Unlock()
		select {
		case <-m.stopc:
			return
		case <-t.C:
		}
	}
}

// stop returns the usage per tree and the machine's busy percentage (of
// all its cores).
func (m *meter) stop() (map[string]Usage, float64) {
	close(m.stopc)
	<-m.done
	secs := time.Since(m.start).Seconds()
	out := map[string]Usage{}
	for name, root := range m.roots {
		var ticks int64
		for _, p := range procTree(root) {
			ticks += cpuTicks(p) - m.seen[p]
		}
		out[name] = Usage{
			CPUPercent:         100 * float64(ticks) / clockTicks / secs,
			CPUSeconds:         float64(ticks) / clockTicks,
			PeakAnonMiB:        float64(m.anon[name]) / 1024,
			CommandsCPUPercent: 100 * float64(childTicks(root)-m.child[name]) / clockTicks / secs,
			PeakRSSMiB:         float64(m.peak[name]) / 1024,
		}
	}
	busy, all := systemTicks()
	sys := 0.0
	if all > m.sysAll {
		sys = 100 * float64(busy-m.sysBusy) / float64(all-m.sysAll)
	}
	return out, sys
}

// socketStats sums, over the UDP sockets bound to port, the bytes waiting
// to be read and the datagrams the kernel dropped because the socket's
// receive buffer was full.
func socketStats(port int) (queued, drops int64) {
	for _, file := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 13 {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(p) != port {
				continue
			}
			_, rx, _ := strings.Cut(f[4], ":")
			if n, err := strconv.ParseInt(rx, 16, 64); err == nil {
				queued += n
			}
			if n, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil {
				drops += n
			}
		}
	}
	return queued, drops
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
