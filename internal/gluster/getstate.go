package gluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/glusterbus/glusterbus/internal/fanout"
)

// LocalState is what `gluster get-state glusterd ... detail` tells of this
// node. glusterd answers it from its own memory and takes no volume lock,
// unlike `volume status`, so it can be read at any time without making an
// admin's command fail.
type LocalState struct {
	UUID      string
	OpVersion uint32
	// Bricks are this node's bricks of every volume, with the runtime
	// glusterd knows of them; other nodes' bricks carry none and are left
	// out.
	Bricks []BrickStatus
	// Volumes names every volume the dump lists.
	Volumes []string
	// Healed are the volumes with replica or disperse sets: those that
	// self-heal.
	Healed map[string]bool
	// Tasks are the rebalance and remove-brick tasks this node's glusterd
	// knows, one per volume at most (glusterd keeps only the last).
	Tasks []Task
}

// Task types, as `volume status ... tasks` names them.
const (
	TaskRebalance   = "Rebalance"
	TaskRemoveBrick = "Remove brick"
)

// Task is a volume's rebalance or remove-brick task as this node's glusterd
// knows it: each node runs its own rebalance process, so the status and the
// figures are this node's. glusterd learns the figures from the process only
// when it ends (or when someone runs `rebalance status`, which takes the
// volume lock): while the task runs they stay as they were.
type Task struct {
	Volume string
	ID     string
	// Type is TaskRebalance or TaskRemoveBrick, from glusterd's
	// node_state.info; "" when that could not be read.
	Type string
	// Status is named as `volume status ... tasks` names it: "in progress",
	// "completed", "stopped", "failed", "fix-layout in progress", ...
	Status   string
	Files    uint64 // files moved
	Data     string // data moved, as glusterd prints it ("9.0MB")
	Lookups  uint64 // files looked at
	Failures uint64
	Skipped  uint64
	TimeLeft uint64 // seconds, glusterd's estimate
	// From node_state.info, when read: data moved in bytes and run time.
	DataBytes   uint64
	RunTimeSecs float64
	HaveDetail  bool // DataBytes and RunTimeSecs were read
}

// Running says whether the task's process still runs.
func (t *Task) Running() bool { return strings.HasSuffix(t.Status, "in progress") }

// taskStatusNames maps get-state's rebalance status names to the names the
// CLI shows (cli_vol_task_status_str in cli-rpc-ops.c).
var taskStatusNames = map[string]string{
	"not_started":         "not started",
	"started":             "in progress",
	"stopped":             "stopped",
	"completed":           "completed",
	"failed":              "failed",
	"layout_fix_started":  "fix-layout in progress",
	"layout_fix_stopped":  "fix-layout stopped",
	"layout_fix_complete": "fix-layout completed",
	"layout_fix_failed":   "fix-layout failed",
}

// LocalState reads this node's state with `get-state`, which writes a file
// that is read and removed here.
func (c *CLI) LocalState(ctx context.Context) (*LocalState, error) {
	st, err := DumpLocalState(func(dir, file string) error {
		_, err := c.exec(ctx, []string{"get-state", "glusterd", "odir", dir, "file", file, "detail"}, true)
		return err
	})
	if err == nil && len(st.Tasks) > 0 {
		if wd, err := c.workdir(ctx); err == nil {
			AddTaskDetails(st, wd)
		}
	}
	return st, err
}

// AddTaskDetails fills in each task's type, data moved and run time from
// glusterd's vols/<volume>/node_state.info under its working directory wd,
// where it can be read.
func AddTaskDetails(st *LocalState, wd string) {
	for i := range st.Tasks {
		t := &st.Tasks[i]
		if data, err := os.ReadFile(filepath.Join(wd, "vols", t.Volume, "node_state.info")); err == nil {
			AddNodeState(t, data)
		}
	}
}

// DumpLocalState has dump make glusterd write its detailed state as file in
// dir, a private directory made for it, then reads that file, fills in what
// get-state lacks, and removes it. An error of dump is returned as it is.
func DumpLocalState(dump func(dir, file string) error) (*LocalState, error) {
	return DumpLocalStateWith(dump, func(f *os.File) (*LocalState, error) { return ReadGetState(f) })
}

