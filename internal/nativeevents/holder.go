package nativeevents

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portHolder names the process holding a UDP port, from /proc, or returns
// "" when it cannot tell (not Linux, not allowed to look, gone meanwhile).
func portHolder(port int) string {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		udpInodes(f, port, inodes)
	}
	if len(inodes) == 0 {
		return ""
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil {
			continue
		}
		inode, ok := strings.CutPrefix(target, "socket:[")
		if !ok || !inodes[strings.TrimSuffix(inode, "]")] {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		return fmt.Sprintf("pid %s: %s", pid, processCommand(pid))
	}
	return ""
}

// udpInodes adds the socket inodes bound to port listed in a
// /proc/net/udp* table.
func udpInodes(path string, port int, inodes map[string]bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		cols := strings.Fields(sc.Text())
		if len(cols) < 10 {
			continue
		}
		_, hexPort, ok := strings.Cut(cols[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port && cols[9] != "0" {
			inodes[cols[9]] = true
		}
	}
}

// processCommand returns a process's command line, shortened.
func processCommand(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || len(b) == 0 {
		b, _ = os.ReadFile("/proc/" + pid + "/comm")
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	if s == "" {
		s = "unknown command"
	}
	return s
}
