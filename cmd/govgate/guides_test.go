package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// guidePages is every guide in docs/guides; a page not listed here fails TestGuides, so a
// new guide cannot go untested.
var guidePages = []string{
	"department.md",
	"security-officer.md",
	"crypto-admin.md",
	"auditor.md",
	"operator.md",
}

// TestGuides runs each role's guide in docs/guides as written (guideharness_test.go says
// how a guide marks its commands, files, edits and expected output): every command, in
// order, in a new directory, against the gateway the guide itself starts, with the exit
// status and output the page shows.
func TestGuides(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(repo, "docs/guides/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range pages {
		found = append(found, filepath.Base(p))
	}
	listed := append([]string(nil), guidePages...)
	sort.Strings(found)
	sort.Strings(listed)
	if strings.Join(found, " ") != strings.Join(listed, " ") {
		t.Fatalf("docs/guides holds %v, the test runs %v: list every guide in guidePages", found, listed)
	}
	for _, page := range guidePages {
		t.Run(strings.TrimSuffix(page, ".md"), func(t *testing.T) {
			path := filepath.Join(repo, "docs/guides", page)
			steps, err := readGuide(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, link := range []string{"examples", "deploy"} {
				if err := os.Symlink(filepath.Join(repo, link), filepath.Join(dir, link)); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			newGuideRun(t, "docs/guides/"+page).run(steps)
		})
	}
}

// TestGuideHarness checks that the harness fails a guide that is wrong: a block it does
// not run, output that differs, an exit status that differs, an edit that does not fit.
func TestGuideHarness(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, body := range map[string]string{
		"unmarked.md": "text\n\n```sh\ngovgate version\n```\n",
		"nolang.md":   "```\ngovgate version\n```\n",
		"unclosed.md": "```sh guide\ngovgate version\n",
		"cont.md":     "```sh guide\ngovgate version \\\n```\n",
		"indented.md": "text\n\n    govgate version\n",
	} {
		if _, err := readGuide(write(name, body)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
	steps, err := readGuide(write("ok.md", "```sh guide\n# a comment\ngovgate policy eval \\\n  --input in.json --fail   # exit 1 within 5s: denied\ncurl -s x # a note\n```\n\n```yaml guide a/b.yaml\nk: v\n```\n\n```text output\nhi\n```\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 || steps[0].text != "govgate policy eval --input in.json --fail" || steps[0].exit != 1 || steps[0].within.Seconds() != 5 ||
		steps[1].text != "curl -s x" || steps[1].exit != 0 || steps[2].path != "a/b.yaml" || steps[2].text != "k: v\n" || steps[3].kind != guideOutput {
		t.Errorf("steps: %+v", steps)
	}

	out := "HTTP/1.1 403 Forbidden\nDate: Wed, 02 Dec 2026\n\n{\"error\":1}\nstatus: 403\n"
	for _, want := range []string{
		"HTTP/1.1 403 Forbidden\nDate: …\n\n{\"error\":1}\nstatus: 403\n",
		"HTTP/1.1 403 Forbidden\n…\n",
		"…\nstatus: 403\n",
		"HTTP/1.1 403 …\n…\n{\"error\":…}\n…\n",
	} {
		if err := matchGuideOutput(want, out); err != nil {
			t.Errorf("%q: %v", want, err)
		}
	}
	for _, want := range []string{
		"HTTP/1.1 403 Forbidden\n",                   // the output goes on
		"…\nHTTP/1.1 200 OK\n…\n",                    // not there
		"Date: …\n…\n",                               // not the first line
		"HTTP/1.1 403 Forbidden\n{\"error\":1}\n…\n", // lines left out without …
		"…\n{\"error\":1}\n",                         // not the last line
		"…\nstatus: 403 …\n",                         // … stands for text, not nothing at the end
	} {
		if err := matchGuideOutput(want, out); err == nil {
			t.Errorf("%q matched", want)
		}
	}

	file := "a: 1\nb: 2\nc: 3\nb: 2\n"
	if got, err := applyGuideDiff(file, "@@ -1,2 +1,3 @@\n a: 1\n-b: 2\n+b: 20\n+d: 4\n"); err != nil || got != "a: 1\nb: 20\nd: 4\nc: 3\nb: 2\n" {
		t.Errorf("diff: %q %v", got, err)
	}
	if _, err := applyGuideDiff(file, "@@\n-b: 2\n+b: 3\n"); err == nil {
		t.Error("a hunk whose old text occurs twice was applied")
	}
	if _, err := applyGuideDiff(file, "@@\n-x: 2\n+b: 3\n"); err == nil {
		t.Error("a hunk whose old text is absent was applied")
	}

	t.Setenv("GUIDE_WORD", "v a")
	words, err := splitGuideWords(`govgate call --write-out '%{http_code}\n' "$GUIDE_WORD" ${GUIDE_WORD}x 'https://h/p?id=1'`)
	if err != nil || strings.Join(words, "|") != `govgate|call|--write-out|%{http_code}\n|v a|v ax|https://h/p?id=1` {
		t.Errorf("words %q %v", words, err)
	}
	for _, bad := range []string{"govgate call x | grep y", "govgate call x > f", "govgate call 'x"} {
		if _, err := splitGuideWords(bad); err == nil {
			t.Errorf("%q was split", bad)
		}
	}
}
