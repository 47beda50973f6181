package gluster

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Volume is one volume of `gluster volume info --xml`.
type Volume struct {
	Name      string
	ID        string
	Status    string // statusStr: Created, Started or Stopped
	Type      string // typeStr: Distribute, Replicate, Disperse, Distributed-Replicate, Distributed-Disperse, ...
	Transport string // tcp, rdma or "tcp,rdma"; empty when unknown

	BrickCount uint32
	// DistCount is the number of distribute subvolumes: BrickCount divided
	// by the bricks of one replica or disperse set (1 for a pure Replicate or
	// Disperse volume, BrickCount for a pure Distribute one).
	//
	// It is computed here rather than read from <distCount>, whose meaning
	// changed: up to GlusterFS 7 the CLI printed glusterd's dist_leaf_count,
	// the bricks per replica/disperse set (3 for a 2 x 3 volume); GlusterFS 8
	// and later print brick_count / dist_leaf_count, the number of
	// subvolumes (2 for a 2 x 3 volume). Since GlusterFS 11 glusterd does
	// that division itself, so a 10.x CLI talking to an 11.x glusterd shows
	// the set size again. The element is used only when the set size cannot
	// be derived from the other counts.
	DistCount       uint32
	ReplicaCount    uint32 // bricks per replica set, arbiter included; 1 when not replicated
	ArbiterCount    uint32 // arbiter bricks per replica set
	DisperseCount   uint32 // bricks per disperse set; 0 when not dispersed
	RedundancyCount uint32 // redundancy bricks per disperse set
	SnapshotCount   uint32

	// Options are the options recorded for the volume: those set with
	// `volume set` and those glusterd sets at creation, not every default.
	// Keys that look like secrets (IsSecretOption) are never included.
	Options map[string]string
	Bricks  []Brick
}

// Brick is one brick of a Volume.
type Brick struct {
	Name      string // host:path
	Host      string
	Path      string
	HostUUID  string // the UUID of the peer that hosts the brick
	IsArbiter bool
}

// BrickStatus is the state of one brick from `gluster volume status
// detail --xml`.
type BrickStatus struct {
	Volume   string
	Host     string
	Path     string
	HostUUID string
	Online   bool
	Pid      int64  // -1 when offline or unknown
	Port     uint32 // TCP port; 0 when offline or unknown

	SizeTotal, SizeFree     uint64 // bytes
	InodesTotal, InodesFree uint64

	Device       string
	FsName       string // file system type, e.g. ext4 or xfs
	MountOptions string
}

// Peer is a member of the trusted storage pool.
type Peer struct {
	UUID      string
	Hostname  string   // the name the peer was probed by
	Hostnames []string // every known name of the peer, Hostname first
	Connected bool
	State     string // stateStr, e.g. "Peer in Cluster"; empty for the local node in `pool list`
}

// cliOutput is the document every `gluster --xml` command prints.
type cliOutput struct {
	XMLName  xml.Name
	OpRet    string `xml:"opRet"`
	OpErrno  string `xml:"opErrno"`
	OpErrstr string `xml:"opErrstr"`
	Output   string `xml:"output"`
}

// noMessage is the message of a failure whose document says nothing more.
const noMessage = "gluster reported failure without a message"

// check returns the *CLIError that the document reports, or nil. nested is
// a message found deeper in the document, used when <opErrstr> and <output>
// have none: releases up to 3.11 print a missing opErrstr as "(null)".
func (o *cliOutput) check(nested string) error {
	ret := atoi(o.OpRet, 0)
	if ret == 0 {
		return nil
	}
	msg := message(o.OpErrstr)
	if msg == "" {
		msg = message(o.Output)
	}
	if msg == "" {
		msg = nested
	}
	if msg == "" {
		msg = noMessage
	}
	return &CLIError{ExitCode: -1, OpRet: ret, OpErrno: atoi(o.OpErrno, 0), Message: msg}
}

