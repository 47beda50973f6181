package gluster

import (
	"errors"
	"strings"
)

// ParseCommand splits a command line such as
// `gluster --glusterd-sock=/run/gd.sock` into words the way a POSIX shell
// would, without expanding anything: words are separated by blanks, single
// quotes keep everything literally, double quotes keep everything but \" \\
// \$ and \` escapes, and a backslash outside quotes escapes the next
// character.
func ParseCommand(s string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case ch == '\\':
			inWord = true
			if i+1 >= len(s) {
				return nil, errors.New("gluster command: trailing backslash")
			}
			i++
			if s[i] != '\n' {
				word.WriteByte(s[i])
			}
		case ch == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("gluster command: unterminated single quote")
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case ch == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				word.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("gluster command: unterminated double quote")
			}
		default:
			inWord = true
			word.WriteByte(ch)
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, errors.New("gluster command: empty")
	}
	return words, nil
}