// DumpLocalStateWith is DumpLocalState reading the dump with read, which is
// given the file open at its start (it may read it more than once: the
// file stays until read returns) and returns a state of its own: the inode
// figures are added to its bricks. An error of read is returned as it is.
func DumpLocalStateWith(dump func(dir, file string) error, read func(*os.File) (*LocalState, error)) (*LocalState, error) {
	dir, err := os.MkdirTemp(dumpParent(), "glusterbus-get-state-")
	if err != nil {
		return nil, fmt.Errorf("gluster get-state: %w", err)
	}
	defer os.RemoveAll(dir)
	const file = "state"
	if err := dump(dir, file); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return nil, fmt.Errorf("gluster get-state: %w", err)
	}
	defer f.Close()
	st, err := read(f)
	if err != nil {
		return nil, err
	}
	fanout.Each(len(st.Bricks), func(i int) { addInodes(&st.Bricks[i]) })
	return st, nil
}

// dumpParent is where the private directory of a dump is made. glusterd
// writes the file, so it must see that directory as this process does: under
// the systemd unit, whose /tmp is its own (PrivateTmp=), the unit's
// RuntimeDirectory= (/run/glusterbus, shared with glusterd, and in memory),
// which systemd names in $RUNTIME_DIRECTORY; else the temporary directory.
func dumpParent() string {
	first, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":")
	return first // "" is os.TempDir()
}

// workdir is glusterd's working directory, asked once.
func (c *CLI) workdir(ctx context.Context) (string, error) {
	c.wdMu.Lock()
	defer c.wdMu.Unlock()
	if c.wd != "" {
		return c.wd, nil
	}
	wd, err := c.Workdir(ctx)
	if err == nil {
		c.wd = wd
	}
	return wd, err
}

// glusterd's operation codes for a rebalance task's origin (enum glusterd_op
// in glusterd.h; new codes are only ever added at its end).
const (
	opRemoveBrick = "9"
	opRebalance   = "19"
)

// AddNodeState completes a task from glusterd's vols/<volume>/node_state.info
// ("key=value" lines): its type, the data moved in bytes and the run time.
// A file about another task (a different rebalance-id) is ignored.
func AddNodeState(t *Task, data []byte) {
	kv := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = v
		}
	}
	if kv["rebalance-id"] != t.ID {
		return
	}
	switch kv["rebalance_op"] {
	case opRebalance:
		t.Type = TaskRebalance
	case opRemoveBrick:
		t.Type = TaskRemoveBrick
	}
	size, errSize := strconv.ParseUint(kv["size"], 10, 64)
	run, errRun := strconv.ParseFloat(kv["run-time"], 64)
	if errSize == nil && errRun == nil && run >= 0 {
		t.DataBytes, t.RunTimeSecs, t.HaveDetail = size, run, true
	}
}

// addInodes fills a local brick's inode figures, which get-state lacks,
// from its file system.
func addInodes(b *BrickStatus) {
	var fs syscall.Statfs_t
	if syscall.Statfs(b.Path, &fs) != nil {
		return
	}
	b.InodesTotal, b.InodesFree = fs.Files, fs.Ffree
}

// ParseGetState reads the output file of `get-state glusterd detail`:
// "key: value" lines in [Sections], where a volume's keys start with
// "VolumeN." and its bricks' with "VolumeN.BrickM.". A brick is this node's
// when it carries a status.
func ParseGetState(data []byte) (*LocalState, error) { return ReadGetState(bytes.NewReader(data)) }

