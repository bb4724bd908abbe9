package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFile writes a configuration file in a test folder and returns its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssehub.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// loadServe loads serve's flags from args, env and a file, as serve does.
func loadServe(t *testing.T, args []string, env map[string]string) (Config, map[string]source, error) {
	t.Helper()
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	src, err := loadFlags(fs, args, envOf(env), nil)
	return cfg, src, err
}

func TestPrecedenceFlagOverEnvironmentOverFileOverDefault(t *testing.T) {
	path := writeFile(t, `# a test file
listen = "127.0.0.1:7000"
heartbeat = "3s"
queue-size = 1_000
demo = false
cors-origins = ["https://file.example"]
`)
	cfg, src, err := loadServe(t, []string{"--config", path, "--heartbeat", "5s"},
		map[string]string{"SSEHUB_QUEUE_SIZE": "77"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7000" || cfg.Heartbeat != 5*time.Second || cfg.QueueSize != 77 || cfg.Demo ||
		!slices.Equal(cfg.Auth.CORSOrigins, []string{"https://file.example"}) || cfg.Sync != "always" {
		t.Errorf("got %+v", cfg)
	}
	want := map[string]string{
		"listen":       "file " + path + ":2",
		"heartbeat":    "flag",
		"queue-size":   "env SSEHUB_QUEUE_SIZE",
		"demo":         "file " + path + ":5",
		"cors-origins": "file " + path + ":6",
		"sync":         "default",
		"config":       "flag",
	}
	for k, w := range want {
		if got := src[k].String(); got != w {
			t.Errorf("source of %s = %q, want %q", k, got, w)
		}
	}
	// SSEHUB_CONFIG names the file when --config does not.
	cfg, src, err = loadServe(t, nil, map[string]string{"SSEHUB_CONFIG": path})
	if err != nil || cfg.Listen != "127.0.0.1:7000" || src["listen"].kind != "file" {
		t.Errorf("SSEHUB_CONFIG: listen %q from %v, err %v", cfg.Listen, src["listen"], err)
	}
}

// TestListFlagsReplaceLowerSources: a list from a higher source replaces
// the lower one's, and only repeating a flag on the command line adds up.
func TestListFlagsReplaceLowerSources(t *testing.T) {
	file := writeFile(t, `cors-origins = ["https://file.example", "https://file2.example"]`)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"default", nil, nil, nil},
		{"file", []string{"--config", file}, nil, []string{"https://file.example", "https://file2.example"}},
		{"env over file", []string{"--config", file}, map[string]string{"SSEHUB_CORS_ORIGINS": "https://env.example"}, []string{"https://env.example"}},
		{"flag over env", []string{"--cors-origins", "https://flag.example"}, map[string]string{"SSEHUB_CORS_ORIGINS": "https://env.example,https://env2.example"}, []string{"https://flag.example"}},
		{"flag over file", []string{"--config", file, "--cors-origins", "https://flag.example"}, nil, []string{"https://flag.example"}},
		{"repeated flag accumulates", []string{"--cors-origins", "https://a.example", "--cors-origins", "https://b.example,https://c.example"},
			map[string]string{"SSEHUB_CORS_ORIGINS": "https://env.example"}, []string{"https://a.example", "https://b.example", "https://c.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := loadServe(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Auth.CORSOrigins, tc.want) {
				t.Errorf("cors-origins = %q, want %q", cfg.Auth.CORSOrigins, tc.want)
			}
		})
	}
}

func TestConfigFileErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // each must appear in the error
	}{
		{"unknown key", "listen = \":1\"\n\nlisten-on = \":2\"\n", []string{"line 3", "listen-on", "unknown key"}},
		{"underscore", "jwt_key = \"k\"\n", []string{"line 1", "jwt_key", "did you mean jwt-key"}},
		{"bad duration", "# c\nheartbeat = \"soon\"\n", []string{"line 2", "heartbeat", `"soon"`}},
		{"bad integer", "queue-size = \"many\"\n", []string{"line 1", "queue-size"}},
		{"bad size", "retention-bytes = \"1 lot\"\n", []string{"line 1", "retention-bytes", "byte count"}},
		{"list for one value", "listen = [\":1\", \":2\"]\n", []string{"line 1", "listen", "not a list"}},
		{"unquoted", "\nheartbeat = 15s\n", []string{"line 2", "heartbeat", `"15s"`}},
		{"table", "[serve]\nlisten = \":1\"\n", []string{"line 1", "tables"}},
		{"dotted", "serve.listen = \":1\"\n", []string{"line 1", "dotted"}},
		{"twice", "listen = \":1\"\nlisten = \":2\"\n", []string{"line 2", "listen", "twice", "line 1"}},
		{"unclosed", "listen = \":1\n", []string{"line 1", "listen", "not closed"}},
		{"array unclosed", "cors-origins = [\n\"a\",\n", []string{"cors-origins", "not closed"}},
		{"missing value", "listen =\n", []string{"line 1", "listen", "missing"}},
		{"trailing", "listen = \":1\" \":2\"\n", []string{"line 1", "listen", "one setting per line"}},
		{"config in config", "config = \"other.toml\"\n", []string{"line 1", "config"}},
		{"bad escape", `jwt-key = "a\qb"`, []string{"line 1", "jwt-key", "escape"}},
		{"multi-line string", "jwt-key = \"\"\"\nk\"\"\"\n", []string{"line 1", "multi-line"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.text)
			_, _, err := loadServe(t, []string{"--config", path}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	_, _, err := loadServe(t, []string{"--config", filepath.Join(t.TempDir(), "absent.toml")}, nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "--config") {
		t.Errorf("a missing file gave %v", err)
	}
}

func TestParseConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []fileEntry
	}{
		{"empty", "", nil},
		{"comments and blanks", "\n# only a comment\n   \t\n", nil},
		{"basic string escapes", `k = "a\"b\\c\t\u00e9\U0001F600"  # note`,
			[]fileEntry{{Key: "k", Line: 1, Values: []string{"a\"b\\c\té😀"}}}},
		{"literal string", `k = 'C:\no\escapes'`, []fileEntry{{Key: "k", Line: 1, Values: []string{`C:\no\escapes`}}}},
		{"numbers and booleans", "a = 1_000\nb = -5\nc = 0.25\nd = true\ne = 1e3\n", []fileEntry{
			{Key: "a", Line: 1, Values: []string{"1000"}}, {Key: "b", Line: 2, Values: []string{"-5"}},
			{Key: "c", Line: 3, Values: []string{"0.25"}}, {Key: "d", Line: 4, Values: []string{"true"}},
			{Key: "e", Line: 5, Values: []string{"1e3"}}}},
		{"multi-line array", "list = [\n  \"a\", # first\n  'b',\n]\nnext = 1\n", []fileEntry{
			{Key: "list", Line: 1, Values: []string{"a", "b"}, List: true}, {Key: "next", Line: 5, Values: []string{"1"}}}},
		{"empty array", "list = []", []fileEntry{{Key: "list", Line: 1, Values: []string{}, List: true}}},
		{"CRLF and BOM", "\uFEFFa = \"x\"\r\nb = \"y\"\r\n", []fileEntry{
			{Key: "a", Line: 1, Values: []string{"x"}}, {Key: "b", Line: 2, Values: []string{"y"}}}},
		{"quoted key", `"jwt-key" = "k"`, []fileEntry{{Key: "jwt-key", Line: 1, Values: []string{"k"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfigFile(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"a = 007", "a = 1__0", "a = _1", "a = 0x1F", "a = inf", "a = 1979-05-27", "a = {b = 1}", "a = [[1]]", "a = \"\x01\"", "a = [1 2]"} {
		if _, err := parseConfigFile(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// renderEntries writes entries back as a configuration file.
func renderEntries(entries []fileEntry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(tomlString(e.Key) + " = ")
		quoted := make([]string, len(e.Values))
		for i, v := range e.Values {
			quoted[i] = tomlString(v)
		}
		if e.List {
			b.WriteString("[" + strings.Join(quoted, ", ") + "]\n")
		} else {
			b.WriteString(quoted[0] + "\n")
		}
	}
	return b.String()
}

// FuzzConfigFile: the parser never panics, and what it accepts, written
// back, reads the same.
func FuzzConfigFile(f *testing.F) {
	f.Add("listen = \":8080\"\ncors-origins = [\"a\", 'b',]\n# c\nqueue-size = 1_024\n")
	f.Add("k = \"\\u00e9\\t\"\r\n")
	f.Add("[t]\na.b = 1e5")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := parseConfigFile(text)
		if err != nil {
			return
		}
		again, err := parseConfigFile(renderEntries(entries))
		if err != nil {
			t.Fatalf("rendered file rejected: %v", err)
		}
		for i := range entries {
			entries[i].Line = i + 1
		}
		if len(entries) == 0 {
			entries = nil
		}
		if !reflect.DeepEqual(again, entries) {
			t.Fatalf("round trip: %+v, want %+v", again, entries)
		}
	})
}

// TestConfigCheckPrintsSourcesAndMasksSecrets runs `ssehub config check`.
func TestConfigCheckPrintsSourcesAndMasksSecrets(t *testing.T) {
	path := writeFile(t, "listen = \"127.0.0.1:7000\"\ntls-key = \"/etc/ssehub/private-key-path.pem\"\ntls-cert = \"/etc/ssehub/cert.pem\"\nstore = \"redis://user:hunter2@redis.internal:6379/0\"\n")
	env := map[string]string{"SSEHUB_JWT_KEY": "very-secret-jwt-key", "SSEHUB_HEARTBEAT": "20s",
		"SSEHUB_SUBSCRIBER_JWKS_URL": "https://t0ken-user@idp.example/jwks.json?access_token=jwks-t0ken"}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"config", "check", "--config", path, "--cors-origins", "https://a.example"},
		strings.NewReader(""), &out, &errOut, envOf(env))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := regexp.MustCompile(` +=`).ReplaceAllString(out.String(), " =") // the keys are aligned
	for _, secret := range []string{"very-secret-jwt-key", "hunter2", "private-key-path", "t0ken"} {
		if strings.Contains(text, secret) {
			t.Errorf("the output shows the secret %q:\n%s", secret, text)
		}
	}
	for _, want := range []string{
		`listen = "127.0.0.1:7000"  # file ` + path + ":1",
		`jwt-key = "********"`, "# env SSEHUB_JWT_KEY",
		`heartbeat = "20s"`,
		`store = "redis://user:********@redis.internal:6379/0"`, "# file " + path + ":4",
		`subscriber-jwks-url = "https://********@idp.example/jwks.json?access_token=********"`,
		`cors-origins = ["https://a.example"]`,
		`queue-size = 4096`, `demo = true`, "# default",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	// Each line is key = value # source, and every serve flag has one.
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" && !strings.Contains(text, "\n"+f.Name+" = ") {
			t.Errorf("no line for %s", f.Name)
		}
	})
}

func TestConfigCheckRefusesInvalidConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		file string
		want string
	}{
		{"bad key", nil, "listen = \":1\"\nbogus = 1\n", "line 2: bogus"},
		{"bad format", []string{"--log-format", "xml"}, "", "--log-format"},
		{"bad level", nil, "log-level = \"loud\"\n", "--log-level"},
		{"bad sync", nil, "sync = \"sometimes\"\n", "--sync"},
		{"tls half", []string{"--tls-cert", "c.pem"}, "", "--tls-key"},
		{"unknown store", []string{"--store", "postgres://db:5432/ssehub"}, "", "--store"},
		{"store without scheme", nil, "store = \"redis//cache:6379\"\n", "--store"},
		{"bad nats stream", []string{"--store", "nats://nats:4222?stream=a/b"}, "", "stream"},
		{"misspelt redis form", []string{"--store", "redis+clustr://cache:6379"}, "", "--store"},
		{"negative queue", []string{"--queue-size", "-1"}, "", "--queue-size must not be negative"},
		{"negative in a file", nil, "queue-size = -2\n", "--queue-size must not be negative"},
		{"negative durations", []string{"--retry=-1s", "--write-timeout=-1s"}, "", "--retry, --write-timeout must not be negative"},
		{"negative retention", []string{"--retention-events=-5", "--retention-age=-1h"}, "", "--retention-age, --retention-events"},
		{"negative shutdown", []string{"--shutdown-timeout=-1s", "--shutdown-retry=-1s", "--shutdown-jitter=-1s", "--jwks-refresh=-1m"}, "",
			"--jwks-refresh, --shutdown-jitter, --shutdown-retry, --shutdown-timeout must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "check"}, tc.args...)
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(nil))
			if code == 0 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", code, errOut.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed a configuration: %s", out.String())
			}
		})
	}
}

