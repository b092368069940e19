package main

// The harness that runs docs/guides/*.md (TestGuides). A guide is prose around fenced
// blocks, and every fenced block in a guide is one of these — any other block fails the
// test, so a guide never shows a command or a file no test used:
//
//	```sh guide           commands, one per line, run in order in the guide's directory
//	```sh guide vault     the same, run only where a Vault dev server can be started
//	                      (GOVGATE_VAULT_BIN, as internal/vaulttest); VAULT_ADDR and
//	                      VAULT_TOKEN are set for them; skipped loudly elsewhere
//	```yaml guide FILE    writes FILE (any language word: yaml, json, text, ...)
//	```diff guide FILE    edits FILE: each hunk's context and "-" lines must occur in it
//	                      exactly once and are replaced by its context and "+" lines
//	                      (the @@ line numbers are not used)
//	```text output        what the last command before it printed, stdout and stderr
//	                      together as a terminal shows them
//
// An indented code line starting with govgate, outside a block, fails the test as well.
//
// In a `sh guide` block: blank lines and lines starting with # are skipped; a line ending
// in \ continues on the next; a trailing comment `# exit N` says the command exits N
// (without it: 0), and `# exit N within 10s` that it does so within that time (the
// command is repeated until it does: for what the gateway picks up at its next poll).
// Lines starting with `govgate` run through run(), the function the binary runs, after
// shell-like word splitting (blanks, '…', "…", $NAME and ${NAME} from the environment);
// `govgate serve …&` or `govgate demo …&` starts the guide's one background gateway and
// `kill %1` stops it (it must exit 0; a `text output` block after it is the gateway's
// log). `export NAME=VALUE` sets a variable for the rest of
// the guide. Every other line runs with /bin/sh -c (curl, grep, cp, mkdir, ...).
//
// A `text output` block is compared line by line with the output (trailing blanks
// ignored): a line that is only … stands for any number of lines left out, and … within
// a line for any text there (a date, a serial, a hash). Without a leading or trailing …
// line the output must begin or end as shown.
//
// Each guide runs in a new empty directory that holds symbolic links to the checkout's
// examples/ and deploy/. Ports 8443, 8080, 9090 and 9101 in commands, files and expected output
// are replaced by free ones, since other tests run on this machine at once; `govgate demo`
// without --listen or --admin gets them on those ports.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/internal/vaulttest"
)

type guideStepKind int

const (
	guideCommand guideStepKind = iota
	guideFile                  // a file written whole
	guidePatch                 // a file edited by a diff
	guideOutput                // the expected output of the command before it
)

// guideStep is one command, file, edit or expected output of a guide, in page order.
type guideStep struct {
	kind   guideStepKind
	line   int    // of the page, for messages
	text   string // the command line (continuations joined), or the block's body
	path   string // the file a guideFile or guidePatch step writes
	exit   int    // the exit status the command must have
	within time.Duration
	vault  bool // the command needs Vault
}

var guideFence = regexp.MustCompile("^```(.*)$")