// message is the text of an element that may hold gluster's message, or ""
// when it holds none: C's printf of a NULL string gives "(null)".
func message(s string) string {
	s = strings.TrimSpace(s)
	if s == "(null)" {
		return ""
	}
	return s
}

// decode parses a gluster --xml document into v (a struct whose fields
// describe the elements of <cliOutput> it needs) and returns the failure the
// document reports, if any.
func decode(data []byte, v any) error {
	data = trimToXML(data)
	if len(data) == 0 {
		return errors.New("gluster: empty XML output")
	}
	if err := checkHeader(bytes.NewReader(data)); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("gluster: invalid XML output: %w", err)
	}
	return nil
}

// headerFields are the elements of <cliOutput> that say how the command went.
var headerFields = map[string]bool{"opRet": true, "opErrno": true, "opErrstr": true, "output": true}

// messageFields are the elements deeper in a document that may hold
// gluster's message: <snapshot> of `snapshot delete` repeats the header,
// quota lists have <errstr> per limit, geo-replication a <message>.
var messageFields = map[string]bool{"opErrstr": true, "output": true, "errstr": true, "message": true}

// checkHeader reads <cliOutput>'s status elements from r and stops at the
// payload of a successful command: parsing a large document once for its
// data is enough. Status elements written after the payload are read too,
// and so is the payload of a failed command, for a message.
func checkHeader(r io.Reader) error {
	dec := xml.NewDecoder(r)
	var head cliOutput
	var nested string
	root := false
	sawRet := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("gluster: invalid XML output: %w", err)
		}
		if _, ok := tok.(xml.EndElement); ok && root {
			break // </cliOutput>
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !root {
			if se.Name.Local != "cliOutput" {
				return fmt.Errorf("gluster: unexpected XML root element <%s>, want <cliOutput>", se.Name.Local)
			}
			root = true
			continue
		}
		if !headerFields[se.Name.Local] {
			if sawRet && atoi(head.OpRet, 0) == 0 {
				return nil // success; the rest is payload
			}
			msg, err := findMessage(dec)
			if err != nil {
				return fmt.Errorf("gluster: invalid XML output: %w", err)
			}
			if nested == "" {
				nested = msg
			}
			continue
		}
		var text string
		if err := dec.DecodeElement(&text, &se); err != nil {
			return fmt.Errorf("gluster: invalid XML output: %w", err)
		}
		switch se.Name.Local {
		case "opRet":
			head.OpRet, sawRet = text, true
		case "opErrno":
			head.OpErrno = text
		case "opErrstr":
			head.OpErrstr = text
		case "output":
			head.Output = text
		}
	}
	if !root {
		return errors.New("gluster: invalid XML output: no <cliOutput> element")
	}
	return head.check(nested)
}

// findMessage reads the rest of the element just started and returns the
// first message it holds in one of messageFields.
func findMessage(dec *xml.Decoder) (string, error) {
	found := ""
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !messageFields[t.Name.Local] {
				depth++
				continue
			}
			var text string
			if err := dec.DecodeElement(&text, &t); err != nil {
				return "", err
			}
			if found == "" {
				found = message(text)
			}
		case xml.EndElement:
			depth--
		}
	}
	return found, nil
}

// trimToXML drops blanks and anything the CLI printed before the XML
// document (such as a warning line). When the output holds several
// documents, only the last one is kept: `volume status all` of releases
// before 3.5 printed a document for every volume it could not read (one
// not started, say) before the one with all the others.
func trimToXML(data []byte) []byte {
	data = bytes.TrimSpace(data)
	return data[cutAt(int64(bytes.Index(data, xmlDecl)), int64(bytes.Index(data, xmlRoot)), int64(bytes.LastIndex(data, xmlRoot))):]
}

var (
	xmlDecl = []byte("<?xml")
	xmlRoot = []byte("<cliOutput")
)

