package hub

import (
	"errors"
	"strings"
	"testing"
)

func TestSelectorMatch(t *testing.T) {
	for _, tc := range []struct {
		selector, topic string
		want            bool
	}{
		{"*", "anything/at/all", true},
		{"chat/lobby", "chat/lobby", true},
		{"chat/lobby", "chat/lobby2", false},
		{"chat/lobby", "Chat/lobby", false},
		{"https://example.com/books/{id}", "https://example.com/books/1", true},
		{"https://example.com/books/{id}", "https://example.com/books/1/reviews", false},
		{"https://example.com/books/{id}", "https://example.com/authors/1", false},
		{"https://example.com/books/{id}.jsonld", "https://example.com/books/42.jsonld", true},
		{"https://example.com/{+path}", "https://example.com/a/b/c", true},
		{"https://example.com/users/{name}", "https://example.com/users/J%C3%BCrgen", true},
		{"https://example.com/users/{name}", "https://example.com/users/a/b", false},
		{"chat/{room}", "chat/", true}, // an undefined variable expands to nothing
		{"chat/{room}", "chats/x", false},
		{"https://example.com/{/segments*}", "https://example.com//a/b", true},
		{"https://example.com/search{?q,lang}", "https://example.com/search?q=sse&lang=en", true},
		{"https://example.com/search{?q,lang}", "https://example.com/search?x=1", false},
		{"board/{board}/tasks/{task}", "board/7/tasks/42", true},
		{"a.b/{x}", "aXb/1", false}, // literal parts are not patterns
		// {var:N} expands to at most N characters of one value, so a token
		// granted users/{id:3} is not granted users/123456789.
		{"https://example.com/users/{id:3}", "https://example.com/users/123", true},
		{"https://example.com/users/{id:3}", "https://example.com/users/12", true},
		{"https://example.com/users/{id:3}", "https://example.com/users/1234", false},
		{"https://example.com/users/{id:3}", "https://example.com/users/1,2", false}, // one value, not a list
		{"https://example.com/users/{id}", "https://example.com/users/1,2,3", true},  // a list
		{"https://example.com/users/{id:3}", "https://example.com/users/1,2,3", false},
		{"https://example.com/users/{name:2}", "https://example.com/users/J%C3%BC", true}, // two characters, encoded
		{"https://example.com/users/{name:2}", "https://example.com/users/J%C3%BCr", false},
		{"{/p:1}/x", "/a/x", true},
		{"{/p:1}/x", "/ab/x", false},
		{"{?q:2}", "?q=ab", true},
		{"{?q:2}", "?q=abc", false},
		{"{?q:2,lang}", "?q=ab&lang=en", true},
		{"{?q:2,lang}", "?lang=en", true},
		{"{?q:2,lang}", "?q=abc&lang=en", false},
		{"{?q:2,lang}", "?q=abcdef&q=ab", false}, // each value is checked, not the last alone
		{"{?q:2,list*}", "?q=ab&list=x&list=y", true},
		{"{/a:1,b}", "/x/yz", true},
		{"{/a:1,b}", "/xy/z", false},
		{"t/{id:1500}", "t/" + strings.Repeat("a", 1010), true}, // over any topic's length
		{"t/{id:1001}", "t/" + strings.Repeat("a", 1001), true},
		{"t/{id:1001}", "t/" + strings.Repeat("a", 1002), false},
	} {
		s, err := ParseSelector(tc.selector)
		if err != nil {
			t.Fatalf("ParseSelector(%q): %v", tc.selector, err)
		}
		for range 2 { // the second time from the cache
			if got := s.Match(tc.topic); got != tc.want {
				t.Errorf("%q matches %q = %v, want %v", tc.selector, tc.topic, got, tc.want)
			}
		}
	}
}

func TestParseSelectorRejectsMalformed(t *testing.T) {
	for _, raw := range []string{"", "books/{id", "books/id}", "books/{}", "books/{=x}", "books/{a b}", string(make([]byte, MaxTopicLen+1)),
		"books/{id:zz}", "books/{id:}", "books/{id:0}", "books/{id:03}", "books/{id:10000}", "books/{id:3*}", "books/{id:-1}", "{?a:1,b,c,d,e,f,g,h,i}"} {
		if _, err := ParseSelector(raw); !errors.Is(err, ErrInvalidSelector) {
			t.Errorf("ParseSelector(%q) = %v, want ErrInvalidSelector", raw, err)
		}
	}
}

func TestSelectorCacheIsBounded(t *testing.T) {
	c := NewSelectorCache(10)
	for i := range 100 {
		if _, err := c.Get("topic/" + string(rune('a'+i%26)) + "/{x}"); err != nil {
			t.Fatal(err)
		}
		if len(c.m) > 10 {
			t.Fatalf("cache holds %d selectors, bound is 10", len(c.m))
		}
	}
}

func TestIDRoundTrip(t *testing.T) {
	id := FormatID("k3f9a2mq", 42)
	epoch, seq, ok := ParseID(id)
	if !ok || epoch != "k3f9a2mq" || seq != 42 {
		t.Fatalf("ParseID(%q) = %q, %d, %v", id, epoch, seq, ok)
	}
	for _, bad := range []string{"", "42", "-42", "abc-", "abc-x1", "abc-007", "abc-+1"} {
		if _, _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted a malformed id", bad)
		}
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"*", "a/{b}", "{+x}/{?y,z}", "{", "}{", "{/a*,b:3}"} {
		f.Add(s, "a/b")
	}
	f.Fuzz(func(t *testing.T, sel, topic string) {
		s, err := ParseSelector(sel)
		if err != nil {
			if !errors.Is(err, ErrInvalidSelector) {
				t.Fatalf("error %v does not wrap ErrInvalidSelector", err)
			}
			return
		}
		if s.IsExact() && s.Match(topic) != (sel == topic) {
			t.Fatalf("exact selector %q matched %q wrongly", sel, topic)
		}
		s.Match(topic)
	})
}
