package gluster

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameParse reports how ParseVolumeInfo and ParseVolumeStatusDetail, which
// decode one <volume> at a time, differ on data from the parsers that
// unmarshalled the whole document (reference_test.go): results and errors
// must be the same.
func sameParse(data []byte) string {
	var diffs []string
	vols, err := ParseVolumeInfo(data)
	refVols, refErr := refParseVolumeInfo(data)
	if !reflect.DeepEqual(vols, refVols) || errorText(err) != errorText(refErr) {
		diffs = append(diffs, "volume info: "+errorText(err)+" vs "+errorText(refErr))
	}
	// The same, its volumes split in two wherever the document is large
	// enough to hold two.
	vols, err = readVolumeInfoSplit(document(data), 0, 1)
	if !reflect.DeepEqual(vols, refVols) || errorText(err) != errorText(refErr) {
		diffs = append(diffs, "volume info split: "+errorText(err)+" vs "+errorText(refErr))
	}
	st, err := ParseVolumeStatusDetail(data)
	refSt, refErr := refParseVolumeStatusDetail(data)
	if !reflect.DeepEqual(st, refSt) || errorText(err) != errorText(refErr) {
		diffs = append(diffs, "volume status: "+errorText(err)+" vs "+errorText(refErr))
	}
	return strings.Join(diffs, "; ")
}

func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// variants are data and what the CLI may print around it: a warning
// before it, blanks, a document before it (as `volume status all` of
// releases before 3.5 did), no XML declaration.
func variants(data []byte) map[string][]byte {
	doc := string(data)
	noDecl := doc
	if strings.HasPrefix(doc, "<?xml") {
		noDecl = doc[strings.Index(doc, "?>")+2:]
	}
	return map[string][]byte{
		"as is":                   data,
		"warning before":          []byte("Warning: the option is deprecated\n" + doc),
		"blanks around":           []byte(" \n\t" + doc + "\n\n \u00a0"),
		"several":                 []byte(string(readFile("testdata/r3.4-volume-status-all-detail-stopped-volume.xml")) + doc),
		"no declaration":          []byte(noDecl),
		"warning, no declaration": []byte("Warning: something\n" + noDecl),
		"truncated":               data[:len(data)*2/3],
		"trailing lines":          []byte(doc + "\n\n\n"),
	}
}

func readFile(name string) []byte {
	data, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return data
}

func TestParsersDecodeAsUnmarshal(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		for name, data := range variants(readFile(file)) {
			if d := sameParse(data); d != "" {
				t.Errorf("%s, %s: %s", file, name, d)
			}
		}
	}
	for _, doc := range []string{
		oldVolumeInfo,
		"",
		"   \n",
		"<cliOutput><opRet>0</opRet><volInfo><volumes><count>1</count></volumes></volInfo></cliOutput>",
		"<cliOutput><opRet>0</opRet><volInfo><volumes><volume/><count>1</count></volumes></volInfo></cliOutput>",
		"<cliOutput><opRet>0</opRet><volInfo><volumes><volume><name>a</name></volume><count>x</count></volumes><volumes><volume><name>b</name></volume><count>2</count></volumes></volInfo></cliOutput>",
		"<cliOutput><opRet>0</opRet><volInfo><volumes><volume/></volumes></volInfo><x></cliOutput>",
		"<cliOutput><opRet>0</opRet><volStatus><volName>a</volName><node><path>/b</path></node><hotBricks><node><path>/h</path></node></hotBricks><volumes><volume><volName>v</volName><node><path>/p</path><status>1</status><pid>7</pid></node></volume></volumes></volStatus></cliOutput>",
		"<cliOutput><opRet>0</opRet><volStatus><volumes><volume><node><path>/p</path></node></volume></volumes><volName>one</volName></volStatus></cliOutput>",
		"<cliOutput><opRet>0</opRet><volStatus><coldBricks><node><path>/c</path></node></coldBricks></volStatus></cliOutput>",
		"<cliOutput><opRet>0</opRet></cliOutput>trailing <garbage",
		"<?xml version=\"1.0\"?><other/>",
		"<x:cliOutput xmlns:x=\"u\"><x:opRet>0</x:opRet><x:volInfo><x:volumes><x:volume><x:name>n</x:name></x:volume></x:volumes></x:volInfo></x:cliOutput>",
	} {
		if d := sameParse([]byte(doc)); d != "" {
			t.Errorf("%q: %s", doc, d)
		}
	}
}

// TestRawWalkReadsEveryCapture checks that the parser of volume info reads
// every capture of the command's success with rawTokens, splitting the
// volumes when there are two or more, and does not owe its results to the
// decoder's Token it falls back to.
func TestRawWalkReadsEveryCapture(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*volume-info*.xml"))
	read := 0
	for _, file := range files {
		data := readFile(file)
		want, err := refParseVolumeInfo(data)
		if err != nil {
			continue
		}
		doc := document(data)
		if err := checkPayload(doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		r, err := openRawPayload(doc)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		r.splitAbove = 1
		got, err := walkVolumeInfo(r, 0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d volumes, %v; want %d", file, len(got), err, len(want))
		}
		if r.split != (len(want) > 1) {
			t.Errorf("%s: %d volumes, split %v", file, len(want), r.split)
		}
		read++
	}
	if read < 4 {
		t.Fatalf("only %d captures of volume info read", read)
	}
}

// TestSplitOnlyBetweenVolumes checks that a "<volume>" halfway that is not
// the start of one of <volumes>' children (in a comment, a section of
// character data, a processing instruction, another element) fails the split walk and is read
// again whole, as the reference reads it.
func TestSplitOnlyBetweenVolumes(t *testing.T) {
	vol := func(name string) string {
		return "<volume><name>" + name + "</name><brickCount>0</brickCount></volume>"
	}
	// The split is looked for from halfway between the first volume and
	// the end: the decoy comes first after it.
	pad := strings.Repeat(" ", 400)
	for _, doc := range []string{
		vol("a") + "<!-- " + pad + "<volume> -->" + vol("b"),
		vol("a") + "<x><![CDATA[" + pad + "<volume>]]></x>" + vol("b"),
		vol("a") + "<x>" + pad + "<volume></volume></x>" + vol("b"),
		vol("a") + "<?pi " + pad + "<volume>?>" + vol("b"),
		vol("a") + "<x a='" + pad + "<volume>'/>" + vol("b"), // an error
		vol("a") + pad + "</volumes><volumes>" + vol("b") + vol("c"),
	} {
		data := []byte("<cliOutput><opRet>0</opRet><volInfo><volumes>" + doc + "</volumes></volInfo></cliOutput>")
		want, wantErr := refParseVolumeInfo(data)
		got, err := readVolumeInfoSplit(document(data), 0, 1)
		if !reflect.DeepEqual(got, want) || errorText(err) != errorText(wantErr) {
			t.Errorf("%q: %v, %v; want %v, %v", doc, got, err, want, wantErr)
		}
	}
}

func FuzzParsersDecodeAsUnmarshal(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if d := sameParse(data); d != "" {
			t.Fatal(d)
		}
	})
}