// readGuide extracts the steps of one guide. A fenced block that is not a guide block is
// an error: a command nobody runs must fail the test.
func readGuide(path string) ([]guideStep, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var steps []guideStep
	var open *guideStep // the block being read
	var shVault, inSh bool
	var cont strings.Builder // a command continued with \
	contLine := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "```" && (open != nil || inSh) {
			if open != nil {
				steps = append(steps, *open)
				open = nil
			}
			if cont.Len() > 0 {
				return nil, fmt.Errorf("%s:%d: a command ends in \\ at the end of its block", path, contLine)
			}
			inSh = false
			continue
		}
		switch {
		case open != nil:
			open.text += line + "\n"
		case inSh:
			trimmed := strings.TrimSpace(line)
			if cont.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
				continue
			}
			if cont.Len() == 0 {
				contLine = n
			}
			if strings.HasSuffix(trimmed, "\\") {
				cont.WriteString(strings.TrimSpace(strings.TrimSuffix(trimmed, "\\")) + " ")
				continue
			}
			cont.WriteString(trimmed)
			s, err := parseGuideCommand(cont.String())
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, contLine, err)
			}
			s.line, s.vault = contLine, shVault
			steps = append(steps, s)
			cont.Reset()
		default:
			if t := strings.TrimLeft(line, " \t"); len(line)-len(t) >= 4 && strings.HasPrefix(t, "govgate ") {
				return nil, fmt.Errorf("%s:%d: an indented command the test does not run: put it in a `sh guide` block", path, n)
			}
			m := guideFence.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			info := strings.Fields(m[1])
			switch {
			case len(info) == 2 && info[0] == "sh" && info[1] == "guide":
				inSh, shVault = true, false
			case len(info) == 3 && info[0] == "sh" && info[1] == "guide" && info[2] == "vault":
				inSh, shVault = true, true
			case len(info) == 2 && info[0] == "text" && info[1] == "output":
				open = &guideStep{kind: guideOutput, line: n}
			case len(info) == 3 && info[0] == "diff" && info[1] == "guide":
				open = &guideStep{kind: guidePatch, line: n, path: info[2]}
			case len(info) == 3 && info[1] == "guide":
				open = &guideStep{kind: guideFile, line: n, path: info[2]}
			default:
				return nil, fmt.Errorf("%s:%d: block %q is not run by the test: mark it `sh guide`, `LANG guide FILE`, `diff guide FILE` or `text output`", path, n, line)
			}
		}
	}
	if open != nil || inSh {
		return nil, fmt.Errorf("%s: a block is not closed", path)
	}
	return steps, sc.Err()
}

var guideExitComment = regexp.MustCompile(`^exit (\d+)(?: within (\S+))?\b`)

// parseGuideCommand splits off a trailing comment and reads `exit N [within D]` from it.
func parseGuideCommand(line string) (guideStep, error) {
	s := guideStep{kind: guideCommand, text: line}
	if i := commentStart(line); i >= 0 {
		comment := strings.TrimSpace(line[i+1:])
		s.text = strings.TrimSpace(line[:i])
		if m := guideExitComment.FindStringSubmatch(comment); m != nil {
			s.exit, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				d, err := time.ParseDuration(m[2])
				if err != nil {
					return s, fmt.Errorf("comment %q: %w", comment, err)
				}
				s.within = d
			}
		}
	}
	return s, nil
}

// commentStart is the index of a # that begins a comment (after a blank, outside
// quotes), or -1.
func commentStart(line string) int {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return i
		}
	}
	return -1
}

