package pyjson

import "testing"

func TestPyJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"":                 `""`,
		"plain / text ~":   `"plain / text ~"`,
		"\"\\":             `"\"\\"`,
		"\n\r\t\b\f":       `"\n\r\t\b\f"`,
		"\x00\x01\x1f\x7f": `"\u0000\u0001\u001f\u007f"`,
		"é€\uffff":         `"\u00e9\u20ac\uffff"`,
		"😀":                `"\ud83d\ude00"`,
		"\U0010ffff":       `"\udbff\udfff"`,
		"\xff":             `"\ufffd"`,
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}
