package gluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
}

// LocalState reads this node's state with `get-state`, which writes a file
// that is read and removed here.
func (c *CLI) LocalState(ctx context.Context) (*LocalState, error) {
	return DumpLocalState(func(dir, file string) error {
		_, err := c.exec(ctx, []string{"get-state", "glusterd", "odir", dir, "file", file, "detail"}, true)
		return err
	})
}

// DumpLocalState has dump make glusterd write its detailed state as file in
// dir, a private directory made for it, then reads that file, fills in what
// get-state lacks, and removes it. An error of dump is returned as it is.
func DumpLocalState(dump func(dir, file string) error) (*LocalState, error) {
	dir, err := os.MkdirTemp("", "glusterbus-get-state-")
	if err != nil {
		return nil, fmt.Errorf("gluster get-state: %w", err)
	}
	defer os.RemoveAll(dir)
	const file = "state"
	if err := dump(dir, file); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, fmt.Errorf("gluster get-state: %w", err)
	}
	st, err := ParseGetState(data)
	if err != nil {
		return nil, err
	}
	for i := range st.Bricks {
		addInodes(&st.Bricks[i])
	}
	return st, nil
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
func ParseGetState(data []byte) (*LocalState, error) {
	var (
		st       LocalState
		section  string
		sections = map[string]bool{}
		volumes  = map[string]string{}       // "Volume1" -> name
		bricks   = map[string]*BrickStatus{} // "Volume1.Brick2" -> brick
		order    []string                    // brick keys in file order
		local    = map[string]bool{}         // brick keys with a status
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			sections[section] = true
			continue
		}
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
				continue
			}
			brick, field, ok := strings.Cut(rest, ".")
			if !ok || !strings.HasPrefix(brick, "Brick") {
				continue
			}
			bk := vol + "." + brick
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
		return nil, fmt.Errorf("get-state: %w", err)
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
	return &st, nil
}