// TestExampleConfigurationLoads keeps docs/ssehub.example.toml working.
func TestExampleConfigurationLoads(t *testing.T) {
	path := "../../docs/ssehub.example.toml"
	cfg, src, err := loadServe(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	fromFile := 0
	for _, s := range src {
		if s.kind == "file" {
			fromFile++
		}
	}
	if fromFile < 5 {
		t.Errorf("the example sets only %d keys", fromFile)
	}
}

// TestConfigurationDocShowsTheExample: the file shown in
// docs/configuration.md is the tested example.
func TestConfigurationDocShowsTheExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../docs/ssehub.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```toml\n"+string(example)+"```") {
		t.Error("docs/configuration.md does not show docs/ssehub.example.toml as it is")
	}
}

// TestLimitExemptReplacesLowerSources: --limit-exempt, a list written with
// commas, follows the same precedence as every other list: the file's is
// replaced by the environment's, and both by the command line's.
func TestLimitExemptReplacesLowerSources(t *testing.T) {
	file := writeFile(t, `limit-exempt = "10.0.0.0/8"`)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "127.0.0.0/8,::1/128"},
		{"file", []string{"--config", file}, nil, "10.0.0.0/8"},
		{"env over file", []string{"--config", file}, map[string]string{"SSEHUB_LIMIT_EXEMPT": "192.168.0.0/16"}, "192.168.0.0/16"},
		{"flag over file", []string{"--config", file, "--limit-exempt", "172.16.0.0/12"}, nil, "172.16.0.0/12"},
		{"flag over env", []string{"--limit-exempt", "none"}, map[string]string{"SSEHUB_LIMIT_EXEMPT": "192.168.0.0/16"}, "none"},
		{"repeated flag accumulates", []string{"--limit-exempt", "10.1.0.0/16", "--limit-exempt", "10.2.0.0/16"}, nil, "10.1.0.0/16,10.2.0.0/16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := loadServe(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Limits.Exempt.String(); got != tc.want {
				t.Errorf("limit-exempt = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStoreErrorsHideThePassword: a store address the hub refuses is
// named in the error with its password masked, by serve and config check
// alike, since that error goes to the journal.
func TestStoreErrorsHideThePassword(t *testing.T) {
	for _, store := range []string{"postgres://u:hunter2@db:5432/x", "redis+clustr://:hunter2@cache:6379", "redis://u:hunter2@ca che:6379", "nats://u:hunter2@na%zzts:4222"} {
		for _, cmd := range [][]string{{"serve"}, {"config", "check"}} {
			args := append(cmd, "--store", store, "--listen", "127.0.0.1:0", "--demo=false", "--jwt-key", "k")
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(nil))
			if code != 1 || !strings.Contains(errOut.String(), "--store") || strings.Contains(errOut.String(), "hunter2") {
				t.Errorf("%v --store %s: exit %d, stderr %q; want 1 and an error naming --store without the password", cmd, store, code, errOut.String())
			}
		}
	}
}

// TestStrayArgumentsAreRefused: the flag package stops at the first word
// that is not a flag, so `--demo false` (a bool flag takes --demo=false)
// used to leave the demos on and silently drop every flag after it. Such
// a word is now a usage error (exit 2) that names it.
func TestStrayArgumentsAreRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a command that wrongly runs stops at once
	env := map[string]string{"SSEHUB_STORE": "memory:", "SSEHUB_LISTEN": "127.0.0.1:0", "SSEHUB_JWT_KEY": "k"}
	for _, args := range [][]string{
		{"serve", "--demo", "false", "--listen", "127.0.0.1:0"},
		{"--demo", "false"},
		{"token", "--publish", "news", "extra"},
		{"subscribe", "--url", "http://127.0.0.1:1", "--topic", "news", "extra"},
		{"healthcheck", "--listen", "127.0.0.1:1", "/readyz"},
	} {
		var out, errOut bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &out, &errOut, envOf(env))
		if code != 2 || !strings.Contains(errOut.String(), "unexpected argument") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the stray argument named", args, code, errOut.String())
		}
	}
}