// splitGuideWords splits a govgate command line as sh would for the forms guides use:
// blanks separate words, '…' quotes literally, "…" quotes with $NAME expansion, and
// $NAME / ${NAME} expand from the environment. Anything needing a real shell (pipes,
// redirections, command substitution) is refused: run() cannot take part in it.
func splitGuideWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '\'':
			j := indexRune(rs, i+1, '\'')
			if j < 0 {
				return nil, fmt.Errorf("%q: unclosed quote", line)
			}
			cur.WriteString(string(rs[i+1 : j]))
			i, inWord = j, true
		case r == '"':
			j := indexRune(rs, i+1, '"')
			if j < 0 {
				return nil, fmt.Errorf("%q: unclosed quote", line)
			}
			cur.WriteString(os.Expand(string(rs[i+1:j]), os.Getenv))
			i, inWord = j, true
		case r == '$':
			j := i + 1
			if j < len(rs) && rs[j] == '{' {
				k := indexRune(rs, j, '}')
				if k < 0 {
					return nil, fmt.Errorf("%q: unclosed ${", line)
				}
				cur.WriteString(os.Getenv(string(rs[j+1 : k])))
				i, inWord = k, true
				continue
			}
			for j < len(rs) && (rs[j] == '_' || rs[j] >= 'A' && rs[j] <= 'Z' || rs[j] >= 'a' && rs[j] <= 'z' || rs[j] >= '0' && rs[j] <= '9') {
				j++
			}
			cur.WriteString(os.Getenv(string(rs[i+1 : j])))
			i, inWord = j-1, true
		case strings.ContainsRune("|;<>`\\(){}*?", r):
			return nil, fmt.Errorf("%q: %q needs a shell, and govgate runs in the test's process", line, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func indexRune(rs []rune, from int, r rune) int {
	for i := from; i < len(rs); i++ {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

// applyGuideDiff edits text by the hunks of a unified diff (lines starting with " ", "-",
// "+"; "@@" starts a hunk; "---"/"+++" headers are skipped). Each hunk's old text must
// occur exactly once, so an edit that no longer fits the file fails instead of landing
// somewhere else.
func applyGuideDiff(text, diff string) (string, error) {
	type hunk struct{ old, new strings.Builder }
	var hunks []*hunk
	var h *hunk
	for _, l := range strings.Split(strings.TrimSuffix(diff, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "---") || strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "@@"):
			h = &hunk{}
			hunks = append(hunks, h)
		case h == nil:
			return "", fmt.Errorf("diff line %q before the first @@", l)
		case l == "" || l[0] == ' ':
			body := strings.TrimPrefix(l, " ")
			h.old.WriteString(body + "\n")
			h.new.WriteString(body + "\n")
		case l[0] == '-':
			h.old.WriteString(l[1:] + "\n")
		case l[0] == '+':
			h.new.WriteString(l[1:] + "\n")
		default:
			return "", fmt.Errorf("diff line %q: want ' ', '-' or '+'", l)
		}
	}
	if len(hunks) == 0 {
		return "", errors.New("a diff without a hunk")
	}
	for i, h := range hunks {
		old := h.old.String()
		if c := strings.Count(text, old); c != 1 {
			return "", fmt.Errorf("hunk %d: its old text occurs %d times in the file, want once:\n%s", i+1, c, old)
		}
		text = strings.Replace(text, old, h.new.String(), 1)
	}
	return text, nil
}

// matchGuideOutput compares what a command printed with a `text output` block.
func matchGuideOutput(want, got string) error {
	gotLines := splitTrimmed(got)
	var chunks [][]string
	wantLines := splitTrimmed(want)
	leading := len(wantLines) > 0 && wantLines[0] == "…"
	trailing := len(wantLines) > 0 && wantLines[len(wantLines)-1] == "…"
	var cur []string
	for _, l := range wantLines {
		if l == "…" {
			if len(cur) > 0 {
				chunks = append(chunks, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	pos := 0
	for i, chunk := range chunks {
		at := -1
		switch {
		case i == 0 && !leading:
			if chunkMatches(chunk, gotLines, 0) {
				at = 0
			}
		case i == len(chunks)-1 && !trailing:
			if start := len(gotLines) - len(chunk); start >= pos && chunkMatches(chunk, gotLines, start) {
				at = start
			}
		default:
			for start := pos; start+len(chunk) <= len(gotLines); start++ {
				if chunkMatches(chunk, gotLines, start) {
					at = start
					break
				}
			}
		}
		if at < 0 {
			return fmt.Errorf("no lines match\n%s", strings.Join(chunk, "\n"))
		}
		pos = at + len(chunk)
	}
	if !trailing && pos != len(gotLines) {
		return fmt.Errorf("the output goes on after the lines shown (end the block with a … line if that is meant)")
	}
	return nil
}

func splitTrimmed(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return lines
}

func chunkMatches(chunk, lines []string, start int) bool {
	if start < 0 || start+len(chunk) > len(lines) {
		return false
	}
	for i, pattern := range chunk {
		if !lineMatches(pattern, lines[start+i]) {
			return false
		}
	}
	return true
}

// lineMatches reports whether line is pattern with each … standing for any text.
func lineMatches(pattern, line string) bool {
	parts := strings.Split(pattern, "…")
	if len(parts) == 1 {
		return pattern == line
	}
	if !strings.HasPrefix(line, parts[0]) {
		return false
	}
	line = line[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(line, p)
		if i < 0 {
			return false
		}
		line = line[i+len(p):]
	}
	return strings.HasSuffix(line, last) && len(line) >= len(last)
}

// guideRun executes one guide's steps in the current directory.
type guideRun struct {
	t     *testing.T
	page  string
	ports *strings.Replacer

	last       *guideStep // the last command run, for a `text output` block
	lastOut    string
	lastOutput bool // it has had its output block
	skipped    bool // the last command could not run here (no Vault): skip its output

	bg       context.CancelFunc // the background gateway
	bgDone   chan int
	bgOut    *syncBuffer
	vault    *vaulttest.Server
	commands int
}

func newGuideRun(t *testing.T, page string) *guideRun {
	var pairs []string
	for _, p := range []string{"8443", "8080", "9090", "9101"} {
		pairs = append(pairs, ":"+p, ":"+freePort(t))
	}
	return &guideRun{t: t, page: page, ports: strings.NewReplacer(pairs...)}
}

func (g *guideRun) where(s guideStep) string {
	return fmt.Sprintf("%s:%d", g.page, s.line)
}

// fatal ends the guide with what went wrong and the background gateway's log.
func (g *guideRun) fatal(s guideStep, format string, args ...any) {
	g.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if g.bgOut != nil {
		msg += "\n--- background gateway's output (last 4 KiB):\n" + tail(g.bgOut.String(), 4096)
	}
	g.t.Fatalf("%s: %s: %s", g.where(s), s.text, msg)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (g *guideRun) run(steps []guideStep) {
	t := g.t
	for _, s := range steps {
		switch s.kind {
		case guideFile:
			if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.path, []byte(g.ports.Replace(s.text)), 0o644); err != nil {
				t.Fatal(err)
			}
		case guidePatch:
			old, err := os.ReadFile(s.path)
			if err != nil {
				g.fatal(s, "%v", err)
			}
			edited, err := applyGuideDiff(string(old), s.text)
			if err != nil {
				g.fatal(s, "edit %s: %v", s.path, err)
			}
			if err := os.WriteFile(s.path, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
		case guideOutput:
			if g.skipped {
				continue // the output of a command that could not run here
			}
			if g.last == nil || g.lastOutput {
				g.fatal(s, "an output block needs a command of its own before it")
			}
			g.lastOutput = true
			// Ports are replaced in what the guide wrote, not in the checkout's files
			// (examples/, deploy/), so the page's text matches as it stands too.
			if err := matchGuideOutput(g.ports.Replace(s.text), g.lastOut); err != nil && matchGuideOutput(s.text, g.lastOut) != nil {
				g.fatal(*g.last, "output (block at line %d): %v\n--- it printed:\n%s", s.line, err, g.lastOut)
			}
		case guideCommand:
			g.skipped = s.vault && !g.startVault(s)
			if !g.skipped {
				g.command(s)
			}
		}
	}
	if g.bg != nil {
		t.Fatalf("%s: the guide leaves its gateway running: stop it with kill %%1", g.page)
	}
	if g.commands == 0 {
		t.Fatalf("%s: no command", g.page)
	}
}

// startVault starts the guide's Vault dev server at its first vault block, or reports
// (loudly, as a skipped subtest) that the block cannot run here.
func (g *guideRun) startVault(s guideStep) bool {
	if os.Getenv("GOVGATE_VAULT_BIN") == "" {
		g.t.Run(fmt.Sprintf("line%d", s.line), func(t *testing.T) {
			t.Skipf("SKIPPED LOUDLY: %s: %s needs Vault; export GOVGATE_VAULT_BIN=$(scripts/vault.sh)", g.where(s), s.text)
		})
		return false
	}
	if g.vault == nil {
		g.vault = vaulttest.Start(g.t)
		g.t.Setenv("VAULT_ADDR", g.vault.Addr)
		g.t.Setenv("VAULT_TOKEN", g.vault.Token)
	}
	return true
}

func (g *guideRun) command(s guideStep) {
	g.commands++
	line := g.ports.Replace(s.text)
	first, _, _ := strings.Cut(line, " ")
	switch {
	case first == "govgate" && strings.HasSuffix(line, "&"):
		g.background(s, strings.TrimSpace(strings.TrimSuffix(line, "&")))
		return
	case first == "govgate":
		args, err := splitGuideWords(line)
		if err != nil {
			g.fatal(s, "%v", err)
		}
		g.repeat(s, func() (int, string) {
			var out syncBuffer
			code := run(context.Background(), args[1:], &out, &out)
			return code, out.String()
		})
	case first == "export":
		name, value, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "export")), "=")
		if !ok {
			g.fatal(s, "want export NAME=VALUE")
		}
		words, err := splitGuideWords(value)
		if err != nil || len(words) != 1 {
			g.fatal(s, "want one word after =: %v", err)
		}
		g.t.Setenv(name, words[0])
		g.ran(s, "")
	case line == "kill %1":
		g.stop(s)
	default:
		g.repeat(s, func() (int, string) {
			cmd := exec.Command("/bin/sh", "-c", line)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				return exit.ExitCode(), string(out)
			case err != nil:
				g.fatal(s, "%v", err)
			}
			return 0, string(out)
		})
	}
}

// repeat runs a command until it exits as the guide says, once unless `within` is given.
func (g *guideRun) repeat(s guideStep, do func() (int, string)) {
	deadline := time.Now().Add(s.within)
	for {
		code, out := do()
		if code == s.exit {
			g.ran(s, out)
			return
		}
		if time.Now().After(deadline) {
			g.fatal(s, "exit %d, want %d (write `# exit %d` after a command that fails on purpose)\n--- it printed:\n%s", code, s.exit, code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (g *guideRun) ran(s guideStep, out string) {
	g.last, g.lastOut, g.lastOutput = &s, out, false
}

// background starts the guide's gateway (serve or demo) in this process.
func (g *guideRun) background(s guideStep, line string) {
	args, err := splitGuideWords(line)
	if err != nil {
		g.fatal(s, "%v", err)
	}
	if g.bg != nil || len(args) < 2 || (args[1] != "serve" && args[1] != "demo") {
		g.fatal(s, "a guide runs one gateway in the background: govgate serve or govgate demo")
	}
	if args[1] == "demo" {
		if !containsWord(args, "--listen") {
			args = append(args, "--listen", g.ports.Replace("127.0.0.1:8443"))
		}
		if !containsWord(args, "--admin") {
			args = append(args, "--admin", g.ports.Replace("127.0.0.1:9090"))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.bg, g.bgDone, g.bgOut = cancel, make(chan int, 1), &syncBuffer{}
	g.t.Cleanup(cancel)
	go func() { g.bgDone <- run(ctx, args[1:], g.bgOut, g.bgOut) }()
	g.ran(s, "")
	g.lastOutput = true // what it prints goes on while the guide runs: not assertable
}

func containsWord(words []string, w string) bool {
	for _, x := range words {
		if x == w || strings.HasPrefix(x, w+"=") {
			return true
		}
	}
	return false
}

// stop sends the background gateway what SIGTERM does and waits for it to exit 0.
func (g *guideRun) stop(s guideStep) {
	if g.bg == nil {
		g.fatal(s, "no gateway runs in the background")
	}
	g.bg()
	select {
	case code := <-g.bgDone:
		if code != 0 {
			g.fatal(s, "the gateway exited %d", code)
		}
	case <-time.After(60 * time.Second):
		g.fatal(s, "the gateway did not stop within 60 s")
	}
	g.bg = nil
	g.ran(s, g.bgOut.String()) // an output block after kill %1 is the gateway's log
	g.bgOut = nil
}
