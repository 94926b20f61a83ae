// Package docker_test checks docker/compose.yaml, docker/Dockerfile and
// .dockerignore offline: no container engine runs on the development
// machines, so the files are held to what the docs say by parsing them.
package docker_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type compose struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		User        string                       `yaml:"user"`
		DependsOn   map[string]map[string]string `yaml:"depends_on"`
		Volumes     []string                     `yaml:"volumes"`
		Ports       []string                     `yaml:"ports"`
		Environment map[string]string            `yaml:"environment"`
		Healthcheck map[string]any               `yaml:"healthcheck"`
		Command     []string                     `yaml:"command"`
		Profiles    []string                     `yaml:"profiles"`
		Restart     string                       `yaml:"restart"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
	Name    string         `yaml:"name"`
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true) // a misspelt or unexpected key is an error, not ignored
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"mysql", "chat-server"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %q is missing (docker/README.md uses it)", name)
		}
	}
	for name, s := range c.Services {
		if (s.Image == "") == (s.Build == nil) {
			t.Errorf("%s: needs exactly one of image and build", name)
		}
		if s.Build != nil {
			df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: build.context + dockerfile = %s: %v", name, df, err)
			}
		}
		for dep, cond := range s.DependsOn {
			d, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %q", name, dep)
			}
			if cond["condition"] == "service_healthy" && d.Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s: bind mount source %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %q is not declared under volumes:", name, src)
			}
		}
		for _, p := range s.Ports {
			if !regexp.MustCompile(`^(127\.0\.0\.1:|0\.0\.0\.0:)?[0-9]+:[0-9]+$`).MatchString(p) {
				t.Errorf("%s: port %q is not HOST:CONTAINER", name, p)
			}
		}
	}
	if p := c.Services["mysql"].Ports; len(p) != 1 || !strings.HasPrefix(p[0], "127.0.0.1:") {
		t.Errorf("mysql ports %v: the inventory must stay on loopback", p)
	}
	chat := c.Services["chat-server"]
	if !regexp.MustCompile(`^\$\{SCCA_UID:-[0-9]+\}:\$\{SCCA_GID:-[0-9]+\}$`).MatchString(chat.User) {
		t.Errorf("chat-server user %q: must run as the owner of the 0600 keys (SCCA_UID/SCCA_GID)", chat.User)
	}
	if !slices.Contains(chat.Volumes, "../certs:/certs:ro") {
		t.Errorf("chat-server volumes %v: the certs dir is mounted read-only", chat.Volumes)
	}
	if chat.Environment["SCCA_CERTS_DIR"] != "/certs" || !strings.HasPrefix(chat.Environment["SCCA_DB"], "mysql://") {
		t.Errorf("chat-server environment %v: certs at /certs, inventory in the mysql service", chat.Environment)
	}
	exposed := dockerfile(t).expose
	for _, p := range chat.Ports {
		container := p[strings.LastIndex(p, ":")+1:]
		if !slices.Contains(exposed, container) {
			t.Errorf("chat-server publishes container port %s, which the Dockerfile does not EXPOSE (%v)", container, exposed)
		}
	}
}

type stage struct{ base, name string }

type parsedDockerfile struct {
	stages  []stage
	expose  []string
	final   []string // instructions of the last stage
	fromRef []string // COPY --from= targets
}

// dockerfile parses the instructions of docker/Dockerfile (comments and
// line continuations handled) into what the checks need.
func dockerfile(t *testing.T) parsedDockerfile {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p parsedDockerfile
	var cur string
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur == "") {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	known := []string{"FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "ARG", "LABEL"}
	for _, l := range lines {
		fields := strings.Fields(l)
		ins := strings.ToUpper(fields[0])
		if !slices.Contains(known, ins) {
			t.Errorf("Dockerfile: unknown instruction %q", l)
		}
		switch ins {
		case "FROM":
			s := stage{base: fields[1]}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				s.name = fields[3]
			}
			p.stages = append(p.stages, s)
			p.final = nil
		case "EXPOSE":
			p.expose = append(p.expose, fields[1:]...)
		case "COPY":
			for _, a := range fields[1:] {
				if ref, ok := strings.CutPrefix(a, "--from="); ok {
					p.fromRef = append(p.fromRef, ref)
				}
			}
		}
		p.final = append(p.final, l)
	}
	return p
}

func TestDockerfile(t *testing.T) {
	p := dockerfile(t)
	if len(p.stages) != 2 || p.stages[0].name != "build" {
		t.Fatalf("stages %v: want a build stage named build, then the runtime image", p.stages)
	}
	for _, ref := range p.fromRef {
		if ref != p.stages[0].name {
			t.Errorf("COPY --from=%s names no earlier stage", ref)
		}
	}
	for _, s := range p.stages {
		if !strings.Contains(s.base, ":") || strings.HasSuffix(s.base, ":latest") {
			t.Errorf("base image %q: pin a tag", s.base)
		}
	}
	// The build image's Go is the go.mod's language version.
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`).FindSubmatch(mod)
	if m == nil || !strings.HasPrefix(p.stages[0].base, "golang:"+string(m[1])+"-") {
		t.Errorf("build stage %q does not use go.mod's Go %s", p.stages[0].base, m[1])
	}
	final := strings.Join(p.final, "\n")
	for _, want := range []string{
		"COPY --from=build /out/scca /usr/local/bin/scca",
		"USER nonroot:nonroot",
		`ENTRYPOINT ["/usr/local/bin/scca"]`,
		"ENV SCCA_CERTS_DIR=/certs",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("runtime stage lacks %q:\n%s", want, final)
		}
	}
	if _, err := os.Stat("../cmd/scca/main.go"); err != nil {
		t.Errorf("the build stage builds ./cmd/scca: %v", err)
	}
	if !slices.Contains(p.expose, "5000") {
		t.Errorf("EXPOSE %v lacks the chat port 5000", p.expose)
	}
}

// TestDockerignore: CA keys, inventories and history never enter the build
// context (COPY . . sends everything else).
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var rules []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
		if strings.HasPrefix(l, "!") {
			t.Errorf(".dockerignore re-includes %q", l)
		}
	}
	for _, want := range []string{".git", "certs", "**/*_key.pem", "**/*.db", "**/node_modules"} {
		if !slices.Contains(rules, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
	// what the build needs must not be excluded
	for _, need := range []string{"go.mod", "go.sum", "cmd", "web", "migrations"} {
		if slices.Contains(rules, need) {
			t.Errorf(".dockerignore excludes %q, which the build needs", need)
		}
	}
}