// cutAt is where trimToXML cuts an output with its blanks trimmed, given
// the offsets in it of the first "<?xml" and of the first and last
// "<cliOutput" (-1 for none). An output read from a file is cut with it
// too.
func cutAt(decl, firstRoot, lastRoot int64) int64 {
	switch {
	case lastRoot > 0 && lastRoot != firstRoot:
		return lastRoot
	case decl > 0:
		return decl
	case firstRoot > 0:
		return firstRoot
	}
	return 0
}

// document returns a reader of data cut as trimToXML cuts it, for the
// parsers that read from a reader.
func document(data []byte) *io.SectionReader {
	data = trimToXML(data)
	return io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))
}

// readBuffer is the size of the buffer of a reader of a document.
const readBuffer = 64 << 10

// openPayload checks the header of doc (a document cut as trimToXML cuts
// it) as decode does and returns a decoder of doc that has read its root
// element's start, for the parser of the payload.
func openPayload(doc *io.SectionReader) (*xml.Decoder, error) {
	if err := checkPayload(doc); err != nil {
		return nil, err
	}
	return openCheckedPayload(doc)
}

// checkPayload checks that doc is a document whose header reports
// success, as openPayload does first.
func checkPayload(doc *io.SectionReader) error {
	if doc.Size() == 0 {
		return errors.New("gluster: empty XML output")
	}
	return checkHeader(openDocument(doc))
}

// openCheckedPayload is openPayload of a document checkPayload accepted.
func openCheckedPayload(doc *io.SectionReader) (*xml.Decoder, error) {
	dec := xml.NewDecoder(openDocument(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("gluster: invalid XML output: %w", err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			return dec, nil
		}
	}
}

// openDocument returns a buffered reader of doc from its start.
func openDocument(doc *io.SectionReader) io.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(doc, 0, doc.Size()), int(min(doc.Size(), readBuffer)))
}

// eachChild reads the children of the element whose start dec has just
// read, up to its end, and calls fn with the start of each. fn must read
// the child whole: DecodeElement, Skip, or eachChild again.
func eachChild(dec tokens, fn func(*xml.StartElement) error) error {
	return readElement(dec, nil, fn)
}

// CheckOutput returns nil when data is a gluster --xml document that reports
// success, a *CLIError when it reports failure (opRet != 0), and another
// error when it is not such a document.
func CheckOutput(data []byte) error {
	return decode(data, nil)
}

type xmlVolume struct {
	Name            string     `xml:"name"`
	ID              string     `xml:"id"`
	Status          string     `xml:"status"`
	StatusStr       string     `xml:"statusStr"`
	SnapshotCount   string     `xml:"snapshotCount"`
	BrickCount      string     `xml:"brickCount"`
	DistCount       string     `xml:"distCount"`
	StripeCount     string     `xml:"stripeCount"`
	ReplicaCount    string     `xml:"replicaCount"`
	ArbiterCount    string     `xml:"arbiterCount"`
	DisperseCount   string     `xml:"disperseCount"`
	RedundancyCount string     `xml:"redundancyCount"`
	Type            string     `xml:"type"`
	TypeStr         string     `xml:"typeStr"`
	Transport       string     `xml:"transport"`
	Bricks          []xmlBrick `xml:"bricks>brick"`
	// Tiered volumes (3.7 to 6) list their bricks in two groups.
	HotBricks  []xmlBrick  `xml:"bricks>hotBricks>brick"`
	ColdBricks []xmlBrick  `xml:"bricks>coldBricks>brick"`
	Options    []xmlOption `xml:"options>option"`
}

type xmlOption struct {
	Name  string `xml:"name"`
	Value string `xml:"value"`
}

// xmlBrick is a <brick>, which mixes text (host:path) with child elements:
//
//	<brick uuid="U">host:/path<name>host:/path</name><hostUuid>U</hostUuid><isArbiter>0</isArbiter></brick>
//
// Releases before 3.5 have only the text.
type xmlBrick struct {
	Text      string  `xml:",chardata"`
	UUID      string  `xml:"uuid,attr"`
	Name      string  `xml:"name"`
	HostUUID  string  `xml:"hostUuid"`
	IsArbiter *string `xml:"isArbiter"`
}

