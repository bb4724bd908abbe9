package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The configuration file is TOML, restricted to what a flat list of
// settings needs: `key = value` lines, where a value is a string, an
// integer, a float, a boolean or an array of those. Everything else TOML
// has (tables, dotted keys, inline tables, multi-line strings, dates) has
// no use here and is refused with the line it is on, rather than read
// into something the hub would ignore. Every file accepted is valid TOML
// and means the same to any TOML reader. A parser of our own keeps the
// line of every key, which the errors name, and adds no dependency.

// fileEntry is one `key = value` of a configuration file.
type fileEntry struct {
	Key    string
	Line   int
	Values []string // the value's text (strings unescaped); one unless List
	List   bool
}

// fileError is an error at a line of a configuration file.
type fileError struct {
	Line int
	Key  string // "" when the key is not known yet
	Msg  string
}

func (e *fileError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// parseConfigFile parses the text of a configuration file.
func parseConfigFile(text string) ([]fileEntry, error) {
	p := &fileParser{s: strings.TrimPrefix(text, "\uFEFF"), line: 1}
	if !utf8.ValidString(p.s) {
		return nil, &fileError{Line: 1, Msg: "the file is not UTF-8 text"}
	}
	var entries []fileEntry
	seen := map[string]int{}
	for {
		p.skipBlank()
		if p.eof() {
			return entries, nil
		}
		e, err := p.entry()
		if err != nil {
			return nil, err
		}
		if first, ok := seen[e.Key]; ok {
			return nil, &fileError{Line: e.Line, Key: e.Key, Msg: fmt.Sprintf("given twice (first on line %d)", first)}
		}
		seen[e.Key] = e.Line
		entries = append(entries, e)
	}
}

type fileParser struct {
	s    string
	i    int
	line int
}

func (p *fileParser) eof() bool { return p.i >= len(p.s) }

func (p *fileParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *fileParser) fail(key, format string, args ...any) error {
	return &fileError{Line: p.line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// skipSpace skips spaces and tabs.
func (p *fileParser) skipSpace() {
	for c := p.peek(); c == ' ' || c == '\t'; c = p.peek() {
		p.i++
	}
}

// skipBlank skips whitespace, newlines and comments.
func (p *fileParser) skipBlank() {
	for !p.eof() {
		p.skipSpace()
		switch p.peek() {
		case '#':
			p.skipComment()
		case '\n':
			p.i++
			p.line++
		case '\r':
			if !strings.HasPrefix(p.s[p.i:], "\r\n") {
				return
			}
			p.i += 2
			p.line++
		default:
			return
		}
	}
}

func (p *fileParser) skipComment() {
	for !p.eof() && p.peek() != '\n' && !strings.HasPrefix(p.s[p.i:], "\r\n") {
		p.i++
	}
}

// endOfLine expects nothing but a comment before the end of the line.
func (p *fileParser) endOfLine(key string) error {
	p.skipSpace()
	if p.peek() == '#' {
		p.skipComment()
	}
	switch {
	case p.eof():
		return nil
	case p.peek() == '\n':
		p.i++
		p.line++
		return nil
	case strings.HasPrefix(p.s[p.i:], "\r\n"):
		p.i += 2
		p.line++
		return nil
	}
	return p.fail(key, "unexpected %q after the value: one setting per line", p.peek())
}

func (p *fileParser) entry() (fileEntry, error) {
	if p.peek() == '[' {
		return fileEntry{}, p.fail("", "tables ([name]) are not used: every setting is a top-level key = value")
	}
	line := p.line
	key, err := p.key()
	if err != nil {
		return fileEntry{}, err
	}
	p.skipSpace()
	if p.peek() == '.' {
		return fileEntry{}, p.fail(key, "dotted keys (tables) are not used: every setting is a top-level key")
	}
	if p.peek() != '=' {
		return fileEntry{}, p.fail(key, "want key = value")
	}
	p.i++
	p.skipSpace()
	e := fileEntry{Key: key, Line: line}
	if p.peek() == '[' {
		p.i++
		e.List = true
		if e.Values, err = p.array(key); err != nil {
			return fileEntry{}, err
		}
	} else {
		v, err := p.scalar(key)
		if err != nil {
			return fileEntry{}, err
		}
		e.Values = []string{v}
	}
	return e, p.endOfLine(key)
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func (p *fileParser) key() (string, error) {
	switch p.peek() {
	case '"', '\'':
		if strings.HasPrefix(p.s[p.i:], `"""`) || strings.HasPrefix(p.s[p.i:], "'''") {
			return "", p.fail("", "a key cannot be a multi-line string")
		}
		return p.str("")
	}
	start := p.i
	for isBareKeyByte(p.peek()) {
		p.i++
	}
	if p.i == start {
		return "", p.fail("", "want a key (letters, digits, - and _) at %q", p.peek())
	}
	return p.s[start:p.i], nil
}

// array reads the elements of an array after its '['; it may span lines.
func (p *fileParser) array(key string) ([]string, error) {
	values := []string{}
	for {
		p.skipBlank()
		if p.eof() {
			return nil, p.fail(key, "the array is not closed with ]")
		}
		if p.peek() == ']' {
			p.i++
			return values, nil
		}
		if p.peek() == '[' {
			return nil, p.fail(key, "arrays of arrays are not used")
		}
		v, err := p.scalar(key)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		p.skipBlank()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
		default:
			if p.eof() {
				return nil, p.fail(key, "the array is not closed with ]")
			}
			return nil, p.fail(key, "want , or ] between the elements of the array, not %q", p.peek())
		}
	}
}

// scalar reads a string, boolean or number and returns its text.
func (p *fileParser) scalar(key string) (string, error) {
	switch c := p.peek(); {
	case c == '"' || c == '\'':
		if strings.HasPrefix(p.s[p.i:], `"""`) || strings.HasPrefix(p.s[p.i:], "'''") {
			return "", p.fail(key, "multi-line strings are not used: write the value on one line")
		}
		return p.str(key)
	case c == '{':
		return "", p.fail(key, "inline tables are not used")
	case p.eof() || c == '\n' || c == '\r' || c == '#':
		return "", p.fail(key, "the value is missing")
	}
	start := p.i
	for c := p.peek(); isBareKeyByte(c) || c == '.' || c == '+' || c == ':'; c = p.peek() {
		p.i++
	}
	word := p.s[start:p.i]
	if word == "true" || word == "false" {
		return word, nil
	}
	if n, ok := tomlNumber(word); ok {
		return n, nil
	}
	if word == "" {
		return "", p.fail(key, "want a value, not %q", p.peek())
	}
	return "", p.fail(key, "%s is not a value: quote strings, as in %s = %q", word, key, word)
}

// tomlNumber checks word is a TOML decimal integer or float and returns it
// without its _ separators. Hexadecimal, octal, binary, inf and nan are not
// used by any setting.
func tomlNumber(word string) (string, bool) {
	s := strings.TrimLeft(word, "+-")
	if len(word)-len(s) > 1 {
		return "", false
	}
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, hasFrac := strings.Cut(mant, ".")
	if !tomlDigits(intPart) || len(intPart) > 1 && intPart[0] == '0' {
		return "", false
	}
	if hasFrac && !tomlDigits(frac) {
		return "", false
	}
	if hasExp && !tomlDigits(strings.TrimLeft(exp, "+-")) || hasExp && len(exp)-len(strings.TrimLeft(exp, "+-")) > 1 {
		return "", false
	}
	return strings.ReplaceAll(word, "_", ""), true
}

// tomlDigits: digits, with single underscores between them.
func tomlDigits(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '_' {
			return false
		}
	}
	return true
}

// str reads a one-line basic ("…", with escapes) or literal ('…') string.
func (p *fileParser) str(key string) (string, error) {
	quote := p.s[p.i]
	p.i++
	var b strings.Builder
	for {
		if p.eof() || p.peek() == '\n' || p.peek() == '\r' {
			return "", p.fail(key, "the string is not closed with %c on its line", quote)
		}
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		switch {
		case r == rune(quote):
			p.i++
			return b.String(), nil
		case r < 0x20 && r != '\t' || r == 0x7f:
			return "", p.fail(key, "control character %U in a string: write it as an escape", r)
		case r == '\\' && quote == '"':
			p.i++
			if err := p.escape(key, &b); err != nil {
				return "", err
			}
			continue
		}
		b.WriteRune(r)
		p.i += size
	}
}

func (p *fileParser) escape(key string, b *strings.Builder) error {
	simple := map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\'}
	c := p.peek()
	if r, ok := simple[c]; ok {
		b.WriteByte(r)
		p.i++
		return nil
	}
	digits := map[byte]int{'u': 4, 'U': 8}[c]
	if digits == 0 || p.i+1+digits > len(p.s) {
		return p.fail(key, "unknown escape \\%c in a string", c)
	}
	hex := p.s[p.i+1 : p.i+1+digits]
	n, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || !utf8.ValidRune(rune(n)) || strings.ContainsAny(hex, "+-_") {
		return p.fail(key, "\\%c%s is not a Unicode scalar value", c, hex)
	}
	b.WriteRune(rune(n))
	p.i += 1 + digits
	return nil
}
