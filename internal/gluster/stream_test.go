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

func FuzzParsersDecodeAsUnmarshal(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if d := sameParse(data); d != "" {
			t.Fatal(d)
		}
	})
}
