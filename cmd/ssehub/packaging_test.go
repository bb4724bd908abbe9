package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ssehub/ssehub/store/redis"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// serveEnv is the set of environment variables `ssehub serve` reads.
func serveEnv() map[string]bool {
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	env := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { env[envName(f.Name)] = true })
	return env
}

// TestDockerfile lints the image's recipe, since no Docker engine runs
// here: a static build, a final stage that runs as a user other than
// root with the data folder as a volume, every SSEHUB_* variable one the
// hub reads, and a HEALTHCHECK that needs nothing but the binary.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	find := func(stage []instruction, cmd string) []instruction {
		var found []instruction
		for _, in := range stage {
			if in.cmd == cmd {
				found = append(found, in)
			}
		}
		return found
	}
	static := false
	for _, stage := range stages[:len(stages)-1] {
		for _, run := range find(stage, "RUN") {
			if strings.Contains(run.args, "CGO_ENABLED=0") && strings.Contains(run.args, "go build") && strings.Contains(run.args, "./cmd/ssehub") {
				static = true
			}
		}
	}
	if !static {
		t.Error("no build stage runs CGO_ENABLED=0 go build … ./cmd/ssehub")
	}

	final := stages[len(stages)-1]
	base := final[0].args
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final image %q: want distroless/static or scratch for a static binary", base)
	}
	users := find(final, "USER")
	if len(users) == 0 {
		t.Fatal("the final stage has no USER: the hub would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1].args, ":")
	if user == "root" || user == "0" || user == "" {
		t.Errorf("USER %q is root", users[len(users)-1].args)
	}

	env := map[string]string{}
	for _, in := range find(final, "ENV") {
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("line %d: ENV %q: write KEY=VALUE", in.line, in.args)
			}
			env[k] = v
		}
	}
	known := serveEnv()
	for k := range env {
		if strings.HasPrefix(k, "SSEHUB_") && !known[k] {
			t.Errorf("ENV %s is not a variable `ssehub serve` reads", k)
		}
	}
	data, ok := strings.CutPrefix(env["SSEHUB_STORE"], "file:")
	if !ok {
		t.Fatalf("SSEHUB_STORE=%q: want the durable file store", env["SSEHUB_STORE"])
	}
	volumes := find(final, "VOLUME")
	if len(volumes) != 1 || strings.Trim(volumes[0].args, `[]" `) != data {
		t.Errorf("VOLUME %v: want the data folder %s", volumes, data)
	}

	checks := find(final, "HEALTHCHECK")
	if len(checks) != 1 {
		t.Fatalf("%d HEALTHCHECKs in the final stage, want 1", len(checks))
	}
	_, exec, ok := strings.Cut(checks[0].args, "CMD ")
	var argv []string
	if !ok || json.Unmarshal([]byte(exec), &argv) != nil || len(argv) < 2 {
		t.Fatalf("HEALTHCHECK %q: want CMD in exec form (a distroless image has no shell)", checks[0].args)
	}
	if argv[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK runs %v, want the binary's healthcheck command", argv)
	}
	entry := find(final, "ENTRYPOINT")
	copied := false
	for _, c := range find(final, "COPY") {
		copied = copied || strings.HasSuffix(c.args, " "+argv[0])
	}
	if len(entry) != 1 || !strings.Contains(entry[0].args, `"`+argv[0]+`"`) || !copied {
		t.Errorf("the health check runs %s, which must be the copied binary and the ENTRYPOINT", argv[0])
	}
}

