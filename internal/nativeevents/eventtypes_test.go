package nativeevents

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// installedEventTypes is GlusterFS's own event table.
const installedEventTypes = "/usr/lib/x86_64-linux-gnu/glusterfs/gfevents/eventtypes.py"

var (
	pyListStart = regexp.MustCompile(`(?m)^all_events\s*=\s*\[`)
	pyListItem  = regexp.MustCompile(`^\s*"([A-Z0-9_]+)",?\s*$`)
	pyConstant  = regexp.MustCompile(`(?m)^([A-Z0-9_]+)\s*=\s*([0-9]+)\s*$`)
)

// readEventTypesPy returns all_events and the NAME = number constants of an
// eventtypes.py.
func readEventTypesPy(t *testing.T, src string) (list []string, consts map[string]int) {
	t.Helper()
	loc := pyListStart.FindStringIndex(src)
	if loc == nil {
		t.Fatal("eventtypes.py: no all_events list")
	}
	rest := src[loc[1]:]
	end := regexp.MustCompile(`(?m)^\]`).FindStringIndex(rest)
	if end == nil {
		t.Fatal("eventtypes.py: all_events not closed")
	}
	for _, line := range regexp.MustCompile(`\n`).Split(rest[:end[0]], -1) {
		if m := pyListItem.FindStringSubmatch(line); m != nil {
			list = append(list, m[1])
		} else if regexp.MustCompile(`\S`).MatchString(line) {
			t.Fatalf("eventtypes.py: unexpected line in all_events: %q", line)
		}
	}
	consts = map[string]int{}
	for _, m := range pyConstant.FindAllStringSubmatch(src[loc[1]+end[1]:], -1) {
		n, _ := strconv.Atoi(m[2])
		consts[m[1]] = n
	}
	return list, consts
}

func TestTableMatchesInstalledEventTypes(t *testing.T) {
	b, err := os.ReadFile(installedEventTypes)
	if errors.Is(err, fs.ErrNotExist) {
		testbed.Missing(t, "%s", installedEventTypes+" is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	list, consts := readEventTypesPy(t, string(b))
	if len(list) != Count {
		t.Errorf("installed table has %d events, ours %d", len(list), Count)
	}
	for i, full := range list {
		name, ok := Name(i)
		if !ok || eventPrefix+name != full {
			t.Errorf("event %d: installed %s, ours %q (known %v)", i, full, name, ok)
		}
		if n, ok := Number(full); !ok || n != i {
			t.Errorf("Number(%q) = %d, %v; want %d", full, n, ok, i)
		}
	}
	if len(consts) != len(list) {
		t.Errorf("installed file has %d constants for %d events", len(consts), len(list))
	}
	for name, n := range consts {
		if got, ok := Number(name); !ok || got != n {
			t.Errorf("constant %s = %d in eventtypes.py, Number gives %d, %v", name, n, got, ok)
		}
	}
}

func TestNameNumber(t *testing.T) {
	if Count != 142 {
		t.Errorf("Count = %d, GlusterFS 10.3 defines 142", Count)
	}
	for _, tc := range []struct {
		n    int
		name string
	}{
		{0, "PEER_ATTACH"}, {6, "VOLUME_SET"}, {7, "VOLUME_RESET"}, {71, "PEER_DISCONNECT"},
		{77, "BRICK_CONNECTED"}, {108, "AFR_SUBVOL_UP"}, {141, "DHT_INODES_USAGE"},
	} {
		if got, ok := Name(tc.n); !ok || got != tc.name {
			t.Errorf("Name(%d) = %q, %v; want %q", tc.n, got, ok, tc.name)
		}
		for _, s := range []string{tc.name, "EVENT_" + tc.name} {
			if got, ok := Number(s); !ok || got != tc.n {
				t.Errorf("Number(%q) = %d, %v; want %d", s, got, ok, tc.n)
			}
		}
	}
	for _, n := range []int{-1, Count, 1 << 40} {
		if name, ok := Name(n); ok || name != "" {
			t.Errorf("Name(%d) = %q, %v; want unknown", n, name, ok)
		}
	}
	for _, s := range []string{"", "EVENT_", "volume_set", "EVENT_EVENT_VOLUME_SET", "NOPE"} {
		if n, ok := Number(s); ok {
			t.Errorf("Number(%q) = %d, want unknown", s, n)
		}
	}
	seen := map[string]bool{}
	for i := range Count {
		name, _ := Name(i)
		if seen[name] {
			t.Errorf("duplicate name %s", name)
		}
		seen[name] = true
	}
}

// TestEventConstants checks the numbers this package uses by name.
func TestEventConstants(t *testing.T) {
	for name, n := range map[string]int{
		"PEER_ATTACH": evPeerAttach, "PEER_DETACH": evPeerDetach, "VOLUME_CREATE": evVolumeCreate,
		"VOLUME_START": evVolumeStart, "VOLUME_STOP": evVolumeStop, "VOLUME_DELETE": evVolumeDelete,
		"VOLUME_SET": evVolumeSet, "VOLUME_RESET": evVolumeReset,
		"BRICK_RESET_START": evBrickResetStart, "BRICK_RESET_COMMIT": evBrickResetCommit,
		"BRICK_REPLACE": evBrickReplace, "BITROT_ENABLE": evBitrotEnable, "BITROT_DISABLE": evBitrotDisable,
		"QUOTA_ENABLE": evQuotaEnable, "QUOTA_DISABLE": evQuotaDisable,
		"SVC_CONNECTED": evSvcConnected, "SVC_DISCONNECTED": evSvcDisconnected,
		"PEER_REJECT": evPeerReject, "PEER_CONNECT": evPeerConnect, "PEER_DISCONNECT": evPeerDisconnect,
		"BRICK_DISCONNECTED": evBrickDisconnected, "BRICK_CONNECTED": evBrickConnected,
		"QUORUM_LOST": evQuorumLost, "QUORUM_REGAINED": evQuorumRegained,
		"EC_MIN_BRICKS_NOT_UP": evECMinBricksNotUp, "EC_MIN_BRICKS_UP": evECMinBricksUp,
		"AFR_QUORUM_MET": evAFRQuorumMet, "AFR_QUORUM_FAIL": evAFRQuorumFail, "AFR_SPLIT_BRAIN": evAFRSplitBrain,
		"VOLUME_ADD_BRICK": evVolumeAddBrick, "VOLUME_REMOVE_BRICK_START": evVolumeRemoveBrickStart,
		"VOLUME_REMOVE_BRICK_COMMIT": evVolumeRemoveBrickCommit, "VOLUME_REMOVE_BRICK_STOP": evVolumeRemoveBrickStop,
		"VOLUME_REMOVE_BRICK_FORCE": evVolumeRemoveBrickForce, "VOLUME_REBALANCE_START": evVolumeRebalanceStart,
		"VOLUME_REBALANCE_STOP": evVolumeRebalanceStop, "VOLUME_REBALANCE_FAILED": evVolumeRebalanceFailed,
		"VOLUME_REBALANCE_COMPLETE": evVolumeRebalanceComplete,
	} {
		if got, ok := Number(name); !ok || got != n {
			t.Errorf("constant for %s is %d, table says %d", name, n, got)
		}
	}
}