// ParseVolumeInfo parses the output of `gluster volume info --xml`. A
// successful document without <volInfo><volumes>, with a volume without a
// name, or whose <count> is not the number of volumes listed is an error:
// it is not a cluster without volumes.
func ParseVolumeInfo(data []byte) ([]Volume, error) {
	return readVolumeInfo(document(data), 0)
}

// readVolumeInfo is ParseVolumeInfo of a document cut as trimToXML cuts
// it. The volumes are decoded one at a time, so that the elements of all
// of them are never held at once: at thousands of volumes they were
// several times the size of the result. capacity is the number of volumes
// expected, e.g. the last read's.
func readVolumeInfo(doc *io.SectionReader, capacity int) ([]Volume, error) {
	splitAbove := int64(splitVolumesAbove)
	if runtime.GOMAXPROCS(0) < 2 {
		splitAbove = 0
	}
	return readVolumeInfoSplit(doc, capacity, splitAbove)
}

// splitVolumesAbove is the size of the volumes of a document above which
// readVolumeInfo decodes them in two halves side by side (some 500 volumes).
const splitVolumesAbove = 1 << 20

// readVolumeInfoSplit is readVolumeInfo that splits the volumes of doc in
// two halves when they are larger than splitAbove bytes (0: never).
func readVolumeInfoSplit(doc *io.SectionReader, capacity int, splitAbove int64) ([]Volume, error) {
	if err := checkPayload(doc); err != nil {
		return nil, err
	}
	// Read with rawTokens first; a document it finds wrong is read again
	// with the decoder's Token, for the error to report.
	r, err := openRawPayload(doc)
	if err == nil {
		r.splitAbove = splitAbove
		var vols []Volume
		if vols, err = walkVolumeInfo(r, capacity); !errors.Is(err, errWalk) {
			return vols, err
		}
	}
	dec, err := openCheckedPayload(doc)
	if err != nil {
		return nil, err
	}
	return walkVolumeInfo(dec, capacity)
}

// errWalk marks the error of walkVolumeInfo that comes from reading the
// document rather than from what it says.
var errWalk = errors.New("gluster: invalid XML output")

// walkVolumeInfo reads the payload of `volume info`, the root element's
// start already read.
func walkVolumeInfo(dec tokens, capacity int) ([]Volume, error) {
	var (
		found bool // <volInfo><volumes>
		list  = volumeList{vols: make([]Volume, 0, capacity)}
		first chan volumeListResult // the first half of the volumes, when split
	)
	err := eachChild(dec, func(se *xml.StartElement) error {
		if se.Name.Local != "volInfo" {
			return dec.Skip()
		}
		return eachChild(dec, func(se *xml.StartElement) error {
			if se.Name.Local != "volumes" {
				return dec.Skip()
			}
			found = true
			return eachChild(dec, func(se *xml.StartElement) error {
				if r, ok := dec.(*rawTokens); ok && first == nil && se.Name.Local == "volume" {
					if first = r.splitVolumes(); first != nil {
						return nil // r goes on from the second half
					}
				}
				return list.child(dec, se)
			})
		})
	})
	if first != nil {
		half := <-first
		if err == nil && half.err != nil {
			err = half.err
		}
		list.merge(&half.list)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errWalk, err)
	}
	if !found {
		return nil, errors.New("gluster: volume info output has no <volInfo><volumes>")
	}
	// The CLI counts the volumes it wrote completely; a batch that failed
	// half-way leaves volumes listed but not counted.
	vols := list.vols
	if list.counted {
		if n := atoi(list.count, -1); n >= 0 && n != len(vols) {
			return nil, fmt.Errorf("gluster: volume info output is incomplete: %d volumes listed, <count> says %d", len(vols), n)
		}
	}
	if i := slices.IndexFunc(vols, func(v Volume) bool { return v.Name == "" }); i >= 0 {
		return nil, fmt.Errorf("gluster: volume info output has a volume without a name (volume %d)", i+1)
	}
	return vols, nil
}

