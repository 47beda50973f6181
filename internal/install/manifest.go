package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/glusterbus/glusterbus/internal/atomicfile"
)

// Manifest records what install wrote, so that a later install replaces
// and uninstall removes only those files, and only while they are
// unchanged. Paths are those on the installed system (without the root of a
// staged install), so a staged tree keeps a valid manifest.
type Manifest struct {
	Prefix string  `json:"prefix"`
	Group  string  `json:"group"`
	Files  []Entry `json:"files"`
	// Dirs are the directories install created, parents first; uninstall
	// removes those that are empty.
	Dirs []string `json:"dirs,omitempty"`
}

// Entry is one file install wrote.
type Entry struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// entry returns the recorded checksum of p, if p is recorded.
func (m *Manifest) entry(p string) (string, bool) {
	for _, e := range m.Files {
		if e.Path == p {
			return e.SHA256, true
		}
	}
	return "", false
}

// record sets p's checksum.
func (m *Manifest) record(p, sha string) {
	for i := range m.Files {
		if m.Files[i].Path == p {
			m.Files[i].SHA256 = sha
			return
		}
	}
	m.Files = append(m.Files, Entry{Path: p, SHA256: sha})
}

func (m *Manifest) forget(p string) {
	m.Files = slices.DeleteFunc(m.Files, func(e Entry) bool { return e.Path == p })
}

func (m *Manifest) addDir(d string) {
	if !slices.Contains(m.Dirs, d) {
		m.Dirs = append(m.Dirs, d)
	}
}

func (m *Manifest) encode() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // strings only
	}
	return append(b, '\n')
}

// ReadManifest reads the manifest of the install under root; nil and no
// error when there is none.
func ReadManifest(root string) (*Manifest, error) {
	file := onDisk(root, LayoutFor("/").Manifest)
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, p := range append(paths(m.Files), m.Dirs...) {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return nil, fmt.Errorf("%s: bad path %q", file, p)
		}
	}
	return &m, nil
}

func paths(es []Entry) []string {
	var ps []string
	for _, e := range es {
		ps = append(ps, e.Path)
	}
	return ps
}

// writeManifest stores m under root unless it holds that already.
func writeManifest(root string, m *Manifest) error {
	file := onDisk(root, LayoutFor("/").Manifest)
	data := m.encode()
	if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, data) {
		return nil
	}
	created, err := mkdirAll(root, path.Dir(LayoutFor("/").Manifest), 0o750)
	for _, d := range created {
		m.addDir(d)
	}
	if err != nil {
		return err
	}
	if len(created) > 0 {
		data = m.encode()
	}
	return atomicfile.Write(file, data, 0o644)
}

// onDisk is where p of the installed system is under root.
func onDisk(root, p string) string {
	return filepath.Join(root, p)
}
