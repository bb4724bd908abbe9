package hub

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// ErrInvalidSelector is wrapped by errors about malformed topic selectors.
var ErrInvalidSelector = errors.New("invalid topic selector")

// A Selector matches topics. Three kinds exist:
//   - "*" matches every topic;
//   - a URI template (RFC 6570, any string containing "{") matches every topic
//     that some expansion of the template gives, as in the Mercure protocol;
//   - any other string matches the topic equal to it.
type Selector struct {
	raw string
	all bool
	re  *regexp.Regexp // nil for exact selectors

	mu    sync.Mutex
	cache map[string]bool // template match results, bounded by matchCacheSize
}

const matchCacheSize = 4096

// String returns the selector as it was written.
func (s *Selector) String() string { return s.raw }

// IsExact reports whether the selector matches exactly one topic, itself.
func (s *Selector) IsExact() bool { return !s.all && s.re == nil }

// Match reports whether topic is selected.
func (s *Selector) Match(topic string) bool {
	switch {
	case s.all:
		return true
	case s.re == nil:
		return s.raw == topic
	}
	s.mu.Lock()
	ok, hit := s.cache[topic]
	s.mu.Unlock()
	if hit {
		return ok
	}
	ok = s.re.MatchString(topic)
	s.mu.Lock()
	if len(s.cache) >= matchCacheSize {
		clear(s.cache)
	}
	s.cache[topic] = ok
	s.mu.Unlock()
	return ok
}

// MatchAny reports whether any of topics is selected.
func (s *Selector) MatchAny(topics []string) bool {
	for _, t := range topics {
		if s.Match(t) {
			return true
		}
	}
	return false
}

// SelectorCache compiles selectors once and shares them. It holds at most
// its size; when full it starts afresh, so a flood of distinct selectors
// costs compile time, never unbounded memory.
type SelectorCache struct {
	mu   sync.Mutex
	size int
	m    map[string]*Selector
}

// NewSelectorCache returns a cache holding at most size selectors.
func NewSelectorCache(size int) *SelectorCache {
	return &SelectorCache{size: size, m: make(map[string]*Selector)}
}

// Get returns the compiled selector for raw.
func (c *SelectorCache) Get(raw string) (*Selector, error) {
	c.mu.Lock()
	s, ok := c.m[raw]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := ParseSelector(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.size {
		clear(c.m)
	}
	c.m[raw] = s
	c.mu.Unlock()
	return s, nil
}

// ParseSelector compiles a topic selector.
func ParseSelector(raw string) (*Selector, error) {
	switch {
	case raw == "":
		return nil, fmt.Errorf("%w: empty", ErrInvalidSelector)
	case len(raw) > MaxTopicLen:
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidSelector, MaxTopicLen)
	case raw == "*":
		return &Selector{raw: raw, all: true}, nil
	case !strings.ContainsAny(raw, "{}"):
		return &Selector{raw: raw}, nil
	}
	re, err := compileTemplate(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidSelector, raw, err)
	}
	return &Selector{raw: raw, re: re, cache: make(map[string]bool)}, nil
}

// RFC 6570 character classes, as regular expressions of one character.
const (
	unreservedChar = `(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})`
	reservedChar   = `(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})`
	varnameRE      = `^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*$`
)

var validVarname = regexp.MustCompile(varnameRE)

// operator describes how an RFC 6570 expression expands (section 3.2).
type operator struct {
	first   string // written before the first defined value
	sep     string // written between values
	named   bool   // values are written as name=value
	ifEmpty string // written after the name when a named value is empty
	chars   string // the characters a value may hold
}

var operators = map[byte]operator{
	0:   {"", ",", false, "", unreservedChar},
	'+': {"", ",", false, "", reservedChar},
	'#': {"#", ",", false, "", reservedChar},
	'.': {".", ".", false, "", unreservedChar},
	'/': {"/", "/", false, "", unreservedChar},
	';': {";", ";", true, "", unreservedChar},
	'?': {"?", "&", true, "=", unreservedChar},
	'&': {"&", "&", true, "=", unreservedChar},
}

// compileTemplate turns a URI template into a regular expression matching
// every string an expansion of it can give. Undefined variables expand to
// nothing, so each variable is optional; list and exploded values may repeat
// the operator's separator.
func compileTemplate(tpl string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for len(tpl) > 0 {
		open := strings.IndexByte(tpl, '{')
		if close := strings.IndexByte(tpl, '}'); close >= 0 && (open < 0 || close < open) {
			return nil, errors.New("'}' without '{'")
		}
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(tpl))
			break
		}
		b.WriteString(regexp.QuoteMeta(tpl[:open]))
		end := strings.IndexByte(tpl[open:], '}')
		if end < 0 {
			return nil, errors.New("'{' without '}'")
		}
		expr, err := expressionRE(tpl[open+1 : open+end])
		if err != nil {
			return nil, err
		}
		b.WriteString(expr)
		tpl = tpl[open+end+1:]
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// expressionRE returns the regular expression of one "{…}" expression.
func expressionRE(expr string) (string, error) {
	if expr == "" {
		return "", errors.New("empty expression")
	}
	op, ok := operators[expr[0]]
	if ok {
		expr = expr[1:]
	} else if strings.ContainsRune("=,!@|", rune(expr[0])) {
		return "", fmt.Errorf("reserved operator %q", expr[0])
	} else {
		op = operators[0]
	}
	var values []string
	for _, spec := range strings.Split(expr, ",") {
		name := strings.TrimSuffix(spec, "*")
		if i := strings.IndexByte(name, ':'); i >= 0 {
			name = name[:i] // a prefix modifier only shortens the value
		}
		if !validVarname.MatchString(name) {
			return "", fmt.Errorf("invalid variable name %q", spec)
		}
		// A list value joins its items with ",".
		value := op.chars + `*(?:,` + op.chars + `*)*`
		if op.named {
			value = regexp.QuoteMeta(name) + `(?:=` + value + `)?`
		}
		values = append(values, value)
	}
	// Exploded values and further variables follow the separator.
	one := `(?:` + strings.Join(values, `|`) + `)`
	return `(?:` + regexp.QuoteMeta(op.first) + one + `(?:` + regexp.QuoteMeta(op.sep) + one + `)*)?`, nil
}
