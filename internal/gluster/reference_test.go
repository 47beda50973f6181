package gluster

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
)

// The parsers of volume info and status as they were before they read
// one <volume> at a time: the whole document unmarshalled at once, each
// volume's elements then made into the result as the parsers make them. The
// tests check that the parsers give what these give, for every document.

// refDecode is decode with refTrimToXML.
func refDecode(data []byte, v any) error {
	data = refTrimToXML(data)
	if len(data) == 0 {
		return errors.New("gluster: empty XML output")
	}
	if err := checkHeader(bytes.NewReader(data)); err != nil {
		return err
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("gluster: invalid XML output: %w", err)
	}
	return nil
}

func refTrimToXML(data []byte) []byte {
	data = bytes.TrimSpace(data)
	root := []byte("<cliOutput")
	if i := bytes.LastIndex(data, root); i > 0 && i != bytes.Index(data, root) {
		return data[i:]
	}
	if i := bytes.Index(data, []byte("<?xml")); i > 0 {
		data = data[i:]
	} else if i := bytes.Index(data, root); i > 0 {
		data = data[i:]
	}
	return data
}

type refXMLVolInfo struct {
	VolInfo *struct {
		Volumes *struct {
			Volumes []xmlVolume `xml:"volume"`
			Count   *string     `xml:"count"`
		} `xml:"volumes"`
	} `xml:"volInfo"`
}

func refParseVolumeInfo(data []byte) ([]Volume, error) {
	var doc refXMLVolInfo
	if err := refDecode(data, &doc); err != nil {
		return nil, err
	}
	if doc.VolInfo == nil || doc.VolInfo.Volumes == nil {
		return nil, errors.New("gluster: volume info output has no <volInfo><volumes>")
	}
	list := doc.VolInfo.Volumes
	// The CLI counts the volumes it wrote completely; a batch that failed
	// half-way leaves volumes listed but not counted.
	if list.Count != nil {
		if n := atoi(*list.Count, -1); n >= 0 && n != len(list.Volumes) {
			return nil, fmt.Errorf("gluster: volume info output is incomplete: %d volumes listed, <count> says %d", len(list.Volumes), n)
		}
	}
	vols := make([]Volume, 0, len(list.Volumes))
	for i := range list.Volumes {
		v := list.Volumes[i].volume()
		if v.Name == "" {
			return nil, fmt.Errorf("gluster: volume info output has a volume without a name (volume %d)", i+1)
		}
		vols = append(vols, v)
	}
	return vols, nil
}

type refXMLVolStatus struct {
	VolStatus *struct {
		Volumes []xmlVolumeStatus `xml:"volumes>volume"`
		// 3.3 has one volume directly under <volStatus>.
		xmlVolumeStatus
	} `xml:"volStatus"`
}

func refParseVolumeStatusDetail(data []byte) ([]BrickStatus, error) {
	var doc refXMLVolStatus
	if err := refDecode(data, &doc); err != nil {
		return nil, err
	}
	if doc.VolStatus == nil {
		return nil, errors.New("gluster: volume status output has no <volStatus>")
	}
	vols := doc.VolStatus.Volumes
	if one := doc.VolStatus.xmlVolumeStatus; one.Name != "" || len(one.Nodes) > 0 {
		vols = append(vols, one)
	}
	// What a volume's elements become is appendBricks's either way: the
	// parsers differ in how they walk the document.
	var out []BrickStatus
	for i := range vols {
		var err error
		if out, err = vols[i].appendBricks(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
