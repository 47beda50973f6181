package gluster

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// tokens is what the parsers that walk a document element by element read
// it with: an *xml.Decoder, or rawTokens.
type tokens interface {
	Token() (xml.Token, error)
	Skip() error
}

// rawTokens reads a document with the decoder's RawToken, which skips the
// bookkeeping of name spaces Token does for every element (an eighth of
// the tokenizer's time on a large document; names are matched here by
// their local part anyway), and checks itself what else Token checks:
// that every element ends with its own name and that the document does
// not end inside one. It reports no more than that something is wrong
// (errNotWellFormed, or the decoder's error): a walk that fails with it is
// walked again with Token, for the error Token gives. Where rawTokens
// reads a document without error, Token reads the same tokens.
type rawTokens struct {
	dec  *xml.Decoder
	open []xml.Name // elements started and not yet ended, as written

	doc        *io.SectionReader
	base       int64 // the offset in doc where dec began
	at         int64 // the offset in doc of the last token read
	splitAbove int64 // see splitVolumes; 0 for never
	split      bool  // whether splitVolumes split
}

var errNotWellFormed = errors.New("gluster: XML element not closed by its own name")

// openRawPayload returns rawTokens of doc (a document cut as trimToXML
// cuts it, its header already checked) that has read its root element's
// start, as openCheckedPayload does.
func openRawPayload(doc *io.SectionReader) (*rawTokens, error) {
	r := &rawTokens{dec: xml.NewDecoder(openDocument(doc)), open: make([]xml.Name, 0, 8), doc: doc}
	for {
		tok, err := r.Token()
		if err != nil {
			return nil, err
		}
		if _, ok := tok.(xml.StartElement); ok {
			return r, nil
		}
	}
}

func (r *rawTokens) Token() (xml.Token, error) {
	r.at = r.base + r.dec.InputOffset()
	tok, err := r.dec.RawToken()
	if tok == nil {
		if err == io.EOF && len(r.open) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// A token returned with an error is a token; the error comes again
	// with the next call, as Token has it.
	switch t := tok.(type) {
	case xml.StartElement:
		r.open = append(r.open, t.Name)
	case xml.EndElement:
		n := len(r.open)
		if n == 0 || r.open[n-1] != t.Name {
			return nil, errNotWellFormed
		}
		r.open = r.open[:n-1]
	}
	return tok, nil
}

// splitVolumes is called with the start of the first <volume> of
// <volumes> just read. When the volumes from there are larger than
// r.splitAbove bytes, it looks for a "<volume>" halfway, has the volumes
// before it read on a goroutine of their own (the result comes on the
// channel returned) and goes on from there itself, as if it had read
// those volumes; otherwise it returns nil and changes nothing.
//
// The halves are read as they would be read whole. The first begins at an
// element's start, so its tokens are the document's until it ends. Its
// reader must end there without error, no element open: so the split is
// between two tokens where <volumes>' children are, for a split inside a
// comment, a tag or a section would leave the first half's last token
// unfinished, and one elsewhere would leave an element open or end one
// more than it began. The second half is read from there with the same
// elements open. Either failing fails the walk, which is then read again
// with Token.
func (r *rawTokens) splitVolumes() chan volumeListResult {
	start, end := r.at, r.doc.Size()
	if r.splitAbove <= 0 || end-start <= r.splitAbove {
		return nil
	}
	mid := findFrom(r.doc, start+(end-start)/2, []byte("<volume>"))
	if mid < 0 {
		return nil
	}
	first := make(chan volumeListResult, 1)
	go func() {
		half := &rawTokens{dec: xml.NewDecoder(openDocument(io.NewSectionReader(r.doc, start, mid-start)))}
		var res volumeListResult
		res.err = half.eachTop(func(se *xml.StartElement) error { return res.list.child(half, se) })
		first <- res
	}()
	r.open = r.open[:len(r.open)-1] // the <volume> read, now the first half's
	r.dec = xml.NewDecoder(openDocument(io.NewSectionReader(r.doc, mid, end-mid)))
	r.base, r.split = mid, true
	return first
}

// volumeListResult is the first half of a split list of volumes.
type volumeListResult struct {
	list volumeList
	err  error
}

// eachTop is eachChild of the elements of r's document at the top, for a
// reader of a part of a document: it must end there, no element open.
func (r *rawTokens) eachTop(fn func(*xml.StartElement) error) error {
	for {
		tok, err := r.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if err := fn(&se); err != nil {
				return err
			}
		}
	}
}

// findFrom returns the offset in doc of the first sep at or after from,
// or -1.
func findFrom(doc *io.SectionReader, from int64, sep []byte) int64 {
	buf := make([]byte, 64<<10)
	for off := from; off < doc.Size(); off += int64(len(buf) - len(sep) + 1) {
		n, err := doc.ReadAt(buf, off)
		if i := bytes.Index(buf[:n], sep); i >= 0 {
			return off + int64(i)
		}
		if err != nil {
			return -1
		}
	}
	return -1
}