// volumeList is what the children of <volumes> tell.
type volumeList struct {
	vols    []Volume
	count   string // the last <count>
	counted bool
	x       xmlVolume
}

// child reads the child of <volumes> just started (se).
func (l *volumeList) child(dec tokens, se *xml.StartElement) error {
	switch se.Name.Local {
	case "volume":
		l.x = xmlVolume{}
		if err := decodeVolume(dec, &l.x); err != nil {
			return err
		}
		l.vols = append(l.vols, l.x.volume())
		return nil
	case "count":
		l.counted = true
		return readText(dec, &l.count)
	}
	return dec.Skip()
}

// merge makes l what it would be had first, the children before l's, been
// read into it first.
func (l *volumeList) merge(first *volumeList) {
	l.vols = append(first.vols, l.vols...)
	if !l.counted {
		l.count, l.counted = first.count, first.counted
	}
}

var volumeStatusNames = []string{"Created", "Started", "Stopped"}

func (x *xmlVolume) volume() Volume {
	v := Volume{
		Name:            strings.TrimSpace(x.Name),
		ID:              text(x.ID),
		Status:          text(x.StatusStr),
		Type:            text(x.TypeStr),
		BrickCount:      atou32(x.BrickCount),
		ReplicaCount:    atou32(x.ReplicaCount),
		ArbiterCount:    atou32(x.ArbiterCount),
		DisperseCount:   atou32(x.DisperseCount),
		RedundancyCount: atou32(x.RedundancyCount),
		SnapshotCount:   atou32(x.SnapshotCount),
		Options:         map[string]string{},
	}
	if v.Status == "" {
		if s := atoi(x.Status, -1); s >= 0 && s < len(volumeStatusNames) {
			v.Status = volumeStatusNames[s]
		}
	}
	switch strings.TrimSpace(x.Transport) {
	case "0":
		v.Transport = "tcp"
	case "1":
		v.Transport = "rdma"
	case "2":
		v.Transport = "tcp,rdma"
	}
	bricks := x.Bricks
	if len(x.HotBricks)+len(x.ColdBricks) > 0 {
		bricks = append(append(slices.Clip(bricks), x.HotBricks...), x.ColdBricks...)
	}
	if len(bricks) > 0 && v.BrickCount == 0 {
		v.BrickCount = uint32(len(bricks))
	}
	if v.ReplicaCount == 0 {
		v.ReplicaCount = 1
	}

	// The bricks of one replica or disperse set (dist_leaf_count).
	setSize := v.ReplicaCount
	if v.DisperseCount > 0 {
		setSize = v.DisperseCount
	} else if s := atou32(x.StripeCount); s > 1 {
		setSize *= s
	}
	switch {
	case v.BrickCount == 0:
		v.DistCount = 0
	case v.BrickCount%setSize == 0:
		v.DistCount = v.BrickCount / setSize
	default:
		// Not a whole number of sets (never seen in practice): trust
		// <distCount> if it is plausible.
		if d := atou32(x.DistCount); d <= v.BrickCount {
			v.DistCount = d
		}
	}
	if v.Type == "" {
		v.Type = volumeType(v)
	}

	// Releases without <isArbiter> put the arbiters last in every replica
	// set.
	deriveArbiters := v.ArbiterCount > 0 && v.ArbiterCount < v.ReplicaCount
	for _, xb := range bricks {
		if xb.IsArbiter != nil {
			deriveArbiters = false
		}
	}
	for i, xb := range bricks {
		b := xb.brick()
		if deriveArbiters {
			b.IsArbiter = uint32(i)%v.ReplicaCount >= v.ReplicaCount-v.ArbiterCount
		}
		v.Bricks = append(v.Bricks, b)
	}

	for _, o := range x.Options {
		key := strings.TrimSpace(o.Name)
		if key == "" || IsSecretOption(key) {
			continue
		}
		v.Options[key] = o.Value
	}
	return v
}

