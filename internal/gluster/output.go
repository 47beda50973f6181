package gluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/glusterbus/glusterbus/internal/digest"
)

// readWhole runs a whole-cluster read (args, as Run runs them) and returns
// its parsed result: the memo's when the output is the last one's.
//
// The command writes into an anonymous file in memory, not a pipe: at
// thousands of volumes it prints megabytes, which would be most of the
// heap during a read (and so of the heap the garbage collector lets grow)
// were they read into a buffer. The file is memory all the same while the
// read lasts, but not mapped into this process nor counted by the
// collector, and it is freed when the read ends. It is read in small
// chunks: once for the digest the memo compares and, only when the output
// changed, by the parser (read), which decodes it as it goes. Small
// outputs, and those of commands that failed, are read into memory and go
// the way of any command's.
func readWhole[T any](ctx context.Context, c *CLI, m *memo[T], read func(*io.SectionReader, int) ([]T, error), args ...string) ([]T, error) {
	argv, op, timeout := c.command(append(args, "--xml"), true)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	parse := func(out []byte) ([]T, error) { return read(document(out), m.size()) }

	f, err := newMemfd()
	if err != nil {
		// No anonymous file here (an old kernel, a seccomp filter): the
		// output goes through memory.
		out, err := run(ctx, argv, op)
		if err != nil {
			return nil, err
		}
		return m.parse(out, parse)
	}
	defer f.Close()
	from := c.fileFrom
	if from <= 0 {
		from = largeOutput
	}
	out, err := runToFile(ctx, argv, op, f, from)
	if err != nil {
		return nil, err
	}
	if out.doc == nil {
		return m.parse(out.data, parse)
	}
	return m.get(out.digest, func() ([]T, error) { return read(out.doc, m.size()) })
}

// memfdCreate is unix.MemfdCreate; tests replace it.
var memfdCreate = unix.MemfdCreate

// newMemfd returns a new anonymous file in memory (memfd_create(2)).
func newMemfd() (*os.File, error) {
	const name = "gluster-output"
	fd, err := memfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// fileOutput is the output of a command that wrote into a file.
type fileOutput struct {
	data   []byte            // the whole output, when it was read into memory
	doc    *io.SectionReader // or else the document in the file, cut as trimToXML cuts it
	digest digest.Sum        // and the digest of the whole output
}

// runToFile runs argv with f as its stdout until ctx ends, and checks the
// result as run does. A successful output of at least from bytes that
// holds a document stays in f; any other is read into memory.
func runToFile(ctx context.Context, argv []string, op string, f *os.File, from int64) (fileOutput, error) {
	cmd := newCommand(ctx, argv)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	exitCode, err := wait(ctx, cmd, op)
	if err != nil {
		return fileOutput{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fileOutput{}, fmt.Errorf("gluster %s: output: %w", op, err)
	}
	size := fi.Size()

	var out fileOutput
	if exitCode == 0 && size >= from {
		if out, err = scanOutput(f, size); err != nil {
			return fileOutput{}, fmt.Errorf("gluster %s: output: %w", op, err)
		}
	}
	if out.doc == nil {
		data := make([]byte, size)
		if n, err := f.ReadAt(data, 0); n < len(data) {
			return fileOutput{}, fmt.Errorf("gluster %s: output: %w", op, err)
		}
		data, err = checkResult(op, data, &stderr, exitCode)
		return fileOutput{data: data}, err
	}
	// What checkResult does of a document the command printed with exit
	// status 0.
	if err := checkHeader(openDocument(out.doc)); err != nil {
		var ce *CLIError
		if errors.As(err, &ce) {
			return fileOutput{}, reported(ce, op, exitCode, &stderr)
		}
		return fileOutput{}, fmt.Errorf("gluster %s: %w", op, err)
	}
	return out, nil
}

// scanOutput reads the size bytes of output in r once, in chunks, for
// their digest and for where "<?xml" and "<cliOutput" are, and returns
// them with the document cut as trimToXML cuts it; doc is nil when there
// is no "<cliOutput".
func scanOutput(r io.ReaderAt, size int64) (fileOutput, error) {
	// The start of buf keeps the end of the last chunk, for the markers
	// split between two chunks.
	keep := len(xmlRoot) - 1
	buf := make([]byte, keep+readBuffer)
	h := digest.New()
	decl, first, last := int64(-1), int64(-1), int64(-1)
	kept := 0
	for off := int64(0); off < size; {
		want := int(min(readBuffer, size-off))
		n, err := r.ReadAt(buf[kept:kept+want], off)
		if n < want {
			return fileOutput{}, shortRead(err)
		}
		h.Write(buf[kept : kept+n])
		window, base := buf[:kept+n], off-int64(kept)
		if decl < 0 {
			if i := bytes.Index(window, xmlDecl); i >= 0 {
				decl = base + int64(i)
			}
		}
		// bytes.Index, not LastIndex: the roots are few, and LastIndex
		// is several times slower on a chunk without one.
		for at := 0; ; {
			i := bytes.Index(window[at:], xmlRoot)
			if i < 0 {
				break
			}
			if first < 0 {
				first = base + int64(at+i)
			}
			last = base + int64(at+i)
			at += i + len(xmlRoot)
		}
		kept = copy(buf, window[len(window)-min(keep, len(window)):])
		off += int64(n)
	}
	var out fileOutput
	out.digest = h.Sum()
	if first < 0 {
		return out, nil
	}

	lead, err := leadingSpace(r, size, buf)
	if err != nil {
		return fileOutput{}, err
	}
	end, err := trailingSpace(r, lead, size, buf)
	if err != nil {
		return fileOutput{}, err
	}
	// The markers are past the leading blanks: they are not blank.
	trimmed := func(at int64) int64 {
		if at < 0 {
			return -1
		}
		return at - lead
	}
	start := lead + cutAt(trimmed(decl), trimmed(first), trimmed(last))
	out.doc = io.NewSectionReader(r, start, end-start)
	return out, nil
}

// leadingSpace returns the length of the blanks at the start of the size
// bytes of r, as bytes.TrimSpace would drop them.
func leadingSpace(r io.ReaderAt, size int64, buf []byte) (int64, error) {
	for off := int64(0); off < size; {
		want := int(min(int64(len(buf)), size-off))
		n, err := r.ReadAt(buf[:want], off)
		if n < want {
			return 0, shortRead(err)
		}
		rest := bytes.TrimLeftFunc(buf[:n], unicode.IsSpace)
		if len(rest) >= utf8.UTFMax || len(rest) > 0 && off+int64(n) == size {
			return off + int64(n-len(rest)), nil
		}
		// Blanks to the end of the chunk, but for a few bytes that may
		// be a blank split from the rest of it: read on from there.
		off += int64(n - len(rest))
	}
	return size, nil
}

// trailingSpace returns where the blanks at the end of the size bytes of r
// start, as bytes.TrimSpace would drop them; not before lead.
func trailingSpace(r io.ReaderAt, lead, size int64, buf []byte) (int64, error) {
	for end := size; end > lead; {
		lo := max(lead, end-int64(len(buf)))
		n, err := r.ReadAt(buf[:end-lo], lo)
		if int64(n) < end-lo {
			return 0, shortRead(err)
		}
		rest := bytes.TrimRightFunc(buf[:n], unicode.IsSpace)
		if len(rest) >= utf8.UTFMax || len(rest) > 0 && lo == lead {
			return lo + int64(len(rest)), nil
		}
		end = lo + int64(len(rest))
	}
	return lead, nil
}

func shortRead(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