// ReadGetState is ParseGetState reading the dump from r as it parses it,
// without holding all of it (megabytes at thousands of volumes).
func ReadGetState(r io.Reader) (*LocalState, error) {
	var (
		st        LocalState
		section   string
		sections  = map[string]bool{}
		volumes   = map[string]string{}       // "Volume1" -> name
		bricks    = map[string]*BrickStatus{} // "Volume1.Brick2" -> brick
		order     []string                    // brick keys in file order
		local     = map[string]bool{}         // brick keys with a status
		tasks     = map[string]*Task{}        // "Volume1" -> its task
		healed    = map[string]bool{}         // "Volume1" -> replicated or dispersed
		volOrder  []string
		lastBrick string // the key of the brick of the last line
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) >= 2 && raw[0] == '[' && raw[len(raw)-1] == ']' {
			section = string(raw[1 : len(raw)-1])
			sections[section] = true
			continue
		}
		if !wantedLine(section, raw) {
			continue
		}
		line := string(raw)
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch section {
		case "Global":
			switch key {
			case "MYUUID":
				st.UUID = value
			case "op-version":
				st.OpVersion = atou32(value)
			}
		case "Volumes":
			vol, rest, ok := strings.Cut(key, ".")
			if !ok {
				continue
			}
			if rest == "name" {
				volumes[vol] = value
				volOrder = append(volOrder, vol)
				continue
			}
			if (rest == "replica_count" || rest == "disperse_count") && atou32(value) > 1 {
				healed[vol] = true
				continue
			}
			if field, ok := strings.CutPrefix(rest, "rebalance."); ok || rest == "time_left" {
				t := tasks[vol]
				if t == nil {
					t = &Task{}
					tasks[vol] = t
				}
				parseTaskField(t, field, rest, value)
				continue
			}
			brick, field, ok := strings.Cut(rest, ".")
			if !ok || !strings.HasPrefix(brick, "Brick") {
				continue
			}
			// A brick's lines come one after the other: its key is kept
			// once made (the comparison's key stays on the stack).
			if lastBrick != vol+"."+brick {
				lastBrick = vol + "." + brick
			}
			bk := lastBrick
			b := bricks[bk]
			if b == nil {
				b = &BrickStatus{Pid: -1}
				bricks[bk] = b
				order = append(order, bk)
			}
			switch field {
			case "path":
				b.Host, b.Path = SplitBrickName(value)
			case "status":
				local[bk] = true
				b.Online = value == "Started"
			case "port":
				b.Port = atou32(value)
			case "spacefree":
				b.SizeFree = atou64(strings.TrimSuffix(value, "Bytes"))
			case "spacetotal":
				b.SizeTotal = atou64(strings.TrimSuffix(value, "Bytes"))
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("get-state: %w", err)
		}
		return nil, fmt.Errorf("gluster get-state: %w", err) // reading r
	}
	if !sections["Global"] || !sections["Volumes"] {
		return nil, errors.New("get-state: not a glusterd state dump (no [Global] or [Volumes] section)")
	}
	for _, bk := range order {
		b := bricks[bk]
		if !local[bk] || b.Path == "" {
			continue
		}
		vol, _, _ := strings.Cut(bk, ".")
		b.Volume, b.HostUUID = volumes[vol], st.UUID
		if b.Volume == "" {
			continue
		}
		if !b.Online {
			b.Port = 0
		}
		st.Bricks = append(st.Bricks, *b)
	}
	st.Healed = map[string]bool{}
	for _, vol := range volOrder {
		if volumes[vol] == "" {
			continue // a name glusterd never writes: no volume to tell of
		}
		st.Volumes = append(st.Volumes, volumes[vol])
		if healed[vol] {
			st.Healed[volumes[vol]] = true
		}
		t := tasks[vol]
		if t == nil || t.Status == "" || t.Status == "not started" || t.ID == "" || t.ID == zeroUUID {
			continue
		}
		t.Volume = volumes[vol]
		st.Tasks = append(st.Tasks, *t)
	}
	return &st, nil
}

// wantedLine says whether a line of a dump's section may matter to
// ParseGetState, before a string is made of it: at thousands of volumes
// most lines (options, clients, services, peers) do not.
func wantedLine(section string, line []byte) bool {
	switch section {
	case "Global":
		return true
	case "Volumes":
		key, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false
		}
		_, rest, ok := bytes.Cut(bytes.TrimSpace(key), []byte("."))
		if !ok {
			return false
		}
		switch string(rest) {
		case "name", "replica_count", "disperse_count", "time_left":
			return true
		}
		if bytes.HasPrefix(rest, []byte("rebalance.")) {
			return true
		}
		brick, field, ok := bytes.Cut(rest, []byte("."))
		if !ok || !bytes.HasPrefix(brick, []byte("Brick")) {
			return false
		}
		switch string(field) {
		case "path", "status", "port", "spacefree", "spacetotal":
			return true
		}
	}
	return false
}

const zeroUUID = "00000000-0000-0000-0000-000000000000"

// parseTaskField reads one of a volume's "rebalance.<field>" or "time_left"
// lines into its task.
func parseTaskField(t *Task, field, key, value string) {
	switch {
	case key == "time_left":
		t.TimeLeft = atou64(value)
	case field == "id":
		t.ID = value
	case field == "status":
		if name, ok := taskStatusNames[value]; ok {
			t.Status = name
		} else {
			t.Status = value // a newer release's status: shown as it is
		}
	case field == "files":
		t.Files = atou64(value)
	case field == "data":
		t.Data = value
	case field == "lookedup":
		t.Lookups = atou64(value)
	case field == "failures":
		t.Failures = atou64(value)
	case field == "skipped":
		t.Skipped = atou64(value)
	}
}