// volumeType names the type of a volume from its counts, for outputs that
// lack <typeStr>.
func volumeType(v Volume) string {
	var t string
	switch {
	case v.DisperseCount > 0:
		t = "Disperse"
	case v.ReplicaCount > 1:
		t = "Replicate"
	default:
		return "Distribute"
	}
	if v.DistCount > 1 {
		t = "Distributed-" + t
	}
	return t
}

func (xb *xmlBrick) brick() Brick {
	b := Brick{
		Name:     text(xb.Name),
		HostUUID: text(xb.HostUUID),
	}
	if b.Name == "" {
		b.Name = text(xb.Text)
	}
	if b.HostUUID == "" {
		b.HostUUID = text(xb.UUID)
	}
	b.Host, b.Path = SplitBrickName(b.Name)
	if xb.IsArbiter != nil {
		b.IsArbiter = strings.TrimSpace(*xb.IsArbiter) == "1"
	}
	return b
}

// SplitBrickName splits a brick name "host:/path" into host and path. The
// split is at the first ":/", so that IPv6 hosts work too.
func SplitBrickName(name string) (host, path string) {
	if i := strings.Index(name, ":/"); i >= 0 {
		return name[:i], name[i+1:]
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// secretWords mark option keys whose values must never be exposed.
var secretWords = []string{"password", "passwd", "secret", "token", "credential"}

// IsSecretOption reports whether a volume option key looks like it holds a
// secret; such options are dropped from Volume.Options. Besides keys that
// name a password, secret, token or credential, that is everything under
// auth.login. (the user names a brick allows and their passwords) and the
// "username" glusterd keeps for each volume (its "password" is caught by
// the words).
func IsSecretOption(key string) bool {
	key = strings.ToLower(strings.TrimSpace(key))
	if key == "username" || strings.HasSuffix(key, ".username") || strings.HasPrefix(key, "auth.login.") {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

type xmlNodeStatus struct {
	Hostname    string `xml:"hostname"`
	Path        string `xml:"path"`
	PeerID      string `xml:"peerid"`
	Status      string `xml:"status"`
	Port        string `xml:"port"`
	TCPPort     string `xml:"ports>tcp"`
	Pid         string `xml:"pid"`
	SizeTotal   string `xml:"sizeTotal"`
	SizeFree    string `xml:"sizeFree"`
	Device      string `xml:"device"`
	MntOptions  string `xml:"mntOptions"`
	FsName      string `xml:"fsName"`
	InodesTotal string `xml:"inodesTotal"`
	InodesFree  string `xml:"inodesFree"`
}

type xmlVolumeStatus struct {
	Name  string          `xml:"volName"`
	Nodes []xmlNodeStatus `xml:"node"`
	// Tiered volumes (3.7 to 6) group their bricks.
	HotNodes  []xmlNodeStatus `xml:"hotBricks>node"`
	ColdNodes []xmlNodeStatus `xml:"coldBricks>node"`
}

// ParseVolumeStatusDetail parses the output of `gluster volume status
// detail --xml`. Only bricks are returned: entries of daemons (self-heal,
// NFS, quota, ...), whose path is not absolute, are left out. gluster itself
// leaves out the bricks of peers that are disconnected, and stopped volumes
// when asked about all volumes.
func ParseVolumeStatusDetail(data []byte) ([]BrickStatus, error) {
	return readVolumeStatusDetail(document(data), 0)
}

// readVolumeStatusDetail is ParseVolumeStatusDetail of a document cut as
// trimToXML cuts it, decoded one <volume> at a time as readVolumeInfo does;
// capacity is the number of bricks expected.
func readVolumeStatusDetail(doc *io.SectionReader, capacity int) ([]BrickStatus, error) {
	dec, err := openPayload(doc)
	if err != nil {
		return nil, err
	}
	var (
		out   = make([]BrickStatus, 0, capacity)
		found bool // <volStatus>
		// 3.3 has one volume directly under <volStatus>, which comes
		// after those of <volumes>.
		one      xmlVolumeStatus
		bricksOf error // the first volume whose bricks are not valid
		x        xmlVolumeStatus
	)
	nodes := func(list *[]xmlNodeStatus) func(*xml.StartElement) error {
		return func(se *xml.StartElement) error {
			if se.Name.Local != "node" {
				return dec.Skip()
			}
			var n xmlNodeStatus
			if err := dec.DecodeElement(&n, se); err != nil {
				return err
			}
			*list = append(*list, n)
			return nil
		}
	}
	err = eachChild(dec, func(se *xml.StartElement) error {
		if se.Name.Local != "volStatus" {
			return dec.Skip()
		}
		found = true
		return eachChild(dec, func(se *xml.StartElement) error {
			switch se.Name.Local {
			case "volumes":
				return eachChild(dec, func(se *xml.StartElement) error {
					if se.Name.Local != "volume" {
						return dec.Skip()
					}
					x = xmlVolumeStatus{}
					if err := dec.DecodeElement(&x, se); err != nil {
						return err
					}
					var err error
					if out, err = x.appendBricks(out); err != nil && bricksOf == nil {
						bricksOf = err
					}
					return nil
				})
			case "volName":
				return dec.DecodeElement(&one.Name, se)
			case "node":
				return nodes(&one.Nodes)(se)
			case "hotBricks":
				return eachChild(dec, nodes(&one.HotNodes))
			case "coldBricks":
				return eachChild(dec, nodes(&one.ColdNodes))
			}
			return dec.Skip()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("gluster: invalid XML output: %w", err)
	}
	if !found {
		return nil, errors.New("gluster: volume status output has no <volStatus>")
	}
	if bricksOf != nil {
		return nil, bricksOf
	}
	if one.Name != "" || len(one.Nodes) > 0 {
		if out, err = one.appendBricks(out); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// appendBricks appends the bricks of v to out.
func (v *xmlVolumeStatus) appendBricks(out []BrickStatus) ([]BrickStatus, error) {
	name := strings.TrimSpace(v.Name)
	nodes := v.Nodes
	if len(v.HotNodes)+len(v.ColdNodes) > 0 {
		nodes = append(append(slices.Clip(nodes), v.HotNodes...), v.ColdNodes...)
	}
	for _, n := range nodes {
		path := strings.TrimSpace(n.Path)
		if !strings.HasPrefix(path, "/") {
			continue
		}
		if name == "" {
			return out, errors.New("gluster: volume status output has bricks of a volume without a name")
		}
		b := BrickStatus{
			Volume:       name,
			Host:         strings.TrimSpace(n.Hostname),
			Path:         path,
			HostUUID:     text(n.PeerID),
			Online:       strings.TrimSpace(n.Status) == "1",
			Pid:          -1,
			SizeTotal:    atou64(n.SizeTotal),
			SizeFree:     atou64(n.SizeFree),
			InodesTotal:  atou64(n.InodesTotal),
			InodesFree:   atou64(n.InodesFree),
			Device:       text(n.Device),
			FsName:       text(n.FsName),
			MountOptions: text(n.MntOptions),
		}
		if b.Online {
			if pid, err := strconv.ParseInt(strings.TrimSpace(n.Pid), 10, 64); err == nil && pid > 0 {
				b.Pid = pid
			}
			b.Port = atou32(n.Port)
			if b.Port == 0 {
				b.Port = atou32(n.TCPPort)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

type xmlPeerStatus struct {
	PeerStatus *struct {
		Peers []struct {
			UUID      string   `xml:"uuid"`
			Hostname  string   `xml:"hostname"`
			Hostnames []string `xml:"hostnames>hostname"`
			Connected string   `xml:"connected"`
			StateStr  string   `xml:"stateStr"`
		} `xml:"peer"`
	} `xml:"peerStatus"`
}

// ParsePeerStatus parses the output of `gluster peer status --xml` or
// `gluster pool list --xml` (which adds the local node as "localhost"). A
// successful document without <peerStatus>, or with a peer without a UUID,
// is an error.
func ParsePeerStatus(data []byte) ([]Peer, error) {
	var doc xmlPeerStatus
	if err := decode(data, &doc); err != nil {
		return nil, err
	}
	if doc.PeerStatus == nil {
		return nil, errors.New("gluster: peer status output has no <peerStatus>")
	}
	peers := make([]Peer, 0, len(doc.PeerStatus.Peers))
	for i, x := range doc.PeerStatus.Peers {
		p := Peer{
			UUID:      text(x.UUID),
			Hostname:  text(x.Hostname),
			Connected: strings.TrimSpace(x.Connected) == "1",
			State:     text(x.StateStr),
		}
		if p.UUID == "" {
			return nil, fmt.Errorf("gluster: peer status output has a peer without a UUID (peer %d)", i+1)
		}
		if p.Hostname != "" {
			p.Hostnames = append(p.Hostnames, p.Hostname)
		}
		for _, h := range x.Hostnames {
			if h = text(h); h != "" && h != p.Hostname {
				p.Hostnames = append(p.Hostnames, h)
			}
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// localPoolName is the hostname `pool list` gives the local node.
const localPoolName = "localhost"

// ParsePoolList parses the output of `gluster pool list --xml` into the
// local node and its peers.
func ParsePoolList(data []byte) (self Peer, peers []Peer, err error) {
	all, err := ParsePeerStatus(data)
	if err != nil {
		return Peer{}, nil, err
	}
	found := false
	for _, p := range all {
		if !found && p.Hostname == localPoolName && p.State == "" {
			self, found = p, true
			continue
		}
		peers = append(peers, p)
	}
	if !found {
		return Peer{}, nil, errors.New("gluster: pool list has no entry for the local node")
	}
	return self, peers, nil
}

// ParseOpVersion parses the output of `gluster volume get all
// cluster.op-version --xml`. Releases since 3.9 wrap each option in <Opt>;
// before, <Option> and <Value> follow each other directly under
// <volGetopts>.
func ParseOpVersion(data []byte) (uint32, error) {
	var doc struct {
		Opts []struct {
			Option string `xml:"Option"`
			Value  string `xml:"Value"`
		} `xml:"volGetopts>Opt"`
		Options []string `xml:"volGetopts>Option"`
		Values  []string `xml:"volGetopts>Value"`
	}
	if err := decode(data, &doc); err != nil {
		return 0, err
	}
	value, found := "", false
	for _, o := range doc.Opts {
		if strings.TrimSpace(o.Option) == "cluster.op-version" {
			value, found = o.Value, true
			break
		}
	}
	if i := slices.IndexFunc(doc.Options, func(o string) bool { return strings.TrimSpace(o) == "cluster.op-version" }); !found && i >= 0 {
		if len(doc.Options) != len(doc.Values) {
			return 0, fmt.Errorf("gluster: volume get output has %d options but %d values", len(doc.Options), len(doc.Values))
		}
		value, found = doc.Values[i], true
	}
	if !found {
		return 0, errors.New("gluster: output has no cluster.op-version")
	}
	v := atou32(value)
	if v == 0 {
		return 0, fmt.Errorf("gluster: cluster.op-version is %q, not a number", strings.TrimSpace(value))
	}
	return v, nil
}

// ParseVersion returns the release from the output of `gluster --version`,
// whose first line is like "glusterfs 10.3".
func ParseVersion(out string) (string, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "glusterfs" {
		return "", fmt.Errorf("gluster: unexpected --version output %q", line)
	}
	return f[1], nil
}

// text is an element's text, with gluster's placeholders for "unknown" made
// empty.
func text(s string) string {
	s = strings.TrimSpace(s)
	switch s {
	case "N/A", "-", "-1", "(null)":
		return ""
	}
	return s
}

// atoi parses a decimal int, or returns def.
func atoi(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// atou32 parses a decimal uint32; anything else (N/A, -, -1, garbage) is 0.
func atou32(s string) uint32 {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// atou64 parses a decimal uint64; anything else is 0.
func atou64(s string) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
