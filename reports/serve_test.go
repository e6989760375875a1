package reports

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestServeListsRunsAndServesReports(t *testing.T) {
	store := t.TempDir()
	snow := snowflakeFixture()
	snow.hdr.Start = snow.hdr.Start.Add(time.Hour) // the newest
	snowDir := snow.write(t, filepath.Join(store, "snowflake", "20261123T120000.000Z"))
	if _, err := Write(snowDir); err != nil {
		t.Fatal(err)
	}
	lockFixture().write(t, filepath.Join(store, "redlock", "20261123T110000.000Z"))
	unjudged := &fixture{hdr: header("snowflake", "ids", 9, "n1")}
	unjudged.hdr.Start = unjudged.hdr.Start.Add(-time.Hour)
	unjudged.write(t, filepath.Join(store, "snowflake", "20261123T100000.000Z"))
	if err := core.LinkLatest(store, "snowflake", snowDir); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(store, "snowflake", "escape")); err != nil {
		t.Fatal(err)
	}

	h, err := Handler(store)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	code, hdr, body := get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("index: %d, CSP %q", code, hdr.Get("Content-Security-Policy"))
	}
	checkStructure(t, body)
	i1 := strings.Index(body, "runs/snowflake/20261123T120000.000Z/report.html")
	i2 := strings.Index(body, "runs/redlock/20261123T110000.000Z/report.html")
	i3 := strings.Index(body, "runs/snowflake/20261123T100000.000Z/report.html")
	if i1 < 0 || i2 < 0 || i3 < 0 || !(i1 < i2 && i2 < i3) {
		t.Fatalf("index does not list the three runs newest first (%d, %d, %d)", i1, i2, i3)
	}
	for _, want := range []string{`class="verdict invalid"`, `class="verdict not-judged"`, "ids/unique: invalid", ">7<", "redlock"} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	if strings.Count(body, "<tr>") != 4 {
		t.Errorf("index has %d rows; want a header and three runs (the latest link is no run)", strings.Count(body, "<tr>"))
	}

	// A stored report, and one rendered on the fly without writing it.
	code, hdr, body = get(t, srv.URL+"/runs/snowflake/20261123T120000.000Z/report.html")
	if code != 200 || !strings.Contains(body, "Invalid: anomalies were found") || hdr.Get("Content-Security-Policy") == "" {
		t.Errorf("stored report: %d", code)
	}
	code, _, body = get(t, srv.URL+"/runs/redlock/20261123T110000.000Z/report.html")
	if code != 200 || !strings.Contains(body, "clients 3 and 7 both held lock L") {
		t.Errorf("rendered report: %d", code)
	}
	if _, err := os.Stat(filepath.Join(store, "redlock", "20261123T110000.000Z", HTMLFile)); err == nil {
		t.Error("serve wrote into a run directory")
	}
	code, _, body = get(t, srv.URL+"/runs/snowflake/20261123T120000.000Z/nodes/n2.log")
	if code != 200 || !strings.Contains(body, "clock offset -2s") {
		t.Errorf("node log: %d %q", code, body)
	}

	// Nothing outside the store, whatever the path or link.
	for _, p := range []string{"/runs/snowflake/escape/secret", "/runs/../../../../etc/passwd", "/runs/%2e%2e/%2e%2e/etc/passwd"} {
		code, _, body := get(t, srv.URL+p)
		if code == 200 || strings.Contains(body, "secret") || strings.Contains(body, "root:") {
			t.Errorf("GET %s = %d: a file outside the store was served", p, code)
		}
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d; the server only reads", resp.StatusCode)
	}
}

func TestServeMissingStore(t *testing.T) {
	_, err := Handler(filepath.Join(t.TempDir(), "nope"))
	if err == nil || !strings.Contains(err.Error(), "store") {
		t.Fatalf("Handler on a missing store = %v", err)
	}
}