// Skip reads the rest of the element just started, as xml.Decoder's Skip.
func (r *rawTokens) Skip() error {
	for depth := 0; ; {
		tok, err := r.Token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// The decoders below read an element whose start was just read into a
// struct of this package as xml's DecodeElement does, without its
// reflection (a fifth of the time of a large document): an element's text
// is its own character data (that of its children left out), the last of
// a repeated element wins, elements of a list are appended, and elements
// the struct does not name are skipped. The parsers' tests check them
// against xml.Unmarshal.

// readText reads the text of the element just started into s.
func readText(r tokens, s *string) error { return readElement(r, s, nil) }

// readElement reads the rest of the element just started: its own
// character data into text (unless nil) and each child through child,
// which must read it whole (nil: each is skipped).
func readElement(r tokens, text *string, child func(*xml.StartElement) error) error {
	var pieces []byte
	n := 0 // pieces of character data
	for {
		tok, err := r.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if text == nil {
				continue
			}
			// One piece, the usual case, is copied once, into text.
			if n++; n == 1 {
				*text = string(t)
			} else {
				if n == 2 {
					pieces = append(pieces, *text...)
				}
				pieces = append(pieces, t...)
			}
		case xml.StartElement:
			if child == nil {
				err = r.Skip()
			} else {
				err = child(&t)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			switch {
			case text == nil, n == 1:
			case n == 0:
				*text = ""
			default:
				*text = string(pieces)
			}
			return nil
		}
	}
}

// decodeVolume reads a <volume> of `volume info` into x.
func decodeVolume(r tokens, x *xmlVolume) error {
	return eachChild(r, func(se *xml.StartElement) error {
		var field *string
		switch se.Name.Local {
		case "name":
			field = &x.Name
		case "id":
			field = &x.ID
		case "status":
			field = &x.Status
		case "statusStr":
			field = &x.StatusStr
		case "snapshotCount":
			field = &x.SnapshotCount
		case "brickCount":
			field = &x.BrickCount
		case "distCount":
			field = &x.DistCount
		case "stripeCount":
			field = &x.StripeCount
		case "replicaCount":
			field = &x.ReplicaCount
		case "arbiterCount":
			field = &x.ArbiterCount
		case "disperseCount":
			field = &x.DisperseCount
		case "redundancyCount":
			field = &x.RedundancyCount
		case "type":
			field = &x.Type
		case "typeStr":
			field = &x.TypeStr
		case "transport":
			field = &x.Transport
		case "bricks":
			return eachChild(r, func(se *xml.StartElement) error {
				switch se.Name.Local {
				case "brick":
					return appendBrick(r, se, &x.Bricks)
				case "hotBricks":
					return eachBrick(r, &x.HotBricks)
				case "coldBricks":
					return eachBrick(r, &x.ColdBricks)
				}
				return r.Skip()
			})
		case "options":
			return eachChild(r, func(se *xml.StartElement) error {
				if se.Name.Local != "option" {
					return r.Skip()
				}
				var o xmlOption
				err := eachChild(r, func(se *xml.StartElement) error {
					switch se.Name.Local {
					case "name":
						return readText(r, &o.Name)
					case "value":
						return readText(r, &o.Value)
					}
					return r.Skip()
				})
				if err != nil {
					return err
				}
				x.Options = append(x.Options, o)
				return nil
			})
		default:
			return r.Skip()
		}
		return readText(r, field)
	})
}

// eachBrick appends the <brick> children of the element just started to
// bricks.
func eachBrick(r tokens, bricks *[]xmlBrick) error {
	return eachChild(r, func(se *xml.StartElement) error {
		if se.Name.Local != "brick" {
			return r.Skip()
		}
		return appendBrick(r, se, bricks)
	})
}

// appendBrick reads the <brick> just started (se) and appends it to
// bricks.
func appendBrick(r tokens, se *xml.StartElement, bricks *[]xmlBrick) error {
	var b xmlBrick
	for _, a := range se.Attr {
		if a.Name.Local == "uuid" {
			b.UUID = a.Value
		}
	}
	err := readElement(r, &b.Text, func(se *xml.StartElement) error {
		switch se.Name.Local {
		case "name":
			return readText(r, &b.Name)
		case "hostUuid":
			return readText(r, &b.HostUUID)
		case "isArbiter":
			if b.IsArbiter == nil {
				b.IsArbiter = new(string)
			}
			return readText(r, b.IsArbiter)
		}
		return r.Skip()
	})
	if err != nil {
		return err
	}
	*bricks = append(*bricks, b)
	return nil
}
