// Package xmlgen makes gluster --xml outputs of any size for benchmarks. It
// does not invent the XML: it cuts the documents captured from a real
// GlusterFS 10.3 cluster (internal/gluster/testdata) into their head, one
// volume and their tail, and repeats the volume "rep3" (replica 3, one brick
// on each of three nodes) under new names, ids, brick paths, pids and ports.
package xmlgen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The captured volume every generated volume is made from.
const templateVolume = "rep3"

// Templates are the captured documents, cut into pieces.
type Templates struct {
	Dir string // the testdata directory they were read from

	infoHead, infoVolume, infoTail       string
	statusHead, statusVolume, statusTail string
	infoID                               string // the template volume's id

	// Documents replayed as they are.
	PeerStatus, PoolList, OpVersion []byte
	Version, UUID                   []byte
	InfoMissing, StatusNotStarted   []byte
	StatusMissing                   []byte
}

// Load reads the captures from dir (internal/gluster/testdata).
func Load(dir string) (*Templates, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("xmlgen: %w", err)
		}
		return string(b), nil
	}
	t := &Templates{Dir: dir}
	info, err := read("volume-info-all.xml")
	if err != nil {
		return nil, err
	}
	if t.infoHead, t.infoVolume, err = cut(info, "<name>"+templateVolume+"</name>"); err != nil {
		return nil, fmt.Errorf("xmlgen: volume-info-all.xml: %w", err)
	}
	// The tail is what follows the last volume: <count>, then the closing
	// elements.
	i := strings.Index(info, "      <count>")
	if i < 0 {
		return nil, fmt.Errorf("xmlgen: volume-info-all.xml: no <count>")
	}
	t.infoTail = info[i:]
	m := regexp.MustCompile(`<id>([^<]+)</id>`).FindStringSubmatch(t.infoVolume)
	if m == nil {
		return nil, fmt.Errorf("xmlgen: volume-info-all.xml: %s has no <id>", templateVolume)
	}
	t.infoID = m[1]

	status, err := read("volume-status-all-detail.xml")
	if err != nil {
		return nil, err
	}
	if t.statusHead, t.statusVolume, err = cut(status, "<volName>"+templateVolume+"</volName>"); err != nil {
		return nil, fmt.Errorf("xmlgen: volume-status-all-detail.xml: %w", err)
	}
	end := strings.LastIndex(status, "      </volume>\n")
	if end < 0 {
		return nil, fmt.Errorf("xmlgen: volume-status-all-detail.xml: no closing </volume>")
	}
	t.statusTail = status[end+len("      </volume>\n"):]

	for _, f := range []struct {
		dst  *[]byte
		name string
	}{
		{&t.PeerStatus, "peer-status.xml"},
		{&t.PoolList, "pool-list.xml"},
		{&t.OpVersion, "op-version.xml"},
		{&t.Version, "version.txt"},
		{&t.UUID, "uuid-get.txt"},
		{&t.InfoMissing, "error-volume-info-missing.xml"},
		{&t.StatusNotStarted, "error-volume-status-stopped-detail.xml"},
		{&t.StatusMissing, "error-volume-status-missing-detail.xml"},
	} {
		s, err := read(f.name)
		if err != nil {
			return nil, err
		}
		*f.dst = []byte(s)
	}
	return t, nil
}

// cut returns the document's head (everything before its first volume) and
// the whole <volume> element that contains marker, with its indentation and
// trailing newline.
func cut(doc, marker string) (head, volume string, err error) {
	const open, close = "      <volume>\n", "      </volume>\n"
	first := strings.Index(doc, open)
	at := strings.Index(doc, marker)
	if first < 0 || at < 0 {
		return "", "", fmt.Errorf("no volume %q", marker)
	}
	start := strings.LastIndex(doc[:at], open)
	end := strings.Index(doc[at:], close)
	if start < 0 || end < 0 {
		return "", "", fmt.Errorf("volume %q is not a whole element", marker)
	}
	return doc[:first], doc[start : at+end+len(close)], nil
}

// Name is the name of the i-th generated volume.
func Name(i int) string { return fmt.Sprintf("vol%05d", i) }

// ID is a stable UUID-shaped id for a volume name.
func ID(name string) string {
	h := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Volume is one generated volume.
type Volume struct {
	Name    string
	Started bool
	Index   int // numbers its bricks' pids and ports
}

// Volumes returns n volumes named Name(0..n-1), of which the first started
// are started and the rest stopped.
func Volumes(n, started int) []Volume {
	out := make([]Volume, n)
	for i := range out {
		out[i] = Volume{Name: Name(i), Started: i < started, Index: i}
	}
	return out
}

// VolumeInfo is `gluster volume info all --xml` (or of one volume) for the
// volumes.
func (t *Templates) VolumeInfo(vols []Volume) []byte {
	var b bytes.Buffer
	b.WriteString(t.infoHead)
	for _, v := range vols {
		s := t.infoVolume
		s = strings.Replace(s, "<name>"+templateVolume+"</name>", "<name>"+v.Name+"</name>", 1)
		s = strings.Replace(s, "<id>"+t.infoID+"</id>", "<id>"+ID(v.Name)+"</id>", 1)
		s = strings.ReplaceAll(s, "/bricks/"+templateVolume+"<", "/bricks/"+v.Name+"<")
		if !v.Started {
			s = strings.Replace(s, "<status>1</status>", "<status>2</status>", 1)
			s = strings.Replace(s, "<statusStr>Started</statusStr>", "<statusStr>Stopped</statusStr>", 1)
		}
		b.WriteString(s)
	}
	b.WriteString(strings.Replace(t.infoTail, "<count>9</count>", fmt.Sprintf("<count>%d</count>", len(vols)), 1))
	return b.Bytes()
}

var (
	pidRE  = regexp.MustCompile(`<pid>\d+</pid>`)
	portRE = regexp.MustCompile(`<(port|tcp)>\d+</(port|tcp)>`)
)

// VolumeStatusDetail is `gluster volume status all detail --xml` (or of one
// volume) for the volumes; like gluster, it leaves out the stopped ones.
func (t *Templates) VolumeStatusDetail(vols []Volume) []byte {
	var b bytes.Buffer
	b.WriteString(t.statusHead)
	for _, v := range vols {
		if !v.Started {
			continue
		}
		s := t.statusVolume
		s = strings.Replace(s, "<volName>"+templateVolume+"</volName>", "<volName>"+v.Name+"</volName>", 1)
		s = strings.ReplaceAll(s, "/bricks/"+templateVolume+"<", "/bricks/"+v.Name+"<")
		brick := 0
		s = pidRE.ReplaceAllStringFunc(s, func(string) string {
			brick++
			return fmt.Sprintf("<pid>%d</pid>", 10000+3*v.Index+brick)
		})
		port := 0
		s = portRE.ReplaceAllStringFunc(s, func(m string) string {
			tag := m[1:strings.IndexByte(m, '>')]
			p := 49152 + (3*v.Index+port/2)%16000 // <port> and <tcp> of one brick agree
			port++
			return fmt.Sprintf("<%s>%d</%s>", tag, p, tag)
		})
		b.WriteString(s)
	}
	b.WriteString(t.statusTail)
	return b.Bytes()
}
