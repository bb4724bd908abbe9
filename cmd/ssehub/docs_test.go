package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsNameOnlyTestsThatExist: the docs back their claims with the
// names of the tests that prove them ([TestX] after a sentence); a test
// renamed or removed must not leave a claim pointing at nothing. A name
// may also be the start of some (a -run pattern in a command).
func TestDocsNameOnlyTestsThatExist(t *testing.T) {
	root := "../.."
	defined := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]*)\(`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !defined["TestDocsNameOnlyTestsThatExist"] {
		t.Fatalf("found %d test functions, not this one: the walk missed the tree", len(defined))
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"))
	named := regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9_]*`)
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range named.FindAll(text, -1) {
			if !defined[string(name)] && !prefixOfOne(defined, string(name)) {
				t.Errorf("%s names %s, which no test file defines", filepath.Base(doc), name)
			}
		}
	}
}

// prefixOfOne says whether some defined test's name starts with name.
func prefixOfOne(defined map[string]bool, name string) bool {
	for d := range defined {
		if strings.HasPrefix(d, name) {
			return true
		}
	}
	return false
}