// TestComposeFile: compose.yaml is YAML that runs the image with its data
// in a volume at the image's data folder, and sets only variables the hub
// reads.
func TestComposeFile(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build           any               `yaml:"build"`
			Image           string            `yaml:"image"`
			Ports           []string          `yaml:"ports"`
			Environment     map[string]string `yaml:"environment"`
			Volumes         []string          `yaml:"volumes"`
			Ulimits         map[string]int    `yaml:"ulimits"`
			StopGracePeriod string            `yaml:"stop_grace_period"`
			Restart         string            `yaml:"restart"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	decodeYAML(t, "../../compose.yaml", &compose)
	hub, ok := compose.Services["ssehub"]
	if !ok || hub.Build != "." {
		t.Fatalf("want a service ssehub built from this folder: %+v", compose.Services)
	}
	if !slices.Contains(hub.Ports, "8080:8080") {
		t.Errorf("ports %v: want 8080:8080", hub.Ports)
	}
	known := serveEnv()
	for k := range hub.Environment {
		if !known[k] {
			t.Errorf("environment %s is not a variable `ssehub serve` reads", k)
		}
	}
	mounted := false
	for _, v := range hub.Volumes {
		name, target, _ := strings.Cut(v, ":")
		_, declared := compose.Volumes[name]
		mounted = mounted || (target == "/data" && declared)
	}
	if !mounted {
		t.Errorf("volumes %v: want a named volume at /data, the image's data folder", hub.Volumes)
	}
	if hub.Ulimits["nofile"] < 10000 {
		t.Errorf("ulimits %v: want nofile for at least 10,000 streams", hub.Ulimits)
	}
	// Docker kills the container after the grace period: it must outlast
	// the hub's own graceful shutdown.
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	if grace, err := time.ParseDuration(hub.StopGracePeriod); err != nil || grace <= cfg.ShutdownTimeout {
		t.Errorf("stop_grace_period %q: want more than --shutdown-timeout (%v)", hub.StopGracePeriod, cfg.ShutdownTimeout)
	}
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestGoreleaserTargetsBuild: the release config builds ./cmd/ssehub
// statically for Linux, macOS and Windows on amd64 and arm64, and each of
// those systems compiles here (which also compiles the fallback that
// serves a goroutine per stream where there is no event loop).
func TestGoreleaserTargetsBuild(t *testing.T) {
	var cfg struct {
		Version int `yaml:"version"`
		Builds  []struct {
			Main   string   `yaml:"main"`
			Env    []string `yaml:"env"`
			Goos   []string `yaml:"goos"`
			Goarch []string `yaml:"goarch"`
		} `yaml:"builds"`
	}
	f, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(f, &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if cfg.Version != 2 || len(cfg.Builds) != 1 {
		t.Fatalf("want a version 2 config with one build: %+v", cfg)
	}
	b := cfg.Builds[0]
	if b.Main != "./cmd/ssehub" || !slices.Contains(b.Env, "CGO_ENABLED=0") {
		t.Errorf("build %+v: want ./cmd/ssehub with CGO_ENABLED=0", b)
	}
	for _, want := range []string{"linux", "darwin", "windows"} {
		if !slices.Contains(b.Goos, want) {
			t.Errorf("goos %v lacks %s", b.Goos, want)
		}
	}
	for _, want := range []string{"amd64", "arm64"} {
		if !slices.Contains(b.Goarch, want) {
			t.Errorf("goarch %v lacks %s", b.Goarch, want)
		}
	}
	if testing.Short() {
		t.Skip("cross-compiling takes a while")
	}
	// macOS and Windows, one architecture each: what differs between the
	// targets is which files of the module a system compiles (the event
	// loop is Linux's), and a cold build of each takes minutes on a small
	// machine.
	for _, target := range []struct{ goos, goarch string }{{"darwin", "arm64"}, {"windows", "amd64"}} {
		if !slices.Contains(b.Goos, target.goos) || !slices.Contains(b.Goarch, target.goarch) {
			t.Fatalf("%s/%s is not a release target", target.goos, target.goarch)
		}
		t.Run(target.goos+"/"+target.goarch, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
			cmd.Env = append(os.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=%s GOARCH=%s go build: %v\n%s", target.goos, target.goarch, err, out)
			}
		})
	}
}

// TestReadmeSaysHowToInstall: the README's go install line names this
// module's command.
func TestReadmeSaysHowToInstall(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module, _, _ := strings.Cut(strings.TrimPrefix(string(mod), "module "), "\n")
	if want := "go install " + module + "/cmd/ssehub@latest"; !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks %q", want)
	}
}

// TestComposeClusterFile: the two-node compose file runs two hubs on one
// Redis log whose AOF is fsynced before it answers, with the same key on
// both (a shared store refuses a generated one), and sets only variables
// `ssehub serve` reads.
func TestComposeClusterFile(t *testing.T) {
	type service struct {
		Build           any               `yaml:"build"`
		Image           string            `yaml:"image"`
		Command         []string          `yaml:"command"`
		Ports           []string          `yaml:"ports"`
		Environment     map[string]string `yaml:"environment"`
		Volumes         []string          `yaml:"volumes"`
		DependsOn       []string          `yaml:"depends_on"`
		Ulimits         map[string]int    `yaml:"ulimits"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
		Restart         string            `yaml:"restart"`
	}
	var compose struct {
		Services map[string]service `yaml:"services"`
		Volumes  map[string]any     `yaml:"volumes"`
	}
	decodeYAML(t, "../../compose.cluster.yaml", &compose)
	engine, ok := compose.Services["redis"]
	if !ok || !slices.Contains(engine.Command, "--appendonly") || !slices.Contains(engine.Command, "always") {
		t.Errorf("redis service %+v: want appendonly with appendfsync always", engine)
	}
	known := serveEnv()
	var stores, keys []string
	ports := map[string]bool{}
	for _, name := range []string{"hub1", "hub2"} {
		hub, ok := compose.Services[name]
		if !ok || hub.Build != "." || !slices.Contains(hub.DependsOn, "redis") {
			t.Fatalf("want a service %s built from this folder and depending on redis: %+v", name, hub)
		}
		for k := range hub.Environment {
			if !known[k] {
				t.Errorf("%s: environment %s is not a variable `ssehub serve` reads", name, k)
			}
		}
		store := hub.Environment["SSEHUB_STORE"]
		if _, _, err := redis.ParseURL(store); err != nil {
			t.Errorf("%s: SSEHUB_STORE %q: %v", name, store, err)
		}
		stores = append(stores, store)
		keys = append(keys, hub.Environment["SSEHUB_JWT_KEY"])
		for _, p := range hub.Ports {
			if ports[p] {
				t.Errorf("%s: port %s used twice", name, p)
			}
			ports[p] = true
		}
	}
	if stores[0] != stores[1] || !strings.HasPrefix(stores[0], "redis://redis:") {
		t.Errorf("stores %q: want one Redis log shared by both nodes", stores)
	}
	if keys[0] != keys[1] || !strings.Contains(keys[0], "${SSEHUB_JWT_KEY") {
		t.Errorf("keys %q: want the same key, from the environment, on both nodes", keys)
	}
}
