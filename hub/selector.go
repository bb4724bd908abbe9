package hub

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
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
	// prefixes holds, for each capturing group of re, the N of the
	// {var:N} whose value it captures: a match holds only when each
	// group captured at most N characters.
	prefixes []int

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
	ok = s.match(topic)
	s.mu.Lock()
	if len(s.cache) >= matchCacheSize {
		clear(s.cache)
	}
	s.cache[topic] = ok
	s.mu.Unlock()
	return ok
}

func (s *Selector) match(topic string) bool {
	if len(s.prefixes) == 0 {
		return s.re.MatchString(topic)
	}
	m := s.re.FindStringSubmatchIndex(topic)
	if m == nil {
		return false
	}
	for i, n := range s.prefixes {
		if start, end := m[2+2*i], m[3+2*i]; start >= 0 && characters(topic[start:end]) > n {
			return false
		}
	}
	return true
}

// characters counts the characters of an expanded value as a prefix
// modifier counts them, before they were percent-encoded: each %XX is
// one byte of UTF-8, and a byte that is not UTF-8 counts as one.
func characters(v string) int {
	if !strings.Contains(v, "%") {
		return utf8.RuneCountInString(v)
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			if x, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(x))
				i += 2
				continue
			}
		}
		b = append(b, v[i])
	}
	return utf8.RuneCount(b)
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
	re, prefixes, err := compileTemplate(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidSelector, raw, err)
	}
	return &Selector{raw: raw, re: re, prefixes: prefixes, cache: make(map[string]bool)}, nil
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
func compileTemplate(tpl string) (*regexp.Regexp, []int, error) {
	var b strings.Builder
	var prefixes []int
	b.WriteString("^")
	for len(tpl) > 0 {
		open := strings.IndexByte(tpl, '{')
		if close := strings.IndexByte(tpl, '}'); close >= 0 && (open < 0 || close < open) {
			return nil, nil, errors.New("'}' without '{'")
		}
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(tpl))
			break
		}
		b.WriteString(regexp.QuoteMeta(tpl[:open]))
		end := strings.IndexByte(tpl[open:], '}')
		if end < 0 {
			return nil, nil, errors.New("'{' without '}'")
		}
		expr, groups, err := expressionRE(tpl[open+1 : open+end])
		if err != nil {
			return nil, nil, err
		}
		b.WriteString(expr)
		prefixes = append(prefixes, groups...)
		tpl = tpl[open+end+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return re, prefixes, err
}

// expressionRE returns the regular expression of one "{…}" expression,
// and the N of each capturing group in it (see Selector.prefixes).
func expressionRE(expr string) (string, []int, error) {
	if expr == "" {
		return "", nil, errors.New("empty expression")
	}
	op, ok := operators[expr[0]]
	if ok {
		expr = expr[1:]
	} else if strings.ContainsRune("=,!@|", rune(expr[0])) {
		return "", nil, fmt.Errorf("reserved operator %q", expr[0])
	} else {
		op = operators[0]
	}
	var values []string
	prefixes := make([]int, 0, 4) // per variable, 0 for none
	var exploded []bool
	specs := strings.Split(expr, ",")
	for _, spec := range specs {
		exploded = append(exploded, strings.HasSuffix(spec, "*"))
		name := strings.TrimSuffix(spec, "*")
		prefix := 0
		if i := strings.IndexByte(name, ':'); i >= 0 {
			n, err := strconv.Atoi(name[i+1:])
			if err != nil || n < 1 || n > 9999 || name[i+1] == '0' || len(name) != len(spec) {
				return "", nil, fmt.Errorf("invalid prefix modifier in %q: want :1 to :9999, without '*'", spec)
			}
			name, prefix = name[:i], n
		}
		if !validVarname.MatchString(name) {
			return "", nil, fmt.Errorf("invalid variable name %q", spec)
		}
		// A list value joins its items with ",".
		value := op.chars + `*(?:,` + op.chars + `*)*`
		if prefix > 0 {
			// At most prefix characters of one value, not a list (RFC 6570
			// section 2.4.1), so a template in a token's rights grants no
			// more than it says. The length is checked on the match: a
			// regexp counting to N would hold N copies.
			value = `(` + op.chars + `*)`
		}
		if op.named {
			value = regexp.QuoteMeta(name) + `(?:=` + value + `)?`
		}
		values = append(values, value)
		prefixes = append(prefixes, prefix)
	}
	first, sep := regexp.QuoteMeta(op.first), regexp.QuoteMeta(op.sep)
	if slices.ContainsFunc(prefixes, func(n int) bool { return n > 0 }) {
		for i, v := range values {
			if exploded[i] { // its items follow the separator
				values[i] = `(?:` + v + `(?:` + sep + v + `)*)`
			}
		}
		return orderedRE(first, sep, values, prefixes)
	}
	// Exploded values and further variables follow the separator.
	one := `(?:` + strings.Join(values, `|`) + `)`
	return `(?:` + first + one + `(?:` + sep + one + `)*)?`, nil, nil
}

// orderedRE is the regexp of an expression with a prefix modifier: its
// defined variables in their order, each once, so that each capturing
// group holds the whole of one value (a group repeated would be checked on
// its last repetition alone). Its groups are listed in the order they are
// written. A variable written once per variable before it, the regexp
// grows with the square of their number; expressions are bounded to a few.
func orderedRE(first, sep string, values []string, prefixes []int) (string, []int, error) {
	const most = 8
	if len(values) > most {
		return "", nil, fmt.Errorf("at most %d variables in an expression with a prefix modifier", most)
	}
	var b strings.Builder
	var groups []int
	b.WriteString(`(?:` + first + `(?:`)
	for i := range values {
		if i > 0 {
			b.WriteString(`|`)
		}
		b.WriteString(values[i])
		if prefixes[i] > 0 {
			groups = append(groups, prefixes[i])
		}
		for j := i + 1; j < len(values); j++ {
			b.WriteString(`(?:` + sep + values[j] + `)?`)
			if prefixes[j] > 0 {
				groups = append(groups, prefixes[j])
			}
		}
	}
	b.WriteString(`))?`)
	return b.String(), groups, nil
}
